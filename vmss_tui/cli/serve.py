"""`vmss-tui serve`: the console in browser tabs, through textual-serve.

Each browser tab that opens the page gets a console of its own: textual-serve starts
`python -m vmss_tui ...` with the connection flags `serve` was given and relays its screen and
keys over a websocket. With --demo, `serve` runs one simulator that every tab's console uses.

Anyone who can open the page gets a console with this user's Azure credentials, so the server
listens on loopback unless told otherwise (and then says so), and a websocket whose Origin is not
this server's own page is refused (a web page elsewhere cannot drive the console through the
browser: cross-site WebSocket hijacking, DNS rebinding).

textual-serve (with aiohttp-jinja2 and Jinja2) is optional, `pip install 'vmss-tui[serve]'`:
importing it costs ~0.5 s here, so only this sub-command does.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import shlex
import socket
import sys
from typing import Any
from urllib.parse import urlsplit

PROG = "vmss-tui"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
TITLE = "vmss-tui"
INSTALL_HINT = "pip install 'vmss-tui[serve]'"
TOKEN_ENV = "VMSS_TUI_ARM_TOKEN"  # the demo simulator's token reaches each tab's console here, never argv
DEMO_SUBSCRIPTIONS = 6  # --demo --all-subscriptions: the demo fleet and five small ones


class ServeError(Exception):
    """A bad flag or a server that cannot start: one line, exit code 2 (usage) or 1."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"--port {text!r}: give a whole number from 0 (any free port) to 65535")
    return value


def configure_serve_parser(parser: argparse.ArgumentParser) -> None:
    """`serve`'s own flags (the connection flags come from the entry point)."""
    parser.add_argument("--host", default=DEFAULT_HOST, metavar="ADDRESS",
                        help=f"address to listen on (default {DEFAULT_HOST}; any other address lets others "
                             "reach a console with your credentials)")
    parser.add_argument("--port", type=_port, default=DEFAULT_PORT, metavar="N",
                        help=f"TCP port (default {DEFAULT_PORT}; 0: any free port)")
    parser.add_argument("--public-url", metavar="URL",
                        help="the address browsers open, when it is not http://ADDRESS:PORT (a proxy, a DNS name)")


# ---------------------------------------------------------------------- addresses


def is_loopback_host(host: str) -> bool:
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_warning(host: str) -> str | None:
    """What to say when the server is reachable from beyond this machine."""
    if is_loopback_host(host):
        return None
    return (f"{PROG}: warning: serving on {host}: anyone who can reach it gets a console with your Azure "
            "credentials (no login, no TLS); prefer --host 127.0.0.1 and an SSH tunnel")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def public_url_for(host: str, port: int, public_url: str | None) -> str:
    """The page's own address (its websocket URL is made from it)."""
    if public_url:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServeError(f"--public-url {public_url!r}: give an http:// or https:// URL with a host")
        return public_url.rstrip("/")
    if host in ("0.0.0.0", "::", ""):
        host = socket.getfqdn() or "localhost"  # a wildcard address is no address a browser can open
    return f"http://{_url_host(host)}:{port}"


def allowed_origins(public_url: str, port: int) -> frozenset[str]:
    """The origins of pages this server serves: its public URL's, and on loopback each of the
    names of this machine's loopback."""
    parts = urlsplit(public_url)
    default_port = 443 if parts.scheme == "https" else 80
    origin = f"{parts.scheme}://{parts.netloc}".casefold()
    origins = {origin}
    if parts.port in (None, default_port):
        origins.add(f"{parts.scheme}://{parts.hostname}".casefold())
    if parts.hostname and is_loopback_host(parts.hostname):
        origins |= {f"http://{name}:{port}" for name in ("localhost", "127.0.0.1", "[::1]")}
    return frozenset(origins)


def free_port(host: str) -> int:
    """A port free on `host` now (for --port 0)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host.strip("[]"), 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------------- the console each tab runs


def console_command(args: argparse.Namespace, *, endpoint: str | None = None, subscription: str | None = None,
                    identity_file: str | None = None) -> str:
    """The shell command textual-serve runs for each tab: this Python, this package, the
    connection flags `serve` was given (secrets never: a token goes through the environment)."""
    argv = [sys.executable, "-P", "-m", "vmss_tui"]  # -P: not whatever `vmss_tui` the working directory holds
    endpoint = endpoint or getattr(args, "arm_endpoint", None)
    subscription = subscription or getattr(args, "subscription", None)
    if endpoint:
        argv += ["--arm-endpoint", endpoint]
    if subscription:
        argv += ["--subscription", subscription]
    if getattr(args, "read_only", False):
        argv.append("--read-only")
    if getattr(args, "all_subscriptions", False):
        argv.append("--all-subscriptions")
    identity_file = identity_file or getattr(args, "console_identity_file", None)
    if identity_file:
        argv += ["--identity-file", str(identity_file)]
    log_file = getattr(args, "log_file", None)
    if log_file:
        argv += ["--log-file", str(log_file)]
        if getattr(args, "verbose", False):
            argv.append("-v")
    return shlex.join(argv)


def _server_class() -> Any:
    """textual-serve's Server with this console's start-up line, logging and Origin check."""
    from aiohttp import web
    from textual_serve.server import Server

    class ConsoleServer(Server):  # type: ignore[misc]
        def __init__(self, command: str, *, host: str, port: int, public_url: str,
                     origins: frozenset[str], started: str) -> None:
            super().__init__(command, host=host, port=port, title=TITLE, public_url=public_url)
            self.origins = origins
            self.started = started

        def initialize_logging(self) -> None:
            # textual-serve's problems (a console that failed to start) on stderr, one line each;
            # not its banner nor a log line per request.
            import logging

            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(f"{PROG} serve: %(message)s"))
            served = logging.getLogger("textual-serve")
            served.addHandler(handler)
            served.setLevel(logging.WARNING)
            served.propagate = False

        async def on_startup(self, app: web.Application) -> None:
            """Not textual-serve's banner: `started` is printed once the port listens (`serve`)."""

        def serve(self, debug: bool = False) -> None:
            # textual-serve's own serve() says nothing once the socket listens (its startup hook
            # runs before the bind); this one does, so whoever waits for the line can connect.
            import asyncio
            import signal

            self.debug = debug
            self.initialize_logging()
            loop = asyncio.new_event_loop()
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(number, self.request_exit)
            try:
                web.run_app(self._make_app(), host=self.host, port=self.port, handle_signals=False, loop=loop,
                            access_log=None, print=lambda *_: print(self.started, flush=True))
            finally:
                loop.close()

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            origin = request.headers.get("Origin")
            # Browsers always send Origin on a websocket handshake: one from a page that is not
            # ours is another site trying to drive the console through the browser.
            if origin is not None and origin.casefold() not in self.origins:
                raise web.HTTPForbidden(text=f"{PROG}: websocket from origin {origin!r} refused\n")
            return await super().handle_websocket(request)

    return ConsoleServer


# ---------------------------------------------------------------------- main


def run_serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; returns the exit code."""
    try:
        return _serve(args)
    except ServeError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return error.exit_code


def _serve(args: argparse.Namespace) -> int:
    host = str(args.host).strip()
    if not host:
        raise ServeError("--host '': give an address to listen on, such as 127.0.0.1")
    try:
        server_class = _server_class()
    except ImportError as error:
        raise ServeError(f"serve needs textual-serve ({error.name or error}): {INSTALL_HINT}", exit_code=1) from None
    demo = None
    if getattr(args, "demo", False):
        if getattr(args, "arm_endpoint", None):
            raise ServeError("--demo and --arm-endpoint cannot be combined (drop one of them)")
        if getattr(args, "subscription", None):
            raise ServeError("--demo uses the simulator's own subscription (drop --subscription)")
    try:
        port = args.port or free_port(host)
    except OSError as error:
        raise ServeError(f"cannot listen on {host}: {error.strerror or error} (check --host)", exit_code=1) from None
    public_url = public_url_for(host, port, getattr(args, "public_url", None))
    warning = host_warning(host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    try:
        if getattr(args, "demo", False):
            from vmss_tui.cli.entry import DEMO_SPEED
            from vmss_tui.sim import Simulator

            # One simulator for every tab's console; several subscriptions when they are all listed.
            subscriptions = DEMO_SUBSCRIPTIONS if getattr(args, "all_subscriptions", False) else None
            demo = Simulator(speed=DEMO_SPEED, subscriptions=subscriptions).start_in_thread()
            os.environ[TOKEN_ENV] = demo.bearer_token
            key = demo.ssh_client_key_path
            command = console_command(args, endpoint=demo.endpoint, subscription=demo.subscription_id,
                                      identity_file=str(key) if key else None)
        else:
            command = console_command(args)
        started = (f"{PROG}: serving the console on {public_url} (each browser tab gets a console of its own; "
                   "Ctrl-C stops)")
        server = server_class(command, host=host, port=port, public_url=public_url,
                              origins=allowed_origins(public_url, port), started=started)
        try:
            server.serve()
        except OSError as error:
            raise ServeError(f"cannot listen on {_url_host(host)}:{port}: {error.strerror or error} "
                             "(pick another --port, or 0 for any free one)", exit_code=1) from None
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        if demo is not None:
            demo.stop_thread()
