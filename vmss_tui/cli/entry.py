"""The `vmss-tui` entry point: the console, `get`, `ssh` and `sim`.

Every failure ends as one line on stderr, "vmss-tui: <what> (<what to do>)", and a non-zero exit
(2 for usage, 1 for failures, 3 for a partial `get`, 130 for Ctrl-C); never a traceback. `get` never imports Textual.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from vmss_tui.azure.errors import FleetError
from vmss_tui.azure.fleet import ConnectionSettings

PROG = "vmss-tui"
ENV_ENDPOINT = "VMSS_TUI_ARM_ENDPOINT"
ENV_SUBSCRIPTION = "AZURE_SUBSCRIPTION_ID"
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
    from vmss_tui.cli.get import configure_get_parser

    configure_get_parser(get)
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


# ---------------------------------------------------------------- console


def _run_console(
    settings: ConnectionSettings,
    ssh_target: tuple[str, str, str | None] | None,
    ssh_identity_file: Path | None = None,
) -> int:
    from vmss_tui.ui.app import run_console

    identity = str(ssh_identity_file) if ssh_identity_file is not None else None
    return int(run_console(settings, ssh_target=ssh_target, ssh_identity_file=identity) or 0)


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
            arm_endpoint=demo.endpoint, subscription_id=demo.subscription_id, read_only=settings.read_only,
            bearer_token=demo.bearer_token,
        )
    try:
        if args.command == "get":
            if demo is None:
                settings = with_config_subscription(settings)
            from vmss_tui.cli.get import run_get

            if demo is not None:
                args.demo_identity_file = demo.ssh_client_key_path  # `get disks --guest` logs in with it
            return run_get(settings, args)
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
