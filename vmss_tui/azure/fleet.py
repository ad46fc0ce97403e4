"""The data layer's public face: one subscription's scale sets through the real async SDK.

INTERFACE CONTRACT (other layers code against exactly these names; the implementation
fills the bodies). Everything returns domain objects from vmss_tui.domain.models; SDK
models never leave this package. Failures raise vmss_tui.azure.errors.FleetError (or a
subclass) with a one-line message; never a raw SDK exception.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from vmss_tui.domain.models import (
    Instance,
    InstanceNic,
    LoadBalancer,
    NatResolution,
    NetworkSecurityGroup,
    OperationResult,
    RolloutStatus,
    ScaleSet,
    Throttling,
)

# Instance actions, by the id the UI and CLI use.
INSTANCE_ACTIONS = ("start", "restart", "power_off", "deallocate", "reimage", "update", "delete")

ProgressCallback = Callable[[str], Awaitable[None] | None]  # receives "InProgress", ... as polled


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    arm_endpoint: str | None = None  # None: public Azure (or the cloud the credential says)
    subscription_id: str | None = None  # None: CLI default, else all listable subscriptions
    read_only: bool = False
    polling_interval: float | None = None  # LRO poll interval; None: 0.5 s on loopback, 5 s otherwise


class Fleet:
    """A session with one subscription. Use `async with await Fleet.open(settings) as fleet`."""

    subscription_id: str
    arm_endpoint: str
    read_only: bool
    throttling: Throttling  # from the last response's headers
    arm_calls: int  # how many HTTP requests this session has sent (for call-count reports)

    @classmethod
    async def open(cls, settings: ConnectionSettings, subscription_id: str | None = None) -> Fleet:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def list_subscriptions(self) -> list[tuple[str, str]]:
        """(subscription id, display name) for every subscription the credential can list."""
        raise NotImplementedError

    async def list_scale_sets(self, resource_group: str | None = None) -> list[ScaleSet]:
        raise NotImplementedError

    async def get_scale_set(self, resource_group: str | None, name: str) -> ScaleSet:
        """By name; with resource_group None, search the subscription (NotFoundError if absent,
        FleetError if the name is ambiguous across resource groups)."""
        raise NotImplementedError

    async def list_instances(self, scale_set: ScaleSet) -> list[Instance]:
        """One paged `virtualMachines?$expand=instanceView` call sequence."""
        raise NotImplementedError

    async def list_instance_nics(self, scale_set: ScaleSet) -> list[InstanceNic]:
        raise NotImplementedError

    async def get_load_balancer(self, load_balancer_id: str) -> LoadBalancer:
        """With frontends' public IP addresses filled in."""
        raise NotImplementedError

    async def get_network_security_group(self, nsg_id: str) -> NetworkSecurityGroup | None:
        """None when it cannot be read (403): the verdict then says unknown."""
        raise NotImplementedError

    async def nat_mappings_for(
        self, scale_set: ScaleSet, instance_nics: Sequence[InstanceNic] | None = None
    ) -> NatResolution:
        """Every (instance, backend port, protocol) mapping of this scale set, with NSG verdicts."""
        raise NotImplementedError

    async def rollout_status(self, scale_set: ScaleSet) -> RolloutStatus | None:
        """None when the scale set never rolled (404)."""
        raise NotImplementedError

    async def run_instance_action(
        self,
        scale_set: ScaleSet,
        action: str,
        instance_ids: Sequence[str],
        on_progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """One scale-set-level LRO for all the given instances; waits for its end."""
        raise NotImplementedError

    async def scale_to(
        self, scale_set: ScaleSet, capacity: int, on_progress: ProgressCallback | None = None
    ) -> OperationResult:
        raise NotImplementedError

    async def start_all(self, scale_set: ScaleSet, on_progress: ProgressCallback | None = None) -> OperationResult:
        raise NotImplementedError

    async def power_off_all(
        self, scale_set: ScaleSet, on_progress: ProgressCallback | None = None
    ) -> OperationResult:
        raise NotImplementedError
