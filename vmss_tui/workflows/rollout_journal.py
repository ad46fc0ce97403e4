"""The guarded rollout's journal: one JSON-lines file per rollout in the user state directory,
each batch, result and decision appended (and flushed to disk) as it happens, so a crash or a
closed terminal loses nothing; read back, it says where the rollout stopped and what is left."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vmss_tui.domain.models import ScaleSet
from vmss_tui.domain.rollout import format_duration
from vmss_tui.workflows.guarded_plan import (
    ABORTED,
    CLOSED,
    COMPLETED,
    FAILED,
    INTERRUPTED,
    PAUSED,
    RUNNING,
    STOPPED,
    GuardedPlan,
)

log = logging.getLogger(__name__)

APP_NAME = "vmss-tui"
JOURNAL_VERSION = 1


def journal_directory() -> Path:
    """`user_state_dir("vmss-tui")/rollouts` (honours $XDG_STATE_HOME)."""
    from platformdirs import user_state_dir

    return Path(user_state_dir(APP_NAME, appauthor=False)) / "rollouts"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", text.casefold()).strip("-") or "x"


def _process_alive(pid: int | None, host: str | None) -> bool:
    if not pid or host != socket.gethostname() or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True, slots=True)
class JournalSummary:
    """Where a guarded rollout is, as its journal says."""

    path: Path
    scale_set_id: str
    scale_set: str
    resource_group: str
    state: str  # RUNNING (no end record: running elsewhere or cut off), PAUSED, or one of FINAL_STATES / CLOSED
    plan: GuardedPlan
    batches_total: int
    last_batch_ended: int  # 0: none finished
    batch_in_flight: int | None  # started and not ended when the journal stops
    last_at: float
    passed: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]  # (instance id, reason)
    reason: str | None  # why it stopped
    running_elsewhere: bool  # the process that wrote it is still alive on this machine

    @property
    def remaining(self) -> tuple[str, ...]:
        done = set(self.passed) | {i for i, _ in self.failed}
        return tuple(i for i in self.plan.instance_ids if i not in done)

    @property
    def resumable(self) -> bool:
        return self.state not in (COMPLETED, CLOSED) and bool(self.remaining) and not self.running_elsewhere

    def headline(self, now: float | None = None) -> str:
        """`a guarded rollout of vmss-api stopped after batch 3 of 5 at 14:02 (4 failed, more than 2)`
        (the date too when it was not today)."""
        moment = time.localtime(self.last_at)
        today = time.localtime(time.time() if now is None else now)
        same_day = (today.tm_year, today.tm_yday) == (moment.tm_year, moment.tm_yday)
        at = time.strftime("%H:%M" if same_day else "%Y-%m-%d %H:%M", moment)
        of = f" of {self.batches_total}"
        if self.state == COMPLETED:
            return f"a guarded rollout of {self.scale_set} completed {self.batches_total} batches at {at}"
        if self.running_elsewhere:
            return f"a guarded rollout of {self.scale_set} is running in another vmss-tui (batch {self.batch_in_flight or self.last_batch_ended}{of})"
        verb = {PAUSED: "is paused", ABORTED: "was aborted", CLOSED: "was put away"}.get(self.state, "stopped")
        if self.batch_in_flight is not None:
            where = f"during batch {self.batch_in_flight}{of}"
        elif self.last_batch_ended:
            where = f"after batch {self.last_batch_ended}{of}"
        else:
            where = f"before its first batch (0{of})"
        text = f"a guarded rollout of {self.scale_set} {verb} {where} at {at}"
        return f"{text} ({self.reason})" if self.reason else text


class Journal:
    """One guarded rollout's JSON-lines journal; `append` writes each record as it happens."""

    def __init__(self, path: Path, records: list[dict[str, Any]]) -> None:
        self.path = path
        self.records = records

    @classmethod
    def new_path(cls, scale_set: ScaleSet, now: float, directory: Path | None = None) -> Path:
        folder = directory if directory is not None else journal_directory()
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
        base = f"{_slug(scale_set.resource_group)}--{_slug(scale_set.name)}--{stamp}"
        path = folder / f"{base}.jsonl"
        counter = 2
        while path.exists():
            path = folder / f"{base}-{counter}.jsonl"
            counter += 1
        return path

    @classmethod
    def load(cls, path: Path) -> Journal:
        """Read a journal (blocking: call it in a thread). A torn last line (a crash mid-write) is
        left out; so is anything that is not a JSON object."""
        records: list[dict[str, Any]] = []
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and isinstance(record.get("kind"), str):
                    records.append(record)
        return cls(path, records)

    def _write(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, separators=(",", ":")) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def append_now(self, kind: str, at: float, **fields: Any) -> dict[str, Any]:
        """Append one record, blocking (for the way out, when no thread can be awaited)."""
        record = {"at": round(at, 3), "kind": kind, **fields}
        self._write(record)
        self.records.append(record)
        return record

    async def append(self, kind: str, at: float, **fields: Any) -> dict[str, Any]:
        record = {"at": round(at, 3), "kind": kind, **fields}
        await asyncio.to_thread(self._write, record)
        self.records.append(record)
        return record

    # ------------------------------------------------------------------ reading it back
    def summary(self) -> JournalSummary:
        """Raises ValueError when the journal is not one (or was edited beyond reading)."""
        try:
            return self._summary()
        except (TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"{self.path}: unreadable guarded rollout journal ({exc})") from exc

    def _summary(self) -> JournalSummary:
        first = next((r for r in self.records if r["kind"] == "started"), None)
        if first is None:
            raise ValueError(f"{self.path}: not a guarded rollout journal (no started record)")
        plan = GuardedPlan.from_json(first.get("plan") or {})
        total = int(first.get("batches_total") or len(plan.batches()))
        writer = (first.get("pid"), first.get("host"))
        passed: list[str] = []
        failed: dict[str, str] = {}
        ended = 0
        in_flight: int | None = None
        state, reason = RUNNING, None
        for record in self.records:
            kind = record["kind"]
            if kind == "resumed":
                plan = GuardedPlan.from_json(record.get("plan") or {})
                total = int(record.get("batches_total") or total)
                writer = (record.get("pid"), record.get("host"))
                state, reason, in_flight = RUNNING, None, None
            elif kind == "batch-started":
                in_flight = int(record.get("batch") or 0)
                state = RUNNING
            elif kind == "batch-ended":
                ended = int(record.get("batch") or ended)
                in_flight = None
            elif kind == "instance-passed":
                passed.append(str(record.get("instance_id")))
            elif kind == "instance-failed":
                failed[str(record.get("instance_id"))] = str(record.get("reason") or "failed")
            elif kind in ("paused", "resumed-paused"):
                state = PAUSED if kind == "paused" else RUNNING
            elif kind in (STOPPED, ABORTED, COMPLETED, FAILED, INTERRUPTED, CLOSED):
                state, reason = kind, record.get("reason") or None
        initial = first.get("plan") or {}
        return JournalSummary(
            path=self.path,
            scale_set_id=str(first.get("scale_set_id") or ""),
            scale_set=str(first.get("scale_set") or ""),
            resource_group=str(first.get("resource_group") or ""),
            state=state,
            plan=replace(plan, instance_ids=tuple(str(i) for i in initial.get("instance_ids") or plan.instance_ids)),
            batches_total=total,
            last_batch_ended=ended,
            batch_in_flight=in_flight,
            last_at=float(self.records[-1].get("at") or 0.0),
            passed=tuple(dict.fromkeys(passed)),
            failed=tuple(failed.items()),
            reason=reason,
            running_elsewhere=state in (RUNNING, PAUSED) and _process_alive(*writer),
        )

    def lines(self, limit: int = 200) -> list[tuple[float, str]]:
        """(time, text) of each record, for people."""
        return [(float(r.get("at") or 0.0), describe_record(r)) for r in self.records[-limit:]]


def describe_record(record: Mapping[str, Any]) -> str:
    kind = record.get("kind")
    batch = record.get("batch")
    ids = ", ".join(str(i) for i in record.get("instance_ids") or ())
    if kind == "started":
        return f"guarded rollout of {record.get('scale_set')} started: {record.get('plan_text', '')}".rstrip(": ")
    if kind == "resumed":
        return f"resumed from the journal at batch {record.get('from_batch')}: {record.get('plan_text', '')}".rstrip(": ")
    if kind == "batch-started":
        return f"batch {batch} of {record.get('of')} started: update-instances {ids}"
    if kind == "update-submitted":
        return f"batch {batch}: update-instances accepted by ARM ({record.get('status')})"
    if kind == "update-ended":
        detail = ": ".join(str(x) for x in (record.get("error_code"), record.get("error_message")) if x)
        return f"batch {batch}: update-instances {str(record.get('status', '')).lower()}" + (f" ({detail})" if detail else "")
    if kind == "instance-passed":
        took = record.get("took")
        text = f"instance {record.get('instance_id')} passed" + (f" in {format_duration(float(took))}" if took is not None else "")
        return text + (f" ({record.get('note')})" if record.get("note") else "")
    if kind == "instance-failed":
        return f"instance {record.get('instance_id')} failed: {record.get('reason')}"
    if kind == "batch-ended":
        failed = record.get("failed") or []
        text = f"batch {batch} finished in {format_duration(float(record.get('took') or 0))}"
        return text + (f" ({len(failed)} failed: {', '.join(map(str, failed))})" if failed else "")
    if kind == "decision":
        return f"decision: {record.get('decision')} ({record.get('reason')})"
    if kind == "pausing":
        return f"pause of {format_duration(float(record.get('seconds') or 0))} before batch {record.get('next_batch')}"
    if kind == "pause-requested":
        return "pause asked: the batch in flight finishes first"
    if kind == "paused":
        return "paused (resume to go on)"
    if kind == "resumed-paused":
        return "resumed"
    if kind in (STOPPED, ABORTED, COMPLETED, FAILED, INTERRUPTED, CLOSED):
        reason = record.get("reason")
        return f"{kind}" + (f": {reason}" if reason else "")
    return str(kind)


def _journals(directory: Path | None) -> list[Journal]:
    folder = directory if directory is not None else journal_directory()
    if not folder.is_dir():
        return []
    journals = []
    for path in sorted(folder.glob("*.jsonl")):
        try:
            journal = Journal.load(path)
        except OSError as exc:
            log.warning("cannot read the guarded rollout journal %s: %s", path, exc)
            continue
        if any(r["kind"] == "started" for r in journal.records):
            journals.append(journal)
    return journals


def _started(journal: Journal) -> dict[str, Any]:
    return next(r for r in journal.records if r["kind"] == "started")


def _newest_by_scale_set(directory: Path | None) -> dict[str, Journal]:
    newest: dict[str, Journal] = {}
    for journal in _journals(directory):
        key = str(_started(journal).get("scale_set_id", "")).casefold()
        if key not in newest or float(_started(journal).get("at") or 0) >= float(_started(newest[key]).get("at") or 0):
            newest[key] = journal
    return newest


def latest_journal(scale_set_id: str, directory: Path | None = None) -> Journal | None:
    """The newest journal of this scale set (blocking: call it in a thread)."""
    return _newest_by_scale_set(directory).get(scale_set_id.casefold())


def unfinished_journals(directory: Path | None = None) -> list[JournalSummary]:
    """The newest journal of each scale set, where it is not completed or put away (blocking)."""
    newest = _newest_by_scale_set(directory)
    summaries = []
    for journal in newest.values():
        try:
            summary = journal.summary()
        except ValueError:
            continue
        if summary.state not in (COMPLETED, CLOSED):
            summaries.append(summary)
    return sorted(summaries, key=lambda s: s.last_at)


async def close_journal(journal: Journal, *, clock: Callable[[], float] = time.time) -> None:
    """Put a journal away: the console stops telling of it."""
    await journal.append(CLOSED, clock(), reason="put away by the operator")

