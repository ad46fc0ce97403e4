"""From a disk key to what it changes in Azure: the dialog that says what will happen (Cancel is the
default), then the operation, run as an action of the console (shown while it runs, the scale set
watched, the outcome notified); nothing is offered or sent in a read-only session.

    flows = DiskFlows(host, guest, runner)
    flows.add_model_disk(scale_set)              # a: an empty data disk in the model
    flows.remove_model_disk(scale_set, lun)      # X on the model: the scale set's name typed to confirm
    flows.attach(scale_set, instance)            # A: an unattached managed disk of the resource group
    flows.detach(scale_set, instance, row)       # X on the instance's disk
    flows.prepare(scale_set, instances)          # P: partition, format, mount the empty disks

A model change reaches existing instances only through the model update: its dialog offers the
scale set's rollout view as a second way to confirm.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vmss_tui.domain.arm_ids import instance_sort_key
from vmss_tui.domain.disks import KIND_DATA, DiskRow
from vmss_tui.domain.model_change import policy_consequence
from vmss_tui.domain.models import Instance, OperationResult, ScaleSet
from vmss_tui.ui import intents
from vmss_tui.ui.disk_dialogs import (
    CONFIRM_AND_WATCH,
    AddDataDiskScreen,
    AttachDiskScreen,
    DiskConfirmScreen,
    DiskToAttach,
    NewModelDisk,
    PrepareChoice,
    PrepareDisksScreen,
    gib,
    human_bytes,
)
from vmss_tui.ui.format import format_age, pluralize
from vmss_tui.ui.guest_disks_view import GuestDisks, PrepareRecord

if TYPE_CHECKING:
    from vmss_tui.ui.panes.base import PaneHost
    from vmss_tui.workflows.disk_prepare import DiskPrepareJob, InstancePrepare
    from vmss_tui.workflows.guest_survey import InstanceDisks

CUSTOM_SCRIPT_POLL = 5.0  # seconds between reads of the instances' extension statuses
CUSTOM_SCRIPT_TIME_LIMIT = 1800.0
STATUS_READS_PER_SECOND = 2.0


class DiskFlows:
    """See the module docstring. `runner` is the widget whose workers follow up (the disk pane)."""

    def __init__(self, host: PaneHost, guest: GuestDisks, runner: Any) -> None:
        self.host = host
        self.guest = guest
        self.runner = runner
        self.custom_script_poll = CUSTOM_SCRIPT_POLL

    def _refused(self, what: str) -> bool:
        if self.host.read_only:
            self.host.notify(f"Read-only session: {what} is disabled (started with --read-only)", severity="warning")
            return True
        if self.host.fleet is None:
            self.host.notify("Not connected to Azure yet", severity="warning")
            return True
        return False

    def _watch_rollout(self, scale_set: ScaleSet) -> None:
        self.runner.post_message(intents.ShowRollout(scale_set.id))

    # ------------------------------------------------------------------ the model's data disks
    def add_model_disk(self, scale_set: ScaleSet) -> None:
        if self._refused("adding a data disk"):
            return

        def chosen(disk: NewModelDisk | None) -> None:
            fleet = self.host.fleet
            if disk is None or fleet is None:
                self.host.notify(f"Cancelled: add a data disk to {scale_set.name}", timeout=3)
                return
            self.host.start_action(
                f"Add of data disk LUN {disk.lun} ({disk.size_gb} GiB {disk.sku}) to {scale_set.name}'s model",
                scale_set,
                lambda progress: fleet.add_model_data_disk(scale_set, size_gb=disk.size_gb, sku=disk.sku, lun=disk.lun,
                                                           caching=disk.caching, on_progress=progress),
                scale_set_pending=f"adding LUN {disk.lun}…",
            )
            if disk.watch_rollout:
                self._watch_rollout(scale_set)

        self.host.push_screen(AddDataDiskScreen(scale_set), chosen)

    def remove_model_disk(self, scale_set: ScaleSet, lun: int) -> None:
        if self._refused("removing a data disk"):
            return
        title, summary, items = remove_model_disk_texts(scale_set, lun, list(self.guest.entries(scale_set).values()))
        label = f"Removal of data disk LUN {lun} from {scale_set.name}'s model"

        def confirmed(answer: str | None) -> None:
            fleet = self.host.fleet
            if answer is None or fleet is None:
                self.host.notify(f"Cancelled: {label}", timeout=3)
                return
            self.host.start_action(label, scale_set,
                                   lambda progress: fleet.remove_model_data_disk(scale_set, lun, on_progress=progress),
                                   scale_set_pending=f"removing LUN {lun}…")
            if answer == CONFIRM_AND_WATCH:
                self._watch_rollout(scale_set)

        self.host.push_screen(DiskConfirmScreen(title, summary, items, f"Remove LUN {lun}", destructive=True,
                                                type_to_confirm=scale_set.name,
                                                also_label="Remove + rollout view"), confirmed)

    # ------------------------------------------------------------------ one instance's disks
    def attach(self, scale_set: ScaleSet, instance: Instance) -> None:
        if self._refused("attaching a disk"):
            return

        async def load() -> list[Any]:
            listing = await self.guest.list_disks(scale_set.resource_group)
            self.guest.apply_listing(listing)
            return list(listing.disks)

        def chosen(choice: DiskToAttach | None) -> None:
            fleet = self.host.fleet
            if choice is None or fleet is None:
                self.host.notify(f"Cancelled: attach a disk to instance {instance.instance_id}", timeout=3)
                return
            disk = choice.disk
            self.host.start_action(
                f"Attach of {disk.name} to instance {instance.instance_id} of {scale_set.name} at LUN {choice.lun}",
                scale_set,
                lambda progress: fleet.attach_data_disk(scale_set, instance, disk.id, lun=choice.lun,
                                                        caching=choice.caching, on_progress=progress),
                pending="attaching a disk…", instance_keys=frozenset({instance.id}),
            )

        self.host.push_screen(AttachDiskScreen(scale_set, instance, load), chosen)

    def detach(self, scale_set: ScaleSet, instance: Instance, row: DiskRow | None) -> None:
        if self._refused("detaching a disk"):
            return
        if row is None or row.kind != KIND_DATA or not row.managed_disk_id:
            self.host.notify("Move to a data disk of the instance (an OS or resource disk cannot be detached)",
                             severity="warning")
            return
        title, summary, items = detach_texts(scale_set, instance, row)
        disk_id = row.managed_disk_id
        label = f"Detach of LUN {row.lun} from instance {instance.instance_id} of {scale_set.name}"

        def confirmed(answer: str | None) -> None:
            fleet = self.host.fleet
            if answer is None or fleet is None:
                self.host.notify(f"Cancelled: {label}", timeout=3)
                return
            self.host.start_action(label, scale_set,
                                   lambda progress: fleet.detach_data_disk(scale_set, instance, disk_id,
                                                                           on_progress=progress),
                                   pending="detaching a disk…", instance_keys=frozenset({instance.id}))

        self.host.push_screen(DiskConfirmScreen(title, summary, items, f"Detach LUN {row.lun}", destructive=True),
                              confirmed)

    # ------------------------------------------------------------------ preparing disks
    def prepare(self, scale_set: ScaleSet, instances: Sequence[Instance]) -> None:
        """The prepare dialog for these instances; on confirm, the job (shown as an action)."""
        if self._refused("preparing disks"):
            return
        if not instances:
            self.host.notify("No instance to prepare: move to one, or mark some with space", severity="warning")
            return
        from vmss_tui.workflows.disk_prepare import DiskPrepareJob

        def note(route: str) -> str | None:
            return DiskPrepareJob(_NoFleet(), scale_set, [], route=route).waiting_note()

        def chosen(choice: PrepareChoice | None) -> None:
            if choice is None:
                self.host.notify(f"Cancelled: prepare disks of {scale_set.name}", timeout=3)
                return
            self.start_prepare(scale_set, instances, choice)

        self.host.push_screen(PrepareDisksScreen(scale_set, instances, self.guest.entries(scale_set), note), chosen)

    def start_prepare(self, scale_set: ScaleSet, instances: Sequence[Instance], choice: PrepareChoice) -> None:
        from vmss_tui.domain.disk_prepare import DiskPrepareError
        from vmss_tui.workflows.disk_prepare import ROUTE_CUSTOM_SCRIPT, DiskPrepareJob

        host, guest = self.host, self.guest
        fleet = host.fleet
        if fleet is None or host.read_only:
            return
        try:
            job = DiskPrepareJob(fleet, scale_set, instances, fstype=choice.fstype,
                                 mount_template=choice.mount_template, route=choice.route, clock=host.clock)
        except DiskPrepareError as error:
            host.notify(f"Not prepared: {error}", severity="error")
            return
        by_id = {i.instance_id: i for i in instances}
        how = "Custom Script" if choice.route == ROUTE_CUSTOM_SCRIPT else "Run Command"
        label = f"Prepare disks of {pluralize(len(instances), 'instance')} of {scale_set.name} ({how})"

        def update(result: InstancePrepare) -> None:
            guest.prepares[(scale_set.id, result.instance_id)] = PrepareRecord(scale_set.name, choice.route, result)
            instance = by_id.get(result.instance_id)
            if result.finished and result.plan is not None and instance is not None:
                guest.read_later(scale_set, self._current(scale_set, instance))  # watch it turn `mounted`
            guest.changed()

        async def call(progress: Callable[[str], Any]) -> OperationResult:
            await progress("Running")
            results = await job.run(on_update=update)
            if choice.route == ROUTE_CUSTOM_SCRIPT and not all(r.finished for r in results.values()):
                # The model write is done; each instance runs the script when it gets the model.
                self.runner.run_worker(self._follow_custom_script(job, update), group="prepare-follow",
                                       exit_on_error=False)
                return OperationResult("Succeeded")
            return prepare_outcome(results.values())

        host.start_action(label, scale_set, call, pending="preparing disks…",
                          instance_keys=frozenset(i.id for i in instances),
                          scale_set_pending=f"preparing disks of {len(instances)}…")
        if choice.watch_rollout:
            self._watch_rollout(scale_set)

    async def _follow_custom_script(self, job: DiskPrepareJob, update: Callable[[InstancePrepare], None]) -> None:
        # One instance-view read per instance per round: big scale sets are asked less often
        # (about two reads a second at most), so that ARM's read budget stays for the console.
        interval = max(self.custom_script_poll, len(job.instances) / STATUS_READS_PER_SECOND)
        done = await job.poll_custom_script(interval=interval, time_limit=CUSTOM_SCRIPT_TIME_LIMIT, on_update=update)
        outcome = prepare_outcome(job.results.values())
        where = f"Custom Script on {job.scale_set.name}"
        if not done:
            self.host.notify(f"{where}: not every instance has a result after {format_age(CUSTOM_SCRIPT_TIME_LIMIT)}"
                             + (f" ({job.waiting_note()})" if job.waiting_note() else ""), severity="warning", timeout=20)
        elif outcome.status == "Succeeded":
            self.host.notify(f"{where}: every instance's disks are prepared", timeout=8)
        else:
            self.host.notify(f"{where}: {outcome.error_message}", severity="error", timeout=30)

    def _current(self, scale_set: ScaleSet, instance: Instance) -> Instance:
        entry = self.host.store.entries.get(scale_set.id)
        found = entry.instance_by_id(instance.instance_id) if entry is not None else None
        return found or instance


class _NoFleet:
    """For the dialog's `waiting_note` only: a job that is never run."""

    read_only = True


def prepare_outcome(results: Any) -> OperationResult:
    """One result for a whole preparation: Succeeded when every disk is ready, else which instance
    did what (Failed when one could not run, Incomplete when a disk was left as it was)."""
    from vmss_tui.workflows.disk_prepare import FAILED, NOTHING_TO_DO

    failed = [r for r in results if r.state == FAILED]
    incomplete = [r for r in results if r.state not in (FAILED, NOTHING_TO_DO) and not (r.report and r.report.ok)]
    if not failed and not incomplete:
        return OperationResult("Succeeded")
    message = "; ".join(f"instance {r.instance_id}: {r.summary()}" for r in sorted(
        [*failed, *incomplete], key=lambda r: instance_sort_key(r.instance_id)))
    return OperationResult("Failed" if failed else "Incomplete", error_message=message)


def remove_model_disk_texts(scale_set: ScaleSet, lun: int,
                            guests: Sequence[InstanceDisks]) -> tuple[str, str, list[str]]:
    """(title, summary, items) of the removal of the model's disk at `lun`: per instance, what
    its guest has on that disk as last read."""
    disk = next((d for d in scale_set.data_disks if d.lun == lun), None)
    what = f"{gib(disk.size_gb)} {disk.sku or ''}".strip() if disk else "the disk"
    title = f"Remove data disk LUN {lun} from {scale_set.name}'s model?"
    summary = (f"LUN {lun} ({what}) leaves the model of {scale_set.name} (resource group {scale_set.resource_group}). "
               f"Each instance loses its disk at LUN {lun}, AND ALL THE DATA ON IT, when it gets the model: "
               f"existing instances only through the model update. {policy_consequence(scale_set)}")
    items = []
    for entry in guests:
        row = next((r for r in entry.rows if r.kind == KIND_DATA and r.lun == lun), None)
        if row is None:
            continue
        state = f"mounted at {row.mountpoint}" if row.is_mounted and row.mountpoint else (row.state or "not read")
        used = f", {human_bytes(row.used_bytes)} used" if row.used_bytes is not None else ""
        items.append(f"instance {entry.instance_id}: {state}{used}")
    return title, summary, items


def detach_texts(scale_set: ScaleSet, instance: Instance, row: DiskRow) -> tuple[str, str, list[str]]:
    """(title, summary, items) of detaching the disk of `row` from `instance`."""
    title = f"Detach LUN {row.lun} from instance {instance.instance_id} of {scale_set.name}?"
    mounted = f", mounted at {row.mountpoint}" if row.mountpoint else ""
    summary = (f"The guest loses {row.guest_device or 'the disk'}{mounted} at once: whatever uses it breaks, and "
               "data not yet written to the disk is lost. The managed disk keeps what was written (and stays "
               "billed); it can be attached again.")
    if any(d.lun == row.lun for d in scale_set.data_disks):
        summary += f" LUN {row.lun} comes from the scale set model: this instance will then differ from it."
    items = [f"LUN {row.lun}  {row.arm_name or '-'}",
             f"{gib(row.arm_size_gb)}  {row.arm_sku or '-'}  state in the guest: {row.state or 'not read'}"]
    return title, summary, items
