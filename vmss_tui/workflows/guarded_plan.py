"""What a guarded rollout is asked to do (`GuardedPlan`, checked field by field as typed) and the
words for where one is (RUNNING, PAUSED, STOPPED ...). No I/O here."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vmss_tui.domain.models import Instance
from vmss_tui.domain.rollout import format_duration, parse_iso_duration

DEFAULT_HEALTH_TIMEOUT = 300.0

# What the rollout is doing (GuardedProgress.state).
RUNNING = "running"  # a batch is being updated and checked
PAUSING = "pausing"  # pause asked: the batch in flight finishes first
PAUSED = "paused"
WAITING = "waiting"  # the pause between two batches
STOPPED = "stopped"  # failures passed the threshold
ABORTED = "aborted"
COMPLETED = "completed"
FAILED = "failed"  # the rollout itself could not go on (an ARM call failed)
INTERRUPTED = "interrupted"  # the console quit while it ran
CLOSED = "closed"  # the operator put the journal away
ACTIVE_STATES = frozenset({RUNNING, PAUSING, PAUSED, WAITING})
FINAL_STATES = frozenset({STOPPED, ABORTED, COMPLETED, FAILED, INTERRUPTED})


class GuardedPlanError(ValueError):
    """What was wrong with the typed plan: one line per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


# ---------------------------------------------------------------------- the plan


@dataclass(frozen=True, slots=True)
class Amount:
    """A number of instances, or a percentage of the instances in the rollout."""

    value: int
    percent: bool = False

    def of(self, total: int) -> int:
        return math.floor(total * self.value / 100) if self.percent else self.value

    def text(self) -> str:
        return f"{self.value}%" if self.percent else str(self.value)


_AMOUNT = re.compile(r"^\s*(\d{1,4})\s*(%?)\s*$")


def parse_amount(text: str, *, where: str, minimum: int) -> Amount:
    """`3` or `25%`."""
    match = _AMOUNT.match(text or "")
    if match is None:
        raise GuardedPlanError([f"{where}: {text.strip()!r} is not a whole number or a percentage (e.g. 2 or 25%)"])
    value, percent = int(match.group(1)), bool(match.group(2))
    if value < minimum or (percent and value > 100):
        top = "100%" if percent else "the instance count"
        raise GuardedPlanError([f"{where}: {value}{'%' if percent else ''} is out of range ({minimum} to {top})"])
    return Amount(value, percent)


_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h)?\s*$", re.IGNORECASE)


def parse_seconds(text: str, *, where: str) -> float:
    """`30`, `30s`, `2m`, `1h` or an ISO 8601 duration (`PT30S`, as rolling policies write it)."""
    match = _SECONDS.match(text or "")
    if match is not None:
        unit = (match.group(2) or "s").casefold()
        return float(match.group(1)) * {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}[unit]
    iso = parse_iso_duration(text)
    if iso is None:
        raise GuardedPlanError([f"{where}: {text.strip()!r} is not a duration (e.g. 30, 30s, 2m, PT30S)"])
    return iso


@dataclass(frozen=True, slots=True)
class GuardedPlan:
    """What the operator chose; the instances in the order they roll."""

    instance_ids: tuple[str, ...]
    batch: Amount
    max_failed: Amount  # stop when more instances than this failed
    pause_seconds: float = 0.0
    health_timeout: float = DEFAULT_HEALTH_TIMEOUT
    check_command: str | None = None
    # An update replaces the OS disk and with it the SSH host key: the check trusts the new key of
    # an instance this rollout has just updated (and only then).
    trust_updated_host_keys: bool = True
    # Percentages are of the whole rollout: a resumed plan lists only what is left.
    total_instances: int = 0  # 0: len(instance_ids)

    @property
    def size(self) -> int:
        return self.total_instances or len(self.instance_ids)

    @property
    def batch_size(self) -> int:
        return max(1, self.batch.of(self.size))

    @property
    def failure_threshold(self) -> int:
        return self.max_failed.of(self.size)

    def batches(self) -> list[tuple[str, ...]]:
        size = self.batch_size
        ids = self.instance_ids
        return [ids[i : i + size] for i in range(0, len(ids), size)]

    def describe(self) -> str:
        """One line: `batches of 2 (3 batches) · stop when more than 0 fail · pause 30 s · ...`."""
        count = len(self.batches())
        parts = [
            f"batches of {self.batch_size} ({count} batch{'es' if count != 1 else ''})",
            f"stop when more than {self.failure_threshold} fail",
            f"pause {format_duration(self.pause_seconds)}",
            f"health within {format_duration(self.health_timeout)}",
        ]
        if self.check_command:
            parts.append(f"check over SSH: {self.check_command}")
        return " · ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "instance_ids": list(self.instance_ids),
            "batch": self.batch.text(),
            "max_failed": self.max_failed.text(),
            "pause_seconds": self.pause_seconds,
            "health_timeout": self.health_timeout,
            "check_command": self.check_command,
            "trust_updated_host_keys": self.trust_updated_host_keys,
            "total_instances": self.size,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> GuardedPlan:
        return GuardedPlan(
            instance_ids=tuple(str(i) for i in data.get("instance_ids") or ()),
            batch=parse_amount(str(data.get("batch", "1")), where="batch", minimum=1),
            max_failed=parse_amount(str(data.get("max_failed", "0")), where="max failed", minimum=0),
            pause_seconds=float(data.get("pause_seconds") or 0.0),
            health_timeout=float(data.get("health_timeout") or DEFAULT_HEALTH_TIMEOUT),
            check_command=data.get("check_command") or None,
            trust_updated_host_keys=bool(data.get("trust_updated_host_keys", True)),
            total_instances=int(data.get("total_instances") or 0),
        )


def plan_from_input(
    *,
    instance_ids: Sequence[str],
    batch: str,
    max_failed: str,
    pause: str = "0",
    health_timeout: str = "300",
    check_command: str | None = None,
    trust_updated_host_keys: bool = True,
    total_instances: int = 0,
    already_failed: int = 0,
) -> GuardedPlan:
    """Every field checked as typed; all problems raised together (one line each). A resumed
    rollout gives `total_instances` (percentages are of the whole rollout) and `already_failed`
    (failures it carries over: the threshold must not be below them)."""
    problems: list[str] = []
    ids = tuple(dict.fromkeys(str(i) for i in instance_ids))
    if not ids:
        problems.append("instances: none to roll out (every instance runs the latest model; mark some to update them)")
    parsed: dict[str, Any] = {}
    for name, text, where, minimum in (("batch", batch, "batch size", 1), ("max_failed", max_failed, "stop after", 0)):
        try:
            parsed[name] = parse_amount(text, where=where, minimum=minimum)
        except GuardedPlanError as exc:
            problems.extend(exc.problems)
    for name, text, where in (("pause", pause, "pause"), ("health_timeout", health_timeout, "health timeout")):
        try:
            parsed[name] = parse_seconds(text, where=where)
        except GuardedPlanError as exc:
            problems.extend(exc.problems)
    if "health_timeout" in parsed and parsed["health_timeout"] < 1:
        problems.append("health timeout: at least 1 second")
    command = (check_command or "").strip() or None
    if command is not None and "\n" in command:
        problems.append("check command: one line")
    if not problems:
        plan = GuardedPlan(ids, parsed["batch"], parsed["max_failed"], parsed["pause"], parsed["health_timeout"],
                           command, trust_updated_host_keys, max(total_instances, len(ids)))
        if ids and not parsed["batch"].percent and parsed["batch"].value > len(ids):
            problems.append(f"batch size: {parsed['batch'].value} is more than the {len(ids)} instances to roll out")
        if already_failed and plan.failure_threshold < already_failed:
            problems.append(f"stop after: {already_failed} already failed; raise it to at least {already_failed} to go on")
        if not problems:
            return plan
    raise GuardedPlanError(problems)


def rollout_targets(instances: Sequence[Instance], marked: Iterable[str] = ()) -> tuple[str, ...]:
    """What a guarded rollout updates: the marked instance ids (in instance order), else every
    instance not on the latest model. A Flexible VM does not say (latest_model None): all of them."""
    wanted = set(marked)
    if wanted:
        return tuple(i.instance_id for i in instances if i.instance_id in wanted)
    return tuple(i.instance_id for i in instances if i.latest_model is not True and i.provisioning_state != "Deleting")
