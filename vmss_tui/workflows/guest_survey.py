"""The disks of every instance of a scale set, as ARM and each guest see them, over SSH.

    survey = GuestSurvey(fleet, ssh_settings, accept_new=False)
    result = await survey.refresh(scale_set)               # every instance, 8 inspections at once
    result.instances[0].summary()                          # "all 2 data disks mounted"
    survey.cached(scale_set).age(time.monotonic())         # seconds since the oldest entry was read
    await survey.get(scale_set, max_age=60)                # the cached survey while it is young enough
    await survey.inspect(scale_set, instance)              # one instance now (the disk pane's selection)

One listing of the instances, their NICs and NAT mappings per refresh (three ARM reads whatever the
instance count), then one SSH exec per running instance. An instance that cannot be reached (stopped,
no NAT mapping, auth failed, host key unknown or changed, refused, timed out) says why in its entry
and never holds up the others: each inspection is bounded in time and its failure stays its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from vmss_tui.azure.errors import FleetError
from vmss_tui.domain.disks import (
    KIND_DATA,
    STATE_MOUNTED,
    DiskRow,
    all_data_mounted,
    join_disks,
    unreachable_rows,
)
from vmss_tui.domain.models import Instance, InstanceNic, NatResolution, ScaleSet
from vmss_tui.ssh.guest import GuestInspection, hint_for, inspect_instance
from vmss_tui.ssh.settings import SshSettings

log = logging.getLogger(__name__)

DEFAULT_CONCURRENCY = 8
INSTANCE_TIME_LIMIT = 120.0  # seconds for one instance, connecting included: a backstop, never reached normally


class SurveyFleet(Protocol):
    """What the survey reads through the data layer (`vmss_tui.azure.fleet.Fleet` has it)."""

    async def list_instances(self, scale_set: ScaleSet) -> list[Instance]: ...

    async def list_instance_nics(
        self, scale_set: ScaleSet, instances: Sequence[Instance] | None = None
    ) -> list[InstanceNic]: ...

    async def nat_mappings_for(
        self, scale_set: ScaleSet, instance_nics: Sequence[InstanceNic] | None = None
    ) -> NatResolution: ...


# (scale set, instance, resolution, settings, accept_new, private ip) -> inspection
Inspector = Callable[[ScaleSet, Instance, NatResolution, SshSettings, bool, "str | None"], Awaitable[GuestInspection]]


async def _inspect(scale_set: ScaleSet, instance: Instance, resolution: NatResolution, settings: SshSettings,
                   accept_new: bool, private_ip: str | None) -> GuestInspection:
    return await inspect_instance(scale_set, instance, resolution, settings, accept_new=accept_new,
                                  private_ip=private_ip)


@dataclass(frozen=True, slots=True)
class InstanceDisks:
    """One instance's disk rows, or why its guest could not be read (the ARM rows are kept)."""

    instance: Instance
    rows: tuple[DiskRow, ...]
    reachable: bool
    fetched_at: float
    reason: str | None = None  # why not reachable, one line
    kind: str | None = None  # the failure kind (ssh.session.FailureKind value, or ssh.guest's)
    hint: str | None = None  # what to do about it
    notes: tuple[str, ...] = ()  # what the guest's output lacked (no links, fstab unreadable ...)

    @property
    def instance_id(self) -> str:
        return self.instance.instance_id

    @property
    def data_rows(self) -> tuple[DiskRow, ...]:
        return tuple(r for r in self.rows if r.kind == KIND_DATA and r.arm_name is not None)

    @property
    def all_data_mounted(self) -> bool | None:
        return all_data_mounted(self.rows) if self.reachable else None

    def summary(self) -> str:
        """One line: "all 2 data disks mounted", "1 of 2 data disks mounted (LUN 1 empty)",
        "unreachable: instance web/3 is deallocated: start it to connect"."""
        if not self.reachable:
            return f"unreachable: {self.reason}"
        data = self.data_rows
        if not data:
            return "no data disks"
        mounted = [r for r in data if r.state == STATE_MOUNTED]
        if len(mounted) == len(data):
            return f"all {len(data)} data disk{'s' if len(data) != 1 else ''} mounted"
        others = ", ".join(f"LUN {r.lun} {r.state}" for r in data if r.state != STATE_MOUNTED)
        return f"{len(mounted)} of {len(data)} data disks mounted ({others})"

    def age(self, now: float) -> float:
        return max(0.0, now - self.fetched_at)


@dataclass(frozen=True, slots=True)
class Survey:
    """The disks of a scale set's instances, with when each was read."""

    scale_set: ScaleSet
    instances: tuple[InstanceDisks, ...]
    started_at: float
    finished_at: float
    error: str | None = None  # the listing itself failed (the instances shown are from before)

    def age(self, now: float) -> float:
        """Seconds since the oldest entry was read (0 for an empty survey)."""
        if not self.instances:
            return max(0.0, now - self.finished_at)
        return max(entry.age(now) for entry in self.instances)

    def entry(self, instance_id: str) -> InstanceDisks | None:
        return next((e for e in self.instances if e.instance_id == instance_id), None)

    @property
    def fully_mounted(self) -> tuple[str, ...]:
        """Ids of the instances whose every data disk is mounted."""
        return tuple(e.instance_id for e in self.instances if e.all_data_mounted)

    @property
    def not_fully_mounted(self) -> tuple[str, ...]:
        return tuple(e.instance_id for e in self.instances if e.all_data_mounted is False)

    @property
    def unreachable(self) -> tuple[str, ...]:
        return tuple(e.instance_id for e in self.instances if not e.reachable)

    def summary(self) -> str:
        """"3 of 4 instances have every data disk mounted; 1 unreachable"."""
        total = len(self.instances)
        parts = [f"{len(self.fully_mounted)} of {total} instance{'s' if total != 1 else ''} have every data disk mounted"]
        if self.unreachable:
            parts.append(f"{len(self.unreachable)} unreachable")
        if self.error:
            parts.append(f"listing failed: {self.error}")
        return "; ".join(parts)


def instance_disks_from(instance: Instance, inspection: GuestInspection, now: float) -> InstanceDisks:
    """Join one inspection with ARM's disks of the instance."""
    if inspection.view is None:
        reason = inspection.reason or "the guest could not be read"
        return InstanceDisks(instance=instance, rows=unreachable_rows(instance, reason), reachable=False,
                             fetched_at=now, reason=reason, kind=inspection.kind, hint=hint_for(inspection.kind))
    return InstanceDisks(instance=instance, rows=join_disks(instance, inspection.view), reachable=True,
                         fetched_at=now, notes=inspection.view.notes)


class GuestSurvey:
    """Cached per-instance disk summaries of scale sets (one cache per console or `get` run)."""

    def __init__(
        self,
        fleet: SurveyFleet,
        settings: SshSettings,
        *,
        accept_new: bool = False,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], float] = time.monotonic,
        inspect: Inspector = _inspect,
        instance_time_limit: float = INSTANCE_TIME_LIMIT,
    ) -> None:
        self.fleet = fleet
        self.settings = settings
        self.accept_new = accept_new
        self.clock = clock
        self._inspect = inspect
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self._instance_time_limit = instance_time_limit
        self._surveys: dict[str, Survey] = {}
        self._running: dict[str, asyncio.Task[Survey]] = {}

    def cached(self, scale_set: ScaleSet) -> Survey | None:
        return self._surveys.get(scale_set.id)

    def age(self, scale_set: ScaleSet) -> float | None:
        survey = self.cached(scale_set)
        return survey.age(self.clock()) if survey is not None else None

    async def get(self, scale_set: ScaleSet, *, max_age: float | None = None,
                  on_instance: Callable[[InstanceDisks], None] | None = None) -> Survey:
        """The cached survey when it is younger than `max_age` seconds, else a fresh one."""
        survey = self.cached(scale_set)
        if survey is not None and max_age is not None and survey.age(self.clock()) <= max_age and not survey.error:
            return survey
        return await self.refresh(scale_set, on_instance=on_instance)

    async def refresh(self, scale_set: ScaleSet, *, only: Collection[str] | None = None,
                      on_instance: Callable[[InstanceDisks], None] | None = None) -> Survey:
        """Read the instances again and inspect each (or only the ids in `only`); a refresh of the
        whole scale set already running is shared rather than started twice."""
        if only is None:
            running = self._running.get(scale_set.id)
            if running is not None and not running.done():
                return await asyncio.shield(running)
            task = asyncio.ensure_future(self._refresh(scale_set, None, on_instance))
            self._running[scale_set.id] = task
            try:
                return await asyncio.shield(task)
            finally:
                if task.done() and self._running.get(scale_set.id) is task:
                    del self._running[scale_set.id]
        return await self._refresh(scale_set, set(only), on_instance)

    async def inspect(self, scale_set: ScaleSet, instance: Instance, *, resolution: NatResolution | None = None,
                      private_ip: str | None = None) -> InstanceDisks:
        """One instance, now (its NAT mappings read unless given); the cached survey is updated."""
        if resolution is None:
            nics = await self.fleet.list_instance_nics(scale_set, [instance])
            resolution = await self.fleet.nat_mappings_for(scale_set, nics)
            private_ip = private_ip or _private_ips(nics).get(instance.instance_id)
        entry = await self._one(scale_set, instance, resolution, private_ip)
        self._store(scale_set, [entry], keep_others=True, started=entry.fetched_at, error=None)
        return entry

    async def _refresh(self, scale_set: ScaleSet, only: set[str] | None,
                       on_instance: Callable[[InstanceDisks], None] | None) -> Survey:
        started = self.clock()
        try:
            instances = await self.fleet.list_instances(scale_set)
            nics = await self.fleet.list_instance_nics(scale_set, instances)
            resolution = await self.fleet.nat_mappings_for(scale_set, nics)
        except FleetError as exc:
            previous = self.cached(scale_set)
            survey = Survey(scale_set=scale_set, instances=previous.instances if previous else (),
                            started_at=started, finished_at=self.clock(), error=str(exc))
            self._surveys[scale_set.id] = survey
            return survey
        if only is not None:
            instances = [i for i in instances if i.instance_id in only]
        private = _private_ips(nics)

        async def one(instance: Instance) -> InstanceDisks:
            entry = await self._one(scale_set, instance, resolution, private.get(instance.instance_id))
            if on_instance is not None:
                on_instance(entry)
            return entry

        entries = await asyncio.gather(*(one(i) for i in instances))
        return self._store(scale_set, entries, keep_others=only is not None, started=started, error=None)

    async def _one(self, scale_set: ScaleSet, instance: Instance, resolution: NatResolution,
                   private_ip: str | None) -> InstanceDisks:
        async with self._limit:
            try:
                inspection = await asyncio.wait_for(
                    self._inspect(scale_set, instance, resolution, self.settings, self.accept_new, private_ip),
                    self._instance_time_limit,
                )
            except TimeoutError:
                inspection = GuestInspection(view=None, kind="timeout",
                                             reason=f"no result within {self._instance_time_limit:g} s")
            except Exception as exc:  # a bug in one inspection must not take the survey down
                log.exception("inspecting %s/%s failed", scale_set.name, instance.instance_id)
                inspection = GuestInspection(view=None, kind="error",
                                             reason=f"unexpected error: {type(exc).__name__}: {exc}".splitlines()[0])
        return instance_disks_from(instance, inspection, self.clock())

    def _store(self, scale_set: ScaleSet, entries: Sequence[InstanceDisks], *, keep_others: bool, started: float,
               error: str | None) -> Survey:
        by_id = {e.instance_id: e for e in entries}
        previous = self.cached(scale_set)
        if keep_others and previous is not None:
            merged = [by_id.pop(e.instance_id, e) for e in previous.instances]
            merged.extend(by_id.values())
        else:
            merged = list(entries)
        merged.sort(key=lambda e: _instance_sort_key(e.instance_id))
        survey = Survey(scale_set=scale_set, instances=tuple(merged), started_at=started, finished_at=self.clock(),
                        error=error)
        self._surveys[scale_set.id] = survey
        return survey

    def forget(self, scale_set: ScaleSet) -> None:
        self._surveys.pop(scale_set.id, None)


def _private_ips(nics: Sequence[InstanceNic]) -> dict[str, str]:
    found: dict[str, str] = {}
    for nic in nics:
        address = nic.primary_private_ip
        if address and (nic.primary or nic.instance_id not in found):
            found[nic.instance_id] = address
    return found


def _instance_sort_key(instance_id: str) -> tuple[int, int, str]:
    # Uniform ids are numbers (sort 2 before 10); Flexible ids are VM names.
    return (0, int(instance_id), "") if instance_id.isdigit() else (1, 0, instance_id)


def with_entry(survey: Survey, entry: InstanceDisks) -> Survey:
    """The survey with one instance's entry replaced (for callers that keep their own copy)."""
    others = [e for e in survey.instances if e.instance_id != entry.instance_id]
    merged = sorted([*others, entry], key=lambda e: _instance_sort_key(e.instance_id))
    return replace(survey, instances=tuple(merged))
