"""The embedded SSH terminal against a real OpenSSH server on loopback, before and after.

    python benchmarks/ssh_terminal.py [--mb 50] [--redraw-mb 5] [--samples 100] [--repeat 3]
                                      [--baseline REV | --baseline none]

Runs every figure with the terminal widget of git revision REV (default HEAD: `before`) and with
the one in the work tree (`after`), alternately in one process, `--repeat` times, and prints the
median and the range of each. With the console's SshSessionPane running headless (App.run_test):
  key to echo       a key event posted to the app -> the echoed character parsed into the
                    screen (`parsed`) and its row repainted by Textual (`painted`); p50/p95.
                    Floor: the same round trip with a bare asyncssh PTY session (no UI).
  throughput        in the embedded terminal, until the final prompt is on screen: `cat` of a
                    log file, `yes | head -c N`, `cat` of a colour-heavy file (SGR every word,
                    like `ls --color` / `grep --color`) and of full-screen redraws in the
                    alternate screen (as top(1) sends them, and a clear plus cursor addressing
                    every row: benchmarks/ssh_parse.py's `top` and `redraw`); vs the system
                    `ssh` client with a PTY (-tt) and without (-T) writing into /dev/null (those
                    include the connection set-up, ~0.3 s here). With
                    CPU seconds of this process, the worst event-loop stall seen by a 5 ms
                    heartbeat, and the share of the output the flood fast path skipped.
  during a flood    key-to-echo in a second session while the first one runs `yes` without
                    end, and ctrl+c in the flooding session until its prompt is back.
Ends with the table of the issue's figures, before / after.

Needs /usr/sbin/sshd (openssh-server) and root. Not run by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
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

from benchmarks.ssh_parse import stream  # noqa: E402
from tests.support.sshd import ThrowawaySshd  # noqa: E402
from vmss_tui.domain.ssh_target import SshTarget  # noqa: E402
from vmss_tui.ssh.known_hosts import KnownHosts  # noqa: E402
from vmss_tui.ssh.settings import SshSettings  # noqa: E402
from vmss_tui.ui import ssh_pane, terminal  # noqa: E402
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
            raise TimeoutError(f"benchmark step timed out after {within:g} s")
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
        try:
            await wait_until(lambda: emulator.pending == 0 and cursor_row(pane).endswith("#")
                             and any(marker == line for line in emulator.display()), step=0.01)
        except TimeoutError:
            print(f"  {command!r} did not end on the screen expected:")
            describe_stuck(pane)
            raise
        elapsed = time.perf_counter() - started
    skipped = (emulator.skipped_chars - skipped_before) / max(emulator._received - received_before, 1)
    pane.terminal.send_bytes(b"clear\r")
    await wait_until(lambda: emulator.pending == 0 and emulator.screen.cursor.y == 0
                     and cursor_row(pane).endswith("#"), step=0.01)
    return elapsed, time.process_time() - cpu, beat.worst, skipped


def describe_stuck(pane: SshSessionPane) -> None:
    """What a step that timed out left behind, for the report."""
    terminal, emulator = pane.terminal, pane.terminal.emulator
    channel = getattr(pane.session, "_channel", None)
    print(f"    pending {emulator.pending}, drain task {getattr(terminal, '_drain_task', None)}, "
          f"paused {getattr(terminal, '_paused', None)}, waiting {getattr(emulator, 'waiting_for_more', None)}, "
          f"channel paused {getattr(channel, '_recv_paused', None)}, "
          f"channel buffer {len(getattr(channel, '_recv_buf', []) or [])}, state {pane.state}",
          *emulator.display()[-4:], sep="\n    ")


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


def write_stream_file(path: Path, kind: str, size: int) -> None:
    """benchmarks/ssh_parse.py's streams as files for `cat`: LF line ends (the PTY adds the CR);
    the redraws in the alternate screen, as `top` draws them, so the shell's screen comes back."""
    data = stream(kind, size).replace(b"\r\n", b"\n")
    if b"\n" in data:
        data = data[: data.rindex(b"\n") + 1]  # whole lines: the shell's next output starts a line
    if kind in ("top", "redraw"):
        data = b"\x1b[?1049h" + data + b"\x1b[0m\x1b[?1049l"
    path.write_bytes(data)


def load_terminal_module(revision: str) -> Any:
    """vmss_tui/ui/terminal.py as it was at `revision`, imported under another name."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:vmss_tui/ui/terminal.py"],
                            capture_output=True, check=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="vmss-terminal-baseline-"))
    path = folder / "terminal_baseline.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("terminal_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


STREAMS = ("cat log file", "yes | head -c", "cat colour-heavy file", "cat top-like redraws", "cat clear+CUP redraws")


async def measure(variant: Any, targets: list[SshTarget], settings: SshSettings, commands: dict[str, str],
                  sizes: dict[str, float], samples: int) -> dict[str, float]:
    """Every figure once with the Terminal class of `variant` (a module) in the SSH panes."""
    ssh_pane.Terminal = variant.Terminal  # type: ignore[attr-defined]
    figures: dict[str, float] = {}
    app = BenchApp(targets, settings)
    async with app.run_test(size=SIZE):
        panes = [app.query_one("#pane0", SshSessionPane), app.query_one("#pane1", SshSessionPane)]
        await wait_until(lambda: all(p.state == CONNECTED for p in panes), within=20)
        for pane in panes:
            await wait_until(lambda pane=pane: cursor_row(pane).endswith("#"), within=20)
        parsed, painted = await key_to_echo(app, panes[0], samples)
        figures["echo parsed p50"], figures["echo parsed p95"] = statistics.median(parsed), pct(parsed, 0.95)
        figures["echo painted p50"], figures["echo painted p95"] = statistics.median(painted), pct(painted, 0.95)
        for label in STREAMS:
            seconds, cpu, stall, skipped = await run_in_pane(panes[0], commands[label])
            figures[f"{label} MB/s"] = sizes[label] / seconds
            figures[f"{label} MB per CPU s"] = sizes[label] / max(cpu, 1e-9)
            figures[f"{label} CPU s"] = cpu
            figures[f"{label} stall"] = stall
            figures[f"{label} skipped"] = skipped
        # Key to echo in session 2 while session 1 floods without end.
        flooding, typing = panes
        flooding.terminal.send_bytes(b"yes\r")
        await asyncio.sleep(1.0)
        with Heartbeat() as beat:
            parsed, painted = await key_to_echo(app, typing, samples)
        figures["flood parsed p50"], figures["flood parsed p95"] = statistics.median(parsed), pct(parsed, 0.95)
        figures["flood painted p50"], figures["flood painted p95"] = statistics.median(painted), pct(painted, 0.95)
        figures["flood stall"] = beat.worst
        started = time.perf_counter()
        flooding.terminal.post_message(events.Key("ctrl+c", "\x03"))
        try:
            await wait_until(lambda: cursor_row(flooding).endswith("#")
                             and flooding.terminal.emulator.pending == 0, step=0.002)
        except TimeoutError:
            describe_stuck(flooding)
            raise
        figures["ctrl+c to prompt"] = time.perf_counter() - started
        for pane in panes:
            await pane.close()
    return figures


def spread(values: list[float], scale: float, digits: int) -> str:
    """median (min-max) of repeated runs."""
    if not values:
        return "-"
    text = f"{statistics.median(values) * scale:.{digits}f}"
    if len(values) > 1:
        text += f" ({min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f})"
    return text


# (figure in the words, key, scale, digits, unit, goal)
TABLE = [
    ("SSH key -> echo painted, idle, p50", "echo painted p50", 1000, 1, "ms", "<= 5 ms"),
    ("  (the echo parsed, idle, p50)", "echo parsed p50", 1000, 1, "ms", ""),
    ("typing in one SSH tab while another floods, painted p95", "flood painted p95", 1000, 0, "ms", "<= 30 ms"),
    ("  (the same, parsed p95)", "flood parsed p95", 1000, 0, "ms", ""),
    ("  (the same, painted p50)", "flood painted p50", 1000, 0, "ms", ""),
    ("  (worst event-loop stall during that flood)", "flood stall", 1000, 0, "ms", ""),
    ("colour-heavy output (`ls --color`, `grep --color`)", "cat colour-heavy file MB/s", 1, 1, "MB/s", ">= 20 MB/s"),
    ("  (the same, MB per CPU second of the console)", "cat colour-heavy file MB per CPU s", 1, 1, "MB/s", ""),
    ("full-screen redraws (`top`)", "cat top-like redraws MB/s", 1, 1, "MB/s", ">= 5 MB/s"),
    ("  (the same, MB per CPU second of the console)", "cat top-like redraws MB per CPU s", 1, 1, "MB/s", ""),
    ("  (redraws: a clear, then cursor addressing every row)", "cat clear+CUP redraws MB/s", 1, 1, "MB/s", ""),
    ("  (the same, MB per CPU second of the console)", "cat clear+CUP redraws MB per CPU s", 1, 1, "MB/s", ""),
    ("embedded `cat` (of a log file)", "cat log file MB/s", 1, 1, "MB/s", "keep (system ssh -tt: see above)"),
    ("  (the same, MB per CPU second of the console)", "cat log file MB per CPU s", 1, 1, "MB/s", ""),
    ("embedded `yes | head -c`", "yes | head -c MB/s", 1, 1, "MB/s", ""),
    ("ctrl+c in the flooding tab -> prompt", "ctrl+c to prompt", 1000, 0, "ms", ""),
]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="MB of the log, yes and colour-heavy streams")
    parser.add_argument("--redraw-mb", type=float, default=5.0, help="MB of each kind of full-screen redraws")
    parser.add_argument("--samples", type=int, default=100, help="key presses per key-to-echo figure")
    parser.add_argument("--repeat", type=int, default=1, help="before/after runs, alternately")
    parser.add_argument("--baseline", default="HEAD", help="git revision of `before`, or none")
    args = parser.parse_args()
    size = int(args.mb * 1e6)
    variants: list[tuple[str, Any]] = []
    if args.baseline != "none":
        variants.append((f"before ({args.baseline})", load_terminal_module(args.baseline)))
    variants.append(("after (work tree)", terminal))
    work = Path(tempfile.mkdtemp(prefix="vmss-ssh-bench-"))
    server = ThrowawaySshd(work / "sshd")
    await server.start()
    files = {"cat log file": work / "log.txt", "cat colour-heavy file": work / "coloured.txt",
             "cat top-like redraws": work / "top.txt", "cat clear+CUP redraws": work / "redraw.txt"}
    write_log_file(files["cat log file"], size)
    write_stream_file(files["cat colour-heavy file"], "coloured", size)
    write_stream_file(files["cat top-like redraws"], "top", int(args.redraw_mb * 1e6))
    write_stream_file(files["cat clear+CUP redraws"], "redraw", int(args.redraw_mb * 1e6))
    commands = {label: f"cat {path}" for label, path in files.items()}
    commands["yes | head -c"] = f"yes | head -c {size}"
    sizes = {label: path.stat().st_size / 1e6 for label, path in files.items()}
    sizes["yes | head -c"] = size / 1e6
    known_hosts = work / "known_hosts"
    KnownHosts(known_hosts).add("127.0.0.1", server.port, server.host_public_key())
    settings = SshSettings(identity_file=server.client_key, known_hosts=known_hosts, use_agent=False,
                           use_default_keys=False)
    target = SshTarget(host="127.0.0.1", port=server.port, username=server.user, label="bench",
                       scale_set="bench", instance_id="0")
    print(f"OpenSSH sshd on 127.0.0.1:{server.port}; terminal {SIZE[0]}x{SIZE[1]} (two panes); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; {args.repeat} run(s) of each variant; "
          f"median (min-max)")
    results: dict[str, dict[str, list[float]]] = {name: {} for name, _ in variants}
    try:
        raw = await raw_round_trip(server, args.samples)
        print(f"\nkey to echo, bare asyncssh PTY (no UI, the floor)   {ms(raw)}")
        print(f"\nsystem ssh into /dev/null (the floor)  {'MB':>6} {'-T MB/s':>8} {'-tt MB/s':>9}")
        for label in STREAMS:
            rates = []
            for pty in (False, True):
                seconds = await asyncio.to_thread(system_ssh, server, known_hosts, commands[label], pty)
                rates.append(sizes[label] / seconds)
            print(f"  {label:36} {sizes[label]:6.1f} {rates[0]:8.1f} {rates[1]:9.1f}")
        for run in range(args.repeat):
            for name, module in variants:
                figures = await measure(module, [target, target], settings, commands, sizes, args.samples)
                for key, value in figures.items():
                    results[name].setdefault(key, []).append(value)
                print(f"  run {run + 1} {name}: echo painted p50 {figures['echo painted p50'] * 1000:.1f} ms, "
                      f"flood painted p95 {figures['flood painted p95'] * 1000:.0f} ms, "
                      f"colour {figures['cat colour-heavy file MB/s']:.1f} MB/s, "
                      f"top {figures['cat top-like redraws MB/s']:.1f} MB/s", flush=True)
    finally:
        ssh_pane.Terminal = terminal.Terminal  # type: ignore[attr-defined]
        await server.stop()

    names = [name for name, _ in variants]
    print(f"\nload average at the end: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    print(f"\nthroughput in the embedded terminal{'MB/s':>27} {'CPU s':>16} {'worst stall ms':>16} {'skipped':>9}")
    for label in STREAMS:
        for name in names:
            figures = results[name]
            print(f"  {label:24} {name:18} {spread(figures[f'{label} MB/s'], 1, 1):>18} "
                  f"{spread(figures[f'{label} CPU s'], 1, 2):>16} "
                  f"{spread(figures[f'{label} stall'], 1000, 0):>16} {spread(figures[f'{label} skipped'], 100, 1):>10}%")
    print(f"\n{'figure':58}" + "".join(f"{name:>24}" for name in names) + "  goal")
    for words, key, scale, digits, unit, goal in TABLE:
        cells = "".join(f"{spread(results[name][key], scale, digits) + ' ' + unit:>24}" for name in names)
        print(f"{words:58}{cells}  {goal}")


if __name__ == "__main__":
    asyncio.run(main())
