"""The data layer's public face: one subscription's scale sets through the real async SDK.

INTERFACE CONTRACT (other layers code against exactly these names; the implementation
fills the bodies). Everything returns domain objects from vmss_tui.domain.models; SDK
models never leave this package. Failures raise vmss_tui.azure.errors.FleetError (or a
subclass) with a one-line message; never a raw SDK exception.

The SDK modules load lazily (inside `Fleet.open` and the methods), so that importing this
module for `ConnectionSettings` costs the console nothing at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from vmss_tui.azure.errors import FleetError, NotFoundError, ReadOnlyError, translate
from vmss_tui.domain.arm_ids import id_key, instance_sort_key, name_of, resource_group_of, segment_after
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
from vmss_tui.domain.nat import load_balancer_ids_of, resolve_nat_mappings
from vmss_tui.domain.nsg import NsgLayer, open_management_ports, verdict_function

# Instance actions, by the id the UI and CLI use.
INSTANCE_ACTIONS = ("start", "restart", "power_off", "deallocate", "reimage", "update", "delete")

ProgressCallback = Callable[[str], Awaitable[None] | None]  # receives "InProgress", ... as polled

MAX_CAPACITY = 1000
DEFAULT_CONCURRENCY = 8
CONVERT_BATCH = 100  # items converted between two turns of the event loop (~15 ms of CPU)
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
# A syntactically valid subscription id for the client that only lists subscriptions.
_BOOTSTRAP_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    arm_endpoint: str | None = None  # None: public Azure (or the cloud the credential says)
    subscription_id: str | None = None  # None: CLI default, else all listable subscriptions
    read_only: bool = False
    polling_interval: float | None = None  # LRO poll interval; None: 0.5 s on loopback, 5 s otherwise


def parse_throttling(headers: Any, previous: Throttling) -> Throttling:
    """Throttling headroom from ARM response headers; fields a response lacks keep their value."""
    reads = previous.remaining_subscription_reads
    text = headers.get("x-ms-ratelimit-remaining-subscription-reads")
    if text is not None:
        try:
            reads = int(str(text).strip())
        except ValueError:
            pass
    resource = previous.remaining_resource
    text = headers.get("x-ms-ratelimit-remaining-resource")
    if text:
        pairs: list[tuple[str, int]] = []
        for item in str(text).split(","):
            policy, sep, count = item.strip().rpartition(";")
            if not sep:
                continue
            try:
                pairs.append((policy.strip(), int(count)))
            except ValueError:
                continue
        if pairs:
            resource = tuple(pairs)
    if reads == previous.remaining_subscription_reads and resource == previous.remaining_resource:
        return previous
    return Throttling(remaining_subscription_reads=reads, remaining_resource=resource)


class _Shared:
    """What sibling fleets (one per subscription) share: the credential and its owner's duty to close it."""

    def __init__(self, credential: Any) -> None:
        self.credential = credential
        self.users = 0

    async def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            close = getattr(self.credential, "close", None)
            if close is not None:
                result = close()
                if inspect.isawaitable(result):
                    await result


class Fleet:
    """A session with one subscription. Use `async with await Fleet.open(settings) as fleet`."""

    subscription_id: str
    arm_endpoint: str
    read_only: bool
    throttling: Throttling  # from the last response's headers
    arm_calls: int  # how many HTTP requests this session has sent (for call-count reports)

    def __init__(
        self,
        settings: ConnectionSettings,
        subscription_id: str,
        shared: _Shared,
        *,
        subscription_source: str = "explicit",
        listed_subscriptions: Sequence[tuple[str, str]] = (),
        max_concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        from vmss_tui.azure.credentials import is_loopback, normalize_endpoint

        self.settings = settings
        self.subscription_id = subscription_id
        self.arm_endpoint = normalize_endpoint(settings.arm_endpoint)
        self.read_only = settings.read_only
        self.throttling = Throttling()
        self.arm_calls = 0
        # How the subscription was chosen: "explicit" | "cli-default" | "listed".
        self.subscription_source = subscription_source
        # When the subscription was "listed": every (id, name) the credential could list.
        self.listed_subscriptions = tuple(listed_subscriptions)
        self.loopback = is_loopback(self.arm_endpoint)
        if settings.polling_interval is not None:
            self.polling_interval = settings.polling_interval
        else:
            self.polling_interval = 0.5 if self.loopback else 5.0
        self._shared = shared
        shared.users += 1
        self._limit = asyncio.Semaphore(max_concurrency)
        self._closed = False
        self._compute = self._make_compute_client(subscription_id)
        self._network = self._make_network_client(subscription_id)
        _freeze_loaded_heap()

    # ------------------------------------------------------------ set-up

    def _client_kwargs(self) -> dict[str, Any]:
        from vmss_tui.azure.credentials import (
            PUBLIC_ARM_ENDPOINT,
            LoopbackBearerPolicy,
            credential_scopes_for,
        )

        kwargs: dict[str, Any] = {
            "base_url": self.arm_endpoint,
            "polling_interval": self.polling_interval,
            "raw_request_hook": self._on_request,
            "raw_response_hook": self._on_response,
        }
        if self.loopback:
            kwargs["authentication_policy"] = LoopbackBearerPolicy()
            # Retries stay on (429 + Retry-After, 5xx), but a local endpoint needs no long back-off.
            kwargs["retry_backoff_factor"] = 0.05
            kwargs["retry_total"] = 3
        elif self.arm_endpoint.casefold() != PUBLIC_ARM_ENDPOINT:
            kwargs["credential_scopes"] = credential_scopes_for(self.arm_endpoint)
        return kwargs

    def _make_compute_client(self, subscription_id: str) -> Any:
        from azure.mgmt.compute.aio import ComputeManagementClient

        return ComputeManagementClient(self._shared.credential, subscription_id, **self._client_kwargs())

    def _make_network_client(self, subscription_id: str) -> Any:
        from azure.mgmt.network.aio import NetworkManagementClient

        return NetworkManagementClient(self._shared.credential, subscription_id, **self._client_kwargs())

    def _on_request(self, request: Any) -> None:
        self.arm_calls += 1

    def _on_response(self, response: Any) -> None:
        headers = response.http_response.headers
        self.throttling = parse_throttling(headers, self.throttling)

    @classmethod
    async def open(cls, settings: ConnectionSettings, subscription_id: str | None = None) -> Fleet:
        from vmss_tui.azure.credentials import (
            cli_default_subscription,
            is_loopback,
            make_credential,
            normalize_endpoint,
        )

        endpoint = normalize_endpoint(settings.arm_endpoint)
        _check_endpoint(endpoint)
        try:
            credential = make_credential(endpoint)
        except Exception as exc:  # the credential chain failed to build (bad environment)
            raise translate(exc, endpoint=endpoint) from exc
        shared = _Shared(credential)
        shared.users += 1  # held while opening, so a failure below closes the credential
        try:
            chosen = subscription_id or settings.subscription_id or os.environ.get("AZURE_SUBSCRIPTION_ID") or None
            source = "explicit"
            listed: list[tuple[str, str]] = []
            if not chosen and not is_loopback(endpoint):
                # The CLI's default belongs to public-cloud style logins; a simulator has its own.
                chosen = cli_default_subscription()
                source = "cli-default"
            if not chosen:
                listed = await _list_subscriptions(settings, shared)
                if not listed:
                    raise FleetError(
                        "no subscription is visible to these credentials",
                        hint="pass --subscription, or run `az login` with an account that has one",
                    )
                chosen = listed[0][0]
                source = "listed"
            return cls(settings, chosen, shared, subscription_source=source, listed_subscriptions=listed)
        finally:
            await shared.release()

    async def with_subscription(self, subscription_id: str) -> Fleet:
        """A sibling session on another subscription, sharing this one's credential."""
        return Fleet(self.settings, subscription_id, self._shared, subscription_source="explicit")

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for client in (self._compute, self._network):
            with contextlib.suppress(Exception):
                await client.close()
        await self._shared.release()

    async def __aenter__(self) -> Fleet:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------ plumbing

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except FleetError:
            raise
        except Exception as exc:
            raise translate(exc, endpoint=self.arm_endpoint, subscription_id=self.subscription_id) from exc

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        async with self._limit:
            with self._errors():
                return await make()

    async def _collect(self, make_pager: Callable[..., Any], convert: Callable[[Any], R]) -> list[R]:
        """All items of one paged SDK list operation (the SDK follows nextLink), converted from
        each page's JSON as the page arrives.

        The SDK would build a model for every item before handing it over (about a millisecond
        of CPU each, on the event loop: a second per refresh of a 1,000-instance scale set). The
        page hook takes the items from the JSON the SDK already parsed and leaves the SDK an
        empty list to build; the converters read the JSON through a JsonView. Should a future
        SDK re-parse the body after the hook, the pager yields models as before and the result
        is the same, only slower.

        Converting still costs ~0.15 ms an item, so it runs page by page (while no request of
        this list is in flight) and gives the loop a turn every CONVERT_BATCH items: a console
        refreshing a 1,000-instance scale set never stalls its key presses for a whole list.
        """
        from vmss_tui.azure.convert import JsonView

        arrived: list[dict[str, Any]] = []  # items of the page(s) fetched, not yet converted

        def on_page(response: Any) -> None:
            self._on_response(response)  # a per-call hook replaces the client-wide one
            if response.http_response.status_code != 200:
                return  # an error or a retry: the SDK raises or asks again
            try:
                body = response.http_response.json()
            except ValueError:
                return
            if isinstance(body, dict) and isinstance(body.get("value"), list):
                arrived.extend(item for item in body["value"] if isinstance(item, dict))
                body["value"] = []

        results: list[R] = []
        since_yield = 0
        pages = make_pager(raw_response_hook=on_page).by_page()
        while True:
            # The concurrency bound covers the request, not the conversion after it.
            async with self._limit:
                with self._errors():
                    try:
                        page = await anext(pages)
                    except StopAsyncIteration:
                        break
                    async for _ in page:
                        pass
            batch = arrived[:]
            arrived.clear()
            for item in batch:
                results.append(convert(JsonView(item)))
                since_yield += 1
                if since_yield >= CONVERT_BATCH:
                    since_yield = 0
                    await asyncio.sleep(0)
        return results

    async def _optional(self, make: Callable[[], Awaitable[T]]) -> T | None:
        """The result, or None when the resource is absent or not readable (404/403)."""
        from vmss_tui.azure.errors import AuthError

        try:
            return await self._call(make)
        except (NotFoundError, AuthError):
            return None

    async def map_bounded(self, fn: Callable[[T], Awaitable[R]], items: Iterable[T]) -> list[R]:
        """fn over items concurrently; requests stay bounded by the session's concurrency limit."""
        return list(await asyncio.gather(*(fn(item) for item in items)))

    # ------------------------------------------------------------ reads

    async def list_subscriptions(self) -> list[tuple[str, str]]:
        """(subscription id, display name) for every subscription the credential can list."""
        return await self._list_subscriptions_with(self._compute)

    async def _list_subscriptions_with(self, client: Any) -> list[tuple[str, str]]:
        from azure.core.exceptions import HttpResponseError
        from azure.core.rest import HttpRequest

        async def fetch() -> list[tuple[str, str]]:
            result: list[tuple[str, str]] = []
            url: str | None = f"{self.arm_endpoint}/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}"
            while url:
                response = await client.send_request(HttpRequest("GET", url))
                if response.status_code != 200:
                    raise HttpResponseError(response=response)
                body = response.json()
                for item in body.get("value") or ():
                    sub_id = item.get("subscriptionId") or segment_after(item.get("id"), "subscriptions")
                    if sub_id:
                        result.append((str(sub_id), str(item.get("displayName") or sub_id)))
                url = body.get("nextLink") or None
            return result

        return await self._call(fetch)

    async def list_scale_sets(self, resource_group: str | None = None) -> list[ScaleSet]:
        from vmss_tui.azure.convert import scale_set_from_sdk

        operations = self._compute.virtual_machine_scale_sets
        if resource_group:
            scale_sets = await self._collect(lambda **kw: operations.list(resource_group, **kw), scale_set_from_sdk)
        else:
            scale_sets = await self._collect(operations.list_all, scale_set_from_sdk)
        return sorted(scale_sets, key=lambda s: (s.resource_group.casefold(), s.name.casefold()))

    async def get_scale_set(self, resource_group: str | None, name: str) -> ScaleSet:
        """By name; with resource_group None, search the subscription (NotFoundError if absent,
        FleetError if the name is ambiguous across resource groups)."""
        from vmss_tui.azure.convert import scale_set_from_sdk

        if resource_group:
            operations = self._compute.virtual_machine_scale_sets
            try:
                vmss = await self._call(lambda: operations.get(resource_group, name))
            except NotFoundError as exc:
                raise NotFoundError(
                    f"scale set {name} not found in resource group {resource_group}",
                    code=exc.code, hint="check the name and -g; `vmss-tui get scale-sets` lists them",
                ) from exc
            return scale_set_from_sdk(vmss)
        matches = [s for s in await self.list_scale_sets() if s.name.casefold() == name.casefold()]
        if not matches:
            raise NotFoundError(
                f"scale set {name} not found in subscription {self.subscription_id}",
                hint="check the name and --subscription; `vmss-tui get scale-sets` lists them",
            )
        if len(matches) > 1:
            groups = ", ".join(s.resource_group for s in matches)
            raise FleetError(f"scale set name {name} is in several resource groups ({groups})", hint="pass -g")
        return matches[0]

    async def list_instances(self, scale_set: ScaleSet) -> list[Instance]:
        """One paged `virtualMachines?$expand=instanceView` call sequence."""
        from vmss_tui.azure.convert import instance_from_sdk

        operations = self._compute.virtual_machine_scale_set_vms
        instances = await self._collect(
            lambda **kw: operations.list(scale_set.resource_group, scale_set.name, expand="instanceView", **kw),
            lambda vm: instance_from_sdk(vm, scale_set=scale_set.name),
        )
        return sorted(instances, key=lambda i: instance_sort_key(i.instance_id))

    async def list_instance_nics(self, scale_set: ScaleSet) -> list[InstanceNic]:
        from vmss_tui.azure.convert import instance_nic_from_sdk

        operations = self._network.network_interfaces
        nics = await self._collect(
            lambda **kw: operations.list_virtual_machine_scale_set_network_interfaces(
                scale_set.resource_group, scale_set.name, **kw
            ),
            instance_nic_from_sdk,
        )
        return sorted(nics, key=lambda n: (instance_sort_key(n.instance_id), not n.primary, n.name))

    async def _public_ip_address(self, public_ip_id: str) -> str | None:
        from vmss_tui.azure.convert import public_ip_address_of

        group, name = resource_group_of(public_ip_id), name_of(public_ip_id)
        if not group or not name:
            return None
        operations = self._network.public_ip_addresses
        public_ip = await self._optional(lambda: operations.get(group, name))
        return public_ip_address_of(public_ip) if public_ip is not None else None

    async def get_load_balancer(self, load_balancer_id: str) -> LoadBalancer:
        """With frontends' public IP addresses filled in."""
        from vmss_tui.azure.convert import frontend_public_ip_ids, load_balancer_from_sdk

        group, name = resource_group_of(load_balancer_id), name_of(load_balancer_id)
        if not group or not name:
            raise FleetError(f"not a load balancer id: {load_balancer_id}")
        operations = self._network.load_balancers
        lb = await self._call(lambda: operations.get(group, name))
        pip_ids = list(dict.fromkeys(frontend_public_ip_ids(lb)))
        addresses = await asyncio.gather(*(self._public_ip_address(pip_id) for pip_id in pip_ids))
        return load_balancer_from_sdk(lb, {id_key(p): a for p, a in zip(pip_ids, addresses, strict=True)})

    async def get_network_security_group(self, nsg_id: str) -> NetworkSecurityGroup | None:
        """None when it cannot be read (403): the verdict then says unknown."""
        from vmss_tui.azure.convert import nsg_from_sdk

        group, name = resource_group_of(nsg_id), name_of(nsg_id)
        if not group or not name:
            return None
        operations = self._network.network_security_groups
        nsg = await self._optional(lambda: operations.get(group, name))
        return nsg_from_sdk(nsg) if nsg is not None else None

    async def _subnet_nsg_id(self, subnet_id: str) -> str | None:
        group = resource_group_of(subnet_id)
        vnet = segment_after(subnet_id, "virtualNetworks")
        subnet = segment_after(subnet_id, "subnets")
        if not (group and vnet and subnet):
            return None
        operations = self._network.subnets
        found = await self._optional(lambda: operations.get(group, vnet, subnet))
        nsg = getattr(found, "network_security_group", None) if found is not None else None
        nsg_id = getattr(nsg, "id", None)
        return str(nsg_id) if nsg_id else None

    async def nsg_layers_for(
        self,
        scale_set: ScaleSet,
        instance_nics: Sequence[InstanceNic] | None = None,
        _cache: dict[str, asyncio.Future[Any]] | None = None,
    ) -> list[NsgLayer]:
        """The NSGs on the inbound path of the scale set's primary NIC: the subnet's (where the
        subnet is readable), then the NIC's (from the model, else from an instance NIC)."""
        cache = _cache if _cache is not None else {}
        nic_config = next((c for c in scale_set.nic_configs if c.primary), None) or next(
            iter(scale_set.nic_configs), None
        )
        nic_nsg_id = nic_config.nsg_id if nic_config else None
        if not nic_nsg_id and instance_nics:
            nic_nsg_id = next((n.nsg_id for n in instance_nics if n.nsg_id), None)
        subnet_id = None
        if nic_config is not None:
            ip_config = next((c for c in nic_config.ip_configs if c.primary), None) or next(
                iter(nic_config.ip_configs), None
            )
            subnet_id = ip_config.subnet_id if ip_config else None
        if not subnet_id and instance_nics:
            subnet_id = next((c.subnet_id for n in instance_nics for c in n.ip_configs if c.subnet_id), None)

        subnet_nsg_id = (
            await _shared_fetch(cache, "subnet:" + id_key(subnet_id), lambda: self._subnet_nsg_id(subnet_id))
            if subnet_id
            else None
        )
        layers: list[NsgLayer] = []
        for where, nsg_id in (("subnet", subnet_nsg_id), ("NIC", nic_nsg_id)):
            if not nsg_id:
                continue
            nsg = await _shared_fetch(
                cache, "nsg:" + id_key(nsg_id), lambda nsg_id=nsg_id: self.get_network_security_group(nsg_id)
            )
            layers.append(NsgLayer(where, nsg_id, nsg))
        return layers

    async def management_ports_open(self, scale_set: ScaleSet) -> tuple[int, ...]:
        """Which of SSH 22 / RDP 3389 an NSG rule on the scale set's path opens to any source."""
        return open_management_ports(await self.nsg_layers_for(scale_set))

    async def management_ports_open_many(
        self, scale_sets: Sequence[ScaleSet], *, unknown_as_none: bool = False
    ) -> dict[str, tuple[int, ...] | None]:
        """`management_ports_open` of several scale sets, keyed by scale set id, reading each
        subnet and NSG once however many scale sets share it.

        By default every value is what `management_ports_open` gives (an NSG that cannot be read
        counts as opening nothing) and a failed read raises FleetError. With unknown_as_none, a
        scale set whose answer cannot be known (an NSG on its path unreadable, or its reads
        failed) gets None instead, and the others still get their answer.
        """
        cache: dict[str, asyncio.Future[Any]] = {}

        async def one(scale_set: ScaleSet) -> tuple[int, ...] | None:
            try:
                layers = await self.nsg_layers_for(scale_set, None, cache)
            except FleetError:
                if unknown_as_none:
                    return None
                raise
            if unknown_as_none and any(layer.nsg is None for layer in layers):
                return None
            return open_management_ports(layers)

        results = await asyncio.gather(*(one(s) for s in scale_sets))
        return {s.id: r for s, r in zip(scale_sets, results, strict=True)}

    async def nat_mappings_for(
        self, scale_set: ScaleSet, instance_nics: Sequence[InstanceNic] | None = None
    ) -> NatResolution:
        """Every (instance, backend port, protocol) mapping of this scale set, with NSG verdicts."""
        return await self._nat_mappings(scale_set, instance_nics, {})

    async def nat_mappings_for_many(self, scale_sets: Sequence[ScaleSet]) -> dict[str, NatResolution]:
        """NAT mappings of several scale sets, fetching each shared load balancer, public IP,
        subnet and NSG once. Keyed by scale set id."""
        cache: dict[str, asyncio.Future[Any]] = {}
        results = await asyncio.gather(*(self._nat_mappings(s, None, cache) for s in scale_sets))
        return {s.id: r for s, r in zip(scale_sets, results, strict=True)}

    async def _nat_mappings(
        self,
        scale_set: ScaleSet,
        instance_nics: Sequence[InstanceNic] | None,
        cache: dict[str, asyncio.Future[Any]],
    ) -> NatResolution:
        nics = list(instance_nics) if instance_nics is not None else await self.list_instance_nics(scale_set)
        lb_ids = load_balancer_ids_of(scale_set, nics)

        async def load_balancer(lb_id: str) -> LoadBalancer | None:
            try:
                return await self.get_load_balancer(lb_id)
            except NotFoundError:
                return None
            except FleetError as exc:
                from vmss_tui.azure.errors import AuthError

                if isinstance(exc, AuthError):
                    return None
                raise

        lbs, layers = await asyncio.gather(
            asyncio.gather(
                *(_shared_fetch(cache, "lb:" + id_key(i), lambda i=i: load_balancer(i)) for i in lb_ids)
            ),
            self.nsg_layers_for(scale_set, nics, cache),
        )
        found = [lb for lb in lbs if lb is not None]
        return resolve_nat_mappings(scale_set, nics, found, verdict_function(layers))

    async def rollout_status(self, scale_set: ScaleSet) -> RolloutStatus | None:
        """None when the scale set never rolled (404)."""
        from vmss_tui.azure.convert import rollout_from_sdk

        operations = self._compute.virtual_machine_scale_set_rolling_upgrades
        try:
            info = await self._call(lambda: operations.get_latest(scale_set.resource_group, scale_set.name))
        except NotFoundError:
            return None
        return rollout_from_sdk(info)

    # ------------------------------------------------------------ writes

    def _check_writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnlyError(
                f"{what} changes Azure and this session is read-only",
                hint="start without --read-only to make changes",
            )

    async def run_instance_action(
        self,
        scale_set: ScaleSet,
        action: str,
        instance_ids: Sequence[str],
        on_progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """One scale-set-level LRO for all the given instances; waits for its end."""
        self._check_writable(action.replace("_", " "))
        if action not in INSTANCE_ACTIONS:
            raise FleetError(f"unknown instance action {action!r}", hint=f"one of {', '.join(INSTANCE_ACTIONS)}")
        ids = [str(i) for i in instance_ids]
        if not ids:
            raise FleetError(f"{action}: no instances given", hint="mark instances or select one")
        from azure.mgmt.compute import models

        operations = self._compute.virtual_machine_scale_sets
        group, name = scale_set.resource_group, scale_set.name
        start: Callable[[], Awaitable[Any]]
        if action in ("start", "restart", "power_off", "deallocate"):
            begin = {
                "start": operations.begin_start,
                "restart": operations.begin_restart,
                "power_off": operations.begin_power_off,
                "deallocate": operations.begin_deallocate,
            }[action]
            body = models.VirtualMachineScaleSetVMInstanceIDs(instance_ids=ids)
            start = lambda: begin(group, name, body)  # noqa: E731
        elif action == "reimage":
            reimage = models.VirtualMachineScaleSetReimageParameters(instance_ids=ids)
            start = lambda: operations.begin_reimage(group, name, reimage)  # noqa: E731
        else:
            required = models.VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=ids)
            begin = operations.begin_update_instances if action == "update" else operations.begin_delete_instances
            start = lambda: begin(group, name, required)  # noqa: E731
        return await self._run_lro(start, on_progress)

    async def scale_to(
        self, scale_set: ScaleSet, capacity: int, on_progress: ProgressCallback | None = None
    ) -> OperationResult:
        self._check_writable("scaling")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or not 0 <= capacity <= MAX_CAPACITY:
            raise FleetError(f"capacity must be a whole number from 0 to {MAX_CAPACITY}, not {capacity!r}")
        from azure.mgmt.compute import models

        update = models.VirtualMachineScaleSetUpdate(
            sku=models.Sku(name=scale_set.sku or None, tier=scale_set.tier, capacity=capacity)
        )
        operations = self._compute.virtual_machine_scale_sets
        return await self._run_lro(
            lambda: operations.begin_update(scale_set.resource_group, scale_set.name, update), on_progress
        )

    async def start_all(self, scale_set: ScaleSet, on_progress: ProgressCallback | None = None) -> OperationResult:
        self._check_writable("start all")
        operations = self._compute.virtual_machine_scale_sets
        return await self._run_lro(
            lambda: operations.begin_start(scale_set.resource_group, scale_set.name), on_progress
        )

    async def power_off_all(
        self, scale_set: ScaleSet, on_progress: ProgressCallback | None = None
    ) -> OperationResult:
        self._check_writable("stop all")
        operations = self._compute.virtual_machine_scale_sets
        return await self._run_lro(
            lambda: operations.begin_power_off(scale_set.resource_group, scale_set.name), on_progress
        )

    async def _run_lro(self, start: Callable[[], Awaitable[Any]], on_progress: ProgressCallback | None) -> OperationResult:
        """Send the initial request, then poll to the end, reporting each new status."""
        from azure.core.exceptions import HttpResponseError

        from vmss_tui.azure.errors import _arm_error

        poller = await self._call(start)
        last: list[str | None] = [None]

        async def report(status: str | None) -> None:
            if on_progress is None or not status or status == last[0]:
                return
            last[0] = status
            result = on_progress(status)
            if inspect.isawaitable(result):
                await result

        waiter = asyncio.ensure_future(poller.result())
        try:
            while not waiter.done():
                await report(_poller_status(poller))
                await asyncio.wait({waiter}, timeout=max(self.polling_interval, 0.01))
            waiter.result()
        except HttpResponseError as exc:
            status = _poller_status(poller)
            code, message = _arm_error(exc)
            final = status if status in ("Failed", "Canceled") else "Failed"
            await report(final)
            return OperationResult(final, error_code=code, error_message=message)
        except FleetError:
            raise
        except Exception as exc:
            raise translate(exc, endpoint=self.arm_endpoint, subscription_id=self.subscription_id) from exc
        finally:
            if not waiter.done():
                waiter.cancel()
        status = _poller_status(poller) or "Succeeded"
        await report(status)
        return OperationResult(status)


_heap_frozen = False


def _freeze_loaded_heap() -> None:
    """Once per process, after the SDK modules have loaded: move every object alive now out of
    reach of the cyclic garbage collector.

    The SDK modules are ~145,000 objects that live as long as the process. Each refresh of a
    1,000-instance scale set allocates enough to trigger a full collection, which walked them
    all: a 100-130 ms stall of the event loop per refresh (8-15 ms once they are frozen).
    """
    global _heap_frozen
    if not _heap_frozen:
        _heap_frozen = True
        gc.freeze()


def _check_endpoint(endpoint: str) -> None:
    """https for any endpoint; plain http only for loopback (where there is no network to protect)."""
    from urllib.parse import urlsplit

    from vmss_tui.azure.credentials import is_loopback

    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FleetError(f"not an endpoint URL: {endpoint}", hint="pass --arm-endpoint https://host[:port]")
    if parts.scheme == "http" and not is_loopback(endpoint):
        raise FleetError(
            f"refusing plain http to {parts.hostname}: credentials would travel unencrypted",
            hint="use https://, or a loopback address for the simulator",
        )


def _poller_status(poller: Any) -> str | None:
    try:
        status = poller.status()
    except Exception:  # a poller without a status yet
        return None
    return str(status) if status else None


async def _shared_fetch(
    cache: dict[str, asyncio.Future[Any]], key: str, make: Callable[[], Awaitable[T]]
) -> T:
    """One fetch per key among concurrent callers that share `cache`."""
    future = cache.get(key)
    if future is None:
        future = asyncio.ensure_future(make())
        cache[key] = future
    return await asyncio.shield(future)


async def _list_subscriptions(settings: ConnectionSettings, shared: _Shared) -> list[tuple[str, str]]:
    """Subscriptions visible to the credential, before any subscription is chosen."""
    bootstrap = Fleet(settings, _BOOTSTRAP_SUBSCRIPTION, shared)
    try:
        return await bootstrap.list_subscriptions()
    finally:
        await bootstrap.close()
