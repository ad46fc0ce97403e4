"""Per-instance rollout state and the tracker of successive polls, on a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from vmss_tui.domain.models import Instance, RollingPolicy, RolloutStatus
from vmss_tui.domain.rollout import (
    EVENT_BATCH_ENDED,
    EVENT_BATCH_STARTED,
    EVENT_FAILED,
    EVENT_GONE,
    EVENT_STALE,
    EVENT_STATUS,
    EVENT_UPGRADED,
    STATE_DONE,
    STATE_FAILED,
    STATE_PENDING,
    STATE_UNKNOWN,
    STATE_UPGRADING,
    RolloutTracker,
    format_duration,
    instance_rollout_state,
    parse_arm_time,
    parse_iso_duration,
)

T0 = 1_700_000_000.0  # the fake clock: epoch seconds, as the console's time.time()


def iso(t: float) -> str:
    """ARM's timestamp format: 7 fractional digits, +00:00."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f0+00:00")


def inst(iid: str, prov: str = "Succeeded", latest: bool | None = False, health: str | None = "healthy",
         power: str = "running", message: str | None = None) -> Instance:
    return Instance(
        id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines/{iid}",
        scale_set="web", resource_group="rg", instance_id=iid, name=f"web_{iid}", computer_name=None,
        power_state=power, provisioning_state=prov, latest_model=latest, health=health, status_message=message,
    )


def status(code: str = "RollingForward", *, start: float = T0, successful: int = 0, failed: int = 0,
           in_progress: int = 0, pending: int = 0, error_code: str | None = None, last: float | None = None,
           pause: str = "PT5S") -> RolloutStatus:
    final = code in ("Completed", "Faulted", "Cancelled")
    return RolloutStatus(
        code=code, start_time=iso(start), last_action="Start", successful=successful, failed=failed,
        in_progress=in_progress, pending=pending, error_code=error_code,
        error_message="threshold exceeded" if error_code else None,
        policy=RollingPolicy(max_batch_instance_percent=34, pause_time_between_batches=pause),
        last_action_time=iso(last if last is not None else start), end_time=iso(last) if final and last else None,
    )


# ---------------------------------------------------------------- the state rules


@pytest.mark.parametrize(
    ("instance", "reached", "expected"),
    [
        (inst("1", "Updating"), False, STATE_UPGRADING),
        (inst("1", "Creating", latest=True), False, STATE_UPGRADING),  # a maxSurge replacement
        (inst("1", "Failed", latest=True), False, STATE_FAILED),
        (inst("1", "Failed", latest=False), False, STATE_FAILED),
        (inst("1", latest=True, health="unhealthy"), False, STATE_FAILED),  # upgraded, then unhealthy
        (inst("1", latest=False, health="unhealthy"), False, STATE_PENDING),  # unhealthy before the rollout came
        (inst("1", latest=False, health="unhealthy"), True, STATE_FAILED),
        (inst("1", latest=True), False, STATE_DONE),
        (inst("1", latest=True, health=None), False, STATE_DONE),
        (inst("1", latest=False), False, STATE_PENDING),
        (inst("1", "Deleting", latest=True), False, STATE_PENDING),
        # Flexible: ARM never says; done only once seen upgrading.
        (inst("web_ab12cd34", latest=None), False, STATE_UNKNOWN),
        (inst("web_ab12cd34", latest=None), True, STATE_DONE),
        (inst("web_ab12cd34", "Updating", latest=None), False, STATE_UPGRADING),
        (inst("web_ab12cd34", latest=None, health="unhealthy"), True, STATE_FAILED),
    ],
)
def test_instance_rollout_state(instance: Instance, reached: bool, expected: str) -> None:
    assert instance_rollout_state(instance, reached=reached) == expected


def test_time_helpers() -> None:
    assert parse_iso_duration("PT0S") == 0
    assert parse_iso_duration("PT2M") == 120
    assert parse_iso_duration("PT1H30M") == 5400
    assert parse_iso_duration("PT2.5S") == 2.5
    assert parse_iso_duration("P1DT1S") == 86401
    assert parse_iso_duration("PT") is None and parse_iso_duration("2 minutes") is None
    assert parse_iso_duration(None) is None
    assert parse_arm_time("2024-01-12T20:20:04.1863772+00:00") == pytest.approx(1705090804.186377)
    assert parse_arm_time("2024-01-12T20:20:04Z") == 1705090804
    assert parse_arm_time("2024-01-12T20:20:04") is None  # no zone: not a time to compare
    assert parse_arm_time("yesterday") is None
    assert parse_arm_time(iso(T0 + 12.5)) == pytest.approx(T0 + 12.5)
    assert [format_duration(s) for s in (0.4, 42, 185, 3720)] == ["0 s", "42 s", "3 min 05 s", "1 h 02 min"]


# ---------------------------------------------------------------- the tracker


def six(**states: tuple[str, bool | None]) -> list[Instance]:
    """Instances 0-5: Succeeded, old model, healthy, unless named (iid -> (provisioning, latest))."""
    result = []
    for iid in "012345":
        prov, latest = states.get(f"i{iid}", ("Succeeded", False))
        result.append(inst(iid, prov, latest))
    return result


def texts(view, kind: str | None = None) -> list[str]:
    return [e.text for e in view.events if kind is None or e.kind == kind]


def test_rolling_upgrade_batch_by_batch_to_a_fault() -> None:
    tracker = RolloutTracker()
    view = tracker.observe(T0 + 1, status(pending=6), six())
    assert view.batches == () and view.eta_seconds is None and view.elapsed == pytest.approx(1)
    assert texts(view) == [f"rolling upgrade RollingForward (started {iso(T0)})"]
    assert {i.state for i in view.instances} == {STATE_PENDING}

    view = tracker.observe(T0 + 5, status(in_progress=2, pending=4), six(i0=("Updating", False), i1=("Updating", False)))
    assert texts(view, EVENT_BATCH_STARTED) == ["batch 1 started: 0, 1"]
    assert view.current_batch is not None and view.current_batch.instance_ids == ("0", "1")
    assert [i.batch for i in view.instances] == [1, 1, None, None, None, None]
    assert view.count(STATE_UPGRADING) == 2

    view = tracker.observe(T0 + 45, status(successful=2, pending=4),
                           six(i0=("Succeeded", True), i1=("Succeeded", True)))
    assert texts(view, EVENT_UPGRADED) == ["instance 0 upgraded in 40 s", "instance 1 upgraded in 40 s"]
    assert texts(view, EVENT_BATCH_ENDED) == ["batch 1 finished in 40 s"]
    assert view.current_batch is None and view.batches[0].duration == 40
    # Between batches: the policy's pause (5 s) then a 40 s batch for the 4 left, 2 at a time.
    assert view.eta_seconds == pytest.approx(5 + 40 + 45)
    assert view.rate_per_minute == pytest.approx(2 * 60 / 45)

    view = tracker.observe(T0 + 50, status(successful=2, in_progress=2, pending=2),
                           six(i0=("Succeeded", True), i1=("Succeeded", True), i2=("Updating", False),
                               i3=("Updating", False)))
    assert texts(view, EVENT_BATCH_STARTED)[-1] == "batch 2 started: 2, 3"
    # 40 s for this batch, then one more cycle: the 5 s gap measured between batches + 40 s.
    assert view.eta_seconds == pytest.approx(40 + 45)

    failing = six(i0=("Succeeded", True), i1=("Succeeded", True), i2=("Succeeded", True), i3=("Failed", True))
    failing[3] = inst("3", "Failed", True, message="VMExtensionProvisioningError: the extension failed")
    view = tracker.observe(T0 + 90, status(successful=3, failed=1, pending=2), failing)
    assert texts(view, EVENT_FAILED) == ["instance 3 failed: VMExtensionProvisioningError: the extension failed"]
    assert texts(view, EVENT_BATCH_ENDED)[-1] == "batch 2 finished in 40 s (1 failed: 3)"
    assert view.batches[1].failed_ids == ("3",)
    row = next(i for i in view.instances if i.instance_id == "3")
    assert (row.state, row.batch, row.failure) == (STATE_FAILED, 2, "VMExtensionProvisioningError: the extension failed")

    code = "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade"
    view = tracker.observe(T0 + 95, status("Faulted", successful=3, failed=1, pending=2, error_code=code, last=T0 + 92),
                           failing)
    assert texts(view, EVENT_STATUS)[-1] == f"rolling upgrade Faulted: {code}"
    assert view.eta_seconds is None  # it will not finish
    assert view.elapsed == pytest.approx(92)  # from ARM's start to its last action
    view_later = tracker.observe(T0 + 300, view.status, failing)
    assert view_later.elapsed == pytest.approx(92)  # a finished rollout's elapsed stops growing
    assert len(texts(view_later, EVENT_FAILED)) == 1  # reported once, not at every poll
    assert [e.at for e in view_later.events] == sorted(e.at for e in view_later.events)


def test_completed_rollout_has_no_time_left() -> None:
    tracker = RolloutTracker()
    tracker.observe(T0 + 1, status(pending=2), six()[:2])
    tracker.observe(T0 + 3, status(in_progress=2), [inst("0", "Updating"), inst("1", "Updating")])
    view = tracker.observe(T0 + 30, status("Completed", successful=2, last=T0 + 29), [inst("0", latest=True),
                                                                                    inst("1", latest=True)])
    assert view.eta_seconds == 0.0
    assert view.elapsed == pytest.approx(29)
    assert {i.state for i in view.instances} == {STATE_DONE}
    assert texts(view, EVENT_STATUS)[-1] == "rolling upgrade Completed"


def test_an_instance_seen_late_joins_the_batch_in_progress() -> None:
    tracker = RolloutTracker()
    tracker.observe(T0, status(pending=4), six()[:4])
    tracker.observe(T0 + 2, status(in_progress=2, pending=2), [inst("0", "Updating"), inst("1"), inst("2"), inst("3")])
    view = tracker.observe(T0 + 4, status(in_progress=2, pending=2),
                           [inst("0", "Updating"), inst("1", "Updating"), inst("2"), inst("3")])
    assert [b.instance_ids for b in view.batches] == [("0", "1")]
    assert texts(view, EVENT_BATCH_STARTED) == ["batch 1 started: 0", "batch 1 also: 1"]
    # A poll that sees one batch end and the next begin keeps them apart.
    view = tracker.observe(T0 + 40, status(successful=2, in_progress=2),
                           [inst("0", latest=True), inst("1", latest=True), inst("2", "Updating"), inst("3", "Updating")])
    assert [(b.number, b.instance_ids, b.ended_at) for b in view.batches] == [
        (1, ("0", "1"), T0 + 40), (2, ("2", "3"), None)]


def test_automatic_policy_without_an_arm_rollout() -> None:
    """Automatic: no rollingUpgrades record; every instance updates at once, seen as one batch."""
    tracker = RolloutTracker()
    view = tracker.observe(T0, None, [inst("0"), inst("1"), inst("2")])
    assert view.status is None and view.batches == () and view.elapsed is None and view.events == ()
    view = tracker.observe(T0 + 2, None, [inst("0", "Updating"), inst("1", "Updating"), inst("2", "Updating")])
    assert texts(view) == ["batch 1 started: 0, 1, 2"]
    view = tracker.observe(T0 + 20, None, [inst("0", latest=True), inst("1", latest=True), inst("2", "Updating")])
    assert view.current_batch is not None and view.eta_seconds is None  # no finished batch to estimate from
    view = tracker.observe(T0 + 26, None, [inst("0", latest=True), inst("1", latest=True), inst("2", latest=True)])
    assert texts(view, EVENT_BATCH_ENDED) == ["batch 1 finished in 24 s"]
    assert texts(view, EVENT_UPGRADED)[-1] == "instance 2 upgraded in 24 s"
    assert view.elapsed == pytest.approx(24)  # from the first poll that saw an upgrade to the batch's end
    assert tracker.observe(T0 + 100, None, [inst("0", latest=True), inst("1", latest=True),
                                            inst("2", latest=True)]).elapsed == pytest.approx(24)
    assert view.rate_per_minute == pytest.approx(3 * 60 / 24)


def test_flexible_instances_are_unknown_until_seen_upgrading() -> None:
    tracker = RolloutTracker()
    vm_a, vm_b = "web_0a1b2c3d", "web_4e5f6a7b"
    view = tracker.observe(T0, status(pending=2), [inst(vm_a, latest=None), inst(vm_b, latest=None)])
    assert [i.state for i in view.instances] == [STATE_UNKNOWN, STATE_UNKNOWN]
    tracker.observe(T0 + 3, status(in_progress=1, pending=1), [inst(vm_a, "Updating", None), inst(vm_b, latest=None)])
    view = tracker.observe(T0 + 30, status(successful=1, pending=1), [inst(vm_a, latest=None), inst(vm_b, latest=None)])
    assert [i.state for i in view.instances] == [STATE_DONE, STATE_UNKNOWN]
    assert texts(view, EVENT_UPGRADED) == [f"instance {vm_a} upgraded in 27 s"]


def test_failed_polls_keep_the_last_state_marked_stale() -> None:
    tracker = RolloutTracker()
    good = tracker.observe(T0, status(in_progress=1, pending=1), [inst("0", "Updating"), inst("1")])
    stale = tracker.observe_failure(T0 + 10, "TooManyRequests: throttled")
    assert stale.stale and stale.stale_reason == "TooManyRequests: throttled"
    assert stale.instances == good.instances and stale.observed_at == T0
    tracker.observe_failure(T0 + 20, "TooManyRequests: throttled")
    assert texts(tracker.view, EVENT_STALE) == ["poll failed: TooManyRequests: throttled; showing the last state"]
    fresh = tracker.observe(T0 + 30, status(in_progress=1, pending=1), [inst("0", "Updating"), inst("1")])
    assert not fresh.stale and fresh.stale_reason is None and fresh.observed_at == T0 + 30


def test_a_new_rollout_starts_its_own_batches() -> None:
    tracker = RolloutTracker()
    tracker.observe(T0, status(pending=1), [inst("0")])
    tracker.observe(T0 + 2, status(in_progress=1), [inst("0", "Updating")])
    tracker.observe(T0 + 20, status("Completed", successful=1, last=T0 + 19), [inst("0", latest=True)])
    second = T0 + 600
    view = tracker.observe(second + 1, status(start=second, pending=1), [inst("0")])
    assert view.batches == ()  # the first rollout's batch belongs to it
    assert texts(view, EVENT_STATUS)[-1] == "rolling upgrade RollingForward"
    view = tracker.observe(second + 3, status(start=second, in_progress=1), [inst("0", "Updating")])
    assert [b.number for b in view.batches] == [1]
    assert view.elapsed == pytest.approx(3)


def test_a_removed_instance_is_in_the_timeline() -> None:
    tracker = RolloutTracker()
    tracker.observe(T0, status(in_progress=1, pending=1), [inst("0", "Updating"), inst("1")])
    view = tracker.observe(T0 + 5, status(in_progress=1, pending=1), [inst("0", "Updating")])
    assert texts(view, EVENT_GONE) == ["instance 1 removed"]
    assert [i.instance_id for i in view.instances] == ["0"]
