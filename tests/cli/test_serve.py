"""`vmss-tui serve` without a browser: what each tab's console is started with (no secret on its
command line), loopback by default and a warning for any other address, the page's own origin
only, and one line for every way it cannot start."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
from contextlib import suppress
from pathlib import Path

import aiohttp
import pytest

from tests.support.serving import WAIT, serve_argv, served
from vmss_tui.cli.serve import (
    allowed_origins,
    configure_serve_parser,
    console_command,
    host_warning,
    public_url_for,
)

needs_textual_serve = pytest.mark.skipif(
    importlib.util.find_spec("textual_serve") is None,
    reason="textual-serve is not installed (pip install 'vmss-tui[serve]')")


def serve_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_serve_parser(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"])
def test_loopback_needs_no_warning(host: str) -> None:
    assert host_warning(host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "myhost.example"])
def test_any_other_address_is_warned_about(host: str) -> None:
    warning = host_warning(host)
    assert warning is not None and host in warning and "credentials" in warning


def test_the_defaults_are_loopback_port_8000() -> None:
    args = serve_args()
    assert (args.host, args.port, args.public_url) == ("127.0.0.1", 8000, None)
    assert public_url_for(args.host, args.port, None) == "http://127.0.0.1:8000"
    assert public_url_for("::1", 9000, None) == "http://[::1]:9000"
    assert public_url_for("0.0.0.0", 9000, "https://console.example/") == "https://console.example"


def test_only_the_pages_own_origins_may_open_a_console() -> None:
    origins = allowed_origins("http://127.0.0.1:8123", 8123)
    assert {"http://127.0.0.1:8123", "http://localhost:8123", "http://[::1]:8123"} <= origins
    assert "http://127.0.0.1:8124" not in origins and "http://attacker.example" not in origins
    behind_proxy = allowed_origins("https://console.example", 8123)
    assert behind_proxy == {"https://console.example"}


def test_each_tab_runs_the_console_with_the_flags_serve_was_given() -> None:
    args = argparse.Namespace(arm_endpoint="https://management.example", subscription="sub-1", read_only=True,
                              all_subscriptions=True, console_identity_file="/keys/id", log_file=None)
    argv = __import__("shlex").split(console_command(args))
    assert argv[:4] == [sys.executable, "-P", "-m", "vmss_tui"]
    assert argv[4:] == ["--arm-endpoint", "https://management.example", "--subscription", "sub-1", "--read-only",
                        "--all-subscriptions", "--identity-file", "/keys/id"]
    # a path with a space stays one word for the shell textual-serve runs it with
    spaced = console_command(argparse.Namespace(), identity_file="/tmp/my keys/id")
    assert __import__("shlex").split(spaced)[-2:] == ["--identity-file", "/tmp/my keys/id"]


def test_without_textual_serve_it_says_what_to_install() -> None:
    probe = ("import sys\nsys.modules['textual_serve'] = None  # as if it were not installed\n"
             "sys.modules['textual_serve.server'] = None\n"
             "from vmss_tui.cli.serve import run_serve\nimport argparse\n"
             "sys.exit(run_serve(argparse.Namespace(host='127.0.0.1', port=0, public_url=None, demo=False)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 1
    assert done.stderr.strip() == ("vmss-tui: serve needs textual-serve (textual_serve.server): "
                                   "pip install 'vmss-tui[serve]'")


def run_serve_briefly(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(serve_argv(*argv), capture_output=True, text=True, timeout=WAIT)


def test_a_bad_port_is_one_usage_line() -> None:
    done = run_serve_briefly("--port", "70000")
    assert done.returncode == 2
    assert "--port '70000': give a whole number from 0 (any free port) to 65535" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@needs_textual_serve
def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_serve_briefly("--port", str(port))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(f"vmss-tui: cannot listen on 127.0.0.1:{port}: ")
    assert "Traceback" not in done.stderr


@needs_textual_serve
def test_any_address_but_loopback_is_warned_about_at_start() -> None:
    process = subprocess.Popen(serve_argv("--host", "0.0.0.0", "--port", "0", "--public-url", "http://127.0.0.1:1"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert process.stderr is not None and process.stdout is not None
        warning = process.stderr.readline()
        started = process.stdout.readline()
        assert warning.startswith("vmss-tui: warning: serving on 0.0.0.0: anyone who can reach it")
        assert "serving the console on http://127.0.0.1:1" in started
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=WAIT)


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry.name))
    return found


def consoles_of(server_pid: int) -> dict[int, tuple[str, dict[str, str]]]:
    """The processes the server started (textual-serve runs the command through a shell), each
    with its command line and environment as /proc has them."""
    found: dict[int, tuple[str, dict[str, str]]] = {}
    for shell in children_of(server_pid):
        for pid in (shell, *children_of(shell)):
            with suppress(OSError):
                line = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
                found[pid] = (line, dict(item.split("=", 1) for item in environ if "=" in item))
    return found


def has_proc() -> bool:
    return Path("/proc/self/cmdline").exists()


@needs_textual_serve
async def test_the_demo_token_reaches_each_console_through_its_environment_only() -> None:
    if not has_proc():
        pytest.skip("needs /proc to read the consoles' command lines")
    async with served("--demo") as (url, server), aiohttp.ClientSession() as session:
        async with session.ws_connect(url.replace("http://", "ws://") + "/ws?width=100&height=30", origin=url) as ws:
            await asyncio.wait_for(ws.receive(), WAIT)  # a console is running for this "tab"
            processes = consoles_of(server.pid)
            commands = {pid: line for pid, (line, _) in processes.items()}
            console = next(pid for pid, line in commands.items()
                           if re.search(r"-m vmss_tui\b", line) and not line.startswith(("/bin/sh", "sh ")))
            token = processes[console][1]["VMSS_TUI_ARM_TOKEN"]
            assert len(token) >= 20
            assert all(token not in line for line in commands.values()), commands
            assert "--arm-endpoint http://127.0.0.1:" in commands[console]
            assert "--identity-file " in commands[console]
