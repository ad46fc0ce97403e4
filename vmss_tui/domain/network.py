"""Which NIC configuration, subnet and NSG are on an instance's inbound path, and which NICs
and private IPs belong to which instance: pure choices over the model and the NICs, no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from vmss_tui.domain.arm_ids import id_key, resource_group_of
from vmss_tui.domain.models import Instance, InstanceNic, IpConfigModel, NicConfigModel, ScaleSet


def primary_nic_config(scale_set: ScaleSet) -> NicConfigModel | None:
    """The model's primary NIC configuration, else its first; None when the model has none
    (a Flexible scale set whose VMs were created outside a profile)."""
    configs = scale_set.nic_configs
    return next((c for c in configs if c.primary), None) or next(iter(configs), None)


def primary_ip_config(nic_config: NicConfigModel | None) -> IpConfigModel | None:
    if nic_config is None:
        return None
    return next((c for c in nic_config.ip_configs if c.primary), None) or next(iter(nic_config.ip_configs), None)


@dataclass(frozen=True, slots=True)
class InboundPath:
    """Where the NSGs of the scale set's primary NIC are: its subnet, and the NIC's own NSG."""

    subnet_id: str | None
    nic_nsg_id: str | None


def inbound_path_of(scale_set: ScaleSet, instance_nics: Sequence[InstanceNic] | None = None) -> InboundPath:
    """The model's primary NIC configuration decides; where the model says nothing (no NIC
    configuration, no NSG, no subnet), the instances' NICs do."""
    nic_config = primary_nic_config(scale_set)
    nic_nsg_id = nic_config.nsg_id if nic_config else None
    if not nic_nsg_id and instance_nics:
        nic_nsg_id = next((n.nsg_id for n in instance_nics if n.nsg_id), None)
    ip_config = primary_ip_config(nic_config)
    subnet_id = ip_config.subnet_id if ip_config else None
    if not subnet_id and instance_nics:
        subnet_id = next((c.subnet_id for n in instance_nics for c in n.ip_configs if c.subnet_id), None)
    return InboundPath(subnet_id=subnet_id, nic_nsg_id=nic_nsg_id)


def private_ips(nics: Iterable[InstanceNic] | None) -> dict[str, str]:
    """instance id -> the private IP of its primary NIC (else of its first NIC with one)."""
    result: dict[str, str] = {}
    for nic in nics or ():
        ip = nic.primary_private_ip
        if ip and (nic.primary or nic.instance_id not in result):
            result[nic.instance_id] = ip
    return result


def nic_resource_groups(scale_set: ScaleSet, instances: Iterable[Instance]) -> tuple[str, ...]:
    """The resource groups holding the NICs of a Flexible scale set's VMs (as the VMs name
    them), the scale set's own first; just the scale set's when no VM names a NIC."""
    groups = {id_key(scale_set.resource_group): scale_set.resource_group}
    for instance in instances:
        for nic_id in instance.nic_ids:
            group = resource_group_of(nic_id)
            if group:
                groups.setdefault(id_key(group), group)
    return tuple(groups.values())


def nics_of_instances(instances: Iterable[Instance], nics: Iterable[InstanceNic]) -> list[InstanceNic]:
    """The NICs (of a resource group's list) that belong to `instances`, each with the instance
    id of its VM: attached to one of the VMs, or named by a VM's network profile and attached to
    nothing the list says. A NIC attached to another VM, or to none and named by none, is no
    instance's."""
    by_vm: dict[str, str] = {}
    by_nic: dict[str, str] = {}
    for instance in instances:
        by_vm[id_key(instance.id)] = instance.instance_id
        for nic_id in instance.nic_ids:
            by_nic[id_key(nic_id)] = instance.instance_id
    result: list[InstanceNic] = []
    for nic in nics:
        if nic.virtual_machine_id:
            owner = by_vm.get(id_key(nic.virtual_machine_id))
        else:
            owner = by_nic.get(id_key(nic.id))
        if owner is None:
            continue
        result.append(nic if nic.instance_id == owner else replace(nic, instance_id=owner))
    return result
