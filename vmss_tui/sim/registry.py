"""The registry of resource types the simulator serves, and the router that follows from it.

A type says where it lives (its provider and parent type), how to find one by name (the store
by default), how to render it, where it can be listed (under its parent, its resource group,
the subscription) and which verbs it has beyond GET (PATCH, DELETE, POST actions such as
`start`, sub-paths such as `instanceView`). From that the router answers any ARM path: the
collection, the resource, its verbs, 404 in the type's own words when a name does not exist,
405 for a method a path does not have.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .resources import ArmError
from .state import World

if TYPE_CHECKING:
    from .arm import RequestContext

Handler = Callable[["Routed"], Awaitable[web.StreamResponse]]
LIST = "#list"  # the verb key of a collection GET

RESOURCE_GROUP = "resourceGroup"
SUBSCRIPTION = "subscription"


@dataclass
class Routed:
    """A request resolved against the registry."""

    ctx: RequestContext
    world: World
    rtype: ResourceType
    chain: list[Any]  # resolved resources from the top-level one down to the parent of the target
    name: str | None  # the requested resource's name (None: the collection)
    obj: Any = None  # the requested resource (None: the collection)
    scope: str = ""  # the id the collection is listed under (resource group, subscription or parent)
    resource_group: str = ""  # canonical resource group name ("" at subscription scope)
    path: str = ""  # the request path without the verb's tail

    @property
    def parent(self) -> Any:
        return self.chain[-1] if self.chain else None


@dataclass
class ResourceType:
    """One resource type: `Microsoft.Compute/virtualMachineScaleSets/virtualMachines` and so on."""

    name: str  # canonical: provider/type[/child...]
    render: Callable[[Routed, Any], dict[str, Any]]
    # Find a child of `parent` (None: top level in the resource group) by name; None: no such.
    find: Callable[[Routed, Any, str], Any] | None = None
    # The members of a collection (default: the store under the scope).
    members: Callable[[Routed], list[Any]] | None = None
    # 404 for a missing resource of this type: (routed, the name) -> error.
    not_found: Callable[[Routed, str], ArmError] | None = None
    scopes: frozenset[str] = frozenset()  # beyond its parent: RESOURCE_GROUP, SUBSCRIPTION
    handlers: dict[tuple[str, str], Handler] = field(default_factory=dict)  # (METHOD, tail or "" or LIST)
    # Missing ancestors of a request for this type answer in this type's words instead of theirs.
    ancestor_not_found: Callable[[Routed, ResourceType, str], ArmError] | None = None
    # A GET of a sub-path this type does not have: 404 in these words (default: not implemented).
    unknown_tail: Callable[[Routed], ArmError] | None = None
    page_size: Callable[[Routed], int] | None = None

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def provider(self) -> str:
        return self.name.split("/", 1)[0].lower()

    @property
    def segment(self) -> str:
        return self.name.rsplit("/", 1)[1].lower()

    @property
    def parent_key(self) -> str | None:
        parts = self.key.split("/")
        return "/".join(parts[:-1]) if len(parts) > 2 else None

    def on(self, method: str, tail: str = "") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.handlers[(method, tail.lower())] = handler
            return handler
        return register


class Registry:
    def __init__(self) -> None:
        self.types: dict[str, ResourceType] = {}
        self._children: dict[str | None, dict[str, ResourceType]] = {}  # parent key (or provider) -> segment -> type

    def add(self, rtype: ResourceType) -> ResourceType:
        self.types[rtype.key] = rtype
        parent = rtype.parent_key or rtype.provider
        self._children.setdefault(parent, {})[rtype.segment] = rtype
        return rtype

    def child(self, parent: ResourceType | None, provider: str, segment: str) -> ResourceType | None:
        if parent is None:
            return self._children.get(provider, {}).get(segment)
        return self._children.get(parent.key, {}).get(segment)


@dataclass
class ParsedPath:
    """The syntactic reading of `.../providers/{ns}/{t1}/{n1}/{t2}...`."""

    types: list[ResourceType]  # the type of each resolved step
    names: list[str]  # the name at each step (one less than types when the path ends in a collection)
    tail: str  # what follows the last resolved step (a verb: "start", "rollingupgrades/latest"), lower-cased
    prefix_length: int  # path segments that the types and names cover


def parse_provider_path(registry: Registry, provider: str, segments: list[str]) -> ParsedPath | None:
    """`segments`: the original-case path segments after `providers/{ns}`."""
    types: list[ResourceType] = []
    names: list[str] = []
    index = 0
    current: ResourceType | None = None
    while index < len(segments):
        rtype = registry.child(current, provider, segments[index].lower())
        if rtype is None:
            break
        types.append(rtype)
        if index + 1 == len(segments):
            return ParsedPath(types, names, "", index + 1)
        names.append(segments[index + 1])
        current = rtype
        index += 2
    if not types:
        return None
    return ParsedPath(types, names, "/".join(s.lower() for s in segments[index:]), index)
