"""Preparing empty data disks on a Linux guest: the shell script and the reading of its result.

`prepare_script(plan)` is a POSIX sh script, run as root on the instance (Run Command or the
Custom Script extension). For each LUN of the plan it finds the disk by its LUN link
(`/dev/disk/azure/scsi1/lun<N>`, the Azure agent's udev rules, or `/dev/disk/azure/data/by-lun/<N>`,
azure-vm-utils, SCSI and NVMe) and, only when the disk has neither a partition, nor a partition
table, nor any filesystem or other signature, checked there and then on the guest with three
independent tools (lsblk, wipefs, blkid -p), creates one GPT partition, makes the filesystem,
adds an `/etc/fstab` entry by UUID with `nofail` and mounts it. Anything else is left exactly as
it is, so a stale view on the console's side cannot make it format a disk, and running it twice
changes nothing the second time.

It uses only what stock Ubuntu and RHEL images have (util-linux, parted or sgdisk or sfdisk,
e2fsprogs / xfsprogs, coreutils) and prints one result line per LUN on stdout (tool output goes
to stderr), then `vmss-tui-prepare: done`; `parse_prepare_output` reads them back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

RESULT_PREFIX = "vmss-tui-prepare: "
DEFAULT_MOUNT_TEMPLATE = "/datadisks/lun{lun}"
FILESYSTEMS = ("ext4", "xfs")
MAX_LUN = 63  # Azure data disks: LUN 0-63

# What each result means for people.
PREPARED = "prepared"
ALREADY_PREPARED = "already-prepared"
SKIPPED = "skipped"
MISSING = "missing"
FAILED = "failed"
UNKNOWN = "unknown"  # no result line for this LUN (the script did not get to it, or output was cut)

REASONS = {
    "has-partitions": "the disk has partitions or volumes (left as it is)",
    "has-signature": "the disk has a partition table or a filesystem (left as it is)",
    "mountpoint-in-use": "something is already mounted at the mount path",
    "mountpoint-in-fstab": "/etc/fstab already mounts something at the mount path",
    "mountpoint-not-empty": "the mount path is a directory with files in it",
    "no-lun-link": "the guest has no /dev/disk/azure link for this LUN",
    "not-a-block-device": "the LUN link does not lead to a block device",
    "not-root": "the script did not run as root",
}
STEPS = {
    "partition": "creating the GPT partition failed",
    "partition-device": "the new partition did not appear",
    "old-signature": "the new partition shows an old filesystem signature: not formatted",
    "mkfs": "making the filesystem failed",
    "uuid": "the new filesystem has no UUID",
    "mkdir": "creating the mount path failed",
    "fstab": "adding the /etc/fstab entry failed",
    "mount": "mounting failed",
}

# Absolute path of safe characters; `{lun}` may appear once.
_TEMPLATE_RE = re.compile(r"^/[A-Za-z0-9._/-]*(?:\{lun\}[A-Za-z0-9._/-]*)?$")
# Mounting a disk here would hide or break the system.
_SYSTEM_DIRS = frozenset({
    "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/media", "/mnt",
    "/mnt/resource", "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr",
    "/usr/local", "/var", "/var/lib", "/var/log", "/var/tmp",
})
_SYSTEM_TREES = ("/proc/", "/sys/", "/dev/", "/run/", "/boot/", "/etc/", "/usr/", "/bin/", "/sbin/", "/lib/")


class DiskPrepareError(ValueError):
    """A plan that cannot be run; str() is one line naming the value and what is allowed."""


@dataclass(frozen=True, slots=True)
class PreparePlan:
    """Which LUNs to prepare, with what filesystem, mounted where (validated: see `make_plan`)."""

    luns: tuple[int, ...]
    fstype: str = "ext4"
    mount_template: str = DEFAULT_MOUNT_TEMPLATE

    def mountpoint(self, lun: int) -> str:
        return self.mount_template.replace("{lun}", str(lun))

    @property
    def mountpoints(self) -> tuple[tuple[int, str], ...]:
        """(lun, mount path) for each LUN: what the operator sees before confirming."""
        return tuple((lun, self.mountpoint(lun)) for lun in self.luns)


def check_mount_template(template: str, lun_count: int = 1) -> str:
    """The template, normalised (no trailing slash); DiskPrepareError when it is not usable."""
    value = template.strip()
    if not value:
        raise DiskPrepareError("mount path is empty: give an absolute path such as /datadisks/lun{lun}")
    if not _TEMPLATE_RE.match(value):
        raise DiskPrepareError(
            f"mount path {template!r} is not allowed: an absolute path of letters, digits, '.', '_', '-' "
            "and '/', with {lun} for the LUN number"
        )
    if len(value) > 1:
        value = value.rstrip("/")
    sample = value.replace("{lun}", "0")
    if sample in _SYSTEM_DIRS or any(sample.startswith(tree) for tree in _SYSTEM_TREES):
        raise DiskPrepareError(
            f"mount path {template!r} is a system directory: choose a path of its own, such as /datadisks/lun{{lun}}"
        )
    parts = value.split("/")[1:]
    if any(part in ("", ".", "..") for part in parts):
        raise DiskPrepareError(f"mount path {template!r} has an empty, '.' or '..' component")
    if lun_count > 1 and "{lun}" not in value:
        raise DiskPrepareError(
            f"mount path {template!r} has no {{lun}}: {lun_count} disks would share one mount path"
        )
    return value


def make_plan(luns: Iterable[int], fstype: str = "ext4", mount_template: str = DEFAULT_MOUNT_TEMPLATE) -> PreparePlan:
    """A validated plan. Raises DiskPrepareError (one line) for a bad LUN, filesystem or path."""
    wanted: list[int] = []
    for lun in luns:
        if isinstance(lun, bool) or not isinstance(lun, int) or not 0 <= lun <= MAX_LUN:
            raise DiskPrepareError(f"LUN {lun!r} is not allowed: a whole number 0-{MAX_LUN}")
        if lun not in wanted:
            wanted.append(lun)
    if not wanted:
        raise DiskPrepareError("no data disk to prepare: the instance has no data disk LUN")
    kind = fstype.strip().lower()
    if kind not in FILESYSTEMS:
        raise DiskPrepareError(f"filesystem {fstype!r} is not supported: use {' or '.join(FILESYSTEMS)}")
    template = check_mount_template(mount_template, len(wanted))
    return PreparePlan(luns=tuple(sorted(wanted)), fstype=kind, mount_template=template)


_SCRIPT_HEAD = r"""#!/bin/sh
# vmss-tui: prepare empty Azure data disks.
# For each LUN at the end of this script whose disk has neither a partition, a partition table,
# nor a filesystem (checked here, now): one GPT partition, a filesystem, an /etc/fstab entry by
# UUID with nofail, and a mount. Any other disk is left exactly as it is; running this again
# changes nothing. One result line per LUN on stdout; tool output goes to stderr.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
FSTYPE=@FSTYPE@
PASSNO=@PASSNO@
failed=""

say() {
  echo "vmss-tui-prepare: $1"
}

fail() {
  say "lun=$lun result=failed step=$1 device=$dev"
  failed=yes
}

settle() {
  if command -v udevadm >/dev/null 2>&1; then
    udevadm settle >/dev/null 2>&1
  fi
}

prepare_lun() {
  lun=$1
  mnt=$2
  dev=""
  for link in "/dev/disk/azure/scsi1/lun$lun" "/dev/disk/azure/data/by-lun/$lun"; do
    if [ -z "$dev" ] && [ -e "$link" ]; then
      dev=$(readlink -f "$link")
    fi
  done
  if [ -z "$dev" ]; then
    say "lun=$lun result=missing reason=no-lun-link"
    failed=yes
    return 1
  fi
  if [ ! -b "$dev" ]; then
    say "lun=$lun result=missing reason=not-a-block-device device=$dev"
    failed=yes
    return 1
  fi

  # Three independent looks at the disk; any one finding something leaves it alone.
  children=$(lsblk -rnpo NAME "$dev" | grep -v -x -F "$dev")
  if [ -n "$children" ]; then
    src=$(findmnt -n -o SOURCE "$mnt" 2>/dev/null)
    if [ -n "$src" ] && echo "$children" | grep -q -x -F "$src"; then
      say "lun=$lun result=already-prepared device=$dev partition=$src mountpoint=$mnt"
    else
      say "lun=$lun result=skipped reason=has-partitions device=$dev"
    fi
    return 0
  fi
  if [ -n "$(wipefs "$dev" 2>&1)" ]; then
    say "lun=$lun result=skipped reason=has-signature device=$dev"
    return 0
  fi
  blkid -p "$dev" >/dev/null 2>&1
  if [ "$?" != "2" ]; then
    say "lun=$lun result=skipped reason=has-signature device=$dev"
    return 0
  fi

  if findmnt -n "$mnt" >/dev/null 2>&1; then
    say "lun=$lun result=skipped reason=mountpoint-in-use device=$dev mountpoint=$mnt"
    return 0
  fi
  if findmnt -s -n "$mnt" >/dev/null 2>&1; then
    say "lun=$lun result=skipped reason=mountpoint-in-fstab device=$dev mountpoint=$mnt"
    return 0
  fi
  if [ -d "$mnt" ] && [ -n "$(ls -A "$mnt")" ]; then
    say "lun=$lun result=skipped reason=mountpoint-not-empty device=$dev mountpoint=$mnt"
    return 0
  fi

  made=""
  if command -v parted >/dev/null 2>&1; then
    parted -s -a optimal "$dev" mklabel gpt mkpart "lun$lun" "$FSTYPE" 1MiB 100% >&2 && made=yes
  elif command -v sgdisk >/dev/null 2>&1; then
    sgdisk -n 1:0:0 -t 1:8300 -c "1:lun$lun" "$dev" >&2 && made=yes
  else
    printf 'label: gpt\ntype=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' | sfdisk -q "$dev" >&2 && made=yes
  fi
  if [ -z "$made" ]; then
    fail partition
    return 1
  fi
  if command -v partprobe >/dev/null 2>&1; then
    partprobe "$dev" >/dev/null 2>&1
  fi
  part=""
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    if [ -z "$part" ]; then
      settle
      part=$(lsblk -rnpo NAME,TYPE "$dev" | grep ' part$' | cut -d ' ' -f 1)
      if [ -z "$part" ] || [ ! -b "$part" ]; then
        part=""
        partx -a "$dev" >/dev/null 2>&1
        sleep 1
      fi
    fi
  done
  if [ -z "$part" ]; then
    fail partition-device
    return 1
  fi
  if [ -n "$(wipefs "$part" 2>&1)" ]; then
    say "lun=$lun result=failed step=old-signature device=$dev partition=$part"
    failed=yes
    return 1
  fi

  made=""
  if [ "$FSTYPE" = "xfs" ]; then
    mkfs.xfs -q "$part" >&2 && made=yes
  else
    mkfs.ext4 -q "$part" >&2 && made=yes
  fi
  if [ -z "$made" ]; then
    fail mkfs
    return 1
  fi
  settle
  uuid=$(blkid -p -s UUID -o value "$part")
  if [ -z "$uuid" ]; then
    fail uuid
    return 1
  fi
  if ! mkdir -p "$mnt"; then
    fail mkdir
    return 1
  fi
  if ! echo "UUID=$uuid $mnt $FSTYPE defaults,nofail 0 $PASSNO" >> /etc/fstab; then
    fail fstab
    return 1
  fi
  if command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1
  fi
  if ! mount "$mnt" >&2; then
    fail mount
    return 1
  fi
  say "lun=$lun result=prepared device=$dev partition=$part fstype=$FSTYPE uuid=$uuid mountpoint=$mnt"
  return 0
}

if [ "$(id -u)" != "0" ]; then
  say "result=failed reason=not-root"
  exit 1
fi

"""

_SCRIPT_TAIL = """say "done"
if [ -n "$failed" ]; then
  exit 1
fi
exit 0
"""


def prepare_script(plan: PreparePlan) -> str:
    """The script for `plan` (re-validated, so a hand-made plan cannot inject shell text)."""
    checked = make_plan(plan.luns, plan.fstype, plan.mount_template)
    head = _SCRIPT_HEAD.replace("@FSTYPE@", checked.fstype).replace("@PASSNO@", "2" if checked.fstype == "ext4" else "0")
    calls = "".join(f"prepare_lun {lun} {mount}\n" for lun, mount in checked.mountpoints)
    return head + calls + _SCRIPT_TAIL


@dataclass(frozen=True, slots=True)
class LunResult:
    """What the script did with one LUN."""

    lun: int
    result: str  # PREPARED | ALREADY_PREPARED | SKIPPED | MISSING | FAILED | UNKNOWN
    reason: str | None = None  # key of REASONS, for skipped / missing
    step: str | None = None  # key of STEPS, for failed
    device: str | None = None
    partition: str | None = None
    fstype: str | None = None
    uuid: str | None = None
    mountpoint: str | None = None

    @property
    def ok(self) -> bool:
        """The disk is ready for use (prepared now or before)."""
        return self.result in (PREPARED, ALREADY_PREPARED)

    @property
    def changed(self) -> bool:
        return self.result == PREPARED

    def describe(self) -> str:
        """One line for people, e.g. "LUN 0: prepared /dev/sdc1 (ext4) at /datadisks/lun0"."""
        head = f"LUN {self.lun}: "
        if self.result == PREPARED:
            return head + f"prepared {self.partition} ({self.fstype}) at {self.mountpoint}"
        if self.result == ALREADY_PREPARED:
            return head + f"already prepared: {self.partition} at {self.mountpoint}"
        if self.result == FAILED:
            what = STEPS.get(self.step or "", REASONS.get(self.reason or "", self.step or self.reason or "failed"))
            return head + f"failed: {what}" + (f" ({self.device})" if self.device else "")
        if self.result in (SKIPPED, MISSING):
            what = REASONS.get(self.reason or "", self.reason or self.result)
            return head + f"{self.result}: {what}" + (f" ({self.device})" if self.device else "")
        return head + "no result: the script did not report this LUN (stopped early, or its output was cut)"


@dataclass(frozen=True, slots=True)
class PrepareReport:
    """The parsed result of one run on one instance."""

    results: tuple[LunResult, ...]
    completed: bool  # the script printed its done line
    error: str | None = None  # a failure before any LUN (e.g. not root)

    @property
    def ok(self) -> bool:
        return self.completed and self.error is None and all(r.ok for r in self.results)

    @property
    def changed(self) -> bool:
        return any(r.changed for r in self.results)

    def summary(self) -> str:
        """One line: "prepared LUN 1; already prepared LUN 0" or the error."""
        if self.error:
            return self.error
        groups: dict[str, list[str]] = {}
        for r in self.results:
            groups.setdefault(r.result, []).append(str(r.lun))
        order = (PREPARED, ALREADY_PREPARED, SKIPPED, MISSING, FAILED, UNKNOWN)
        words = {ALREADY_PREPARED: "already prepared", UNKNOWN: "no result for"}
        parts = [f"{words.get(k, k)} LUN {', '.join(groups[k])}" for k in order if k in groups]
        text = "; ".join(parts) if parts else "nothing to do"
        return text if self.completed else text + " (the script did not finish)"


def _fields(line: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            values[key] = value
    return values


def parse_prepare_output(stdout: str, luns: Sequence[int] = ()) -> PrepareReport:
    """Read the script's result lines (other lines are ignored). LUNs in `luns` that have no line
    come back as UNKNOWN, so an output cut short never reads as success."""
    found: dict[int, LunResult] = {}
    completed = False
    error: str | None = None
    for raw in stdout.splitlines():
        line = raw.strip()
        if not line.startswith(RESULT_PREFIX):
            continue
        body = line[len(RESULT_PREFIX):]
        if body == "done":
            completed = True
            continue
        values = _fields(body)
        if "lun" not in values:
            if values.get("result") == FAILED:
                reason = values.get("reason", "")
                error = REASONS.get(reason, reason or "the script failed")
            continue
        try:
            lun = int(values["lun"])
        except ValueError:
            continue
        result = values.get("result", UNKNOWN)
        if result not in (PREPARED, ALREADY_PREPARED, SKIPPED, MISSING, FAILED):
            result = UNKNOWN
        found[lun] = LunResult(
            lun=lun,
            result=result,
            reason=values.get("reason"),
            step=values.get("step"),
            device=values.get("device"),
            partition=values.get("partition"),
            fstype=values.get("fstype"),
            uuid=values.get("uuid"),
            mountpoint=values.get("mountpoint"),
        )
    for lun in luns:
        found.setdefault(lun, LunResult(lun=lun, result=UNKNOWN))
    return PrepareReport(results=tuple(found[k] for k in sorted(found)), completed=completed, error=error)
