"""Rollouts as people watch them: a state per instance where ARM keeps none, and a tracker that
turns successive polls into batches, a timeline, a rate and an ETA.

ARM's `rollingUpgrades/latest` gives counts (successful, failed, in progress, pending), never
which instance is in which batch. The per-instance state comes from what each poll's instance
list says:

- upgrading: its provisioning state is Updating or Creating (Creating: a maxSurge replacement);
- failed: its provisioning state is Failed, or it is unhealthy after the rollout reached it
  (it runs the latest model, or a poll saw it upgrading);
- done: it runs the latest model and is Succeeded;
- pending: otherwise.

Flexible scale sets: a VM carries no `latestModelApplied` (ARM does not say, and nothing here
guesses). An instance of such a set is done only once a poll has seen it upgrading and it is
Succeeded again; until the rollout has been seen to reach it, its state is `unknown`.

Times are seconds on one clock chosen by the caller (the console passes `time.time()`, the tests
a fake clock); ARM's ISO timestamps are read on the same scale (seconds since the epoch, UTC).
Nothing here reads a clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from vmss_tui.domain.arm_ids import instance_sort_key
from vmss_tui.domain.models import Instance, RolloutStatus

STATE_PENDING = "pending"
STATE_UPGRADING = "upgrading"
STATE_DONE = "done"
STATE_FAILED = "failed"
STATE_UNKNOWN = "unknown"  # Flexible: ARM does not say which model a VM runs
ROLLOUT_STATES = (STATE_PENDING, STATE_UPGRADING, STATE_DONE, STATE_FAILED, STATE_UNKNOWN)

IN_FLIGHT_PROVISIONING = frozenset({"Updating", "Creating"})
FINAL_CODES = frozenset({"Completed", "Faulted", "Cancelled"})

EVENT_STATUS = "status"
EVENT_BATCH_STARTED = "batch-started"
EVENT_BATCH_ENDED = "batch-ended"
EVENT_UPGRADED = "upgraded"
EVENT_FAILED = "failed"
EVENT_GONE = "gone"
EVENT_STALE = "stale"


def instance_rollout_state(instance: Instance, *, reached: bool = False) -> str:
    """The rollout state of one instance (see the module docstring).

    `reached`: a poll has seen the rollout work on this instance (it was upgrading)."""
    provisioning = instance.provisioning_state
    if provisioning in IN_FLIGHT_PROVISIONING:
        return STATE_UPGRADING
    if provisioning == "Failed":
        return STATE_FAILED
    reached = reached or instance.latest_model is True
    if reached and instance.health == "unhealthy":
        return STATE_FAILED
    if provisioning == "Succeeded" and (instance.latest_model is True or (instance.latest_model is None and reached)):
        return STATE_DONE
    if instance.latest_model is None and not reached:
        return STATE_UNKNOWN
    return STATE_PENDING


_DURATION = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$",
    re.IGNORECASE,
)


def parse_iso_duration(text: str | None) -> float | None:
    """Seconds of an ISO 8601 duration as rolling upgrade policies carry them (PT0S, PT2M,
    PT1H30M, PT2.5S); None when it is not one."""
    if not text:
        return None
    match = _DURATION.match(text.strip())
    if match is None or text.strip().upper() in ("P", "PT"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return (
        parts.get("days", 0.0) * 86400
        + parts.get("hours", 0.0) * 3600
        + parts.get("minutes", 0.0) * 60
        + parts.get("seconds", 0.0)
    )


def parse_arm_time(text: str | None) -> float | None:
    """Seconds since the epoch of an ARM timestamp ("2024-01-12T20:20:04.1863772+00:00", "...Z");
    None when it does not parse."""
    if not text:
        return None
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    # Python reads at most 6 fractional digits; ARM writes 7.
    value = re.sub(r"(\.\d{6})\d+", r"\1", value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.timestamp()


def format_duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `1 h 02 min`: for timelines and ETAs."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass(frozen=True, slots=True)
class RolloutBatch:
    """Instances a poll saw start upgrading together (ARM does not name its batches)."""

    number: int  # 1, 2, ... in the order seen
    instance_ids: tuple[str, ...]
    started_at: float
    ended_at: float | None = None
    failed_ids: tuple[str, ...] = ()

    @property
    def duration(self) -> float | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True, slots=True)
class RolloutEvent:
    at: float
    kind: str  # EVENT_*
    text: str
    instance_id: str | None = None
    batch: int | None = None


@dataclass(frozen=True, slots=True)
class InstanceRollout:
    """One instance as the rollout view shows it."""

    instance_id: str
    state: str  # STATE_*
    latest_model: bool | None
    provisioning_state: str
    power_state: str
    health: str | None
    batch: int | None = None  # the batch it was seen upgrading in
    started_at: float | None = None  # first poll that saw it upgrading
    ended_at: float | None = None  # first poll that saw it done or failed after that
    failure: str | None = None  # why it failed: the provisioning message, or "unhealthy"


@dataclass(frozen=True, slots=True)
class RolloutView:
    """What the tracker knows after its latest poll."""

    observed_at: float | None
    status: RolloutStatus | None  # ARM's; None when no rolling upgrade ever ran
    instances: tuple[InstanceRollout, ...] = ()
    batches: tuple[RolloutBatch, ...] = ()
    events: tuple[RolloutEvent, ...] = ()
    elapsed: float | None = None  # seconds since the rollout started (to its end once it ended)
    rate_per_minute: float | None = None  # instances finished per minute
    eta_seconds: float | None = None  # from the batch durations seen so far; None: not known yet
    stale: bool = False  # the last poll failed: this is the state of `observed_at`
    stale_reason: str | None = None

    @property
    def current_batch(self) -> RolloutBatch | None:
        last = self.batches[-1] if self.batches else None
        return last if last is not None and last.ended_at is None else None

    def count(self, state: str) -> int:
        return sum(1 for i in self.instances if i.state == state)


@dataclass
class _Record:
    reached: bool = False
    batch: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    failure_reported: bool = False


@dataclass
class _Episode:
    """One rolling upgrade (or one stretch of upgrades with no ARM status), from its first sign."""

    start_time: str | None  # ARM's, to recognise the next rollout
    first_seen: float
    ended_seen: float | None = None
    batches: list[RolloutBatch] = field(default_factory=list)
    records: dict[str, _Record] = field(default_factory=dict)


def _failure_text(instance: Instance) -> str:
    if instance.provisioning_state == "Failed":
        message = " ".join((instance.status_message or "").split())
        return (message[:197] + "...") if len(message) > 200 else (message or "provisioning failed")
    return "unhealthy"


def _ids_text(ids: Iterable[str]) -> str:
    return ", ".join(sorted(ids, key=instance_sort_key))


class RolloutTracker:
    """Feed it each poll, `observe(now, status, instances)`; it keeps what no single poll says."""

    MAX_EVENTS = 500

    def __init__(self) -> None:
        self._episode: _Episode | None = None
        self._status: RolloutStatus | None = None
        self._events: list[RolloutEvent] = []
        self._instances: dict[str, Instance] = {}
        self._observed_at: float | None = None
        self._stale_reason: str | None = None
        self._view = RolloutView(observed_at=None, status=None)
        self._states: dict[str, str] = {}  # instance id -> state, as the last poll's follow-up found it

    @property
    def view(self) -> RolloutView:
        return self._view

    def _event(self, at: float, kind: str, text: str, *, instance_id: str | None = None, batch: int | None = None) -> None:
        self._events.append(RolloutEvent(at, kind, text, instance_id, batch))
        if len(self._events) > self.MAX_EVENTS:
            del self._events[: len(self._events) - self.MAX_EVENTS]

    def observe(self, now: float, status: RolloutStatus | None, instances: Sequence[Instance]) -> RolloutView:
        """One successful poll: ARM's rollout status (None on 404) and the scale set's instances."""
        self._stale_reason = None
        self._note_status(now, status)
        # One sort per poll (the list usually comes sorted: then this is a linear check).
        current = {i.instance_id: i for i in sorted(instances, key=lambda i: instance_sort_key(i.instance_id))}
        episode = self._episode
        if episode is None and any(i.provisioning_state in IN_FLIGHT_PROVISIONING for i in instances):
            episode = self._episode = _Episode(start_time=None, first_seen=now)
        if episode is not None:
            self._states = self._follow_instances(now, episode, current)
        else:
            self._states = {}
        if self._observed_at is not None and (episode is not None or (status is not None and status.is_running)):
            for gone in sorted(set(self._instances) - set(current), key=instance_sort_key):
                self._event(now, EVENT_GONE, f"instance {gone} removed", instance_id=gone)
        self._instances = current
        self._observed_at = now
        if episode is not None and episode.start_time is None:
            # Upgrades without an ARM rollout (Automatic, update-instances): over while no batch runs.
            last = episode.batches[-1] if episode.batches else None
            episode.ended_seen = last.ended_at if last is not None else None
        elif episode is not None and episode.ended_seen is None and status is not None and status.code in FINAL_CODES:
            if status.start_time == episode.start_time:
                episode.ended_seen = now
        self._view = self._build_view(now)
        return self._view

    def observe_failure(self, now: float, reason: str) -> RolloutView:
        """A poll that failed (API error, throttling): keep the last state, marked stale."""
        if self._stale_reason is None:
            self._event(now, EVENT_STALE, f"poll failed: {reason}; showing the last state")
        self._stale_reason = reason
        self._view = self._build_view(self._observed_at if self._observed_at is not None else now, stale=True)
        return self._view

    # ---------------------------------------------------------------- internals

    def _note_status(self, now: float, status: RolloutStatus | None) -> None:
        previous = self._status
        self._status = status
        if status is None:
            return
        new_rollout = previous is not None and status.start_time != previous.start_time
        if previous is None or new_rollout or status.code != previous.code:
            text = f"rolling upgrade {status.code}"
            if status.code in ("Faulted", "Cancelled") and status.error_code:
                text += f": {status.error_code}"
            elif previous is None and status.start_time and status.code not in FINAL_CODES:
                text += f" (started {status.start_time})"
            self._event(now, EVENT_STATUS, text)
        episode = self._episode
        if status.is_running and (episode is None or (episode.start_time not in (None, status.start_time))):
            self._episode = _Episode(start_time=status.start_time, first_seen=now)
        elif status.is_running and episode is not None and episode.start_time is None:
            episode.start_time = status.start_time

    def _follow_instances(self, now: float, episode: _Episode, current: dict[str, Instance]) -> dict[str, str]:
        """Records, batches and events from one poll's instances (in instance order); their states."""
        batch = episode.batches[-1] if episode.batches and episode.batches[-1].ended_at is None else None
        started: list[str] = []
        states: dict[str, str] = {}
        for instance_id, instance in current.items():
            record = episode.records.setdefault(instance_id, _Record())
            state = states[instance_id] = instance_rollout_state(instance, reached=record.reached)
            if state == STATE_UPGRADING:
                if record.started_at is None or record.ended_at is not None:
                    record.reached = True
                    record.started_at, record.ended_at = now, None
                    started.append(instance_id)
                continue
            if record.started_at is not None and record.ended_at is None:
                record.ended_at = now
                took = format_duration(now - record.started_at)
                if state == STATE_DONE:
                    self._event(now, EVENT_UPGRADED, f"instance {instance_id} upgraded in {took}",
                                instance_id=instance_id, batch=record.batch)
            if state == STATE_FAILED and not record.failure_reported:
                record.failure_reported = True
                self._event(now, EVENT_FAILED, f"instance {instance_id} failed: {_failure_text(instance)}",
                            instance_id=instance_id, batch=record.batch)
            elif state != STATE_FAILED:
                record.failure_reported = False

        if batch is not None:
            still = [i for i in batch.instance_ids if states.get(i) == STATE_UPGRADING and i not in started]
            if not still and not any(i in batch.instance_ids for i in started):
                failed = tuple(i for i in batch.instance_ids if states.get(i) == STATE_FAILED)
                ended = RolloutBatch(batch.number, batch.instance_ids, batch.started_at, now, failed)
                episode.batches[-1] = ended
                text = f"batch {batch.number} finished in {format_duration(now - batch.started_at)}"
                if failed:
                    text += f" ({len(failed)} failed: {_ids_text(failed)})"
                self._event(now, EVENT_BATCH_ENDED, text, batch=batch.number)
                batch = None
        if started:
            if batch is not None:
                joined = tuple(dict.fromkeys((*batch.instance_ids, *started)))
                episode.batches[-1] = RolloutBatch(batch.number, joined, batch.started_at)
                number = batch.number
                self._event(now, EVENT_BATCH_STARTED, f"batch {number} also: {_ids_text(started)}", batch=number)
            else:
                number = len(episode.batches) + 1
                episode.batches.append(RolloutBatch(number, tuple(started), now))
                self._event(now, EVENT_BATCH_STARTED, f"batch {number} started: {_ids_text(started)}", batch=number)
            for instance_id in started:
                episode.records[instance_id].batch = number
        return states

    def _build_view(self, now: float, *, stale: bool = False) -> RolloutView:
        episode = self._episode
        records = episode.records if episode is not None else {}
        rows: list[InstanceRollout] = []
        for instance_id, instance in self._instances.items():
            record = records.get(instance_id)
            state = self._states.get(instance_id) or instance_rollout_state(
                instance, reached=bool(record and record.reached))
            rows.append(InstanceRollout(
                instance_id=instance_id,
                state=state,
                latest_model=instance.latest_model,
                provisioning_state=instance.provisioning_state,
                power_state=instance.power_state,
                health=instance.health,
                batch=record.batch if record else None,
                started_at=record.started_at if record else None,
                ended_at=record.ended_at if record else None,
                failure=_failure_text(instance) if state == STATE_FAILED else None,
            ))
        batches = tuple(episode.batches) if episode is not None else ()
        elapsed = self._elapsed(now)
        return RolloutView(
            observed_at=self._observed_at,
            status=self._status,
            instances=tuple(rows),
            batches=batches,
            events=tuple(self._events),
            elapsed=elapsed,
            rate_per_minute=self._rate(elapsed, rows, batches),
            eta_seconds=self._eta(now, rows, batches),
            stale=stale,
            stale_reason=self._stale_reason if stale else None,
        )

    def _elapsed(self, now: float) -> float | None:
        episode, status = self._episode, self._status
        if episode is None:
            return None
        start = episode.first_seen
        arm_start = parse_arm_time(status.start_time) if status is not None and status.start_time == episode.start_time else None
        if arm_start is not None and arm_start <= now:
            start = min(start, arm_start)
        end = now
        if episode.ended_seen is not None:
            end = episode.ended_seen
            arm_end = parse_arm_time(status.end_time) if status is not None else None
            if arm_end is not None and start <= arm_end <= episode.ended_seen:
                end = arm_end
        return max(0.0, end - start)

    def _rate(self, elapsed: float | None, rows: Sequence[InstanceRollout], batches: Sequence[RolloutBatch]) -> float | None:
        if elapsed is None or elapsed < 1.0:
            return None
        status = self._status
        if status is not None and self._episode is not None and status.start_time == self._episode.start_time:
            finished = status.successful + status.failed
        else:
            finished = sum(1 for r in rows if r.ended_at is not None and r.state in (STATE_DONE, STATE_FAILED))
        return finished * 60.0 / elapsed if finished else None

    def _eta(self, now: float, rows: Sequence[InstanceRollout], batches: Sequence[RolloutBatch]) -> float | None:
        status = self._status
        if status is not None and status.code in FINAL_CODES and self._episode is not None and (
            status.start_time == self._episode.start_time
        ):
            return 0.0 if status.code == "Completed" else None
        ended = [b for b in batches if b.ended_at is not None]
        if not ended:
            return None
        if status is not None and status.is_running:
            pending = status.pending
        else:
            pending = sum(1 for r in rows if r.state == STATE_PENDING)
        duration = sum(b.duration or 0.0 for b in ended) / len(ended)
        size = max(1.0, sum(len(b.instance_ids) for b in ended) / len(ended))
        gaps = [later.started_at - (earlier.ended_at or earlier.started_at)
                for earlier, later in zip(batches, batches[1:], strict=False) if earlier.ended_at is not None]
        if gaps:
            pause = max(0.0, sum(gaps) / len(gaps))
        else:
            policy = status.policy if status is not None else None
            pause = parse_iso_duration(policy.pause_time_between_batches if policy else None) or 0.0
        cycle = duration + pause
        left = math.ceil(pending / size) if pending else 0
        current = batches[-1] if batches and batches[-1].ended_at is None else None
        if current is not None:
            return max(0.0, duration - (now - current.started_at)) + left * cycle
        if status is None or not status.is_running or not left:
            return None  # nothing runs that would start another batch (or ARM's counts disagree)
        last = batches[-1]
        next_start = (last.ended_at or last.started_at) + pause
        return max(0.0, next_start - now) + duration + (left - 1) * cycle
