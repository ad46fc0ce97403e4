"""The simulated guest OS of one instance: an Ubuntu 22.04 Azure (Gen2) image in memory.

Everything a command in the guest can see or change lives here, never on the host: the files
(one tree per filesystem, joined by the mount table), the SCSI disks Azure attaches (the OS
disk `sda` with `sda1` /, `sda14` BIOS boot and `sda15` /boot/efi; the resource disk `sdb` with
`sdb1` on /mnt; one disk per data disk, `sdc`, `sdd`, ... at HCTL `1:0:0:<lun>`), their
partition tables, filesystems, UUIDs and df figures, `/etc/fstab`, and the links the Azure udev
rules make (`/dev/disk/azure/scsi1/lun<N>`, `/dev/disk/azure/data/by-lun/<N>` ...). The shell
(`shell.py`) reads and changes this state through the methods below; `Guest` is the face the
rest of the simulator uses. All of it is synchronous, in memory and deterministic for a given
hostname (identifiers come from a random generator seeded with it).
"""

from __future__ import annotations

import random
import time
import uuid as uuid_module
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

SECTOR = 512
KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB
GPT_FIRST_USABLE = 34
ALIGNMENT = 2048  # sectors (1 MiB): where parted, sgdisk and sfdisk start a first partition

ADMIN_UID = 1000
ROOT_UID = 0
DISK_GID = 6

LINUX_FS_GUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
BIOS_BOOT_GUID = "21686148-6449-6E6F-744E-656564454649"
EFI_SYSTEM_GUID = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
LINUX_LVM_GUID = "E6D6D379-F507-44C2-A23C-238F2A3DF928"
PARTITION_TYPE_NAMES = {
    LINUX_FS_GUID: "Linux filesystem",
    BIOS_BOOT_GUID: "BIOS boot",
    EFI_SYSTEM_GUID: "EFI System",
    LINUX_LVM_GUID: "Linux LVM",
    "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "Linux swap",
    "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "Microsoft basic data",
}
SGDISK_CODES = {LINUX_FS_GUID: "8300", BIOS_BOOT_GUID: "EF02", EFI_SYSTEM_GUID: "EF00", LINUX_LVM_GUID: "8E00",
                "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F": "8200", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7": "0700"}
SGDISK_TYPES = {code: guid for guid, code in SGDISK_CODES.items()}
DOS_TYPE_NAMES = {"83": "Linux", "7": "HPFS/NTFS/exFAT", "8e": "Linux LVM", "82": "Linux swap / Solaris",
                  "ef": "EFI (FAT-12/16/32)", "c": "W95 FAT32 (LBA)", "5": "Extended"}

IMAGE_ROOT_UUID = "4f7c3a61-2d8e-4b4e-9a0b-5c1d7e2f9a36"  # the same on every instance of the image
IMAGE_EFI_UUID = "7A1C-3F52"
IMAGE_PTUUID = "2b5e7c1a-9f3d-4e6b-8a21-0d4c6f8e1b93"
IMAGE_ROOT_USED = 1_622_118_400  # bytes the image's files take on /
IMAGE_EFI_USED = 6_347_776
OS_RELEASE = """PRETTY_NAME="Ubuntu 22.04.5 LTS"
NAME="Ubuntu"
VERSION_ID="22.04"
VERSION="22.04.5 LTS (Jammy Jellyfish)"
VERSION_CODENAME=jammy
ID=ubuntu
ID_LIKE=debian
HOME_URL="https://www.ubuntu.com/"
SUPPORT_URL="https://help.ubuntu.com/"
BUG_REPORT_URL="https://bugs.launchpad.net/ubuntu/"
PRIVACY_POLICY_URL="https://www.ubuntu.com/legal/terms-and-policies/privacy-policy"
UBUNTU_CODENAME=jammy
"""
KERNEL_RELEASE = "6.8.0-1031-azure"
KERNEL_VERSION = "#36~22.04.1-Ubuntu SMP Tue Jun 10 22:53:05 UTC 2025"
FSTAB_IMAGE = (
    "# CLOUD_IMG: This file was created/modified by the Cloud Image build process\n"
    "LABEL=cloudimg-rootfs\t/\t ext4\tdiscard,errors=remount-ro\t0 1\n"
    "LABEL=UEFI\t/boot/efi\tvfat\tumask=0077\t0 1\n"
)
FSTAB_RESOURCE_DISK = ("/dev/disk/cloud/azure_resource-part1\t/mnt\tauto\tdefaults,nofail,"
                       "x-systemd.after=cloud-init.service,_netdev,comment=cloudconfig\t0\t2\n")
DEFAULT_MOUNT_ROOT = "/datadisks"

# Azure sizes: (vCPUs, memory GiB, resource disk GiB or None when the size has no temp disk)
VM_SIZES: dict[str, tuple[int, float, int | None]] = {
    "standard_b1s": (1, 1, 4), "standard_b1ms": (1, 2, 4), "standard_b2s": (2, 4, 8), "standard_b2ms": (2, 8, 16),
    "standard_b4ms": (4, 16, 32), "standard_d2s_v3": (2, 8, 16), "standard_d4s_v3": (4, 16, 32),
    "standard_d8s_v3": (8, 32, 64), "standard_d2ds_v5": (2, 8, 75), "standard_d4ds_v5": (4, 16, 150),
    "standard_d2s_v5": (2, 8, None), "standard_d4s_v5": (4, 16, None), "standard_e2s_v5": (2, 16, None),
    "standard_e4s_v5": (4, 32, None), "standard_f2s_v2": (2, 4, 16), "standard_f4s_v2": (4, 8, 32),
    "standard_ds1_v2": (1, 3.5, 7), "standard_ds2_v2": (2, 7, 14),
}
DEFAULT_HARDWARE = (2, 8.0, 16)


class GuestError(Exception):
    """A guest operation that the real system would refuse; the message is what the tool prints."""


@dataclass(frozen=True, slots=True)
class ScriptResult:
    exit_code: int
    stdout: str
    stderr: str


# ---------------------------------------------------------------- files


@dataclass(eq=False)
class Node:
    mode: int  # permission bits (e.g. 0o644)
    uid: int = ROOT_UID
    gid: int = ROOT_UID
    mtime: float = 0.0

    kind = "?"


@dataclass(eq=False)
class Directory(Node):
    entries: dict[str, Node] = field(default_factory=dict)
    in_memory: bool = False  # on tmpfs/devtmpfs: its size follows its entries and it takes no blocks
    kind = "d"

    @property
    def size(self) -> int:
        return 40 + 20 * len(self.entries) if self.in_memory else 4096


@dataclass(eq=False)
class RegularFile(Node):
    text: str = ""
    program: str | None = None  # an executable of the image: the name of the shell's implementation
    kind = "-"

    @property
    def size(self) -> int:
        if self.program is not None:
            return 14_000 + 131 * len(self.program)  # a plausible binary size
        return len(self.text.encode())


@dataclass(eq=False)
class Symlink(Node):
    target: str = ""
    kind = "l"


@dataclass(eq=False)
class DeviceFile(Node):
    block: bool = True
    major: int = 0
    minor: int = 0
    device: str = ""  # kernel name: "sdc", "sdc1", "null"

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "b" if self.block else "c"


@dataclass(eq=False)
class GeneratedFile(Node):
    """A file whose contents are computed when read (/proc)."""

    produce: Callable[[], str] = field(default=lambda: "")
    kind = "-"

    @property
    def text(self) -> str:
        return self.produce()

    size = 0


# ---------------------------------------------------------------- block devices and filesystems


@dataclass(eq=False)
class Filesystem:
    fstype: str  # ext4 | xfs | vfat | squashfs | tmpfs ...
    uuid: str
    size_bytes: int  # the size of the block device it was made on (tmpfs: its size)
    label: str = ""
    created: float = 0.0
    root: Directory = field(default_factory=lambda: Directory(0o755))
    base_used: int = 0  # bytes in use when made, or what the image's files take
    version: str = ""
    inode_ratio: int = 16384  # bytes per inode (mke2fs -i)
    reserved_percent: int = 5  # blocks reserved for root (mke2fs -m)

    @property
    def block_size(self) -> int:
        return {"xfs": 512, "vfat": 512}.get(self.fstype, 4096)  # what blkid reports as BLOCK_SIZE

    def files_bytes(self) -> int:
        total = 0
        stack: list[Node] = [self.root]
        while stack:
            node = stack.pop()
            if isinstance(node, Directory):
                stack.extend(node.entries.values())
            elif isinstance(node, RegularFile) and node.program is None:
                total += -(-node.size // 4096) * 4096
        return total

    def df_figures(self) -> tuple[int, int, int]:
        """(total, used, available) bytes as df shows them: stable, and plausible for the type."""
        b = self.size_bytes
        if self.fstype == "ext4":
            blocks = b // 4096
            journal = _ext4_journal_blocks(blocks) * 4096
            groups = -(-blocks // 32768)
            overhead = b // self.inode_ratio * 256 + journal + groups * 82 * 4096
            total = (b - overhead) // 4096 * 4096
            used = self.base_used + self.files_bytes()
            reserved = blocks * self.reserved_percent // 100 * 4096 + min(4096, blocks // 50) * 4096
            return total, used, max(0, total - used - reserved)
        if self.fstype == "xfs":
            log = max(64 * MiB, b // 2048 // 4096 * 4096)
            total = b - log
            used = self.base_used + self.files_bytes()
            return total, used, max(0, total - used)
        if self.fstype == "vfat":
            total = b - b // 100
            used = self.base_used + self.files_bytes()
            return total, used, max(0, total - used)
        if self.fstype == "squashfs":
            return b, b, 0
        if self.fstype == "efivarfs":
            return b, self.base_used, b - self.base_used - 4608
        used = self.base_used + self.files_bytes()
        return b, used, max(0, b - used)


def _ext4_journal_blocks(blocks: int) -> int:
    # mke2fs's default journal size for a 4 KiB-block filesystem of `blocks` blocks
    for limit, size in ((2048, 0), (32768, 1024), (256 * 1024, 4096), (512 * 1024, 8192),
                        (4096 * 1024, 16384), (8192 * 1024, 32768), (16384 * 1024, 65536), (32768 * 1024, 131072)):
        if blocks < limit:
            return size
    return 262144


def fresh_fs_used(fstype: str, size_bytes: int) -> int:
    """What a freshly made filesystem shows as used in df."""
    if fstype == "ext4":
        return 24 * KiB
    if fstype == "xfs":
        return 33 * MiB + size_bytes // 180 // 4096 * 4096
    if fstype == "vfat":
        return 4 * KiB
    return 0


@dataclass(eq=False)
class Partition:
    number: int
    start: int  # first sector
    end: int  # last sector (inclusive)
    type_id: str  # GPT type GUID, or the DOS type in hex ("83")
    name: str = ""  # GPT partition name (PARTLABEL)
    partuuid: str = ""
    filesystem: Filesystem | None = None
    bootable: bool = False

    @property
    def sectors(self) -> int:
        return self.end - self.start + 1

    @property
    def size_bytes(self) -> int:
        return self.sectors * SECTOR


@dataclass(eq=False)
class PartitionTable:
    kind: str  # gpt | dos
    ptuuid: str  # GPT disk GUID (lower case), or the DOS disk identifier "0x1a2b3c4d"
    partitions: list[Partition] = field(default_factory=list)
    first_lba: int = GPT_FIRST_USABLE  # sfdisk writes 2048 here, parted and sgdisk 34

    def get(self, number: int) -> Partition | None:
        return next((p for p in self.partitions if p.number == number), None)


@dataclass(eq=False)
class Disk:
    """One SCSI disk as the guest's kernel sees it (or a loop device of a snap)."""

    role: str  # os | resource | data | loop
    size_bytes: int
    hctl: str | None
    lun: int | None = None
    disk_name: str | None = None  # the managed disk behind it, as ARM names it
    table: PartitionTable | None = None
    filesystem: Filesystem | None = None  # a filesystem on the whole disk
    name: str = ""  # kernel name, given when the kernel sees the disk ("sdc")
    index: int = 0  # sd index (a=0) or loop number
    serial: str = ""
    read_only: bool = False

    @property
    def sectors(self) -> int:
        return self.size_bytes // SECTOR

    @property
    def major(self) -> int:
        return 7 if self.role == "loop" else 8

    @property
    def minor(self) -> int:
        return self.index if self.role == "loop" else self.index * 16

    def partition_name(self, number: int) -> str:
        return f"{self.name}p{number}" if self.name[-1].isdigit() else f"{self.name}{number}"

    def partition_major_minor(self, number: int) -> tuple[int, int]:
        if self.role != "loop" and number < 16:
            return 8, self.index * 16 + number
        return 259, self.index * 16 + number  # extended dev_t range, as the kernel gives them

    @property
    def last_usable(self) -> int:
        return self.sectors - GPT_FIRST_USABLE

    @property
    def has_signature(self) -> bool:
        return self.table is not None or self.filesystem is not None


@dataclass(frozen=True, slots=True)
class BlockTarget:
    """A block device node: a whole disk, or one partition of it."""

    disk: Disk
    partition: Partition | None = None

    @property
    def name(self) -> str:
        return self.disk.partition_name(self.partition.number) if self.partition else self.disk.name

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"

    @property
    def size_bytes(self) -> int:
        return self.partition.size_bytes if self.partition else self.disk.size_bytes

    @property
    def filesystem(self) -> Filesystem | None:
        return self.partition.filesystem if self.partition else self.disk.filesystem

    def set_filesystem(self, fs: Filesystem | None) -> None:
        if self.partition is not None:
            self.partition.filesystem = fs
        else:
            self.disk.filesystem = fs

    @property
    def major_minor(self) -> tuple[int, int]:
        if self.partition is not None:
            return self.disk.partition_major_minor(self.partition.number)
        return self.disk.major, self.disk.minor


@dataclass(eq=False)
class Mount:
    source: str  # what the kernel shows: "/dev/sdc1", "/dev/root", "tmpfs", "proc"
    target: str
    fstype: str
    options: str
    filesystem: Filesystem | None = None  # None for the pseudo filesystems
    device: str | None = None  # kernel name of the block device


@dataclass(frozen=True, slots=True)
class FstabEntry:
    spec: str
    target: str
    fstype: str
    options: str
    line: int

    @property
    def option_list(self) -> list[str]:
        return [o for o in self.options.split(",") if o]


def parse_fstab(text: str) -> list[FstabEntry]:
    entries = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        fstype = fields[2] if len(fields) > 2 else "auto"
        options = fields[3] if len(fields) > 3 else "defaults"
        entries.append(FstabEntry(fields[0], fields[1], fstype, options, number))
    return entries


class MountTable(list[Mount]):
    """The mount table; `version` changes with every change, so lookups can be indexed."""

    version = 0

    def _changed(self) -> None:
        self.version += 1

    def append(self, item: Mount) -> None:
        super().append(item)
        self._changed()

    def remove(self, item: Mount) -> None:
        super().remove(item)
        self._changed()

    def __iadd__(self, items: Any) -> MountTable:  # type: ignore[override,misc]
        super().__iadd__(items)
        self._changed()
        return self


class PathError(GuestError):
    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


NOT_FOUND = "No such file or directory"
DENIED = "Permission denied"
NOT_DIR = "Not a directory"
IS_DIR = "Is a directory"
EXISTS = "File exists"
BUSY = "Device or resource busy"
LOOP = "Too many levels of symbolic links"


def normpath(path: str, cwd: str = "/") -> str:
    """Lexical normalisation to an absolute path (no symlinks followed)."""
    if not path.startswith("/"):
        path = cwd.rstrip("/") + "/" + path
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


@dataclass(frozen=True, slots=True)
class Credentials:
    uid: int
    gid: int
    groups: tuple[int, ...]

    @property
    def root(self) -> bool:
        return self.uid == ROOT_UID


def may(node: Node, who: Credentials, bit: int) -> bool:
    """May `who` read (4), write (2) or search/execute (1) `node`, by its mode bits."""
    if who.root:
        return bit != 1 or isinstance(node, Directory) or bool(node.mode & 0o111)
    if node.uid == who.uid:
        return bool(node.mode & (bit << 6))
    if node.gid in who.groups or node.gid == who.gid:
        return bool(node.mode & (bit << 3))
    return bool(node.mode & bit)


# ---------------------------------------------------------------- the guest


class Guest:
    """The simulated OS of one instance (see the module's docstring)."""

    def __init__(self, *, hostname: str, admin_user: str, os_disk_gb: int, os_type: str = "Linux",
                 vm_size: str | None = None, clock: Callable[[], float] | None = None) -> None:
        self._hostname = hostname
        self.admin_user = admin_user
        self.os_type = os_type
        self.os_disk_gb = os_disk_gb
        vcpus, memory_gb, resource_gb = VM_SIZES.get((vm_size or "").lower(), DEFAULT_HARDWARE)
        self.vcpus = vcpus
        self.memory_bytes = int(memory_gb * GiB)
        self.resource_disk_gb = resource_gb
        self.clock = clock or time.time
        self._rng = random.Random(f"vmss-tui-guest/{hostname}")
        self.data_disks: dict[int, Disk] = {}  # by LUN; they outlive reimages
        self.boot_error: str | None = None  # set when a boot ends in emergency mode (sshd is not up)
        self.generation = 0  # bumped by reimage
        self.on_power_request: Callable[[str], bool] | None = None  # "reboot" | "poweroff" typed in the guest
        self._run_counter = 0
        self._build_os()

    @property
    def hostname(self) -> str:
        return self._hostname

    @hostname.setter
    def hostname(self, name: str) -> None:
        """The computer name; /etc/hostname follows (and `hostname` in the guest)."""
        self._hostname = name
        node = self.root_fs.root.entries.get("etc") if getattr(self, "root_fs", None) is not None else None
        if isinstance(node, Directory) and isinstance(node.entries.get("hostname"), RegularFile):
            node.entries["hostname"].text = name + "\n"  # type: ignore[attr-defined]

    # ---- identifiers

    def new_uuid(self) -> str:
        return str(uuid_module.UUID(int=self._rng.getrandbits(128), version=4))

    def new_serial(self) -> str:
        return "".join(self._rng.choice("0123456789abcdef") for _ in range(32))

    def new_dos_id(self) -> str:
        return f"0x{self._rng.getrandbits(32):08x}"

    def new_vfat_id(self) -> str:
        value = self._rng.getrandbits(32)
        return f"{value >> 16:04X}-{value & 0xFFFF:04X}"

    # ---- building the OS disk, the resource disk and the boot state

    def _build_os(self) -> None:
        now = self.clock()
        self.boot_time = now
        self.users = {"root": (ROOT_UID, ROOT_UID, "/root"), self.admin_user: (ADMIN_UID, ADMIN_UID,
                                                                              f"/home/{self.admin_user}")}
        os_disk = Disk(role="os", size_bytes=self.os_disk_gb * GiB, hctl="0:0:0:0", serial=self.new_serial())
        end = os_disk.last_usable
        root_part = Partition(1, 227328, end, LINUX_FS_GUID, "", "c3d5f5e2-6a0d-4d47-9f0b-1b6f2e8a1c01",
                              Filesystem("ext4", IMAGE_ROOT_UUID, (end - 227328 + 1) * SECTOR, "cloudimg-rootfs",
                                         now - 86400 * 40, base_used=IMAGE_ROOT_USED, version="1.0",
                                         inode_ratio=8192, reserved_percent=0))
        bios = Partition(14, 2048, 10239, BIOS_BOOT_GUID, "", "5d4b1c76-3f1e-4a8f-a0e2-7c9b8d6e5f14")
        efi = Partition(15, 10240, 227327, EFI_SYSTEM_GUID, "", "9a8e7d6c-5b4a-4392-8170-6f5e4d3c2b15",
                        Filesystem("vfat", IMAGE_EFI_UUID, 217088 * SECTOR, "UEFI", now - 86400 * 40,
                                   base_used=IMAGE_EFI_USED, version="FAT32"))
        os_disk.table = PartitionTable("gpt", IMAGE_PTUUID, [root_part, bios, efi])
        self.os_disk = os_disk
        self.resource_disk: Disk | None = None
        if self.resource_disk_gb:
            size = self.resource_disk_gb * GiB
            resource = Disk(role="resource", size_bytes=size, hctl="0:0:0:1", serial=self.new_serial())
            part_end = (resource.sectors // ALIGNMENT) * ALIGNMENT - 1
            dos_id = self.new_dos_id()
            part = Partition(1, 2048, part_end, "7", "", f"{dos_id[2:]}-01", Filesystem(
                "ext4", self.new_uuid(), (part_end - 2048 + 1) * SECTOR, "", now,
                base_used=28 * KiB, version="1.0"))
            resource.table = PartitionTable("dos", dos_id, [part])
            self.resource_disk = resource
        self.loops: list[Disk] = []  # the image has no snaps mounted
        self.root_fs = root_part.filesystem
        assert self.root_fs is not None
        self._populate_root(self.root_fs.root, now)
        efi_fs = efi.filesystem
        assert efi_fs is not None
        efi_fs.root.entries["EFI"] = Directory(0o755, entries={
            "BOOT": Directory(0o755, entries={"BOOTX64.EFI": RegularFile(0o755, text="")}),
            "ubuntu": Directory(0o755, entries={"grub.cfg": RegularFile(0o755, text="")})})
        self.blkid_cache: dict[str, dict[str, str]] = {}
        self.fstab_dirty = False  # /etc/fstab changed since systemd last read it
        self._enumerate()
        self._boot_mounts()

    def _populate_root(self, root: Directory, now: float) -> None:
        from .shell import PROGRAMS  # the executables of the image are the shell's commands

        def d(mode: int = 0o755, uid: int = 0, gid: int = 0, **entries: Node) -> Directory:
            return Directory(mode, uid, gid, now, dict(entries))

        def f(text: str, mode: int = 0o644, uid: int = 0, gid: int = 0) -> RegularFile:
            return RegularFile(mode, uid, gid, now, text)

        admin = self.admin_user
        usr_bin = d()
        usr_sbin = d()
        for name, where in PROGRAMS.items():
            target = usr_sbin if where == "sbin" else usr_bin
            mode = 0o4755 if name == "sudo" else 0o755
            target.entries[name] = RegularFile(mode, 0, 0, now, "", program=name)
        home = d(0o750, ADMIN_UID, ADMIN_UID)
        home.entries.update({
            ".bashrc": f(BASHRC, uid=ADMIN_UID, gid=ADMIN_UID),
            ".profile": f(PROFILE, uid=ADMIN_UID, gid=ADMIN_UID),
            ".bash_logout": f("# ~/.bash_logout: executed by bash(1) when login shell exits.\n",
                              uid=ADMIN_UID, gid=ADMIN_UID),
            ".ssh": d(0o700, ADMIN_UID, ADMIN_UID, authorized_keys=f(
                "# keys of the scale set's osProfile (the simulator checks keys itself)\n", 0o600,
                ADMIN_UID, ADMIN_UID)),
        })
        passwd = (f"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
                  f"bin:x:2:2:bin:/bin:/usr/sbin/nologin\nsys:x:3:3:sys:/dev:/usr/sbin/nologin\n"
                  f"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
                  f"syslog:x:104:111::/home/syslog:/usr/sbin/nologin\n"
                  f"{admin}:x:{ADMIN_UID}:{ADMIN_UID}:Ubuntu:/home/{admin}:/bin/bash\n")
        group = (f"root:x:0:\nadm:x:4:syslog,{admin}\ndisk:x:6:\ndialout:x:20:{admin}\ncdrom:x:24:{admin}\n"
                 f"floppy:x:25:{admin}\nsudo:x:27:{admin}\naudio:x:29:{admin}\ndip:x:30:{admin}\n"
                 f"video:x:44:{admin}\nplugdev:x:46:{admin}\nnetdev:x:118:{admin}\nlxd:x:119:{admin}\n"
                 f"nogroup:x:65534:\n{admin}:x:{ADMIN_UID}:\n")
        etc = d(
            hostname=f(self.hostname + "\n"),
            hosts=f("127.0.0.1 localhost\n\n# The following lines are desirable for IPv6 capable hosts\n"
                    "::1 ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\n"
                    "ff02::1 ip6-allnodes\nff02::2 ip6-allrouters\nff02::3 ip6-allhosts\n"),
            fstab=f(FSTAB_IMAGE + (FSTAB_RESOURCE_DISK if self.resource_disk is not None else "")),
            passwd=f(passwd),
            group=f(group),
            shadow=f(f"root:*:19950:0:99999:7:::\n{admin}:!:19950:0:99999:7:::\n", 0o640, 0, 42),
            sudoers=f("Defaults\tenv_reset\nDefaults\tsecure_path=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                      "/usr/bin:/sbin:/bin:/snap/bin\"\nroot\tALL=(ALL:ALL) ALL\n%sudo\tALL=(ALL:ALL) ALL\n"
                      "@includedir /etc/sudoers.d\n", 0o440),
            **{"sudoers.d": d(0o750, **{"90-cloud-init-users": f(
                f"# Created by cloud-init v. 24.4.1 on {time.strftime('%a, %d %b %Y %H:%M:%S', time.gmtime(now))}"
                f" +0000\n\n# User rules for {admin}\n{admin} ALL=(ALL) NOPASSWD:ALL\n", 0o440)})},
            **{"os-release": Symlink(0o777, 0, 0, now, "../usr/lib/os-release")},
            mtab=Symlink(0o777, 0, 0, now, "../proc/self/mounts"),
            shells=f("# /etc/shells: valid login shells\n/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/dash\n/usr/bin/dash\n"),
            issue=f("Ubuntu 22.04.5 LTS \\n \\l\n\n"),
        )
        root.entries.update({
            "bin": Symlink(0o777, 0, 0, now, "usr/bin"),
            "sbin": Symlink(0o777, 0, 0, now, "usr/sbin"),
            "lib": Symlink(0o777, 0, 0, now, "usr/lib"),
            "lib64": Symlink(0o777, 0, 0, now, "usr/lib64"),
            "boot": d(efi=d()),
            "dev": d(),
            "etc": etc,
            "home": d(**{admin: home}),
            "lost+found": d(0o700),
            "media": d(),
            "mnt": d(),
            "opt": d(),
            "proc": d(0o555),
            "root": d(0o700, **{".bashrc": f(BASHRC), ".profile": f(PROFILE), "snap": d()}),
            "run": d(),
            "snap": d(),
            "srv": d(),
            "sys": d(0o555),
            "tmp": d(0o1777),
            "usr": d(bin=usr_bin, sbin=usr_sbin, lib=d(**{"os-release": f(OS_RELEASE)}), lib64=d(),
                     local=d(bin=d(), sbin=d()), share=d()),
            "var": d(lib=d(waagent=d(0o700), snapd=d(snaps=d())), log=d(0o775, 0, 104, **{
                "syslog": f("", 0o640, 104, 4), "cloud-init.log": f("", 0o640, 104, 4)}), tmp=d(0o1777)),
        })

    def _enumerate(self) -> None:
        """Kernel names as at boot: the OS disk, the resource disk, then data disks by LUN."""
        self.os_disk.name, self.os_disk.index = "sda", 0
        disks: list[Disk] = [self.os_disk]
        if self.resource_disk is not None:
            self.resource_disk.name, self.resource_disk.index = "sdb", 1
            disks.append(self.resource_disk)
        for lun in sorted(self.data_disks):
            disk = self.data_disks[lun]
            disk.index = len(disks)
            disk.name = _sd_name(disk.index)
            disks.append(disk)
        for loop in self.loops:
            loop.name = f"loop{loop.index}"
        self.devices_version = getattr(self, "devices_version", 0) + 1

    def _boot_mounts(self) -> None:
        """The mounts of a fresh boot, in the order an Ubuntu 22.04 Azure VM has them: the root
        filesystem, the pseudo filesystems, what /etc/fstab says, then the admin's /run/user."""
        mem = self.memory_bytes * 97 // 100  # what the kernel leaves of the VM size's memory
        self.mounts = MountTable()
        root_target = BlockTarget(self.os_disk, self.os_disk.table.get(1) if self.os_disk.table else None)
        run_fs = Filesystem("tmpfs", "", mem // 5 // 4096 * 4096, base_used=1_331_200)
        run_fs.root.entries.update({"lock": Directory(0o1777), "user": Directory(0o755), "blkid": Directory(0o755),
                                    "systemd": Directory(0o755), "sshd.pid": RegularFile(0o644, text="712\n")})
        self.mounts += [
            Mount("/dev/root", "/", "ext4", "rw,relatime,discard,errors=remount-ro", root_target.filesystem,
                  root_target.name),
            Mount("devtmpfs", "/dev", "devtmpfs", f"rw,relatime,size={mem // 2 // KiB}k,nr_inodes={mem // 8192},"
                  "mode=755,inode64"),
            Mount("proc", "/proc", "proc", "rw,nosuid,nodev,noexec,relatime"),
            Mount("sysfs", "/sys", "sysfs", "rw,nosuid,nodev,noexec,relatime"),
            Mount("tmpfs", "/dev/shm", "tmpfs", "rw,nosuid,nodev,inode64",
                  Filesystem("tmpfs", "", mem // 2 // 4096 * 4096)),
            Mount("devpts", "/dev/pts", "devpts", "rw,nosuid,noexec,relatime,gid=5,mode=620,ptmxmode=000"),
            Mount("tmpfs", "/run", "tmpfs", f"rw,nosuid,nodev,size={mem // 5 // KiB}k,nr_inodes=819200,mode=755,"
                  "inode64", run_fs),
            Mount("tmpfs", "/run/lock", "tmpfs", "rw,nosuid,nodev,noexec,relatime,size=5120k,inode64",
                  Filesystem("tmpfs", "", 5 * MiB)),
            Mount("efivarfs", "/sys/firmware/efi/efivars", "efivarfs", "rw,nosuid,nodev,noexec,relatime",
                  Filesystem("efivarfs", "", 128 * KiB, base_used=37_888)),
        ]
        self.boot_error = None
        self.mount_fstab(boot=True)
        self.fstab_dirty = False
        user_run = Filesystem("tmpfs", "", mem // 10 // 4096 * 4096, base_used=4096)
        run_fs.root.entries["user"] = Directory(0o755, entries={str(ADMIN_UID): Directory(0o700, ADMIN_UID,
                                                                                          ADMIN_UID)})
        self.mounts.append(Mount("tmpfs", f"/run/user/{ADMIN_UID}", "tmpfs",
                                 f"rw,nosuid,nodev,relatime,size={mem // 10 // KiB}k,nr_inodes={mem // 10 // 4096},"
                                 f"mode=700,uid={ADMIN_UID},gid={ADMIN_UID},inode64", user_run))

    # ---- the interface the simulator uses

    def attach(self, lun: int, size_gb: int, *, disk_name: str) -> None:
        """A data disk at `lun` (a new, empty SCSI disk the first time; the same disk with its
        contents when it comes back)."""
        if lun in self.data_disks:
            raise ValueError(f"LUN {lun} is already attached to {self.hostname}")
        disk = Disk(role="data", size_bytes=size_gb * GiB, hctl=f"1:0:0:{lun}", lun=lun, disk_name=disk_name,
                    serial=self.new_serial())
        self.attach_disk(disk)

    def attach_disk(self, disk: Disk) -> None:
        """Hot-plug a disk (kept contents): it takes the lowest free sd name, as the kernel does."""
        assert disk.lun is not None
        if disk.lun in self.data_disks:
            raise ValueError(f"LUN {disk.lun} is already attached to {self.hostname}")
        used = {d.index for d in self.all_disks() if d.role != "loop"}
        disk.index = next(i for i in range(len(used) + 1) if i not in used)
        disk.name = _sd_name(disk.index)
        disk.hctl = f"1:0:0:{disk.lun}"
        self.data_disks[disk.lun] = disk
        self.devices_version += 1

    def detach(self, lun: int) -> Disk:
        """Unplug the data disk at `lun`; what was mounted from it goes too. Returns the disk
        (its contents), so it can be attached again elsewhere."""
        disk = self.data_disks.pop(lun)
        self.mounts = MountTable(m for m in self.mounts if not (m.device and _belongs_to(m.device, disk)))
        self.blkid_cache = {k: v for k, v in self.blkid_cache.items() if not _belongs_to(k[5:], disk)}
        self.devices_version += 1
        return disk

    def prepare(self, lun: int, *, fstype: str = "ext4", mountpoint: str | None = None) -> None:
        """What the disk-prepare script does to an empty disk: one GPT partition, a filesystem,
        a mount, and an fstab line by UUID with nofail. A disk with a partition table or a
        filesystem is left as it is."""
        disk = self.data_disks[lun]
        if disk.has_signature:
            return
        target = mountpoint or f"{DEFAULT_MOUNT_ROOT}/lun{lun}"
        self.make_label(disk, "gpt")
        end = (disk.last_usable + 1) // ALIGNMENT * ALIGNMENT - 1
        part = self.add_partition(disk, 2048, end, LINUX_FS_GUID, name=f"lun{lun}")
        fs = self.make_filesystem(BlockTarget(disk, part), fstype)
        self.make_dirs(target)
        self.mount(BlockTarget(disk, part), target)
        self.append_file("/etc/fstab", f"UUID={fs.uuid} {target} {fstype} defaults,nofail 0 2\n")
        self.fstab_dirty = False

    def reimage(self) -> None:
        """A fresh OS disk from the image: data disks keep their contents; their mounts and
        fstab lines (on the old OS disk) are gone."""
        self.generation += 1
        self._build_os()

    def reboot(self) -> None:
        """Restart the OS: device names as enumerated at boot, /run emptied, fstab mounted."""
        self.boot_time = self.clock()
        self.blkid_cache = {}
        self._enumerate()
        self._boot_mounts()

    def request_power(self, action: str) -> bool:
        """`reboot` (or `poweroff`) typed in the guest: `on_power_request` (set by the simulator, so
        ARM sees the restart) decides; without it a reboot happens here at once. False: refused."""
        if self.on_power_request is not None:
            return bool(self.on_power_request(action))
        if action in ("reboot", "halt"):
            self.reboot()
            return True
        return False

    def run_script(self, script: str) -> ScriptResult:
        """Run a shell script as root, as Run Command does (in a fresh download directory)."""
        from .shell import Shell

        if self.os_type != "Linux":
            return ScriptResult(1, "", "the simulated Windows guest runs no scripts\n")
        directory = f"/var/lib/waagent/run-command/download/{self._run_counter}"
        self._run_counter += 1
        self.make_dirs(directory)
        self.write_file(f"{directory}/script.sh", script, mode=0o700)
        shell = Shell(self, user="root", cwd=directory, login=False)
        return shell.run_script_text(script, argv0=f"{directory}/script.sh")

    def exec(self, command: str, *, user: str) -> ScriptResult:
        """One command line as `user`, without a terminal: what an SSH exec request runs."""
        from .shell import Shell

        shell = Shell(self, user=user)
        return shell.run_line(command)

    # ---- devices

    def all_disks(self) -> list[Disk]:
        disks = [self.os_disk]
        if self.resource_disk is not None:
            disks.append(self.resource_disk)
        disks += sorted(self.data_disks.values(), key=lambda d: d.index)
        return disks

    def block_devices(self) -> list[Disk]:
        """What lsblk lists, in its order (by kernel name; loops first, as on a VM)."""
        return sorted(self.loops, key=lambda d: d.index) + sorted(self.all_disks(), key=lambda d: _sd_sort(d.name))

    def targets(self) -> Iterator[BlockTarget]:
        for disk in self.block_devices():
            yield BlockTarget(disk)
            if disk.table is not None:
                for part in sorted(disk.table.partitions, key=lambda p: p.number):
                    yield BlockTarget(disk, part)

    def target_named(self, kname: str) -> BlockTarget | None:
        return next((t for t in self.targets() if t.name == kname), None)

    def block_target(self, path: str, cwd: str = "/") -> BlockTarget | None:
        """The block device a path names (following /dev/disk/... links), or None."""
        try:
            node = self.lookup(path, cwd)
        except PathError:
            return None
        if isinstance(node, DeviceFile) and node.block:
            return self.target_named(node.device)
        return None

    def target_by_tag(self, spec: str) -> BlockTarget | None:
        """fstab's first field: UUID=, LABEL=, PARTUUID=, PARTLABEL= or a path."""
        key, _, value = spec.partition("=")
        if not value or key not in ("UUID", "LABEL", "PARTUUID", "PARTLABEL"):
            return self.block_target(spec) if spec.startswith("/") else None
        value = value.strip('"')
        for target in self.targets():
            fs = target.filesystem
            if key == "UUID" and fs is not None and fs.uuid.lower() == value.lower():
                return target
            if key == "LABEL" and fs is not None and fs.label == value:
                return target
            if key == "PARTUUID" and target.partition is not None and target.partition.partuuid == value.lower():
                return target
            if key == "PARTLABEL" and target.partition is not None and target.partition.name == value:
                return target
        return None

    def in_use(self, target: BlockTarget) -> bool:
        """Mounted (the device or, for a disk, one of its partitions)."""
        names = {target.name}
        if target.partition is None and target.disk.table is not None:
            names |= {target.disk.partition_name(p.number) for p in target.disk.table.partitions}
        return any(m.device in names for m in self.mounts)

    def mount_of(self, target: BlockTarget) -> list[Mount]:
        return [m for m in self.mounts if m.device == target.name]

    # ---- partitions and filesystems (the effects of parted, sgdisk, sfdisk, mkfs)

    def make_label(self, disk: Disk, kind: str) -> None:
        if kind == "gpt":
            disk.table = PartitionTable("gpt", self.new_uuid())
        else:
            disk.table = PartitionTable("dos", self.new_dos_id())
        disk.filesystem = None  # a new label hides a whole-disk filesystem (its signature is wiped)
        self.devices_version += 1

    def add_partition(self, disk: Disk, start: int, end: int, type_id: str, *, name: str = "",
                      number: int | None = None) -> Partition:
        table = disk.table
        if table is None:
            raise GuestError("unrecognised disk label")
        if number is None:
            number = next(n for n in range(1, 129) if table.get(n) is None)
        first = table.first_lba if table.kind == "gpt" else 1
        last = disk.last_usable if table.kind == "gpt" else disk.sectors - 1
        if start < first or end > last or start > end:
            raise GuestError("the partition is outside the disk")
        for other in table.partitions:
            if start <= other.end and end >= other.start:
                raise GuestError("the partition overlaps another one")
        part = Partition(number, start, end, type_id, name, self.new_uuid() if table.kind == "gpt" else
                         f"{table.ptuuid[2:]}-{number:02d}")
        table.partitions.append(part)
        table.partitions.sort(key=lambda p: p.number)
        self.devices_version += 1
        return part

    def make_filesystem(self, target: BlockTarget, fstype: str, *, label: str = "",
                        fs_uuid: str | None = None) -> Filesystem:
        size = target.size_bytes
        fs = Filesystem(fstype, fs_uuid or (self.new_vfat_id() if fstype == "vfat" else self.new_uuid()), size,
                        label, self.clock(), base_used=fresh_fs_used(fstype, size),
                        version={"ext4": "1.0", "xfs": "", "vfat": "FAT32"}.get(fstype, ""))
        if fstype == "ext4":
            fs.root.entries["lost+found"] = Directory(0o700, mtime=fs.created)
        fs.root.mtime = fs.created
        if target.partition is None and target.disk.table is not None:
            target.disk.table = None  # the label is overwritten with the filesystem
        target.set_filesystem(fs)
        self.devices_version += 1
        return fs

    def wipe(self, target: BlockTarget) -> None:
        if target.partition is None:
            target.disk.table = None
        target.set_filesystem(None)
        self.devices_version += 1

    # ---- mounts

    def mount(self, target: BlockTarget, mountpoint: str, *, options: str = "") -> Mount:
        """Mount `target` on `mountpoint` (an existing directory); raises GuestError with
        mount(8)'s words."""
        fs = target.filesystem
        path = normpath(mountpoint)
        try:
            node = self.lookup(path)
        except PathError:
            raise GuestError(f"{path}: mount point does not exist.") from None
        if not isinstance(node, Directory):
            raise GuestError(f"{path}: mount point is not a directory.")
        if fs is None or fs.fstype in ("", "swap"):
            raise GuestError(f"{path}: wrong fs type, bad option, bad superblock on {target.path}, missing codepage "
                             "or helper program, or other error.")
        for m in self.mounts:
            if m.device == target.name and m.target == path:
                raise GuestError(f"{path}: {target.path} already mounted on {path}.")
        opts = _kernel_options(fs.fstype, options)
        mount = Mount(target.path if target.name != "sda1" else "/dev/root", path, fs.fstype, opts, fs, target.name)
        self.mounts.append(mount)
        return mount

    def umount(self, spec: str, cwd: str = "/") -> Mount:
        """Unmount by mount point or by device; raises GuestError with umount(8)'s words."""
        path = normpath(spec, cwd)
        target = self.block_target(path)
        for m in reversed(self.mounts):
            if m.target == path or (target is not None and m.device == target.name):
                if m.target == "/" or m.filesystem is None:
                    raise GuestError(f"{m.target}: target is busy.")
                if any(other.target.startswith(m.target.rstrip("/") + "/") for other in self.mounts):
                    raise GuestError(f"{m.target}: target is busy.")
                self.mounts.remove(m)
                return m
        if target is not None:
            raise GuestError(f"{path}: not mounted.")
        try:
            self.lookup(path)
        except PathError:
            raise GuestError(f"{spec}: no mount point specified.") from None
        raise GuestError(f"{path}: not mounted.")

    def fstab(self) -> list[FstabEntry]:
        try:
            node = self.lookup("/etc/fstab")
        except PathError:
            return []
        return parse_fstab(node.text) if isinstance(node, RegularFile) else []

    def mount_fstab(self, *, boot: bool = False, only: str | None = None) -> list[str]:
        """Mount what fstab lists and is not mounted yet (mount -a, or a boot). Returns the
        error lines; a boot with a failing entry without nofail ends in emergency mode."""
        errors = []
        for entry in self.fstab():
            opts = entry.option_list
            if entry.fstype in ("swap", "none") or entry.target in ("none", "swap"):
                continue
            if "noauto" in opts and only is None:
                continue
            if only is not None and normpath(entry.target) != only:
                continue
            path = normpath(entry.target)
            target = self.target_by_tag(entry.spec)
            if any(m.target == path for m in self.mounts) and (target is None or any(
                    m.target == path and m.device == target.name for m in self.mounts)):
                continue
            if target is None:
                if "nofail" not in opts:
                    errors.append(f"mount: {path}: can't find {entry.spec}.")
                    if boot:
                        self.boot_error = (f"Dependency failed for {path} ({entry.spec}): "
                                           "the system is in emergency mode")
                continue
            if target.path != "/dev/root" and self.mount_of(target) and boot:
                continue
            try:
                wanted = entry.fstype
                fs = target.filesystem
                if fs is not None and wanted not in ("auto", fs.fstype):
                    raise GuestError(f"{path}: wrong fs type, bad option, bad superblock on {target.path}, missing "
                                     "codepage or helper program, or other error.")
                if boot and path in ("/", "/boot/efi"):
                    if path == "/":
                        continue
                    self.mounts.append(Mount(target.path, path, "vfat",
                                             "rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=iso8859-1,"
                                             "shortname=mixed,errors=remount-ro", fs, target.name))
                    continue
                self.mount(target, path, options=entry.options)
            except GuestError as exc:
                if "nofail" not in opts:
                    errors.append(f"mount: {exc}")
                    if boot:
                        self.boot_error = f"Failed to mount {path}: the system is in emergency mode"
        return errors

    # ---- files

    def _mount_index(self) -> dict[str, Mount]:
        """Mount point -> the mount on top there."""
        key = (id(self.mounts), self.mounts.version)
        cached = getattr(self, "_mount_index_cache", None)
        if cached is None or cached[0] != key:
            cached = (key, {m.target: m for m in self.mounts})
            self._mount_index_cache = cached
        return cached[1]

    def _mount_for(self, path: str) -> Mount | None:
        """The mount a canonical path lies in."""
        index = self._mount_index()
        probe = path
        while True:
            mount = index.get(probe)
            if mount is not None:
                return mount
            if probe == "/":
                return None
            probe = probe.rsplit("/", 1)[0] or "/"

    def _mount_root(self, mount: Mount) -> Directory:
        if mount.fstype == "devtmpfs":
            return self._devfs()
        if mount.fstype == "proc":
            return self._procfs()
        if mount.fstype == "sysfs":
            return self._sysfs()
        if mount.fstype == "devpts":
            return Directory(0o755, entries={"0": DeviceFile(0o620, ADMIN_UID, 5, block=False, major=136, minor=0,
                                                             device="pts/0"),
                                             "ptmx": DeviceFile(0o000, block=False, major=5, minor=2, device="ptmx")})
        if mount.filesystem is not None:
            return mount.filesystem.root
        return Directory(0o555)

    def _node_at(self, path: str) -> Node:
        """The node at a canonical path (no symlinks in it but maybe the last component)."""
        mount = self._mount_for(path)
        if mount is None:
            raise PathError(path, NOT_FOUND)
        node: Node = self._mount_root(mount)
        rest = path[len(mount.target):] if mount.target != "/" else path
        for part in rest.split("/"):
            if not part:
                continue
            if not isinstance(node, Directory):
                raise PathError(path, NOT_DIR)
            child = node.entries.get(part)
            if child is None:
                raise PathError(path, NOT_FOUND)
            node = child
        return node

    def resolve(self, path: str, cwd: str = "/", *, follow: bool = True, who: Credentials | None = None) -> str:
        """The canonical path of `path`, symlinks followed (the last one only if `follow`).
        Missing final components are allowed; a missing directory on the way raises."""
        joined = path if path.startswith("/") else cwd.rstrip("/") + "/" + path
        pending = [p for p in joined.split("/") if p not in ("", ".")]
        pending.reverse()  # popped from the end
        index = self._mount_index()
        current = "/"
        node: Node = self._node_at("/")
        hops = 0
        while pending:
            part = pending.pop()
            if part == "..":
                current = current.rsplit("/", 1)[0] or "/"
                node = self._node_at(current)
                continue
            if not isinstance(node, Directory):
                raise PathError(path, NOT_DIR)
            if who is not None and not may(node, who, 1):
                raise PathError(path, DENIED)
            candidate = current.rstrip("/") + "/" + part
            mount = index.get(candidate)
            child = self._mount_root(mount) if mount is not None else node.entries.get(part)
            if child is None:
                if pending:
                    raise PathError(path, NOT_FOUND)
                return candidate
            if isinstance(child, Symlink) and (pending or follow):
                hops += 1
                if hops > 40:
                    raise PathError(path, LOOP)
                target_parts = [p for p in child.target.split("/") if p not in ("", ".")]
                if child.target.startswith("/"):
                    current = "/"
                    node = self._node_at("/")
                pending.extend(reversed(target_parts))
                continue
            current, node = candidate, child
        return current

    def lookup(self, path: str, cwd: str = "/", *, follow: bool = True, who: Credentials | None = None) -> Node:
        return self._node_at(self.resolve(path, cwd, follow=follow, who=who))

    def exists(self, path: str, cwd: str = "/") -> bool:
        try:
            self.lookup(path, cwd)
        except PathError:
            return False
        return True

    def parent_dir(self, path: str, cwd: str = "/", who: Credentials | None = None) -> tuple[Directory, str, str]:
        """(the directory that holds `path`, the entry name, the canonical path)."""
        canonical = self.resolve(path, cwd, follow=False, who=who)
        if canonical == "/":
            raise PathError(path, BUSY)
        head, name = canonical.rsplit("/", 1)
        parent = self._node_at(head or "/")
        if not isinstance(parent, Directory):
            raise PathError(path, NOT_DIR)
        return parent, name, canonical

    def is_mountpoint(self, canonical: str) -> bool:
        return any(m.target == canonical for m in self.mounts)

    def read_file(self, path: str, cwd: str = "/", who: Credentials | None = None) -> str:
        node = self.lookup(path, cwd, who=who)
        if isinstance(node, Directory):
            raise PathError(path, IS_DIR)
        if who is not None and not may(node, who, 4):
            raise PathError(path, DENIED)
        if isinstance(node, DeviceFile):
            if node.block and (who is None or who.root):
                return ""
            if node.device in ("null", "zero", "pts/0", "tty", "urandom", "random"):
                return ""
            raise PathError(path, DENIED)
        if isinstance(node, RegularFile) and node.program is not None:
            return f"\x7fELF (the {node.program} program of the image)\n"
        return node.text if isinstance(node, RegularFile | GeneratedFile) else ""

    def write_file(self, path: str, text: str, *, append: bool = False, cwd: str = "/",
                   who: Credentials | None = None, mode: int = 0o644) -> None:
        canonical = self.resolve(path, cwd, follow=True, who=who)
        try:
            node: Node | None = self._node_at(canonical)
        except PathError:
            node = None
        if node is None:
            parent, name, _ = self.parent_dir(canonical)
            if who is not None and not may(parent, who, 2):
                raise PathError(path, DENIED)
            uid, gid = (who.uid, who.gid) if who is not None else (ROOT_UID, ROOT_UID)
            parent.entries[name] = RegularFile(mode, uid, gid, self.clock(), text)
            parent.mtime = self.clock()
        elif isinstance(node, Directory):
            raise PathError(path, IS_DIR)
        elif isinstance(node, DeviceFile):
            if who is not None and not may(node, who, 2):
                raise PathError(path, DENIED)
            return  # /dev/null and friends take anything
        elif isinstance(node, RegularFile):
            if who is not None and not may(node, who, 2):
                raise PathError(path, DENIED)
            if node.program is not None:
                node.program = None
                node.text = ""
            node.text = node.text + text if append else text
            node.mtime = self.clock()
        else:
            raise PathError(path, DENIED)
        if canonical == "/etc/fstab":
            self.fstab_dirty = True
        if canonical == "/etc/hostname":
            self._hostname = (self.read_file("/etc/hostname").strip().splitlines() or [self._hostname])[0]

    def append_file(self, path: str, text: str) -> None:
        self.write_file(path, text, append=True)

    def make_dirs(self, path: str, *, who: Credentials | None = None, mode: int = 0o755) -> None:
        current = "/"
        for part in [p for p in normpath(path).split("/") if p]:
            current = self.resolve(current.rstrip("/") + "/" + part)
            try:
                node = self._node_at(current)
            except PathError:
                parent, name, _ = self.parent_dir(current)
                if who is not None and not may(parent, who, 2):
                    raise PathError(current, DENIED) from None
                uid, gid = (who.uid, who.gid) if who is not None else (ROOT_UID, ROOT_UID)
                parent.entries[name] = Directory(mode, uid, gid, self.clock())
                continue
            if not isinstance(node, Directory):
                raise PathError(current, EXISTS if current == normpath(path) else NOT_DIR)

    # ---- generated trees

    def _devfs(self) -> Directory:
        cached = getattr(self, "_devfs_cache", None)
        if cached is not None and cached[0] == self.devices_version:
            return cached[1]
        t = self.boot_time
        dev = Directory(0o755, mtime=t)

        def chardev(name: str, major: int, minor: int, mode: int = 0o666, gid: int = 0) -> None:
            dev.entries[name] = DeviceFile(mode, 0, gid, t, block=False, major=major, minor=minor, device=name)

        chardev("null", 1, 3)
        chardev("zero", 1, 5)
        chardev("random", 1, 8)
        chardev("urandom", 1, 9)
        chardev("tty", 5, 0, gid=5)
        chardev("console", 5, 1, 0o600)
        chardev("ptmx", 5, 2, gid=5)
        for name, target in (("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                             ("stderr", "/proc/self/fd/2"), ("fd", "/proc/self/fd")):
            dev.entries[name] = Symlink(0o777, 0, 0, t, target)
        dev.entries["pts"] = Directory(0o755, mtime=t)
        dev.entries["shm"] = Directory(0o1777, mtime=t)
        disk_dir = Directory(0o755, mtime=t)
        dev.entries["disk"] = disk_dir

        def link(path: str, target: str) -> None:
            node = disk_dir
            parts = path.split("/")
            for part in parts[:-1]:
                nxt = node.entries.get(part)
                if not isinstance(nxt, Directory):
                    nxt = Directory(0o755, mtime=t)
                    node.entries[part] = nxt
                node = nxt
            node.entries[parts[-1]] = Symlink(0o777, 0, 0, t, "../" * (len(parts)) + target)

        for target in self.targets():
            major, minor = target.major_minor
            dev.entries[target.name] = DeviceFile(0o660, 0, DISK_GID, t, block=True, major=major, minor=minor,
                                                  device=target.name)
            disk, part = target.disk, target.partition
            fs = target.filesystem
            if fs is not None and fs.uuid:
                link(f"by-uuid/{fs.uuid}", target.name)
            if fs is not None and fs.label:
                link(f"by-label/{fs.label}", target.name)
            if part is not None and part.partuuid:
                link(f"by-partuuid/{part.partuuid}", target.name)
            if disk.role == "loop":
                continue
            suffix = f"-part{part.number}" if part else ""
            ident = f"scsi-3600224{disk.serial[:25]}"
            link(f"by-id/{ident}{suffix}", target.name)
            link(f"by-id/wwn-0x600224{disk.serial[:26]}{suffix}", target.name)
            controller = "f8b3781a1e824818a1c363d806ec15bb" if disk.role != "data" else \
                "f8b3781b1e824818a1c363d806ec15bb"
            lun = {"os": 0, "resource": 1}.get(disk.role, disk.lun or 0)
            link(f"by-path/acpi-VMBUS:00-vmbus-{controller}-lun-{lun}{suffix}", target.name)
            if disk.role == "os":
                link(f"azure/root{suffix}", target.name)
                link(f"azure/os{suffix}", target.name)
            elif disk.role == "resource":
                link(f"azure/resource{suffix}", target.name)
                link(f"cloud/azure_resource{suffix}", target.name)
            else:
                link(f"azure/scsi1/lun{disk.lun}{suffix}", target.name)
                link(f"azure/data/by-lun/{disk.lun}{suffix}", target.name)
        stack = [dev]
        while stack:
            directory = stack.pop()
            directory.in_memory = True
            stack.extend(n for n in directory.entries.values() if isinstance(n, Directory))
        self._devfs_cache = (self.devices_version, dev)
        return dev

    def _sysfs(self) -> Directory:
        t = self.boot_time
        block = Directory(0o755, mtime=t, entries={
            d.name: Symlink(0o777, 0, 0, t, f"../devices/virtual/block/{d.name}") for d in self.block_devices()})
        return Directory(0o555, mtime=t, entries={
            "block": block, "bus": Directory(0o755), "class": Directory(0o755), "dev": Directory(0o755),
            "devices": Directory(0o755), "fs": Directory(0o755, entries={"cgroup": Directory(0o755)}),
            "kernel": Directory(0o755), "module": Directory(0o755), "power": Directory(0o755),
            "firmware": Directory(0o755, entries={"efi": Directory(0o755, entries={"efivars": Directory(0o755)})}),
        })

    def _procfs(self) -> Directory:
        t = self.boot_time

        def gen(produce: Callable[[], str]) -> GeneratedFile:
            return GeneratedFile(0o444, 0, 0, t, produce=produce)

        self_dir = Directory(0o555, entries={"mounts": gen(self.proc_mounts), "fd": Directory(0o500)})
        return Directory(0o555, mtime=t, entries={
            "mounts": Symlink(0o777, 0, 0, t, "self/mounts"),
            "self": self_dir,
            "partitions": gen(self.proc_partitions),
            "version": gen(lambda: f"Linux version {KERNEL_RELEASE} (buildd@lcy02-amd64-035) (x86_64-linux-gnu-gcc-12"
                           f" (Ubuntu 12.3.0-1ubuntu1~22.04) 12.3.0, GNU ld (GNU Binutils for Ubuntu) 2.38) "
                           f"{KERNEL_VERSION}\n"),
            "cmdline": gen(lambda: f"BOOT_IMAGE=/boot/vmlinuz-{KERNEL_RELEASE} root=PARTUUID="
                           f"{self.os_disk.table.get(1).partuuid if self.os_disk.table and self.os_disk.table.get(1) else ''}"
                           " ro console=tty1 console=ttyS0 earlyprintk=ttyS0 panic=-1\n"),
            "uptime": gen(lambda: f"{max(0.0, self.clock() - self.boot_time):.2f} "
                          f"{max(0.0, self.clock() - self.boot_time) * 1.9:.2f}\n"),
            "meminfo": gen(lambda: f"MemTotal:       {self.memory_bytes // KiB - 412_000:>8} kB\n"
                           f"MemFree:        {self.memory_bytes // KiB * 7 // 10:>8} kB\n"
                           f"MemAvailable:   {self.memory_bytes // KiB * 8 // 10:>8} kB\n"),
            "swaps": gen(lambda: "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"),
            "filesystems": gen(lambda: "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\nnodev\tdevpts\n"
                               "\text3\n\text2\n\text4\n\tsquashfs\n\tvfat\n\txfs\n"),
        })

    def proc_mounts(self) -> str:
        return "".join(f"{m.source} {m.target.replace(' ', chr(92) + '040')} {m.fstype} {m.options} 0 0\n"
                       for m in self.mounts)

    def proc_partitions(self) -> str:
        lines = ["major minor  #blocks  name", ""]
        for target in self.targets():
            major, minor = target.major_minor
            lines.append(f"{major:>4} {minor:>7} {target.size_bytes // KiB:>10} {target.name}")
        return "\n".join(lines) + "\n"

    # ---- users

    def credentials(self, user: str) -> Credentials:
        if user not in self.users:
            raise ValueError(f"{self._hostname} has no user {user!r} (its users: {', '.join(self.users)})")
        uid, gid, _home = self.users[user]
        groups = (gid, 4, 20, 24, 25, 27, 29, 30, 44, 46, 118, 119) if uid == ADMIN_UID else (0,)
        return Credentials(uid, gid, groups)

    def home_of(self, user: str) -> str:
        return self.users[user][2]

    def user_named(self, uid: int) -> str:
        return next((name for name, (u, _g, _h) in self.users.items() if u == uid), str(uid))

    def describe(self) -> dict[str, Any]:
        """A summary for logs and tests: devices, mounts and fstab targets."""
        return {
            "hostname": self.hostname,
            "disks": {d.name: {"lun": d.lun, "size": d.size_bytes, "table": d.table.kind if d.table else None,
                               "filesystem": d.filesystem.fstype if d.filesystem else None,
                               "partitions": [(p.number, p.filesystem.fstype if p.filesystem else None)
                                              for p in (d.table.partitions if d.table else [])]}
                      for d in self.all_disks()},
            "mounts": {m.target: m.source for m in self.mounts if m.device},
            "fstab": [e.target for e in self.fstab()],
        }


def _sd_name(index: int) -> str:
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(ord("a") + rem) + name
    return "sd" + name


def _sd_sort(name: str) -> tuple[int, str]:
    return len(name), name


def _belongs_to(kname: str, disk: Disk) -> bool:
    if kname == disk.name:
        return True
    rest = kname[len(disk.name):] if kname.startswith(disk.name) else ""
    return bool(rest) and (rest.isdigit() or (rest[0] == "p" and rest[1:].isdigit()))


def _kernel_options(fstype: str, requested: str) -> str:
    """The options /proc/mounts shows for a mount with the fstab/-o options `requested`."""
    opts = [o for o in requested.split(",") if o]
    mode = "ro" if "ro" in opts else "rw"
    flags = [o for o in ("nosuid", "nodev", "noexec", "noatime") if o in opts]
    base = [mode, *flags]
    if "noatime" not in opts:
        base.append("relatime")
    if "discard" in opts:
        base.append("discard")
    if fstype == "xfs":
        base += ["attr2", "inode64", "logbufs=8", "logbsize=32k", "noquota"]
    elif fstype == "vfat":
        base += ["fmask=0022", "dmask=0022", "codepage=437", "iocharset=iso8859-1", "shortname=mixed",
                 "errors=remount-ro"]
    return ",".join(base)


BASHRC = """# ~/.bashrc: executed by bash(1) for non-login shells.
case $- in
    *i*) ;;
      *) return;;
esac
HISTCONTROL=ignoreboth
HISTSIZE=1000
HISTFILESIZE=2000
alias ls='ls --color=auto'
alias grep='grep --color=auto'
alias ll='ls -alF'
alias la='ls -A'
alias l='ls -CF'
"""
PROFILE = """# ~/.profile: executed by the command interpreter for login shells.
if [ -n "$BASH_VERSION" ]; then
    if [ -f "$HOME/.bashrc" ]; then
        . "$HOME/.bashrc"
    fi
fi
if [ -d "$HOME/bin" ] ; then
    PATH="$HOME/bin:$PATH"
fi
"""
