"""The simulated guest's disk tools against the real ones, on this machine's loop devices.

Each case runs the same commands on a real 1 GiB loop device (util-linux, parted, gdisk,
e2fsprogs, xfsprogs of this machine, as root) and on a 1 GiB data disk of a simulated guest,
then compares what the tools print afterwards: the partition rows of fdisk/sfdisk/sgdisk/parted,
lsblk's JSON, blkid's probe, wipefs, blockdev and df. Device names, UUIDs, major:minor numbers,
the sector-size lines (a loop device has 512-byte physical sectors, an Azure disk 4096) and
runs of blanks are made equal before comparing. Skipped (with the reason) where the machine
cannot do it: not root, no loop devices, a tool missing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmss_tui.sim.guest import Guest

TOOLS = ("losetup", "parted", "sgdisk", "sfdisk", "fdisk", "mkfs.ext4", "mkfs.xfs", "blkid", "wipefs", "lsblk",
         "blockdev", "mount", "umount", "df")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root to attach loop devices and run the disk tools on them"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing tools: {', '.join(missing)} (apt-get install parted gdisk xfsprogs)"
    probe = subprocess.run(["losetup", "-f"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"no free loop device: {probe.stderr.strip() or probe.stdout.strip()}"
    return None


pytestmark = pytest.mark.skipif(_why_not() is not None, reason=_why_not() or "")


class RealDisk:
    """A real loop device over a sparse file, partitions scanned."""

    def __init__(self, directory: Path) -> None:
        self.image = directory / "disk.img"
        with open(self.image, "wb") as handle:
            handle.truncate(1024 ** 3)
        self.dev = subprocess.run(["losetup", "-f", "--show", "-P", str(self.image)], check=True,
                                  capture_output=True, text=True).stdout.strip()
        self.mountpoint = directory / "mnt"
        self.mountpoint.mkdir()
        self.mounted = False

    @property
    def part(self) -> str:
        return f"{self.dev}p1"

    def sh(self, command: str) -> tuple[int, str]:
        done = subprocess.run(["sh", "-c", command.format(dev=self.dev, part=self.part, mnt=self.mountpoint)],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL)
        return done.returncode, done.stdout + done.stderr

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", str(self.mountpoint)], capture_output=True)
        subprocess.run(["losetup", "-d", self.dev], capture_output=True)


class SimDisk:
    def __init__(self) -> None:
        self.guest = Guest(hostname="vmss-lab000000", admin_user="azureuser", os_disk_gb=30)
        self.guest.attach(0, 1, disk_name="lab-disk")
        self.dev = "/dev/sdc"
        self.part = "/dev/sdc1"
        self.mountpoint = "/mnt/lab"
        self.guest.make_dirs(self.mountpoint)

    def sh(self, command: str) -> tuple[int, str]:
        result = self.guest.exec("sudo sh -c " + _quote(command.format(dev=self.dev, part=self.part,
                                                                     mnt=self.mountpoint)), user="azureuser")
        return result.exit_code, result.stdout + result.stderr


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@pytest.fixture
def disks(tmp_path: Path) -> Iterator[tuple[RealDisk, SimDisk]]:
    real = RealDisk(tmp_path)
    try:
        yield real, SimDisk()
    finally:
        real.close()


def normal(text: str, disk: RealDisk | SimDisk) -> str:
    """Names, ids and blanks made comparable."""
    text = text.replace(disk.part, "PART").replace(disk.dev, "DEV")
    text = text.replace(disk.part.rsplit("/", 1)[1], "PART").replace(disk.dev.rsplit("/", 1)[1], "DEV")
    text = text.replace(str(disk.mountpoint), "MNT")
    text = UUID_RE.sub("UUID", text)
    text = re.sub(r'PTUUID="[0-9a-f]{8}"|0x[0-9a-f]{8}\b|\b[0-9a-f]{8}-0\d\b', "DOSID", text)
    text = re.sub(r'"type": "loop"|\bloop$', lambda m: m.group(0).replace("loop", "disk"), text, flags=re.M)
    text = re.sub(r"(\d+[KMGB]? )loop\b", r"\1disk", text)
    text = re.sub(r"\b\d{1,3}:\d{1,3}\b", "MAJ:MIN", text)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in text.splitlines()]
    # This machine has no udev (parted calls udevadm); the two disks differ in model and sector size.
    noise = ("udevadm: not found", "Disk model:", "Model:", "Sector size (logical/physical)",
             "I/O size (minimum/optimal)")
    return "\n".join(line for line in lines if line and not any(n in line for n in noise))


def same(real: RealDisk, sim: SimDisk, command: str) -> None:
    real_status, real_out = real.sh(command)
    sim_status, sim_out = sim.sh(command)
    assert (sim_status, normal(sim_out, sim)) == (real_status, normal(real_out, real)), command


PARTITION_ROWS = "fdisk -l {dev} | sed -n '/^Device/,$p'"
SFDISK_ROWS = "sfdisk -d {dev} | grep -v -e label-id -e '^device'"
SGDISK_ROWS = "sgdisk -p {dev} | sed -n '/^Number/,$p'"
PARTED_ROWS = "parted -s {dev} unit s print | sed -n '/^Number/,$p'"
LSBLK_JSON = "lsblk -J -b -o NAME,KNAME,PATH,PKNAME,TYPE,SIZE,MOUNTPOINTS {dev}"
LSBLK_TREE = "lsblk -o NAME,SIZE,TYPE,MOUNTPOINT {dev}"
LAYOUT_QUERIES = ("fdisk -l {dev}", "sfdisk -l {dev}", "parted -s {dev} print", "lsblk {dev}", PARTITION_ROWS, SFDISK_ROWS, SGDISK_ROWS, PARTED_ROWS, LSBLK_JSON, LSBLK_TREE,
                  "lsblk -b -rno NAME,SIZE,TYPE {dev}", "lsblk -rnpo NAME {dev}", "lsblk -rnpo NAME,TYPE {dev}",
                  "blkid -p {dev}; echo $?", "wipefs {dev}", "blockdev --getsize64 {dev}")

# Each followed by partprobe, as the prepare script does: the guest's kernel sees a new table at
# once, a real one when told (sgdisk on a loop device does not tell it).
PARTITIONING = {
    "parted-prepare-script": "parted -s -a optimal {dev} mklabel gpt mkpart lun0 ext4 1MiB 100%; partprobe {dev}",
    "parted-percent": "parted -s {dev} mklabel gpt mkpart primary ext4 0% 100%; partprobe {dev}",
    "sgdisk": "sgdisk -n 1:0:0 -t 1:8300 -c 1:lun0 {dev}; partprobe {dev}",
    "sfdisk-gpt": "printf 'label: gpt\\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4\\n' | sfdisk -q {dev}; partprobe {dev}",
    "sfdisk-dos": "printf 'label: dos\\n,,L\\n' | sfdisk -q {dev}; partprobe {dev}",
}


def test_an_empty_disk_looks_the_same(disks: tuple[RealDisk, SimDisk]) -> None:
    real, sim = disks
    for query in ("blkid -p {dev}; echo $?", "blkid -o value -s TYPE {dev}; echo $?", "wipefs {dev}; echo $?",
                  "blockdev --getsize64 {dev}", "blockdev --getsz {dev}", "lsblk -rnpo NAME {dev}", LSBLK_JSON,
                  "fdisk -l {dev} | head -1", "sfdisk -d {dev}; echo $?"):
        same(real, sim, query)


@pytest.mark.parametrize("how", sorted(PARTITIONING))
def test_partitioning_gives_the_same_table(disks: tuple[RealDisk, SimDisk], how: str) -> None:
    real, sim = disks
    same(real, sim, PARTITIONING[how])
    for query in LAYOUT_QUERIES:
        same(real, sim, query)
    for query in ("blkid -p {part}; echo $?", "wipefs {part}", "blockdev --getsize64 {part}"):
        same(real, sim, query)


@pytest.mark.parametrize("fstype", ["ext4", "xfs"])
def test_a_filesystem_on_a_partition_probes_the_same(disks: tuple[RealDisk, SimDisk], fstype: str) -> None:
    real, sim = disks
    same(real, sim, PARTITIONING["parted-prepare-script"])
    same(real, sim, f"mkfs.{fstype} -q {{part}}; echo $?")
    for query in ("blkid -p {part}", "blkid -p -s UUID -o value {part} | wc -l", "blkid -p -o value -s TYPE {part}",
                  "wipefs {part}", "wipefs {dev}", "lsblk -rnpo NAME,TYPE {dev}"):
        same(real, sim, query)


def test_mkfs_refuses_and_proceeds_as_the_real_ones(disks: tuple[RealDisk, SimDisk]) -> None:
    real, sim = disks
    same(real, sim, "mkfs.xfs -q {dev}; echo $?")
    # An existing filesystem: mkfs.xfs refuses without -f; mkfs.ext4 without a terminal does not ask.
    same(real, sim, "mkfs.xfs -q {dev}; echo $?")
    same(real, sim, "mkfs.xfs -q -f {dev}; echo $?")
    same(real, sim, "mkfs.ext4 -q {dev} </dev/null; echo $?")
    same(real, sim, "blkid -p -o value -s TYPE {dev}")
    same(real, sim, "wipefs -a {dev} >/dev/null; echo $?; wipefs {dev}; blkid -p {dev}; echo $?")


@pytest.mark.parametrize("fstype", ["ext4", "xfs"])
def test_a_mounted_filesystem_has_the_same_df_and_lsblk(disks: tuple[RealDisk, SimDisk], fstype: str) -> None:
    real, sim = disks
    same(real, sim, PARTITIONING["parted-prepare-script"])
    same(real, sim, f"mkfs.{fstype} -q {{part}}; echo $?")
    same(real, sim, "mount {part} {mnt}; echo $?")
    real.mounted = True
    for query in ("df -h {mnt} | tail -1", "df -h -T {mnt}", "findmnt -n -o SOURCE,TARGET,FSTYPE {mnt}",
                  LSBLK_JSON, LSBLK_TREE, "lsblk {dev}", "mount {part} {mnt}; echo $?", "mountpoint {mnt}; echo $?",
                  "mountpoint -q {dev}; echo $?"):
        same(real, sim, query)
    same(real, sim, "mkfs.xfs -q {part}; echo $?")
    same(real, sim, "umount {mnt}; echo $?")
    real.mounted = False
    same(real, sim, "umount {mnt}; echo $?")
