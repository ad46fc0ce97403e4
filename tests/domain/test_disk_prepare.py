"""The prepare script: its plan and result parsing (pure), and the script itself run for real, as
root, on loop devices set up as Azure data disks (tests/ssh/guest_lab.py): twice (the second run
changes nothing), next to disks that already have a filesystem or a partition table (never
touched), with each partitioning tool the script may find (parted, sgdisk, sfdisk)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from tests.ssh.guest_lab import GuestLab, guest_lab_fixture  # noqa: F401 (a fixture)
from vmss_tui.domain.disk_prepare import (
    ALREADY_PREPARED,
    FAILED,
    MISSING,
    PREPARED,
    SKIPPED,
    UNKNOWN,
    DiskPrepareError,
    PreparePlan,
    PrepareReport,
    make_plan,
    parse_prepare_output,
    prepare_script,
)

# ----- plans ----------------------------------------------------------------------------------


def test_plan_shows_each_mount_path_before_anything_runs() -> None:
    plan = make_plan([1, 0, 1])
    assert plan.luns == (0, 1) and plan.fstype == "ext4"
    assert plan.mountpoints == ((0, "/datadisks/lun0"), (1, "/datadisks/lun1"))
    assert make_plan([2], "XFS", "/data/disk{lun}/").mountpoints == ((2, "/data/disk2"),)


@pytest.mark.parametrize(("luns", "fstype", "template", "message"), [
    ([], "ext4", "/datadisks/lun{lun}", "no data disk to prepare"),
    ([64], "ext4", "/datadisks/lun{lun}", "LUN 64 is not allowed: a whole number 0-63"),
    ([True], "ext4", "/datadisks/lun{lun}", "LUN True is not allowed"),
    ([0], "btrfs", "/datadisks/lun{lun}", "filesystem 'btrfs' is not supported: use ext4 or xfs"),
    ([0], "ext4", "datadisks/lun{lun}", "is not allowed: an absolute path"),
    ([0], "ext4", "/data/$(reboot)", "is not allowed: an absolute path"),
    ([0], "ext4", "/data/x y", "is not allowed"),
    ([0], "ext4", "/data/'x'", "is not allowed"),
    ([0], "ext4", "/data/../etc", "has an empty, '.' or '..' component"),
    ([0], "ext4", "/data//x", "has an empty, '.' or '..' component"),
    ([0], "ext4", "/mnt", "is a system directory"),
    ([0], "ext4", "/etc/data{lun}", "is a system directory"),
    ([0], "ext4", "/", "is a system directory"),
    ([0, 1], "ext4", "/data", "has no {lun}: 2 disks would share one mount path"),
    ([0], "ext4", "   ", "mount path is empty"),
])
def test_bad_plans_are_one_line(luns: list[object], fstype: str, template: str, message: str) -> None:
    with pytest.raises(DiskPrepareError) as info:
        make_plan(luns, fstype, template)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_hand_made_plan_cannot_put_shell_text_in_the_script() -> None:
    sneaky = PreparePlan(luns=(0,), fstype="ext4; reboot", mount_template="/x")
    with pytest.raises(DiskPrepareError):
        prepare_script(sneaky)
    with pytest.raises(DiskPrepareError):
        prepare_script(PreparePlan(luns=(0,), mount_template="/data/`id`{lun}"))


def test_script_ends_with_one_call_per_lun() -> None:
    script = prepare_script(make_plan([0, 3], "xfs", "/srv/data/lun{lun}"))
    assert script.startswith("#!/bin/sh\n")
    assert "FSTYPE=xfs\nPASSNO=0\n" in script
    calls = [line for line in script.splitlines() if line.startswith("prepare_lun ")]
    assert calls == ["prepare_lun 0 /srv/data/lun0", "prepare_lun 3 /srv/data/lun3"]


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX sh here")
def test_script_is_valid_posix_sh() -> None:
    checked = subprocess.run(["sh", "-n"], input=prepare_script(make_plan([0, 1])), capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


# ----- reading results ------------------------------------------------------------------------


def test_result_lines_are_read_and_a_missing_lun_is_unknown() -> None:
    stdout = (
        "noise from somewhere\n"
        "vmss-tui-prepare: lun=0 result=prepared device=/dev/sdc partition=/dev/sdc1 fstype=ext4 uuid=abc "
        "mountpoint=/datadisks/lun0\n"
        "vmss-tui-prepare: lun=1 result=skipped reason=has-signature device=/dev/sdd\n"
        "vmss-tui-prepare: lun=2 result=failed step=mkfs device=/dev/sde\n"
        "vmss-tui-prepare: done\n"
    )
    report = parse_prepare_output(stdout, (0, 1, 2, 3))
    assert [(r.lun, r.result) for r in report.results] == [(0, PREPARED), (1, SKIPPED), (2, FAILED), (3, UNKNOWN)]
    assert report.completed and report.changed and not report.ok
    assert report.results[0].describe() == "LUN 0: prepared /dev/sdc1 (ext4) at /datadisks/lun0"
    assert report.results[1].describe() == (
        "LUN 1: skipped: the disk has a partition table or a filesystem (left as it is) (/dev/sdd)"
    )
    assert report.results[2].describe() == "LUN 2: failed: making the filesystem failed (/dev/sde)"
    assert report.summary() == "prepared LUN 0; skipped LUN 1; failed LUN 2; no result for LUN 3"


def test_output_cut_short_never_reads_as_success() -> None:
    report = parse_prepare_output("vmss-tui-prepare: lun=0 result=already-prepared device=/dev/sdc\n", (0,))
    assert report.results[0].result == ALREADY_PREPARED and report.results[0].ok
    assert not report.completed and not report.ok
    assert report.summary() == "already prepared LUN 0 (the script did not finish)"
    refused = parse_prepare_output("vmss-tui-prepare: result=failed reason=not-root\n", (0,))
    assert refused.error == "the script did not run as root" and refused.summary() == refused.error


# ----- the script on real disks -----------------------------------------------------------------


def fingerprint(lab: GuestLab, device: str) -> str:
    """A hash of the disk's first and last MiB (where tables and superblocks live)."""
    head = lab.run(f"dd if={device} bs=1M count=1 status=none | sha256sum", check=True).stdout.split()[0]
    size = int(lab.run(f"blockdev --getsize64 {device}", check=True).stdout)
    tail = lab.run(f"dd if={device} bs=1M skip={size // 2**20 - 1} count=1 status=none | sha256sum",
                   check=True).stdout.split()[0]
    return hashlib.sha256((head + tail).encode()).hexdigest()


def run_script(lab: GuestLab, plan: PreparePlan) -> tuple[subprocess.CompletedProcess[str], PrepareReport]:
    done = lab.run("sh", input=prepare_script(plan))
    return done, parse_prepare_output(done.stdout, plan.luns)


def test_prepares_only_empty_disks_and_a_second_run_changes_nothing(guest_lab: GuestLab) -> None:
    empty0 = guest_lab.add_disk(0, 64)
    empty1 = guest_lab.add_disk(1, 64, link="by-lun")
    formatted = guest_lab.add_disk(2, 64)
    labelled = guest_lab.add_disk(3, 64)
    guest_lab.run(f"mkfs.ext4 -q -L keepme {formatted} && parted -s {labelled} mklabel gpt", check=True)
    untouched = {formatted: fingerprint(guest_lab, formatted), labelled: fingerprint(guest_lab, labelled)}

    plan = make_plan([0, 1, 2, 3, 4], mount_template=guest_lab.mount_template)
    done, report = run_script(guest_lab, plan)
    assert done.returncode == 1  # LUN 4 has no disk
    results = {r.lun: r for r in report.results}
    assert (results[0].result, results[0].device, results[0].partition) == (PREPARED, empty0, f"{empty0}p1")
    assert (results[1].result, results[1].partition) == (PREPARED, f"{empty1}p1")
    assert (results[2].result, results[2].reason) == (SKIPPED, "has-signature")
    assert (results[3].result, results[3].reason) == (SKIPPED, "has-signature")
    assert (results[4].result, results[4].reason) == (MISSING, "no-lun-link")
    assert report.completed
    assert all(line.startswith("vmss-tui-prepare: ") for line in done.stdout.splitlines())

    fstab = guest_lab.fstab.read_text()
    for lun in (0, 1):
        entry = f"UUID={results[lun].uuid} {guest_lab.mount_root}/lun{lun} ext4 defaults,nofail 0 2"
        assert fstab.count(entry) == 1
        source = guest_lab.run(f"findmnt -n -o SOURCE {guest_lab.mount_root}/lun{lun}", check=True).stdout.strip()
        assert source == results[lun].partition
        table = guest_lab.run(f"blkid -p -s PTTYPE -o value {guest_lab.devices[lun]}", check=True).stdout.strip()
        assert table == "gpt"
    assert {d: fingerprint(guest_lab, d) for d in untouched} == untouched

    before = {d: fingerprint(guest_lab, d) for d in (empty0, empty1, formatted, labelled)}
    again, second = run_script(guest_lab, plan)
    assert again.returncode == 1
    assert [(r.lun, r.result) for r in second.results] == [
        (0, ALREADY_PREPARED), (1, ALREADY_PREPARED), (2, SKIPPED), (3, SKIPPED), (4, MISSING),
    ]
    assert not second.changed
    assert guest_lab.fstab.read_text() == fstab
    assert {d: fingerprint(guest_lab, d) for d in before} == before


@pytest.mark.parametrize("partitioner", ["parted", "sgdisk", "sfdisk"])
def test_each_partitioning_tool_gives_one_gpt_partition(guest_lab: GuestLab, partitioner: str) -> None:
    tools = ["parted", "sgdisk", "sfdisk"]
    for tool in tools[: tools.index(partitioner)]:
        guest_lab.hide_tool(tool)
    if partitioner == "sfdisk":
        guest_lab.hide_tool("partprobe")  # the kernel learns of the partition through partx alone
    if guest_lab.run(f"command -v {partitioner}").returncode != 0:
        pytest.skip(f"{partitioner} is not installed here")
    device = guest_lab.add_disk(0, 400)
    done, report = run_script(guest_lab, make_plan([0], "xfs", guest_lab.mount_template))
    assert done.returncode == 0, done.stderr
    assert report.ok and report.results[0].result == PREPARED
    parts = guest_lab.run(f"lsblk -rnpo NAME,TYPE {device}", check=True).stdout.split("\n")
    assert [p for p in parts if p.endswith(" part")] == [f"{device}p1 part"]
    start = guest_lab.run(f"cat /sys/class/block/{device.rsplit('/', 1)[1]}p1/start", check=True).stdout.strip()
    assert int(start) % 2048 == 0  # aligned on 1 MiB
    probe = guest_lab.run(f"blkid -p -s TYPE -o value {device}p1", check=True).stdout.strip()
    assert probe == "xfs"
    assert f"{guest_lab.mount_root}/lun0 xfs defaults,nofail 0 0" in guest_lab.fstab.read_text()


def test_a_busy_or_non_empty_mount_path_is_left_alone(guest_lab: GuestLab) -> None:
    disk0 = guest_lab.add_disk(0, 64)
    disk1 = guest_lab.add_disk(1, 64)
    keep = guest_lab.mount_root / "lun1"
    keep.mkdir()
    (keep / "app.db").write_text("data someone cares about")
    guest_lab.run(f"mkdir -p {guest_lab.mount_root}/lun0 && mount -t tmpfs busy {guest_lab.mount_root}/lun0",
                  check=True)
    clean = {d: fingerprint(guest_lab, d) for d in (disk0, disk1)}
    done, report = run_script(guest_lab, make_plan([0, 1], mount_template=guest_lab.mount_template))
    assert done.returncode == 0
    assert [(r.result, r.reason) for r in report.results] == [
        (SKIPPED, "mountpoint-in-use"), (SKIPPED, "mountpoint-not-empty"),
    ]
    assert {d: fingerprint(guest_lab, d) for d in clean} == clean
    assert (keep / "app.db").read_text() == "data someone cares about"


def test_refuses_to_run_without_root(guest_lab: GuestLab) -> None:
    guest_lab.add_disk(0, 64)
    script = prepare_script(make_plan([0], mount_template=guest_lab.mount_template))
    done = guest_lab.run("runuser -u nobody -- sh", input=script)
    assert done.returncode == 1
    report = parse_prepare_output(done.stdout, (0,))
    assert report.error == "the script did not run as root" and not report.ok
