"""`vmss-tui get disks --scale-set NAME [--instance ID] [-g RG] [--guest] [--accept-new] [-i KEY]
[-o table|json]`: one row per (instance, disk), ARM's side, and with `--guest` what each guest sees
(read over SSH, one exec per instance, 8 at once), joined by LUN.

Non-interactive: nothing is asked. A host key never seen is refused with a hint unless
`--accept-new` (trust on first use, saved in the app's known_hosts, as OpenSSH's
`StrictHostKeyChecking=accept-new`); a changed key is always refused. An instance whose guest
cannot be read keeps its ARM rows with state `unreachable` and the reason, gets one line on stderr,
and the exit status is 3 (partial). Never imports Textual.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmss_tui.azure.errors import FleetError, NotFoundError
from vmss_tui.domain.disks import GIB, DiskRow, arm_rows

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import ConnectionSettings, Fleet
    from vmss_tui.domain.models import Instance, ScaleSet
    from vmss_tui.ssh.settings import SshSettings

PROG = "vmss-tui"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3

ARM_FIELDS = ("scale_set", "resource_group", "instance_id", "kind", "lun", "arm_name", "size_gb", "sku", "caching")
GUEST_FIELDS = ("guest_device", "partitions", "fstype", "uuid", "mountpoint", "size_bytes", "used_bytes",
                "avail_bytes", "in_fstab", "state", "reason")
TABLE_ARM = ("instance_id", "kind", "lun", "arm_name", "size_gb", "sku", "caching")
TABLE_GUEST = ("instance_id", "kind", "lun", "arm_name", "size_gb", "guest_device", "fstype", "mountpoint",
               "size", "used", "avail", "fstab", "state", "reason")


def add_disks_arguments(parser: argparse.ArgumentParser) -> None:
    """The options only `get disks` uses (added to the `get` parser)."""
    group = parser.add_argument_group("get disks")
    group.add_argument("--instance", metavar="ID", action="append",
                       help="only this instance (repeat for several; default: every instance)")
    group.add_argument("--guest", action="store_true",
                       help="also read each guest's disks over SSH (lsblk, df, fstab; no root needed)")
    group.add_argument("--accept-new", action="store_true",
                       help="trust and save an instance's host key never seen before (a changed key is always refused)")
    group.add_argument("-i", "--identity-file", metavar="PATH",
                       help="SSH private key to log in with (default: ssh-agent, [ssh] identity_file, ~/.ssh/id_*)")


@dataclass
class DisksResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "<scale set>/<instance>: <why> (<hint>)"
    notes: list[str] = field(default_factory=list)


def disk_record(scale_set: ScaleSet, instance: Instance, row: DiskRow, *, guest: bool) -> dict[str, Any]:
    """One row of `get disks -o json`."""
    record: dict[str, Any] = {
        "scale_set": scale_set.name,
        "resource_group": scale_set.resource_group,
        "instance_id": instance.instance_id,
        "kind": row.kind,
        "lun": row.lun,
        "arm_name": row.arm_name,
        "size_gb": row.arm_size_gb,
        "sku": row.arm_sku,
        "caching": row.arm_caching,
    }
    if guest:
        record.update({
            "guest_device": row.guest_device,
            "partitions": [
                {"device": p.device, "fstype": p.fstype, "uuid": p.uuid, "mountpoint": p.mountpoint,
                 "size_bytes": p.size_bytes}
                for p in row.partitions
            ],
            "fstype": row.fstype,
            "uuid": row.uuid,
            "mountpoint": row.mountpoint,
            "size_bytes": row.size_bytes,
            "used_bytes": row.used_bytes,
            "avail_bytes": row.avail_bytes,
            "in_fstab": row.in_fstab,
            "fstab_nofail": row.fstab_nofail,
            "state": row.state,
            "reason": row.reason,
        })
    return record


def ssh_settings_from(args: argparse.Namespace) -> SshSettings:
    """SSH settings for `get`: the config file's [ssh] table, then -i (or the demo's key)."""
    from vmss_tui.config import load_config
    from vmss_tui.ssh.settings import SshSettings

    config = load_config()
    for problem in config.problems:
        print(f"{PROG}: note: {problem}", file=sys.stderr)
    identity = getattr(args, "identity_file", None) or getattr(args, "demo_identity_file", None)
    return SshSettings.from_config(config.ssh, identity_file=str(identity) if identity else None)


def _pick(instances: list[Instance], wanted: Sequence[str] | None, scale_set: ScaleSet) -> list[Instance]:
    if not wanted:
        return instances
    by_id = {i.instance_id: i for i in instances}
    missing = [w for w in wanted if w not in by_id]
    if missing:
        have = ", ".join(sorted(by_id)[:20]) or "none"
        raise NotFoundError(f"instance {', '.join(missing)} not found in {scale_set.name}",
                            hint=f"its instances: {have}")
    return [by_id[w] for w in dict.fromkeys(wanted)]


async def collect_disks(fleet: Fleet, scale_set: ScaleSet, args: argparse.Namespace,
                        ssh: SshSettings | None) -> DisksResult:
    """The rows of one scale set (through one Fleet)."""
    result = DisksResult()
    instances = _pick(await fleet.list_instances(scale_set), getattr(args, "instance", None), scale_set)
    if not getattr(args, "guest", False):
        for instance in instances:
            result.rows.extend(disk_record(scale_set, instance, r, guest=False) for r in arm_rows(instance))
        return result
    from vmss_tui.workflows.guest_survey import GuestSurvey

    assert ssh is not None
    survey = GuestSurvey(fleet, ssh, accept_new=bool(getattr(args, "accept_new", False)))
    done = await survey.refresh(scale_set, only=[i.instance_id for i in instances])
    if done.error:
        raise FleetError(done.error)
    for entry in done.instances:
        result.rows.extend(disk_record(scale_set, entry.instance, r, guest=True) for r in entry.rows)
        if not entry.reachable:
            hint = f" ({entry.hint})" if entry.hint else ""
            result.failures.append(f"{scale_set.name}/{entry.instance_id}: {entry.reason}{hint}")
        result.notes.extend(f"{scale_set.name}/{entry.instance_id}: {n}" for n in entry.notes)
    return result


async def _run(settings: ConnectionSettings, args: argparse.Namespace, ssh: SshSettings | None) -> DisksResult:
    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.cli.get import every_subscription, find_scale_set

    async with await Fleet.open(settings) as fleet:
        async with every_subscription(fleet) as fleets:
            owner, scale_set = await find_scale_set(fleets, getattr(args, "resource_group", None), args.scale_set)
            return await collect_disks(owner, scale_set, args, ssh)


def _size(value: int | None) -> str | None:
    if value is None:
        return None
    gib = value / GIB
    if gib >= 10:
        return f"{gib:.0f}G"
    if gib >= 1:
        return f"{gib:.1f}G"
    return f"{value / 1024**2:.0f}M"


def table_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The JSON rows with sizes for people (the table is not for scripts)."""
    shown = []
    for row in rows:
        view = dict(row)
        view["size"] = _size(row.get("size_bytes"))
        view["used"] = _size(row.get("used_bytes"))
        view["avail"] = _size(row.get("avail_bytes"))
        fstab = row.get("in_fstab")
        view["fstab"] = None if fstab is None else ("no" if not fstab else
                                                    "yes" if row.get("fstab_nofail") in (True, None) else "no nofail")
        shown.append(view)
    return shown


def print_disks(args: argparse.Namespace, result: DisksResult) -> None:
    from vmss_tui.cli.get import format_table

    guest = bool(getattr(args, "guest", False))
    if getattr(args, "output", "table") == "json":
        sys.stdout.write(json.dumps(result.rows, indent=2) + "\n")
    elif result.rows:
        print(format_table(table_rows(result.rows), TABLE_GUEST if guest else TABLE_ARM))
    else:
        print(f"no disks found in {args.scale_set}", file=sys.stderr)
    sys.stdout.flush()
    for note in result.notes:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    for failure in result.failures:
        print(f"{PROG}: {failure}", file=sys.stderr)


def run_get_disks(settings: ConnectionSettings, args: argparse.Namespace) -> int:
    """`vmss-tui get disks ...`; the exit code for the shell (3: some guests could not be read)."""
    import asyncio

    if not getattr(args, "scale_set", None):
        print(f"{PROG}: get disks needs --scale-set NAME (and -g RG where the name is in several groups)",
              file=sys.stderr)
        return EXIT_USAGE
    if getattr(args, "accept_new", False) and not getattr(args, "guest", False):
        print(f"{PROG}: --accept-new only matters with --guest (add --guest, or drop --accept-new)", file=sys.stderr)
        return EXIT_USAGE
    ssh = ssh_settings_from(args) if getattr(args, "guest", False) else None
    result = asyncio.run(_run(settings, args, ssh))
    print_disks(args, result)
    return EXIT_PARTIAL if result.failures else EXIT_OK
