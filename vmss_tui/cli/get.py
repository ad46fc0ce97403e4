"""`vmss-tui get`: scale sets, instances and NAT mappings as tables or JSON, for people and scripts.

`get instances` carries what the instances pane shows: the private IP, and `ssh_endpoint`, the
public `ip:port` of the instance's SSH mapping (the one `s` opens), with `ssh_reason` saying why an
SSH session cannot be opened now (no public mapping: then the endpoint is null; the instance
stopped: the endpoint is kept) or null when it can.

One scale set never breaks the others: a scale set whose reads fail (403, OperationNotAllowed,
deleted meanwhile ...) gets one line on stderr, every other one is printed, and the exit code
says the result is partial (EXIT_PARTIAL). Uniform and Flexible scale sets come out in the same
shapes (for Flexible, `instance_id` is the VM name). Never imports Textual (a test proves it in
a fresh interpreter).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vmss_tui.azure.errors import FleetError, NotFoundError
from vmss_tui.azure.fleet import ConnectionSettings

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.domain.models import Instance, InstanceNic, NatResolution, ScaleSet

PROG = "vmss-tui"
GET_KINDS = ("scale-sets", "instances", "nat", "rollout", "disks")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3  # some scale sets (or subscriptions) listed, others failed: see stderr

GET_EPILOG = f"""\
exit status:
  {EXIT_OK}  everything asked for was printed
  {EXIT_FAILED}  nothing could be listed (one line on stderr says why)
  2  the command line was wrong
  {EXIT_PARTIAL}  partial result: some scale sets (or subscriptions) failed, each with one line
     on stderr ("{PROG}: <scale set>: <what went wrong> (<what to do>)"); the rest was printed
"""


def configure_get_parser(parser: argparse.ArgumentParser) -> None:
    """The `get` sub-command's own arguments and help (the caller adds the connection options)."""
    parser.epilog = GET_EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("what", choices=GET_KINDS, help="what to list")
    parser.add_argument("--scale-set", metavar="NAME", help="only this scale set (default: every scale set)")
    parser.add_argument("-g", "--resource-group", metavar="RG", help="only this resource group")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table", help="output format")
    from vmss_tui.cli.get_disks import add_disks_arguments

    add_disks_arguments(parser)


@dataclass
class GetResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why something has no rows (no load balancer ...)
    failures: list[str] = field(default_factory=list)  # "<scale set>: <one line>", one per failure
    listed: int = 0  # scale sets (for `get scale-sets`: subscriptions) whose rows were read

    def fail(self, where: str, error: FleetError) -> None:
        self.failures.append(f"{where}: {error.one_line()}")


def _scale_set_row(scale_set: ScaleSet) -> dict[str, Any]:
    return {
        "name": scale_set.name,
        "resource_group": scale_set.resource_group,
        "location": scale_set.location,
        "sku": scale_set.sku,
        "capacity": scale_set.capacity,
        "upgrade_mode": scale_set.upgrade_mode,
        "orchestration_mode": scale_set.orchestration_mode,
        "provisioning_state": scale_set.provisioning_state,
        "subscription_id": scale_set.subscription_id,
    }


def _ssh_port() -> int:
    """The SSH port the console connects to (`[ssh] port` of the config file, else 22)."""
    from vmss_tui.config import load_config  # light: tomllib + platformdirs, never Textual

    return load_config().ssh.port


def _instance_row(
    scale_set: ScaleSet,
    instance: Instance,
    private_ip: str | None,
    resolution: NatResolution | FleetError | None,
    ssh_port: int,
) -> dict[str, Any]:
    from vmss_tui.domain.models import FRONTEND_PUBLIC
    from vmss_tui.domain.ssh_target import choose_ssh_target, instance_mappings

    endpoint: str | None = None
    reason: str | None
    if isinstance(resolution, FleetError):
        reason = f"the NAT mappings could not be read: {resolution.one_line()}"
    elif resolution is None:
        reason = "the network interfaces could not be read, so neither could the NAT mappings"
    else:
        choice = choose_ssh_target(
            scale_set=scale_set, instance=instance, resolution=resolution, backend_port=ssh_port,
            private_ip=private_ip,
        )
        if choice.target is not None and choice.reason is None:
            endpoint, reason = choice.target.endpoint, None
        else:
            reason = choice.reason
            if getattr(choice, "not_running", None):
                # Stopped: the endpoint is still the instance's (what the pane shows); the reason
                # says why nothing answers there now.
                best = next(iter(instance_mappings(resolution, scale_set.name, instance.instance_id, ssh_port)), None)
                if best is not None and best.frontend_state == FRONTEND_PUBLIC and best.endpoint:
                    endpoint = best.endpoint
    return {
        "scale_set": instance.scale_set,
        "resource_group": instance.resource_group,
        "orchestration_mode": instance.orchestration_mode,
        "instance_id": instance.instance_id,
        "name": instance.name,
        "computer_name": instance.computer_name,
        "power_state": instance.power_state,
        "provisioning_state": instance.provisioning_state,
        "latest_model": instance.latest_model,
        "zone": instance.zone,
        "fault_domain": instance.fault_domain,
        "health": instance.health,
        "vm_size": instance.vm_size,
        "private_ip": private_ip,
        "ssh_endpoint": endpoint,
        "ssh_reason": reason,
    }


def _nat_rows(resolution: NatResolution) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for m in resolution.mappings:
        verdict = m.nsg
        rows.append({
            "scale_set": m.scale_set,
            "resource_group": m.resource_group,
            "instance_id": m.instance_id,
            "protocol": m.protocol,
            "backend_port": m.backend_port,
            "frontend_ip": m.frontend_ip,
            "frontend_port": m.frontend_port,
            "frontend_state": m.frontend_state,
            "load_balancer": m.load_balancer,
            "rule": m.rule,
            "kind": m.kind,
            "nsg_allowed": verdict.allowed if verdict else None,
            "nsg": verdict.nsg if verdict else None,
            "nsg_rule": verdict.rule if verdict else None,
            "nsg_sources": list(verdict.sources) if verdict else [],
            "nsg_open_to_any": verdict.open_to_any if verdict else False,
            "nsg_verdict": verdict.label if verdict else "unknown",
        })
    return rows


async def _scale_sets_of(fleet: Fleet, args: argparse.Namespace) -> list[ScaleSet]:
    if args.scale_set:
        return [await fleet.get_scale_set(args.resource_group, args.scale_set)]
    return await fleet.list_scale_sets(args.resource_group)


async def _instance_rows(fleet: Fleet, scale_sets: Sequence[ScaleSet], result: GetResult) -> None:
    """Instances with what the instances pane shows beside them: private IP, SSH endpoint (or
    why there is none) and health. Reads: each scale set's instances, its NICs (Flexible: each
    resource group's once), and its NAT path (each load balancer, public IP, subnet, NSG once)."""
    from vmss_tui.domain.network import private_ips

    listed = await fleet.list_instances_many(scale_sets)
    ok: list[ScaleSet] = []
    instances: dict[str, list[Instance]] = {}
    for scale_set in scale_sets:
        found = listed[scale_set.id]
        if isinstance(found, FleetError):
            result.fail(scale_set.name, found)
        else:
            ok.append(scale_set)
            instances[scale_set.id] = found
    result.listed += len(ok)
    with_instances = [s for s in ok if instances[s.id]]
    nics = await fleet.list_instance_nics_many(with_instances, instances)
    readable: dict[str, Sequence[InstanceNic]] = {}
    for scale_set in with_instances:
        found_nics = nics[scale_set.id]
        if isinstance(found_nics, FleetError):
            result.fail(f"{scale_set.name}: network interfaces", found_nics)
        else:
            readable[scale_set.id] = found_nics
    nat_of = [s for s in with_instances if s.id in readable]
    resolutions = await fleet.nat_mappings_many(nat_of, readable)
    ssh_port = _ssh_port()
    for scale_set in ok:
        resolution = resolutions.get(scale_set.id)
        if isinstance(resolution, FleetError):
            result.fail(f"{scale_set.name}: NAT mappings", resolution)
        ips = private_ips(readable.get(scale_set.id))
        result.rows.extend(
            _instance_row(scale_set, i, ips.get(i.instance_id), resolution, ssh_port) for i in instances[scale_set.id]
        )


async def _get_rows(fleet: Fleet, args: argparse.Namespace, result: GetResult) -> None:
    scale_sets = await _scale_sets_of(fleet, args)
    if args.what == "scale-sets":
        result.rows.extend(_scale_set_row(s) for s in scale_sets)
        result.listed += 1
        return
    if args.what == "instances":
        await _instance_rows(fleet, scale_sets, result)
        return
    resolutions = await fleet.nat_mappings_many(scale_sets)
    for scale_set in scale_sets:
        resolution = resolutions[scale_set.id]
        if isinstance(resolution, FleetError):
            result.fail(scale_set.name, resolution)
            continue
        result.listed += 1
        result.notes.extend(f"{scale_set.name}: {note}" for note in resolution.notes)
        result.rows.extend(_nat_rows(resolution))


async def _run_get(settings: ConnectionSettings, args: argparse.Namespace) -> GetResult:
    from vmss_tui.azure.fleet import Fleet

    result = GetResult()
    async with await Fleet.open(settings) as fleet:
        async with every_subscription(fleet) as fleets:
            missing: list[FleetError] = []
            for each in fleets:
                try:
                    await _get_rows(each, args, result)
                except NotFoundError as exc:
                    if len(fleets) == 1:
                        raise
                    if args.scale_set:
                        missing.append(exc)  # the scale set may be in another subscription
                    else:
                        result.fail(f"subscription {each.subscription_id}", exc)
                except FleetError as exc:
                    if len(fleets) == 1:
                        raise
                    result.fail(f"subscription {each.subscription_id}", exc)  # the others still count
            if missing and len(missing) == len(fleets):
                raise NotFoundError(
                    f"scale set {args.scale_set} not found in any of {len(fleets)} subscriptions",
                    hint="check the name, or pass --subscription",
                )
    return result


@contextlib.asynccontextmanager
async def every_subscription(fleet: Fleet) -> AsyncIterator[list[Fleet]]:
    """`fleet`, and when neither --subscription nor a CLI default chose it, a Fleet for every
    other subscription the credential sees; those are closed on the way out."""
    fleets = [fleet]
    try:
        if fleet.subscription_source == "listed":
            for sub_id, _ in fleet.listed_subscriptions[1:]:
                fleets.append(await fleet.with_subscription(sub_id))
        yield fleets
    finally:
        for sibling in fleets[1:]:
            await sibling.close()


async def find_scale_set(fleets: Sequence[Fleet], resource_group: str | None, name: str) -> tuple[Fleet, ScaleSet]:
    """The scale set in the first subscription that has it (it may be in any listed one)."""
    last: NotFoundError | None = None
    for fleet in fleets:
        try:
            return fleet, await fleet.get_scale_set(resource_group, name)
        except NotFoundError as exc:
            last = exc
    if len(fleets) > 1:
        raise NotFoundError(f"scale set {name} not found in any of {len(fleets)} subscriptions",
                            hint="check the name, or pass --subscription")
    assert last is not None
    raise last


def table_cell(value: Any) -> str:
    """A value as a `get -o table` cell: "-" for nothing, yes/no, lists comma-joined."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) if value else "-"
    return str(value)


TABLE_COLUMNS = {
    "scale-sets": ("name", "resource_group", "location", "sku", "capacity", "upgrade_mode",
                   "orchestration_mode", "provisioning_state"),
    "instances": ("scale_set", "resource_group", "instance_id", "computer_name", "power_state",
                  "provisioning_state", "latest_model", "zone", "health", "private_ip", "ssh_endpoint"),
    "nat": ("scale_set", "instance_id", "protocol", "backend_port", "frontend_ip", "frontend_port",
            "load_balancer", "rule", "kind", "nsg_verdict"),
}


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    headers = [c.upper() for c in columns]
    cells = [[table_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _print_get(args: argparse.Namespace, result: GetResult) -> None:
    rows, notes = result.rows, result.notes
    if args.output == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        for note in notes:
            print(f"{PROG}: note: {note}", file=sys.stderr)
    else:
        columns = list(TABLE_COLUMNS[args.what])
        if args.what == "nat" and any(r["frontend_state"] != "public" for r in rows):
            columns.insert(columns.index("load_balancer"), "frontend_state")
        if args.what == "instances" and any(r["orchestration_mode"] != "Uniform" for r in rows):
            columns.insert(columns.index("instance_id"), "orchestration_mode")
        if len({r.get("subscription_id") for r in rows if "subscription_id" in r}) > 1:
            columns.insert(0, "subscription_id")
        if rows:
            print(format_table(rows, columns))
        elif not result.failures:
            print(f"no {args.what.replace('-', ' ')} found", file=sys.stderr)
        for note in notes:
            print(f"note: {note}")
    sys.stdout.flush()  # the rows before the failure lines, when both go to one terminal
    for failure in result.failures:
        print(f"{PROG}: {failure}", file=sys.stderr)


def run_get(settings: ConnectionSettings, args: argparse.Namespace) -> int:
    """`vmss-tui get ...`: print what was asked for; the exit code for the shell (EXIT_*)."""
    import asyncio

    if args.what == "rollout":
        from vmss_tui.cli.get_rollout import run_get_rollout

        return run_get_rollout(settings, args)
    if args.what == "disks":
        from vmss_tui.cli.get_disks import run_get_disks

        return run_get_disks(settings, args)
    result = asyncio.run(_run_get(settings, args))
    _print_get(args, result)
    if not result.failures:
        return EXIT_OK
    return EXIT_PARTIAL if result.listed else EXIT_FAILED
