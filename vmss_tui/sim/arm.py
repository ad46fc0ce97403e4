"""The aiohttp application that speaks ARM REST for the simulated subscriptions.

Paths are resolved against the registry of resource types (registry.py; the types themselves
are in compute_api.py and network_api.py): ARM paths are case insensitive, and the SDK itself
mixes `Microsoft.Compute` and `microsoft.Compute`. Cross-cutting behaviour (the bearer token,
api-version, latency, forbidden ids, injected faults, throttling, rate-limit headers, the request
log) lives in `ArmApp.handle` so every route gets it.
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
from urllib.parse import quote

from aiohttp import web

from . import render
from .registry import LIST, RESOURCE_GROUP, SUBSCRIPTION, Registry, ResourceType, Routed, parse_provider_path
from .resources import ArmError, Operation, compute_not_found
from .state import World

log = logging.getLogger(__name__)

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


class RequestLog(deque[tuple[str, str, int]]):
    """The last requests, (method, path with query, status); slices give lists."""

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        return super().__getitem__(index)


class WriteLog(deque[tuple[str, str, Any]]):
    """The last writes, (method, path, JSON body or None); slices give lists."""

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return list(self)[index]
        return super().__getitem__(index)


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

# POSTs that only read (they are not writes for `write_count` and `--read-only` checks).
_READ_POSTS = ("/queryinboundnatruleportmapping", "/providers/microsoft.resourcegraph/resources")


class RequestContext:
    def __init__(self, request: web.Request, app: ArmApp) -> None:
        self.request = request
        self.app = app
        self.segments = [s for s in request.path.split("/") if s]

    @property
    def api_version(self) -> str:
        return self.request.query.get("api-version", "")

    @property
    def query(self) -> Any:
        return self.request.query

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


def not_implemented(method: str, path: str) -> ArmError:
    return ArmError(404, "InvalidResourceType", f"The simulator does not implement '{method} {path}'.")


class ArmApp:
    def __init__(self, worlds: World | list[World], *, page_size: int = 100, latency: float = 0.0,
                 throttle_after: int | None = None, throttle_window: float = 60.0, retry_after: int | None = None,
                 require_auth: bool = True, vm_page_size: int = 50, unescaped_next_link_filter: bool = False,
                 backend_addresses_in_pools: bool = True, port_mapping_async: bool = False,
                 accepted_tokens: set[str] | None = None) -> None:
        self.worlds: dict[str, World] = {}
        for world in worlds if isinstance(worlds, list) else [worlds]:
            self.worlds[world.subscription_id.lower()] = world
        self.world = next(iter(self.worlds.values()))
        self.page_size = page_size
        self.vm_page_size = vm_page_size  # Azure pages the virtual machine lists by 50
        self.unescaped_next_link_filter = unescaped_next_link_filter
        self.backend_addresses_in_pools = backend_addresses_in_pools
        self.port_mapping_async = port_mapping_async
        self.latency = latency
        self.throttle_after = throttle_after
        self.throttle_window = throttle_window
        self.retry_after = retry_after
        self.require_auth = require_auth
        # None: any bearer token is taken; else only these (the simulator's own).
        self.accepted_tokens = accepted_tokens
        self.faults: list[FaultRule] = []
        self.forbidden: set[str] = set()
        self.request_count = 0
        self.write_count = 0
        self.read_count = 0
        self.in_flight = 0  # requests being handled now
        self.peak_in_flight = 0  # the most handled at once: how clients can prove their concurrency bound
        self.request_log = RequestLog(maxlen=2000)
        # Writes as received: (method, path, JSON body or None), for tests that check what a client sent.
        self.write_log: deque[tuple[str, str, Any]] = WriteLog(maxlen=2000)
        self.on_request: Callable[[str, str, int, float], None] | None = None  # (method, path, status, seconds)
        self._rates = RateCounter()
        self._throttle_hits: deque[float] = deque()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.registry = Registry()
        self.graph: Any = None  # graph.ResourceGraph, set by the simulator
        from . import compute_api, network_api

        compute_api.register(self)
        network_api.register(self)

    # ---- application

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def is_read(self, method: str, lowered: str) -> bool:
        return method in ("GET", "HEAD") or lowered.endswith(_READ_POSTS)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.request_count += 1
        started = time.monotonic()
        path = request.path.rstrip("/") or "/"
        lowered = path.lower()
        is_read = self.is_read(request.method, lowered)
        if not is_read:
            self.write_count += 1
            raw = await request.read()
            try:
                body = json.loads(raw) if raw.strip() else None
            except ValueError:
                body = raw.decode(errors="replace")
            self.write_log.append((request.method, request.path, body))
        else:
            self.read_count += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            if self.latency > 0:
                await asyncio.sleep(self.latency)
            for world in self.worlds.values():
                world.advance()
                break  # every world shares one scheduler
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
        if self.on_request is not None:
            self.on_request(request.method, request.path, response.status, time.monotonic() - started)
        return response

    def check_authorization(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        if not header:
            raise ArmError(401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                           headers=_www_authenticate(None))
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise ArmError(401, "AuthenticationFailed",
                           "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                           headers=_www_authenticate(None))
        if self.accepted_tokens is not None and token.strip() not in self.accepted_tokens:
            raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.",
                           headers=_www_authenticate("The access token is invalid."))

    async def _handle(self, request: web.Request, lowered: str, is_read: bool) -> web.StreamResponse:
        if self.require_auth:
            self.check_authorization(request)
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
        return await self.route(RequestContext(request, self))

    # ---- routing

    def world_for(self, subscription: str) -> World:
        world = self.worlds.get(subscription.lower())
        if world is None:
            raise ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription}' could not be found.")
        return world

    async def route(self, ctx: RequestContext) -> web.StreamResponse:
        request = ctx.request
        method = request.method
        seg = ctx.segments
        low = [s.lower() for s in seg]
        if low == ["subscriptions"]:
            return await self._only(method, "GET", request, lambda: self.list_subscriptions(ctx))
        if low[:3] == ["providers", "microsoft.resourcegraph", "resources"] and len(low) == 3:
            return await self._only(method, "POST", request, lambda: self.resource_graph(ctx))
        if len(low) < 2 or low[0] != "subscriptions":
            raise not_implemented(method, request.path)
        subscription = seg[1]
        if len(low) == 2:
            return await self._only(method, "GET", request,
                                    lambda: self.get_subscription(ctx, self.world_for(subscription)))
        if low[2] == "resourcegroups":
            if len(low) == 3:
                return await self._only(method, "GET", request,
                                        lambda: self.list_resource_groups(ctx, self.world_for(subscription)))
            if len(low) == 4:
                return await self._only(method, "GET", request,
                                        lambda: self.get_resource_group(ctx, self.world_for(subscription), seg[3]))
            if len(low) >= 7 and low[4] == "providers":
                return await self._route_provider(ctx, subscription, seg[3], low[5], seg[6:], 6)
            raise not_implemented(method, request.path)
        if low[2] == "providers" and len(low) >= 5:
            if low[4] == "locations" and len(low) >= 7:
                return await self._route_location(ctx, subscription, low[3], seg[5], low[6:], seg[6:])
            return await self._route_provider(ctx, subscription, None, low[3], seg[4:], 4)
        raise not_implemented(method, request.path)

    async def _only(self, method: str, allowed: str, request: web.Request,
                    call: Callable[[], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if method != allowed:
            raise ArmError(405, "MethodNotAllowed", f"The requested method '{method}' is not allowed for this resource.")
        return await call()

    async def _route_location(self, ctx: RequestContext, subscription: str, provider: str, location: str,
                              low: list[str], seg: list[str]) -> web.StreamResponse:
        method = ctx.request.method
        if provider == "microsoft.compute" and low == ["virtualmachinescalesets"]:
            return await self._only(method, "GET", ctx.request, lambda: self.list_scale_sets_by_location(
                ctx, self.world_for(subscription), location))
        if len(low) == 2 and low[0] in ("operations", "operationresults"):
            return await self._only(method, "GET", ctx.request, lambda: self.get_operation(
                ctx, self.world_for(subscription), seg[1], provider, results=low[0] == "operationresults"))
        raise not_implemented(method, ctx.request.path)

    async def _route_provider(self, ctx: RequestContext, subscription: str, group: str | None, provider: str,
                              segments: list[str], offset: int) -> web.StreamResponse:
        request = ctx.request
        method = request.method
        parsed = parse_provider_path(self.registry, provider, segments)
        if parsed is None or (group is None and (len(parsed.types) != 1 or parsed.names)):
            raise not_implemented(method, request.path)
        rtype = parsed.types[-1]
        collection = len(parsed.names) < len(parsed.types)
        if collection:
            key = LIST
            if len(parsed.types) == 1 and (RESOURCE_GROUP if group is not None else SUBSCRIPTION) not in rtype.scopes:
                raise not_implemented(method, request.path)
        else:
            key = parsed.tail
        handler = rtype.handlers.get((method, key))
        if handler is None and method == "GET" and key in ("", LIST):
            handler = _generic_list if key == LIST else _generic_get
        if handler is None:
            if any(k == key for (_, k) in rtype.handlers) or (key in ("", LIST)):
                raise ArmError(405, "MethodNotAllowed", f"The requested method '{method}' is not allowed for this resource.")
            world = self.world_for(subscription)
            routed = Routed(ctx, world, rtype, [], None, path=request.path)
            if method == "GET" and rtype.unknown_tail is not None:
                raise rtype.unknown_tail(routed)
            raise not_implemented(method, request.path)
        world = self.world_for(subscription)
        routed = Routed(ctx, world, rtype, [], None)
        covered = offset + parsed.prefix_length
        routed.path = "/" + "/".join(ctx.segments[:covered])
        if group is not None:
            routed.resource_group = world.canonical_rg(group)
            scope = world.rg_id(routed.resource_group)
        else:
            scope = f"/subscriptions/{world.subscription_id}"
        parent: Any = None
        for index, (step_type, name) in enumerate(zip(parsed.types, parsed.names, strict=False)):
            found = self._find(routed, step_type, parent, name, group is not None)
            if found is None:
                if step_type is not rtype and rtype.ancestor_not_found is not None:
                    raise rtype.ancestor_not_found(routed, step_type, name)
                raise (step_type.not_found or _compute_not_found)(routed, name)
            if index < len(parsed.names) - 1 or collection:
                routed.chain.append(found)
            else:
                routed.obj = found
                routed.name = name
            parent = found
        routed.scope = scope if not routed.chain else getattr(routed.chain[-1], "id", scope)
        return await handler(routed)

    @staticmethod
    def _find(routed: Routed, step_type: ResourceType, parent: Any, name: str, in_group: bool) -> Any:
        if step_type.find is not None:
            return step_type.find(routed, parent, name)
        if parent is None:
            base = routed.world.rg_id(routed.resource_group) if in_group else f"/subscriptions/{routed.world.subscription_id}"
            resource_id = f"{base}/providers/{step_type.name.split('/')[0]}/{step_type.name.split('/')[1]}/{name}"
        else:
            resource_id = f"{parent.id}/{step_type.name.rsplit('/', 1)[1]}/{name}"
        return routed.world.store.get(resource_id)

    # ---- helpers

    def paged(self, ctx: RequestContext, items: list[Any], render_item: Callable[[Any], dict[str, Any]],
              page_size: int | None = None) -> web.Response:
        size = page_size or self.page_size
        token = ctx.request.query.get("$skiptoken")
        offset = 0
        if token:
            try:
                offset = int(base64.urlsafe_b64decode(token.encode()).decode())
            except ValueError:
                raise ArmError(400, "InvalidSkipToken", "The $skiptoken is not valid.") from None
        page = items[offset: offset + size]
        body: dict[str, Any] = {"value": [render_item(item) for item in page]}
        if offset + size < len(items):
            query = {k: v for k, v in ctx.request.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
            if self.unescaped_next_link_filter and "$filter" in query:
                # As the service has done (azure-rest-api-specs #25640): the $filter value raw.
                raw = "&".join(f"{k}={v}" if k == "$filter" else f"{quote(k, safe='$')}={quote(v, safe='')}"
                               for k, v in query.items())
                body["nextLink"] = f"{ctx.request.url.origin()}{ctx.request.path}?{raw}"
            else:
                body["nextLink"] = str(ctx.request.url.with_query(query))
        return web.json_response(body)

    def operation_headers(self, ctx: RequestContext, world: World, op: Operation) -> dict[str, str]:
        base = f"{ctx.request.url.origin()}/subscriptions/{world.subscription_id}/providers/{op.provider}/locations/{op.location}"
        version = ctx.api_version
        if op.provider == "Microsoft.Network":
            return {"Location": f"{base}/operationResults/{op.id}?api-version={version}"}
        return {
            "Azure-AsyncOperation": f"{base}/operations/{op.id}?p=sim&api-version={version}",
            "Location": f"{base}/operations/{op.id}?p=sim&monitor=true&api-version={version}",
        }

    def accepted(self, routed: Routed, op: Operation) -> web.Response:
        return web.Response(status=202, headers=self.operation_headers(routed.ctx, routed.world, op))

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- subscriptions and groups

    def subscription_body(self, world: World) -> dict[str, Any]:
        sub = world.subscription_id
        return {
            "id": f"/subscriptions/{sub}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": sub,
            "tenantId": TENANT_ID,
            "displayName": world.topology.subscription_name,
            "state": "Enabled",
            "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01",
                                     "spendingLimit": "Off"},
        }

    async def list_subscriptions(self, ctx: RequestContext) -> web.Response:
        worlds = list(self.worlds.values())
        if len(worlds) <= self.page_size and "$skiptoken" not in ctx.request.query:
            return web.json_response({"value": [self.subscription_body(w) for w in worlds],
                                      "count": {"type": "Total", "value": len(worlds)}})
        response = self.paged(ctx, worlds, self.subscription_body)
        body = json.loads(response.body)  # type: ignore[arg-type]
        body["count"] = {"type": "Total", "value": len(worlds)}
        return web.json_response(body)

    async def get_subscription(self, ctx: RequestContext, world: World) -> web.Response:
        return web.json_response(self.subscription_body(world))

    def _rg_body(self, world: World, name: str) -> dict[str, Any]:
        return {"id": world.rg_id(name), "name": name, "type": "Microsoft.Resources/resourceGroups",
                "location": world.location, "properties": {"provisioningState": "Succeeded"}}

    async def list_resource_groups(self, ctx: RequestContext, world: World) -> web.Response:
        return self.paged(ctx, list(world.resource_groups.values()), lambda name: self._rg_body(world, name))

    async def get_resource_group(self, ctx: RequestContext, world: World, group: str) -> web.Response:
        return web.json_response(self._rg_body(world, world.canonical_rg(group)))

    async def list_scale_sets_by_location(self, ctx: RequestContext, world: World, location: str) -> web.Response:
        items = [s for s in world.scale_sets.values() if s.location.lower() == location.lower()]
        return self.paged(ctx, items, lambda s: render.scale_set(world, s))

    # ---- operations

    async def get_operation(self, ctx: RequestContext, world: World, op_id: str, provider: str,
                            results: bool) -> web.Response:
        op = world.operations.get(op_id)
        if op is None or op.provider.lower() != provider:
            raise compute_not_found()
        if results or ctx.request.query.get("monitor", "").lower() == "true":
            if not op.done:
                return web.Response(status=202, headers=self.operation_headers(ctx, world, op))
            if op.status == "Failed" and results:
                raise ArmError(400, (op.error or {}).get("code", "Failed"), (op.error or {}).get("message", ""))
            if op.output is not None:
                return web.json_response(op.output)
            return web.Response(status=200)
        return web.json_response(render.operation_status(world, op))

    # ---- Resource Graph

    async def resource_graph(self, ctx: RequestContext) -> web.Response:
        if self.graph is None:
            raise not_implemented(ctx.request.method, ctx.request.path)
        body = await ctx.json_body()
        used = self._rates.hit("resource-graph", 5)
        # Resource Graph's own quota: 15 queries per 5-second window per user.
        headers = {"x-ms-user-quota-remaining": str(max(0, 15 - used)), "x-ms-user-quota-resets-after": "00:00:05",
                   "x-ms-ratelimit-remaining-resource": f"Microsoft.ResourceGraph/Query5Sec;{max(0, 15 - used)}"}
        return web.json_response(self.graph.query(body, ctx.api_version), headers=headers)

    # ---- throttling, forbidden, rate headers

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


def _www_authenticate(description: str | None) -> dict[str, str]:
    value = f'Bearer authorization_uri="https://login.microsoftonline.com/{TENANT_ID}", error="invalid_token"'
    if description:
        value += f', error_description="{description}"'
    return {"WWW-Authenticate": value}


async def _generic_get(routed: Routed) -> web.Response:
    return web.json_response(routed.rtype.render(routed, routed.obj))


async def _generic_list(routed: Routed) -> web.Response:
    rtype = routed.rtype
    items = rtype.members(routed) if rtype.members is not None else routed.world.store.under(rtype.key, routed.scope)
    size = rtype.page_size(routed) if rtype.page_size is not None else None
    return routed.ctx.app.paged(routed.ctx, items, lambda item: rtype.render(routed, item), size)


def _compute_not_found(routed: Routed, name: str) -> ArmError:
    return compute_not_found()


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
