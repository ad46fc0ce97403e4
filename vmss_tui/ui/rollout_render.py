"""What the rollout view shows, as Rich Text and table cells, from the rollout tracker's view
(`domain.rollout.RolloutView`) and a guarded rollout's progress: no widget here, so every line
can be checked on its own. Names and messages come from Azure: always text, never markup."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text

from vmss_tui.domain.models import RollingPolicy, RolloutStatus, ScaleSet
from vmss_tui.domain.rollout import (
    EVENT_BATCH_ENDED,
    EVENT_BATCH_STARTED,
    EVENT_FAILED,
    EVENT_STALE,
    EVENT_STATUS,
    EVENT_UPGRADED,
    STATE_DONE,
    STATE_FAILED,
    STATE_PENDING,
    STATE_UPGRADING,
    InstanceRollout,
    RolloutView,
    format_duration,
    parse_arm_time,
)
from vmss_tui.ui.format import format_clock
from vmss_tui.ui.panes.cells import BAD, DIM, GOOD, MARKED, PENDING, PLAIN, WARN, Cell, provisioning_style
from vmss_tui.workflows.guarded_rollout import (
    ABORTED,
    COMPLETED,
    FAILED,
    GATE_FAILED,
    GATE_PASSED,
    GATE_UPDATING,
    INTERRUPTED,
    PAUSED,
    PAUSING,
    STOPPED,
    WAITING,
    GuardedProgress,
    JournalSummary,
    describe_record,
)

MARK_SYMBOL = "●"
CURRENT_SYMBOL = "▶"
CODE_STYLES = {"RollingForward": "bold yellow", "RollingBack": "bold magenta", "Completed": "bold green",
               "Faulted": "bold red", "Cancelled": "bold magenta"}
STATE_STYLES = {STATE_DONE: GOOD, STATE_FAILED: BAD, STATE_UPGRADING: PENDING, STATE_PENDING: DIM}
GUARDED_STYLES = {PAUSED: "bold magenta", PAUSING: "bold magenta", WAITING: "bold cyan", STOPPED: "bold red",
                  ABORTED: "bold red", FAILED: "bold red", INTERRUPTED: "bold red", COMPLETED: "bold green"}
SEGMENTS = (("done", "█", "green"), ("failed", "█", "red"), ("in progress", "▓", "yellow"), ("pending", "░", "grey50"))


@dataclass(frozen=True, slots=True)
class Counts:
    done: int
    failed: int
    in_progress: int
    pending: int
    source: str  # "ARM", "guarded rollout", "latest model" (what the instances run)

    @property
    def total(self) -> int:
        return self.done + self.failed + self.in_progress + self.pending


def rollout_counts(view: RolloutView, guarded: GuardedProgress | None) -> Counts:
    """ARM's counts while (or after) a rolling upgrade, the guarded rollout's while it runs, else
    what the instances say."""
    if guarded is not None:
        return Counts(len(guarded.passed), len(guarded.failed), len(guarded.in_flight), len(guarded.pending),
                      "guarded rollout")
    status = view.status
    if status is not None:
        return Counts(status.successful, status.failed, status.in_progress, status.pending, "ARM")
    states = [i.state for i in view.instances]
    return Counts(states.count(STATE_DONE), states.count(STATE_FAILED), states.count(STATE_UPGRADING),
                  len(states) - states.count(STATE_DONE) - states.count(STATE_FAILED) - states.count(STATE_UPGRADING),
                  "latest model")


def progress_bar(counts: Counts, width: int) -> Text:
    """A segmented bar, then the counts in words."""
    values = (counts.done, counts.failed, counts.in_progress, counts.pending)
    total = sum(values)
    bar = Text()
    if total and width > 0:
        cells = [round(v * width / total) for v in values]
        cells[-1] += width - sum(cells)  # rounding goes to the pending end
        for (_, char, style), count in zip(SEGMENTS, cells, strict=True):
            bar.append(char * max(0, count), style=style)
    elif width > 0:
        bar.append("░" * width, style="grey50")
    words = Text("  ")
    for index, ((label, _, style), value) in enumerate(zip(SEGMENTS, values, strict=True)):
        if index:
            words.append(" · ")
        words.append(str(value), style=f"bold {style}" if value else "dim")
        words.append(f" {label}", style="" if value else "dim")
    words.append(f"  ({counts.source})", style="dim")
    return bar + words


def _arm_clock(text: str | None) -> str | None:
    moment = parse_arm_time(text)
    return format_clock(moment) if moment is not None else text


def status_line(scale_set: ScaleSet, view: RolloutView, *, guarded: bool = False) -> Text:
    """`Rolling · RollingForward · started 14:02:11 · last action Start at 14:03:40`."""
    text = Text.assemble((scale_set.upgrade_mode or "?", "bold"), " · ")
    status = view.status
    if status is None:
        mode = (scale_set.upgrade_mode or "").casefold()
        if guarded:
            text.append("ARM runs no rollout: this console's guarded rollout does (below)", style="dim")
        elif mode == "manual":
            text.append("nothing rolls out by itself: update instances (U) or a guarded rollout (S)", style="dim")
        elif mode == "automatic":
            text.append("Azure updates every instance at once when the model changes", style="dim")
        else:
            text.append("no rolling upgrade has run (start one with S)", style="dim")
        return text
    text.append(status.code, style=CODE_STYLES.get(status.code, "bold"))
    started = _arm_clock(status.start_time)
    if started:
        text.append(f" · started {started}")
    if status.last_action:
        text.append(f" · last action {status.last_action}")
        at = _arm_clock(status.last_action_time)
        if at:
            text.append(f" at {at}")
    return text


def timing_line(view: RolloutView, guarded: GuardedProgress | None, now: float) -> Text:
    """Elapsed, rate, ETA and the batch in flight; and, when the last poll failed, that this is stale."""
    parts: list[str] = []
    if guarded is not None and guarded.started_at is not None:
        elapsed: float | None = max(0.0, now - guarded.started_at)
        finished = len(guarded.passed) + len(guarded.failed)
        rate = finished * 60 / elapsed if elapsed and finished else None
        eta = guarded.eta(now)
        flying = guarded.in_flight
        batch = f"batch {guarded.batch} of {guarded.batches_total}" + (f": {', '.join(flying)}" if flying else "")
    else:
        elapsed, rate, eta = view.elapsed, view.rate_per_minute, view.eta_seconds
        current = view.current_batch
        batch = f"batch {current.number}: {', '.join(current.instance_ids)}" if current is not None else ""
    parts.append(f"elapsed {format_duration(elapsed)}" if elapsed is not None else "elapsed -")
    parts.append(f"{rate:.1f} per min" if rate is not None else "rate -")
    parts.append(f"ETA {format_duration(eta)}" if eta is not None else "ETA -")
    if batch:
        parts.append(batch)
    text = Text(" · ".join(parts))
    if view.stale:
        shown = format_clock(view.observed_at) if view.observed_at is not None else "never"
        text.append(f"  stale: {view.stale_reason} (showing {shown})", style="bold red")
    return text


def policy_line(scale_set: ScaleSet, status: RolloutStatus | None) -> Text:
    """The policy in force: ARM's copy on the rollout, else the scale set's."""
    mode = (scale_set.upgrade_mode or "").casefold()
    policy: RollingPolicy | None = status.policy if status is not None and status.policy else scale_set.rolling_policy
    if policy is None:
        if mode == "manual":
            return Text("policy: Manual: no batches, no health gate, no stop (a guarded rollout adds them)", style="dim")
        if mode == "automatic":
            return Text("policy: Automatic: all instances at once", style="dim")
        return Text("policy: -", style="dim")
    yes_no = {True: "yes", False: "no"}
    return Text(
        f"policy: batches {policy.max_batch_instance_percent}% · pause {policy.pause_time_between_batches} · "
        f"unhealthy ≤ {policy.max_unhealthy_instance_percent}% · upgraded unhealthy ≤ "
        f"{policy.max_unhealthy_upgraded_instance_percent}% · unhealthy first {yes_no[policy.prioritize_unhealthy_instances]}"
        f" · surge {yes_no[policy.max_surge]}",
        style="dim",
    )


def guarded_line(guarded: GuardedProgress | None, journal: JournalSummary | None, now: float) -> Text | None:
    """The guarded rollout's own line (or the journal's, when one is left from before)."""
    if guarded is not None:
        text = Text(guarded.headline(), style=GUARDED_STYLES.get(guarded.state, "bold"))
        text.append(f" · {len(guarded.passed)} passed · {len(guarded.failed)} failed "
                    f"(stops above {guarded.plan.failure_threshold})")
        if guarded.state == WAITING and guarded.next_batch_at is not None:
            text.append(f" · next batch in {format_duration(max(0.0, guarded.next_batch_at - now))}")
        waiting = [g for g in guarded.current if g.reason and g.state not in (GATE_PASSED, GATE_FAILED)]
        if waiting and guarded.active:
            text.append(f" · {waiting[0].instance_id}: {waiting[0].reason}", style="yellow")
        if not guarded.active and journal is not None and journal.resumable:
            text.append(" · r resumes it, F puts the journal away")
        return text
    if journal is not None:
        text = Text(journal.headline(now), style="bold magenta")
        if journal.resumable:
            text.append(" · r resumes it, F puts the journal away", style="")
        return text
    return None


def error_text(status: RolloutStatus | None) -> str | None:
    """ARM's error of the rollout in full (for a selectable text area), or None."""
    if status is None or not (status.error_code or status.error_message):
        return None
    lines = [": ".join(x for x in (status.error_code, status.error_message) if x)]
    for detail in status.error_details:
        lines.append("  " + ": ".join(x for x in (detail.target, detail.code, detail.message) if x))
    return "\n".join(lines)


def instance_cells(
    row: InstanceRollout,
    *,
    marked: bool,
    current: bool,
    batch: int | None,
    gate_state: str | None = None,
    gate_reason: str | None = None,
) -> tuple[Cell, ...]:
    """One cell per column of the rollout table."""
    state = row.state
    note = row.failure or ""
    if gate_state == GATE_FAILED:
        state, note = STATE_FAILED, gate_reason or note
    elif gate_state == GATE_UPDATING and state == STATE_PENDING:
        state = STATE_UPGRADING
    elif gate_reason and gate_state != GATE_PASSED:
        note = f"waiting: {gate_reason}"
    health = row.health or "-"
    health_style = BAD if health == "unhealthy" else (DIM if health in ("-", "healthy") else WARN)
    latest: Cell = ("?", DIM) if row.latest_model is None else (("yes", DIM) if row.latest_model else ("no", "bold yellow"))
    batch_text = "" if batch is None else (f"{CURRENT_SYMBOL} {batch}" if current else str(batch))
    return (
        (MARK_SYMBOL if marked else " ", MARKED),
        (row.instance_id, MARKED if marked else (PENDING if current else "bold")),
        (state, STATE_STYLES.get(state, DIM)),
        (batch_text, PENDING if current else DIM),
        latest,
        (row.provisioning_state, provisioning_style(row.provisioning_state)),
        (row.power_state, GOOD if row.power_state == "running" else WARN),
        (health, health_style),
        (note, BAD if state == STATE_FAILED else (WARN if note else PLAIN)),
    )


EVENT_STYLES = {EVENT_FAILED: "red", EVENT_STALE: "red", EVENT_UPGRADED: "green", EVENT_BATCH_STARTED: "yellow",
                EVENT_BATCH_ENDED: "", EVENT_STATUS: "bold"}
RECORD_STYLES = {"instance-failed": "red", STOPPED: "bold red", ABORTED: "bold red", FAILED: "bold red",
                 INTERRUPTED: "bold red", COMPLETED: "bold green", "instance-passed": "green",
                 "batch-started": "yellow", "paused": "magenta", "decision": "bold"}
GUARDED_HIDES = frozenset({EVENT_BATCH_STARTED, EVENT_BATCH_ENDED, EVENT_UPGRADED})  # the journal says them better


def timeline(view: RolloutView, records: Sequence[Mapping[str, object]], limit: int) -> list[tuple[float, str, str]]:
    """(time, text, style) of the tracker's events and the guarded rollout's journal, in time order."""
    events: list[tuple[float, str, str]] = [
        (e.at, e.text, EVENT_STYLES.get(e.kind, "")) for e in view.events if not (records and e.kind in GUARDED_HIDES)
    ]
    for record in records:
        at = record.get("at")
        if isinstance(at, int | float) and record.get("kind") != "note":
            events.append((float(at), describe_record(record), RECORD_STYLES.get(str(record.get("kind")), "")))
        elif record.get("kind") == "note" and isinstance(at, int | float):
            events.append((float(at), f"instance {record.get('instance_id')}: {record.get('text')}", "dim"))
    events.sort(key=lambda e: e[0])
    return events[-limit:]


def timeline_text(events: Iterable[tuple[float, str, str]]) -> Text:
    text = Text()
    for index, (at, line, style) in enumerate(events):
        if index:
            text.append("\n")
        text.append(format_clock(at), style="dim")
        text.append(" ")
        text.append(line, style=style)
    if not text:
        text.append("Nothing has happened yet: events appear here as the rollout goes.", style="dim")
    return text
