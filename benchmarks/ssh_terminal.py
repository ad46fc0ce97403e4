"""The embedded SSH terminal against a real OpenSSH server on loopback.

    python benchmarks/ssh_terminal.py [--mb 50] [--samples 100]

Measures, with the console's SshSessionPane running headless (App.run_test) in this process:
  key to echo       a key event posted to the app -> the echoed character parsed into the
                    screen (`parsed`) and its row repainted by Textual (`painted`); p50/p95/max.
                    Baseline: the same round trip with a bare asyncssh PTY session (no UI).
  throughput        `cat` of a FILE of log lines and `yes | head -c N` in the embedded terminal,
                    until the final prompt is on screen, vs the system `ssh` client with a PTY
                    (-tt) and without (-T) writing into /dev/null; CPU seconds of this process,
                    the worst event-loop stall seen by a 5 ms heartbeat, and the share of the
                    output the flood fast path skipped.
  during a flood    key-to-echo in a second session while the first one runs `yes` without
                    end, and ctrl+c in the flooding session until its prompt is back.

Needs /usr/sbin/sshd (openssh-server) and root. Not run by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncssh  # noqa: E402
from textual import events  # noqa: E402
from textual.app import App, ComposeResult  # noqa: E402

from vmss_tui.domain.ssh_target import SshTarget  # noqa: E402
from vmss_tui.ssh.known_hosts import KnownHosts  # noqa: E402
from vmss_tui.ssh.settings import SshSettings  # noqa: E402
from tests.support.sshd import ThrowawaySshd  # noqa: E402
from vmss_tui.ui.ssh_pane import CONNECTED, SshSessionPane  # noqa: E402

SIZE = (160, 48)


class Heartbeat:
    """The longest gap between 5 ms ticks: how long the event loop was blocked."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            self.worst = max(self.worst, now - last - 0.005)
            last = now

    def __enter__(self) -> Heartbeat:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ms(values: list[float]) -> str:
    return (f"p50 {statistics.median(values) * 1000:6.1f} ms  p95 {pct(values, 0.95) * 1000:6.1f} ms  "
            f"max {max(values) * 1000:6.1f} ms")


class BenchApp(App[None]):
    def __init__(self, targets: list[SshTarget], settings: SshSettings) -> None:
        super().__init__()
        self.targets, self.settings = targets, settings

    def compose(self) -> ComposeResult:
        for index, target in enumerate(self.targets):
            yield SshSessionPane(target, self.settings, id=f"pane{index}")


async def wait_until(predicate: Callable[[], bool], within: float = 120.0, step: float = 0.0005) -> None:
    deadline = time.perf_counter() + within
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step timed out")
        await asyncio.sleep(step)


def cursor_row(pane: SshSessionPane) -> str:
    screen = pane.terminal.emulator.screen
    return pane.terminal.emulator.display()[screen.cursor.y]


class Watch:
    """When the echo reached the screen model (after a parse slice) and when Textual repainted
    rows of the terminal afterwards (render_line calls)."""

    def __init__(self, pane: SshSessionPane) -> None:
        self.renders: list[float] = []
        self.parsed_at: float | None = None
        self.expect: tuple[str, str] | None = None  # (row before, char)
        terminal = pane.terminal
        render_line = terminal.render_line
        process = terminal.emulator.process

        def watched_render_line(y: int) -> Any:
            self.renders.append(time.perf_counter())
            return render_line(y)

        def watched_process(budget: float = 0.008) -> bool:
            more = process(budget)
            if self.expect is not None and self.parsed_at is None:
                row = cursor_row(pane)
                if row.endswith(self.expect[1]) and row != self.expect[0]:
                    self.parsed_at = time.perf_counter()
            return more

        terminal.render_line = watched_render_line  # type: ignore[method-assign]
        terminal.emulator.process = watched_process  # type: ignore[method-assign]


async def key_to_echo(app: App[None], pane: SshSessionPane, samples: int) -> tuple[list[float], list[float]]:
    watch = Watch(pane)
    parsed: list[float] = []
    painted: list[float] = []
    rng = random.Random(1)
    for i in range(samples):
        char = rng.choice(string.ascii_lowercase)
        watch.expect, watch.parsed_at = (cursor_row(pane), char), None
        started = time.perf_counter()
        pane.terminal.post_message(events.Key(char, char))
        await wait_until(lambda: watch.parsed_at is not None)
        parsed_at = watch.parsed_at
        assert parsed_at is not None
        await wait_until(lambda parsed_at=parsed_at: bool(watch.renders) and watch.renders[-1] >= parsed_at)
        parsed.append(parsed_at - started)
        painted.append(next(t for t in watch.renders if t >= parsed_at) - started)
        watch.expect = None
        if i % 40 == 39:  # keep the line short: ctrl+u clears it
            pane.terminal.send_bytes(b"\x15")
            await wait_until(lambda: cursor_row(pane).endswith("#"))
    pane.terminal.send_bytes(b"\x15")
    return parsed, painted


async def raw_round_trip(server: ThrowawaySshd, samples: int) -> list[float]:
    async with asyncssh.connect("127.0.0.1", server.port, username=server.user, client_keys=[server.client_key],
                                known_hosts=None, config=None, agent_path=None) as conn:
        process = await conn.create_process(term_type="xterm-256color", term_size=SIZE, encoding=None)
        await asyncio.sleep(0.5)
        await process.stdout.read(65536)
        times: list[float] = []
        for i in range(samples):
            started = time.perf_counter()
            process.stdin.write(b"x")
            await process.stdout.readexactly(1)
            times.append(time.perf_counter() - started)
            if i % 40 == 39:
                process.stdin.write(b"\x15")
                await asyncio.sleep(0.05)
                await process.stdout.read(65536)
        process.close()
        return times


async def run_in_pane(pane: SshSessionPane, command: str) -> tuple[float, float, float, float]:
    """Run `command` and wait until the marker line and the prompt after it are on screen and
    everything is parsed. Returns (seconds, CPU seconds, worst stall, skipped share)."""
    emulator = pane.terminal.emulator
    skipped_before = emulator.skipped_chars
    received_before = emulator._received
    marker = f"__done_{random.randrange(1 << 30)}__"
    cpu = time.process_time()
    with Heartbeat() as beat:
        started = time.perf_counter()
        pane.terminal.send_bytes(f"{command}; echo {marker}\r".encode())
        # Cheap checks first: reading the whole screen every poll would cost more than the work.
        await wait_until(lambda: emulator.pending == 0 and cursor_row(pane).endswith("#")
                         and marker in emulator.display(), step=0.01)
        elapsed = time.perf_counter() - started
    skipped = (emulator.skipped_chars - skipped_before) / max(emulator._received - received_before, 1)
    return elapsed, time.process_time() - cpu, beat.worst, skipped


def system_ssh(server: ThrowawaySshd, known_hosts: Path, command: str, pty: bool) -> float:
    argv = ["ssh", "-tt" if pty else "-T", "-p", str(server.port), "-i", server.client_key,
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "BatchMode=yes", f"{server.user}@127.0.0.1", command]
    started = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL if not pty else None, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def write_log_file(path: Path, size: int) -> None:
    rng = random.Random(7)
    with path.open("w") as handle:
        written = 0
        i = 0
        while written < size:
            line = (f"2026-05-01T12:{i % 60:02d}:{i % 59:02d}Z web{i % 9} nginx[{1000 + i % 97}]: GET /api/v1/"
                    f"items/{i} 200 {rng.randint(100, 99999)} \"{'x' * rng.randint(5, 40)}\"\n")
            handle.write(line)
            written += len(line)
            i += 1


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--samples", type=int, default=100)
    args = parser.parse_args()
    size = int(args.mb * 1e6)
    work = Path(tempfile.mkdtemp(prefix="vmss-ssh-bench-"))
    server = ThrowawaySshd(work / "sshd")
    await server.start()
    data_file = work / "log.txt"
    write_log_file(data_file, size)
    known_hosts = work / "known_hosts"
    KnownHosts(known_hosts).add("127.0.0.1", server.port, server.host_public_key())
    settings = SshSettings(identity_file=server.client_key, known_hosts=known_hosts, use_agent=False,
                           use_default_keys=False)
    target = SshTarget(host="127.0.0.1", port=server.port, username=server.user, label="bench",
                       scale_set="bench", instance_id="0")
    print(f"OpenSSH sshd on 127.0.0.1:{server.port}; terminal {SIZE[0]}x{SIZE[1]}; {os.cpu_count()} CPUs")
    try:
        raw = await raw_round_trip(server, args.samples)
        print(f"\nkey to echo, bare asyncssh PTY (no UI)      {ms(raw)}")
        app = BenchApp([target, target], settings)
        async with app.run_test(size=SIZE):
            panes = [app.query_one("#pane0", SshSessionPane), app.query_one("#pane1", SshSessionPane)]
            await wait_until(lambda: all(p.state == CONNECTED for p in panes), within=20)
            for pane in panes:
                await wait_until(lambda pane=pane: cursor_row(pane).endswith("#"), within=20)
            parsed, painted = await key_to_echo(app, panes[0], args.samples)
            print(f"key to echo, embedded terminal, parsed     {ms(parsed)}")
            print(f"key to echo, embedded terminal, painted    {ms(painted)}")

            print(f"\nthroughput ({args.mb:g} MB)                 seconds    MB/s   CPU s  worst stall  skipped")
            for label, command in (("cat log file", f"cat {data_file}"),
                                   ("yes | head -c", f"yes | head -c {size}")):
                for pty in (False, True):
                    seconds = await asyncio.to_thread(system_ssh, server, known_hosts, command, pty)
                    name = f"system ssh {'-tt' if pty else '-T '} {label}"
                    print(f"  {name:38} {seconds:7.2f} {args.mb / seconds:7.1f}")
                seconds, cpu, stall, skipped = await run_in_pane(panes[0], command)
                print(f"  {'embedded terminal ' + label:38} {seconds:7.2f} {args.mb / seconds:7.1f} {cpu:7.2f}"
                      f" {stall * 1000:9.0f} ms {skipped:8.1%}")

            # Key to echo in session 2 while session 1 floods without end.
            flooding, typing = panes
            flooding.terminal.send_bytes(b"yes\r")
            await asyncio.sleep(1.0)
            with Heartbeat() as beat:
                parsed, painted = await key_to_echo(app, typing, args.samples)
            print(f"\nduring a flood in another tab: parsed      {ms(parsed)}")
            print(f"during a flood in another tab: painted     {ms(painted)}")
            print(f"worst event-loop stall during the flood    {beat.worst * 1000:.0f} ms")
            started = time.perf_counter()
            flooding.terminal.post_message(events.Key("ctrl+c", "\x03"))
            await wait_until(lambda: cursor_row(flooding).endswith("#")
                             and flooding.terminal.emulator.pending == 0, step=0.002)
            print(f"ctrl+c in the flooding tab -> prompt       {(time.perf_counter() - started) * 1000:.0f} ms")
            for pane in panes:
                await pane.close()
    finally:
        await server.stop()


if __name__ == "__main__":
    asyncio.run(main())
