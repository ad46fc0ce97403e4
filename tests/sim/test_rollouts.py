"""Model changes reaching instances under each upgrade policy, through the real async SDK:
Rolling batches over simulated time (pause, thresholds, surge, cancel), Automatic, Manual."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.support.sim_sdk import auth_headers, sdk_clients
from vmss_tui.sim import (
    DURATIONS,
    InstanceStateSpec,
    ManualClock,
    RollingPolicySpec,
    ScaleSetSpec,
    Simulator,
    SubnetSpec,
    Topology,
    VnetSpec,
)
from vmss_tui.sim.topology import FLEX_RG, demo_topology

WEB = "rg-web-prod"
BATCH = "rg-batch-dev"
NEW_IMAGE = "22.04.209901010"


def image_patch(version: str = NEW_IMAGE) -> dict[str, Any]:
    return {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"version": version}}}}}


def one_set(policy: RollingPolicySpec, capacity: int = 6, *, health: bool = True, orchestration: str = "Uniform",
            states: dict[int, InstanceStateSpec] | None = None) -> Topology:
    spec = ScaleSetSpec("vmss-roll", "rg-roll", capacity=capacity, upgrade_mode="Rolling", health_probe=health,
                        rolling_policy=policy, vnet="v", subnet="s", orchestration_mode=orchestration,
                        overprovision=False, instance_states=states or {})
    return Topology(scale_sets=[spec], vnets=[VnetSpec("v", "rg-roll", "10.9.0.0/16", [SubnetSpec("s", "10.9.0.0/24")])])


@pytest.fixture
async def manual() -> AsyncIterator[Callable[..., Any]]:
    """A factory of simulators on a manual clock (stopped at the end), with SDK clients."""
    started: list[Simulator] = []

    async def make(topology: Topology | None = None) -> Simulator:
        sim = Simulator(topology, clock=ManualClock(), ssh=False)
        await sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        await sim.stop()


async def step_until(sim: Simulator, done: Callable[[], bool], step: float = 1.0, limit: float = 3600) -> float:
    """Advance simulated time in steps until `done()`; the simulated seconds it took."""
    spent = 0.0
    while not done():
        assert spent < limit, "the simulated world did not get there"
        sim.advance(step)
        spent += step
        await asyncio.sleep(0)
    return spent


async def test_a_model_patch_on_a_rolling_scale_set_rolls_out_in_batches(manual: Callable[..., Any]) -> None:
    sim = await manual()
    async with sdk_clients(sim) as (compute, _):
        rolling = compute.virtual_machine_scale_set_rolling_upgrades
        with pytest.raises(ResourceNotFoundError) as info:
            await rolling.get_latest(WEB, "vmss-web")
        assert info.value.error.code == "NotFound"
        assert info.value.error.message == "The entity was not found in this Azure location."
        await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-web", image_patch())
        seen: list[tuple[int, int, int]] = []

        def finished() -> bool:
            ss = sim.world.get_scale_set(WEB, "vmss-web")
            return ss.rolling is not None and ss.rolling.code != "RollingForward"

        while not finished():
            sim.advance(1)
            status = await rolling.get_latest(WEB, "vmss-web")
            progress = status.properties.progress
            seen.append((progress.successful_instance_count, progress.in_progress_instance_count,
                         progress.pending_instance_count))
        status = await rolling.get_latest(WEB, "vmss-web")
        assert status.properties.running_status.code == "Completed"
        assert status.properties.progress.successful_instance_count == 6
        assert max(s[1] for s in seen) == 2  # 34% of 6 instances per batch
        assert (0, 2, 4) in seen and (2, 2, 2) in seen
        vms = [vm async for vm in compute.virtual_machine_scale_set_vms.list(WEB, "vmss-web")]
        assert all(vm.properties.latest_model_applied for vm in vms)
        records = sim.rollout_records(WEB, "vmss-web")
        assert sorted(r.batch for r in records) == [1, 1, 2, 2, 3, 3]
        assert all(r.result == "Succeeded" and r.ended is not None and r.ended > r.started for r in records)
        by_batch = {b: [r for r in records if r.batch == b] for b in (1, 2, 3)}
        # The pause (PT2S) lies between the end of one batch and the start of the next.
        assert min(r.started for r in by_batch[2]) - max(r.ended for r in by_batch[1]) >= 2 - 1e-9
        # While an instance is upgraded it reports Updating.
        raw = sim.world.get_scale_set(WEB, "vmss-web")
        assert all(i.provisioning == "Succeeded" for i in raw.instances.values())


async def test_recorded_shapes_of_rolling_upgrades(manual: Callable[..., Any]) -> None:
    sim = await manual()
    path = (f"/subscriptions/{sim.subscription_id}/resourceGroups/{WEB}/providers/Microsoft.Compute/"
            f"virtualMachineScaleSets/vmss-web/rollingUpgrades")
    async with aiohttp.ClientSession(headers=auth_headers(sim)) as session:
        async with session.post(f"{sim.endpoint}{path}/cancel?api-version=2026-04-01") as response:
            assert response.status == 409
            assert await response.json() == {"error": {"code": "OperationNotAllowed",
                                                       "message": "There is no ongoing Rolling Upgrade to cancel."}}
        async with session.get(f"{sim.endpoint}{path}/latest?api-version=2026-04-01") as response:
            assert response.status == 404
        async with sdk_clients(sim) as (compute, _):
            await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-web", image_patch())
        sim.advance(1)
        async with session.get(f"{sim.endpoint}{path}/latest?api-version=2026-04-01") as response:
            body = await response.json()
        assert set(body) == {"type", "location", "properties"}  # no id, no name
        assert body["type"] == "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades"
        assert body["properties"]["runningStatus"]["code"] == "RollingForward"
        assert body["properties"]["runningStatus"]["lastAction"] == "Start"
        assert set(body["properties"]["progress"]) == {"successfulInstanceCount", "failedInstanceCount",
                                                       "inProgressInstanceCount", "pendingInstanceCount"}
        assert body["properties"]["policy"]["maxBatchInstancePercent"] == 34
        # A second start while one runs is refused.
        async with session.post(f"{sim.endpoint}/subscriptions/{sim.subscription_id}/resourceGroups/{WEB}/providers/"
                                f"Microsoft.Compute/virtualMachineScaleSets/vmss-web/osRollingUpgrade"
                                f"?api-version=2026-04-01") as response:
            assert response.status == 409


async def test_cancel_stops_after_the_batch_in_flight(manual: Callable[..., Any]) -> None:
    sim = await manual()
    async with sdk_clients(sim, polling_interval=0.01) as (compute, _):
        rolling = compute.virtual_machine_scale_set_rolling_upgrades
        await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-web", image_patch())
        sim.advance(1)  # the first batch starts
        cancel = await rolling.begin_cancel(WEB, "vmss-web")
        status = await rolling.get_latest(WEB, "vmss-web")
        assert status.properties.running_status.last_action == "Cancel"
        assert status.properties.running_status.code == "RollingForward"  # the batch in flight goes on
        sim.advance(DURATIONS["upgrade"] + 1)
        await asyncio.wait_for(cancel.result(), 5)
        status = await rolling.get_latest(WEB, "vmss-web")
        assert status.properties.running_status.code == "Cancelled"  # two l, as Compute writes it
        assert status.properties.error.code == "RollingUpgradeCanceled"
        assert status.properties.progress.successful_instance_count == 2
        assert status.properties.progress.pending_instance_count == 4
        assert len(status.properties.error.details) == 4
        assert status.properties.error.details[0].target.startswith("vmss-web/virtualMachines/")
        ss = sim.world.get_scale_set(WEB, "vmss-web")
        assert sum(i.latest_model for i in ss.instances.values()) == 2
        # A PATCH that changes nothing restarts the rollout of the instances left behind.
        await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-web", {"properties": {}})
        await step_until(sim, lambda: ss.rolling is not None and ss.rolling.code == "Completed")
        assert all(i.latest_model for i in ss.instances.values())


async def test_unhealthy_instances_fault_the_rollout_before_a_batch(manual: Callable[..., Any]) -> None:
    states = {0: InstanceStateSpec(health="unhealthy"), 1: InstanceStateSpec(health="unhealthy")}
    sim = await manual(one_set(RollingPolicySpec(), capacity=3, states=states))
    async with sdk_clients(sim) as (compute, _):
        await compute.virtual_machine_scale_sets.begin_update("rg-roll", "vmss-roll", image_patch("1.2.3"))
        ss = sim.world.get_scale_set("rg-roll", "vmss-roll")
        await step_until(sim, lambda: ss.rolling is not None and ss.rolling.code != "RollingForward")
        status = await compute.virtual_machine_scale_set_rolling_upgrades.get_latest("rg-roll", "vmss-roll")
        assert status.properties.running_status.code == "Faulted"
        assert status.properties.error.code == "MaxUnhealthyInstancePercentExceededInRollingUpgrade"
        assert "67% of instances are in an unhealthy state" in status.properties.error.message
        assert status.properties.progress.successful_instance_count == 0


async def test_a_bad_model_faults_at_the_upgraded_threshold(manual: Callable[..., Any]) -> None:
    policy = RollingPolicySpec(max_batch_instance_percent=20, max_unhealthy_instance_percent=50,
                               max_unhealthy_upgraded_instance_percent=30)
    sim = await manual(one_set(policy, capacity=10))
    sim.inject_unhealthy("rg-roll", "vmss-roll", ["2", "3"], after_upgrade=True)
    async with sdk_clients(sim) as (compute, _):
        await compute.virtual_machine_scale_sets.begin_update("rg-roll", "vmss-roll", image_patch("1.2.3"))
        ss = sim.world.get_scale_set("rg-roll", "vmss-roll")
        await step_until(sim, lambda: ss.rolling is not None and ss.rolling.code != "RollingForward")
        status = await compute.virtual_machine_scale_set_rolling_upgrades.get_latest("rg-roll", "vmss-roll")
        assert status.properties.running_status.code == "Faulted"
        assert status.properties.error.code == "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
        # Batch 1 (0, 1) went fine; batch 2 (2, 3) came up unhealthy: 2 of 4 upgraded = 50% > 30%.
        assert (status.properties.progress.successful_instance_count, status.properties.progress.failed_instance_count) == (2, 2)
        assert status.properties.progress.pending_instance_count == 6
        results = {r.instance_id: (r.batch, r.result) for r in sim.rollout_records("rg-roll", "vmss-roll")}
        assert results == {"0": (1, "Succeeded"), "1": (1, "Succeeded"), "2": (2, "Unhealthy"), "3": (2, "Unhealthy")}
        view = await compute.virtual_machine_scale_set_vms.get_instance_view("rg-roll", "vmss-roll", "2")
        assert view.vm_health.status.code == "HealthState/unhealthy"


async def test_an_injected_failure_fails_the_instance_and_the_rollout(manual: Callable[..., Any]) -> None:
    sim = await manual(one_set(RollingPolicySpec(max_batch_instance_percent=50, max_unhealthy_upgraded_instance_percent=20),
                               capacity=4))
    sim.fail_action("osRollingUpgrade", "VMExtensionProvisioningError", "The extension failed.", instance_ids=["1"])
    async with sdk_clients(sim) as (compute, _):
        await compute.virtual_machine_scale_sets.begin_update("rg-roll", "vmss-roll", image_patch("1.2.3"))
        ss = sim.world.get_scale_set("rg-roll", "vmss-roll")
        await step_until(sim, lambda: ss.rolling is not None and ss.rolling.code != "RollingForward")
        assert ss.rolling is not None and ss.rolling.code == "Faulted"
        view = await compute.virtual_machine_scale_set_vms.get_instance_view("rg-roll", "vmss-roll", "1")
        assert view.statuses[0].code == "ProvisioningState/failed/VMExtensionProvisioningError"


async def test_prioritize_unhealthy_instances_upgrades_them_first(manual: Callable[..., Any]) -> None:
    policy = RollingPolicySpec(max_batch_instance_percent=25, max_unhealthy_instance_percent=50,
                               prioritize_unhealthy_instances=True)
    sim = await manual(one_set(policy, capacity=4, states={3: InstanceStateSpec(health="unhealthy")}))
    async with sdk_clients(sim) as (compute, _):
        await compute.virtual_machine_scale_sets.begin_update("rg-roll", "vmss-roll", image_patch("1.2.3"))
        ss = sim.world.get_scale_set("rg-roll", "vmss-roll")
        await step_until(sim, lambda: ss.rolling is not None and ss.rolling.code != "RollingForward")
    first = [r.instance_id for r in sim.rollout_records("rg-roll", "vmss-roll") if r.batch == 1]
    assert first == ["3"]


async def test_max_surge_creates_new_instances_then_deletes_old_ones(manual: Callable[..., Any]) -> None:
    sim = await manual(one_set(RollingPolicySpec(max_batch_instance_percent=50, max_surge=True), capacity=4))
    async with sdk_clients(sim) as (compute, _):
        await compute.virtual_machine_scale_sets.begin_update("rg-roll", "vmss-roll", image_patch("1.2.3"))
        ss = sim.world.get_scale_set("rg-roll", "vmss-roll")
        sim.advance(1)
        assert len(ss.instances) == 6  # two surge instances on top of the four
        assert {i.provisioning for i in ss.instances.values() if i.instance_id in ("4", "5")} == {"Creating"}
        await step_until(sim, lambda: ss.rolling is not None and ss.rolling.code != "RollingForward")
        assert ss.rolling is not None and ss.rolling.code == "Completed"
        ids = [vm.instance_id async for vm in compute.virtual_machine_scale_set_vms.list("rg-roll", "vmss-roll")]
        assert ids == ["4", "5", "6", "7"]  # the old ones were replaced
        assert (await compute.virtual_machine_scale_sets.get("rg-roll", "vmss-roll")).sku.capacity == 4
    records = sim.rollout_records("rg-roll", "vmss-roll")
    assert sorted(r.instance_id for r in records if r.surge) == ["4", "5", "6", "7"]
    assert {r.instance_id: r.batch for r in records if not r.surge} == {"0": 1, "1": 1, "2": 2, "3": 2}


async def test_automatic_updates_everyone_at_once_and_manual_waits(manual: Callable[..., Any]) -> None:
    sim = await manual()
    async with sdk_clients(sim, polling_interval=0.01) as (compute, _):
        poller = await compute.virtual_machine_scale_sets.begin_update(BATCH, "vmss-data", image_patch())
        sim.advance(1)
        data = sim.world.get_scale_set(BATCH, "vmss-data")
        assert {i.provisioning for i in data.instances.values()} == {"Updating"}  # all at once
        sim.advance(DURATIONS["upgrade"])
        await asyncio.wait_for(poller.result(), 5)
        assert all(i.latest_model for i in data.instances.values())
        await (compute.virtual_machine_scale_sets.begin_update(BATCH, "vmss-batch", image_patch()))
        sim.advance(60)
        batch = sim.world.get_scale_set(BATCH, "vmss-batch")
        assert not any(i.latest_model for i in batch.instances.values())  # Manual: nothing happens
        assert batch.rolling is None
        poller = await compute.virtual_machine_scale_sets.begin_update_instances(BATCH, "vmss-batch", {"instanceIds": ["2"]})
        sim.advance(DURATIONS["upgrade"] - 1)
        assert batch.instances["2"].provisioning == "Updating"
        sim.advance(1)
        await asyncio.wait_for(poller.result(), 5)
        assert [i.instance_id for i in batch.sorted_instances() if i.latest_model] == ["2"]


async def test_rolling_on_flexible_needs_the_health_extension(manual: Callable[..., Any]) -> None:
    sim = await manual(demo_topology())
    async with sdk_clients(sim) as (compute, _):
        await compute.virtual_machine_scale_sets.begin_update(FLEX_RG, "vmss-flex", image_patch())
        ss = sim.world.get_scale_set(FLEX_RG, "vmss-flex")
        await step_until(sim, lambda: ss.rolling is not None and ss.rolling.code != "RollingForward")
        assert ss.rolling is not None and ss.rolling.code == "Completed"
        assert [r.batch for r in sim.rollout_records(FLEX_RG, "vmss-flex")] == [1, 2, 3]
        assert all(r.instance_id.startswith("vmss-flex_") for r in sim.rollout_records(FLEX_RG, "vmss-flex"))
    bare = await manual(one_set(RollingPolicySpec(), capacity=2, health=False, orchestration="Flexible"))
    async with sdk_clients(bare) as (compute, _):
        bare.world.get_scale_set("rg-roll", "vmss-roll").upgrade_mode = "Manual"
        with pytest.raises(HttpResponseError) as info:
            await compute.virtual_machine_scale_sets.begin_update(
                "rg-roll", "vmss-roll", {"properties": {"upgradePolicy": {"mode": "Rolling"}}})
        assert info.value.status_code == 400 and "Application Health" in info.value.error.message


async def test_write_log_keeps_the_patch_body(manual: Callable[..., Any]) -> None:
    sim = await manual()
    async with sdk_clients(sim) as (compute, _):
        await compute.virtual_machine_scale_sets.begin_update(BATCH, "vmss-batch", {"tags": {"env": "dev", "x": "1"}})
    method, path, body = sim.write_log[-1]
    assert method == "PATCH" and path.endswith("/virtualMachineScaleSets/vmss-batch")
    assert body == {"tags": {"env": "dev", "x": "1"}}
