"""Flexible scale sets through the Fleet: the real async SDK against the simulator.

The topology puts a Flexible scale set (behind a Standard load balancer with a NAT rule V2 on a
NIC-based pool), a Uniform one and a VM of no scale set in one resource group, so that every
read has to tell them apart.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.support.flexible import RG, VM_NAME, flexible_topology
from vmss_tui.azure.errors import ReadOnlyError
from vmss_tui.azure.fleet import VM_ACTION_CONCURRENCY, Fleet
from vmss_tui.domain.models import KIND_RULE_V2, ScaleSet
from vmss_tui.domain.network import private_ips
from vmss_tui.sim import ManualClock


async def flexible(fleet: Fleet) -> ScaleSet:
    scale_set = await fleet.get_scale_set(RG, "vmss-flex")
    assert scale_set.is_flexible
    return scale_set


async def wait_for(condition: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def wait_until(condition: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def requests_since(sim: Any, start: int) -> list[tuple[str, str, int]]:
    return list(sim.arm.request_log[start:])


@pytest.fixture
async def flex_sim(start_simulator) -> Any:
    return await start_simulator(topology=flexible_topology(), ssh=False)


@pytest.fixture
async def flex_fleet(flex_sim, open_fleet) -> Fleet:
    return await open_fleet(flex_sim)


# ---------------------------------------------------------------- reads


async def test_instances_are_the_vms_of_the_scale_set_in_one_paged_call(flex_sim, flex_fleet: Fleet) -> None:
    scale_set = await flexible(flex_fleet)
    start = len(flex_sim.arm.request_log)
    instances = await flex_fleet.list_instances(scale_set)
    ((method, path, status),) = requests_since(flex_sim, start)  # one request, all power states in it
    assert (method, status) == ("GET", 200)
    assert "/resourceGroups/rg-flex/providers/Microsoft.Compute/virtualMachines?" in path
    assert "$expand=instanceView" in path and "virtualMachineScaleSet/id" in path
    assert len(instances) == 3 and all(VM_NAME.match(i.instance_id) for i in instances)
    assert all(i.name == i.instance_id and i.orchestration_mode == "Flexible" for i in instances)
    assert all(i.latest_model is None for i in instances)  # ARM does not say: unknown, never a guess
    assert all(i.scale_set == "vmss-flex" and i.resource_group == "rg-flex" for i in instances)
    assert all(i.computer_name and i.computer_name != i.instance_id for i in instances)
    assert sorted(i.power_state for i in instances) == ["running", "running", "stopped"]
    assert all(i.provisioning_state == "Succeeded" for i in instances)
    assert all(i.zone in ("1", "2", "3") and i.fault_domain is not None for i in instances)
    assert all(i.os_disk is not None and i.nic_ids for i in instances)
    assert "vm-loner" not in {i.name for i in instances}  # a VM of no scale set is no instance


async def test_paging_follows_next_links_escaped_or_not(start_simulator, open_fleet) -> None:
    sim = await start_simulator(topology=flexible_topology(capacity=5), ssh=False, vm_page_size=2)
    fleet = await open_fleet(sim)
    scale_set = await flexible(fleet)
    before = fleet.arm_calls
    paged = await fleet.list_instances(scale_set)
    assert len(paged) == 5 and fleet.arm_calls - before == 3
    sim.unescaped_next_link_filter = True  # as the service has sent them (azure-rest-api-specs #25640)
    start = len(sim.arm.request_log)
    assert await fleet.list_instances(scale_set) == paged
    statuses = [status for _, _, status in requests_since(sim, start)]
    assert statuses == [200, 200, 200]


async def test_nics_come_from_one_list_per_resource_group(flex_sim, flex_fleet: Fleet) -> None:
    scale_set = await flexible(flex_fleet)
    instances = await flex_fleet.list_instances(scale_set)
    start = len(flex_sim.arm.request_log)
    nics = await flex_fleet.list_instance_nics(scale_set)  # the VMs just listed say which NICs are theirs
    ((_, path, _),) = requests_since(flex_sim, start)
    assert "/resourceGroups/rg-flex/providers/Microsoft.Network/networkInterfaces?" in path
    assert sorted(n.instance_id for n in nics) == sorted(i.instance_id for i in instances)
    ips = private_ips(nics)
    assert set(ips) == {i.instance_id for i in instances}
    assert all(ip.startswith("10.5.0.") for ip in ips.values()) and len(set(ips.values())) == 3
    # A fresh session that has not listed the instances reads them first: two paged calls.
    other = await Fleet.open(flex_fleet.settings)
    try:
        assert await other.list_instance_nics(scale_set) == nics and other.arm_calls == 2
    finally:
        await other.close()


async def test_nat_rule_v2_on_a_nic_based_pool(flex_sim, flex_fleet: Fleet) -> None:
    scale_set = await flexible(flex_fleet)
    instances = await flex_fleet.list_instances(scale_set)
    resolution = await flex_fleet.nat_mappings_for(scale_set)
    assert {m.instance_id for m in resolution.mappings} == {i.instance_id for i in instances}
    assert all((m.kind, m.rule, m.backend_port) == (KIND_RULE_V2, "NatRule", 22) for m in resolution.mappings)
    ports = sorted(m.frontend_port for m in resolution.mappings)
    assert len(set(ports)) == 3 and all(50000 <= p <= 50099 for p in ports)
    assert all(m.frontend_ip and m.frontend_ip.startswith(flex_sim.public_ip_prefix) for m in resolution.mappings)
    assert all(m.nsg is not None and m.nsg.allowed and m.nsg.open_to_any for m in resolution.mappings)


@pytest.mark.parametrize("answer", ["200", "202 then Location"])
async def test_port_mappings_the_pool_does_not_list_are_queried(start_simulator, open_fleet, answer: str) -> None:
    sim = await start_simulator(topology=flexible_topology(), ssh=False)
    sim.backend_addresses_in_pools = False  # the pool names its members only as backendIPConfigurations
    sim.port_mapping_async = answer != "200"  # the query is an LRO: either answer is Azure's
    fleet = await open_fleet(sim)
    scale_set = await flexible(fleet)
    instances = await fleet.list_instances(scale_set)
    start = len(sim.arm.request_log)
    resolution = await fleet.nat_mappings_for(scale_set)
    queries = [p for m, p, _ in requests_since(sim, start) if m == "POST" and "queryInboundNatRulePortMapping" in p]
    assert len(queries) == len(instances)  # one per member, only where the pool said nothing
    assert {m.instance_id for m in resolution.mappings} == {i.instance_id for i in instances}
    assert len({m.frontend_port for m in resolution.mappings}) == 3
    # The answers are kept while the pool's rules are unchanged: a refresh asks again for none.
    start = len(sim.arm.request_log)
    assert (await fleet.nat_mappings_for(scale_set)).mappings == resolution.mappings
    assert not [p for m, p, _ in requests_since(sim, start) if "queryInboundNatRulePortMapping" in p]


async def test_uniform_and_flexible_side_by_side(flex_sim, flex_fleet: Fleet) -> None:
    scale_sets = await flex_fleet.list_scale_sets(RG)
    assert [(s.name, s.orchestration_mode) for s in scale_sets] == [("vmss-flex", "Flexible"), ("vmss-uniform", "Uniform")]
    listed = await flex_fleet.list_instances_many(scale_sets)
    flex_ids = [i.instance_id for i in listed[scale_sets[0].id]]  # type: ignore[union-attr]
    uniform_ids = [i.instance_id for i in listed[scale_sets[1].id]]  # type: ignore[union-attr]
    assert all(VM_NAME.match(i) for i in flex_ids) and uniform_ids == ["0", "1"]
    nics = await flex_fleet.list_instance_nics_many(scale_sets)
    assert {n.instance_id for n in nics[scale_sets[0].id]} == set(flex_ids)  # type: ignore[union-attr]
    assert {n.instance_id for n in nics[scale_sets[1].id]} == set(uniform_ids)  # type: ignore[union-attr]


# ---------------------------------------------------------------- actions


@pytest.mark.parametrize(("action", "expected_power"), [("power_off", "stopped"), ("deallocate", "deallocated"),
                                                         ("restart", "running"), ("reimage", "running")])
async def test_power_actions_go_to_each_vm(flex_sim, flex_fleet: Fleet, action: str, expected_power: str) -> None:
    scale_set = await flexible(flex_fleet)
    running = [i.instance_id for i in await flex_fleet.list_instances(scale_set) if i.power_state == "running"]
    start = len(flex_sim.arm.request_log)
    seen: list[str] = []
    result = await flex_fleet.run_instance_action(scale_set, action, running, on_progress=seen.append)
    assert result.status == "Succeeded" and result.failures == ()
    assert seen[0] == "InProgress" and seen[-1] == "Succeeded"
    verb = {"power_off": "powerOff"}.get(action, action)
    posts = sorted(p.split("?")[0] for m, p, _ in requests_since(flex_sim, start) if m == "POST")
    assert posts == sorted(
        f"/subscriptions/{flex_sim.subscription_id}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/{vm}/{verb}"
        for vm in running
    )

    async def all_there() -> bool:  # a restarted guest says "starting" while it boots, as in Azure
        after = {i.instance_id: i.power_state for i in await flex_fleet.list_instances(scale_set)}
        return all(after[vm] == expected_power for vm in running)

    await wait_until(all_there)


async def test_start_brings_the_stopped_vm_up(flex_sim, flex_fleet: Fleet) -> None:
    scale_set = await flexible(flex_fleet)
    stopped = [i.instance_id for i in await flex_fleet.list_instances(scale_set) if i.power_state == "stopped"]
    assert (await flex_fleet.run_instance_action(scale_set, "start", stopped)).status == "Succeeded"

    async def all_running() -> bool:
        return {i.power_state for i in await flex_fleet.list_instances(scale_set)} == {"running"}

    await wait_until(all_running)


async def test_one_failed_vm_is_named_and_the_others_still_run(flex_sim, flex_fleet: Fleet) -> None:
    scale_set = await flexible(flex_fleet)
    vms = [i.instance_id for i in await flex_fleet.list_instances(scale_set) if i.power_state == "running"]
    flex_sim.fail_action("restart", "VMRestartTimedOut", "The VM did not restart in time.", instance_ids=[vms[0]])
    result = await flex_fleet.run_instance_action(scale_set, "restart", vms)
    assert result.status == "Failed"
    (failure,) = result.failures
    assert (failure.instance_id, failure.error_code) == (vms[0], "VMRestartTimedOut")
    assert result.error_message is not None
    assert result.error_message.startswith(f"1 of {len(vms)} VMs failed: {vms[0]}: VMRestartTimedOut")

    async def others_running() -> bool:
        after = {i.instance_id: i.power_state for i in await flex_fleet.list_instances(scale_set)}
        return all(after[vm] == "running" for vm in vms[1:])

    await wait_until(others_running)


async def test_delete_goes_through_the_scale_sets_batch_delete_without_force(flex_sim, flex_fleet: Fleet) -> None:
    scale_set = await flexible(flex_fleet)
    vms = [i.instance_id for i in await flex_fleet.list_instances(scale_set)]
    start = len(flex_sim.arm.request_log)
    assert (await flex_fleet.run_instance_action(scale_set, "delete", vms[:2])).status == "Succeeded"
    (post,) = [p for m, p, _ in requests_since(flex_sim, start) if m == "POST"]
    assert post.split("?")[0].endswith("/virtualMachineScaleSets/vmss-flex/delete")
    assert "forceDeletion=false" in post
    assert [i.instance_id for i in await flex_fleet.list_instances(scale_set)] == vms[2:]
    assert {n.instance_id for n in await flex_fleet.list_instance_nics(scale_set)} <= set(vms[2:])


async def test_update_to_the_latest_model_takes_vm_names(flex_sim, flex_fleet: Fleet) -> None:
    scale_set = await flexible(flex_fleet)
    vms = [i.instance_id for i in await flex_fleet.list_instances(scale_set)]
    start = len(flex_sim.arm.request_log)
    assert (await flex_fleet.run_instance_action(scale_set, "update", vms[:1])).status == "Succeeded"
    (post,) = [p for m, p, _ in requests_since(flex_sim, start) if m == "POST"]
    assert post.split("?")[0].endswith("/virtualMachineScaleSets/vmss-flex/manualupgrade")


async def test_start_all_and_stop_all_reach_every_vm(flex_sim, flex_fleet: Fleet) -> None:
    scale_set = await flexible(flex_fleet)
    assert (await flex_fleet.power_off_all(scale_set)).status == "Succeeded"
    assert {i.power_state for i in await flex_fleet.list_instances(scale_set)} == {"stopped"}
    assert (await flex_fleet.start_all(scale_set)).status == "Succeeded"

    async def all_running() -> bool:
        return {i.power_state for i in await flex_fleet.list_instances(scale_set)} == {"running"}

    await wait_until(all_running)
    loner = [p for _, p, _ in flex_sim.arm.request_log if "/virtualMachines/vm-loner/" in p]
    assert loner == []  # the VM of no scale set was never touched


async def test_many_vms_run_with_a_bound(start_simulator, open_fleet) -> None:
    # Simulated time stands still until the test moves it: every restart stays in progress.
    sim = await start_simulator(topology=flexible_topology(capacity=VM_ACTION_CONCURRENCY + 6), ssh=False,
                                clock=ManualClock())
    fleet = await open_fleet(sim)
    scale_set = await flexible(fleet)
    vms = [i.instance_id for i in await fleet.list_instances(scale_set) if i.power_state == "running"]
    assert len(vms) > VM_ACTION_CONCURRENCY

    def posts() -> list[str]:
        return [p for m, p, _ in sim.arm.request_log if m == "POST"]

    action = asyncio.create_task(fleet.run_instance_action(scale_set, "restart", vms))
    await wait_for(lambda: len(posts()) == VM_ACTION_CONCURRENCY)
    seen = len(sim.arm.request_log)
    await wait_for(lambda: len(sim.arm.request_log) >= seen + 3 * VM_ACTION_CONCURRENCY)  # polled, again and again
    assert len(posts()) == VM_ACTION_CONCURRENCY  # no more while the first ones are in flight
    while not action.done():  # time moves on: the first ones end, the others start and end
        sim.advance(30)
        await asyncio.wait({action}, timeout=0.05)
    result = action.result()
    assert result.status == "Succeeded" and len(posts()) == len(vms)


async def test_read_only_sends_no_write_to_a_flexible_scale_set(flex_sim, open_fleet) -> None:
    fleet = await open_fleet(flex_sim, read_only=True)
    scale_set = await flexible(fleet)
    vms = [i.instance_id for i in await fleet.list_instances(scale_set)]
    writes = flex_sim.write_count
    for action in ("start", "restart", "power_off", "deallocate", "reimage", "update", "delete"):
        with pytest.raises(ReadOnlyError):
            await fleet.run_instance_action(scale_set, action, vms)
    with pytest.raises(ReadOnlyError):
        await fleet.start_all(scale_set)
    assert flex_sim.write_count == writes
