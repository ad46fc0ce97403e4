"""Rollouts under each upgrade policy, end to end: the Fleet (real async SDK) against the
simulator on a manual clock, watched through `rollout_poll` and the RolloutTracker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from vmss_tui.azure.errors import FleetError, ReadOnlyError
from vmss_tui.azure.fleet import Fleet
from vmss_tui.domain.model_change import ModelChange, parse_image
from vmss_tui.domain.models import OperationResult, ScaleSet
from vmss_tui.domain.rollout import (
    EVENT_BATCH_STARTED,
    EVENT_FAILED,
    EVENT_UPGRADED,
    STATE_DONE,
    STATE_FAILED,
    STATE_PENDING,
    RolloutTracker,
    RolloutView,
)
from vmss_tui.sim import (
    InstanceStateSpec,
    ManualClock,
    RollingPolicySpec,
    ScaleSetSpec,
    SubnetSpec,
    Topology,
    VnetSpec,
)

GROUP = "rg-roll"
T0 = 1_700_000_000.0
STEP = 5.0  # simulated seconds per poll
MAX_POLLS = 400  # a bound, never reached when the simulator behaves (the slowest case needs ~40)
NEXT_IMAGE = "Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:22.04.209901010"


def roll_spec(name: str = "vmss-roll", *, capacity: int = 6, image_version: str = "latest", unhealthy: tuple[int, ...] = (),
              mode: str = "Rolling", max_unhealthy: int = 20, outdated: bool = True) -> ScaleSetSpec:
    states = {i: InstanceStateSpec(latest_model=not outdated, health="unhealthy" if i in unhealthy else "healthy")
              for i in range(capacity)}
    return ScaleSetSpec(
        name, GROUP, capacity=capacity, upgrade_mode=mode, health_probe=True, vnet="vnet-roll", subnet="default",
        image=("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", image_version),
        rolling_policy=RollingPolicySpec(max_batch_instance_percent=34, pause_time_between_batches="PT10S",
                                         max_unhealthy_instance_percent=max_unhealthy,
                                         max_unhealthy_upgraded_instance_percent=20),
        instance_states=states,
    )


def topology(*specs: ScaleSetSpec) -> Topology:
    return Topology(scale_sets=list(specs),
                    vnets=[VnetSpec("vnet-roll", GROUP, "10.42.0.0/16", [SubnetSpec("default", "10.42.0.0/24")])])


async def manual_sim(start_simulator, *specs: ScaleSetSpec) -> Any:
    return await start_simulator(topology=topology(*specs), clock=ManualClock(), ssh=False)


async def watch(fleet: Fleet, sim: Any, scale_set: ScaleSet, operation: asyncio.Task[Any],
                tracker: RolloutTracker | None = None, until: Any = None) -> tuple[RolloutView, float]:
    """Poll as the rollout view does, stepping simulated time between polls, until the operation
    ends (or `until(view)` holds); then one more poll for the final state."""
    tracker = tracker or RolloutTracker()
    now = T0
    for _ in range(MAX_POLLS):
        poll = await fleet.rollout_poll(scale_set)
        view = tracker.observe(now, poll.status, poll.instances)
        if (until is not None and until(view)) or (until is None and operation.done()):
            break
        sim.advance(STEP)
        now += STEP
    else:
        pytest.fail(f"the operation did not end in {MAX_POLLS} polls; last view: {view}")
    poll = await fleet.rollout_poll(scale_set)
    return tracker.observe(now, poll.status, poll.instances), now


async def test_rolling_upgrade_completes_batch_by_batch(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec())
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-roll")
    assert await fleet.latest_rollout(scale_set) is None  # 404: never rolled
    progress: list[str] = []
    operation = asyncio.create_task(fleet.start_rolling_upgrade(scale_set, on_progress=progress.append))
    view, _ = await watch(fleet, sim, scale_set, operation)
    result: OperationResult = await operation
    assert result.status == "Succeeded" and progress[-1] == "Succeeded"
    status = view.status
    assert status is not None and status.code == "Completed" and status.end_time == status.last_action_time
    assert (status.successful, status.failed, status.in_progress, status.pending) == (6, 0, 0, 0)
    assert status.policy is not None and status.policy.max_batch_instance_percent == 34
    assert status.policy.pause_time_between_batches == "PT10S"
    # 34% of 6: batches of 2, each instance in exactly one of them.
    assert [len(b.instance_ids) for b in view.batches] == [2, 2, 2]
    assert sorted(i for b in view.batches for i in b.instance_ids) == ["0", "1", "2", "3", "4", "5"]
    assert all(b.ended_at is not None for b in view.batches)
    assert {i.state for i in view.instances} == {STATE_DONE} and all(i.latest_model for i in view.instances)
    started = [e.text for e in view.events if e.kind == EVENT_BATCH_STARTED]
    assert started[0].startswith("batch 1 started: ") and len(started) == 3
    assert len([e for e in view.events if e.kind == EVENT_UPGRADED]) == 6
    assert view.eta_seconds == 0.0 and view.elapsed is not None and view.elapsed > 0
    # The pause between batches is in what the tracker measured.
    gaps = [b.started_at - a.ended_at for a, b in zip(view.batches, view.batches[1:], strict=False)]
    assert all(gap >= 10 for gap in gaps)


async def test_rolling_upgrade_faults_when_too_many_instances_are_unhealthy(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec(unhealthy=(0, 1)))
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-roll")
    operation = asyncio.create_task(fleet.start_rolling_upgrade(scale_set))
    view, _ = await watch(fleet, sim, scale_set, operation)
    result = await operation
    code = "MaxUnhealthyInstancePercentExceededInRollingUpgrade"
    assert (result.status, result.error_code) == ("Failed", code)
    status = view.status
    assert status is not None and status.code == "Faulted" and status.error_code == code
    assert "33% of instances are in an unhealthy state" in (status.error_message or "")
    assert view.events[-1].text == f"rolling upgrade Faulted: {code}"
    # Unhealthy before the rollout reached them: pending, not failed.
    assert {i.state for i in view.instances} == {STATE_PENDING}


async def test_rolling_upgrade_faults_on_failed_upgraded_instances(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec())
    sim.fail_action("osRollingUpgrade", "VMExtensionProvisioningError", "The health extension reported an error.",
                    count=None, instance_ids=["0", "1", "2", "3", "4", "5"])
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-roll")
    operation = asyncio.create_task(fleet.start_rolling_upgrade(scale_set))
    view, _ = await watch(fleet, sim, scale_set, operation)
    result = await operation
    code = "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    assert (result.status, result.error_code) == ("Failed", code)
    assert view.status is not None and view.status.code == "Faulted" and view.status.failed == 2
    assert len(view.batches) == 1  # it stopped after the first batch
    failed = [i for i in view.instances if i.state == STATE_FAILED]
    assert [i.instance_id for i in failed] == list(view.batches[0].instance_ids)
    assert view.batches[0].failed_ids == view.batches[0].instance_ids
    failures = [e.text for e in view.events if e.kind == EVENT_FAILED]
    assert len(failures) == 2 and all("The health extension reported an error." in t for t in failures)


async def test_cancel_mid_rollout(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec())
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-roll")
    with pytest.raises(FleetError) as nothing:
        await fleet.cancel_rolling_upgrade(scale_set)
    assert nothing.value.code == "OperationNotAllowed"
    assert "no ongoing Rolling Upgrade" in nothing.value.message
    tracker = RolloutTracker()
    operation = asyncio.create_task(fleet.start_rolling_upgrade(scale_set))
    await watch(fleet, sim, scale_set, operation, tracker, until=lambda v: v.current_batch is not None)
    cancel = asyncio.create_task(fleet.cancel_rolling_upgrade(scale_set))
    view, _ = await watch(fleet, sim, scale_set, cancel, tracker)
    assert (await cancel).status == "Succeeded"
    result = await operation
    assert (result.status, result.error_code) == ("Canceled", "RollingUpgradeCanceled")
    status = view.status
    assert status is not None and (status.code, status.last_action) == ("Cancelled", "Cancel")
    assert (status.successful, status.pending) == (2, 4)  # the batch in flight finished, nothing after it
    assert len(status.error_details) == 4
    assert all(d.target and d.target.startswith("vmss-roll/virtualMachines/") for d in status.error_details)
    assert len(view.batches) == 1 and view.eta_seconds is None
    assert [i.state for i in view.instances].count(STATE_DONE) == 2


async def test_automatic_policy_updates_every_instance_at_once(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec("vmss-auto", capacity=3, mode="Automatic", outdated=False,
                                                      image_version="22.04.202507010"))
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-auto")
    operation = asyncio.create_task(fleet.update_model(scale_set, ModelChange(image=parse_image(NEXT_IMAGE))))
    view, _ = await watch(fleet, sim, scale_set, operation)
    assert (await operation).status == "Succeeded"
    assert view.status is None  # no rolling upgrade record under Automatic
    assert [sorted(b.instance_ids) for b in view.batches] == [["0", "1", "2"]]
    assert {i.state for i in view.instances} == {STATE_DONE}
    assert (await fleet.get_scale_set(GROUP, "vmss-auto")).image == NEXT_IMAGE


async def test_manual_policy_updates_only_the_given_instances(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec("vmss-man", capacity=3, mode="Manual", outdated=False,
                                                      image_version="22.04.202507010"))
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-man")
    changed = asyncio.create_task(fleet.update_model(scale_set, ModelChange(image=parse_image(NEXT_IMAGE))))
    await watch(fleet, sim, scale_set, changed)
    assert (await changed).status == "Succeeded"
    assert [i.latest_model for i in await fleet.list_instances(scale_set)] == [False, False, False]
    with pytest.raises(FleetError) as refused:
        await fleet.start_rolling_upgrade(await fleet.get_scale_set(GROUP, "vmss-man"))
    assert "Manual upgrade policy" in refused.value.message and "update the instances" in (refused.value.hint or "")
    update = asyncio.create_task(fleet.update_instances(scale_set, ["0", "2"]))
    view, _ = await watch(fleet, sim, scale_set, update)
    assert (await update).status == "Succeeded"
    assert [(i.instance_id, i.latest_model) for i in await fleet.list_instances(scale_set)] == [
        ("0", True), ("1", False), ("2", True)]
    assert [sorted(b.instance_ids) for b in view.batches] == [["0", "2"]]
    assert [i.state for i in view.instances] == [STATE_DONE, STATE_PENDING, STATE_DONE]


async def test_one_poll_costs_the_same_whatever_the_instance_count(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec(capacity=2), roll_spec("vmss-big", capacity=12))
    fleet = await open_fleet(sim)
    small = await fleet.get_scale_set(GROUP, "vmss-roll")
    big = await fleet.get_scale_set(GROUP, "vmss-big")
    costs = []
    for scale_set in (small, big):
        before = sim.request_count
        poll = await fleet.rollout_poll(scale_set)
        costs.append(sim.request_count - before)
        assert len(poll.instances) == scale_set.capacity and poll.status is None
    assert costs == [2, 2]  # rollingUpgrades/latest + one instance list page
    sim.page_size = 5
    before = sim.request_count
    await fleet.rollout_poll(big)
    assert sim.request_count - before == 1 + 3  # paged: 12 instances at 5 a page


async def test_read_only_sends_no_rollout_write(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec())
    fleet = await open_fleet(sim, read_only=True)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-roll")
    writes = sim.write_count
    for call in (
        fleet.start_rolling_upgrade(scale_set),
        fleet.cancel_rolling_upgrade(scale_set),
        fleet.update_instances(scale_set, ["0"]),
        fleet.update_instances(scale_set),
        fleet.update_model(scale_set, ModelChange(vm_size="Standard_D4s_v5")),
    ):
        with pytest.raises(ReadOnlyError):
            await call
    assert sim.write_count == writes
    assert (await fleet.rollout_poll(scale_set)).status is None  # reads still work


async def test_a_failed_poll_keeps_the_last_state_marked_stale(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec(capacity=2))
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-roll")
    tracker = RolloutTracker()
    good = await fleet.observe_rollout(tracker, scale_set, now=T0)
    assert not good.stale and len(good.instances) == 2
    # Throttled beyond the SDK's retries (each retry is answered 429 too).
    sim.add_fault(r"/rollingUpgrades/latest", 429, count=10)
    stale = await fleet.observe_rollout(tracker, scale_set, now=T0 + 5)
    assert stale.stale and stale.instances == good.instances and stale.observed_at == T0
    assert stale.stale_reason is not None and "throttling" in stale.stale_reason
    assert stale.events[-1].text.startswith("poll failed: ")
    sim.faults.clear()
    fresh = await fleet.observe_rollout(tracker, scale_set, now=T0 + 10)
    assert not fresh.stale and fresh.observed_at == T0 + 10


async def test_a_model_change_under_rolling_rolls_out_by_itself(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec(image_version="22.04.202507010", outdated=False))
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-roll")
    change = asyncio.create_task(fleet.update_model(scale_set, ModelChange(image=parse_image(NEXT_IMAGE))))
    view, _ = await watch(fleet, sim, scale_set, change,
                          until=lambda v: change.done() and v.status is not None and not v.status.is_running)
    assert (await change).status == "Succeeded"
    assert view.status is not None and view.status.code == "Completed" and view.status.successful == 6
    assert [len(b.instance_ids) for b in view.batches] == [2, 2, 2]
    assert {i.state for i in view.instances} == {STATE_DONE}


async def test_restart_a_cancelled_rollout_with_a_generic_model_update(start_simulator, open_fleet) -> None:
    sim = await manual_sim(start_simulator, roll_spec(image_version="22.04.202507010", outdated=False))
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, "vmss-roll")
    tracker = RolloutTracker()
    change = asyncio.create_task(fleet.update_model(scale_set, ModelChange(image=parse_image(NEXT_IMAGE))))
    await watch(fleet, sim, scale_set, change, tracker, until=lambda v: v.current_batch is not None)
    cancel = asyncio.create_task(fleet.cancel_rolling_upgrade(scale_set))
    await watch(fleet, sim, scale_set, cancel, tracker,
                until=lambda v: v.status is not None and v.status.code == "Cancelled")
    writes = sim.write_count
    restart = asyncio.create_task(fleet.start_rolling_upgrade(await fleet.get_scale_set(GROUP, "vmss-roll")))
    view, _ = await watch(fleet, sim, scale_set, restart, tracker,
                          until=lambda v: restart.done() and v.status is not None and v.status.code == "Completed")
    assert (await restart).status == "Succeeded"
    assert sim.write_count == writes + 1  # one PATCH that changes nothing
    assert view.status is not None and view.status.successful == 4  # the four the cancel left
    assert {i.state for i in view.instances} == {STATE_DONE}
