"""The guarded rollout of a Manual scale set, end to end: the real async SDK against the simulator
on a manual clock (the rollout's sleep steps simulated time), its journal in a temporary state
directory, the SSH check against the simulator's guests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from time import localtime, strftime
from typing import Any

import pytest

from vmss_tui.domain.models import ScaleSet
from vmss_tui.sim import (
    FrontendSpec,
    InstanceStateSpec,
    LoadBalancerSpec,
    ManualClock,
    NatPoolSpec,
    NsgSpec,
    PublicIpSpec,
    ScaleSetSpec,
    SecurityRuleSpec,
    SubnetSpec,
    Topology,
    VnetSpec,
)
from vmss_tui.ssh.settings import SshSettings
from vmss_tui.workflows.guarded_rollout import (
    ABORTED,
    COMPLETED,
    INTERRUPTED,
    PAUSED,
    STOPPED,
    GuardedPlan,
    GuardedPlanError,
    GuardedRollout,
    Journal,
    SshCheck,
    latest_journal,
    parse_amount,
    parse_seconds,
    plan_from_input,
    resume_guarded_rollout,
    rollout_targets,
    start_guarded_rollout,
    unfinished_journals,
)

GROUP = "rg-guard"
NAME = "vmss-man"
T0 = 1_767_268_800.0  # the rollout's clock: T0 + simulated seconds
UPDATE_SUFFIX = f"/virtualMachineScaleSets/{NAME}/manualupgrade".casefold()


def manual_topology(capacity: int = 5, *, ssh: bool = False, health_probe: bool = True) -> Topology:
    """`vmss-man`, Manual, every instance on the previous model; with `ssh`, behind a load balancer
    with an SSH NAT pool."""
    states = {i: InstanceStateSpec(latest_model=False) for i in range(capacity)}
    topology = Topology(
        vnets=[VnetSpec("vnet-guard", GROUP, "10.44.0.0/16", [SubnetSpec("default", "10.44.0.0/24")])],
        scale_sets=[ScaleSetSpec(NAME, GROUP, capacity=capacity, upgrade_mode="Manual", health_probe=health_probe,
                                 vnet="vnet-guard", subnet="default", overprovision=False, instance_states=states)],
    )
    if ssh:
        topology.nsgs.append(NsgSpec("nsg-guard", GROUP, [SecurityRuleSpec("allow-ssh", 100, "22", "*")]))
        topology.public_ips.append(PublicIpSpec("pip-guard", GROUP))
        topology.load_balancers.append(LoadBalancerSpec(
            "lb-guard", GROUP, frontends=[FrontendSpec("fe", public_ip="pip-guard")], backend_pools=["bepool"],
            nat_pools=[NatPoolSpec("natpool-ssh", "fe", 22, 50000, 50099)]))
        spec = topology.scale_sets[0]
        spec.nsg, spec.load_balancer, spec.backend_pool, spec.nat_pools = "nsg-guard", "lb-guard", "bepool", ["natpool-ssh"]
    return topology


class SimTime:
    """The rollout's clock and sleep on the simulator's manual clock: sleeping steps simulated
    time (then yields a moment of real time, so the SDK's operation polls see what happened)."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.slept = 0.0

    def now(self) -> float:
        return T0 + self.sim.clock.now()

    async def sleep(self, seconds: float) -> None:
        self.sim.advance(seconds)
        self.slept += seconds
        await asyncio.sleep(0.02)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user state directory (where journals go) is a temporary one."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state" / "vmss-tui" / "rollouts"


async def setup(start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]],
                **topology: Any) -> tuple[Any, Any, ScaleSet, SimTime]:
    sim = await start_simulator(topology=manual_topology(**topology), clock=ManualClock(),
                                ssh=topology.get("ssh", False))
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, NAME)
    return sim, fleet, scale_set, SimTime(sim)


def plan(ids: tuple[str, ...] = ("0", "1", "2", "3", "4"), **fields: Any) -> GuardedPlan:
    values = {"instance_ids": ids, "batch": "2", "max_failed": "0", "pause": "30", "health_timeout": "60"}
    values.update(fields)
    return plan_from_input(**values)


def updates_sent(sim: Any) -> list[list[str]]:
    """The instance ids of each update-instances (manualupgrade) the simulator received, in order."""
    return [body["instanceIds"] for method, path, body in list(sim.write_log)
            if method == "POST" and path.casefold().endswith(UPDATE_SUFFIX)]


def kinds(journal: Journal) -> list[str]:
    return [r["kind"] for r in journal.records]


async def run_rollout(rollout: GuardedRollout, time: SimTime, limit: float = 20.0) -> Any:
    async with asyncio.timeout(limit):
        return await rollout.run()


# ---------------------------------------------------------------------- the plan


def test_amounts_and_durations_read_as_typed() -> None:
    assert parse_amount("2", where="batch", minimum=1).of(10) == 2
    assert parse_amount(" 25% ", where="batch", minimum=1).of(10) == 2  # floor, as Azure's batch percent
    assert parse_amount("0", where="stop", minimum=0).text() == "0"
    assert [parse_seconds(t, where="pause") for t in ("30", "30s", "2m", "1h", "PT1M30S", "1.5")] == [
        30, 30, 120, 3600, 90, 1.5]


def test_a_plan_with_mistakes_says_every_one_in_a_line() -> None:
    with pytest.raises(GuardedPlanError) as bad:
        plan_from_input(instance_ids=["0", "1"], batch="two", max_failed="150%", pause="soon", health_timeout="0")
    assert bad.value.problems == (
        "batch size: 'two' is not a whole number or a percentage (e.g. 2 or 25%)",
        "stop after: 150% is out of range (0 to 100%)",
        "pause: 'soon' is not a duration (e.g. 30, 30s, 2m, PT30S)",
        "health timeout: at least 1 second",
    )
    with pytest.raises(GuardedPlanError) as nothing:
        plan_from_input(instance_ids=[], batch="1", max_failed="0")
    assert nothing.value.problems[0].startswith("instances: none to roll out")
    with pytest.raises(GuardedPlanError) as too_big:
        plan_from_input(instance_ids=["0", "1"], batch="3", max_failed="0")
    assert too_big.value.problems == ("batch size: 3 is more than the 2 instances to roll out",)
    with pytest.raises(GuardedPlanError) as below:
        plan_from_input(instance_ids=["4"], batch="1", max_failed="1", total_instances=5, already_failed=2)
    assert below.value.problems == ("stop after: 2 already failed; raise it to at least 2 to go on",)


def test_batches_and_threshold_of_a_plan() -> None:
    chosen = plan(batch="40%", max_failed="20%")
    assert chosen.batch_size == 2 and chosen.failure_threshold == 1
    assert chosen.batches() == [("0", "1"), ("2", "3"), ("4",)]
    assert chosen.describe() == ("batches of 2 (3 batches) · stop when more than 1 fail · pause 30 s · "
                                 "health within 1 min 00 s")
    assert GuardedPlan.from_json(json.loads(json.dumps(chosen.to_json()))) == chosen
    # Resumed with what is left, percentages stay of the whole rollout.
    rest = plan_from_input(instance_ids=["4"], batch="40%", max_failed="20%", total_instances=5)
    assert (rest.batch_size, rest.failure_threshold) == (2, 1)


async def test_targets_are_the_marked_instances_else_the_outdated_ones(start_simulator, open_fleet, state_dir) -> None:
    topology = manual_topology(4)
    topology.scale_sets[0].instance_states[2] = InstanceStateSpec(latest_model=True)
    sim = await start_simulator(topology=topology, clock=ManualClock(), ssh=False)
    fleet = await open_fleet(sim)
    instances = await fleet.list_instances(await fleet.get_scale_set(GROUP, NAME))
    assert rollout_targets(instances) == ("0", "1", "3")
    assert rollout_targets(instances, marked={"3", "1"}) == ("1", "3")


# ---------------------------------------------------------------------- rolling it out


async def test_batches_run_one_after_the_other_with_the_health_gate_and_the_pause(
        start_simulator, open_fleet, state_dir) -> None:
    sim, fleet, scale_set, time = await setup(start_simulator, open_fleet)
    seen: list[str] = []
    rollout = await start_guarded_rollout(fleet, scale_set, plan(), clock=time.now, sleep=time.sleep,
                                          poll_interval=5.0)
    rollout.subscribe(lambda progress, record: seen.append(progress.state))
    progress = await run_rollout(rollout, time)

    assert progress.state == COMPLETED and progress.passed == ("0", "1", "2", "3", "4") and not progress.failed
    assert updates_sent(sim) == [["0", "1"], ["2", "3"], ["4"]]
    assert all(i.latest_model for i in await fleet.list_instances(scale_set))
    journal = Journal.load(rollout.journal.path)
    assert journal.path.parent == state_dir
    assert kinds(journal)[0] == "started" and kinds(journal)[-1] == COMPLETED
    batch_starts = [r for r in journal.records if r["kind"] == "batch-started"]
    assert [(r["batch"], r["of"], r["instance_ids"]) for r in batch_starts] == [
        (1, 3, ["0", "1"]), (2, 3, ["2", "3"]), (3, 3, ["4"])]
    # Each batch began only once the one before had passed its gate, and after the pause.
    for earlier, later in zip(batch_starts, batch_starts[1:], strict=False):
        ended = next(r for r in journal.records if r["kind"] == "batch-ended" and r["batch"] == earlier["batch"])
        assert journal.records.index(ended) < journal.records.index(later)
        assert later["at"] - ended["at"] >= 30
        passed = {r["instance_id"] for r in journal.records if r["kind"] == "instance-passed"
                  and journal.records.index(r) < journal.records.index(later)}
        assert set(earlier["instance_ids"]) <= passed
    assert "waiting" in seen  # the pause was shown as such
    summary = journal.summary()
    assert summary.state == COMPLETED and not summary.resumable and summary.remaining == ()
    assert unfinished_journals() == []


async def test_it_stops_by_itself_when_failures_pass_the_threshold_and_resumes_from_its_journal(
        start_simulator, open_fleet, state_dir) -> None:
    sim, fleet, scale_set, time = await setup(start_simulator, open_fleet)
    sim.inject_unhealthy(GROUP, NAME, [1], after_upgrade=True)  # a bad image on instance 1
    rollout = await start_guarded_rollout(fleet, scale_set, plan(), clock=time.now, sleep=time.sleep)
    progress = await run_rollout(rollout, time)

    assert progress.state == STOPPED
    assert progress.message == "1 failed, more than the threshold of 0"
    assert progress.passed == ("0",) and [i for i, _ in progress.failed] == ["1"]
    assert dict(progress.failed)["1"] == "health unhealthy after 1 min 00 s (the health timeout)"
    assert updates_sent(sim) == [["0", "1"]]  # nothing after the failed batch
    instances = {i.instance_id: i for i in await fleet.list_instances(scale_set)}
    assert [instances[i].latest_model for i in ("2", "3", "4")] == [False, False, False]

    # The console restarts: all it has is the journal.
    journal = latest_journal(scale_set.id)
    assert journal is not None and journal.path == rollout.journal.path
    summary = journal.summary()
    assert (summary.state, summary.last_batch_ended, summary.batches_total, summary.batch_in_flight) == (STOPPED, 1, 3, None)
    assert summary.remaining == ("2", "3", "4") and summary.resumable
    at = strftime("%H:%M", localtime(summary.last_at))
    assert summary.headline(now=time.now()) == (f"a guarded rollout of {NAME} stopped after batch 1 of 3 at {at} "
                                  "(1 failed, more than the threshold of 0)")
    assert [s.path for s in unfinished_journals()] == [journal.path]
    lines = [text for _, text in journal.lines()]
    assert "instance 1 failed: health unhealthy after 1 min 00 s (the health timeout)" in lines
    assert "decision: stop (1 failed, more than the threshold of 0)" in lines

    # The same threshold would stop at once: the operator raises it to go on.
    with pytest.raises(GuardedPlanError):
        plan_from_input(instance_ids=summary.remaining, batch="2", max_failed="0", total_instances=5, already_failed=1)
    go_on = plan_from_input(instance_ids=summary.remaining, batch="2", max_failed="1", pause="30", health_timeout="60",
                            total_instances=5, already_failed=1)
    resumed = await resume_guarded_rollout(fleet, scale_set, journal, go_on, clock=time.now, sleep=time.sleep)
    assert resumed.progress.batch == 1 and resumed.batches_total == 3
    final = await run_rollout(resumed, time)
    assert final.state == COMPLETED and final.passed == ("0", "2", "3", "4") and [i for i, _ in final.failed] == ["1"]
    assert updates_sent(sim) == [["0", "1"], ["2", "3"], ["4"]]
    reread = Journal.load(journal.path)
    assert [(r["batch"], r["of"]) for r in reread.records if r["kind"] == "batch-started"] == [(1, 3), (2, 3), (3, 3)]
    assert reread.summary().state == COMPLETED and unfinished_journals() == []


async def test_pause_resume_and_abort(start_simulator, open_fleet, state_dir) -> None:
    sim, fleet, scale_set, time = await setup(start_simulator, open_fleet)
    rollout = await start_guarded_rollout(fleet, scale_set, plan(batch="1", pause="0"), clock=time.now,
                                          sleep=time.sleep)
    states: list[str] = []

    def listen(progress: Any, record: Any) -> None:
        states.append(progress.state)
        if record is not None and record["kind"] == "batch-started" and record["batch"] == 1:
            assert rollout.pause()

    rollout.subscribe(listen)
    paused = asyncio.Event()
    rollout.subscribe(lambda progress, record: paused.set() if progress.state == PAUSED else None)
    task = asyncio.ensure_future(rollout.run())
    async with asyncio.timeout(20):
        await paused.wait()
    assert updates_sent(sim) == [["0"]] and rollout.progress.passed == ("0",)
    for _ in range(5):  # time goes by; nothing starts while paused
        sim.advance(60)
        await asyncio.sleep(0.02)
    assert updates_sent(sim) == [["0"]]
    assert "pausing" in states
    assert rollout.leaves_running() == (f"the guarded rollout of {NAME} stops in batch 1 of 5: no further batch "
                                        "starts (resume it from its journal with u, then r)")

    rollout.unsubscribe(listen)
    stop_in_batch_2: list[str] = []

    def abort_in_batch_2(progress: Any, record: Any) -> None:
        if record is not None and record["kind"] == "batch-started" and record["batch"] == 2:
            stop_in_batch_2.append(rollout.leaves_running() or "")
            assert rollout.abort()

    rollout.subscribe(abort_in_batch_2)
    assert rollout.resume()
    async with asyncio.timeout(20):
        progress = await task
    assert progress.state == ABORTED
    assert progress.message == "by the operator; the update of 1 continues in Azure"
    assert stop_in_batch_2 == [f"the guarded rollout of {NAME} stops in batch 2 of 5: the update of instance 1 "
                               "continues in Azure; no further batch starts"]
    assert updates_sent(sim) == [["0"], ["1"]]
    journal = Journal.load(rollout.journal.path)
    assert ["paused", "resumed-paused", ABORTED] == [k for k in kinds(journal) if k in ("paused", "resumed-paused", ABORTED)]
    assert journal.summary().state == ABORTED and journal.summary().remaining == ("1", "2", "3", "4")


async def test_a_console_that_quits_mid_batch_leaves_interrupted_in_the_journal(
        start_simulator, open_fleet, state_dir) -> None:
    sim, fleet, scale_set, time = await setup(start_simulator, open_fleet)
    rollout = await start_guarded_rollout(fleet, scale_set, plan(pause="0"), clock=time.now, sleep=time.sleep)
    started = asyncio.Event()  # the batch's update-instances is in Azure's hands
    rollout.subscribe(lambda progress, record: started.set() if record and record["kind"] == "update-submitted" else None)
    task = asyncio.ensure_future(rollout.run())
    async with asyncio.timeout(20):
        await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    summary = Journal.load(rollout.journal.path).summary()
    assert (summary.state, summary.batch_in_flight, summary.last_batch_ended) == (INTERRUPTED, 1, 0)
    assert summary.reason == "the console quit; the update of the batch in flight goes on in Azure"
    assert summary.headline(now=time.now()).startswith(f"a guarded rollout of {NAME} stopped during batch 1 of 3 at ")
    assert summary.headline(now=time.now() + 86400 * 3).startswith(
        f"a guarded rollout of {NAME} stopped during batch 1 of 3 at {strftime('%Y-%m-%d', localtime(summary.last_at))} ")
    assert summary.remaining == ("0", "1", "2", "3", "4") and summary.resumable

    again = plan_from_input(instance_ids=summary.remaining, batch="2", max_failed="0", pause="0",
                            health_timeout="60", total_instances=5)
    resumed = await resume_guarded_rollout(fleet, scale_set, Journal.load(summary.path), again, clock=time.now,
                                           sleep=time.sleep)
    assert (await run_rollout(resumed, time)).state == COMPLETED
    # Batch 1 ran again from its start (update-instances of up-to-date instances changes nothing).
    assert updates_sent(sim) == [["0", "1"], ["0", "1"], ["2", "3"], ["4"]]


async def test_a_scale_set_without_health_signal_is_gated_on_model_and_power(start_simulator, open_fleet,
                                                                             state_dir) -> None:
    topology = manual_topology(3, health_probe=False)
    topology.scale_sets[0].instance_states[2] = InstanceStateSpec(latest_model=False, power="deallocated")
    sim = await start_simulator(topology=topology, clock=ManualClock(), ssh=False)
    fleet = await open_fleet(sim)
    scale_set = await fleet.get_scale_set(GROUP, NAME)
    time = SimTime(sim)
    rollout = await start_guarded_rollout(fleet, scale_set, plan(("0", "1", "2"), batch="1", pause="0"),
                                          clock=time.now, sleep=time.sleep)
    progress = await run_rollout(rollout, time)
    assert progress.state == COMPLETED and progress.passed == ("0", "1", "2")
    # A deallocated instance takes the model while down; there is no health to wait for.
    assert "instance 2 passed in " in [text for _, text in rollout.journal.lines()][-3]
    assert [text for _, text in rollout.journal.lines()][-3].endswith("(deallocated: health not checked)")
    assert sim.instance(GROUP, NAME, 2).power == "deallocated"


# ---------------------------------------------------------------------- the SSH check


def ssh_settings(sim: Any, tmp_path: Path) -> SshSettings:
    return SshSettings(identity_file=str(sim.ssh_client_key_path), known_hosts=tmp_path / "known_hosts",
                       use_agent=False, use_default_keys=False, connect_timeout=5.0)


async def test_the_check_command_runs_over_ssh_and_trusts_only_the_keys_the_update_changed(
        start_simulator, open_fleet, state_dir, tmp_path) -> None:
    sim, fleet, scale_set, time = await setup(start_simulator, open_fleet, capacity=3, ssh=True)
    settings = ssh_settings(sim, tmp_path)
    instances = await fleet.list_instances(scale_set)
    bad_name = next(i.computer_name for i in instances if i.instance_id == "1")
    command = f'test "$(hostname)" != "{bad_name}"'  # fails on instance 1 only
    # The instances' keys are known from before (someone used the SSH tab).
    before = SshCheck(fleet, scale_set, settings, "true", trust_updated_host_keys=True)
    await before.prepare(instances)
    assert [(await before.check(i)).passed for i in instances] == [True, True, True]
    known_before = (tmp_path / "known_hosts").read_text()

    check = SshCheck(fleet, scale_set, settings, command, trust_updated_host_keys=True)
    chosen = plan(("0", "1", "2"), batch="1", pause="0", max_failed="1", check_command=command)
    rollout = await start_guarded_rollout(fleet, scale_set, chosen, clock=time.now, sleep=time.sleep, check=check)
    progress = await run_rollout(rollout, time, limit=60)

    assert progress.state == COMPLETED
    assert progress.passed == ("0", "2")
    assert dict(progress.failed)["1"] == "check exit status 1 after 1 min 00 s (the health timeout)"
    notes = [r["text"] for r in rollout.journal.records if r["kind"] == "note"]
    assert len(notes) == 3 and all(n.startswith("saved the new host key of ") for n in notes)
    assert (tmp_path / "known_hosts").read_text() != known_before

    # Not trusting changed keys: the upgrade's new key is refused, the instance fails its gate.
    sim2, fleet2, scale_set2, time2 = await setup(start_simulator, open_fleet, capacity=1, ssh=True)
    settings2 = ssh_settings(sim2, tmp_path / "second")
    first = SshCheck(fleet2, scale_set2, settings2, "true", trust_updated_host_keys=True)
    await first.prepare(await fleet2.list_instances(scale_set2))
    assert (await first.check((await fleet2.list_instances(scale_set2))[0])).passed
    strict = SshCheck(fleet2, scale_set2, settings2, "true", trust_updated_host_keys=False)
    rollout2 = await start_guarded_rollout(
        fleet2, scale_set2, plan(("0",), batch="1", pause="0", health_timeout="20", check_command="true",
                                 trust_updated_host_keys=False),
        clock=time2.now, sleep=time2.sleep, check=strict)
    progress2 = await run_rollout(rollout2, time2, limit=60)
    assert progress2.state == STOPPED
    reason = dict(progress2.failed)["0"]
    assert reason.startswith("check: ") and "changed" in reason.casefold()
