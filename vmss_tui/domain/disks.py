"""Guest disks: what one SSH exec on a Linux instance prints, parsed, and joined by LUN with the
disks ARM says are attached. Pure: no I/O.

The exec (`INSPECT_COMMAND`) works without root on a stock image and prints sections separated by
`::vmss-tui:<name>::` lines:
- `lsblk` JSON (`-J -b`, newest columns first; older lsblk: MOUNTPOINT, no PATH; oldest: `-P`
  pairs). FSTYPE/UUID come from the udev database, which a non-root user can read on a VM.
- `df -B1 -P`: size, used and available bytes per mounted filesystem.
- `ls -l` of `/dev/disk/azure`, `/dev/disk/azure/scsi1` (the Azure agent's udev rules:
  `lun<N>` -> `../../../sdc`) and `/dev/disk/azure/data/by-lun` (azure-vm-utils, SCSI and NVMe).
- `/etc/fstab` (UUID=, LABEL=, PARTUUID=, /dev paths and links, nofail).
- `blkid` (what it tells this user): fills FSTYPE/UUID where lsblk has none (no udev).

A data disk's LUN comes from its link; without links, from the last field of its SCSI address
(H:C:T:L) on a data-disk controller (not the OS disk's), or, for NVMe, from the namespace id on
the OS disk's controller (namespace = LUN + 2). Each joined row gets a state in plain words.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from vmss_tui.domain.models import DiskInfo, Instance

SECTION = "::vmss-tui:{name}::"
_SECTION_RE = re.compile(r"^::vmss-tui:([a-z]+)::$")
SECTIONS = ("lsblk", "df", "links", "fstab", "blkid", "end")

_LSBLK_ATTEMPTS = (
    "lsblk -J -b -o NAME,KNAME,PATH,PKNAME,TYPE,SIZE,FSTYPE,UUID,LABEL,PTTYPE,MOUNTPOINTS,HCTL 2>/dev/null",
    "lsblk -J -b -o NAME,KNAME,PATH,PKNAME,TYPE,SIZE,FSTYPE,UUID,MOUNTPOINTS,HCTL 2>/dev/null",
    "lsblk -J -b -o NAME,KNAME,PKNAME,TYPE,SIZE,FSTYPE,UUID,MOUNTPOINT,HCTL 2>/dev/null",
    "lsblk -P -b -o NAME,KNAME,PKNAME,TYPE,SIZE,FSTYPE,UUID,MOUNTPOINT,HCTL",
)
AZURE_LINK_DIRS = (
    "/dev/disk/azure", "/dev/disk/azure/scsi1", "/dev/disk/azure/data/by-lun", "/dev/disk/azure/local/by-serial",
)

# One exec, POSIX sh, no root. Each section is printed whatever the one before did.
INSPECT_COMMAND = "; ".join((
    "LC_ALL=C",
    "export LC_ALL",
    f"echo '{SECTION.format(name='lsblk')}'",
    " || ".join(_LSBLK_ATTEMPTS),
    f"echo '{SECTION.format(name='df')}'",
    "df -B1 -P",
    f"echo '{SECTION.format(name='links')}'",
    "ls -l " + " ".join(AZURE_LINK_DIRS) + " 2>/dev/null",
    f"echo '{SECTION.format(name='fstab')}'",
    "cat /etc/fstab 2>&1",
    f"echo '{SECTION.format(name='blkid')}'",
    "blkid 2>/dev/null",
    f"echo '{SECTION.format(name='end')}'",
))

# States of a joined row, in plain words.
STATE_MOUNTED = "mounted"
STATE_FORMATTED = "formatted-not-mounted"
STATE_PARTITIONED = "partitioned-no-filesystem"
STATE_EMPTY = "empty"
STATE_NOT_IN_GUEST = "not-in-guest"
STATE_UNREACHABLE = "unreachable"
STATES = (STATE_MOUNTED, STATE_FORMATTED, STATE_PARTITIONED, STATE_EMPTY, STATE_NOT_IN_GUEST, STATE_UNREACHABLE)

KIND_OS = "os"
KIND_DATA = "data"
KIND_TEMP = "temp"  # the resource (temporary) disk: no managed disk behind it
KIND_GUEST = "guest"  # a disk of the guest that ARM does not know about

# How a data disk's LUN was found.
LUN_FROM_SCSI1_LINK = "scsi1-link"
LUN_FROM_BY_LUN_LINK = "by-lun-link"
LUN_FROM_HCTL = "hctl"
LUN_FROM_NVME = "nvme-namespace"

GIB = 1024**3
_NOT_DISKS = ("zram", "ram", "fd", "sr", "md")  # kernel names that are never Azure disks at the top level
_PARTITION_TABLES = frozenset({"gpt", "dos", "mbr", "PMBR", "atari", "bsd", "sun", "sgi", "mac"})
_RESOURCE_MOUNTS = ("/mnt", "/mnt/resource")


class GuestParseError(ValueError):
    """The inspection output has no usable block device list; str() is one line."""


# ----- parsed guest output ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BlockDevice:
    """One node of lsblk's tree."""

    name: str
    kname: str
    path: str  # /dev/<kname> when lsblk has no PATH column
    type: str  # disk | part | lvm | crypt | raid1 | loop | rom ...
    size_bytes: int | None = None
    fstype: str | None = None
    uuid: str | None = None
    label: str | None = None
    pttype: str | None = None
    mountpoints: tuple[str, ...] = ()
    hctl: str | None = None
    children: tuple[BlockDevice, ...] = ()

    def walk(self) -> Iterator[BlockDevice]:
        """This device and every descendant, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def descendants(self) -> tuple[BlockDevice, ...]:
        return tuple(d for child in self.children for d in child.walk())

    @property
    def scsi_address(self) -> tuple[int, int, int, int] | None:
        """(host, channel, target, lun) from HCTL, e.g. "3:0:0:1"."""
        if not self.hctl:
            return None
        parts = self.hctl.split(":")
        if len(parts) != 4 or not all(p.isdigit() for p in parts):
            return None
        host, channel, target, lun = (int(p) for p in parts)
        return host, channel, target, lun


@dataclass(frozen=True, slots=True)
class FsUsage:
    """One line of `df -B1 -P`."""

    source: str
    mountpoint: str
    size_bytes: int
    used_bytes: int
    avail_bytes: int


@dataclass(frozen=True, slots=True)
class FstabEntry:
    spec: str  # UUID=..., LABEL=..., /dev/sdc1, /dev/disk/azure/scsi1/lun0-part1 ...
    mountpoint: str
    fstype: str
    options: tuple[str, ...] = ()
    line_no: int = 0

    @property
    def nofail(self) -> bool:
        return "nofail" in self.options or "nobootwait" in self.options


@dataclass(frozen=True, slots=True)
class ProbedDevice:
    """What `blkid` says about one device."""

    device: str
    fstype: str | None = None
    uuid: str | None = None
    label: str | None = None
    pttype: str | None = None
    partuuid: str | None = None


@dataclass(frozen=True, slots=True)
class GuestView:
    """Everything the inspection exec printed, parsed."""

    devices: tuple[BlockDevice, ...]
    usage: tuple[FsUsage, ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # (link path, kernel name it points at)
    fstab: tuple[FstabEntry, ...] | None = None  # None: /etc/fstab could not be read
    probed: tuple[ProbedDevice, ...] = ()
    notes: tuple[str, ...] = ()  # what was missing or odd, one line each

    def link_target(self, link: str) -> str | None:
        for path, kname in self.links:
            if path == link:
                return kname
        return None

    @property
    def shows_filesystems(self) -> bool:
        """Whether filesystem types are visible at all (lsblk with udev data, or blkid)."""
        return any(d.fstype for top in self.devices for d in top.walk()) or any(p.fstype for p in self.probed)


def split_sections(text: str) -> dict[str, str]:
    """{section name: its text} for the `::vmss-tui:<name>::` separated output."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        match = _SECTION_RE.match(line.strip())
        if match:
            current = sections.setdefault(match[1], [])
            continue
        if current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in sections.items()}


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _text(value)
    return int(text) if text is not None and text.isdigit() else None


def _mounts(item: Mapping[str, object]) -> tuple[str, ...]:
    values: list[str] = []
    many = item.get("mountpoints")
    if isinstance(many, list):
        values.extend(m for m in (_text(v) for v in many) if m)
    single = _text(item.get("mountpoint"))
    if single and single not in values:
        values.append(single)
    return tuple(values)


def _device(item: Mapping[str, object]) -> BlockDevice:
    name = _text(item.get("name")) or _text(item.get("kname")) or "?"
    kname = _text(item.get("kname")) or name
    children = item.get("children")
    # Without a PATH column: device-mapper volumes are known by /dev/mapper/<name>, as lsblk's PATH says.
    path = _text(item.get("path")) or (f"/dev/mapper/{name}" if kname.startswith("dm-") else f"/dev/{kname}")
    return BlockDevice(
        name=name,
        kname=kname,
        path=path,
        type=_text(item.get("type")) or "?",
        size_bytes=_int(item.get("size")),
        fstype=_text(item.get("fstype")),
        uuid=_text(item.get("uuid")),
        label=_text(item.get("label")),
        pttype=_text(item.get("pttype")),
        mountpoints=_mounts(item),
        hctl=_text(item.get("hctl")),
        children=tuple(_device(c) for c in children if isinstance(c, dict)) if isinstance(children, list) else (),
    )


def parse_lsblk_json(text: str) -> tuple[BlockDevice, ...]:
    """`lsblk -J` (any column subset; numbers or strings, as old and new lsblk print them)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GuestParseError(f"lsblk printed no valid JSON: {exc}") from None
    items = data.get("blockdevices") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise GuestParseError("lsblk JSON has no blockdevices list")
    return tuple(_device(i) for i in items if isinstance(i, dict))


_PAIR_RE = re.compile(r'([A-Z:%-]+)="((?:[^"\\]|\\.)*)"')


def _unescape(value: str) -> str:
    # lsblk -P and blkid escape unsafe characters as \xHH (lsblk) or with backslashes (blkid).
    value = re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m[1], 16)), value)
    return re.sub(r"\\(.)", r"\1", value)


def parse_lsblk_pairs(text: str) -> tuple[BlockDevice, ...]:
    """`lsblk -P` (KEY="value" per line, flat): the tree rebuilt from PKNAME."""
    rows: list[dict[str, str]] = []
    for line in text.splitlines():
        pairs = {k.lower(): _unescape(v) for k, v in _PAIR_RE.findall(line)}
        if pairs.get("name") or pairs.get("kname"):
            rows.append(pairs)
    if not rows:
        raise GuestParseError("lsblk printed no devices")
    by_parent: dict[str, list[dict[str, str]]] = {}
    seen: set[tuple[str, str]] = set()
    for row in rows:
        kname = row.get("kname") or row.get("name", "")
        parent = row.get("pkname", "")
        if (kname, parent) in seen:
            continue
        seen.add((kname, parent))
        by_parent.setdefault(parent, []).append(row)

    def build(row: dict[str, str], depth: int) -> BlockDevice:
        kname = row.get("kname") or row.get("name", "")
        kids = by_parent.get(kname, []) if depth < 8 else []
        return replace(_device(row), children=tuple(build(k, depth + 1) for k in kids))

    return tuple(build(row, 0) for row in by_parent.get("", []))


def parse_df(text: str) -> tuple[FsUsage, ...]:
    """`df -B1 -P`: Filesystem, 1B-blocks, Used, Available, Capacity, Mounted on (may hold spaces)."""
    usage: list[FsUsage] = []
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[1].isdigit():
            continue  # the header, or a line df had to wrap
        try:
            size, used, avail = int(parts[1]), int(parts[2]), int(parts[3])
        except ValueError:
            continue
        usage.append(FsUsage(source=parts[0], mountpoint=parts[5], size_bytes=size, used_bytes=used, avail_bytes=avail))
    return tuple(usage)


def _link_dir_for(name: str) -> str:
    """Where an entry of a header-less `ls -l` listing lives, by the names the udev rules give."""
    if re.fullmatch(r"lun\d+(-part\d+)?", name):
        return "/dev/disk/azure/scsi1"
    if re.fullmatch(r"\d+(-part\d+)?", name):
        return "/dev/disk/azure/data/by-lun"
    return "/dev/disk/azure"


def parse_links(text: str) -> tuple[tuple[str, str], ...]:
    """`ls -l` of the /dev/disk/azure folders: (link path, kernel name of the device it points at).

    Link targets are relative (`../../../sdc`); every Azure link points at a node directly in
    /dev, so the target's last component is the kernel name."""
    links: list[tuple[str, str]] = []
    current: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.endswith(":") and stripped.startswith("/"):
            current = stripped[:-1]
            continue
        if " -> " not in stripped:
            continue
        left, target = stripped.rsplit(" -> ", 1)
        fields = left.split()
        if not fields or not stripped.startswith("l"):
            continue
        name = fields[-1]
        folder = current or _link_dir_for(name)
        kname = posixpath.basename(target.strip())
        if kname:
            links.append((posixpath.join(folder, name), kname))
    return tuple(links)


def parse_fstab(text: str) -> tuple[FstabEntry, ...]:
    entries: list[FstabEntry] = []
    for line_no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if len(fields) < 2:
            continue
        spec = _unescape_octal(fields[0])
        mountpoint = _unescape_octal(fields[1])
        fstype = fields[2] if len(fields) > 2 else "auto"
        options = tuple(fields[3].split(",")) if len(fields) > 3 else ("defaults",)
        entries.append(FstabEntry(spec=spec, mountpoint=mountpoint, fstype=fstype, options=options, line_no=line_no))
    return tuple(entries)


def _unescape_octal(value: str) -> str:
    # fstab writes a space in a path as \040.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), value)


def parse_blkid(text: str) -> tuple[ProbedDevice, ...]:
    """`blkid` lines: `/dev/sdc1: UUID="..." TYPE="ext4" PARTUUID="..."`."""
    probed: list[ProbedDevice] = []
    for line in text.splitlines():
        device, sep, rest = line.partition(": ")
        if not sep or not device.startswith("/"):
            continue
        tags = {k.upper(): _unescape(v) for k, v in _PAIR_RE.findall(rest)}
        probed.append(ProbedDevice(
            device=device.strip(),
            fstype=tags.get("TYPE") or None,
            uuid=tags.get("UUID") or None,
            label=tags.get("LABEL") or None,
            pttype=tags.get("PTTYPE") or None,
            partuuid=tags.get("PARTUUID") or None,
        ))
    return tuple(probed)


def parse_guest_output(text: str) -> GuestView:
    """The whole inspection output. Raises GuestParseError when there is no block device list;
    every other section is optional (what was missing is in `notes`)."""
    sections = split_sections(text)
    notes: list[str] = []
    raw = sections.get("lsblk", "").strip()
    if not raw:
        raise GuestParseError("the guest printed no lsblk output (is util-linux installed?)")
    devices = parse_lsblk_json(raw) if raw.startswith("{") else parse_lsblk_pairs(raw)
    if "end" not in sections:
        notes.append("the inspection output was cut short")
    usage = parse_df(sections.get("df", ""))
    if not usage:
        notes.append("df printed nothing: used and free space unknown")
    links = parse_links(sections.get("links", ""))
    if not links:
        notes.append("no /dev/disk/azure links: LUNs read from SCSI addresses or NVMe namespaces")
    fstab_text = sections.get("fstab")
    fstab: tuple[FstabEntry, ...] | None = None
    if fstab_text is not None and not fstab_text.lstrip().startswith("cat:"):
        fstab = parse_fstab(fstab_text)
    else:
        notes.append("/etc/fstab could not be read")
    probed = parse_blkid(sections.get("blkid", ""))
    view = GuestView(devices=_with_probed(devices, probed), usage=usage, links=links, fstab=fstab, probed=probed)
    if not view.shows_filesystems:
        notes.append("filesystem types are not visible to this user (no udev data; blkid needs root)")
    return replace(view, notes=tuple(notes))


def _with_probed(devices: tuple[BlockDevice, ...], probed: tuple[ProbedDevice, ...]) -> tuple[BlockDevice, ...]:
    """lsblk's tree with blanks (FSTYPE, UUID, LABEL, PTTYPE) filled from blkid."""
    if not probed:
        return devices
    by_path = {p.device: p for p in probed}

    def fill(device: BlockDevice) -> BlockDevice:
        found = by_path.get(device.path) or by_path.get(f"/dev/{device.kname}")
        children = tuple(fill(c) for c in device.children)
        if found is None:
            return replace(device, children=children)
        return replace(
            device,
            fstype=device.fstype or found.fstype,
            uuid=device.uuid or found.uuid,
            label=device.label or found.label,
            pttype=device.pttype or found.pttype,
            children=children,
        )

    return tuple(fill(d) for d in devices)


# ----- which guest disk is which ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GuestDisk:
    """A whole disk of the guest and what it is."""

    device: BlockDevice
    kind: str  # KIND_OS | KIND_DATA | KIND_TEMP | KIND_GUEST
    lun: int | None = None
    lun_source: str | None = None


def _top_disks(view: GuestView) -> list[BlockDevice]:
    return [d for d in view.devices if d.type == "disk" and not d.kname.startswith(_NOT_DISKS)]


def _mounts_of(device: BlockDevice) -> set[str]:
    return {m for d in device.walk() for m in d.mountpoints}


def identify_disks(view: GuestView) -> list[GuestDisk]:
    """Every whole disk of the guest, classified: the OS disk, data disks with their LUN, the
    resource disk, and others. A loop device counts only when a LUN link points at it."""
    by_kname = {d.kname: d for d in view.devices}
    disks = _top_disks(view)
    linked: dict[str, tuple[int, str]] = {}  # kname -> (lun, source)
    taken_luns: set[int] = set()
    for source, pattern in ((LUN_FROM_SCSI1_LINK, r"/dev/disk/azure/scsi1/lun(\d+)"),
                            (LUN_FROM_BY_LUN_LINK, r"/dev/disk/azure/data/by-lun/(\d+)")):
        for path, kname in view.links:
            match = re.fullmatch(pattern, path)
            if match and kname in by_kname and kname not in linked:
                lun = int(match[1])
                if lun not in taken_luns:
                    linked[kname] = (lun, source)
                    taken_luns.add(lun)
    for kname in linked:
        device = by_kname[kname]
        if device not in disks:
            disks.append(device)  # a loop device or similar that a link names as a data disk

    os_disk = _os_disk(view, disks, set(linked))
    temp = _temp_disks(view, disks, os_disk, set(linked))
    result: list[GuestDisk] = []
    fallback = _fallback_luns(disks, os_disk, temp, set(linked), taken_luns)
    for device in disks:
        if device.kname in linked:
            lun, source = linked[device.kname]
            result.append(GuestDisk(device, KIND_DATA, lun, source))
        elif os_disk is not None and device.kname == os_disk.kname:
            result.append(GuestDisk(device, KIND_OS))
        elif device.kname in temp:
            result.append(GuestDisk(device, KIND_TEMP))
        elif device.kname in fallback:
            lun, source = fallback[device.kname]
            result.append(GuestDisk(device, KIND_DATA, lun, source))
        else:
            result.append(GuestDisk(device, KIND_GUEST))
    return result


def _linked_kname(view: GuestView, *names: str) -> str | None:
    for name in names:
        kname = view.link_target(f"/dev/disk/azure/{name}")
        if kname:
            return kname
    return None


def _os_disk(view: GuestView, disks: list[BlockDevice], data: set[str]) -> BlockDevice | None:
    kname = _linked_kname(view, "os", "root")
    for device in disks:
        if device.kname == kname:
            return device
    for device in disks:
        if device.kname not in data and "/" in _mounts_of(device):
            return device
    return None


def _temp_disks(view: GuestView, disks: list[BlockDevice], os_disk: BlockDevice | None,
                data: set[str]) -> set[str]:
    """Kernel names of the temporary disks: the resource disk, and local NVMe disks."""
    candidates = [d for d in disks if d.kname not in data and (os_disk is None or d.kname != os_disk.kname)]
    found = {k for path, k in view.links if path.startswith("/dev/disk/azure/local/")}
    resource = _linked_kname(view, "resource")
    if resource:
        return found | {resource}
    for device in candidates:
        if _mounts_of(device) & set(_RESOURCE_MOUNTS):
            return found | {device.kname}
    os_address = os_disk.scsi_address if os_disk is not None else None
    for device in candidates:
        address = device.scsi_address
        if address is None:
            continue
        host, _channel, target, lun = address
        if (target, lun) == (1, 0) and (os_address is None or host != os_address[0]):
            return found | {device.kname}  # Generation 1: target 1 of a controller of its own
        if os_address is not None and host == os_address[0] and lun == 1:
            return found | {device.kname}  # Generation 2: LUN 1 of the OS disk's controller
    return found


_NVME_RE = re.compile(r"^nvme(\d+)n(\d+)$")


def _fallback_luns(disks: list[BlockDevice], os_disk: BlockDevice | None, temp: set[str],
                   linked: set[str], taken: set[int]) -> dict[str, tuple[int, str]]:
    """LUNs of disks without a link: SCSI address on a data-disk controller, or NVMe namespace."""
    skip = set(linked) | temp | ({os_disk.kname} if os_disk is not None else set())
    os_address = os_disk.scsi_address if os_disk is not None else None
    os_nvme = _NVME_RE.match(os_disk.kname) if os_disk is not None else None
    found: dict[int, list[tuple[str, str]]] = {}
    for device in disks:
        if device.kname in skip:
            continue
        address = device.scsi_address
        if address is not None:
            host, _channel, target, lun = address
            if target == 0 and (os_address is None or host != os_address[0]):
                found.setdefault(lun, []).append((device.kname, LUN_FROM_HCTL))
            continue
        nvme = _NVME_RE.match(device.kname)
        if nvme and os_nvme and nvme[1] == os_nvme[1] and int(nvme[2]) >= 2:
            found.setdefault(int(nvme[2]) - 2, []).append((device.kname, LUN_FROM_NVME))
    result: dict[str, tuple[int, str]] = {}
    for lun, owners in found.items():
        if len(owners) == 1 and lun not in taken:  # two disks claiming one LUN: neither is sure
            kname, source = owners[0]
            result[kname] = (lun, source)
    return result


# ----- joined rows ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PartitionRow:
    device: str
    type: str  # part | lvm | crypt ...
    fstype: str | None
    uuid: str | None
    mountpoint: str | None
    size_bytes: int | None


@dataclass(frozen=True, slots=True)
class DiskRow:
    """One disk of one instance: ARM's side, the guest's side, and a state in plain words."""

    kind: str  # KIND_OS | KIND_DATA | KIND_TEMP | KIND_GUEST
    lun: int | None
    arm_name: str | None = None
    arm_size_gb: int | None = None
    arm_sku: str | None = None
    arm_caching: str | None = None
    arm_state: str | None = None
    managed_disk_id: str | None = None
    guest_device: str | None = None
    partitions: tuple[PartitionRow, ...] = ()
    fstype: str | None = None
    uuid: str | None = None
    mountpoint: str | None = None
    size_bytes: int | None = None
    used_bytes: int | None = None
    avail_bytes: int | None = None
    in_fstab: bool | None = None
    fstab_nofail: bool | None = None
    state: str | None = None  # None: the guest was not asked
    reason: str | None = None
    lun_source: str | None = None
    mountpoints: tuple[str, ...] = ()  # every mount of the disk and its partitions

    @property
    def is_mounted(self) -> bool:
        return self.state == STATE_MOUNTED


def arm_rows(instance: Instance) -> tuple[DiskRow, ...]:
    """The instance's disks as ARM has them (no guest side)."""
    rows: list[DiskRow] = []
    if instance.os_disk is not None:
        rows.append(_arm_row(instance.os_disk, KIND_OS))
    for disk in sorted(instance.data_disks, key=lambda d: (d.lun is None, d.lun or 0)):
        rows.append(_arm_row(disk, KIND_DATA))
    return tuple(rows)


def _arm_row(disk: DiskInfo, kind: str) -> DiskRow:
    return DiskRow(
        kind=kind,
        lun=None if kind == KIND_OS else disk.lun,
        arm_name=disk.name,
        arm_size_gb=disk.size_gb,
        arm_sku=disk.sku,
        arm_caching=disk.caching,
        arm_state=disk.state,
        managed_disk_id=disk.managed_disk_id,
    )


def unreachable_rows(instance: Instance, reason: str) -> tuple[DiskRow, ...]:
    """ARM's rows, each `unreachable` with why (stopped, no NAT mapping, auth failed ...)."""
    return tuple(replace(row, state=STATE_UNREACHABLE, reason=reason) for row in arm_rows(instance))


def join_disks(instance: Instance, view: GuestView) -> tuple[DiskRow, ...]:
    """ARM's disks of `instance` joined by LUN with the guest's, then the guest's disks that have
    no ARM disk behind them (the resource disk, disks at LUNs ARM does not list, others)."""
    guest = identify_disks(view)
    by_lun = {g.lun: g for g in guest if g.kind == KIND_DATA and g.lun is not None}
    os_guest = next((g for g in guest if g.kind == KIND_OS), None)
    used: set[str] = set()
    rows: list[DiskRow] = []
    for row in arm_rows(instance):
        match = os_guest if row.kind == KIND_OS else by_lun.get(row.lun)
        if match is None:
            where = "the OS disk" if row.kind == KIND_OS else f"LUN {row.lun}"
            rows.append(replace(row, state=STATE_NOT_IN_GUEST,
                                 reason=f"ARM says {where} is attached; the guest has no such disk"))
            continue
        used.add(match.device.kname)
        rows.append(_guest_side(row, match, view))
    extras = [g for g in guest if g.device.kname not in used]
    order = {KIND_DATA: 0, KIND_TEMP: 1, KIND_OS: 2, KIND_GUEST: 3}
    extras.sort(key=lambda g: (order.get(g.kind, 9), g.lun if g.lun is not None else 999, g.device.kname))
    for g in extras:
        reason = {
            KIND_DATA: f"no ARM disk at LUN {g.lun} (detached, or attached after this view of ARM)",
            KIND_TEMP: "the resource (temporary) disk: its data is lost on redeploy and deallocation",
            KIND_OS: None,
            KIND_GUEST: "a disk ARM does not list",
        }[g.kind]
        base = DiskRow(kind=g.kind, lun=g.lun, reason=reason)
        rows.append(_guest_side(base, g, view, keep_reason=True))
    return tuple(rows)


def _primary(device: BlockDevice) -> BlockDevice:
    """The filesystem that stands for the disk: mounted at /, else mounted (largest), else the
    largest with a filesystem, else the disk itself."""
    everything = list(device.walk())
    for d in everything:
        if "/" in d.mountpoints:
            return d
    mounted = [d for d in everything if d.mountpoints and d.fstype != "swap"]
    if mounted:
        return max(mounted, key=lambda d: d.size_bytes or 0)
    formatted = [d for d in everything if d.fstype and d.fstype not in _PARTITION_TABLES]
    if formatted:
        return max(formatted, key=lambda d: d.size_bytes or 0)
    return device


def _guest_side(row: DiskRow, guest: GuestDisk, view: GuestView, keep_reason: bool = False) -> DiskRow:
    device = guest.device
    descendants = device.descendants
    partitions = tuple(
        PartitionRow(
            device=d.path, type=d.type, fstype=d.fstype, uuid=d.uuid,
            mountpoint=_main_mount(d.mountpoints), size_bytes=d.size_bytes,
        )
        for d in descendants
    )
    mounts = tuple(m for d in device.walk() for m in d.mountpoints)
    primary = _primary(device)
    filesystems = [d for d in device.walk() if d.fstype and d.fstype not in _PARTITION_TABLES]
    if mounts:
        state = STATE_MOUNTED
    elif filesystems:
        state = STATE_FORMATTED
    elif descendants or device.pttype:
        state = STATE_PARTITIONED
    else:
        state = STATE_EMPTY
    notes: list[str] = []
    if row.reason and keep_reason:
        notes.append(row.reason)
    if state in (STATE_PARTITIONED, STATE_EMPTY) and not view.shows_filesystems:
        notes.append("unverified: filesystem types are not visible to this user")
    arm_bytes = row.arm_size_gb * GIB if row.arm_size_gb else None
    if arm_bytes and device.size_bytes and device.size_bytes != arm_bytes and row.kind != KIND_OS:
        notes.append(
            f"the guest sees {_gib(device.size_bytes)}, ARM says {row.arm_size_gb} GiB "
            "(resized? the guest may need a rescan)"
        )
    used, avail = _usage(view, mounts)
    in_fstab, nofail = _fstab_of(view, device, mounts)
    return replace(
        row,
        guest_device=device.path,
        partitions=partitions,
        fstype=primary.fstype if primary.fstype not in _PARTITION_TABLES else None,
        uuid=primary.uuid,
        mountpoint=_main_mount(primary.mountpoints),
        mountpoints=mounts,
        size_bytes=device.size_bytes,
        used_bytes=used,
        avail_bytes=avail,
        in_fstab=in_fstab,
        fstab_nofail=nofail,
        state=state,
        reason="; ".join(notes) or None,
        lun_source=guest.lun_source,
    )


def _main_mount(mountpoints: Sequence[str]) -> str | None:
    """"/" when the filesystem is the root, else its first mount (others are bind mounts)."""
    if "/" in mountpoints:
        return "/"
    return mountpoints[0] if mountpoints else None


def _gib(size: int) -> str:
    value = size / GIB
    return f"{value:.0f} GiB" if value >= 10 else f"{value:.1f} GiB"


def _usage(view: GuestView, mounts: Sequence[str]) -> tuple[int | None, int | None]:
    """Used and available bytes summed over the disk's distinct mounted filesystems."""
    wanted = [m for m in mounts if m != "[SWAP]"]
    if not wanted or not view.usage:
        return None, None
    seen: set[tuple[str, int]] = set()
    used = avail = 0
    found = False
    for entry in view.usage:
        if entry.mountpoint in wanted:
            key = (entry.source, entry.size_bytes)
            if key in seen:
                continue  # the same filesystem mounted twice (bind mounts)
            seen.add(key)
            used += entry.used_bytes
            avail += entry.avail_bytes
            found = True
    return (used, avail) if found else (None, None)


def _specs_of(view: GuestView, device: BlockDevice) -> set[str]:
    """Every way an fstab line can name `device` (path, kernel name, UUID, LABEL, PARTUUID, links)."""
    specs = {device.path, f"/dev/{device.kname}"}
    if device.uuid:
        specs.update({f"UUID={device.uuid.lower()}", f"/dev/disk/by-uuid/{device.uuid.lower()}"})
    if device.label:
        specs.update({f"LABEL={device.label}", f"/dev/disk/by-label/{device.label}"})
    for probed in view.probed:
        if probed.device == device.path and probed.partuuid:
            specs.update({f"PARTUUID={probed.partuuid.lower()}", f"/dev/disk/by-partuuid/{probed.partuuid.lower()}"})
    specs.update(link for link, kname in view.links if kname == device.kname)
    return specs


def _normal_spec(spec: str) -> str:
    spec = spec.strip('"')
    for prefix in ("UUID=", "PARTUUID=", "/dev/disk/by-uuid/", "/dev/disk/by-partuuid/"):
        if spec.upper().startswith(prefix.upper()):
            return prefix + spec[len(prefix):].strip('"').lower()
    return spec


def _fstab_of(view: GuestView, device: BlockDevice, mounts: Iterable[str]) -> tuple[bool | None, bool | None]:
    """Whether /etc/fstab mounts this disk (any of its filesystems), and whether every such
    entry has nofail. None when fstab was not readable.

    An entry names the disk when its spec is one of the disk's (UUID=, LABEL=, paths, links), or
    when this view cannot resolve its spec (e.g. a link outside /dev/disk/azure) and the entry's
    mount path is where the disk is mounted now."""
    if view.fstab is None:
        return None, None
    mine: set[str] = set()
    for d in device.walk():
        mine |= _specs_of(view, d)
    known: set[str] = set()
    for top in view.devices:
        for d in top.walk():
            known |= _specs_of(view, d)
    mounted = set(mounts)
    matches = []
    for entry in view.fstab:
        spec = _normal_spec(entry.spec)
        if spec in mine:
            matches.append(entry)
        elif spec not in known and entry.mountpoint in mounted and entry.mountpoint not in ("none", "swap"):
            matches.append(entry)
    if not matches:
        return False, None
    return True, all(e.nofail for e in matches)


def all_data_mounted(rows: Sequence[DiskRow]) -> bool | None:
    """Whether every data disk ARM lists is mounted in the guest; None when the guest was not
    seen (unreachable, or not asked)."""
    data = [r for r in rows if r.kind == KIND_DATA and r.arm_name is not None]
    if any(r.state in (None, STATE_UNREACHABLE) for r in data):
        return None
    return all(r.state == STATE_MOUNTED for r in data)


def describe_partitions(row: DiskRow) -> str:
    """`sdc1 ext4 /datadisks/lun0, sdc2 -` for tables."""
    parts = []
    for p in row.partitions:
        name = posixpath.basename(p.device)
        bits = [name, p.fstype or "-"]
        if p.mountpoint:
            bits.append(p.mountpoint)
        parts.append(" ".join(bits))
    return ", ".join(parts)


