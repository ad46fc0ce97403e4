"""The `vmss-tui` entry point: the console, `get`, `ssh` and `sim`.

Every failure ends as one line on stderr, "vmss-tui: <what> (<what to do>)", and a non-zero exit
(2 for usage, 1 for failures, 130 for Ctrl-C); never a traceback. `get` never imports Textual.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from vmss_tui.azure.errors import FleetError, NotFoundError
from vmss_tui.azure.fleet import ConnectionSettings

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.domain.models import ScaleSet

PROG = "vmss-tui"
ENV_ENDPOINT = "VMSS_TUI_ARM_ENDPOINT"
ENV_SUBSCRIPTION = "AZURE_SUBSCRIPTION_ID"
GET_KINDS = ("scale-sets", "instances", "nat")
DEMO_SPEED = 1.0  # simulated seconds per real second under --demo

# Options that may come before or after the sub-command, and whether they take a value.
GLOBAL_OPTIONS = {"--arm-endpoint": True, "--subscription": True, "--read-only": False, "--demo": False}


class UsageError(Exception):
    """Bad command line: exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line (raised, not printed with the usage block)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS defaults: an option given before the sub-command is not reset by the sub-parser.
    group = parser.add_argument_group("connection options (before or after the sub-command)")
    group.add_argument("--arm-endpoint", metavar="URL", default=argparse.SUPPRESS,
                       help=f"Resource Manager endpoint (env {ENV_ENDPOINT}; default: public Azure)")
    group.add_argument("--subscription", metavar="ID", default=argparse.SUPPRESS,
                       help=f"subscription id (env {ENV_SUBSCRIPTION}; default: the config file's, "
                            "else the Azure CLI's, else all)")
    group.add_argument("--read-only", action="store_true", default=argparse.SUPPRESS,
                       help="never send a write; hide every mutating action")
    group.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                       help="start the built-in simulator and use it")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Keyboard-first console for Azure Virtual Machine Scale Sets. "
        "Without a sub-command, starts the console.",
    )
    _add_global_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="{get,ssh,sim}", parser_class=_Parser)

    get = commands.add_parser("get", help="print scale sets, instances or NAT mappings",
                              description="Print scale sets, instances or NAT mappings (with NSG verdicts).")
    get.add_argument("what", choices=GET_KINDS, help="what to list")
    get.add_argument("--scale-set", metavar="NAME", help="only this scale set (default: every scale set)")
    get.add_argument("-g", "--resource-group", metavar="RG", help="only this resource group")
    get.add_argument("-o", "--output", choices=("table", "json"), default="table", help="output format")
    _add_global_options(get)

    ssh = commands.add_parser("ssh", help="open the console with an SSH session to an instance",
                              description="Open the console with an SSH session to one instance.")
    ssh.add_argument("scale_set", metavar="SCALE_SET")
    ssh.add_argument("instance_id", metavar="INSTANCE_ID")
    ssh.add_argument("-g", "--resource-group", metavar="RG")
    _add_global_options(ssh)

    commands.add_parser("sim", help="run the local Azure simulator (see `vmss-tui sim --help`)", add_help=False)
    return parser


def _find_command(argv: Sequence[str]) -> int | None:
    """Index of the sub-command word, skipping global options and their values."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word == "--":
            return index + 1 if index + 1 < len(argv) else None
        if word.startswith("-"):
            name = word.split("=", 1)[0]
            if GLOBAL_OPTIONS.get(name) and "=" not in word:
                index += 1  # skip its value
            index += 1
            continue
        return index
    return None


def settings_from(args: argparse.Namespace) -> ConnectionSettings:
    """Flag, else environment. (The config file's subscription comes next: `with_config_subscription`
    for `get`; the console reads the config file itself.)"""
    endpoint = getattr(args, "arm_endpoint", None) or os.environ.get(ENV_ENDPOINT) or None
    subscription = getattr(args, "subscription", None) or os.environ.get(ENV_SUBSCRIPTION) or None
    return ConnectionSettings(
        arm_endpoint=endpoint,
        subscription_id=subscription,
        read_only=bool(getattr(args, "read_only", False)),
    )


def with_config_subscription(settings: ConnectionSettings) -> ConnectionSettings:
    """The config file's default subscription when neither --subscription nor the environment
    named one. Subscription precedence: flag > environment > config file > Azure CLI default >
    every listable subscription (the last two are Fleet.open's). Applies to any endpoint, the
    simulator's too, as the console does: the config file is this tool's own, explicit choice."""
    if settings.subscription_id:
        return settings
    from vmss_tui.config import load_config  # light: tomllib + platformdirs, never Textual

    config = load_config()
    for problem in config.problems:  # a malformed file: say so, go on with what could be read
        print(f"{PROG}: warning: {problem}", file=sys.stderr)
    if not config.subscription:
        return settings
    return replace(settings, subscription_id=config.subscription)


# ---------------------------------------------------------------- get


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


async def _scale_sets_of(fleet: Fleet, args: argparse.Namespace) -> list[ScaleSet]:
    if args.scale_set:
        return [await fleet.get_scale_set(args.resource_group, args.scale_set)]
    return await fleet.list_scale_sets(args.resource_group)


async def _get_rows(fleet: Fleet, args: argparse.Namespace, notes: list[str]) -> list[dict[str, Any]]:
    scale_sets = await _scale_sets_of(fleet, args)
    if args.what == "scale-sets":
        return [_scale_set_row(s) for s in scale_sets]
    if args.what == "instances":
        per_scale_set = await fleet.map_bounded(fleet.list_instances, scale_sets)
        return [
            {
                "scale_set": i.scale_set,
                "resource_group": i.resource_group,
                "instance_id": i.instance_id,
                "name": i.name,
                "computer_name": i.computer_name,
                "power_state": i.power_state,
                "provisioning_state": i.provisioning_state,
                "latest_model": i.latest_model,
                "zone": i.zone,
                "health": i.health,
                "vm_size": i.vm_size,
            }
            for instances in per_scale_set
            for i in instances
        ]
    resolutions = await fleet.nat_mappings_for_many(scale_sets)
    rows: list[dict[str, Any]] = []
    for scale_set in scale_sets:
        resolution = resolutions[scale_set.id]
        notes.extend(f"{scale_set.name}: {note}" for note in resolution.notes)
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


async def _run_get(settings: ConnectionSettings, args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    from vmss_tui.azure.fleet import Fleet

    notes: list[str] = []
    async with await Fleet.open(settings) as fleet:
        fleets = [fleet]
        try:
            if fleet.subscription_source == "listed":
                # Neither --subscription nor a CLI default: every subscription the credential sees.
                for sub_id, _ in fleet.listed_subscriptions[1:]:
                    fleets.append(await fleet.with_subscription(sub_id))
            rows: list[dict[str, Any]] = []
            missing: list[FleetError] = []
            for each in fleets:
                try:
                    rows.extend(await _get_rows(each, args, notes))
                except NotFoundError as exc:
                    if len(fleets) == 1 or not args.scale_set:
                        raise
                    missing.append(exc)  # the scale set may be in another subscription
            if missing and len(missing) == len(fleets):
                raise NotFoundError(
                    f"scale set {args.scale_set} not found in any of {len(fleets)} subscriptions",
                    hint="check the name, or pass --subscription",
                )
        finally:
            for sibling in fleets[1:]:
                await sibling.close()
    return rows, notes


def _cell(value: Any) -> str:
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
    "instances": ("scale_set", "resource_group", "instance_id", "name", "computer_name", "power_state",
                  "provisioning_state", "latest_model", "zone", "health"),
    "nat": ("scale_set", "instance_id", "protocol", "backend_port", "frontend_ip", "frontend_port",
            "load_balancer", "rule", "kind", "nsg_verdict"),
}


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    headers = [c.upper() for c in columns]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in cells:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _print_get(args: argparse.Namespace, rows: list[dict[str, Any]], notes: list[str]) -> None:
    if args.output == "json":
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        for note in notes:
            print(f"{PROG}: note: {note}", file=sys.stderr)
        return
    columns = list(TABLE_COLUMNS[args.what])
    if args.what == "nat" and any(r["frontend_state"] != "public" for r in rows):
        columns.insert(columns.index("load_balancer"), "frontend_state")
    if len({r.get("subscription_id") for r in rows if "subscription_id" in r}) > 1:
        columns.insert(0, "subscription_id")
    if rows:
        print(format_table(rows, columns))
    else:
        print(f"no {args.what.replace('-', ' ')} found", file=sys.stderr)
    for note in notes:
        print(f"note: {note}")


# ---------------------------------------------------------------- console


def _run_console(
    settings: ConnectionSettings,
    ssh_target: tuple[str, str, str | None] | None,
    ssh_identity_file: Path | None = None,
) -> int:
    try:
        from vmss_tui.ui.app import run_console
    except ImportError as exc:
        if getattr(exc, "name", None) in ("vmss_tui.ui", "vmss_tui.ui.app") or "run_console" in str(exc):
            print(f"{PROG}: the console is not part of this build yet (use `{PROG} get ...`)", file=sys.stderr)
            return 1
        print(f"{PROG}: cannot start the console: {exc} (reinstall with `pip install .`)", file=sys.stderr)
        return 1
    kwargs: dict[str, Any] = {"ssh_target": ssh_target}
    if ssh_identity_file is not None and _takes_keyword(run_console, "ssh_identity_file"):
        # The demo simulator's client key, tried first by SSH sessions. A console that cannot take
        # it yet still reaches the demo's servers with the user's own ~/.ssh keys and agent.
        kwargs["ssh_identity_file"] = str(ssh_identity_file)
    return int(run_console(settings, **kwargs) or 0)


def _takes_keyword(function: Any, name: str) -> bool:
    import inspect

    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


# ---------------------------------------------------------------- main


def _start_demo() -> Any:
    from vmss_tui.sim import Simulator

    # Real speed: actions take as long as Azure's (a restart shows "starting" for ~8 s while the
    # guest boots, a power-off ~19 s), slow enough to watch in the console.
    return Simulator(speed=DEMO_SPEED).start_in_thread()


def _dispatch(argv: list[str]) -> int:
    command_at = _find_command(argv)
    if command_at is not None and argv[command_at] == "sim":
        from vmss_tui.sim.cli import main as sim_main

        return int(sim_main(argv[command_at + 1 :]) or 0)

    args = build_parser().parse_args(argv)
    settings = settings_from(args)
    demo = None
    if getattr(args, "demo", False):
        if getattr(args, "arm_endpoint", None):
            raise UsageError("--demo and --arm-endpoint cannot be combined (drop one of them)")
        if getattr(args, "subscription", None):
            raise UsageError("--demo uses the simulator's own subscription (drop --subscription)")
        demo = _start_demo()
        settings = ConnectionSettings(
            arm_endpoint=demo.endpoint, subscription_id=demo.subscription_id, read_only=settings.read_only
        )
    try:
        if args.command == "get":
            if demo is None:
                settings = with_config_subscription(settings)
            rows, notes = asyncio.run(_run_get(settings, args))
            _print_get(args, rows, notes)
            return 0
        identity = demo.ssh_client_key_path if demo is not None else None
        if args.command == "ssh":
            return _run_console(settings, (args.scale_set, args.instance_id, args.resource_group), identity)
        return _run_console(settings, None, identity)
    finally:
        if demo is not None:
            demo.stop_thread()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(args)
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except FleetError as exc:
        print(f"{PROG}: {exc.one_line()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:  # --help, or a sub-tool that exits
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BrokenPipeError:
        return 1  # the reader went away (`| head`): nothing worth saying
    except Exception as exc:  # the last resort: still one line, never a traceback
        text = " ".join(str(exc).split()) or type(exc).__name__
        print(f"{PROG}: unexpected error: {type(exc).__name__}: {text} (please report it)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
