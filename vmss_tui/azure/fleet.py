"""The data layer's public face: one subscription's scale sets through the real async SDK.

Everything returns domain objects from vmss_tui.domain.models; SDK models never leave this
package. Failures raise vmss_tui.azure.errors.FleetError (or a subclass) with a one-line
message; never a raw SDK exception.

The instance calls are chosen by the scale set's orchestration mode, so that nothing above this
layer branches on it:
* Uniform: the scale set's own VM list (`virtualMachineScaleSets/{n}/virtualMachines`, one
  paged call with the instance view), its NIC list, and scale-set-level actions with instance
  ids.
* Flexible: the resource group's virtual machines filtered by `virtualMachineScaleSet/id` with
  the instance view (one paged call), the resource group's standalone NICs (one paged call per
  resource group, shared by every scale set in it), per-VM actions (several at once, one
  result for the set), and the scale set's batch delete and manual upgrade with VM names.

The SDK modules load lazily (inside `Fleet.open` and the methods), so that importing this
module for `ConnectionSettings` costs the console nothing at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import os
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, urlsplit

from vmss_tui.azure.errors import FleetError, NotFoundError, ReadOnlyError, translate
from vmss_tui.domain.actions import INSTANCE_ACTIONS, MAX_CAPACITY
from vmss_tui.domain.arm_ids import (
    id_key,
    instance_sort_key,
    name_of,
    resource_group_of,
    same_id,
    segment_after,
)
from vmss_tui.domain.models import (
    Instance,
    InstanceFailure,
    InstanceNic,
    LoadBalancer,
    NatResolution,
    NetworkSecurityGroup,
    OperationResult,
    PortMapping,
    RolloutStatus,
    ScaleSet,
    Throttling,
)
from vmss_tui.domain.nat import (
    PortMappingQuery,
    load_balancer_ids_of,
    port_mapping_queries,
    resolve_nat_mappings,
    with_port_mappings,
)
from vmss_tui.domain.network import inbound_path_of, nic_resource_groups, nics_of_instances
from vmss_tui.domain.nsg import NsgLayer, open_management_ports, verdict_function

__all__ = [
    "CONVERT_BATCH",
    "DEFAULT_CONCURRENCY",
    "INSTANCE_ACTIONS",
    "MAX_CAPACITY",
    "VM_ACTION_CONCURRENCY",
    "ConnectionSettings",
    "Fleet",
    "ProgressCallback",
    "parse_throttling",
]

log = logging.getLogger("vmss_tui.azure")

ProgressCallback = Callable[[str], Awaitable[None] | None]  # receives "InProgress", ... as polled

DEFAULT_CONCURRENCY = 8
# Per-VM operations of a Flexible scale set in flight at once: each is an LRO polled on its own,
# so the bound keeps the polls of a large selection within ARM's read limits.
VM_ACTION_CONCURRENCY = 20
CONVERT_BATCH = 100  # items converted between two turns of the event loop (~15 ms of CPU)
# A queried NAT rule V2 port mapping is kept this long while the rules of its pool are unchanged:
# the load balancer allocates a member's ports once, and a console refreshes NAT often.
PORT_MAPPING_TTL = 600.0
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
# A syntactically valid subscription id for the client that only lists subscriptions.
_BOOTSTRAP_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
# Query parameters whose values the request log shows; any other value is left out.
_LOGGED_QUERY_VALUES = frozenset({"api-version", "$filter", "$expand", "$top", "statusonly", "forcedeletion"})

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    arm_endpoint: str | None = None  # None: public Azure (or the cloud the credential says)
    subscription_id: str | None = None  # None: CLI default, else all listable subscriptions
    read_only: bool = False
    polling_interval: float | None = None  # LRO poll interval; None: 0.5 s on loopback, 5 s otherwise
    # Loopback endpoints only: the token to send (None: $VMSS_TUI_ARM_TOKEN, else a fixed local one).
    bearer_token: str | None = field(default=None, repr=False)


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


from vmss_tui.azure.disks import DiskCalls  # noqa: E402  (the mixins import nothing of this module)
from vmss_tui.azure.graph import GraphCalls  # noqa: E402
from vmss_tui.azure.model import ModelCalls  # noqa: E402
from vmss_tui.azure.rollouts import RolloutCalls  # noqa: E402


class Fleet(RolloutCalls, ModelCalls, DiskCalls, GraphCalls):
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
        # Flexible scale sets: the VMs of the last listing, by scale set id key, so that NICs and
        # NAT read right after the instances need no second VM list.
        self._members: dict[str, tuple[Instance, ...]] = {}
        # Queried NAT rule V2 port mappings: (pool, ip configuration, rules) -> (when, mappings).
        self._port_mappings: dict[tuple[str, str, tuple[Any, ...]], tuple[float, tuple[PortMapping, ...]]] = {}
        self._compute = self._make_compute_client(subscription_id)
        self._network = self._make_network_client(subscription_id)
        _freeze_loaded_heap()

    # ------------------------------------------------------------ set-up

    def _client_kwargs(self) -> dict[str, Any]:
        from vmss_tui.azure.credentials import (
            PUBLIC_ARM_ENDPOINT,
            LoopbackBearerPolicy,
            credential_scopes_for,
            loopback_token,
        )

        kwargs: dict[str, Any] = {
            "base_url": self.arm_endpoint,
            "polling_interval": self.polling_interval,
            "raw_request_hook": self._on_request,
            "raw_response_hook": self._on_response,
        }
        if self.loopback:
            token = loopback_token(self.settings.bearer_token)
            from vmss_tui.logsetup import redact_value

            redact_value(token)  # whatever logs it, the log shows a placeholder
            kwargs["authentication_policy"] = LoopbackBearerPolicy(token)
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
        with contextlib.suppress(Exception):  # a context that takes no keys: no duration logged
            request.context["vmss_tui_sent"] = time.monotonic()

    def _on_response(self, response: Any) -> None:
        http_response = response.http_response
        headers = http_response.headers
        self.throttling = parse_throttling(headers, self.throttling)
        if log.isEnabledFor(logging.INFO):
            sent = response.context.get("vmss_tui_sent") if response.context is not None else None
            elapsed = f"{(time.monotonic() - sent) * 1000:.0f} ms" if isinstance(sent, float) else "? ms"
            request = response.http_request
            log.info(
                "ARM %s %s -> %s in %s (x-ms-request-id %s)",
                request.method, loggable_url(request.url), http_response.status_code, elapsed,
                headers.get("x-ms-request-id") or "-",
            )

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
            credential = make_credential(endpoint, settings.bearer_token)
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
            error = translate(exc, endpoint=self.arm_endpoint, subscription_id=self.subscription_id)
            # Unexpected failures are bugs worth a traceback in the log; the rest are ARM's answers.
            level = logging.ERROR if error.message.startswith("unexpected error") else logging.DEBUG
            log.log(level, "ARM call failed: %s", error.one_line(), exc_info=exc)
            raise error from exc

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
            if isinstance(body, dict) and isinstance(body.get("nextLink"), str):
                # The service has sent this link with its $filter unescaped; the SDK sends it as is.
                body["nextLink"] = escaped_url(body["nextLink"])

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

    async def _get_json(self, make: Callable[..., Awaitable[Any]]) -> Any:
        """One GET of a resource, as a JsonView of its JSON (the converters read either).

        As in `_collect`: the response hook takes the JSON the SDK already parsed and leaves the
        SDK a stub to build its model from (about a second of CPU on the event loop saved for a
        load balancer of 1,000 members). Should a future SDK re-parse the body, its model is
        returned instead, and the result is the same.
        """
        from vmss_tui.azure.convert import JsonView

        captured: dict[str, Any] = {}

        def on_response(response: Any) -> None:
            self._on_response(response)  # a per-call hook replaces the client-wide one
            if response.http_response.status_code != 200:
                return
            try:
                body = response.http_response.json()
            except ValueError:
                return
            if isinstance(body, dict) and body:
                captured.clear()
                captured.update(body)
                stub = {key: body[key] for key in ("id", "name") if key in body}
                body.clear()
                body.update(stub or {"id": ""})  # not empty: an empty body would be parsed again

        model = await self._call(lambda: make(raw_response_hook=on_response))
        return JsonView(captured) if captured else model

    async def _optional(self, make: Callable[..., Awaitable[Any]]) -> Any:
        """`_get_json`, or None when the resource is absent or not readable (404/403)."""
        from vmss_tui.azure.errors import AuthError

        try:
            return await self._get_json(make)
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

    async def list_instances(self, scale_set: ScaleSet, *, keep_raw: bool = True) -> list[Instance]:
        """Every instance with its power state: one paged call sequence either way (Uniform: the
        scale set's VMs with `$expand=instanceView`; Flexible: the resource group's VMs filtered
        by scale set, with the instance view). keep_raw=False leaves `Instance.raw` empty (a
        poll that never shows the JSON converts faster)."""
        if scale_set.is_flexible:
            return await self._list_flexible_vms(scale_set, keep_raw=keep_raw)
        from vmss_tui.azure.convert import instance_from_sdk

        operations = self._compute.virtual_machine_scale_set_vms
        instances = await self._collect(
            lambda **kw: operations.list(scale_set.resource_group, scale_set.name, expand="instanceView", **kw),
            lambda vm: instance_from_sdk(vm, scale_set=scale_set.name, keep_raw=keep_raw),
        )
        return sorted(instances, key=lambda i: instance_sort_key(i.instance_id))

    async def _list_flexible_vms(self, scale_set: ScaleSet, *, keep_raw: bool = True) -> list[Instance]:
        from vmss_tui.azure.convert import flexible_instance_from_sdk, vm_scale_set_id_of

        operations = self._compute.virtual_machines
        # `$expand=instanceView` is allowed only together with this filter.
        scale_set_filter = f"'virtualMachineScaleSet/id' eq '{scale_set.id}'"

        def convert(vm: Any) -> Instance | None:
            # The filter already says so; a VM of another set, or of none, is no instance of this one.
            if not same_id(vm_scale_set_id_of(vm), scale_set.id):
                return None
            return flexible_instance_from_sdk(vm, scale_set=scale_set.name, keep_raw=keep_raw)

        converted = await self._collect(
            lambda **kw: operations.list(
                scale_set.resource_group, filter=scale_set_filter, expand="instanceView", **kw
            ),
            convert,
        )
        instances = sorted((i for i in converted if i is not None), key=lambda i: instance_sort_key(i.instance_id))
        self._members[id_key(scale_set.id)] = tuple(instances)
        return instances

    async def list_instances_many(self, scale_sets: Sequence[ScaleSet]) -> dict[str, list[Instance] | FleetError]:
        """`list_instances` of each scale set, keyed by scale set id: a scale set whose list
        failed (403, OperationNotAllowed, deleted meanwhile ...) gets its FleetError and every
        other one its instances."""
        async def one(scale_set: ScaleSet) -> list[Instance] | FleetError:
            try:
                return await self.list_instances(scale_set)
            except FleetError as exc:
                return exc

        results = await asyncio.gather(*(one(s) for s in scale_sets))
        return {s.id: r for s, r in zip(scale_sets, results, strict=True)}

    async def list_instance_nics(
        self, scale_set: ScaleSet, instances: Sequence[Instance] | None = None
    ) -> list[InstanceNic]:
        """The instances' NICs. Uniform: the scale set's NIC list (one paged call). Flexible: the
        standalone NICs of the resource group(s) the VMs' NICs are in (one paged call each),
        kept to those of the VMs in `instances`, else in this session's last listing of the
        scale set's instances, else in a fresh one."""
        return await self._instance_nics(scale_set, instances, {})

    async def list_instance_nics_many(
        self,
        scale_sets: Sequence[ScaleSet],
        instances: Mapping[str, Sequence[Instance]] | None = None,
    ) -> dict[str, list[InstanceNic] | FleetError]:
        """`list_instance_nics` of each scale set, keyed by scale set id, each resource group's
        NIC list read once for all its Flexible scale sets; `instances`: the scale sets'
        instances already listed, by scale set id. A scale set whose read failed gets its
        FleetError."""
        cache: dict[str, asyncio.Future[Any]] = {}
        listed = instances or {}

        async def one(scale_set: ScaleSet) -> list[InstanceNic] | FleetError:
            try:
                return await self._instance_nics(scale_set, listed.get(scale_set.id), cache)
            except FleetError as exc:
                return exc

        results = await asyncio.gather(*(one(s) for s in scale_sets))
        return {s.id: r for s, r in zip(scale_sets, results, strict=True)}

    async def _instance_nics(
        self,
        scale_set: ScaleSet,
        instances: Sequence[Instance] | None,
        cache: dict[str, asyncio.Future[Any]],
    ) -> list[InstanceNic]:
        if scale_set.is_flexible:
            members: Sequence[Instance] | None = instances
            if members is None:
                members = self._members.get(id_key(scale_set.id))
            if members is None:
                members = await self._list_flexible_vms(scale_set)
            groups = nic_resource_groups(scale_set, members)
            per_group = await asyncio.gather(*(
                _shared_fetch(cache, "nics:" + id_key(group), lambda group=group: self._resource_group_nics(group))
                for group in groups
            ))
            nics = nics_of_instances(members, (nic for group_nics in per_group for nic in group_nics))
        else:
            from vmss_tui.azure.convert import instance_nic_from_sdk

            operations = self._network.network_interfaces
            nics = await self._collect(
                lambda **kw: operations.list_virtual_machine_scale_set_network_interfaces(
                    scale_set.resource_group, scale_set.name, **kw
                ),
                instance_nic_from_sdk,
            )
        return sorted(nics, key=lambda n: (instance_sort_key(n.instance_id), not n.primary, n.name))

    async def _resource_group_nics(self, resource_group: str) -> list[InstanceNic]:
        from vmss_tui.azure.convert import instance_nic_from_sdk

        operations = self._network.network_interfaces
        return await self._collect(lambda **kw: operations.list(resource_group, **kw), instance_nic_from_sdk)

    async def _public_ip_address(self, public_ip_id: str) -> str | None:
        from vmss_tui.azure.convert import public_ip_address_of

        group, name = resource_group_of(public_ip_id), name_of(public_ip_id)
        if not group or not name:
            return None
        operations = self._network.public_ip_addresses
        public_ip = await self._optional(lambda **kw: operations.get(group, name, **kw))
        return public_ip_address_of(public_ip) if public_ip is not None else None

    async def get_load_balancer(self, load_balancer_id: str) -> LoadBalancer:
        """With frontends' public IP addresses filled in."""
        from vmss_tui.azure.convert import frontend_public_ip_ids, load_balancer_from_sdk

        group, name = resource_group_of(load_balancer_id), name_of(load_balancer_id)
        if not group or not name:
            raise FleetError(f"not a load balancer id: {load_balancer_id}")
        operations = self._network.load_balancers
        # A load balancer in front of 1,000 instances is a large document (a rule or a backend
        # address per instance): read it from its JSON rather than the SDK's model.
        lb = await self._get_json(lambda **kw: operations.get(group, name, **kw))
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
        nsg = await self._optional(lambda **kw: operations.get(group, name, **kw))
        return nsg_from_sdk(nsg) if nsg is not None else None

    async def _subnet_nsg_id(self, subnet_id: str) -> str | None:
        group = resource_group_of(subnet_id)
        vnet = segment_after(subnet_id, "virtualNetworks")
        subnet = segment_after(subnet_id, "subnets")
        if not (group and vnet and subnet):
            return None
        operations = self._network.subnets
        found = await self._optional(lambda **kw: operations.get(group, vnet, subnet, **kw))
        nsg = getattr(found, "network_security_group", None) if found is not None else None
        nsg_id = getattr(nsg, "id", None)
        return str(nsg_id) if nsg_id else None

    async def nsg_layers_for(
        self, scale_set: ScaleSet, instance_nics: Sequence[InstanceNic] | None = None
    ) -> list[NsgLayer]:
        """The NSGs on the inbound path of the scale set's primary NIC: the subnet's (where the
        subnet is readable), then the NIC's (from the model, else from an instance NIC)."""
        return await self._nsg_layers(scale_set, instance_nics, {})

    async def _nsg_layers(
        self,
        scale_set: ScaleSet,
        instance_nics: Sequence[InstanceNic] | None,
        cache: dict[str, asyncio.Future[Any]],
    ) -> list[NsgLayer]:
        """`nsg_layers_for`, reading each subnet and NSG once among the callers sharing `cache`."""
        path = inbound_path_of(scale_set, instance_nics)
        subnet_id = path.subnet_id
        subnet_nsg_id = (
            await _shared_fetch(cache, "subnet:" + id_key(subnet_id), lambda: self._subnet_nsg_id(subnet_id))
            if subnet_id
            else None
        )
        layers: list[NsgLayer] = []
        for where, nsg_id in (("subnet", subnet_nsg_id), ("NIC", path.nic_nsg_id)):
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
                layers = await self._nsg_layers(scale_set, None, cache)
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
        subnet, NSG and resource group NIC list once. Keyed by scale set id; the first scale set
        that fails raises its FleetError (`nat_mappings_many` reports each instead)."""
        results = await self.nat_mappings_many(scale_sets)
        for result in results.values():
            if isinstance(result, FleetError):
                raise result
        return {key: result for key, result in results.items() if isinstance(result, NatResolution)}

    async def nat_mappings_many(
        self,
        scale_sets: Sequence[ScaleSet],
        instance_nics: Mapping[str, Sequence[InstanceNic]] | None = None,
    ) -> dict[str, NatResolution | FleetError]:
        """`nat_mappings_for_many`, with a scale set whose reads failed getting its FleetError
        while every other one gets its mappings. `instance_nics`: NICs already read, by scale
        set id (the others are read here)."""
        cache: dict[str, asyncio.Future[Any]] = {}
        given = instance_nics or {}

        async def one(scale_set: ScaleSet) -> NatResolution | FleetError:
            try:
                return await self._nat_mappings(scale_set, given.get(scale_set.id), cache)
            except FleetError as exc:
                return exc

        results = await asyncio.gather(*(one(s) for s in scale_sets))
        return {s.id: r for s, r in zip(scale_sets, results, strict=True)}

    async def _nat_mappings(
        self,
        scale_set: ScaleSet,
        instance_nics: Sequence[InstanceNic] | None,
        cache: dict[str, asyncio.Future[Any]],
    ) -> NatResolution:
        nics = list(instance_nics) if instance_nics is not None else await self._instance_nics(scale_set, None, cache)
        lb_ids = load_balancer_ids_of(scale_set, nics)

        async def load_balancer(lb_id: str) -> LoadBalancer | None:
            from vmss_tui.azure.errors import AuthError

            try:
                return await self.get_load_balancer(lb_id)
            except (NotFoundError, AuthError):
                return None

        lbs, layers = await asyncio.gather(
            asyncio.gather(
                *(_shared_fetch(cache, "lb:" + id_key(i), lambda i=i: load_balancer(i)) for i in lb_ids)
            ),
            self._nsg_layers(scale_set, nics, cache),
        )
        found = [lb for lb in lbs if lb is not None]
        notes: list[str] = []
        queries = [q for lb in found for q in port_mapping_queries(scale_set, nics, lb)]
        if queries:
            answers = await self._query_port_mappings(queries, found, notes)
            found = [with_port_mappings(lb, answers) for lb in found]
        resolution = resolve_nat_mappings(scale_set, nics, found, verdict_function(layers))
        if notes:
            resolution = NatResolution(resolution.mappings, resolution.notes + tuple(notes))
        return resolution

    async def _query_port_mappings(
        self, queries: Sequence[PortMappingQuery], load_balancers: Sequence[LoadBalancer], notes: list[str]
    ) -> dict[PortMappingQuery, tuple[PortMapping, ...]]:
        """Ask each pool for the port mappings of the given members (queryInboundNatRulePortMapping,
        an LRO per member), reusing answers of the last PORT_MAPPING_TTL seconds while the
        pool's NAT rules are unchanged. A failed query becomes a note."""
        from azure.mgmt.network import models

        from vmss_tui.azure.convert import port_mappings_from_sdk

        by_lb = {id_key(lb.id): lb for lb in load_balancers}
        operations = self._network.load_balancers
        now = time.monotonic()
        for stale in [k for k, (when, _) in self._port_mappings.items() if now - when >= PORT_MAPPING_TTL]:
            del self._port_mappings[stale]
        answers: dict[PortMappingQuery, tuple[PortMapping, ...]] = {}
        failed: dict[str, int] = {}

        async def one(query: PortMappingQuery) -> None:
            lb = by_lb[id_key(query.load_balancer_id)]
            rules = tuple(sorted(
                (r.name.casefold(), r.protocol.casefold(), r.backend_port, r.frontend_port_range_start,
                 r.frontend_port_range_end)
                for r in lb.nat_rules
                if r.is_v2 and same_id(r.backend_address_pool_id, query.pool_id)
            ))
            key = (id_key(query.pool_id), id_key(query.ip_configuration_id), rules)
            remembered = self._port_mappings.get(key)
            if remembered is not None and now - remembered[0] < PORT_MAPPING_TTL:
                answers[query] = remembered[1]
                return
            group, lb_name = resource_group_of(lb.id) or lb.resource_group, lb.name
            request = models.QueryInboundNatRulePortMappingRequest(
                ip_configuration=models.SubResource(id=query.ip_configuration_id)
            )
            try:
                poller = await self._call(lambda: operations.begin_list_inbound_nat_rule_port_mappings(
                    group, lb_name, query.pool_name, request
                ))
                with self._errors():
                    result = await poller.result()
            except FleetError as exc:
                log.debug("port mapping query of %s failed: %s", query.ip_configuration_id, exc.one_line())
                failed[f"{lb.name}/{query.pool_name}"] = failed.get(f"{lb.name}/{query.pool_name}", 0) + 1
                return
            mappings = port_mappings_from_sdk(result)
            self._port_mappings[key] = (now, mappings)
            answers[query] = mappings

        async def bounded(query: PortMappingQuery, gate: asyncio.Semaphore) -> None:
            async with gate:
                await one(query)

        gate = asyncio.Semaphore(VM_ACTION_CONCURRENCY)
        await asyncio.gather(*(bounded(q, gate) for q in queries))
        for where, count in failed.items():
            notes.append(f"load balancer {where}: the port mappings of {count} member(s) could not be queried")
        return answers

    async def rollout_status(self, scale_set: ScaleSet) -> RolloutStatus | None:
        """None when the scale set never rolled (404). The same as `latest_rollout`."""
        return await self.latest_rollout(scale_set)

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
        """Run `action` (one of INSTANCE_ACTIONS) on the given instances and wait for its end.

        Uniform: one scale-set-level LRO for all of them. Flexible (instance ids are VM names):
        update and delete are one scale-set-level LRO with the names (delete without force);
        start, restart, power off, deallocate and reimage are one LRO per VM, VM_ACTION_CONCURRENCY
        at a time, summed up in one result that names the VMs that failed.
        """
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
        if action in ("update", "delete"):
            required = models.VirtualMachineScaleSetVMInstanceRequiredIDs(instance_ids=ids)
            if action == "update":
                start = lambda: operations.begin_update_instances(group, name, required)  # noqa: E731
            elif scale_set.is_flexible:
                start = lambda: operations.begin_delete_instances(  # noqa: E731
                    group, name, required, force_deletion=False
                )
            else:
                start = lambda: operations.begin_delete_instances(group, name, required)  # noqa: E731
        elif scale_set.is_flexible:
            return await self._run_per_vm(scale_set, action, ids, on_progress)
        elif action == "reimage":
            reimage = models.VirtualMachineScaleSetReimageParameters(instance_ids=ids)
            start = lambda: operations.begin_reimage(group, name, reimage)  # noqa: E731
        else:
            begin = {
                "start": operations.begin_start,
                "restart": operations.begin_restart,
                "power_off": operations.begin_power_off,
                "deallocate": operations.begin_deallocate,
            }[action]
            body = models.VirtualMachineScaleSetVMInstanceIDs(instance_ids=ids)
            start = lambda: begin(group, name, body)  # noqa: E731
        return await self._run_lro(start, on_progress)

    async def _run_per_vm(
        self,
        scale_set: ScaleSet,
        action: str,
        vm_names: Sequence[str],
        on_progress: ProgressCallback | None,
    ) -> OperationResult:
        """One virtual-machine LRO per VM of a Flexible scale set; one result for them all."""
        operations = self._compute.virtual_machines
        begin = {
            "start": operations.begin_start,
            "restart": operations.begin_restart,
            "power_off": operations.begin_power_off,
            "deallocate": operations.begin_deallocate,
            "reimage": operations.begin_reimage,
        }[action]
        known = {i.instance_id: i.resource_group for i in self._members.get(id_key(scale_set.id), ())}
        gate = asyncio.Semaphore(VM_ACTION_CONCURRENCY)
        reported: list[str] = []

        async def progress(status: str) -> None:
            if on_progress is None or status != "InProgress" or reported:
                return
            reported.append(status)  # the set is in progress once any VM is
            result = on_progress(status)
            if inspect.isawaitable(result):
                await result

        async def one(vm_name: str) -> InstanceFailure | None:
            group = known.get(vm_name) or scale_set.resource_group
            async with gate:
                try:
                    result = await self._run_lro(lambda: begin(group, vm_name), progress)
                except FleetError as exc:
                    return InstanceFailure(vm_name, exc.code, exc.message)
            if result.status == "Succeeded":
                return None
            return InstanceFailure(vm_name, result.error_code, result.error_message or result.status)

        outcomes = await asyncio.gather(*(one(n) for n in vm_names))
        failures = tuple(f for f in outcomes if f is not None)
        status = "Succeeded" if not failures else "Failed"
        if on_progress is not None:
            result = on_progress(status)
            if inspect.isawaitable(result):
                await result
        if not failures:
            return OperationResult(status)
        first = failures[0]
        detail = f"{first.instance_id}: {first.error_code + ': ' if first.error_code else ''}{first.error_message}"
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        message = f"{len(failures)} of {len(vm_names)} VMs failed: {detail}{more}"
        codes = {f.error_code for f in failures}
        return OperationResult(
            status, error_code=first.error_code if len(codes) == 1 else None, error_message=message,
            failures=failures,
        )

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
        """Start every instance (Flexible: every VM of the set, one LRO each)."""
        self._check_writable("start all")
        if scale_set.is_flexible:
            return await self._run_on_every_vm(scale_set, "start", on_progress)
        operations = self._compute.virtual_machine_scale_sets
        return await self._run_lro(
            lambda: operations.begin_start(scale_set.resource_group, scale_set.name), on_progress
        )

    async def power_off_all(
        self, scale_set: ScaleSet, on_progress: ProgressCallback | None = None
    ) -> OperationResult:
        """Power off every instance (Flexible: every VM of the set, one LRO each)."""
        self._check_writable("stop all")
        if scale_set.is_flexible:
            return await self._run_on_every_vm(scale_set, "power_off", on_progress)
        operations = self._compute.virtual_machine_scale_sets
        return await self._run_lro(
            lambda: operations.begin_power_off(scale_set.resource_group, scale_set.name), on_progress
        )

    async def _run_on_every_vm(
        self, scale_set: ScaleSet, action: str, on_progress: ProgressCallback | None
    ) -> OperationResult:
        vms = await self._list_flexible_vms(scale_set)
        if not vms:
            return OperationResult("Succeeded")
        return await self._run_per_vm(scale_set, action, [vm.instance_id for vm in vms], on_progress)

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


def escaped_url(url: str) -> str:
    """`url` with what may not appear in a URL (spaces, quotes' neighbours, non-ASCII ...)
    percent-encoded, and everything already encoded or reserved left as it is: the same link
    whether the server escaped it or not."""
    return quote(url, safe="!#$%&'()*+,/:;=?@[]~")


def loggable_url(url: str) -> str:
    """The path and query of a request URL for the log: only the values of well-known
    parameters (api-version, $filter ...) are kept; any other value might be a secret."""
    parts = urlsplit(url)
    if not parts.query:
        return parts.path
    shown = [
        f"{key}={value}" if key.casefold() in _LOGGED_QUERY_VALUES else f"{key}=…"
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return f"{parts.path}?{'&'.join(shown)}"


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
        # Its callers may all be cancelled (the console quits mid-refresh): the failure is then
        # nobody's, and must not end as "Task exception was never retrieved".
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        cache[key] = future
    return await asyncio.shield(future)


async def _list_subscriptions(settings: ConnectionSettings, shared: _Shared) -> list[tuple[str, str]]:
    """Subscriptions visible to the credential, before any subscription is chosen."""
    bootstrap = Fleet(settings, _BOOTSTRAP_SUBSCRIPTION, shared)
    try:
        return await bootstrap.list_subscriptions()
    finally:
        await bootstrap.close()
