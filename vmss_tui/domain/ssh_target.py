"""Where an SSH session to a scale-set instance goes: pure logic, no I/O.

The target is the frontend `ip:port` of the NAT mapping of the instance's SSH backend port. When
there is no public mapping (internal load balancer, no load balancer, address not allocated) the
reason is returned as one line, and if a jump host is configured the instance's private IP is
reached through it instead (OpenSSH `ProxyJump` style). A stopped or deallocated instance gets no
target and says so (`TargetChoice.not_running`), so the console can offer to start it.

`instance_mappings` is the one ranking of an instance's mappings (the SSH column and `s` both use
`ssh_mapping`, its first): reachable public frontends first, then those no NSG blocks, then by
load balancer, rule and port so the choice is stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vmss_tui.domain.models import (
    FRONTEND_PRIVATE,
    FRONTEND_PUBLIC,
    FRONTEND_UNALLOCATED,
    POWER_DEALLOCATED,
    POWER_DEALLOCATING,
    POWER_STOPPED,
    POWER_STOPPING,
    Instance,
    NatMapping,
    NatResolution,
    ScaleSet,
)

# Power states in which nothing answers on the instance (its NAT port refuses or times out).
NOT_RUNNING_STATES = (POWER_STOPPED, POWER_DEALLOCATED, POWER_STOPPING, POWER_DEALLOCATING)

# user@host:port, user@[v6]:port, host, [v6]:port ...
_JUMP_RE = re.compile(r"^(?:(?P<user>[^@\s]+)@)?(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:@\s\[\]]+))(?::(?P<port>\d+))?$")


class JumpHostError(ValueError):
    """A jump host spec that cannot be parsed; str() is one line for people."""


@dataclass(frozen=True, slots=True)
class JumpHost:
    host: str
    port: int = 22
    user: str | None = None

    @classmethod
    def parse(cls, spec: str) -> JumpHost:
        """Parse `user@host:port` (user and port optional; `[v6]:port` for IPv6)."""
        match = _JUMP_RE.match(spec.strip())
        if not match:
            raise JumpHostError(f"jump host {spec!r} is not of the form user@host:port")
        port = int(match["port"]) if match["port"] else 22
        if not 1 <= port <= 65535:
            raise JumpHostError(f"jump host {spec!r}: port must be 1-65535")
        return cls(host=match["v6"] or match["host"], port=port, user=match["user"])

    @property
    def spec(self) -> str:
        """The OpenSSH `-J` form."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        user = f"{self.user}@" if self.user else ""
        return f"{user}{host}:{self.port}" if self.port != 22 else f"{user}{host}"


@dataclass(frozen=True, slots=True)
class SshTarget:
    """One SSH endpoint for one instance."""

    host: str  # NAT frontend IP, or the private IP when going through `jump`
    port: int
    username: str
    label: str  # for tabs and status lines, e.g. "web/3 20.1.2.3:50003"
    scale_set: str
    instance_id: str
    private_ip: str | None = None
    jump: JumpHost | None = None
    note: str | None = None  # why this is not the direct public mapping, when it is not

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def destination(self) -> str:
        return f"{self.username}@{self.endpoint}"


@dataclass(frozen=True, slots=True)
class TargetChoice:
    """The outcome of choosing a target: a target, a reason there is no direct one, or both."""

    target: SshTarget | None
    reason: str | None = None  # one line; None when the target is the public NAT mapping
    mapping: NatMapping | None = None
    not_running: str | None = None  # the power state (stopped, deallocated ...) when that is why there is none


def instance_mappings(resolution: NatResolution, scale_set: str, instance_id: str, backend_port: int) -> list[NatMapping]:
    """The TCP NAT mappings of one instance's backend port of `scale_set`, best first: an allocated
    public frontend, then private, then unallocated; within those, one no NSG blocks first."""
    wanted = scale_set.casefold()
    found = [
        m
        for m in resolution.mappings
        if m.instance_id == instance_id
        and m.backend_port == backend_port
        and m.protocol.casefold() in ("tcp", "all", "*")
        and (not m.scale_set or m.scale_set.casefold() == wanted)
    ]
    rank = {FRONTEND_PUBLIC: 0, FRONTEND_PRIVATE: 1, FRONTEND_UNALLOCATED: 2}
    found.sort(key=lambda m: (
        m.frontend_ip is None,
        rank.get(m.frontend_state, 3),
        m.nsg is not None and m.nsg.allowed is False,
        m.load_balancer,
        m.rule,
        m.frontend_port,
    ))
    return found


def ssh_mapping(resolution: NatResolution | None, scale_set: str, instance_id: str, backend_port: int = 22) -> NatMapping | None:
    """The mapping an SSH session to this instance uses (the first of `instance_mappings`), or None."""
    if resolution is None:
        return None
    mappings = instance_mappings(resolution, scale_set, instance_id, backend_port)
    return mappings[0] if mappings else None


def _no_public_reason(
    resolution: NatResolution, scale_set: str, instance_id: str, backend_port: int, mappings: list[NatMapping]
) -> str:
    if mappings:
        m = mappings[0]
        if m.frontend_state == FRONTEND_PRIVATE:
            return (
                f"load balancer {m.load_balancer} is internal: {m.frontend_ip}:{m.frontend_port} "
                f"is a private address"
            )
        return (
            f"the public IP of frontend {m.frontend_name or '?'} on {m.load_balancer} is not allocated "
            f"(port {m.frontend_port})"
        )
    other_ports = sorted(
        {m.backend_port for m in resolution.mappings if m.instance_id == instance_id}
    )
    if other_ports:
        listed = ", ".join(str(p) for p in other_ports)
        return f"no NAT mapping to port {backend_port} of instance {instance_id} (mapped: {listed})"
    if resolution.notes:
        return "; ".join(resolution.notes)
    return f"no NAT mapping to port {backend_port} of {scale_set}/{instance_id}"


def choose_ssh_target(
    *,
    scale_set: ScaleSet,
    instance: Instance,
    resolution: NatResolution,
    backend_port: int = 22,
    username: str | None = None,
    jump: JumpHost | None = None,
    private_ip: str | None = None,
    fallback_username: str = "azureuser",
) -> TargetChoice:
    """Choose the SSH endpoint of `instance`.

    User: `username` (from the config or a flag), else the scale set model's admin user, else
    `fallback_username`. With a public mapping the target is its frontend; otherwise the reason is
    returned and, when `jump` and `private_ip` are known, a target through the jump host.
    """
    user = username or scale_set.admin_username or fallback_username
    name = f"{scale_set.name}/{instance.instance_id}"
    if instance.power_state in NOT_RUNNING_STATES:
        return TargetChoice(
            target=None,
            reason=f"instance {name} is {instance.power_state}: start it to connect",
            not_running=instance.power_state,
        )
    mappings = instance_mappings(resolution, scale_set.name, instance.instance_id, backend_port)
    public = [m for m in mappings if m.frontend_state == FRONTEND_PUBLIC and m.frontend_ip]
    if public:
        m = public[0]
        target = SshTarget(
            host=m.frontend_ip or "",
            port=m.frontend_port,
            username=user,
            label=f"{name} {m.frontend_ip}:{m.frontend_port}",
            scale_set=scale_set.name,
            instance_id=instance.instance_id,
            private_ip=private_ip,
        )
        return TargetChoice(target=target, reason=None, mapping=m)

    reason = _no_public_reason(resolution, scale_set.name, instance.instance_id, backend_port, mappings)
    if jump is None:
        return TargetChoice(target=None, reason=f"{reason}; set a jump host to reach it privately", mapping=None)
    if not private_ip:
        return TargetChoice(target=None, reason=f"{reason}; the private IP of {name} is not known", mapping=None)
    target = SshTarget(
        host=private_ip,
        port=backend_port,
        username=user,
        label=f"{name} {private_ip}:{backend_port} via {jump.spec}",
        scale_set=scale_set.name,
        instance_id=instance.instance_id,
        private_ip=private_ip,
        jump=jump,
        note=reason,
    )
    return TargetChoice(target=target, reason=reason, mapping=mappings[0] if mappings else None)
