"""The simulator's ARM surface, exercised by the real async Azure SDK clients over HTTP."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.support.sim_sdk import auth_headers, sdk_clients
from vmss_tui.sim import (
    DURATIONS,
    GUEST_BOOT_AFTER_RESTART,
    ManualClock,
    Simulator,
    default_topology,
    large_topology,
)

WEB = "rg-web-prod"
BATCH = "rg-batch-dev"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(speed=200, ssh=False)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def clients(sim: Simulator) -> AsyncIterator[tuple[Any, Any]]:
    async with sdk_clients(sim) as pair:
        yield pair


async def raw_get(sim: Simulator, path: str, api_version: str = "2026-04-01", **params: str) -> tuple[int, dict[str, Any], Any]:
    async with aiohttp.ClientSession(headers=auth_headers(sim)) as session:
        url = path if path.startswith("http") else sim.endpoint + path
        query = {"api-version": api_version, **params} if "api-version" not in url else params
        async with session.get(url, params=query) as response:
            body = await response.json(content_type=None) if await response.read() else None
            return response.status, dict(response.headers), body


def power(vm: Any) -> str:
    return next(s.code for s in vm.properties.instance_view.statuses if s.code.startswith("PowerState/"))


# ---------------------------------------------------------------------------------------------
# Lists, paging, subscriptions


async def test_subscriptions_list_and_get(sim: Simulator) -> None:
    status, _, body = await raw_get(sim, "/subscriptions", api_version="2022-12-01")
    assert status == 200
    assert [s["subscriptionId"] for s in body["value"]] == [sim.subscription_id]
    status, _, body = await raw_get(sim, f"/subscriptions/{sim.subscription_id}", api_version="2022-12-01")
    assert status == 200 and body["state"] == "Enabled"
    status, _, body = await raw_get(sim, "/subscriptions/00000000-0000-0000-0000-000000000000/providers/"
                                         "Microsoft.Compute/virtualMachineScaleSets")
    assert status == 404 and body["error"]["code"] == "SubscriptionNotFound"


async def test_scale_set_lists(clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    everything = [s async for s in compute.virtual_machine_scale_sets.list_all()]
    assert {s.name for s in everything} == {"vmss-web", "vmss-api", "vmss-batch", "vmss-data", "vmss-internal", "vmss-pending",
                                            "vmss-flex", "vmss-disks"}
    web = [s.name async for s in compute.virtual_machine_scale_sets.list(WEB)]
    assert web == ["vmss-web", "vmss-api"]
    vmss = await compute.virtual_machine_scale_sets.get(WEB, "vmss-web")
    assert vmss.sku.capacity == 6
    assert vmss.properties.upgrade_policy.mode == "Rolling"
    assert vmss.properties.upgrade_policy.rolling_upgrade_policy.max_batch_instance_percent == 34
    assert vmss.properties.virtual_machine_profile.os_profile.admin_username == "azureuser"
    ipconfig = vmss.properties.virtual_machine_profile.network_profile.network_interface_configurations[0].properties.ip_configurations[0]
    assert {p.id.rsplit("/", 1)[1] for p in ipconfig.properties.load_balancer_inbound_nat_pools} == {"natpool-ssh", "natpool-rdp"}


async def test_unknown_resource_group_and_scale_set(clients: tuple[Any, Any]) -> None:
    compute, network = clients
    with pytest.raises(ResourceNotFoundError) as info:
        [s async for s in compute.virtual_machine_scale_sets.list("rg-missing")]
    assert info.value.error.code == "ResourceGroupNotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        await compute.virtual_machine_scale_sets.get(WEB, "vmss-missing")
    assert info.value.error.code == "NotFound"
    assert info.value.error.message == "The entity was not found in this Azure location."
    with pytest.raises(ResourceNotFoundError) as info:
        await compute.virtual_machine_scale_set_vms.get(WEB, "vmss-web", "0")  # deleted after overprovisioning
    assert info.value.error.code == "NotFound"
    with pytest.raises(ResourceNotFoundError) as info:
        await network.load_balancers.get(WEB, "lb-missing")
    assert info.value.error.code == "ResourceNotFound"


async def test_paging_follows_next_link_with_api_version() -> None:
    sim = Simulator(speed=200, ssh=False, page_size=2)
    await sim.start()
    try:
        path = f"/subscriptions/{sim.subscription_id}/resourceGroups/{WEB}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-web/virtualMachines"
        status, _, first = await raw_get(sim, path, **{"$expand": "instanceView"})
        assert status == 200 and len(first["value"]) == 2
        assert "api-version=2026-04-01" in first["nextLink"] and "$skiptoken=" in first["nextLink"]
        assert "$expand=instanceView" in first["nextLink"]
        assert first["nextLink"].startswith(sim.endpoint)
        async with sdk_clients(sim) as (compute, _):
            vms = [vm async for vm in compute.virtual_machine_scale_set_vms.list(WEB, "vmss-web", expand="instanceView")]
            # Instance 0 and 3 were deleted after overprovisioning: ids are not contiguous.
            assert [vm.instance_id for vm in vms] == ["1", "2", "4", "5", "6", "7"]
            assert all(vm.properties.instance_view is not None for vm in vms)
            scale_sets = [s async for s in compute.virtual_machine_scale_sets.list_all()]
            assert len(scale_sets) == 8
        requests = [entry for entry in sim.arm.request_log if "/virtualMachines" in entry[1]]
        assert len(requests) >= 1 + 3  # the raw call plus three pages
    finally:
        await sim.stop()


async def test_instance_list_with_and_without_instance_view(clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    plain = [vm async for vm in compute.virtual_machine_scale_set_vms.list(WEB, "vmss-web")]
    assert all(vm.properties.instance_view is None for vm in plain)
    expanded = {vm.instance_id: vm async for vm in compute.virtual_machine_scale_set_vms.list(WEB, "vmss-web", expand="instanceView")}
    assert power(expanded["5"]) == "PowerState/stopped"
    assert power(expanded["7"]) == "PowerState/deallocated"
    assert power(expanded["1"]) == "PowerState/running"
    assert expanded["2"].properties.latest_model_applied is False
    assert expanded["1"].properties.latest_model_applied is True
    assert expanded["1"].properties.instance_view.vm_health.status.code == "HealthState/healthy"
    assert expanded["1"].properties.os_profile.computer_name == "vmss-web000001"
    assert expanded["2"].properties.storage_profile.image_reference.version == "22.04.202503180"
    view = await compute.virtual_machine_scale_set_vms.get_instance_view(WEB, "vmss-web", "5")
    assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/stopped"]
    summary = await compute.virtual_machine_scale_sets.get_instance_view(WEB, "vmss-web")
    counts = {s.code: s.count for s in summary.virtual_machine.statuses_summary}
    assert counts["PowerState/running"] == 4 and counts["PowerState/stopped"] == 1


# ---------------------------------------------------------------------------------------------
# Long-running operations


async def test_scale_set_power_actions_finish_and_change_state(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    ops = compute.virtual_machine_scale_sets
    poller = await ops.begin_power_off(WEB, "vmss-web", {"instanceIds": ["1", "2"]})
    await poller.result()
    assert sim.instance(WEB, "vmss-web", 1).power == "stopped"
    assert sim.instance(WEB, "vmss-web", 2).power == "stopped"
    await (await ops.begin_deallocate(WEB, "vmss-web", {"instanceIds": ["1"]})).result()
    assert sim.instance(WEB, "vmss-web", 1).power == "deallocated"
    await (await ops.begin_start(WEB, "vmss-web", {"instanceIds": ["1", "2", "5"]})).result()
    assert {sim.instance(WEB, "vmss-web", i).power for i in (1, 2, 5)} == {"running"}
    await (await ops.begin_restart(WEB, "vmss-web", {"instanceIds": ["6"]})).result()
    assert sim.instance(WEB, "vmss-web", 6).power == "starting"  # the guest still boots
    await asyncio.wait_for(sim.settle(), 5)
    assert sim.instance(WEB, "vmss-web", 6).power == "running"
    key_generation = sim.instance(WEB, "vmss-web", 6).host_key_generation
    await (await ops.begin_reimage(WEB, "vmss-web", {"instanceIds": ["6"]})).result()
    assert sim.instance(WEB, "vmss-web", 6).host_key_generation == key_generation + 1
    # No body: the action applies to every instance.
    await (await ops.begin_power_off(BATCH, "vmss-batch")).result()
    assert {i.power for i in sim.world.get_scale_set(BATCH, "vmss-batch").instances.values()} == {"stopped"}


async def test_instance_actions_and_run_command(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    vms = compute.virtual_machine_scale_set_vms
    await (await vms.begin_power_off(WEB, "vmss-api", "1")).result()
    assert sim.instance(WEB, "vmss-api", 1).power == "stopped"
    await (await vms.begin_deallocate(WEB, "vmss-api", "1")).result()
    assert sim.instance(WEB, "vmss-api", 1).power == "deallocated"
    await (await vms.begin_start(WEB, "vmss-api", "1")).result()
    assert sim.instance(WEB, "vmss-api", 1).power == "running"
    await (await vms.begin_restart(WEB, "vmss-api", "1")).result()
    await (await vms.begin_reimage(WEB, "vmss-api", "1")).result()
    assert sim.instance(WEB, "vmss-api", 1).host_key_generation == 1
    result = await (await vms.begin_run_command(
        WEB, "vmss-api", "2", {"commandId": "RunShellScript", "script": ["echo hello from $(hostname)", "echo oops >&2"]})).result()
    # Linux answers one status whose message holds both streams.
    assert [s.code for s in result.value] == ["ProvisioningState/succeeded"]
    assert result.value[0].message == "Enable succeeded: \n[stdout]\nhello from vmss-api000002\n\n[stderr]\noops\n"


async def test_restart_passes_through_starting_in_simulated_time() -> None:
    clock = ManualClock()
    sim = Simulator(clock=clock, ssh=False)
    await sim.start()
    try:
        async with sdk_clients(sim) as (compute, _):
            vms = compute.virtual_machine_scale_set_vms

            async def statuses(instance_id: str) -> list[str]:
                return [s.code for s in (await vms.get_instance_view(WEB, "vmss-web", instance_id)).statuses]

            poller = await vms.begin_restart(WEB, "vmss-web", "1")
            waiter = asyncio.create_task(poller.result())
            await asyncio.sleep(0.1)
            assert not waiter.done()
            # The reboot call: still running (as Azure reports it), the model updating.
            assert await statuses("1") == ["ProvisioningState/updating", "PowerState/running"]
            sim.advance(1.0)
            assert sim.instance(WEB, "vmss-web", 1).power == "running" and not waiter.done()
            sim.advance(0.5)  # the restart operation takes 1.4 simulated seconds ...
            await asyncio.wait_for(waiter, 5)
            assert poller.status() == "Succeeded"
            # ... and ends while the guest still boots: starting for 8 more seconds.
            assert await statuses("1") == ["ProvisioningState/succeeded", "PowerState/starting"]
            sim.advance(GUEST_BOOT_AFTER_RESTART - 0.5)
            assert await statuses("1") == ["ProvisioningState/succeeded", "PowerState/starting"]
            sim.advance(0.5)
            assert await statuses("1") == ["ProvisioningState/succeeded", "PowerState/running"]
            # A power-off during the boot takes over: the boot does not bring it back to running.
            await vms.begin_restart(WEB, "vmss-web", "4")
            sim.advance(1.5)
            assert sim.instance(WEB, "vmss-web", 4).power == "starting"
            poller = await vms.begin_power_off(WEB, "vmss-web", "4")
            sim.advance(GUEST_BOOT_AFTER_RESTART)
            assert sim.instance(WEB, "vmss-web", 4).power == "stopping"
            sim.advance(DURATIONS["powerOff"])
            await asyncio.wait_for(poller.result(), 5)
            assert sim.instance(WEB, "vmss-web", 4).power == "stopped"
            # Start: starting for the whole ~6 s operation, running when it ends.
            poller = await vms.begin_start(WEB, "vmss-web", "5")
            sim.advance(DURATIONS["start"] - 0.5)
            assert await statuses("5") == ["ProvisioningState/updating", "PowerState/starting"]
            sim.advance(0.5)
            await asyncio.wait_for(poller.result(), 5)
            assert await statuses("5") == ["ProvisioningState/succeeded", "PowerState/running"]
            # Power off: stopping for ~19 s.
            poller = await vms.begin_power_off(WEB, "vmss-web", "2")
            sim.advance(10)
            assert sim.instance(WEB, "vmss-web", 2).power == "stopping"
            sim.advance(10)
            await asyncio.wait_for(poller.result(), 5)
            assert sim.instance(WEB, "vmss-web", 2).power == "stopped"
    finally:
        await sim.stop()


async def test_lro_wire_format(sim: Simulator) -> None:
    async with aiohttp.ClientSession(headers=auth_headers(sim)) as session:
        url = (f"{sim.endpoint}/subscriptions/{sim.subscription_id}/resourceGroups/{WEB}/providers/Microsoft.Compute/"
               f"virtualMachineScaleSets/vmss-web/virtualMachines/1/powerOff?api-version=2026-04-01")
        async with session.post(url) as response:
            assert response.status == 202
            assert await response.read() == b""
            async_op = response.headers["Azure-AsyncOperation"]
            location = response.headers["Location"]
        assert "/providers/Microsoft.Compute/locations/westeurope/operations/" in async_op
        assert "monitor=true" in location and "api-version=2026-04-01" in location
        async with session.get(async_op) as response:
            body = await response.json()
            assert body["status"] == "InProgress" and "startTime" in body and "endTime" not in body
        async with session.get(location) as response:
            assert response.status == 202
        await sim.settle()
        async with session.get(async_op) as response:
            body = await response.json()
            assert body["status"] == "Succeeded" and "endTime" in body
        async with session.get(location) as response:
            assert response.status == 200


async def test_delete_instances_reduces_capacity(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, network = clients
    await (await compute.virtual_machine_scale_sets.begin_delete_instances(WEB, "vmss-web", {"instanceIds": ["4", "6"]})).result()
    ids = [vm.instance_id async for vm in compute.virtual_machine_scale_set_vms.list(WEB, "vmss-web")]
    assert ids == ["1", "2", "5", "7"]
    assert (await compute.virtual_machine_scale_sets.get(WEB, "vmss-web")).sku.capacity == 4
    rules = [r.name async for r in network.inbound_nat_rules.list(WEB, "lb-web")]
    assert "natpool-ssh.4" not in rules and "natpool-ssh.6" not in rules and "natpool-ssh.1" in rules


async def test_bad_instance_id_and_missing_ids_are_400(clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machine_scale_sets.begin_restart(WEB, "vmss-web", {"instanceIds": ["99"]})
    assert info.value.status_code == 400 and info.value.error.code == "InvalidParameter"
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machine_scale_sets.begin_update_instances(WEB, "vmss-web", {"instanceIds": []})
    assert info.value.status_code == 400


async def test_restart_of_deallocated_instance_is_409(clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machine_scale_set_vms.begin_restart(WEB, "vmss-web", "7")
    assert info.value.status_code == 409 and info.value.error.code == "OperationNotAllowed"


# ---------------------------------------------------------------------------------------------
# Model changes and upgrades


def _image_patch(version: str) -> dict[str, Any]:
    return {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": version}}}}}


async def test_manual_mode_waits_for_manual_upgrade(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    result = await (await compute.virtual_machine_scale_sets.begin_update(BATCH, "vmss-batch", _image_patch("22.04.209901010"))).result()
    assert result.properties.virtual_machine_profile.storage_profile.image_reference.version == "22.04.209901010"
    vms = [vm async for vm in compute.virtual_machine_scale_set_vms.list(BATCH, "vmss-batch")]
    assert [vm.properties.latest_model_applied for vm in vms] == [False, False, False]
    await (await compute.virtual_machine_scale_sets.begin_update_instances(BATCH, "vmss-batch", {"instanceIds": ["0", "2"]})).result()
    vms = {vm.instance_id: vm async for vm in compute.virtual_machine_scale_set_vms.list(BATCH, "vmss-batch")}
    assert vms["0"].properties.latest_model_applied and vms["2"].properties.latest_model_applied
    assert not vms["1"].properties.latest_model_applied
    assert vms["0"].properties.storage_profile.image_reference.version == "22.04.209901010"


async def test_automatic_mode_upgrades_everything(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    poller = await compute.virtual_machine_scale_sets.begin_update(BATCH, "vmss-data", _image_patch("22.04.209901010"))
    await poller.result()
    vms = [vm async for vm in compute.virtual_machine_scale_set_vms.list(BATCH, "vmss-data")]
    assert all(vm.properties.latest_model_applied for vm in vms)
    assert (await compute.virtual_machine_scale_sets.get(BATCH, "vmss-data")).properties.provisioning_state == "Succeeded"


# ---------------------------------------------------------------------------------------------
# Scaling and NAT ports


async def _ssh_ports(network: Any, rg: str, lb: str, pool: str) -> dict[str, int]:
    return {r.name.split(".")[1]: r.properties.frontend_port async for r in network.inbound_nat_rules.list(rg, lb)
            if r.name.startswith(pool + ".")}


async def test_scale_out_and_in_use_lowest_free_ports(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, network = clients
    before = await _ssh_ports(network, WEB, "lb-web", "natpool-ssh")
    # Overprovisioning left gaps: instance 6 got 50000 (freed by instance 0), 7 got 50003.
    assert before == {"1": 50001, "2": 50002, "4": 50004, "5": 50005, "6": 50000, "7": 50003}
    response = await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-web", {"sku": {"capacity": 8}})
    result = await response.result()
    assert result.sku.capacity == 8
    after_out = await _ssh_ports(network, WEB, "lb-web", "natpool-ssh")
    assert after_out["8"] == 50006 and after_out["9"] == 50007
    vms = {vm.instance_id: vm async for vm in compute.virtual_machine_scale_set_vms.list(WEB, "vmss-web", expand="instanceView")}
    assert power(vms["8"]) == "PowerState/running" and vms["8"].properties.provisioning_state == "Succeeded"
    await (await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-web", {"sku": {"capacity": 5}})).result()
    after_in = await _ssh_ports(network, WEB, "lb-web", "natpool-ssh")
    assert sorted(after_in, key=int) == ["1", "2", "4", "5", "6"]  # highest ids removed first
    await (await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-web", {"sku": {"capacity": 6}})).result()
    final = await _ssh_ports(network, WEB, "lb-web", "natpool-ssh")
    assert final["10"] == 50003  # lowest free port, not start + id
    nic = await network.network_interfaces.get_virtual_machine_scale_set_network_interface(WEB, "vmss-web", "10", "vmss-web-nic")
    rule_ids = [r.id for r in nic.properties.ip_configurations[0].properties.load_balancer_inbound_nat_rules]
    assert any(rid.endswith("/inboundNatRules/natpool-ssh.10") for rid in rule_ids)


async def test_scale_set_patch_answers_200_updating_with_async_header(sim: Simulator) -> None:
    async with aiohttp.ClientSession(headers=auth_headers(sim)) as session:
        url = (f"{sim.endpoint}/subscriptions/{sim.subscription_id}/resourceGroups/{WEB}/providers/Microsoft.Compute/"
               f"virtualMachineScaleSets/vmss-api?api-version=2026-04-01")
        async with session.patch(url, json={"sku": {"capacity": 4}}) as response:
            assert response.status == 200
            body = await response.json()
            assert body["properties"]["provisioningState"] == "Updating"
            assert body["sku"]["capacity"] == 4
            assert "Azure-AsyncOperation" in response.headers and "Location" not in response.headers


async def test_capacity_out_of_range_is_400(clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-web", {"sku": {"capacity": -1}})
    assert info.value.status_code == 400 and info.value.error.code == "InvalidParameter"


async def test_nat_rules_v2_port_mappings(clients: tuple[Any, Any]) -> None:
    _, network = clients
    lb = await network.load_balancers.get(BATCH, "lb-batch")
    pool = lb.properties.backend_address_pools[0]
    addresses = pool.properties.load_balancer_backend_addresses
    assert len(addresses) == 3
    first = addresses[0].properties
    # The non-SSH rule is listed first: a client must choose by backend port.
    assert [m.inbound_nat_rule_name for m in first.inbound_nat_rules_port_mapping] == ["nat-http-alt", "nat-ssh"]
    assert [m.backend_port for m in first.inbound_nat_rules_port_mapping] == [8080, 22]
    v2 = {r.name: r for r in lb.properties.inbound_nat_rules}
    assert v2["nat-ssh"].properties.frontend_port_range_start == 61000
    assert v2["nat-ssh"].properties.backend_address_pool.id == pool.id
    poller = await network.load_balancers.begin_list_inbound_nat_rule_port_mappings(
        BATCH, "lb-batch", "bepool-batch", {"ipAddress": first.ip_address})
    result = await poller.result()
    by_port = {m.backend_port: m.frontend_port for m in result.inbound_nat_rule_port_mappings}
    assert by_port == {8080: 60000, 22: 61000}
    with pytest.raises(HttpResponseError) as info:
        await network.load_balancers.begin_list_inbound_nat_rule_port_mappings(
            BATCH, "lb-batch", "bepool-batch", {"ipAddress": "10.99.0.1"})
    assert info.value.status_code == 400


# ---------------------------------------------------------------------------------------------
# Network resources


async def test_network_resources_of_the_default_topology(sim: Simulator, clients: tuple[Any, Any]) -> None:
    _, network = clients
    nics = [n async for n in network.network_interfaces.list_virtual_machine_scale_set_network_interfaces(WEB, "vmss-web")]
    assert len(nics) == 6
    one = [n async for n in network.network_interfaces.list_virtual_machine_scale_set_vm_network_interfaces(WEB, "vmss-web", "4")]
    assert len(one) == 1
    ipcfg = one[0].properties.ip_configurations[0].properties
    assert ipcfg.private_ip_address.startswith("10.1.0.")
    assert ipcfg.load_balancer_backend_address_pools[0].id.endswith("/backendAddressPools/bepool-web")
    assert {r.id.rsplit("/", 1)[1] for r in ipcfg.load_balancer_inbound_nat_rules} == {"natpool-ssh.4", "natpool-rdp.4"}
    assert one[0].properties.network_security_group.id.endswith("/networkSecurityGroups/nsg-web")
    rule = await network.inbound_nat_rules.get(WEB, "lb-web", "natpool-ssh.4")
    assert rule.properties.backend_ip_configuration.id == one[0].properties.ip_configurations[0].id
    assert rule.properties.frontend_ip_configuration.id.endswith("/frontendIPConfigurations/fe-web")
    pip = await network.public_ip_addresses.get(WEB, "pip-lb-web")
    assert pip.properties.ip_address.startswith(sim.public_ip_prefix + ".")
    pending = await network.public_ip_addresses.get(BATCH, "pip-lb-pending")
    assert pending.properties.ip_address is None
    internal = await network.load_balancers.get(BATCH, "lb-internal")
    frontend = internal.properties.frontend_ip_configurations[0].properties
    assert frontend.private_ip_address == "10.2.1.100" and frontend.public_ip_address is None
    nsg = await network.network_security_groups.get(WEB, "nsg-web")
    assert nsg.properties.security_rules[0].properties.source_address_prefix == "*"
    assert nsg.properties.security_rules[0].properties.destination_port_range == "22"
    assert {r.name for r in nsg.properties.default_security_rules} >= {"DenyAllInBound", "AllowVnetInBound"}
    subnet = await network.subnets.get(BATCH, "vnet-batch", "snet-batch")
    assert subnet.properties.network_security_group.id.endswith("/networkSecurityGroups/nsg-snet-batch")
    vmss_pips = [p async for p in network.public_ip_addresses.list_virtual_machine_scale_set_public_ip_addresses(WEB, "vmss-web")]
    assert vmss_pips == []
    all_lbs = [lb.name async for lb in network.load_balancers.list_all()]
    assert set(all_lbs) == {"lb-web", "lb-batch", "lb-internal", "lb-pending", "lb-flex", "lb-disks"}
    # Two scale sets share lb-web, each with its own pool.
    lb = await network.load_balancers.get(WEB, "lb-web")
    assert {p.name for p in lb.properties.inbound_nat_pools} == {"natpool-ssh", "natpool-rdp", "natpool-api-ssh"}
    api_rules = [r.name for r in lb.properties.inbound_nat_rules if r.name.startswith("natpool-api-ssh.")]
    assert api_rules == ["natpool-api-ssh.0", "natpool-api-ssh.1", "natpool-api-ssh.2"]


async def test_managed_disks(clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    vm = await compute.virtual_machine_scale_set_vms.get(BATCH, "vmss-data", "0")
    data = vm.properties.storage_profile.data_disks
    assert [(d.lun, d.disk_size_gb, d.managed_disk.storage_account_type) for d in data] == [
        (0, 128, "Premium_LRS"), (1, 512, "StandardSSD_LRS")]
    disks = {d.name: d async for d in compute.disks.list_by_resource_group(BATCH)}
    disk = await compute.disks.get(BATCH, data[1].name)
    assert disk.properties.disk_size_gb == 512 and disk.sku.name == "StandardSSD_LRS"
    assert disk.managed_by == vm.id
    assert data[0].name in disks


# ---------------------------------------------------------------------------------------------
# Knobs: throttling, faults, forbidden, auth, latency


async def test_throttling_answers_429_with_retry_after() -> None:
    sim = Simulator(speed=100, ssh=False, throttle_after=3, throttle_window=30)
    await sim.start()
    try:
        status, headers, _ = await raw_get(
            sim, f"/subscriptions/{sim.subscription_id}/resourceGroups/{WEB}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-web")
        assert status == 200
        first_reads = int(headers["x-ms-ratelimit-remaining-subscription-reads"])
        assert headers["x-ms-ratelimit-remaining-resource"].startswith("Microsoft.Compute/GetVMScaleSet3Min;")
        async with sdk_clients(sim, retry_total=0) as (compute, _):
            await compute.virtual_machine_scale_sets.get(WEB, "vmss-web")
            await compute.virtual_machine_scale_sets.get(WEB, "vmss-api")
            with pytest.raises(HttpResponseError) as info:
                await compute.virtual_machine_scale_sets.get(WEB, "vmss-web")
        error = info.value
        assert error.status_code == 429
        retry_after = int(error.response.headers["Retry-After"])
        assert 1 <= retry_after <= 30
        body = json.loads(error.response.text())
        assert body["error"]["code"] == "OperationNotAllowed"
        assert body["error"]["details"][0]["code"] == "TooManyRequests"
        assert int(error.response.headers["x-ms-ratelimit-remaining-subscription-reads"]) < first_reads
    finally:
        await sim.stop()


async def test_injected_request_fault_and_action_fault(sim: Simulator) -> None:
    sim.add_fault(r"/virtualmachinescalesets/vmss-api$", 503, method="GET", count=1)
    async with sdk_clients(sim, retry_total=0) as (compute, _):
        with pytest.raises(HttpResponseError) as info:
            await compute.virtual_machine_scale_sets.get(WEB, "vmss-api")
        assert info.value.status_code == 503
        assert (await compute.virtual_machine_scale_sets.get(WEB, "vmss-api")).name == "vmss-api"  # count=1: once
        sim.fail_action("start", "AllocationFailed", "Allocation failed. We do not have sufficient capacity.")
        poller = await compute.virtual_machine_scale_set_vms.begin_start(WEB, "vmss-web", "5")
        with pytest.raises(HttpResponseError) as info:
            await poller.result()
        assert "AllocationFailed" in str(info.value)
        view = await compute.virtual_machine_scale_set_vms.get_instance_view(WEB, "vmss-web", "5")
        codes = [s.code for s in view.statuses]
        assert codes == ["ProvisioningState/failed/AllocationFailed", "PowerState/stopped"]
        assert view.statuses[0].level == "Error"
        # The fault was used up: the next start succeeds.
        await (await compute.virtual_machine_scale_set_vms.begin_start(WEB, "vmss-web", "5")).result()
        assert sim.instance(WEB, "vmss-web", 5).power == "running"


async def test_forbidden_resource_is_403(sim: Simulator, clients: tuple[Any, Any]) -> None:
    _, network = clients
    nsg = await network.network_security_groups.get(BATCH, "nsg-snet-batch")
    sim.forbidden.add(nsg.id)
    with pytest.raises(HttpResponseError) as info:
        await network.network_security_groups.get(BATCH, "nsg-snet-batch")
    assert info.value.status_code == 403 and info.value.error.code == "AuthorizationFailed"
    await network.network_security_groups.get(BATCH, "nsg-batch")  # others still readable


async def test_missing_authorization_is_401(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{sim.endpoint}/subscriptions?api-version=2022-12-01") as response:
            assert response.status == 401
            assert (await response.json())["error"]["code"] == "AuthenticationFailed"


async def test_only_the_simulators_own_token_is_accepted() -> None:
    sim = Simulator(speed=100, ssh=False, bearer_token="the-one-token-of-this-simulator-0123456789abcdef")
    other = Simulator(speed=100, ssh=False, bearer_token="another-simulators-token-0123456789abcdef")
    await sim.start()
    try:
        url = f"{sim.endpoint}/subscriptions?api-version=2022-12-01"
        async with aiohttp.ClientSession() as session:
            for header in (f"Bearer {other.bearer_token}", "Bearer vmss-tui-local-simulator", f"Bearer {sim.bearer_token}x"):
                async with session.get(url, headers={"Authorization": header}) as response:
                    assert response.status == 401
                    assert await response.json() == {"error": {"code": "InvalidAuthenticationToken",
                                                               "message": "The access token is invalid."}}
                    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
            async with session.get(url, headers={"Authorization": f"Basic {sim.bearer_token}"}) as response:
                assert response.status == 401 and (await response.json())["error"]["code"] == "AuthenticationFailed"
            async with session.get(url, headers=auth_headers(sim)) as response:
                assert response.status == 200
        async with sdk_clients(sim) as (compute, _):
            assert len([s async for s in compute.virtual_machine_scale_sets.list_all()]) == 8
    finally:
        await sim.stop()


async def test_latency_and_counters(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    before_requests, before_writes = sim.request_count, sim.write_count
    await compute.virtual_machine_scale_sets.get(WEB, "vmss-web")
    assert sim.request_count == before_requests + 1 and sim.write_count == before_writes
    sim.latency = 0.2
    started = time.monotonic()
    await compute.virtual_machine_scale_sets.get(WEB, "vmss-web")
    assert time.monotonic() - started >= 0.2
    sim.latency = 0
    await (await compute.virtual_machine_scale_set_vms.begin_restart(WEB, "vmss-web", "1")).result()
    assert sim.write_count == before_writes + 1


def test_start_in_thread_serves_other_loops() -> None:
    sim = Simulator(speed=100, ssh=False).start_in_thread()
    try:
        request = urllib.request.Request(f"{sim.endpoint}/subscriptions?api-version=2022-12-01",
                                         headers=auth_headers(sim))
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["value"][0]["subscriptionId"] == sim.subscription_id

        async def use_sdk() -> list[str]:
            async with sdk_clients(sim) as (compute, _):
                return [s.name async for s in compute.virtual_machine_scale_sets.list_all()]

        assert len(asyncio.run(use_sdk())) == 8
    finally:
        sim.stop_thread()
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{sim.endpoint}/subscriptions?api-version=1", timeout=2)


def test_each_simulator_makes_a_fresh_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.undo()  # the suite gives its simulators one shared token (tests/conftest.py); not here
    first, second = Simulator(ssh=False), Simulator(ssh=False)
    assert first.bearer_token != second.bearer_token and len(first.bearer_token) >= 40


def test_two_simulators_get_distinct_public_prefixes() -> None:
    prefixes = {Simulator(ssh=False).public_ip_prefix for _ in range(5)}
    assert len(prefixes) >= 2
    assert all(p.startswith("127.") for p in prefixes)


async def test_large_topology_pages_a_thousand_instances() -> None:
    sim = Simulator(large_topology(scale_sets=50, instances=1000), speed=100, ssh=False)
    await sim.start()
    try:
        async with sdk_clients(sim) as (compute, network):
            scale_sets = [s async for s in compute.virtual_machine_scale_sets.list_all()]
            assert len(scale_sets) == 50
            before = sim.request_count
            vms = [vm async for vm in compute.virtual_machine_scale_set_vms.list("rg-fleet-a", "vmss-big-000", expand="instanceView")]
            assert len(vms) == 1000
            assert sim.request_count - before == 10  # pages of 100
            ports = {r.properties.frontend_port async for r in network.inbound_nat_rules.list("rg-fleet-a", "lb-fleet")}
            assert len(ports) == 1000
    finally:
        await sim.stop()


async def generated_ids(seed: int | None) -> list[str]:
    """Every kind of id a simulator makes, in one run of a fixed sequence of requests."""
    sim = Simulator(speed=200, ssh=False, seed=seed)
    await sim.start()
    try:
        async with sdk_clients(sim) as (compute, network):
            vms = [vm async for vm in compute.virtual_machine_scale_set_vms.list(WEB, "vmss-web")]
            scale_set = await compute.virtual_machine_scale_sets.get(WEB, "vmss-web")
            lb = await network.load_balancers.get(WEB, "lb-web")
        _, headers, _ = await raw_get(sim, f"/subscriptions/{sim.subscription_id}/resourceGroups/{WEB}")
        async with aiohttp.ClientSession(headers=auth_headers(sim)) as session:
            url = (f"{sim.endpoint}/subscriptions/{sim.subscription_id}/resourceGroups/{WEB}/providers/"
                   f"Microsoft.Compute/virtualMachineScaleSets/vmss-web/virtualMachines/1/restart?api-version=2026-04-01")
            async with session.post(url) as response:
                operation = response.headers["Azure-AsyncOperation"].split("?")[0].rsplit("/", 1)[-1]
        return [
            *(vm.properties.vm_id for vm in vms),
            *(vm.properties.storage_profile.os_disk.name for vm in vms),
            scale_set.properties.unique_id,
            lb.properties.resource_guid,
            headers["x-ms-request-id"],
            operation,
        ]
    finally:
        await sim.stop()


async def test_seed_makes_generated_ids_repeatable() -> None:
    first, again, other = await generated_ids(7), await generated_ids(7), await generated_ids(8)
    assert first == again
    assert len(first) == len(set(first)) == 16  # 6 vmIds, 6 disk names, uniqueId, resourceGuid, request, operation
    assert not set(first) & set(other)
    unseeded = await generated_ids(None), await generated_ids(None)
    assert not set(unseeded[0]) & set(unseeded[1]) and not set(unseeded[0]) & set(first)


def test_default_topology_is_fresh_each_call() -> None:
    first, second = default_topology(), default_topology()
    first.scale_sets[0].capacity = 99
    assert second.scale_sets[0].capacity != 99


async def test_vm_delete_reimage_all_and_failed_update(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    await (await compute.virtual_machine_scale_set_vms.begin_delete(WEB, "vmss-api", "0")).result()
    assert (await compute.virtual_machine_scale_sets.get(WEB, "vmss-api")).sku.capacity == 2
    with pytest.raises(ResourceNotFoundError):
        await compute.virtual_machine_scale_set_vms.get(WEB, "vmss-api", "0")
    await (await compute.virtual_machine_scale_sets.begin_reimage_all(WEB, "vmss-api", {"instanceIds": ["1"]})).result()
    assert sim.instance(WEB, "vmss-api", 1).host_key_generation == 1
    sim.fail_action("update", "QuotaExceeded", "Operation could not be completed as it results in exceeding quota.")
    poller = await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-api", {"sku": {"capacity": 3}})
    with pytest.raises(HttpResponseError) as info:
        await poller.result()
    assert "QuotaExceeded" in str(info.value)
    vmss = await compute.virtual_machine_scale_sets.get(WEB, "vmss-api")
    assert vmss.properties.provisioning_state == "Failed"
