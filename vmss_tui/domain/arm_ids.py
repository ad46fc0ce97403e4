"""ARM resource ids: parsing and comparison.

ARM ids compare case-insensitively (Azure returns `resourceGroups/RG1` in one response and
`resourcegroups/rg1` in another), so every comparison here goes through `id_key`.
"""

from __future__ import annotations

from dataclasses import dataclass


def id_key(resource_id: str | None) -> str:
    """The form of an id to compare or to key a dict by."""
    return (resource_id or "").strip().rstrip("/").casefold()


def same_id(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and id_key(a) == id_key(b)


def _segments(resource_id: str) -> list[str]:
    return [s for s in resource_id.strip().split("/") if s]


def segment_after(resource_id: str | None, key: str) -> str | None:
    """The segment following `key` (case-insensitive), e.g. segment_after(id, "resourceGroups")."""
    if not resource_id:
        return None
    parts = _segments(resource_id)
    wanted = key.casefold()
    for index, part in enumerate(parts[:-1]):
        if part.casefold() == wanted:
            return parts[index + 1]
    return None


def resource_group_of(resource_id: str | None) -> str | None:
    return segment_after(resource_id, "resourceGroups")


def subscription_of(resource_id: str | None) -> str | None:
    return segment_after(resource_id, "subscriptions")


def name_of(resource_id: str | None) -> str | None:
    """The last segment: the resource's own name."""
    if not resource_id:
        return None
    parts = _segments(resource_id)
    return parts[-1] if parts else None


def prefix_through(resource_id: str | None, type_segment: str) -> str | None:
    """The id up to and including the name after `type_segment`.

    prefix_through(".../loadBalancers/lb1/inboundNatRules/r1", "loadBalancers") -> ".../loadBalancers/lb1"
    """
    if not resource_id:
        return None
    parts = _segments(resource_id)
    wanted = type_segment.casefold()
    for index, part in enumerate(parts[:-1]):
        if part.casefold() == wanted:
            return "/" + "/".join(parts[: index + 2])
    return None


def load_balancer_id_of(child_id: str | None) -> str | None:
    """The load balancer id of one of its children (pool, NAT rule, frontend ...)."""
    return prefix_through(child_id, "loadBalancers")


@dataclass(frozen=True, slots=True)
class VmssIpConfigRef:
    """A reference to an ip configuration of a scale-set instance's NIC:
    .../virtualMachineScaleSets/{vmss}/virtualMachines/{id}/networkInterfaces/{nic}/ipConfigurations/{ip}
    """

    scale_set_id: str
    instance_id: str
    nic: str
    ip_config: str


def parse_vmss_ip_config(resource_id: str | None) -> VmssIpConfigRef | None:
    if not resource_id:
        return None
    scale_set_id = prefix_through(resource_id, "virtualMachineScaleSets")
    instance_id = segment_after(resource_id, "virtualMachines")
    nic = segment_after(resource_id, "networkInterfaces")
    ip_config = segment_after(resource_id, "ipConfigurations")
    if not (scale_set_id and instance_id and nic and ip_config):
        return None
    return VmssIpConfigRef(scale_set_id, instance_id, nic, ip_config)


def instance_sort_key(instance_id: str) -> tuple[int, int | str]:
    """Instance ids are decimal strings; sort 2 before 10, anything odd after."""
    return (0, int(instance_id)) if instance_id.isdigit() else (1, instance_id)
