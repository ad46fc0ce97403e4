"""The aiohttp application that speaks ARM REST for the simulated subscription.

Routing is a table of regular expressions over the lower-cased path (ARM paths are case
insensitive, and the SDK itself mixes `Microsoft.Compute` and `microsoft.Compute`).
Cross-cutting behaviour (auth header, api-version, latency, forbidden ids, injected faults,
throttling, rate-limit headers) lives in `ArmApp.handle` so every route gets it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from . import render
from .state import DURATIONS, ArmError, Instance, Operation, ScaleSet, World, compute_not_found

log = logging.getLogger(__name__)

Handler = Callable[["RequestContext"], Awaitable[web.StreamResponse]]

_SUB = r"^/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourcegroups/(?P<rg>[^/]+)"
_CP = _RG + r"/providers/microsoft\.compute"
_VMSS = _CP + r"/virtualmachinescalesets/(?P<vmss>[^/]+)"
_VM = _VMSS + r"/virtualmachines/(?P<iid>[^/]+)"
_NIC = _VM + r"/networkinterfaces/(?P<nic>[^/]+)"
_NP = _RG + r"/providers/microsoft\.network"
_NET_TYPES = "loadbalancers|publicipaddresses|networksecuritygroups|virtualnetworks"

# Lower-cased collection segment -> property name in the parent resource body.
_SUBRESOURCES = {
    "inboundnatrules": "inboundNatRules",
    "backendaddresspools": "backendAddressPools",
    "frontendipconfigurations": "frontendIPConfigurations",
    "inboundnatpools": "inboundNatPools",
    "loadbalancingrules": "loadBalancingRules",
    "probes": "probes",
    "outboundrules": "outboundRules",
    "securityrules": "securityRules",
    "defaultsecurityrules": "defaultSecurityRules",
    "subnets": "subnets",
}
_NET_TYPE_NAMES = {
    "loadbalancers": "loadBalancers",
    "publicipaddresses": "publicIPAddresses",
    "networksecuritygroups": "networkSecurityGroups",
    "virtualnetworks": "virtualNetworks",
}
_VMSS_ACTIONS = {
    "start": "start",
    "poweroff": "powerOff",
    "deallocate": "deallocate",
    "restart": "restart",
    "reimage": "reimage",
    "reimageall": "reimage",
    "delete": "delete",
    "manualupgrade": "manualupgrade",
}
_VM_ACTIONS = {
    "start": "start",
    "poweroff": "powerOff",
    "deallocate": "deallocate",
    "restart": "restart",
    "reimage": "reimage",
    "reimageall": "reimage",
}

TENANT_ID = "72f988bf-0000-4000-8000-00000000a11e"


@dataclass
class FaultRule:
    """Fail requests whose path matches `pattern` (a regex searched case-insensitively)."""

    pattern: str
    status: int = 500
    method: str | None = None  # None: any method
    count: int | None = 1  # None: forever
    code: str | None = None
    message: str | None = None
    retry_after: int | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return re.search(self.pattern, path, re.IGNORECASE) is not None


_DEFAULT_CODES = {400: "BadRequest", 404: "NotFound", 409: "Conflict", 429: "TooManyRequests",
                  500: "InternalServerError", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}


class RateCounter:
    """Requests in sliding real-time windows, for the rate-limit headers."""

    def __init__(self) -> None:
        self._events: dict[str, deque[float]] = {}

    def hit(self, key: str, window: float) -> int:
        now = time.monotonic()
        events = self._events.setdefault(key, deque())
        events.append(now)
        while events and events[0] < now - window:
            events.popleft()
        return len(events)


# (category, 3-minute limit, 30-minute limit), as Compute reports them.
_COMPUTE_LIMITS = {
    "GetVMScaleSet": (400, 2580),
    "HighCostGetVMScaleSet": (180, 900),
    "GetVMScaleSetVM": (1000, 5000),
    "GetOperation": (15000, 30000),
    "VMScaleSetActionsAndUpdates": (240, 1200),
    "GetDisk": (1000, 5000),
}


class RequestContext:
    def __init__(self, request: web.Request, match: re.Match[str], app: ArmApp) -> None:
        self.request = request
        self.match = match
        self.app = app
        self.world = app.world

    def group(self, name: str) -> str:
        # Names from the original (not lower-cased) path, same span.
        start, end = self.match.span(name)
        return self.request.path[start:end]

    @property
    def api_version(self) -> str:
        return self.request.query.get("api-version", "")

    async def json_body(self) -> dict[str, Any]:
        raw = await self.request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise ArmError(400, "InvalidRequestFormat", "Cannot parse the request body as JSON.") from None
        if not isinstance(body, dict):
            raise ArmError(400, "InvalidRequestFormat", "The request body must be a JSON object.")
        return body


class ArmApp:
    def __init__(self, world: World, *, page_size: int = 100, latency: float = 0.0, throttle_after: int | None = None,
                 throttle_window: float = 60.0, retry_after: int | None = None, require_auth: bool = True,
                 execute_run_commands: bool = True) -> None:
        self.world = world
        self.page_size = page_size
        self.latency = latency
        self.throttle_after = throttle_after
        self.throttle_window = throttle_window
        self.retry_after = retry_after
        self.require_auth = require_auth
        self.execute_run_commands = execute_run_commands
        self.faults: list[FaultRule] = []
        self.forbidden: set[str] = set()
        self.request_count = 0
        self.write_count = 0
        self.read_count = 0
        self.in_flight = 0  # requests being handled now
        self.peak_in_flight = 0  # the most handled at once: how clients can prove their concurrency bound
        self.request_log: deque[tuple[str, str, int]] = deque(maxlen=2000)
        self._rates = RateCounter()
        self._throttle_hits: deque[float] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._add_routes()

    # ---- application

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method, re.compile(pattern + "$"), handler))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        path = request.path.rstrip("/") or "/"
        lowered = path.lower()
        is_read = request.method in ("GET", "HEAD") or lowered.endswith("/queryinboundnatruleportmapping")
        if not is_read:
            self.write_count += 1
        else:
            self.read_count += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            self.world.advance()
            response = await self._handle(request, lowered, is_read)
        except ArmError as err:
            response = web.json_response(err.body(), status=err.status, headers=err.headers)
        except Exception as exc:  # a bug in the simulator still answers like ARM does
            log.exception("simulator request failed: %s %s", request.method, request.path)
            response = web.json_response(
                {"error": {"code": "InternalServerError", "message": f"Simulator error: {type(exc).__name__}: {exc}"}}, status=500)
        finally:
            self.in_flight -= 1
        self._rate_headers(response, lowered, is_read)
        response.headers["x-ms-request-id"] = str(self.world.new_uuid())
        response.headers["x-ms-correlation-request-id"] = response.headers["x-ms-request-id"]
        self.request_log.append((request.method, request.path_qs, response.status))
        return response

    async def _handle(self, request: web.Request, lowered: str, is_read: bool) -> web.StreamResponse:
        if self.require_auth and not request.headers.get("Authorization", "").lower().startswith("bearer "):
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.")
        if "api-version" not in request.query:
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        for rule in list(self.faults):
            if rule.matches(request.method, lowered):
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count <= 0:
                        self.faults.remove(rule)
                headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else None
                raise ArmError(rule.status, rule.code or _DEFAULT_CODES.get(rule.status, "Error"),
                               rule.message or f"Injected fault ({rule.status}) for {request.method} {request.path}.",
                               headers=headers)
        self._check_forbidden(request.method, lowered)
        if is_read and self.throttle_after is not None:
            self._check_throttle()
        matched_path = False
        for method, pattern, handler in self._routes:
            match = pattern.match(lowered)
            if match is None:
                continue
            matched_path = True
            if method != request.method:
                continue
            sub = match.groupdict().get("sub")
            if sub is not None and sub != self.world.subscription_id.lower():
                raise ArmError(404, "SubscriptionNotFound", f"The subscription '{request.path.split('/')[2]}' could not be found.")
            return await handler(RequestContext(request, match, self))
        if matched_path:
            raise ArmError(405, "MethodNotAllowed", f"The requested method '{request.method}' is not allowed for this resource.")
        raise ArmError(404, "InvalidResourceType",
                       f"The simulator does not implement '{request.method} {request.path}'.")

    def _check_forbidden(self, method: str, lowered: str) -> None:
        for resource_id in self.forbidden:
            rid = resource_id.lower().rstrip("/")
            if lowered == rid or lowered.startswith(rid + "/"):
                action = "read" if method == "GET" else "write" if method in ("PUT", "PATCH") else "action"
                provider_type = "/".join(rid.split("/providers/")[-1].split("/")[0:2]) if "/providers/" in rid else "resources"
                raise ArmError(403, "AuthorizationFailed",
                               f"The client 'simulated-user@example.com' with object id '00000000-0000-0000-0000-0000000000aa' "
                               f"does not have authorization to perform action '{provider_type}/{action}' over scope "
                               f"'{resource_id}' or the scope is invalid. If access was recently granted, please refresh "
                               f"your credentials.")

    def _check_throttle(self) -> None:
        assert self.throttle_after is not None
        now = time.monotonic()
        while self._throttle_hits and self._throttle_hits[0] <= now - self.throttle_window:
            self._throttle_hits.popleft()
        if len(self._throttle_hits) >= self.throttle_after:
            reset_in = self._throttle_hits[0] + self.throttle_window - now
            retry_after = self.retry_after if self.retry_after is not None else max(1, math.ceil(reset_in))
            window_start = self.world.clock.iso()
            detail = json.dumps({
                "eventType": "HighCostGet30Min", "startTime": window_start,
                "allowedRequestCount": self.throttle_after, "measuredRequestCount": len(self._throttle_hits) + 1,
            })
            raise ArmError(
                429, "OperationNotAllowed",
                "The server rejected the request because too many requests have been received for this subscription.",
                details=[{"code": "TooManyRequests", "target": "HighCostGet30Min", "message": detail}],
                headers={"Retry-After": str(retry_after),
                         "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/HighCostGet30Min;0"},
            )
        self._throttle_hits.append(now)

    def _rate_headers(self, response: web.StreamResponse, lowered: str, is_read: bool) -> None:
        if is_read:
            used = self._rates.hit("subscription-reads", 3600)
            response.headers["x-ms-ratelimit-remaining-subscription-reads"] = str(max(0, 12000 - used))
        else:
            used = self._rates.hit("subscription-writes", 3600)
            response.headers["x-ms-ratelimit-remaining-subscription-writes"] = str(max(0, 1200 - used))
        if "x-ms-ratelimit-remaining-resource" in response.headers:
            return
        category = _rate_category(lowered, is_read)
        if category in _COMPUTE_LIMITS:
            short, long = _COMPUTE_LIMITS[category]
            n3 = self._rates.hit(category + "3Min", 180)
            n30 = self._rates.hit(category + "30Min", 1800)
            response.headers["x-ms-ratelimit-remaining-resource"] = (
                f"Microsoft.Compute/{category}3Min;{max(0, short - n3)},"
                f"Microsoft.Compute/{category}30Min;{max(0, long - n30)}")
        else:
            n = self._rates.hit("network", 300)
            response.headers["x-ms-ratelimit-remaining-resource"] = f"Microsoft.Network/{category};{max(0, 10000 - n)}"

    # ---- helpers

    def paged(self, ctx: RequestContext, items: list[Any], render_item: Callable[[Any], dict[str, Any]]) -> web.Response:
        token = ctx.request.query.get("$skiptoken")
        offset = 0
        if token:
            try:
                offset = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError:
                raise ArmError(400, "InvalidSkipToken", "The $skiptoken is not valid.") from None
        page = items[offset: offset + self.page_size]
        body: dict[str, Any] = {"value": [render_item(item) for item in page]}
        if offset + self.page_size < len(items):
            query = {k: v for k, v in ctx.request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = base64.urlsafe_b64encode(str(offset + self.page_size).encode()).decode()
            body["nextLink"] = str(ctx.request.url.with_query(query))
        return web.json_response(body)

    def operation_headers(self, ctx: RequestContext, op: Operation) -> dict[str, str]:
        base = f"{ctx.request.url.origin()}/subscriptions/{self.world.subscription_id}/providers/Microsoft.Compute/locations/{op.location}/operations/{op.id}"
        version = ctx.api_version
        return {
            "Azure-AsyncOperation": f"{base}?p=sim&api-version={version}",
            "Location": f"{base}?p=sim&monitor=true&api-version={version}",
        }

    def accepted(self, ctx: RequestContext, op: Operation) -> web.Response:
        return web.Response(status=202, headers=self.operation_headers(ctx, op))

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- routes

    def _add_routes(self) -> None:
        r = self.route
        r("GET", r"^/subscriptions", self.list_subscriptions)
        r("GET", _SUB, self.get_subscription)
        r("GET", _SUB + r"/resourcegroups", self.list_resource_groups)
        r("GET", _RG, self.get_resource_group)
        r("GET", _SUB + r"/providers/microsoft\.compute/virtualmachinescalesets", self.list_all_scale_sets)
        r("GET", _SUB + r"/providers/microsoft\.compute/locations/(?P<loc>[^/]+)/virtualmachinescalesets", self.list_all_scale_sets)
        r("GET", _CP + r"/virtualmachinescalesets", self.list_scale_sets)
        r("GET", _VMSS, self.get_scale_set)
        r("PATCH", _VMSS, self.patch_scale_set)
        r("GET", _VMSS + r"/instanceview", self.scale_set_instance_view)
        r("POST", _VMSS + r"/(?P<action>start|poweroff|deallocate|restart|reimage|reimageall|delete|manualupgrade)", self.scale_set_action)
        r("POST", _VMSS + r"/osrollingupgrade", self.os_rolling_upgrade)
        r("POST", _VMSS + r"/rollingupgrades/cancel", self.cancel_rolling_upgrade)
        r("GET", _VMSS + r"/rollingupgrades/latest", self.latest_rolling_upgrade)
        r("GET", _VMSS + r"/virtualmachines", self.list_instances)
        r("GET", _VM, self.get_instance)
        r("DELETE", _VM, self.delete_instance)
        r("GET", _VM + r"/instanceview", self.get_instance_view)
        r("POST", _VM + r"/(?P<action>start|poweroff|deallocate|restart|reimage|reimageall)", self.instance_action)
        r("POST", _VM + r"/runcommand", self.run_command)
        r("GET", _SUB + r"/providers/microsoft\.compute/locations/(?P<loc>[^/]+)/operations/(?P<op>[^/]+)", self.get_operation)
        r("GET", _CP + r"/disks", self.list_disks)
        r("GET", _SUB + r"/providers/microsoft\.compute/disks", self.list_disks)
        r("GET", _CP + r"/disks/(?P<disk>[^/]+)", self.get_disk)
        # Network resources of scale-set VMs (api-version 2018-10-01), under the Compute path.
        r("GET", _VMSS + r"/networkinterfaces", self.list_scale_set_nics)
        r("GET", _VM + r"/networkinterfaces", self.list_instance_nics)
        r("GET", _NIC, self.get_instance_nic)
        r("GET", _NIC + r"/ipconfigurations", self.list_nic_ip_configs)
        r("GET", _NIC + r"/ipconfigurations/(?P<ipc>[^/]+)", self.get_nic_ip_config)
        r("GET", _VMSS + r"/publicipaddresses", self.list_scale_set_public_ips)
        r("GET", _NIC + r"/ipconfigurations/(?P<ipc>[^/]+)/publicipaddresses", self.list_instance_public_ips)
        r("GET", _NIC + r"/ipconfigurations/(?P<ipc>[^/]+)/publicipaddresses/(?P<pip>[^/]+)", self.get_instance_public_ip)
        # Network provider.
        r("POST", _NP + r"/loadbalancers/(?P<name>[^/]+)/backendaddresspools/(?P<pool>[^/]+)/queryinboundnatruleportmapping",
          self.query_port_mapping)
        r("GET", _SUB + rf"/providers/microsoft\.network/(?P<type>{_NET_TYPES})", self.list_network)
        r("GET", _NP + rf"/(?P<type>{_NET_TYPES})", self.list_network)
        r("GET", _NP + rf"/(?P<type>{_NET_TYPES})/(?P<name>[^/]+)", self.get_network)
        r("GET", _NP + rf"/(?P<type>{_NET_TYPES})/(?P<name>[^/]+)/(?P<child>[a-z]+)", self.list_network_children)
        r("GET", _NP + rf"/(?P<type>{_NET_TYPES})/(?P<name>[^/]+)/(?P<child>[a-z]+)/(?P<childname>[^/]+)", self.get_network_child)

    # ---- subscriptions and groups

    def _subscription_body(self) -> dict[str, Any]:
        sub = self.world.subscription_id
        return {
            "id": f"/subscriptions/{sub}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": sub,
            "tenantId": TENANT_ID,
            "displayName": self.world.topology.subscription_name,
            "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"},
        }

    async def list_subscriptions(self, ctx: RequestContext) -> web.Response:
        return web.json_response({"value": [self._subscription_body()], "count": {"type": "Total", "value": 1}})

    async def get_subscription(self, ctx: RequestContext) -> web.Response:
        return web.json_response(self._subscription_body())

    def _rg_body(self, name: str) -> dict[str, Any]:
        return {"id": self.world.rg_id(name), "name": name, "type": "Microsoft.Resources/resourceGroups",
                "location": self.world.location, "properties": {"provisioningState": "Succeeded"}}

    async def list_resource_groups(self, ctx: RequestContext) -> web.Response:
        return self.paged(ctx, list(self.world.resource_groups.values()), self._rg_body)

    async def get_resource_group(self, ctx: RequestContext) -> web.Response:
        return web.json_response(self._rg_body(self.world.canonical_rg(ctx.group("rg"))))

    # ---- scale sets

    def _scale_set(self, ctx: RequestContext) -> ScaleSet:
        return self.world.get_scale_set(ctx.group("rg"), ctx.group("vmss"))

    def _instance(self, ctx: RequestContext) -> Instance:
        return self.world.get_instance(self._scale_set(ctx), ctx.group("iid"))

    async def list_all_scale_sets(self, ctx: RequestContext) -> web.Response:
        items = list(self.world.scale_sets.values())
        if "loc" in ctx.match.groupdict():
            items = [s for s in items if s.location.lower() == ctx.group("loc").lower()]
        return self.paged(ctx, items, lambda s: render.scale_set(self.world, s))

    async def list_scale_sets(self, ctx: RequestContext) -> web.Response:
        rg = self.world.canonical_rg(ctx.group("rg"))
        items = [s for s in self.world.scale_sets.values() if s.resource_group.lower() == rg.lower()]
        return self.paged(ctx, items, lambda s: render.scale_set(self.world, s))

    async def get_scale_set(self, ctx: RequestContext) -> web.Response:
        return web.json_response(render.scale_set(self.world, self._scale_set(ctx)))

    async def patch_scale_set(self, ctx: RequestContext) -> web.Response:
        ss = self._scale_set(ctx)
        body = await ctx.json_body()
        op = self.world.update_scale_set(ss, body)
        headers = {"Azure-AsyncOperation": self.operation_headers(ctx, op)["Azure-AsyncOperation"]}
        return web.json_response(render.scale_set(self.world, ss), status=200, headers=headers)

    async def scale_set_instance_view(self, ctx: RequestContext) -> web.Response:
        return web.json_response(render.scale_set_instance_view(self.world, self._scale_set(ctx)))

    async def scale_set_action(self, ctx: RequestContext) -> web.Response:
        ss = self._scale_set(ctx)
        action = _VMSS_ACTIONS[ctx.match.group("action")]
        body = await ctx.json_body()
        ids = body.get("instanceIds")
        if ids is not None and not isinstance(ids, list):
            raise ArmError(400, "InvalidParameter", "The value of parameter 'instanceIds' must be a list.")
        if action in ("delete", "manualupgrade") and not ids:
            raise ArmError(400, "InvalidParameter", "Required parameter 'instanceIds' is missing (null).")
        instances = self.world.resolve_instances(ss, [str(i) for i in ids] if ids else None)
        if action == "manualupgrade":
            op = self.world.manual_upgrade(ss, instances)
        elif action == "delete":
            self.world.check_action_allowed("delete", instances)
            ss.capacity = max(0, ss.capacity - len(instances))
            op = self.world.start_action("delete", ss, instances)
        else:
            op = self.world.start_action(action, ss, instances)
        return self.accepted(ctx, op)

    async def os_rolling_upgrade(self, ctx: RequestContext) -> web.Response:
        op = self.world.start_rolling_upgrade(self._scale_set(ctx))
        return self.accepted(ctx, op)

    async def cancel_rolling_upgrade(self, ctx: RequestContext) -> web.Response:
        op = self.world.cancel_rolling_upgrade(self._scale_set(ctx))
        return self.accepted(ctx, op)

    async def latest_rolling_upgrade(self, ctx: RequestContext) -> web.Response:
        ss = self._scale_set(ctx)
        if ss.rolling is None:
            raise compute_not_found()
        return web.json_response(render.rolling_upgrade(self.world, ss))

    # ---- instances

    async def list_instances(self, ctx: RequestContext) -> web.Response:
        ss = self._scale_set(ctx)
        expand = ctx.request.query.get("$expand", "").lower() == "instanceview"
        return self.paged(ctx, ss.sorted_instances(), lambda i: render.instance(self.world, i, expand))

    async def get_instance(self, ctx: RequestContext) -> web.Response:
        expand = ctx.request.query.get("$expand", "").lower() == "instanceview"
        return web.json_response(render.instance(self.world, self._instance(ctx), expand))

    async def delete_instance(self, ctx: RequestContext) -> web.Response:
        inst = self._instance(ctx)
        ss = inst.scale_set
        self.world.check_action_allowed("delete", [inst])
        ss.capacity = max(0, ss.capacity - 1)
        return self.accepted(ctx, self.world.start_action("delete", ss, [inst]))

    async def get_instance_view(self, ctx: RequestContext) -> web.Response:
        return web.json_response(render.instance_view(self.world, self._instance(ctx)))

    async def instance_action(self, ctx: RequestContext) -> web.Response:
        inst = self._instance(ctx)
        action = _VM_ACTIONS[ctx.match.group("action")]
        return self.accepted(ctx, self.world.start_action(action, inst.scale_set, [inst]))

    async def run_command(self, ctx: RequestContext) -> web.Response:
        inst = self._instance(ctx)
        body = await ctx.json_body()
        if not body.get("commandId"):
            raise ArmError(400, "InvalidParameter", "Required parameter 'commandId' is missing (null).")
        self.world.check_action_allowed("runCommand", [inst])
        op = self.world.new_operation("runCommand")
        fault = self.world.take_fault("runCommand", [inst.instance_id])
        script = "\n".join(str(line) for line in body.get("script") or [])
        started = self.world.scheduler.now()
        self.spawn(self._execute_run_command(op, inst, str(body["commandId"]), script, started, fault))
        return self.accepted(ctx, op)

    async def _execute_run_command(self, op: Operation, inst: Instance, command_id: str, script: str, started: float,
                                   fault: Any) -> None:
        stdout, stderr = await _run_script(inst, command_id, script, self.execute_run_commands)
        output = {"value": [
            {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "message": stdout},
            {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "message": stderr},
        ]}
        remaining = started + DURATIONS["runCommand"] - self.world.clock.now()

        def complete() -> None:
            if fault is not None:
                self.world.finish(op, "Failed", {"code": fault.code, "message": fault.message})
            else:
                op.output = output
                self.world.finish(op)

        self.world.scheduler.after(max(0.0, remaining), complete)
        if remaining <= 0:
            self.world.advance()

    async def get_operation(self, ctx: RequestContext) -> web.Response:
        op = self.world.operations.get(ctx.group("op"))
        if op is None:
            raise compute_not_found()
        if ctx.request.query.get("monitor", "").lower() == "true":
            if not op.done:
                return web.Response(status=202, headers=self.operation_headers(ctx, op))
            if op.output is not None:
                return web.json_response(op.output)
            return web.Response(status=200)
        return web.json_response(render.operation_status(self.world, op))

    # ---- disks

    def _disks(self, rg: str | None) -> list[dict[str, Any]]:
        disks = []
        for ss in self.world.scale_sets.values():
            if rg is not None and ss.resource_group.lower() != rg.lower():
                continue
            for inst in ss.sorted_instances():
                disks.extend(render.managed_disks(self.world, inst))
        return disks

    async def list_disks(self, ctx: RequestContext) -> web.Response:
        rg = self.world.canonical_rg(ctx.group("rg")) if "rg" in ctx.match.groupdict() else None
        return self.paged(ctx, self._disks(rg), lambda d: d)

    async def get_disk(self, ctx: RequestContext) -> web.Response:
        rg = self.world.canonical_rg(ctx.group("rg"))
        name = ctx.group("disk").lower()
        for disk in self._disks(rg):
            if disk["name"].lower() == name:
                return web.json_response(disk)
        raise ArmError(404, "ResourceNotFound",
                       f"The Resource 'Microsoft.Compute/disks/{ctx.group('disk')}' under resource group '{rg}' was not found.")

    # ---- scale-set VM network resources

    def _nic_of(self, ctx: RequestContext) -> Instance:
        try:
            inst = self._instance(ctx)
        except ArmError:
            raise _network_not_found(ctx.request.path) from None
        if ctx.group("nic").lower() != inst.nic_name.lower():
            raise _network_not_found(ctx.request.path)
        return inst

    async def list_scale_set_nics(self, ctx: RequestContext) -> web.Response:
        ss = self._network_scale_set(ctx)
        return self.paged(ctx, ss.sorted_instances(), lambda i: render.nic(self.world, i))

    def _network_scale_set(self, ctx: RequestContext) -> ScaleSet:
        self.world.canonical_rg(ctx.group("rg"))
        try:
            return self._scale_set(ctx)
        except ArmError:
            raise ArmError(404, "ResourceNotFound",
                           f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{ctx.group('vmss')}' under resource "
                           f"group '{ctx.group('rg')}' was not found.") from None

    async def list_instance_nics(self, ctx: RequestContext) -> web.Response:
        ss = self._network_scale_set(ctx)
        inst = ss.instances.get(ctx.group("iid"))
        if inst is None:
            raise _network_not_found(ctx.request.path)
        return self.paged(ctx, [inst], lambda i: render.nic(self.world, i))

    async def get_instance_nic(self, ctx: RequestContext) -> web.Response:
        self._network_scale_set(ctx)
        return web.json_response(render.nic(self.world, self._nic_of(ctx)))

    async def list_nic_ip_configs(self, ctx: RequestContext) -> web.Response:
        self._network_scale_set(ctx)
        body = render.nic(self.world, self._nic_of(ctx))
        return self.paged(ctx, body["properties"]["ipConfigurations"], lambda c: c)

    async def get_nic_ip_config(self, ctx: RequestContext) -> web.Response:
        self._network_scale_set(ctx)
        body = render.nic(self.world, self._nic_of(ctx))
        for config in body["properties"]["ipConfigurations"]:
            if config["name"].lower() == ctx.group("ipc").lower():
                return web.json_response(config)
        raise _network_not_found(ctx.request.path)

    async def list_scale_set_public_ips(self, ctx: RequestContext) -> web.Response:
        ss = self._network_scale_set(ctx)
        items = ss.sorted_instances() if ss.spec.instance_public_ip else []
        return self.paged(ctx, items, lambda i: render.instance_public_ip(self.world, i))

    async def list_instance_public_ips(self, ctx: RequestContext) -> web.Response:
        ss = self._network_scale_set(ctx)
        inst = self._nic_of(ctx)
        return self.paged(ctx, [inst] if ss.spec.instance_public_ip else [], lambda i: render.instance_public_ip(self.world, i))

    async def get_instance_public_ip(self, ctx: RequestContext) -> web.Response:
        ss = self._network_scale_set(ctx)
        inst = self._nic_of(ctx)
        if not ss.spec.instance_public_ip or ctx.group("pip").lower() != f"{ss.spec.name}-pip".lower():
            raise _network_not_found(ctx.request.path)
        return web.json_response(render.instance_public_ip(self.world, inst))

    # ---- network provider

    def _network_items(self, kind: str, rg: str | None) -> list[Any]:
        store: dict[str, Any] = {
            "loadbalancers": self.world.load_balancers,
            "publicipaddresses": self.world.public_ips,
            "networksecuritygroups": self.world.nsgs,
            "virtualnetworks": self.world.vnets,
        }[kind]
        return [item for item in store.values() if rg is None or item.resource_group.lower() == rg.lower()]

    def _render_network(self, kind: str, item: Any) -> dict[str, Any]:
        renderer: Callable[[World, Any], dict[str, Any]] = {
            "loadbalancers": render.load_balancer,
            "publicipaddresses": render.public_ip,
            "networksecuritygroups": render.network_security_group,
            "virtualnetworks": render.virtual_network,
        }[kind]
        return renderer(self.world, item)

    def _network_resource(self, ctx: RequestContext) -> tuple[str, Any]:
        kind = ctx.match.group("type")
        rg = self.world.canonical_rg(ctx.group("rg"))
        name = ctx.group("name")
        resource_id = self.world.resource_id(rg, "Microsoft.Network", _NET_TYPE_NAMES[kind], name).lower()
        for item in self._network_items(kind, rg):
            if item.id.lower() == resource_id:
                return kind, item
        raise ArmError(404, "ResourceNotFound",
                       f"The Resource 'Microsoft.Network/{_NET_TYPE_NAMES[kind]}/{name}' under resource group '{rg}' was "
                       f"not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")

    async def list_network(self, ctx: RequestContext) -> web.Response:
        kind = ctx.match.group("type")
        rg = self.world.canonical_rg(ctx.group("rg")) if "rg" in ctx.match.groupdict() else None
        return self.paged(ctx, self._network_items(kind, rg), lambda item: self._render_network(kind, item))

    async def get_network(self, ctx: RequestContext) -> web.Response:
        kind, item = self._network_resource(ctx)
        return web.json_response(self._render_network(kind, item))

    def _children(self, ctx: RequestContext) -> list[dict[str, Any]]:
        kind, item = self._network_resource(ctx)
        child = ctx.match.group("child")
        prop = _SUBRESOURCES.get(child)
        body = self._render_network(kind, item)
        if prop is None or prop not in body["properties"]:
            raise ArmError(404, "InvalidResourceType", f"The simulator does not implement '{ctx.request.path}'.")
        return body["properties"][prop]

    async def list_network_children(self, ctx: RequestContext) -> web.Response:
        return self.paged(ctx, self._children(ctx), lambda c: c)

    async def get_network_child(self, ctx: RequestContext) -> web.Response:
        name = ctx.group("childname").lower()
        for child in self._children(ctx):
            if child["name"].lower() == name:
                return web.json_response(child)
        raise _network_not_found(ctx.request.path)

    async def query_port_mapping(self, ctx: RequestContext) -> web.Response:
        rg = self.world.canonical_rg(ctx.group("rg"))
        name = ctx.group("name")
        lb = self.world.load_balancers.get(self.world.resource_id(rg, "Microsoft.Network", "loadBalancers", name).lower())
        if lb is None:
            raise ArmError(404, "ResourceNotFound",
                           f"The Resource 'Microsoft.Network/loadBalancers/{name}' under resource group '{rg}' was not found.")
        pool = ctx.group("pool")
        if pool.lower() not in {p.lower() for p in lb.spec.backend_pools}:
            raise _network_not_found(ctx.request.path.rsplit("/", 1)[0])
        body = await ctx.json_body()
        ip_address = body.get("ipAddress")
        ip_config = (body.get("ipConfiguration") or {}).get("id")
        if not ip_address and not ip_config:
            raise ArmError(400, "InvalidRequestFormat", "Either ipAddress or ipConfiguration must be specified.")
        mappings = render.port_mappings_for(self.world, lb, pool, ip_address, ip_config)
        if mappings is None:
            raise ArmError(400, "BackendAddressNotFound",
                           f"Backend address {ip_address or ip_config} was not found in backend pool {pool}.")
        return web.json_response({"inboundNatRulePortMappings": mappings})


def _network_not_found(path: str) -> ArmError:
    return ArmError(404, "NotFound", f"Resource {path} not found.")


def _rate_category(lowered: str, is_read: bool) -> str:
    if "/microsoft.compute/" in lowered:
        if not is_read:
            return "VMScaleSetActionsAndUpdates"
        if "/operations/" in lowered:
            return "GetOperation"
        if "/disks" in lowered:
            return "GetDisk"
        if re.search(r"/virtualmachines/[^/]+(/instanceview)?$", lowered):
            return "GetVMScaleSetVM"
        if lowered.endswith("/virtualmachines") or lowered.endswith("/instanceview") or lowered.endswith(
                "/virtualmachinescalesets") or "/rollingupgrades" in lowered:
            return "HighCostGetVMScaleSet"
        if "/networkinterfaces" in lowered or "/publicipaddresses" in lowered:
            return "NetworkRead"
        return "GetVMScaleSet"
    return "NetworkRead" if is_read else "NetworkWrite"


async def _run_script(inst: Instance, command_id: str, script: str, execute: bool) -> tuple[str, str]:
    """Run a runCommand script in a local shell (Linux commands only), like the guest agent would."""
    if not execute:
        return "", "Command execution is disabled in this simulator."
    if "powershell" in command_id.lower() or inst.scale_set.spec.os == "Windows":
        return "", "PowerShell is not available in the simulator; only RunShellScript runs."
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOSTNAME": inst.computer_name,
        "HOME": "/tmp",
        "USER": "root",
        "LANG": "C.UTF-8",
    }
    try:
        process = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", script, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env, cwd="/tmp", start_new_session=True)
    except OSError as exc:
        return "", f"cannot start /bin/sh: {exc}"
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        return "", "The script timed out after 60 seconds."
    # Azure returns at most the last 4,096 bytes of each stream.
    return out[-4096:].decode(errors="replace"), err[-4096:].decode(errors="replace")
