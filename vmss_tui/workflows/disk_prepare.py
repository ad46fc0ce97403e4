"""Preparing empty data disks on instances: the prepare script (`domain/disk_prepare.py`) through
Run Command on each instance, or through the Custom Script extension on the scale set model.

    job = DiskPrepareJob(fleet, scale_set, instances, fstype="ext4", route=ROUTE_RUN_COMMAND)
    job.preview()                # what the confirm dialog shows: each instance's LUNs and mount paths
    await job.run(on_update=...)  # Run Command: 8 instances at once, each result parsed as it ends
    job.results["3"].summary()    # "prepared LUN 1; already prepared LUN 0"
    job.results["3"].stdout       # the instance's output, kept for the details view

With ROUTE_CUSTOM_SCRIPT, `run()` puts the extension on the model (one write) and each instance
runs it when it gets the model (at once under Automatic, in batches under Rolling, after
update-instances under Manual); `await job.poll_custom_script()` reads the instances' extension
statuses until each has a result or `time_limit` passes.

The script checks every disk on the guest before touching it, so a plan made from a stale view can
prepare nothing that is not empty. No write is sent on a read-only connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from vmss_tui.azure.errors import FleetError, ReadOnlyError
from vmss_tui.domain.disk_prepare import (
    DEFAULT_MOUNT_TEMPLATE,
    DiskPrepareError,
    PreparePlan,
    PrepareReport,
    make_plan,
    parse_prepare_output,
    prepare_script,
)
from vmss_tui.domain.models import Instance, OperationResult, ScaleSet
from vmss_tui.domain.rollout import parse_arm_time
from vmss_tui.domain.run_command import ExtensionStatus, RunCommandResult
from vmss_tui.domain.ssh_target import NOT_RUNNING_STATES

log = logging.getLogger(__name__)

ROUTE_RUN_COMMAND = "run-command"
ROUTE_CUSTOM_SCRIPT = "custom-script"
ROUTES = (ROUTE_RUN_COMMAND, ROUTE_CUSTOM_SCRIPT)
CUSTOM_SCRIPT_NAME = "vmss-tui-prepare-disks"
DEFAULT_CONCURRENCY = 8
STATUS_CLOCK_SKEW = 120.0  # seconds: an extension status older than the job (by more) is a previous run's

# An instance's progress.
PENDING = "pending"
RUNNING = "running"
WAITING = "waiting"  # Custom Script: the instance does not run the new model yet
DONE = "done"  # the script ran to its end (its report says what it did per LUN)
FAILED = "failed"  # it could not run, or did not finish
NOTHING_TO_DO = "nothing-to-do"  # no data disk


class PrepareFleet(Protocol):
    """What the job calls in the data layer (`vmss_tui.azure.fleet.Fleet` has it)."""

    read_only: bool

    async def run_shell_script(self, scale_set: ScaleSet, instance: Instance, script: str,
                               on_progress: Any = None) -> RunCommandResult: ...

    async def set_custom_script_extension(self, scale_set: ScaleSet, script: str, *, name: str = ...,
                                          on_progress: Any = None) -> OperationResult: ...

    async def extension_statuses(self, scale_set: ScaleSet, instance: Instance) -> list[ExtensionStatus]: ...


@dataclass(frozen=True, slots=True)
class InstancePrepare:
    """One instance's part of the job: its plan, state, output and parsed result."""

    instance_id: str
    state: str
    plan: PreparePlan | None
    report: PrepareReport | None = None
    stdout: str = ""
    stderr: str = ""
    error: str | None = None  # why it could not run or did not finish, one line
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED, NOTHING_TO_DO)

    def summary(self) -> str:
        if self.state == NOTHING_TO_DO:
            return "no data disk to prepare"
        if self.error:
            return f"failed: {self.error}"
        if self.report is not None:
            return self.report.summary()
        return {PENDING: "pending", RUNNING: "running", WAITING: "waiting for the instance to get the model"}.get(
            self.state, self.state)


def plan_for(luns: Iterable[int], fstype: str, mount_template: str) -> PreparePlan | None:
    """The plan for these LUNs, None when there are none; DiskPrepareError for a bad value."""
    wanted = sorted({lun for lun in luns})
    if not wanted:
        return None
    return make_plan(wanted, fstype, mount_template)


def _instance_luns(instance: Instance) -> list[int]:
    return [d.lun for d in instance.data_disks if d.lun is not None]


class DiskPrepareJob:
    """One confirmed "prepare disks on these instances". Raises DiskPrepareError at construction
    for a bad filesystem or mount path (before anything is sent)."""

    def __init__(
        self,
        fleet: PrepareFleet,
        scale_set: ScaleSet,
        instances: Sequence[Instance],
        *,
        fstype: str = "ext4",
        mount_template: str = DEFAULT_MOUNT_TEMPLATE,
        route: str = ROUTE_RUN_COMMAND,
        concurrency: int = DEFAULT_CONCURRENCY,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if route not in ROUTES:
            raise DiskPrepareError(f"route {route!r} is not known: use {' or '.join(ROUTES)}")
        make_plan([0], fstype, mount_template)  # the filesystem and path, whatever the instances have
        self.fleet = fleet
        self.scale_set = scale_set
        self.instances = list(instances)
        self.route = route
        self.clock = clock
        self._sleep = sleep
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self.model_plan: PreparePlan | None = None
        self.results: dict[str, InstancePrepare] = {}
        if route == ROUTE_CUSTOM_SCRIPT:
            # One script for the whole model: the model's data disks (a disk attached to one
            # instance only is not in it; use Run Command for those).
            self.model_plan = plan_for((d.lun for d in scale_set.data_disks), fstype, mount_template)
            for instance in self.instances:
                plan = self.model_plan
                self.results[instance.instance_id] = InstancePrepare(
                    instance.instance_id, PENDING if plan else NOTHING_TO_DO, plan)
        else:
            for instance in self.instances:
                plan = plan_for(_instance_luns(instance), fstype, mount_template)
                self.results[instance.instance_id] = InstancePrepare(
                    instance.instance_id, PENDING if plan else NOTHING_TO_DO, plan)

    # ----- before confirming --------------------------------------------------------------

    def preview(self) -> tuple[str, ...]:
        """One line per instance: where each LUN will be mounted if its disk is empty."""
        lines = []
        for instance in self.instances:
            plan = self.results[instance.instance_id].plan
            name = f"instance {instance.instance_id}"
            if plan is None:
                lines.append(f"{name}: no data disk")
                continue
            where = ", ".join(f"LUN {lun} -> {path}" for lun, path in plan.mountpoints)
            lines.append(f"{name}: {where} ({plan.fstype}, fstab by UUID, nofail)")
        return tuple(lines)

    def describe(self) -> str:
        """The confirm dialog's sentence."""
        how = ("Run Command on each instance" if self.route == ROUTE_RUN_COMMAND
               else f"the Custom Script extension on {self.scale_set.name}'s model")
        return (f"Prepare the empty data disks of {len(self.instances)} instance"
                f"{'s' if len(self.instances) != 1 else ''} through {how}. Only a disk with neither a "
                "partition table nor a filesystem is partitioned and formatted; the instance checks that itself.")

    # ----- running ------------------------------------------------------------------------

    async def run(self, on_update: Callable[[InstancePrepare], None] | None = None) -> dict[str, InstancePrepare]:
        """Send it (Run Command: each instance, bounded; Custom Script: the one model write)."""
        if self.fleet.read_only:
            raise ReadOnlyError("read-only: preparing disks writes to the instances", hint="start without --read-only")
        if self.route == ROUTE_CUSTOM_SCRIPT:
            await self._put_custom_script(on_update)
        else:
            by_id = {i.instance_id: i for i in self.instances}
            await asyncio.gather(*(self._run_one(by_id[k], on_update) for k, r in self.results.items()
                                   if r.state == PENDING))
        return dict(self.results)

    def _set(self, result: InstancePrepare, on_update: Callable[[InstancePrepare], None] | None) -> None:
        self.results[result.instance_id] = result
        if on_update is not None:
            on_update(result)

    async def _run_one(self, instance: Instance, on_update: Callable[[InstancePrepare], None] | None) -> None:
        current = self.results[instance.instance_id]
        plan = current.plan
        assert plan is not None
        if instance.power_state in NOT_RUNNING_STATES:
            self._set(replace(current, state=FAILED, ended_at=self.clock(),
                              error=f"instance {instance.instance_id} is {instance.power_state}: start it first"),
                      on_update)
            return
        async with self._limit:
            started = self.clock()
            self._set(replace(current, state=RUNNING, started_at=started), on_update)
            try:
                output = await self.fleet.run_shell_script(self.scale_set, instance, prepare_script(plan))
            except FleetError as exc:
                self._set(replace(self.results[instance.instance_id], state=FAILED, ended_at=self.clock(),
                                  error=str(exc)), on_update)
                return
            except Exception as exc:  # one instance's surprise stays its own
                log.exception("Run Command on %s/%s failed", self.scale_set.name, instance.instance_id)
                self._set(replace(self.results[instance.instance_id], state=FAILED, ended_at=self.clock(),
                                  error=f"unexpected error: {type(exc).__name__}: {exc}".splitlines()[0]), on_update)
                return
        self._set(self._from_output(self.results[instance.instance_id], output.stdout, output.stderr,
                                    succeeded=output.succeeded, truncated=output.may_be_truncated), on_update)

    def _from_output(self, current: InstancePrepare, stdout: str, stderr: str, *, succeeded: bool | None,
                     truncated: bool) -> InstancePrepare:
        plan = current.plan
        report = parse_prepare_output(stdout, plan.luns if plan else ())
        error = None
        if report.error:
            error = report.error
        elif not report.completed:
            tail = _last_line(stderr)
            if truncated:
                error = "the output was cut (Azure keeps the last 4 KiB); the result lines are incomplete"
            elif succeeded is False:
                error = f"the script did not run to its end{': ' + tail if tail else ''}"
            else:
                error = f"the script did not finish{': ' + tail if tail else ''}"
        state = FAILED if error else DONE
        return replace(current, state=state, report=report, stdout=stdout, stderr=stderr, error=error,
                       ended_at=self.clock())

    async def _put_custom_script(self, on_update: Callable[[InstancePrepare], None] | None) -> None:
        if self.model_plan is None:
            return
        started = self.clock()
        try:
            outcome = await self.fleet.set_custom_script_extension(
                self.scale_set, prepare_script(self.model_plan), name=CUSTOM_SCRIPT_NAME)
        except FleetError as exc:
            for result in list(self.results.values()):
                if result.state == PENDING:
                    self._set(replace(result, state=FAILED, error=str(exc), ended_at=self.clock()), on_update)
            return
        if outcome.status != "Succeeded":
            error = outcome.error_message or outcome.error_code or f"the extension update ended {outcome.status}"
            for result in list(self.results.values()):
                if result.state == PENDING:
                    self._set(replace(result, state=FAILED, error=error, ended_at=self.clock()), on_update)
            return
        for result in list(self.results.values()):
            if result.state == PENDING:
                self._set(replace(result, state=WAITING, started_at=started), on_update)

    async def refresh_custom_script(self, on_update: Callable[[InstancePrepare], None] | None = None) -> bool:
        """Read each waiting instance's extension status once; True when every instance is finished."""
        by_id = {i.instance_id: i for i in self.instances}

        async def one(result: InstancePrepare) -> None:
            instance = by_id[result.instance_id]
            try:
                statuses = await self.fleet.extension_statuses(self.scale_set, instance)
            except FleetError as exc:
                log.info("extension status of %s/%s: %s", self.scale_set.name, instance.instance_id, exc)
                return  # asked again on the next refresh
            status = _custom_script_status(statuses)
            if status is None:
                return
            reported = parse_arm_time(status.time)
            if reported is not None and result.started_at is not None and reported < result.started_at - STATUS_CLOCK_SKEW:
                return  # the result of an earlier run; this one has not reached the instance yet
            if status.succeeded is None:
                if result.state != RUNNING:
                    self._set(replace(result, state=RUNNING), on_update)
                return
            updated = self._from_output(result, status.stdout or "", status.stderr or "",
                                        succeeded=status.succeeded, truncated=False)
            if status.succeeded is False and updated.error is None:
                updated = replace(updated, state=FAILED, error=status.message or "the extension failed")
            self._set(updated, on_update)

        waiting = [r for r in self.results.values() if r.state in (WAITING, RUNNING)]
        await asyncio.gather(*(one(r) for r in waiting))
        return all(r.finished for r in self.results.values())

    async def poll_custom_script(self, *, interval: float = 10.0, time_limit: float = 1800.0,
                                 on_update: Callable[[InstancePrepare], None] | None = None) -> bool:
        """Refresh until every instance has a result or `time_limit` seconds pass; True when all have."""
        deadline = self.clock() + time_limit
        while True:
            if await self.refresh_custom_script(on_update):
                return True
            if self.clock() >= deadline:
                return False
            await self._sleep(interval)

    def waiting_note(self) -> str | None:
        """Why Custom Script results may not come by themselves (Manual upgrade policy)."""
        if self.route != ROUTE_CUSTOM_SCRIPT:
            return None
        mode = (self.scale_set.upgrade_mode or "").casefold()
        if mode == "manual":
            return (f"{self.scale_set.name} has the Manual upgrade policy: its instances run the script "
                    "only after update-instances (the rollout view offers it)")
        if mode == "rolling":
            return f"{self.scale_set.name} rolls the model out in batches: results come batch by batch"
        return None


def _custom_script_status(statuses: Sequence[ExtensionStatus]) -> ExtensionStatus | None:
    for status in statuses:
        if status.name == CUSTOM_SCRIPT_NAME:
            return status
    for status in statuses:
        if (status.type or "").endswith("CustomScript"):
            return status
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
