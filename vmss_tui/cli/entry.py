"""The `vmss-tui` entry point: the console, `get`, `ssh`, `rollout`, `serve`, `completion` and `sim`.

Every failure ends as one line on stderr, "vmss-tui: <what> (<what to do>)", and a non-zero exit
(2 for usage, 1 for failures, 3 for a partial `get`, 130 for Ctrl-C, 128 + N when stopped by
signal N); never a traceback. `get` never imports Textual.

Every value a person gives (flags, environment variables, the config file) is checked before
anything runs, and a bad one is named with where it came from and what is allowed:
"vmss-tui: VMSS_TUI_ARM_ENDPOINT (environment) 'htp://x': ...". SIGTERM and SIGHUP stop the
program as a quit would: the console restores the terminal, and the demo simulator removes its
key directory on the way out.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from vmss_tui.azure.credentials import LOOPBACK_TOKEN_ENV, is_loopback
from vmss_tui.azure.errors import FleetError
from vmss_tui.azure.fleet import ConnectionSettings

PROG = "vmss-tui"
ENV_ENDPOINT = "VMSS_TUI_ARM_ENDPOINT"
ENV_SUBSCRIPTION = "AZURE_SUBSCRIPTION_ID"
ENV_TOKEN = LOOPBACK_TOKEN_ENV
ENV_TEXTUAL_LOG = "TEXTUAL_LOG"  # Textual's own debug log (it writes there on every event)
DEMO_SPEED = 1.0  # simulated seconds per real second under --demo
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

# Options that may come before or after the sub-command, and whether they take a value.
GLOBAL_OPTIONS = {"--arm-endpoint": True, "--subscription": True, "--read-only": False, "--demo": False,
                  "--log-file": True, "-v": False, "--verbose": False,
                  "-i": True, "--identity-file": True, "--all-subscriptions": False}
CONSOLE_COMMANDS = (None, "ssh", "rollout")  # the commands that start the console in this terminal
DEMO_ALL_SUBSCRIPTIONS = 6  # --demo --all-subscriptions: the demo fleet and five small ones

ENDPOINT_ALLOWED = "https://host[:port], or http://127.0.0.1:PORT for the simulator"
NAME_ALLOWED = "letters, digits, '.', '_' and '-', starting with a letter, digit or '_', at most 80"
GROUP_ALLOWED = "letters, digits, '.', '_', '-', '(' and ')', at most 90, not ending with '.'"
_RESOURCE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,79}$")
_GROUP_NAME = re.compile(r"^[\w.()-]{0,89}[\w()-]$")


class UsageError(Exception):
    """Bad command line (or environment, or config value): exit code 2."""


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived while no console was running (a BaseException, like
    KeyboardInterrupt, so that no `except Exception` on the way swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


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
    group.add_argument("--log-file", metavar="PATH", default=argparse.SUPPRESS,
                       help="append the app's own log to PATH: ARM requests, SSH connection events, "
                            "errors with tracebacks; tokens and passwords redacted")
    group.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="debug records too (in --log-file; `get` without --log-file: on stderr)")


def _add_identity_option(parser: argparse.ArgumentParser) -> None:
    """The console's own options (the console, `ssh`, `rollout`, `serve`)."""
    # Its own dest: `get disks` has an -i of its own, which must not overwrite this one.
    parser.add_argument("-i", "--identity-file", metavar="PATH", dest="console_identity_file",
                        default=argparse.SUPPRESS,
                        help="SSH private key the sessions try first (after it: [ssh] identity_file, "
                             "ssh-agent, ~/.ssh/id_*)")
    parser.add_argument("--all-subscriptions", action="store_true", default=argparse.SUPPRESS,
                        help="list the scale sets of every subscription the credential can see, through "
                             "Azure Resource Graph (config: all_subscriptions = true)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Keyboard-first console for Azure Virtual Machine Scale Sets. "
        "Without a sub-command, starts the console.",
    )
    _add_global_options(parser)
    _add_identity_option(parser)
    commands = parser.add_subparsers(dest="command", metavar="{get,ssh,rollout,serve,completion,sim}",
                                     parser_class=_Parser)

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
    _add_identity_option(ssh)
    _add_global_options(ssh)

    rollout = commands.add_parser("rollout", help="open the console in the live rollout view of a scale set",
                                  description="Open the console in the live rollout view of one scale set.")
    rollout.add_argument("scale_set", metavar="SCALE_SET")
    rollout.add_argument("-g", "--resource-group", metavar="RG")
    _add_identity_option(rollout)
    _add_global_options(rollout)

    serve = commands.add_parser("serve", help="serve the console to browser tabs (textual-serve)",
                                description="Serve the console on http://HOST:PORT; each browser tab gets "
                                            "a console of its own.")
    from vmss_tui.cli.serve import configure_serve_parser

    configure_serve_parser(serve)
    _add_identity_option(serve)
    _add_global_options(serve)

    completion = commands.add_parser("completion", help="print a shell completion script (bash or zsh)",
                                     description="Print the completion script for bash or zsh.")
    from vmss_tui.cli.completion import configure_completion_parser

    configure_completion_parser(completion)

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


# ---------------------------------------------------------------- checking what people typed


def _shown(value: str) -> str:
    """A value as the user typed it, quoted (control characters escaped, never interpreted)."""
    return repr(value)


def _shown_url(value: str) -> str:
    """An endpoint as typed, except a password in it (user:password@host)."""
    scheme, sep, rest = value.partition("://")
    netloc, slash, path = rest.partition("/")
    if sep and "@" in netloc:
        return repr(f"{scheme}://***@{netloc.rpartition('@')[2]}{slash}{path}")
    return repr(value)


def endpoint_problem(value: str) -> str | None:
    """Why `value` is not a Resource Manager endpoint URL (None: it is one)."""
    from urllib.parse import urlsplit

    if any(c.isspace() or ord(c) < 32 for c in value):
        return "has a space or a control character in it"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        return f"is not a URL ({error})"
    if not parts.scheme or "://" not in value:
        return "has no https:// in front"
    if parts.scheme not in ("http", "https"):
        return f"starts with {parts.scheme}://, not https://"
    if not parts.hostname:
        return "names no host"
    if parts.username is not None or parts.password is not None:
        return "carries a user name or password (the credential comes from `az login` or the token)"
    if port == 0:
        return "has port 0"
    if parts.query or parts.fragment:
        return "has a query or fragment (give only scheme, host and port)"
    if parts.path not in ("", "/"):
        return f"has a path ({parts.path}) (give only scheme, host and port)"
    if parts.scheme == "http" and not is_loopback(value):
        return "uses plain http to a remote host: credentials would travel unencrypted (use https://)"
    return None


def token_problem(value: str) -> str | None:
    """Why `value` cannot be sent as a bearer token. Never quotes the value: it is a secret."""
    if not value.strip():
        return "is empty"
    if not all(33 <= ord(c) < 127 for c in value):
        return "has spaces, control or non-ASCII characters (the value is not shown: it is a secret)"
    return None


def identity_file_problem(value: str) -> str | None:
    """Why `value` is not a readable SSH private key file (None: it is one)."""
    if not value.strip() or any(ord(c) < 32 for c in value):
        return "is not a file name"
    path = Path(value).expanduser()
    if not path.exists():
        return "no such file"
    if path.is_dir():
        return "is a directory, not a key file"
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as error:
        return f"cannot be read ({error.strerror or type(error).__name__})"
    text = head.decode("ascii", errors="replace").lstrip()
    if re.match(r"^(ssh-|ecdsa-|sk-)\S+ AAAA", text):
        private = path.with_suffix("") if path.suffix == ".pub" else None
        other = f": give the private key ({private})" if private and private.exists() else ": give the private key"
        return f"is a public key{other}"
    if not (text.startswith("-----BEGIN ") or text.startswith("PuTTY-User-Key-File-")):
        return "is not an SSH private key (no -----BEGIN ... PRIVATE KEY----- line)"
    return None


def _check_names(args: argparse.Namespace) -> None:
    if args.command not in ("ssh", "rollout"):
        return
    if not _RESOURCE_NAME.match(args.scale_set):
        raise UsageError(f"SCALE_SET {_shown(args.scale_set)} is not a scale set name (allowed: {NAME_ALLOWED})")
    if args.command == "ssh" and not _RESOURCE_NAME.match(args.instance_id):
        raise UsageError(f"INSTANCE_ID {_shown(args.instance_id)} is not an instance id "
                         f"(a number for Uniform scale sets, the VM name for Flexible: {NAME_ALLOWED})")
    group = args.resource_group
    if group is not None and not _GROUP_NAME.match(group):
        raise UsageError(f"-g {_shown(group)} is not a resource group name (allowed: {GROUP_ALLOWED})")


def _environ_value(name: str, environ: Mapping[str, str]) -> str | None:
    """An environment variable's value; unset and empty are the same (as shells treat them)."""
    value = environ.get(name)
    return value if value else None


def settings_from(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> ConnectionSettings:
    """Flag, else environment, each checked. (The config file's subscription comes next: `get`
    reads it in _run_get, the console in the app. Subscription precedence: flag > environment >
    config file > Azure CLI default > every listable subscription, the last two Fleet.open's.)"""
    from vmss_tui.config import subscription_problem

    env = os.environ if environ is None else environ
    endpoint = getattr(args, "arm_endpoint", None)
    endpoint_source = f"--arm-endpoint {_shown_url(endpoint)}" if endpoint is not None else None
    if endpoint is None and (endpoint := _environ_value(ENV_ENDPOINT, env)) is not None:
        endpoint_source = f"{ENV_ENDPOINT} (environment) {_shown_url(endpoint)}"
    if endpoint is not None:
        problem = endpoint_problem(endpoint)
        if problem:
            raise UsageError(f"{endpoint_source} {problem} (allowed: {ENDPOINT_ALLOWED})")

    subscription = getattr(args, "subscription", None)
    subscription_source = "--subscription"
    if subscription is None and (subscription := _environ_value(ENV_SUBSCRIPTION, env)) is not None:
        subscription_source = f"{ENV_SUBSCRIPTION} (environment)"
    if subscription is not None:
        problem = subscription_problem(subscription)
        if problem:
            raise UsageError(f"{subscription_source}: {problem}")

    token = _environ_value(ENV_TOKEN, env)
    if token is not None and (problem := token_problem(token)):
        raise UsageError(f"{ENV_TOKEN} (environment) {problem} (use the token `vmss-tui sim` printed)")
    return ConnectionSettings(
        arm_endpoint=endpoint,
        subscription_id=subscription,
        read_only=bool(getattr(args, "read_only", False)),
    )


def _given_flags(argv: Sequence[str]) -> set[str]:
    return {word.split("=", 1)[0] for word in argv if word.startswith("--")}


def _check_textual_log(environ: Mapping[str, str]) -> None:
    """Textual opens $TEXTUAL_LOG for every event it logs; one that cannot be written would
    crash the console at its first frame."""
    path = _environ_value(ENV_TEXTUAL_LOG, environ)
    if path is None:
        return
    try:
        os.close(os.open(Path(path).expanduser(), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
    except OSError as error:
        raise UsageError(f"{ENV_TEXTUAL_LOG} (environment) {_shown(path)}: cannot write it "
                         f"({error.strerror or type(error).__name__}); unset it or name a writable file") from None


def _configure_logging(args: argparse.Namespace, console: bool) -> None:
    from vmss_tui.logsetup import LOG_FORMAT, LogSetupError, RedactingFilter, configure_logging

    path = getattr(args, "log_file", None)
    verbose = bool(getattr(args, "verbose", False))
    if path is not None and (not path.strip() or any(ord(c) < 32 for c in path)):
        raise UsageError(f"--log-file {_shown(path)} is not a file name")
    if verbose and path is None and console:
        raise UsageError("-v: the console owns the terminal, so its log goes to a file: add --log-file PATH")
    try:
        configure_logging(Path(path) if path is not None else None, verbose)
    except LogSetupError as error:
        raise UsageError(f"{error} (give a file in a directory you can write)") from None
    if verbose and path is None:  # `get -v`: the log on stderr, redacted like the file
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(RedactingFilter())
        handler._vmss_tui = True  # type: ignore[attr-defined]  # configure_logging replaces it next time
        logging.getLogger().addHandler(handler)


def _identity_file(args: argparse.Namespace) -> Path | None:
    value = getattr(args, "console_identity_file", None)
    if value is None:
        return None
    problem = identity_file_problem(value)
    if problem:
        raise UsageError(f"-i {_shown(value)}: {problem} (give the path of an SSH private key, e.g. ~/.ssh/id_ed25519)")
    return Path(value).expanduser()


# ---------------------------------------------------------------- console


def _run_console(
    settings: ConnectionSettings,
    ssh_target: tuple[str, str, str | None] | None,
    ssh_identity_file: Path | None = None,
    *,
    rollout_target: tuple[str, str | None] | None = None,
    all_subscriptions: bool = False,
) -> int:
    from vmss_tui.cli.console import run_console

    identity = str(ssh_identity_file) if ssh_identity_file is not None else None
    extra: dict[str, Any] = {}  # only what was asked for: run_console's other callers know no more
    if rollout_target is not None:
        extra["rollout_target"] = rollout_target
    if all_subscriptions:
        extra["all_subscriptions"] = True
    return int(run_console(settings, ssh_target=ssh_target, ssh_identity_file=identity, **extra) or 0)


# ---------------------------------------------------------------- main


def _start_demo(subscriptions: int | None = None) -> Any:
    from vmss_tui.sim import Simulator

    # Real speed: actions take as long as Azure's (a restart shows "starting" for ~8 s while the
    # guest boots, a power-off ~19 s), slow enough to watch in the console.
    demo = Simulator(speed=DEMO_SPEED, subscriptions=subscriptions) if subscriptions else Simulator(speed=DEMO_SPEED)
    # Stop signals wait until the simulator is up (and known to the caller, who stops it):
    # arriving half-way, they would leave its key directory behind. Threads started meanwhile
    # keep them blocked, so that they are only ever handled here, in the main thread.
    with _signals_blocked():
        try:
            demo.start_in_thread()
        except BaseException:
            demo.stop_thread()
            raise
    return demo


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    wanted = {*STOP_SIGNALS, signal.SIGINT}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, wanted)
    except (AttributeError, OSError, ValueError):  # not POSIX
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _dispatch(argv: list[str]) -> int:
    command_at = _find_command(argv)
    if command_at is not None and argv[command_at] == "sim":
        from vmss_tui.sim.cli import main as sim_main

        return int(sim_main(argv[command_at + 1 :]) or 0)

    args = build_parser().parse_args(argv)
    if args.command == "completion":
        from vmss_tui.cli.completion import run_completion

        return int(run_completion(args) or 0)
    console = args.command in CONSOLE_COMMANDS
    all_subscriptions = bool(getattr(args, "all_subscriptions", False))
    if all_subscriptions and args.command == "get":
        raise UsageError("--all-subscriptions is for the console: `get` lists every subscription by itself "
                         "when no --subscription is given")
    _check_names(args)
    # Under --demo the environment's endpoint, subscription and token are not used: not checked either.
    settings = settings_from(args, {} if getattr(args, "demo", False) else None)
    identity = _identity_file(args)
    if args.command == "serve":  # it checks --demo itself and runs one simulator for every tab
        from vmss_tui.cli.serve import run_serve

        _configure_logging(args, console=False)
        return int(run_serve(args) or 0)
    if console:
        _check_textual_log(os.environ)
    if getattr(args, "demo", False):
        if getattr(args, "arm_endpoint", None):
            raise UsageError("--demo and --arm-endpoint cannot be combined (drop one of them)")
        if getattr(args, "subscription", None):
            raise UsageError("--demo uses the simulator's own subscription (drop --subscription)")
    _configure_logging(args, console)
    demo = None
    if getattr(args, "demo", False):
        demo = _start_demo(DEMO_ALL_SUBSCRIPTIONS if all_subscriptions else None)
    try:
        if demo is not None:
            settings = ConnectionSettings(
                arm_endpoint=demo.endpoint, subscription_id=demo.subscription_id, read_only=settings.read_only,
                bearer_token=demo.bearer_token,
            )
        if args.command == "get":
            return _run_get(settings, args, demo, identity, _given_flags(argv))
        if identity is None and demo is not None:
            identity = demo.ssh_client_key_path
        if args.command == "ssh":
            return _run_console(settings, (args.scale_set, args.instance_id, args.resource_group), identity,
                                all_subscriptions=all_subscriptions)
        if args.command == "rollout":
            return _run_console(settings, None, identity, rollout_target=(args.scale_set, args.resource_group),
                                all_subscriptions=all_subscriptions)
        return _run_console(settings, None, identity, all_subscriptions=all_subscriptions)
    finally:
        if demo is not None:
            demo.stop_thread()


def _run_get(settings: ConnectionSettings, args: argparse.Namespace, demo: Any, identity: Path | None,
             flags: set[str]) -> int:
    from vmss_tui.cli.get import run_get
    from vmss_tui.config import Config, SettingSources, load_config, sources_of

    sources = SettingSources()
    if demo is None:
        config = Config()
        if not settings.subscription_id:  # the config file's comes next (the Azure CLI's after it)
            config = load_config()  # light: tomllib + platformdirs, never Textual
            for problem in config.problems:  # a malformed file: say so, go on with what could be read
                _say(f"{PROG}: warning: {problem}")
        sources = sources_of(endpoint=settings.arm_endpoint, subscription=settings.subscription_id, config=config,
                             environ=os.environ, endpoint_env=ENV_ENDPOINT, subscription_env=ENV_SUBSCRIPTION,
                             flags=flags)
        if config.subscription and not settings.subscription_id:
            settings = replace(settings, subscription_id=config.subscription)
    else:
        args.demo_identity_file = demo.ssh_client_key_path  # `get disks --guest` logs in with it
    if identity is not None and not getattr(args, "identity_file", None):
        args.identity_file = str(identity)  # `vmss-tui -i KEY get disks --guest`
    try:
        return run_get(settings, args)
    except FleetError as error:
        error.hint = sources.hint(error.hint)
        raise


def _say(line: str) -> None:
    """One line on stderr; a terminal that is gone (SIGHUP) is no reason for a traceback."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _stop_on_signal(signum: int, frame: Any) -> None:
    raise Terminated(signum)


@contextlib.contextmanager
def _stop_signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP raise Terminated, so that `finally` blocks run (the demo's key
    directory is removed). The console replaces these handlers while it runs."""
    previous: dict[int, Any] = {}
    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, _stop_on_signal)
    except ValueError:  # not the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with _stop_signals_raise():
            code = _dispatch(args)
        if code > 128 and code - 128 in (*STOP_SIGNALS, signal.SIGINT):
            _say(f"{PROG}: stopped by {signal.Signals(code - 128).name}")
        return code
    except UsageError as exc:
        _say(f"{PROG}: {exc}")
        return 2
    except FleetError as exc:
        _say(f"{PROG}: {exc.one_line()}")
        return 1
    except Terminated as exc:
        _say(f"{PROG}: stopped by {signal.Signals(exc.signum).name}")
        return 128 + exc.signum
    except KeyboardInterrupt:
        _say(f"{PROG}: interrupted")
        return 130
    except SystemExit as exc:  # --help, or a sub-tool that exits
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BrokenPipeError:
        return 1  # the reader went away (`| head`): nothing worth saying
    except Exception as exc:  # the last resort: still one line, never a traceback
        text = " ".join(str(exc).split()) or type(exc).__name__
        _say(f"{PROG}: unexpected error: {type(exc).__name__}: {text} (please report it)")
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
