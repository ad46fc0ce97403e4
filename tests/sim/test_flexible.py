"""Flexible scale sets on the simulator, through the real async SDK: VMs as resources of their own,
the list Azure offers (filter + expand, paged), Azure's refusals, per-VM actions, NICs, NAT rules V2."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.support.sim_sdk import auth_headers, sdk_clients
from vmss_tui.sim import ManualClock, Simulator
from vmss_tui.sim.topology import FLEX_RG, demo_topology, large_topology

SS = "vmss-flex"


def flex_filter(sim: Simulator, name: str = SS, rg: str = FLEX_RG) -> str:
    return f"'virtualMachineScaleSet/id' eq '{sim.world.get_scale_set(rg, name).id}'"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(demo_topology(), speed=500, ssh=False, seed=7)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def clients(sim: Simulator) -> AsyncIterator[tuple[Any, Any]]:
    async with sdk_clients(sim) as pair:
        yield pair


async def raw(sim: Simulator, method: str, path: str, api_version: str = "2026-04-01", body: Any = None,
              **params: str) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession(headers=auth_headers(sim)) as session:
        url = path if path.startswith("http") else sim.endpoint + path
        query = {"api-version": api_version, **params} if "api-version=" not in url else params
        async with session.request(method, url, params=query, json=body) as response:
            data = await response.read()
            return response.status, dict(response.headers), (await response.json(content_type=None)) if data else None


def power(vm: Any) -> str:
    return next(s.code for s in vm.properties.instance_view.statuses if s.code.startswith("PowerState/"))


# ---------------------------------------------------------------------------------------------
# The VMs of a Flexible scale set


async def test_flexible_vms_are_virtual_machine_resources(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, network = clients
    vmss = await compute.virtual_machine_scale_sets.get(FLEX_RG, SS)
    assert vmss.properties.orchestration_mode == "Flexible"
    assert vmss.properties.platform_fault_domain_count == 1
    vms = [vm async for vm in compute.virtual_machines.list(FLEX_RG, filter=flex_filter(sim), expand="instanceView")]
    assert len(vms) == 3 and vmss.sku.capacity == 3
    for vm in vms:
        assert vm.type == "Microsoft.Compute/virtualMachines"
        assert vm.name.startswith(f"{SS}_") and len(vm.name) == len(SS) + 9
        int(vm.name.rsplit("_", 1)[1], 16)  # 8 hex digits
        assert vm.properties.virtual_machine_scale_set.id.lower() == vmss.id.lower()
        computer = vm.properties.os_profile.computer_name
        assert computer.startswith(SS) and len(computer) == len(SS) + 6 and computer != vm.name
        assert power(vm) == "PowerState/running"
        assert vm.properties.instance_view.vm_health.status.code == "HealthState/healthy"
        nic_id = vm.properties.network_profile.network_interfaces[0].id
        assert "/providers/Microsoft.Network/networkInterfaces/" in nic_id
        assert vm.name not in nic_id  # scaled-out VMs' NICs do not carry the VM name
    # Without the expand, no instance view; the VM of no scale set is not in the filtered list.
    plain = [vm async for vm in compute.virtual_machines.list(FLEX_RG, filter=flex_filter(sim))]
    assert all(vm.properties.instance_view is None for vm in plain)
    everything = [vm.name async for vm in compute.virtual_machines.list(FLEX_RG)]
    assert "vm-tools" in everything and len(everything) == 4
    one = await compute.virtual_machines.get(FLEX_RG, vms[0].name, expand="instanceView")
    assert one.properties.instance_view.computer_name == vms[0].properties.os_profile.computer_name
    view = await compute.virtual_machines.instance_view(FLEX_RG, vms[0].name)
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
    # Standalone NICs, one paged list per resource group.
    nics = [n async for n in network.network_interfaces.list(FLEX_RG)]
    assert {n.id.lower() for n in nics} == {vm.properties.network_profile.network_interfaces[0].id.lower()
                                           for vm in [*vms, await compute.virtual_machines.get(FLEX_RG, "vm-tools")]}
    nic = next(n for n in nics if n.id.lower() == vms[0].properties.network_profile.network_interfaces[0].id.lower())
    assert nic.properties.virtual_machine.id.lower() == vms[0].id.lower()
    assert nic.properties.ip_configurations[0].properties.private_ip_address.startswith("10.3.0.")


async def test_vm_list_pages_by_fifty_and_list_all_has_status_only(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    sim.vm_page_size = 2
    before = sim.request_count
    vms = [vm async for vm in compute.virtual_machines.list(FLEX_RG, filter=flex_filter(sim), expand="instanceView")]
    assert len(vms) == 3 and sim.request_count - before == 2
    statuses = [vm async for vm in compute.virtual_machines.list_all(status_only="true", filter=flex_filter(sim))]
    assert len(statuses) == 3 and all(vm.properties.instance_view is not None for vm in statuses)
    status, _, body = await raw(sim, "GET", f"/subscriptions/{sim.subscription_id}/resourceGroups/{FLEX_RG}/providers/"
                                            f"Microsoft.Compute/virtualMachines", **{"$expand": "instanceView"})
    assert status == 400 and body["error"]["code"] == "BadRequest"
    assert body["error"]["message"] == ("Expand Instance View is only supported when Virtual Machine Scale Set "
                                        "resource filter is applied")


async def test_unescaped_next_link_filter_is_followed(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    sim.vm_page_size = 1
    sim.unescaped_next_link_filter = True
    path = f"/subscriptions/{sim.subscription_id}/resourceGroups/{FLEX_RG}/providers/Microsoft.Compute/virtualMachines"
    status, _, first = await raw(sim, "GET", path, **{"$filter": flex_filter(sim), "$expand": "instanceView"})
    assert status == 200 and len(first["value"]) == 1
    assert f"$filter={flex_filter(sim)}" in first["nextLink"]  # quotes, spaces and slashes as they are
    names = [vm.name async for vm in compute.virtual_machines.list(FLEX_RG, filter=flex_filter(sim), expand="instanceView")]
    assert len(names) == 3 and len(set(names)) == 3


async def test_flexible_refusals_have_azures_codes(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    vm_name = next(iter(sim.world.get_scale_set(FLEX_RG, SS).instances))
    with pytest.raises(HttpResponseError) as info:
        [vm async for vm in compute.virtual_machine_scale_set_vms.list(FLEX_RG, SS, expand="instanceView")]
    assert info.value.status_code == 400 and info.value.error.code == "OperationNotAllowed"
    assert info.value.error.message == (f"Operation 'VirtualMachineScaleSets.virtualMachines.GET' is not allowed on "
                                        f"Virtual Machine Scale Set '{SS}'.")
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machine_scale_sets.get_instance_view(FLEX_RG, SS)
    assert info.value.status_code == 400 and info.value.error.code == "OperationNotAllowed"
    assert "VirtualMachineScaleSets.instanceView.GET" in info.value.error.message
    for call in (compute.virtual_machine_scale_set_vms.get_instance_view(FLEX_RG, SS, vm_name),
                 compute.virtual_machine_scale_set_vms.begin_restart(FLEX_RG, SS, vm_name),
                 compute.virtual_machine_scale_set_vms.get(FLEX_RG, SS, vm_name, expand="instanceView")):
        with pytest.raises(HttpResponseError) as info:
            await call
        assert info.value.status_code == 400 and info.value.error.code == "InvalidParameter"
        assert info.value.error.message == "Virtual Machine Scale Set VM instanceId must be a number."
    with pytest.raises(ResourceNotFoundError):
        await compute.virtual_machine_scale_set_vms.get(FLEX_RG, SS, "0")
    # The list itself answers thin entries (with the VM's resource id from api-version 2025-11-01).
    thin = [vm async for vm in compute.virtual_machine_scale_set_vms.list(FLEX_RG, SS)]
    assert sorted(vm.instance_id for vm in thin) == sorted(sim.world.get_scale_set(FLEX_RG, SS).instances)
    status, _, body = await raw(sim, "GET", f"/subscriptions/{sim.subscription_id}/resourceGroups/{FLEX_RG}/providers/"
                                            f"Microsoft.Compute/virtualMachineScaleSets/{SS}/virtualMachines")
    assert status == 200 and set(body["value"][0]) == {"name", "id", "type", "location", "instanceId", "etag", "properties"}
    assert body["value"][0]["properties"] == {"virtualMachineResourceId": sim.virtual_machine(FLEX_RG, body["value"][0]["name"]).id}
    status, _, body = await raw(sim, "GET", f"/subscriptions/{sim.subscription_id}/resourceGroups/{FLEX_RG}/providers/"
                                            f"Microsoft.Compute/virtualMachineScaleSets/{SS}/virtualMachines",
                                api_version="2024-11-01")
    assert "properties" not in body["value"][0]


# ---------------------------------------------------------------------------------------------
# Actions


async def test_per_vm_actions_are_operations_over_simulated_time() -> None:
    sim = Simulator(demo_topology(), clock=ManualClock(), ssh=False)
    await sim.start()
    try:
        async with sdk_clients(sim, polling_interval=0.01) as (compute, _):
            vm = sim.world.get_scale_set(FLEX_RG, SS).sorted_instances()[0]
            poller = await compute.virtual_machines.begin_power_off(FLEX_RG, vm.name)
            waiter = asyncio.create_task(poller.result())
            await asyncio.sleep(0.05)
            view = await compute.virtual_machines.instance_view(FLEX_RG, vm.name)
            assert [s.code for s in view.statuses] == ["ProvisioningState/updating", "PowerState/stopping"]
            assert not waiter.done()
            sim.advance(19)
            await asyncio.wait_for(waiter, 5)
            assert vm.power == "stopped"
            for begin, expected, seconds in ((compute.virtual_machines.begin_deallocate, "deallocated", 30),
                                             (compute.virtual_machines.begin_start, "running", 6),
                                             (compute.virtual_machines.begin_redeploy, "running", 45)):
                poller = await begin(FLEX_RG, vm.name)
                sim.advance(seconds)
                await asyncio.wait_for(poller.result(), 5)
                assert vm.power == expected
            generation = vm.host_key_generation
            poller = await compute.virtual_machines.begin_reimage(FLEX_RG, vm.name)
            sim.advance(30)
            await asyncio.wait_for(poller.result(), 5)
            assert vm.host_key_generation == generation + 1
            poller = await compute.virtual_machines.begin_restart(FLEX_RG, vm.name)
            sim.advance(1.4)
            await asyncio.wait_for(poller.result(), 5)
            assert vm.power == "starting"  # the guest boots
            sim.advance(8)
            assert vm.power == "running"
    finally:
        await sim.stop()


async def test_batch_delete_update_and_scale_with_vm_names(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, network = clients
    ss = sim.world.get_scale_set(FLEX_RG, SS)
    outdated = next(i for i in ss.sorted_instances() if not i.latest_model)
    await (await compute.virtual_machine_scale_sets.begin_update_instances(
        FLEX_RG, SS, {"instanceIds": [outdated.name]})).result()
    assert outdated.latest_model
    victim = ss.sorted_instances()[0]
    nic_id, os_disk = victim.nic_id, victim.os_disk.name
    await (await compute.virtual_machine_scale_sets.begin_delete_instances(
        FLEX_RG, SS, {"instanceIds": [victim.name]}, force_deletion=False)).result()
    assert (await compute.virtual_machine_scale_sets.get(FLEX_RG, SS)).sku.capacity == 2
    with pytest.raises(ResourceNotFoundError):
        await compute.virtual_machines.get(FLEX_RG, victim.name)
    assert nic_id.lower() not in {n.id.lower() async for n in network.network_interfaces.list(FLEX_RG)}
    assert os_disk not in {d.name async for d in compute.disks.list_by_resource_group(FLEX_RG)}
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machine_scale_sets.begin_delete_instances(FLEX_RG, SS, {"instanceIds": ["nope_00000000"]})
    assert info.value.status_code == 400
    # Scale out: new VMs, NICs and NAT V2 ports; scale in: the newest go.
    await (await compute.virtual_machine_scale_sets.begin_update(FLEX_RG, SS, {"sku": {"capacity": 5}})).result()
    names = [vm.name async for vm in compute.virtual_machines.list(FLEX_RG, filter=flex_filter(sim))]
    assert len(names) == 5
    assert len({n.id async for n in network.network_interfaces.list(FLEX_RG)}) == 6  # and vm-tools' NIC
    newest = [i.name for i in ss.sorted_instances()[-2:]]
    await (await compute.virtual_machine_scale_sets.begin_update(FLEX_RG, SS, {"sku": {"capacity": 3}})).result()
    remaining = {vm.name async for vm in compute.virtual_machines.list(FLEX_RG, filter=flex_filter(sim))}
    assert len(remaining) == 3 and not remaining & set(newest)
    # Deleting one VM directly shrinks the scale set too.
    await (await compute.virtual_machines.begin_delete(FLEX_RG, sorted(remaining)[0])).result()
    assert (await compute.virtual_machine_scale_sets.get(FLEX_RG, SS)).sku.capacity == 2


# ---------------------------------------------------------------------------------------------
# NAT rules V2 on a NIC-based backend pool


async def test_nat_rules_v2_on_the_nic_pool(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, network = clients
    lb = await network.load_balancers.get(FLEX_RG, "lb-flex")
    rule = next(r for r in lb.properties.inbound_nat_rules if r.name == "NatRule")
    assert (rule.properties.frontend_port_range_start, rule.properties.backend_port) == (50000, 22)
    pool = lb.properties.backend_address_pools[0]
    addresses = pool.properties.load_balancer_backend_addresses
    vms = [vm async for vm in compute.virtual_machines.list(FLEX_RG)]
    nic_configs = {}
    for vm in vms:
        nic = await network.network_interfaces.get(FLEX_RG, vm.properties.network_profile.network_interfaces[0].id.rsplit("/", 1)[1])
        nic_configs[nic.properties.ip_configurations[0].id.lower()] = vm.name
    ports = {nic_configs[a.properties.network_interface_ip_configuration.id.lower()]:
             a.properties.inbound_nat_rules_port_mapping[0].frontend_port for a in addresses}
    assert sorted(ports.values()) == [50000, 50001, 50002, 50003]  # three VMs and vm-tools
    first = addresses[0].properties
    result = await (await network.load_balancers.begin_list_inbound_nat_rule_port_mappings(
        FLEX_RG, "lb-flex", "bepool-flex", {"ipConfiguration": {"id": first.network_interface_ip_configuration.id}})).result()
    assert [(m.inbound_nat_rule_name, m.backend_port, m.frontend_port) for m in result.inbound_nat_rule_port_mappings] == [
        ("NatRule", 22, first.inbound_nat_rules_port_mapping[0].frontend_port)]
    # As an operation: 202 + Location, then the same answer.
    sim.port_mapping_async = True
    path = (f"/subscriptions/{sim.subscription_id}/resourceGroups/{FLEX_RG}/providers/Microsoft.Network/loadBalancers/"
            f"lb-flex/backendAddressPools/bepool-flex/queryInboundNatRulePortMapping")
    status, headers, _ = await raw(sim, "POST", path, "2026-03-01", {"ipAddress": first.ip_address})
    assert status == 202 and "/providers/Microsoft.Network/locations/" in headers["Location"]
    assert "Azure-AsyncOperation" not in headers
    result = await (await network.load_balancers.begin_list_inbound_nat_rule_port_mappings(
        FLEX_RG, "lb-flex", "bepool-flex", {"ipAddress": first.ip_address})).result()
    assert result.inbound_nat_rule_port_mappings[0].frontend_port == first.inbound_nat_rules_port_mapping[0].frontend_port
    # A pool that lists no addresses: the client must ask the query.
    sim.backend_addresses_in_pools = False
    lb = await network.load_balancers.get(FLEX_RG, "lb-flex")
    assert lb.properties.backend_address_pools[0].properties.load_balancer_backend_addresses is None
    assert len(lb.properties.backend_address_pools[0].properties.backend_ip_configurations) == 4


async def test_ssh_endpoints_include_flexible_and_standalone_vms(sim: Simulator) -> None:
    flex = [t for t in sim.ssh_endpoints() if t["resource_group"] == FLEX_RG]
    assert len(flex) == 4 and {t["rule"] for t in flex} == {"NatRule"}
    assert sum(t["scale_set"] is None for t in flex) == 1  # vm-tools
    address = sim.world.frontend_addresses(sim.world.load_balancers[
        sim.world.resource_id(FLEX_RG, "Microsoft.Network", "loadBalancers", "lb-flex").lower()])["fe-flex"]
    assert {t["host"] for t in flex} == {address}


async def test_a_thousand_vm_flexible_list_is_one_paged_call_per_fifty() -> None:
    sim = Simulator(large_topology(scale_sets=3, instances=1000, flexible=True), speed=100, ssh=False)
    await sim.start()
    try:
        async with sdk_clients(sim) as (compute, network):
            before = sim.request_count
            vms = [vm async for vm in compute.virtual_machines.list(
                "rg-fleet-a", filter=flex_filter(sim, "vmss-big-000", "rg-fleet-a"), expand="instanceView")]
            assert len(vms) == 1000 and sim.request_count - before == 20
            before = sim.request_count
            nics = [n async for n in network.network_interfaces.list("rg-fleet-a")]
            assert len(nics) >= 1000 and sim.request_count - before == -(-len(nics) // 100)
    finally:
        await sim.stop()
