"""The inbound path of a scale set's primary NIC, and which NICs and IPs are whose (pure logic)."""

from __future__ import annotations

from dataclasses import replace

from vmss_tui.domain.actions import INSTANCE_ACTIONS, MAX_CAPACITY, is_instance_action
from vmss_tui.domain.models import (
    Instance,
    InstanceIpConfig,
    InstanceNic,
    IpConfigModel,
    NicConfigModel,
    ScaleSet,
)
from vmss_tui.domain.network import (
    inbound_path_of,
    nic_resource_groups,
    nics_of_instances,
    primary_ip_config,
    primary_nic_config,
    private_ips,
)

SUB = "/subscriptions/s"
SUBNET_A = f"{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a"
SUBNET_B = f"{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/b"
NSG = f"{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/"


def scale_set(*nic_configs: NicConfigModel, mode: str = "Flexible") -> ScaleSet:
    return ScaleSet(
        id=f"{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/flex", name="flex",
        resource_group="rg", subscription_id="s", location="westeurope", sku="Standard_B2s", capacity=2,
        upgrade_mode="Manual", orchestration_mode=mode, provisioning_state="Succeeded", nic_configs=nic_configs,
    )


def vm(name: str, *nic_ids: str, group: str = "rg") -> Instance:
    return Instance(
        id=f"{SUB}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachines/{name}", scale_set="flex",
        resource_group=group, instance_id=name, name=name, computer_name=None, power_state="running",
        provisioning_state="Succeeded", latest_model=None, orchestration_mode="Flexible", nic_ids=nic_ids,
    )


def nic(name: str, vm_name: str | None, *ips: tuple[str, bool], group: str = "rg", primary: bool = True) -> InstanceNic:
    vm_id = f"{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/{vm_name}" if vm_name else None
    return InstanceNic(
        id=f"{SUB}/resourceGroups/{group}/providers/Microsoft.Network/networkInterfaces/{name}", name=name,
        instance_id=vm_name or "", primary=primary, virtual_machine_id=vm_id,
        ip_configs=tuple(InstanceIpConfig(f"ip{i}", ip, primary=p, subnet_id=SUBNET_B) for i, (ip, p) in enumerate(ips)),
    )


def test_the_primary_nic_and_ip_configuration_decide_the_path() -> None:
    secondary = NicConfigModel("nic-2", nsg_id=NSG + "second", ip_configs=(IpConfigModel("ip", subnet_id=SUBNET_B),))
    primary = NicConfigModel("nic-1", primary=True, nsg_id=NSG + "first", ip_configs=(
        IpConfigModel("ip-2", subnet_id=SUBNET_B), IpConfigModel("ip-1", subnet_id=SUBNET_A, primary=True)))
    model = scale_set(secondary, primary)
    assert primary_nic_config(model) is primary and primary_ip_config(primary) == primary.ip_configs[1]
    assert inbound_path_of(model).subnet_id == SUBNET_A and inbound_path_of(model).nic_nsg_id == NSG + "first"
    # Without a primary flag, the first of each.
    plain = scale_set(replace(primary, primary=False), secondary)
    assert primary_nic_config(plain) is plain.nic_configs[0]
    assert primary_ip_config(NicConfigModel("x", ip_configs=secondary.ip_configs)) == secondary.ip_configs[0]


def test_without_a_model_the_instances_nics_tell_the_path() -> None:
    # A Flexible scale set whose VMs were made outside a profile has no NIC configuration.
    nics = [nic("a-nic", "a", ("10.0.0.4", True)), replace(nic("b-nic", "b", ("10.0.0.5", True)), nsg_id=NSG + "vm")]
    path = inbound_path_of(scale_set(), nics)
    assert (path.subnet_id, path.nic_nsg_id) == (SUBNET_B, NSG + "vm")
    assert inbound_path_of(scale_set()) == inbound_path_of(scale_set(), []) and inbound_path_of(scale_set()).subnet_id is None
    assert primary_nic_config(scale_set()) is None and primary_ip_config(None) is None


def test_private_ip_of_each_instance_is_its_primary_nics() -> None:
    nics = [
        nic("a-secondary", "a", ("10.0.1.9", True), primary=False),
        nic("a-primary", "a", ("10.0.0.8", False), ("10.0.0.4", True)),
        nic("b", "b", ("10.0.0.5", False)),
        nic("c", "c"),
    ]
    assert private_ips(nics) == {"a": "10.0.0.4", "b": "10.0.0.5"}
    assert private_ips(None) == {}


def test_nics_of_instances_by_attachment_or_by_the_vms_profile() -> None:
    a, b = vm("flex_aaaa0001"), vm("flex_bbbb0002")
    attached = nic("nic-a", "flex_aaaa0001", ("10.0.0.4", True))
    named_only = nic("nic-b", None, ("10.0.0.5", True))  # the listing lacks its VM reference
    b = replace(b, nic_ids=(named_only.id.upper(),))
    elsewhere = nic("nic-other", "vm-loner", ("10.0.0.6", True))  # a VM of no scale set
    stale = nic("nic-b-old", "vm-loner", ("10.0.0.7", True))
    b = replace(b, nic_ids=(*b.nic_ids, stale.id))  # named by b, attached to another VM: not b's
    loose = nic("nic-loose", None, ("10.0.0.8", True))
    owned = nics_of_instances([a, b], [attached, named_only, elsewhere, stale, loose])
    assert [(n.name, n.instance_id) for n in owned] == [("nic-a", "flex_aaaa0001"), ("nic-b", "flex_bbbb0002")]
    assert nics_of_instances([], [attached]) == []


def test_nic_resource_groups_start_with_the_scale_sets() -> None:
    far = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network/networkInterfaces/n"
    near = f"{SUB}/resourceGroups/RG/providers/Microsoft.Network/networkInterfaces/m"
    assert nic_resource_groups(scale_set(), [vm("a", far), vm("b", near, far)]) == ("rg", "rg-net")
    assert nic_resource_groups(scale_set(), []) == ("rg",)


def test_actions_and_capacity_are_named_once() -> None:
    from vmss_tui.azure import fleet

    assert fleet.INSTANCE_ACTIONS is INSTANCE_ACTIONS and fleet.MAX_CAPACITY == MAX_CAPACITY == 1000
    assert INSTANCE_ACTIONS == ("start", "restart", "power_off", "deallocate", "reimage", "update", "delete")
    assert is_instance_action("power_off") and not is_instance_action("stop")
