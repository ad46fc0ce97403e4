"""The guarded rollout: batches, a health gate and a stop for scale sets whose Manual upgrade
policy has none of them.

    plan = plan_from_input(instance_ids=rollout_targets(instances), batch="2", max_failed="0",
                           pause="30", health_timeout="300", check_command="systemctl is-active nginx")
    rollout = await start_guarded_rollout(fleet, scale_set, plan)      # writes the journal's first line
    progress = await rollout.run()                                     # batch after batch
    rollout.pause(); rollout.resume(); rollout.abort()                 # from the console, any time

Each batch is one update-instances (manual upgrade) of its instances; then the rollout waits until
every one of them runs the latest model, is Succeeded and running, reports `vmHealth` healthy
(where the Application Health extension or a load balancer probe gives one) and, if a check
command was given, passes it over SSH (exit 0, with the SSH tab's connection and host-key code);
then the pause; then the next batch. An instance that has not passed `health_timeout` seconds
after its update ended has failed. When more instances failed than the operator's threshold the
rollout stops by itself after the batch in flight.

Every batch, result and decision is appended to a journal (JSON lines, in the user state
directory) as it happens, so a crash or a closed terminal loses nothing: `latest_journal()` and
`unfinished_journals()` read it back, `JournalSummary.headline()` says where it stopped and
`resume_guarded_rollout()` goes on from there. No Textual here: the console drives it, tests run
it against the simulator on a manual clock (`clock` and `sleep` are injected).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from vmss_tui.azure.errors import FleetError
from vmss_tui.domain.models import Instance, InstanceNic, NatResolution, OperationResult, ScaleSet
from vmss_tui.domain.network import private_ips
from vmss_tui.domain.rollout import format_duration
from vmss_tui.ssh.settings import SshSettings, resolve_target
from vmss_tui.workflows.guarded_plan import (
    ABORTED,
    ACTIVE_STATES,
    CLOSED,
    COMPLETED,
    FAILED,
    FINAL_STATES,
    INTERRUPTED,
    PAUSED,
    PAUSING,
    RUNNING,
    STOPPED,
    WAITING,
    Amount,
    GuardedPlan,
    GuardedPlanError,
    parse_amount,
    parse_seconds,
    plan_from_input,
    rollout_targets,
)
from vmss_tui.workflows.rollout_journal import (
    JOURNAL_VERSION,
    Journal,
    JournalSummary,
    close_journal,
    describe_record,
    journal_directory,
    latest_journal,
    unfinished_journals,
)

# The guarded rollout's names in one place (the plan and the journal have modules of their own).
__all__ = [
    "ABORTED", "ACTIVE_STATES", "CLOSED", "COMPLETED", "FAILED", "FINAL_STATES", "GATE_FAILED", "GATE_PASSED",
    "GATE_UPDATING", "GATE_WAITING", "INTERRUPTED", "PAUSED", "PAUSING", "RUNNING", "STOPPED", "WAITING",
    "Amount", "CheckOutcome", "GuardedPlan", "GuardedPlanError", "GuardedProgress", "GuardedRollout", "InstanceGate",
    "Journal", "JournalSummary", "SshCheck", "close_journal", "describe_record", "journal_directory",
    "latest_journal", "parse_amount", "parse_seconds", "plan_from_input", "resume_guarded_rollout",
    "rollout_targets", "start_guarded_rollout", "unfinished_journals",
]

log = logging.getLogger(__name__)

POLL_INTERVAL = 5.0  # seconds between instance lists while a batch is checked
CHECK_TIME_LIMIT = 60.0  # seconds for one run of the check command once connected
CHECK_CONCURRENCY = 8
SUBMIT_WAIT = 60.0  # seconds an abort waits for the batch's update request to be answered

# An instance of the batch in flight.
GATE_UPDATING = "updating"
GATE_WAITING = "waiting"
GATE_PASSED = "passed"
GATE_FAILED = "failed"


# ---------------------------------------------------------------------- the health gate


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    passed: bool
    reason: str | None = None  # why not, one line
    note: str | None = None  # something worth the journal (a host key trusted)


class InstanceCheck(Protocol):
    """The extra gate after vmHealth (the SSH check command)."""

    async def prepare(self, instances: Sequence[Instance]) -> None: ...

    async def check(self, instance: Instance) -> CheckOutcome: ...


class CheckFleet(Protocol):
    async def list_instance_nics(
        self, scale_set: ScaleSet, instances: Sequence[Instance] | None = None
    ) -> list[InstanceNic]: ...

    async def nat_mappings_for(
        self, scale_set: ScaleSet, instance_nics: Sequence[InstanceNic] | None = None
    ) -> NatResolution: ...


class SshCheck:
    """The check command over SSH, through the same target choice, connection and host-key code as
    the SSH tab. Nobody is asked anything: a host key never seen, or one that changed, is refused,
    except (`trust_updated_host_keys`) the new key of an instance this rollout has just updated."""

    def __init__(self, fleet: CheckFleet, scale_set: ScaleSet, settings: SshSettings, command: str, *,
                 trust_updated_host_keys: bool = True, time_limit: float = CHECK_TIME_LIMIT) -> None:
        self.fleet = fleet
        self.scale_set = scale_set
        self.settings = settings
        self.command = command
        self.trust = trust_updated_host_keys
        self.time_limit = time_limit
        self._resolution: NatResolution | None = None
        self._private: dict[str, str] = {}
        self._gate = asyncio.Semaphore(CHECK_CONCURRENCY)

    async def prepare(self, instances: Sequence[Instance]) -> None:
        """The NAT mappings of the batch's instances (once per batch)."""
        nics = await self.fleet.list_instance_nics(self.scale_set, instances)
        self._resolution = await self.fleet.nat_mappings_for(self.scale_set, nics)
        self._private = private_ips(nics)

    async def check(self, instance: Instance) -> CheckOutcome:
        if self._resolution is None:
            return CheckOutcome(False, "no NAT mappings read yet")
        choice = resolve_target(self.settings, scale_set=self.scale_set, instance=instance,
                                resolution=self._resolution, private_ip=self._private.get(instance.instance_id))
        if choice.target is None:
            return CheckOutcome(False, choice.reason or "no SSH target")
        # asyncssh loads with the first check, not with the console (which imports this module).
        from vmss_tui.ssh.session import FailureKind, SshFailure, SshSession, non_interactive_prompts

        note = None
        async with self._gate:
            for attempt in (1, 2):
                session = SshSession(choice.target, self.settings, non_interactive_prompts(accept_new=self.trust))
                try:
                    result = await session.run(self.command, time_limit=self.time_limit)
                except SshFailure as failure:
                    if failure.kind == FailureKind.HOST_KEY_CHANGED and self.trust and attempt == 1:
                        note = await session.replace_host_key()
                        continue
                    return CheckOutcome(False, f"check: {failure}", note)
                break
        if result.exit_signal:
            return CheckOutcome(False, f"check killed by signal {result.exit_signal}", note)
        if result.exit_status != 0:
            detail = next((line.strip() for line in (result.stderr + "\n" + result.stdout).splitlines() if line.strip()), "")
            return CheckOutcome(False, f"check exit status {result.exit_status}" + (f": {detail[:160]}" if detail else ""), note)
        return CheckOutcome(True, None, note)


# ---------------------------------------------------------------------- the rollout


class RolloutFleet(Protocol):
    """What the rollout reaches Azure through (`vmss_tui.azure.fleet.Fleet` has it)."""

    async def update_instances(
        self, scale_set: ScaleSet, instance_ids: Sequence[str] | None = None, on_progress: Any = None
    ) -> OperationResult: ...

    async def list_instances(self, scale_set: ScaleSet, *, keep_raw: bool = True) -> list[Instance]: ...


@dataclass(frozen=True, slots=True)
class InstanceGate:
    instance_id: str
    state: str  # GATE_*
    reason: str | None = None  # what it waits for, or why it failed


@dataclass(frozen=True, slots=True)
class GuardedProgress:
    """What the rollout is doing now (a snapshot for the console)."""

    scale_set: str
    state: str
    plan: GuardedPlan
    batch: int  # the batch in flight or last run (0 before the first)
    batches_total: int
    current: tuple[InstanceGate, ...] = ()
    passed: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()
    started_at: float | None = None
    next_batch_at: float | None = None  # during the pause between batches
    batch_durations: tuple[float, ...] = ()
    message: str | None = None  # why it stopped, failed or was aborted
    journal_path: Path | None = None

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def pending(self) -> tuple[str, ...]:
        done = set(self.passed) | {i for i, _ in self.failed} | {g.instance_id for g in self.current}
        return tuple(i for i in self.plan.instance_ids if i not in done)

    @property
    def in_flight(self) -> tuple[str, ...]:
        return tuple(g.instance_id for g in self.current if g.state in (GATE_UPDATING, GATE_WAITING))

    def eta(self, now: float) -> float | None:
        """From the batch durations seen so far (and the pause); None before the first ended."""
        if self.state == COMPLETED:
            return 0.0
        if not self.batch_durations or not self.active:
            return None
        per_batch = sum(self.batch_durations) / len(self.batch_durations)
        left = self.batches_total - self.batch
        in_flight = bool(self.in_flight)
        if not in_flight:
            wait = max(0.0, (self.next_batch_at or now) - now)
            return wait + left * per_batch + max(0, left - 1) * self.plan.pause_seconds
        return per_batch + left * (per_batch + self.plan.pause_seconds)

    def headline(self) -> str:
        of = f"batch {self.batch} of {self.batches_total}"
        text = {
            RUNNING: f"guarded rollout: {of}",
            PAUSING: f"guarded rollout: {of}, pausing after it",
            PAUSED: f"guarded rollout paused after {of}",
            WAITING: f"guarded rollout: pause before batch {self.batch + 1} of {self.batches_total}",
            STOPPED: f"guarded rollout stopped after {of}",
            ABORTED: f"guarded rollout aborted in {of}",
            COMPLETED: f"guarded rollout completed: {self.batches_total} batch{'es' if self.batches_total != 1 else ''}",
            FAILED: f"guarded rollout failed in {of}",
            INTERRUPTED: f"guarded rollout interrupted in {of}",
        }.get(self.state, self.state)
        return f"{text} ({self.message})" if self.message and self.state in FINAL_STATES else text


Listener = Callable[[GuardedProgress, "dict[str, Any] | None"], None]


class GuardedRollout:
    """Runs one guarded rollout (see the module docstring); make it with `start_guarded_rollout`
    or `resume_guarded_rollout`, then `await run()`."""

    def __init__(
        self,
        fleet: RolloutFleet,
        scale_set: ScaleSet,
        plan: GuardedPlan,
        journal: Journal,
        *,
        check: InstanceCheck | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        poll_interval: float = POLL_INTERVAL,
        batches_before: int = 0,
        passed: Sequence[str] = (),
        failed: Mapping[str, str] | None = None,
    ) -> None:
        self.fleet = fleet
        self.scale_set = scale_set
        self.plan = plan
        self.journal = journal
        self.check = check
        self.clock = clock
        self._sleep = sleep
        self.poll_interval = poll_interval
        self._first_batch = batches_before + 1
        self._batches = plan.batches()
        self._passed: list[str] = list(passed)
        self._failed: dict[str, str] = dict(failed or {})
        self._threshold = plan.failure_threshold
        self._state = RUNNING
        self._batch = batches_before
        self._current: dict[str, InstanceGate] = {}
        self._durations: list[float] = []
        self._next_batch_at: float | None = None
        self._message: str | None = None
        self._started_at: float | None = None
        self._pause_asked = False
        self._abort_asked = False
        self._wake = asyncio.Event()
        self._listeners: list[Listener] = []
        self._update: asyncio.Task[OperationResult] | None = None
        self._submitted = asyncio.Event()  # the batch's update-instances was accepted by ARM

    # ------------------------------------------------------------------ reading
    @property
    def batches_total(self) -> int:
        return self._first_batch - 1 + len(self._batches)

    @property
    def progress(self) -> GuardedProgress:
        return GuardedProgress(
            scale_set=self.scale_set.name, state=self._state, plan=self.plan, batch=self._batch,
            batches_total=self.batches_total, current=tuple(self._current.values()), passed=tuple(self._passed),
            failed=tuple(self._failed.items()), started_at=self._started_at, next_batch_at=self._next_batch_at,
            batch_durations=tuple(self._durations), message=self._message, journal_path=self.journal.path,
        )

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _changed(self, record: dict[str, Any] | None = None) -> None:
        progress = self.progress
        for listener in list(self._listeners):
            try:
                listener(progress, record)
            except Exception:  # noqa: BLE001 - a listener's bug must not stop a rollout
                log.exception("guarded rollout listener failed")

    def leaves_running(self) -> str | None:
        """What quitting now leaves behind, or None when nothing runs."""
        if self._state not in ACTIVE_STATES:
            return None
        flying = [g.instance_id for g in self._current.values() if g.state == GATE_UPDATING]
        where = f"batch {self._batch} of {self.batches_total}"
        if flying:
            return (f"the guarded rollout of {self.scale_set.name} stops in {where}: the update of instance"
                    f"{'s' if len(flying) != 1 else ''} {', '.join(flying)} continues in Azure; no further batch starts")
        return (f"the guarded rollout of {self.scale_set.name} stops in {where}: no further batch starts "
                "(resume it from its journal with u, then r)")

    # ------------------------------------------------------------------ control
    def pause(self) -> bool:
        if self._state not in (RUNNING, WAITING) or self._pause_asked:
            return False
        self._pause_asked = True
        if self._state == RUNNING:
            self._state = PAUSING
            self._record_soon("pause-requested")
        self._wake.set()
        return True

    def resume(self) -> bool:
        if self._state not in (PAUSING, PAUSED):
            return False
        self._pause_asked = False
        if self._state == PAUSING:
            self._state = RUNNING
            self._changed()
        self._wake.set()
        return True

    def abort(self) -> bool:
        if self._state not in ACTIVE_STATES:
            return False
        self._abort_asked = True
        self._wake.set()
        return True

    def _record_soon(self, kind: str, **fields: Any) -> None:
        # From a key press (not inside the run): written by a task of its own, in order.
        async def write() -> None:
            self._changed(await self.journal.append(kind, self.clock(), **fields))

        asyncio.ensure_future(write())

    async def _record(self, kind: str, **fields: Any) -> dict[str, Any]:
        record = await self.journal.append(kind, self.clock(), **fields)
        self._changed(record)
        return record

    async def _nap(self, seconds: float) -> None:
        """Sleep, woken early by pause, resume or abort."""
        if self._abort_asked:
            return
        self._wake.clear()
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                if not task.done():
                    task.cancel()

    # ------------------------------------------------------------------ running
    async def run(self) -> GuardedProgress:
        """Run the remaining batches; returns the final progress. Cancelling it (the console
        quits) writes `interrupted` to the journal; the update in flight goes on in Azure."""
        self._started_at = self.clock()
        try:
            await self._run()
        except asyncio.CancelledError:
            self._stop_watching_update()
            self._state = INTERRUPTED
            flying = bool(self.progress.in_flight)
            if flying and self._submitted.is_set():
                self._message = "the console quit; the update of the batch in flight goes on in Azure"
            else:
                self._message = "the console quit" + ("; the batch's update was not sent" if flying else "")
            try:
                self.journal.append_now(INTERRUPTED, self.clock(), reason=self._message, batch=self._batch,
                                        in_flight=list(self.progress.in_flight))
            except OSError:
                log.exception("cannot write the guarded rollout journal %s", self.journal.path)
            raise
        except (FleetError, OSError) as exc:
            self._state = FAILED
            self._message = exc.one_line() if isinstance(exc, FleetError) else f"journal: {exc}"
            if not isinstance(exc, OSError):
                await self._record(FAILED, reason=self._message, batch=self._batch)
            else:
                self._changed()
        return self.progress

    async def _run(self) -> None:
        for index, ids in enumerate(self._batches):
            number = self._first_batch + index
            if index:
                if await self._between_batches(number):
                    return
            elif await self._hold_if_paused():
                return
            await self._run_batch(number, ids)
            if self._abort_asked:
                await self._aborted()
                return
            failed = len(self._failed)
            if failed > self._threshold:
                self._state = STOPPED
                self._message = f"{failed} failed, more than the threshold of {self._threshold}"
                await self._record("decision", decision="stop", reason=self._message, batch=number)
                await self._record(STOPPED, reason=self._message, batch=number)
                return
            if index + 1 < len(self._batches):
                await self._record("decision", decision="continue", batch=number,
                                   reason=f"{failed} failed, threshold {self._threshold}")
        self._state = COMPLETED
        self._current = {}
        await self._record(COMPLETED, passed=len(self._passed), failed=len(self._failed),
                           reason=f"{len(self._passed)} passed, {len(self._failed)} failed")

    def _stop_watching_update(self) -> None:
        # The operation goes on in Azure whatever happens here; only its polling stops.
        if self._update is not None and not self._update.done():
            self._update.cancel()

    async def _aborted(self) -> None:
        if self._update is not None and not self._update.done() and not self._submitted.is_set():
            # Never cut the request itself off: Azure may have it already. Wait until it is accepted.
            waiter = asyncio.ensure_future(self._submitted.wait())
            await asyncio.wait({self._update, waiter}, timeout=SUBMIT_WAIT, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
        self._stop_watching_update()
        flying = [g.instance_id for g in self._current.values() if g.state == GATE_UPDATING]
        self._state = ABORTED
        self._message = "by the operator" + (
            f"; the update of {', '.join(flying)} continues in Azure" if flying else "")
        await self._record(ABORTED, reason=self._message, batch=self._batch, in_flight=flying)

    async def _hold_if_paused(self) -> bool:
        """Wait while paused; True when aborted meanwhile."""
        if self._pause_asked:
            self._state = PAUSED
            self._next_batch_at = None
            await self._record("paused", batch=self._batch)
            while self._pause_asked and not self._abort_asked:
                await self._nap(3600)
            if not self._abort_asked:
                self._state = RUNNING
                await self._record("resumed-paused", batch=self._batch)
        if self._abort_asked:
            await self._aborted()
            return True
        return False

    async def _between_batches(self, number: int) -> bool:
        """The pause before batch `number`; True when aborted."""
        if self.plan.pause_seconds > 0 and not self._pause_asked and not self._abort_asked:
            self._state = WAITING
            self._next_batch_at = self.clock() + self.plan.pause_seconds
            await self._record("pausing", seconds=self.plan.pause_seconds, next_batch=number)
            while not self._abort_asked and not self._pause_asked and self.clock() < self._next_batch_at:
                await self._nap(min(self.poll_interval, max(0.0, self._next_batch_at - self.clock())))
            self._next_batch_at = None
        if await self._hold_if_paused():
            return True
        self._state = RUNNING
        return False

    async def _run_batch(self, number: int, ids: tuple[str, ...]) -> None:
        self._batch = number
        started = self.clock()
        self._current = {i: InstanceGate(i, GATE_UPDATING) for i in ids}
        await self._record("batch-started", batch=number, of=self.batches_total, instance_ids=list(ids))
        self._submitted.clear()

        async def progress(status: str) -> None:
            if not self._submitted.is_set():
                self._submitted.set()
                await self._record("update-submitted", batch=number, status=status)

        self._update = asyncio.ensure_future(self.fleet.update_instances(self.scale_set, list(ids), progress))
        update_error: str | None = None
        deadline: float | None = None
        prepared = False
        while True:
            await self._nap(self.poll_interval)
            if self._abort_asked:
                return
            if self._update.done() and deadline is None:
                update_error = await self._update_ended(number)
                deadline = self.clock() + self.plan.health_timeout
            try:
                instances = {i.instance_id: i for i in await self.fleet.list_instances(self.scale_set, keep_raw=False)}
            except FleetError as exc:
                for gate in self._open_gates():
                    self._current[gate.instance_id] = replace(gate, reason=f"listing failed: {exc.one_line()}")
                self._changed()
                if deadline is not None and self.clock() >= deadline:
                    await self._time_out(number, deadline)
                    break
                continue
            if deadline is not None and self.check is not None and not prepared:
                ready = [instances[g.instance_id] for g in self._open_gates() if g.instance_id in instances]
                try:
                    await self.check.prepare(ready)
                    prepared = True
                except FleetError as exc:
                    log.info("guarded rollout: NAT mappings of %s not read: %s", self.scale_set.name, exc.one_line())
            await self._judge(number, instances, update_done=deadline is not None, update_error=update_error,
                              check_ready=prepared, started=started)
            if not self._open_gates():
                break
            if deadline is not None and self.clock() >= deadline:
                await self._time_out(number, deadline)
                break
        took = self.clock() - started
        self._durations.append(took)
        failed_here = [i for i in ids if i in self._failed]
        await self._record("batch-ended", batch=number, took=round(took, 3),
                           passed=[i for i in ids if i in self._passed], failed=failed_here)

    def _open_gates(self) -> list[InstanceGate]:
        return [g for g in self._current.values() if g.state in (GATE_UPDATING, GATE_WAITING)]

    async def _update_ended(self, number: int) -> str | None:
        """Journal the update's end; the error text when it did not succeed."""
        assert self._update is not None
        try:
            result = self._update.result()
        except FleetError as exc:
            await self._record("update-ended", batch=number, status="Failed", error_code=exc.code,
                               error_message=exc.message)
            return exc.one_line()
        await self._record("update-ended", batch=number, status=result.status, error_code=result.error_code,
                           error_message=result.error_message)
        if result.status == "Succeeded":
            return None
        return ": ".join(x for x in (result.error_code, result.error_message) if x) or result.status

    async def _judge(self, number: int, instances: Mapping[str, Instance], *, update_done: bool,
                     update_error: str | None, check_ready: bool, started: float) -> None:
        """One look at each open instance of the batch: passed, failed, or what it waits for."""
        to_check: list[Instance] = []
        for gate in self._open_gates():
            instance = instances.get(gate.instance_id)
            if instance is None:
                await self._fail(number, gate.instance_id, "the instance is gone")
                continue
            if instance.provisioning_state == "Failed":
                await self._fail(number, gate.instance_id, instance.status_message or "provisioning failed")
                continue
            if not update_done or instance.provisioning_state in ("Updating", "Creating"):
                self._current[gate.instance_id] = InstanceGate(gate.instance_id, GATE_UPDATING)
                continue
            if instance.latest_model is False:
                if update_error is not None:
                    await self._fail(number, gate.instance_id, f"update-instances failed: {update_error}")
                else:
                    self._wait(gate, "not on the latest model yet")
                continue
            if instance.power_state in ("stopped", "deallocated"):
                # It takes the model while down, as Azure's own rollouts do; no health to wait for.
                await self._pass(number, gate.instance_id, started, note=f"{instance.power_state}: health not checked")
                continue
            if instance.power_state != "running":
                self._wait(gate, f"power {instance.power_state}")
                continue
            if instance.health not in (None, "healthy"):
                self._wait(gate, f"health {instance.health}")
                continue
            if self.check is None:
                await self._pass(number, gate.instance_id, started)
            elif not check_ready:
                self._wait(gate, "reading its NAT mapping for the check")
            else:
                to_check.append(instance)
        if to_check:
            assert self.check is not None
            outcomes = await asyncio.gather(*(self.check.check(i) for i in to_check))
            for instance, outcome in zip(to_check, outcomes, strict=True):
                if outcome.note:
                    await self._record("note", batch=number, instance_id=instance.instance_id, text=outcome.note)
                if outcome.passed:
                    await self._pass(number, instance.instance_id, started)
                else:
                    self._wait(self._current[instance.instance_id], outcome.reason or "check failed")
        self._changed()

    def _wait(self, gate: InstanceGate, reason: str) -> None:
        self._current[gate.instance_id] = InstanceGate(gate.instance_id, GATE_WAITING, reason)

    async def _pass(self, number: int, instance_id: str, started: float, note: str | None = None) -> None:
        self._current[instance_id] = InstanceGate(instance_id, GATE_PASSED, note)
        self._passed.append(instance_id)
        extra = {"note": note} if note else {}
        await self._record("instance-passed", batch=number, instance_id=instance_id,
                           took=round(self.clock() - started, 3), **extra)

    async def _fail(self, number: int, instance_id: str, reason: str) -> None:
        self._current[instance_id] = InstanceGate(instance_id, GATE_FAILED, reason)
        self._failed[instance_id] = reason
        await self._record("instance-failed", batch=number, instance_id=instance_id, reason=reason)

    async def _time_out(self, number: int, deadline: float) -> None:
        limit = format_duration(self.plan.health_timeout)
        for gate in self._open_gates():
            waited = gate.reason or "not healthy"
            await self._fail(number, gate.instance_id, f"{waited} after {limit} (the health timeout)")


# ---------------------------------------------------------------------- making one


def _writer() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


async def start_guarded_rollout(
    fleet: RolloutFleet,
    scale_set: ScaleSet,
    plan: GuardedPlan,
    *,
    directory: Path | None = None,
    clock: Callable[[], float] = time.time,
    **options: Any,
) -> GuardedRollout:
    """A new journal (its first record written) and the rollout, ready to `run()`.
    `options`: GuardedRollout's (check, sleep, poll_interval)."""
    now = clock()
    journal = Journal(Journal.new_path(scale_set, now, directory), [])
    await journal.append(
        "started", now, version=JOURNAL_VERSION, scale_set_id=scale_set.id, scale_set=scale_set.name,
        resource_group=scale_set.resource_group, subscription_id=scale_set.subscription_id,
        upgrade_mode=scale_set.upgrade_mode, plan=plan.to_json(), plan_text=plan.describe(),
        batches_total=len(plan.batches()), **_writer(),
    )
    return GuardedRollout(fleet, scale_set, plan, journal, clock=clock, **options)


async def resume_guarded_rollout(
    fleet: RolloutFleet,
    scale_set: ScaleSet,
    journal: Journal,
    plan: GuardedPlan,
    *,
    clock: Callable[[], float] = time.time,
    **options: Any,
) -> GuardedRollout:
    """Go on from a journal: `plan` (its instance ids: what is left to roll, usually
    `summary.remaining`) continues the batch numbering after the last batch that ended; what
    passed and failed before still counts against the threshold."""
    summary = journal.summary()
    left = set(plan.instance_ids)
    passed = [i for i in summary.passed if i not in left]
    failed = {i: reason for i, reason in summary.failed if i not in left}
    batches_before = summary.last_batch_ended
    total = batches_before + len(plan.batches())
    await journal.append("resumed", clock(), from_batch=batches_before + 1, plan=plan.to_json(),
                         plan_text=plan.describe(), batches_total=total, **_writer())
    return GuardedRollout(fleet, scale_set, plan, journal, clock=clock, batches_before=batches_before,
                          passed=passed, failed=failed, **options)
