"""Real ARM example payloads (published with the Azure REST API specs) -> SDK models -> domain.

Each payload is deserialized by the SDK's own model class (as its operations do) and then
converted by vmss_tui.azure.convert; placeholder values ("aaaa") must not crash anything.
"""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from azure.mgmt.compute.models import (
    RollingUpgradeStatusInfo,
    VirtualMachine,
    VirtualMachineScaleSet,
    VirtualMachineScaleSetVM,
)
from azure.mgmt.network.models import (
    BackendAddressInboundNatRulePortMappings,
    InboundNatRule,
    LoadBalancer,
    NetworkInterface,
    NetworkSecurityGroup,
    PublicIPAddress,
    SecurityRule,
)

from vmss_tui.azure import convert
from vmss_tui.domain.models import (
    FRONTEND_PUBLIC,
    KIND_POOL,
    KIND_RULE_V2,
    POWER_RUNNING,
    POWER_UNKNOWN,
    Instance,
    PortMapping,
    ScaleSet,
)
from vmss_tui.domain.nat import (
    load_balancer_ids_of,
    port_mapping_queries,
    resolve_nat_mappings,
    with_port_mappings,
)
from vmss_tui.domain.network import nics_of_instances, private_ips
from vmss_tui.domain.nsg import InboundPath, NsgLayer, inbound_verdict

# The payloads live in the repository's tests/fixtures/arm when copied there, else next to it.
_CANDIDATES = [
    Path(__file__).resolve().parents[1] / "fixtures" / "arm" / "specification",
    Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "arm" / "specification",
]
ROOT = next((p for p in _CANDIDATES if p.is_dir()), _CANDIDATES[0])

pytestmark = pytest.mark.skipif(not ROOT.is_dir(), reason="ARM example payloads not available")


def body(file_name: str, status: str = "200") -> Any:
    (path,) = [p for p in ROOT.rglob(file_name)]
    return json.loads(path.read_text(encoding="utf-8"))["responses"][status]["body"]


# ---------------------------------------------------------------- compute


def test_vmss_get_on_dedicated_host_group() -> None:
    scale_set = convert.scale_set_from_sdk(
        VirtualMachineScaleSet(body("VirtualMachineScaleSet_Get_AutoPlacedOnDedicatedHostGroup.json"))
    )
    assert scale_set.name == "myVirtualMachineScaleSet"
    assert (scale_set.sku, scale_set.capacity, scale_set.upgrade_mode) == ("Standard_D2s_v3", 4, "Automatic")
    assert scale_set.orchestration_mode == "Uniform"
    assert scale_set.os_type == "Linux" and scale_set.image and scale_set.image == "azuredatabricks:databricks:databricksworker:3.15.2"
    (nic,) = scale_set.nic_configs
    assert nic.name == "myNic" and nic.nsg_id and nic.nsg_id.endswith("myNetworkSecurityGroup")
    assert load_balancer_ids_of(scale_set) == ()
    resolution = resolve_nat_mappings(scale_set, [], [])
    assert resolution.mappings == () and "no load balancer" in resolution.notes[0]
    assert scale_set.raw["properties"]["upgradePolicy"]["mode"] == "Automatic"


def test_vmss_with_load_balancer_nat_pool_refs() -> None:
    scale_set = convert.scale_set_from_sdk(
        VirtualMachineScaleSet(body("VirtualMachineScaleSet_Create_WithAzureLoadBalancer.json"))
    )
    (ip,) = scale_set.nic_configs[0].ip_configs
    assert [i.rsplit("/", 1)[1] for i in ip.load_balancer_nat_pool_ids] == ["lbNatPool"]
    assert [i.rsplit("/", 1)[1] for i in ip.load_balancer_backend_pool_ids] == ["lbBackendPool"]
    (lb_id,) = load_balancer_ids_of(scale_set)
    assert lb_id.endswith("/loadBalancers/myLb")
    assert scale_set.provisioning_state == "Creating" and scale_set.upgrade_mode == "Manual"


def test_vmss_with_empty_data_disks() -> None:
    scale_set = convert.scale_set_from_sdk(
        VirtualMachineScaleSet(body("VirtualMachineScaleSet_Create_WithEmptyDataDisksOnEachVm.json"))
    )
    assert [(d.lun, d.size_gb, d.create_option) for d in scale_set.data_disks] == [(0, 1023, "Empty"), (1, 1023, "Empty")]
    assert scale_set.os_type == "Windows" and scale_set.capacity == 3


def test_vmss_list_with_generated_placeholders() -> None:
    items = body("VirtualMachineScaleSet_List_MaximumSet_Gen.json")["value"]
    scale_sets = [convert.scale_set_from_sdk(VirtualMachineScaleSet(item)) for item in items]
    assert len(scale_sets) == 2
    first = scale_sets[0]
    assert first.rolling_policy is not None and first.rolling_policy.max_batch_instance_percent == 49
    assert first.provisioning_state == "Succeeded"  # the example says "succeeded"
    # Placeholder pool ids point at no load balancer: nothing is made up.
    assert load_balancer_ids_of(first) == ()


def test_vmss_list_all_minimum_item() -> None:
    (item,) = body("VirtualMachineScaleSet_ListAll_MinimumSet_Gen.json")["value"]
    scale_set = convert.scale_set_from_sdk(VirtualMachineScaleSet(item))
    assert scale_set.name == item["id"].rsplit("/", 1)[1]
    assert (scale_set.capacity, scale_set.upgrade_mode, scale_set.provisioning_state) == (0, "Manual", "Unknown")


def test_vmss_list_by_location() -> None:
    items = body("VirtualMachineScaleSet_ListBySubscription_ByLocation.json")["value"]
    scale_sets = [convert.scale_set_from_sdk(VirtualMachineScaleSet(item)) for item in items]
    assert [s.capacity for s in scale_sets] == [4, 4]
    assert [s.nic_configs[0].name for s in scale_sets] == ["myNic", "myNic1"]


def test_vm_list_with_instance_view_maximum() -> None:
    (item,) = body("VirtualMachineScaleSetVM_List_MaximumSet_Gen.json")["value"]
    instance = convert.instance_from_sdk(VirtualMachineScaleSetVM(item))
    assert instance.latest_model is True
    assert instance.computer_name == "test000000"
    assert instance.provisioning_state == "Succeeded"
    assert instance.power_state == POWER_UNKNOWN  # the example's statuses are placeholders
    assert instance.vm_size == "Basic_A0"
    assert instance.os_disk is not None and instance.os_disk.size_gb == 127 and instance.os_disk.is_os_disk
    assert [(d.lun, d.size_gb, d.create_option) for d in instance.data_disks] == [(1, 128, "Empty")]
    assert "customData" not in json.dumps(instance.raw) and "userData" not in json.dumps(instance.raw)


def test_vm_list_minimum_item() -> None:
    (item,) = body("VirtualMachineScaleSetVM_List_MinimumSet_Gen.json")["value"]
    instance = convert.instance_from_sdk(VirtualMachineScaleSetVM(item))
    assert instance.instance_id == "0"
    assert (instance.power_state, instance.latest_model, instance.os_disk) == (POWER_UNKNOWN, None, None)


def test_vm_instance_view_power_and_provisioning() -> None:
    view = body("VirtualMachineScaleSetVM_Get_InstanceViewAutoPlacedOnDedicatedHostGroup.json")
    vm = VirtualMachineScaleSetVM({
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/v/virtualMachines/0",
        "location": "westus", "properties": {"instanceView": view},
    })
    instance = convert.instance_from_sdk(vm)
    assert instance.power_state == POWER_RUNNING and instance.is_running
    assert instance.provisioning_state == "Succeeded"


def test_vm_get_with_user_data() -> None:
    instance = convert.instance_from_sdk(VirtualMachineScaleSetVM(body("VirtualMachineScaleSetVM_Get_WithUserData.json")))
    assert instance.latest_model is True
    assert instance.os_disk is not None
    assert instance.raw is not None and "userData" not in json.dumps(instance.raw)


def test_failed_provisioning_status_gives_state_and_message() -> None:
    vm = VirtualMachineScaleSetVM({
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/v/virtualMachines/3",
        "location": "westus",
        "properties": {"instanceView": {"statuses": [
            {"code": "ProvisioningState/failed/VMStartTimedOut", "level": "Error", "message": "start timed out"},
            {"code": "PowerState/stopped"},
        ], "vmHealth": {"status": {"code": "HealthState/unhealthy"}}}},
    })
    instance = convert.instance_from_sdk(vm)
    assert (instance.provisioning_state, instance.status_message) == ("Failed", "start timed out")
    assert (instance.power_state, instance.health) == ("stopped", "unhealthy")


@pytest.mark.parametrize(
    ("file_name", "code", "counts"),
    [
        ("VirtualMachineScaleSetRollingUpgrade_GetLatest_MaximumSet_Gen.json", "RollingForward", (6, 25, 20, 27)),
        ("VirtualMachineScaleSetRollingUpgrade_GetLatest_MinimumSet_Gen.json", "Unknown", (0, 0, 0, 0)),
    ],
)
def test_rolling_upgrade_latest(file_name: str, code: str, counts: tuple[int, int, int, int]) -> None:
    status = convert.rollout_from_sdk(RollingUpgradeStatusInfo(body(file_name)))
    assert status.code == code
    assert (status.successful, status.failed, status.in_progress, status.pending) == counts


# ---------------------------------------------------------------- network


def test_internal_load_balancer_get() -> None:
    lb = convert.load_balancer_from_sdk(LoadBalancer(body("LoadBalancerGet.json")))
    assert lb.sku == "Standard"
    (frontend,) = lb.frontends
    assert (frontend.private_ip, frontend.public_ip_id) == ("10.0.1.4", None)
    (rule,) = lb.nat_rules
    assert (rule.name, rule.frontend_port, rule.backend_port, rule.is_v2) == ("in-nat-rule", 3389, 3389, False)
    assert lb.nat_pools == ()


def test_load_balancer_with_nat_pool() -> None:
    lb = convert.load_balancer_from_sdk(LoadBalancer(body("LoadBalancerCreateWithInboundNatPool.json")))
    (pool,) = lb.nat_pools
    assert (pool.name, pool.frontend_port_start, pool.frontend_port_end, pool.backend_port) == ("test", 8080, 8085, 8888)


def test_v2_rule_port_mapping_payload() -> None:
    lb = convert.load_balancer_from_sdk(LoadBalancer(body("LoadBalancerGetInboundNatRulePortMapping.json")))
    (rule,) = lb.nat_rules
    assert rule.is_v2 and (rule.frontend_port_range_start, rule.frontend_port_range_end) == (3389, 4000)
    assert rule.frontend_port is None  # the wire says 0: not a port
    (pool,) = lb.backend_pools
    (address,) = pool.addresses
    assert address.ip_address == "10.0.0.4"
    assert [(m.rule_name, m.frontend_port, m.backend_port) for m in address.port_mappings] == [("natRule", 3389, 3389)]


def test_v2_example_whose_mapping_names_another_rule_is_not_guessed() -> None:
    # Microsoft's example names the rule "in-nat-rule" but its port mapping "natRule": matching by
    # name finds nothing, where "take the first mapping" would have reported a port.
    lb = convert.load_balancer_from_sdk(LoadBalancer(body("LoadBalancerGetInboundNatRulePortMapping.json")))
    nic = convert.instance_nic_from_sdk(NetworkInterface({
        "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachineScaleSets/vmss1/virtualMachines/0/networkInterfaces/nic1",
        "properties": {"ipConfigurations": [{"name": "ip1", "properties": {"privateIPAddress": "10.0.0.4", "primary": True}}]},
    }))
    scale_set = convert.scale_set_from_sdk(VirtualMachineScaleSet({
        "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachineScaleSets/vmss1",
        "location": "westus",
    }))
    resolution = resolve_nat_mappings(scale_set, [nic], [lb])
    assert resolution.mappings == ()
    assert any("in-nat-rule" in note for note in resolution.notes)
    # With the mapping named after the rule, the same payload gives the private frontend mapping.
    fixed = copy.deepcopy(body("LoadBalancerGetInboundNatRulePortMapping.json"))
    address = fixed["properties"]["backendAddressPools"][0]["properties"]["loadBalancerBackendAddresses"][0]
    address["properties"]["inboundNatRulesPortMapping"][0]["inboundNatRuleName"] = "in-nat-rule"
    lb = convert.load_balancer_from_sdk(LoadBalancer(fixed))
    (mapping,) = resolve_nat_mappings(scale_set, [nic], [lb]).mappings
    assert (mapping.instance_id, mapping.frontend_ip, mapping.frontend_port, mapping.frontend_state) == (
        "0", "10.0.1.4", 3389, "private")


def _lb_from_rules(rules: list[dict[str, Any]], address: str | None) -> LoadBalancer:
    base = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/testrg/providers/Microsoft.Network"
    return LoadBalancer({
        "id": f"{base}/loadBalancers/lb1", "name": "lb1", "location": "westus", "sku": {"name": "Standard"},
        "properties": {
            "frontendIPConfigurations": [{
                "id": f"{base}/loadBalancers/lb1/frontendIPConfigurations/ip1", "name": "ip1",
                "properties": {"publicIPAddress": {"id": f"{base}/publicIPAddresses/pip1"}},
            }],
            "inboundNatRules": rules,
        },
    })


def test_v1_rule_list_maps_instances_of_vmss1() -> None:
    rules = body("InboundNatRuleList.json")["value"]
    assert [InboundNatRule(r).backend_port for r in rules] == [3389, 3389]
    sdk_lb = _lb_from_rules(rules, "13.67.119.72")
    pip_id = sdk_lb.frontend_ip_configurations[0].public_ip_address.id
    lb = convert.load_balancer_from_sdk(sdk_lb, {pip_id.casefold(): "13.67.119.72"})
    scale_set = convert.scale_set_from_sdk(VirtualMachineScaleSet({
        "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/TESTRG/providers/Microsoft.Compute/virtualMachineScaleSets/vmss1",
        "location": "westus",
    }))
    resolution = resolve_nat_mappings(scale_set, [], [lb])
    assert [(m.instance_id, m.frontend_ip, m.frontend_port, m.backend_port, m.kind, m.frontend_state)
            for m in resolution.mappings] == [
        ("1", "13.67.119.72", 3390, 3389, KIND_POOL, FRONTEND_PUBLIC),
        ("3", "13.67.119.72", 3392, 3389, KIND_POOL, FRONTEND_PUBLIC),
    ]
    # The same load balancer with the public IP not allocated: state, no address.
    (first, _) = resolve_nat_mappings(scale_set, [], [convert.load_balancer_from_sdk(sdk_lb, {})]).mappings
    assert (first.frontend_ip, first.frontend_state) == (None, "unallocated")


def test_v1_rule_get() -> None:
    rule = InboundNatRule(body("InboundNatRuleGet.json"))
    assert (rule.name, rule.frontend_port, rule.backend_port) == ("natRule1.1", 3390, 3389)
    assert "/virtualMachines/1/" in rule.backend_ip_configuration.id


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("LoadBalancerBackendAddressPoolGet.json", ("backend", 0, 1)),
        ("LBBackendAddressPoolWithBackendAddressesGet.json", ("backend", 2, 0)),
    ],
)
def test_backend_pools(file_name: str, expected: tuple[str, int, int]) -> None:
    pool_json = body(file_name)
    lb = convert.load_balancer_from_sdk(LoadBalancer({
        "id": pool_json["id"].rsplit("/backendAddressPools/", 1)[0], "location": "westus",
        "properties": {"backendAddressPools": [pool_json]},
    }))
    (pool,) = lb.backend_pools
    assert (pool.name, len(pool.addresses), len(pool.backend_ip_configuration_ids)) == expected


def test_public_ip_without_address_is_unallocated() -> None:
    assert convert.public_ip_address_of(PublicIPAddress(body("PublicIpAddressGet.json"))) is None
    assert convert.public_ip_address_of(PublicIPAddress(body("VmssPublicIpGet.json"))) == "13.67.119.72"
    listed = [convert.public_ip_address_of(PublicIPAddress(p)) for p in body("VmssPublicIpListAll.json")["value"]]
    assert listed == ["13.67.119.72", "13.67.118.216"]


def test_vmss_nic_lists() -> None:
    nics = [convert.instance_nic_from_sdk(NetworkInterface(n)) for n in body("VmssNetworkInterfaceList.json")["value"]]
    assert [(n.instance_id, n.primary_private_ip) for n in nics] == [("0", "10.0.0.4"), ("1", "10.0.0.5")]
    assert [n.ip_configs[0].nat_rule_ids[0].rsplit("/", 1)[1] for n in nics] == ["natPool1.0", "natPool1.1"]
    assert all(n.nsg_id and n.nsg_id.endswith("/nsg1") for n in nics)
    (one,) = [convert.instance_nic_from_sdk(NetworkInterface(n)) for n in body("VmssVmNetworkInterfaceList.json")["value"]]
    assert (one.instance_id, one.primary_private_ip) == ("1", "10.0.0.5")
    single = convert.instance_nic_from_sdk(NetworkInterface(body("VmssNetworkInterfaceGet.json")))
    assert single.ip_configs[0].backend_pool_ids[0].endswith("addressPool1")


def test_nic_side_rule_refs_resolve_against_rules_without_backend() -> None:
    nics = [convert.instance_nic_from_sdk(NetworkInterface(n)) for n in body("VmssNetworkInterfaceList.json")["value"]]
    base = "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/loadBalancers/lb1"
    lb = convert.load_balancer_from_sdk(LoadBalancer({
        "id": base, "name": "lb1", "location": "westus",
        "properties": {
            "frontendIPConfigurations": [{"id": f"{base}/frontendIPConfigurations/fe", "name": "fe",
                                          "properties": {"privateIPAddress": "10.0.9.9"}}],
            "inboundNatRules": [
                {"id": f"{base}/inboundNatRules/natPool1.{i}", "name": f"natPool1.{i}",
                 "properties": {"frontendIPConfiguration": {"id": f"{base}/frontendIPConfigurations/fe"},
                                "frontendPort": 50000 + 7 * i, "backendPort": 22, "protocol": "Tcp"}}
                for i in (0, 1)
            ],
        },
    }))
    scale_set = convert.scale_set_from_sdk(VirtualMachineScaleSet({
        "id": "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachineScaleSets/vmss1",
        "location": "westus",
    }))
    resolution = resolve_nat_mappings(scale_set, nics, [lb])
    assert [(m.instance_id, m.frontend_port, m.frontend_state) for m in resolution.mappings] == [
        ("0", 50000, "private"), ("1", 50007, "private")]


def test_nsg_get_and_verdicts() -> None:
    nsg = convert.nsg_from_sdk(NetworkSecurityGroup(body("NetworkSecurityGroupGet.json")))
    assert nsg.name == "testnsg"
    custom = [r for r in nsg.rules if not r.is_default]
    assert [(r.name, r.priority, r.destination_ports, r.source_prefixes) for r in custom] == [
        ("rule1", 130, ("80",), ("*",))]
    assert {r.name for r in nsg.rules if r.is_default} >= {"AllowVnetInBound", "DenyAllInBound"}
    layers = [NsgLayer("NIC", nsg.id, nsg)]
    http = inbound_verdict(InboundPath("Tcp", 80), layers)
    assert (http.allowed, http.rule, http.open_to_any) == (True, "rule1", True)
    ssh = inbound_verdict(InboundPath("Tcp", 22), layers)
    assert (ssh.allowed, ssh.rule) == (False, "DenyAllInBound")


def test_nsg_rule_list_and_create_with_rule() -> None:
    (rule,) = body("NetworkSecurityGroupRuleList.json")["value"]
    assert SecurityRule(rule).name == "rule1"
    for status in ("200", "201"):
        nsg = convert.nsg_from_sdk(NetworkSecurityGroup(body("NetworkSecurityGroupCreateWithRule.json", status)))
        assert [r.name for r in nsg.rules if not r.is_default] == ["rule1"]
        assert len([r for r in nsg.rules if r.is_default]) == 6


# ---------------------------------------------------------------- the JSON path (paged lists)

EQUIVALENT = [
    ("VirtualMachineScaleSet_Get_AutoPlacedOnDedicatedHostGroup.json", None, VirtualMachineScaleSet, convert.scale_set_from_sdk),
    ("VirtualMachineScaleSet_Create_WithAzureLoadBalancer.json", None, VirtualMachineScaleSet, convert.scale_set_from_sdk),
    ("VirtualMachineScaleSet_Create_WithEmptyDataDisksOnEachVm.json", None, VirtualMachineScaleSet, convert.scale_set_from_sdk),
    ("VirtualMachineScaleSet_List_MaximumSet_Gen.json", "value", VirtualMachineScaleSet, convert.scale_set_from_sdk),
    ("VirtualMachineScaleSet_ListAll_MinimumSet_Gen.json", "value", VirtualMachineScaleSet, convert.scale_set_from_sdk),
    ("VirtualMachineScaleSet_ListBySubscription_ByLocation.json", "value", VirtualMachineScaleSet, convert.scale_set_from_sdk),
    ("VirtualMachineScaleSetVM_List_MaximumSet_Gen.json", "value", VirtualMachineScaleSetVM, convert.instance_from_sdk),
    ("VirtualMachineScaleSetVM_List_MinimumSet_Gen.json", "value", VirtualMachineScaleSetVM, convert.instance_from_sdk),
    ("VirtualMachineScaleSetVM_Get_WithUserData.json", None, VirtualMachineScaleSetVM, convert.instance_from_sdk),
    ("VmssNetworkInterfaceList.json", "value", NetworkInterface, convert.instance_nic_from_sdk),
    ("VmssVmNetworkInterfaceList.json", "value", NetworkInterface, convert.instance_nic_from_sdk),
    ("LoadBalancerGet.json", None, LoadBalancer, convert.load_balancer_from_sdk),
    ("LoadBalancerGetInboundNatRulePortMapping.json", None, LoadBalancer, convert.load_balancer_from_sdk),
    ("LoadBalancerCreateWithInboundNatPool.json", None, LoadBalancer, convert.load_balancer_from_sdk),
    ("NetworkSecurityGroupGet.json", None, NetworkSecurityGroup, convert.nsg_from_sdk),
]


@pytest.mark.parametrize(("file_name", "key", "model", "converter"), EQUIVALENT,
                         ids=[e[0].removesuffix(".json") for e in EQUIVALENT])
def test_json_view_converts_exactly_like_the_sdk_model(file_name, key, model, converter) -> None:
    payload = body(file_name)
    items = payload[key] if key else [payload]
    for item in items:
        from_model = converter(model(copy.deepcopy(item)))
        from_json = converter(convert.JsonView(item))
        assert from_json == from_model
        raw = getattr(from_json, "raw", None)
        if raw is not None:
            assert raw == from_model.raw


def test_json_view_reads_like_a_model() -> None:
    view = convert.JsonView({"id": "x", "properties": {"diskSizeGB": 5, "privateIPAddress": "10.0.0.4",
                                                        "nested": {"vmHealth": {"status": {"code": "HealthState/healthy"}}},
                                                        "list": [{"a": 1}, 2]}})
    assert (view.id, view.disk_size_gb, view.private_ip_address) == ("x", 5, "10.0.0.4")
    assert view.nested.vm_health.status.code == "HealthState/healthy"
    assert view.list[0].a == 1 and view.list[1] == 2
    assert view.missing is None and view.nested.missing is None


# ---------------------------------------------------------------- Flexible: standalone VMs and NICs


def both_ways(item: dict[str, Any], scale_set: str = "flex") -> Instance:
    """The VM through the SDK's model and through the JsonView the paged list uses: the same
    domain object either way."""
    from_model = convert.flexible_instance_from_sdk(VirtualMachine(item), scale_set=scale_set)
    from_json = convert.flexible_instance_from_sdk(convert.JsonView(item), scale_set=scale_set)
    assert from_model == from_json
    return from_json


def test_flexible_vm_list_with_instance_view() -> None:
    listed = body("VirtualMachine_List_MaximumSet_Gen.json")
    first, second = (both_ways(item) for item in listed["value"])
    for vm in (first, second):
        assert (vm.instance_id, vm.name, vm.scale_set) == ("{virtualMachineName}", "{virtualMachineName}", "flex")
        assert vm.orchestration_mode == "Flexible"
        assert vm.latest_model is None  # a standalone VM has no latestModelApplied: unknown, not guessed
        assert (vm.computer_name, vm.vm_size, vm.provisioning_state) == ("Test", "Standard_A0", "Succeeded")
        assert vm.os_disk is not None and (vm.os_disk.size_gb, vm.os_disk.name) == (127, "test")
        assert [n.rsplit("/", 1)[1] for n in vm.nic_ids] == ["{networkInterfaceName}"]
        assert vm.resource_group == "{resourceGroupName}"
    assert (first.fault_domain, second.fault_domain) == (8, 11)  # the VM's own, before the view's 29
    assert (first.zone, second.zone) == ("aaaaaaaaaaaaaaaaaaaaaaaaaaa", "aaaaaa")
    assert first.power_state == POWER_UNKNOWN and first.health is None  # no instance view
    assert second.power_state == POWER_UNKNOWN  # its statuses are placeholders ("aaa")
    assert second.health == "aaa"  # vmHealth is read, placeholder and all
    # The placeholder scale set id points at an availability set: the VM belongs to no scale set we list.
    owner = convert.vm_scale_set_id_of(convert.JsonView(listed["value"][0]))
    assert owner is not None and "/availabilitySets/" in owner
    assert "adminPassword" not in json.dumps(second.raw) and "userData" not in json.dumps(second.raw)


def test_flexible_vm_list_all_status_only() -> None:
    vms = [both_ways(item) for item in body("VirtualMachine_ListAll_MaximumSet_Gen.json")["value"]]
    assert len(vms) == 2 and all(v.power_state == POWER_UNKNOWN and v.latest_model is None for v in vms)
    assert all(v.fault_domain is not None for v in vms)


def test_vm_created_into_a_flexible_scale_set() -> None:
    item = body("VirtualMachine_Create_InAVmssWithCustomerAssignedPlatformFaultDomain.json")
    vm = both_ways(item, scale_set="myExistingFlexVmss")
    assert (vm.instance_id, vm.computer_name, vm.fault_domain) == ("myVM", "myVM", 1)
    assert vm.provisioning_state == "Creating"
    owner = convert.vm_scale_set_id_of(VirtualMachine(item))
    assert owner is not None and owner.endswith("/virtualMachineScaleSets/myExistingFlexVmss")
    assert vm.nic_ids and vm.nic_ids[0].endswith("/networkInterfaces/nsgExistingNic")


def test_flexible_vm_instance_view_power_state() -> None:
    view = body("VirtualMachine_Get_InstanceView.json")
    vm = both_ways({
        "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/flex_1a2b3c4d",
        "name": "flex_1a2b3c4d", "location": "westus",
        "properties": {"instanceView": view, "virtualMachineScaleSet": {"id": "/x/virtualMachineScaleSets/flex"}},
    })
    assert (vm.power_state, vm.provisioning_state, vm.health) == (POWER_RUNNING, "Succeeded", None)
    assert vm.is_running and vm.instance_id == "flex_1a2b3c4d"
    assert vm.computer_name == view["computerName"]


def test_thin_scale_set_vm_entries_of_a_flexible_set_say_nothing_of_state() -> None:
    # What `virtualMachineScaleSets/{n}/virtualMachines` answers for a Flexible set: names only.
    # The data layer lists the VMs themselves instead; a thin entry must still not crash anything.
    items = body("VirtualMachineScaleSetVM_List_WithVirtualMachineResourceId.json")["value"]
    thin = [convert.instance_from_sdk(VirtualMachineScaleSetVM(item)) for item in items]
    assert [i.instance_id for i in thin] == ["{vmss-flex-vm-name}_1", "{vmss-flex-vm-name}_2"]
    assert all((i.power_state, i.latest_model, i.os_disk) == (POWER_UNKNOWN, None, None) for i in thin)


def test_flexible_scale_set_model() -> None:
    scale_set = convert.scale_set_from_sdk(VirtualMachineScaleSet(body("VirtualMachineScaleSet_Create_WithPriorityMixPolicy.json")))
    assert scale_set.orchestration_mode == "Flexible" and scale_set.is_flexible
    assert scale_set.capacity == 2 and scale_set.nic_configs
    assert load_balancer_ids_of(scale_set) == ()  # its pool arrays are empty


def test_standalone_nics_belong_to_the_vm_they_are_attached_to() -> None:
    nics = [convert.instance_nic_from_sdk(NetworkInterface(item)) for item in body("NetworkInterfaceList.json")["value"]]
    attached, loose = nics
    assert (attached.name, attached.instance_id, attached.primary) == ("test-nic", "vm1", True)
    assert attached.virtual_machine_id and attached.virtual_machine_id.endswith("/virtualMachines/vm1")
    assert attached.nsg_id and attached.nsg_id.endswith("/networkSecurityGroups/nsg")
    assert (loose.name, loose.instance_id, loose.virtual_machine_id) == ("test-nic2", "", None)
    vm1 = Instance(
        id=attached.virtual_machine_id.upper(),  # ARM ids compare case-insensitively
        scale_set="flex", resource_group="rg1", instance_id="vm1", name="vm1", computer_name=None,
        power_state=POWER_RUNNING, provisioning_state="Succeeded", latest_model=None, orchestration_mode="Flexible",
    )
    assert nics_of_instances([vm1], nics) == [attached]
    assert private_ips(nics_of_instances([vm1], nics)) == {"vm1": "172.20.2.4"}
    # A NIC the VM's network profile names, whose listing lacks the VM reference, is still the VM's.
    named = replace(vm1, id="/subscriptions/s/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/vm2",
                    instance_id="vm2", name="vm2", nic_ids=(loose.id,))
    (owned,) = nics_of_instances([named], nics)
    assert (owned.name, owned.instance_id) == ("test-nic2", "vm2")


def test_standalone_nic_get_with_two_ip_configurations() -> None:
    nic = convert.instance_nic_from_sdk(NetworkInterface(body("NetworkInterfaceGet.json")))
    assert [c.name for c in nic.ip_configs] == ["ipconfig1", "ipconfig2"]
    assert nic.primary_private_ip == "172.20.2.4" and nic.instance_id == "vm1"


def test_query_inbound_nat_rule_port_mapping_answer() -> None:
    for status in ("200", "202"):
        result = BackendAddressInboundNatRulePortMappings(body("QueryInboundNatRulePortMapping.json", status))
        assert convert.port_mappings_from_sdk(result) == (PortMapping("natRule", 3389, 3389),)


def test_nic_based_pool_without_port_mappings_is_queried_then_resolved() -> None:
    # The pool example lists its member only as a backendIPConfiguration (no per-address mapping):
    # the member's NAT rule V2 port must come from queryInboundNatRulePortMapping.
    pool_body = body("LoadBalancerBackendAddressPoolGet.json")
    lb_id = pool_body["id"].split("/backendAddressPools/")[0]
    frontend_id = f"{lb_id}/frontendIPConfigurations/fe"
    rule = {
        "name": "NatRule", "id": f"{lb_id}/inboundNatRules/NatRule",
        "properties": {"frontendIPConfiguration": {"id": frontend_id}, "protocol": "Tcp", "backendPort": 22,
                       "frontendPort": 0, "frontendPortRangeStart": 50000, "frontendPortRangeEnd": 50099,
                       "backendAddressPool": {"id": pool_body["id"]}},
    }
    lb = convert.load_balancer_from_sdk(
        LoadBalancer({"id": lb_id, "name": "lb", "sku": {"name": "Standard"},
                      "properties": {"backendAddressPools": [pool_body], "inboundNatRules": [rule],
                                     "frontendIPConfigurations": [{"id": frontend_id, "name": "fe", "properties": {
                                         "publicIPAddress": {"id": "/x/publicIPAddresses/pip"}}}]}}),
        {"/x/publicipaddresses/pip": "20.1.2.3"},
    )
    nic = convert.instance_nic_from_sdk(NetworkInterface({
        "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/testrg/providers/Microsoft.Network/networkInterfaces/nic",
        "name": "nic",
        "properties": {"virtualMachine": {"id": "/subscriptions/0/resourceGroups/testrg/providers/Microsoft.Compute/virtualMachines/flex_0001"},
                       "ipConfigurations": [{"name": "default-ip-config", "properties": {
                           "primary": True, "privateIPAddress": "10.0.0.4",
                           "loadBalancerBackendAddressPools": [{"id": pool_body["id"]}]}}]},
    }))
    flex = ScaleSet(id="/subscriptions/0/resourceGroups/testrg/providers/Microsoft.Compute/virtualMachineScaleSets/flex",
                    name="flex", resource_group="testrg", subscription_id="0", location="eastus", sku="Standard_B1s",
                    capacity=1, upgrade_mode="Manual", orchestration_mode="Flexible", provisioning_state="Succeeded")
    before = resolve_nat_mappings(flex, [nic], [lb])
    assert before.mappings == () and "lists no port mapping" in " ".join(before.notes)
    (query,) = port_mapping_queries(flex, [nic], lb)
    assert query.pool_name == "backend" and query.ip_configuration_id.endswith("/nic/ipConfigurations/default-ip-config")
    answered = with_port_mappings(lb, {query: (PortMapping("NatRule", 50007, 22),)})
    (mapping,) = resolve_nat_mappings(flex, [nic], [answered]).mappings
    assert (mapping.instance_id, mapping.endpoint, mapping.kind, mapping.rule) == (
        "flex_0001", "20.1.2.3:50007", KIND_RULE_V2, "NatRule")
    assert port_mapping_queries(flex, [nic], answered) == ()  # nothing left to ask
    # Another scale set's view of the same load balancer asks nothing about this member.
    assert port_mapping_queries(replace(flex, id=flex.id + "-other", name="other"), [], lb) == ()


def test_empty_secret_fields_are_no_reason_to_copy_a_resource() -> None:
    plain = {"properties": {"osProfile": {"computerName": "vm", "secrets": [], "adminPassword": None}}}
    assert convert._scrub(plain) is plain  # nothing to hide: the JSON as it came
    secret = {"properties": {"osProfile": {"secrets": [{"sourceVault": {"id": "v"}}], "customData": "Y2xvdWQ="}}}
    scrubbed = convert._scrub(secret)
    assert scrubbed["properties"]["osProfile"] == {} and secret["properties"]["osProfile"]["customData"]
