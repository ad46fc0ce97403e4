"""The disk pane's words and cells, from real joined rows: a recorded guest (tests/ssh/recorded,
real lsblk/df output) joined with ARM's view of an instance, and the prepare script's real result
lines. No Textual here: what a row reads and what a confirmation says."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from vmss_tui.domain.disk_prepare import DiskPrepareError, PreparePlan, parse_prepare_output
from vmss_tui.domain.disks import (
    KIND_DATA,
    KIND_OS,
    STATE_EMPTY,
    STATE_MOUNTED,
    STATE_NOT_IN_GUEST,
    DiskRow,
    arm_rows,
    join_disks,
    parse_guest_output,
)
from vmss_tui.domain.models import DataDiskModel, DiskInfo, Instance, ScaleSet
from vmss_tui.ssh.guest import GuestInspection
from vmss_tui.ssh.session import FailureKind
from vmss_tui.ui.disk_dialogs import (
    describe_row,
    fstab_text,
    human_bytes,
    prepare_lines,
    row_key,
    slot_of,
    usage_text,
)
from vmss_tui.ui.disk_flows import detach_texts, prepare_outcome, remove_model_disk_texts
from vmss_tui.ui.guest_disks_view import (
    DiskListing,
    PrepareRecord,
    attached_to,
    describe_prepare,
    disk_signature,
    short_reason,
    survey_cells,
    what_to_do,
)
from vmss_tui.ui.panes.disks import InstanceDiskTable, disk_row_cells, model_disk_cells
from vmss_tui.workflows.disk_prepare import DONE, FAILED, NOTHING_TO_DO, InstancePrepare
from vmss_tui.workflows.guest_survey import InstanceDisks, instance_disks_from

RECORDED = Path(__file__).parents[1] / "ssh" / "recorded"
SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-data"


def disk_id(name: str) -> str:
    return f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/disks/{name}"


def scale_set(**changes: object) -> ScaleSet:
    base = ScaleSet(
        id=f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-data",
        name="vmss-data", resource_group=RG, subscription_id=SUB, location="westeurope", sku="Standard_E4s_v5",
        tier="Standard", capacity=2, upgrade_mode="Automatic", orchestration_mode="Uniform",
        provisioning_state="Succeeded",
        data_disks=(DataDiskModel(0, 64, "Premium_LRS", "ReadOnly", "Empty"),
                    DataDiskModel(1, 32, "StandardSSD_LRS", "None", "Empty")),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def instance(*luns: int, instance_id: str = "0") -> Instance:
    disks = tuple(DiskInfo(name=f"vmss-data_vmss-data_{instance_id}_disk{lun + 2}_0123456789abcdef0123456789abcdef",
                           lun=lun, size_gb=(64, 32, 16)[lun], sku="Premium_LRS", caching="None",
                           create_option="Empty", managed_disk_id=disk_id(f"d{instance_id}-{lun}"))
                  for lun in luns)
    return Instance(
        id=f"{scale_set().id}/virtualMachines/{instance_id}", instance_id=instance_id,
        name=f"vmss-data_{instance_id}", scale_set="vmss-data", resource_group=RG, computer_name=f"data00000{instance_id}",
        provisioning_state="Succeeded", power_state="running", latest_model=True,
        os_disk=DiskInfo(name=f"vmss-data_vmss-data_{instance_id}_OsDisk_1_0123", lun=None, size_gb=30,
                         sku="Premium_LRS", caching="ReadWrite", create_option="FromImage", is_os_disk=True),
        data_disks=disks,
    )


def recorded_rows(name: str, arm: Instance) -> tuple[DiskRow, ...]:
    return join_disks(arm, parse_guest_output((RECORDED / name).read_text()))


def recorded_with_mounted_data_disk() -> str:
    """A recording whose guest has a data disk mounted (which one depends on the lab machine)."""
    for path in sorted(RECORDED.glob("*.txt")):
        try:
            view = parse_guest_output(path.read_text())
        except ValueError:
            continue
        rows = join_disks(instance(0, 1), view)
        if any(r.kind == KIND_DATA and r.state == STATE_MOUNTED for r in rows):
            return path.name
    pytest.skip("no recording in tests/ssh/recorded has a mounted data disk")


def test_sizes_read_as_df_h_writes_them() -> None:
    assert [human_bytes(n) for n in (None, 512, 24576, 1_717_986_918, 63_350_000_000, 1024**4 * 3)] == [
        "-", "512B", "24K", "1.6G", "59G", "3.0T"]


def test_a_recorded_guest_reads_as_the_pane_shows_it() -> None:
    rows = recorded_rows(recorded_with_mounted_data_disk(), instance(0, 1))
    mounted = next(r for r in rows if r.kind == KIND_DATA and r.state == STATE_MOUNTED)
    cells = dict(zip([c.key for c in InstanceDiskTable.COLUMNS], disk_row_cells(mounted), strict=True))
    assert cells["slot"][0] == f"LUN {mounted.lun}"
    assert cells["state"] == ("mounted", "green")
    assert cells["mount"][0] == mounted.mountpoint
    assert cells["device"][0] == (mounted.guest_device or "").removeprefix("/dev/")
    assert cells["usage"][0] == f"{human_bytes(mounted.used_bytes)} / {human_bytes(mounted.avail_bytes)}"
    assert cells["name"][0] == mounted.arm_name  # whole, never shortened
    assert "mounted at " + mounted.mountpoints[0] in describe_row(mounted)


def test_arm_rows_before_the_guest_is_read_say_so() -> None:
    rows = arm_rows(instance(0, 1))
    assert [row_key(r) for r in rows] == ["os", "lun0", "lun1"]
    assert [slot_of(r) for r in rows] == ["OS", "LUN 0", "LUN 1"]
    assert disk_row_cells(rows[1])[1] == ("not read", "dim")
    assert disk_row_cells(rows[1], reading=True)[1] == ("…", "dim")
    assert usage_text(rows[1]) == "-" and fstab_text(rows[1]) == "-"


def test_fstab_without_nofail_is_flagged_only_for_data_disks() -> None:
    data = DiskRow(kind=KIND_DATA, lun=0, in_fstab=True, fstab_nofail=False, state=STATE_MOUNTED)
    root = DiskRow(kind=KIND_OS, lun=None, in_fstab=True, fstab_nofail=False, state=STATE_MOUNTED)
    assert fstab_text(data) == "yes!" and "WITHOUT nofail" in describe_row(data)
    assert fstab_text(root) == "yes"
    assert fstab_text(replace(data, fstab_nofail=True)) == "yes"
    assert fstab_text(replace(data, in_fstab=False)) == "no"
    assert fstab_text(DiskRow(kind=KIND_DATA, lun=1, state=STATE_NOT_IN_GUEST)) == "-"


def test_model_cells_show_the_delete_option_as_arm_sent_it() -> None:
    disk = DataDiskModel(1, 32, "StandardSSD_LRS", None, "Empty")
    assert model_disk_cells(disk, "Delete") == (
        ("1", "bold"), ("32 GiB", ""), ("StandardSSD_LRS", ""), ("None", ""), ("Empty", "dim"), ("Delete", "dim"),
        ("-", "dim"))


def test_an_unknown_host_key_says_what_to_press() -> None:
    arm = instance(0, 1)
    inspection = GuestInspection(view=None, kind=str(FailureKind.HOST_KEY_UNKNOWN),
                                 reason="host key of [127.0.0.1]:50000 is not known yet: ssh-ed25519 SHA256:abc")
    entry = instance_disks_from(arm, inspection, now=100.0)
    assert short_reason(entry) == "host key not known yet"
    assert what_to_do(entry).startswith("K ")
    assert "--accept-new" not in what_to_do(entry)  # that is `get`'s way, not the console's
    cells = survey_cells(arm, entry, reading=False, now=130.0, prepare=None)
    assert cells[3] == ("-", "dim")  # nothing counted as mounted
    assert cells[6][0].startswith("unreachable: host key of") and cells[4] == ("30s", "dim")
    stopped = instance_disks_from(replace(arm, power_state="deallocated"), GuestInspection(
        view=None, kind="not-running", reason="instance data/0 is deallocated: start it to connect"), now=0.0)
    assert short_reason(stopped) == "not running" and "start it" in what_to_do(stopped)


def test_a_read_from_before_an_attach_is_not_shown_as_current() -> None:
    before, after = instance(0), instance(0, 1)
    assert disk_signature(before) != disk_signature(after)
    assert disk_signature(after) == disk_signature(instance(0, 1))


def test_prepare_lines_show_each_mount_path_before_confirming() -> None:
    arm = instance(0, 1)
    rows = (DiskRow(kind=KIND_DATA, lun=0, arm_name="a", state=STATE_MOUNTED, mountpoint="/datadisks/lun0"),
            DiskRow(kind=KIND_DATA, lun=1, arm_name="b", state=STATE_EMPTY))
    entry = InstanceDisks(instance=arm, rows=rows, reachable=True, fetched_at=0.0)
    lines = prepare_lines([arm, instance(instance_id="1")], {"0": entry}, "xfs", "/data/disk{lun}")
    assert lines == ["instance 0: LUN 0 mounted at /datadisks/lun0: left as it is; LUN 1 empty -> /data/disk1 (xfs)",
                     "instance 1: no data disk"]
    unread = prepare_lines([instance(2, instance_id="2")], {}, "ext4", "/datadisks/lun{lun}")
    assert unread == ["instance 2: LUN 2 not read: /datadisks/lun2 (ext4) if the guest finds it empty"]
    # The Custom Script route prepares the model's LUNs, whatever one instance has.
    model = prepare_lines([instance(instance_id="3")], {}, "ext4", "/datadisks/lun{lun}", model_luns=[0, 1])
    assert model == ["instance 3: LUN 0 not read: /datadisks/lun0 (ext4) if the guest finds it empty; "
                     "LUN 1 not read: /datadisks/lun1 (ext4) if the guest finds it empty"]
    with pytest.raises(DiskPrepareError):
        prepare_lines([arm], {}, "ext4", "/etc")  # a system directory: the dialog says why


def _result(instance_id: str, stdout: str, state: str = DONE, error: str | None = None) -> InstancePrepare:
    plan = PreparePlan(luns=(0, 1))
    return InstancePrepare(instance_id, state, plan, parse_prepare_output(stdout, plan.luns), stdout=stdout,
                           error=error, started_at=1767268800.0, ended_at=1767268809.0)


PREPARED = ("vmss-tui-prepare: lun=0 result=already-prepared device=/dev/sdb partition=/dev/sdb1 mountpoint=/datadisks/lun0\n"
            "vmss-tui-prepare: lun=1 result=prepared device=/dev/sdc partition=/dev/sdc1 fstype=ext4 uuid=u1 "
            "mountpoint=/datadisks/lun1\nvmss-tui-prepare: done\n")
SKIPPED = ("vmss-tui-prepare: lun=0 result=skipped reason=has-partitions device=/dev/sdb\n"
           "vmss-tui-prepare: lun=1 result=prepared device=/dev/sdc partition=/dev/sdc1 fstype=ext4 uuid=u2 "
           "mountpoint=/datadisks/lun1\nvmss-tui-prepare: done\n")


def test_the_outcome_of_a_preparation_names_each_instance_that_is_not_ready() -> None:
    assert prepare_outcome([_result("0", PREPARED), InstancePrepare("1", NOTHING_TO_DO, None)]).status == "Succeeded"
    incomplete = prepare_outcome([_result("10", SKIPPED), _result("2", PREPARED)])
    assert incomplete.status == "Incomplete"
    assert incomplete.error_message == "instance 10: prepared LUN 1; skipped LUN 0"
    failed = prepare_outcome([_result("3", "", FAILED, "instance 3 is deallocated: start it first"), _result("1", SKIPPED)])
    assert failed.status == "Failed"
    assert failed.error_message == ("instance 1: prepared LUN 1; skipped LUN 0; "
                                    "instance 3: failed: instance 3 is deallocated: start it first")


def test_the_details_view_keeps_the_output() -> None:
    text = "\n".join(describe_prepare(PrepareRecord("vmss-data", "run-command", _result("0", PREPARED))))
    assert text.startswith("Last disk preparation (Run Command at ")
    assert "9s): prepared LUN 1; already prepared LUN 0" in text
    assert "mount paths: LUN 0 -> /datadisks/lun0, LUN 1 -> /datadisks/lun1 (ext4)" in text
    assert "    vmss-tui-prepare: lun=1 result=prepared" in text


def test_the_removal_names_the_lun_the_data_loss_and_what_each_guest_has_there() -> None:
    rows = (DiskRow(kind=KIND_DATA, lun=1, arm_name="b", state=STATE_MOUNTED, mountpoint="/datadisks/lun1",
                    used_bytes=5 * 1024**3),)
    guest = InstanceDisks(instance=instance(0, 1), rows=rows, reachable=True, fetched_at=0.0)
    title, summary, items = remove_model_disk_texts(scale_set(), 1, [guest])
    assert title == "Remove data disk LUN 1 from vmss-data's model?"
    assert "LUN 1 (32 GiB StandardSSD_LRS)" in summary and "AND ALL THE DATA ON IT" in summary
    assert "only through the model update" in summary and "Automatic policy" in summary
    assert items == ["instance 0: mounted at /datadisks/lun1, 5.0G used"]


def test_the_detach_names_the_lun_and_the_mount_that_breaks() -> None:
    row = replace(arm_rows(instance(0, 1))[2], state=STATE_MOUNTED, guest_device="/dev/sdc",
                  mountpoint="/datadisks/lun1")
    title, summary, items = detach_texts(scale_set(), instance(0, 1), row)
    assert title == "Detach LUN 1 from instance 0 of vmss-data?"
    assert "/dev/sdc, mounted at /datadisks/lun1" in summary and "data not yet written to the disk is lost" in summary
    assert "comes from the scale set model" in summary
    assert items[0].startswith("LUN 1  vmss-data_vmss-data_0_disk3_")


def test_what_a_managed_disk_is_attached_to() -> None:
    vmss_vm = f"{scale_set().id}/virtualMachines/3"
    vm = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/vm-tools"
    from vmss_tui.domain.models import ManagedDisk

    def disk(name: str, managed_by: str | None) -> ManagedDisk:
        return ManagedDisk(id=disk_id(name), name=name, resource_group=RG, location="westeurope", size_gb=128,
                           sku="Standard_LRS", state="Attached" if managed_by else "Unattached", managed_by=managed_by,
                           create_option="Empty")

    listing = DiskListing(RG, (disk("a", vmss_vm), disk("b", vm), disk("orphan", None)), fetched_at=0.0)
    assert [attached_to(d) for d in listing.disks] == ["vmss-data/3", "vm-tools", "nothing"]
    assert [d.name for d in listing.unattached] == ["orphan"]
