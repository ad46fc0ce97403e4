"""One store of resources keyed by lower-cased ARM resource id.

Every resource is indexed under each scope its id lies in (the subscription, the resource
group, every parent resource), by its type, so "list type T under scope S" is one dict lookup
whatever T and S are: a resource group's disks, a subscription's load balancers and a scale
set's instances all come out of the same index. Dicts keep insertion order, which is the order
lists are served in.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def split_id(resource_id: str) -> tuple[str, str, list[tuple[str, str]]]:
    """`/subscriptions/s/resourceGroups/g/providers/ns/t1/n1/t2/n2` -> (s, g, [(ns/t1, n1), (t2, n2)])."""
    parts = resource_id.strip("/").split("/")
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        raise ValueError(f"not an ARM resource id: {resource_id!r}")
    subscription = parts[1]
    group = ""
    rest = parts[2:]
    if len(rest) >= 2 and rest[0].lower() == "resourcegroups":
        group, rest = rest[1], rest[2:]
    if rest and rest[0].lower() == "providers":
        rest = rest[1:]
        if len(rest) < 3 or len(rest) % 2 == 0:
            raise ValueError(f"not an ARM resource id: {resource_id!r}")
        pairs = [(f"{rest[0]}/{rest[1]}", rest[2])]
        pairs += [(rest[i], rest[i + 1]) for i in range(3, len(rest), 2)]
        return subscription, group, pairs
    if rest:
        raise ValueError(f"not an ARM resource id: {resource_id!r}")
    return subscription, group, []


def type_of(resource_id: str) -> str:
    """The lower-cased resource type of an id: `microsoft.compute/virtualmachinescalesets/virtualmachines`."""
    _, _, pairs = split_id(resource_id)
    if not pairs:
        raise ValueError(f"{resource_id!r} names no resource")
    return "/".join(kind for kind, _ in pairs).lower()


def scopes_of(resource_id: str) -> list[str]:
    """The lower-cased ids of every scope that contains the resource (not the resource itself)."""
    subscription, group, pairs = split_id(resource_id)
    scope = f"/subscriptions/{subscription}"
    scopes = [scope]
    if group:
        scope += f"/resourceGroups/{group}"
        scopes.append(scope)
    scope += "/providers"
    for kind, name in pairs[:-1]:
        scope += f"/{kind}/{name}"
        scopes.append(scope)
    return [s.lower() for s in scopes]


class Store:
    """Resources by lower-cased id, listable by (type, scope)."""

    def __init__(self) -> None:
        self._by_id: dict[str, tuple[str, Any]] = {}
        self._index: dict[tuple[str, str], dict[str, Any]] = {}
        self._by_type: dict[str, dict[str, Any]] = {}

    def add(self, resource_id: str, resource: Any) -> None:
        key = resource_id.lower()
        if key in self._by_id:
            raise ValueError(f"resource {resource_id} already exists")
        kind = type_of(resource_id)
        self._by_id[key] = (kind, resource)
        self._by_type.setdefault(kind, {})[key] = resource
        for scope in scopes_of(resource_id):
            self._index.setdefault((kind, scope), {})[key] = resource

    def remove(self, resource_id: str) -> Any | None:
        key = resource_id.lower()
        entry = self._by_id.pop(key, None)
        if entry is None:
            return None
        kind, resource = entry
        self._by_type[kind].pop(key, None)
        for scope in scopes_of(resource_id):
            members = self._index.get((kind, scope))
            if members is not None:
                members.pop(key, None)
        return resource

    def get(self, resource_id: str) -> Any | None:
        entry = self._by_id.get(resource_id.lower())
        return entry[1] if entry is not None else None

    def __contains__(self, resource_id: str) -> bool:
        return resource_id.lower() in self._by_id

    def under(self, kind: str, scope_id: str) -> list[Any]:
        """Resources of type `kind` (lower-cased) inside `scope_id`, in insertion order."""
        members = self._index.get((kind, scope_id.lower().rstrip("/")))
        return list(members.values()) if members else []

    def of_type(self, kind: str) -> dict[str, Any]:
        """Every resource of type `kind`, by lower-cased id (a live view: do not modify)."""
        return self._by_type.setdefault(kind, {})

    def __iter__(self) -> Iterator[Any]:
        return (resource for _, resource in self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)
