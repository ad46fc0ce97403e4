"""Terminal emulator throughput without SSH: pyte alone vs vmss-tui's TerminalEmulator, before
(a git revision, default HEAD) and after (the work tree), side by side in one run.

    python benchmarks/ssh_parse.py [--mb 20] [--slow-mb 2] [--repeat 3] [--baseline REV | none]

Streams (xterm output as a PTY would deliver it, CR LF line ends):
  yes        `yes | head -c N`: "y\\r\\n" repeated
  text       log-like lines of 60-100 printable characters (what `cat` of a log file shows)
  coloured   lines with SGR colours every few words (like `ls --color` / `grep --color`)
  top        full-screen redraws as top(1) sends them: home, then every row with ncurses' SGR
             resets (ESC ( B ESC [ m) and an erase to its end; nothing to skip
  redraw     full-screen redraws: a clear, then cursor addressing every row; nothing to skip

Engines: plain pyte (Screen + ByteStream fed everything); `before`, TerminalEmulator of REV;
`after, pyte parser`, the work tree's with its hot path off (what the screen and fast-path
changes alone give); `after`, the work tree's. The emulators are fed 64 KiB reads with an 8 ms
parse slice after each (as the widget does). Plain pyte, and the engines without the hot path on
the redraw streams (nothing to skip there, so the rate does not depend on the size), run on
--slow-mb MB; the rest on --mb MB. MB/s of CPU time, median (min-max) of --repeat runs; the
share the flood fast path skipped; and whether `after` ends on the same screen as plain pyte
(on the small input) and as `after, pyte parser` (cells, cursor and scrollback, full input).
Not run by the test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyte  # noqa: E402

from vmss_tui.ui.terminal import TerminalEmulator  # noqa: E402

COLUMNS, LINES, SCROLLBACK = 160, 48, 1000
KINDS = ("yes", "text", "coloured", "top", "redraw")


def stream(kind: str, size: int) -> bytes:
    rng = random.Random(42)
    if kind == "yes":
        return (b"y\r\n" * (size // 3 + 1))[:size]
    parts: list[bytes] = []
    total = 0
    i = 0
    while total < size:
        if kind == "text":
            line = f"2026-05-01T12:{i % 60:02d}:00Z host{i % 7} service[{i}]: " + "x" * rng.randint(20, 60)
            chunk = (line + "\r\n").encode()
        elif kind == "coloured":
            words = [f"\x1b[0{1 if i % 3 else 0};3{rng.randint(1, 7)}mfile_{i}_{j}\x1b[0m" for j in range(6)]
            chunk = ("  ".join(words) + "\r\n").encode()
        elif kind == "top":  # what top(1) sends: a frame from home, every row ended by EL
            row = i % LINES
            reset = "\x1b(B\x1b[m"
            if row == 0:
                line = (f"\x1b[H{reset}top - 12:{i % 60:02d}:00 up 1:17,  0 user,  load average: {rng.random():.2f}, "
                        f"2.97, 2.20{reset}\x1b[39;49m")
            elif row < 5:
                values = "".join(f"\x1b[1m {rng.randint(0, 9999):6d} {reset}\x1b[39;49m{word}," for word in
                                 ("total", "running", "sleeping", "stopped", "zombie"))
                line = f"{reset}Tasks:{values}"
            elif row == 5:
                line = "\x1b[7m  PID USER      PR  NI    VIRT    RES    SHR S  %CPU  %MEM     TIME+ COMMAND".ljust(164)
            else:
                bold = "\x1b[1m" if rng.random() < 0.2 else ""
                line = (f"{reset}{bold}{rng.randint(1, 99999):5d} root      20   0 {rng.randint(0, 999999):7d} "
                        f"{rng.randint(0, 99999):6d} {rng.randint(0, 9999):6d} S {rng.random() * 100:5.1f}   0.5 "
                        f"  1:59.57 {'python':<90}{reset}\x1b[39;49m")
            chunk = (line + ("\x1b[K" if row == LINES - 1 else "\x1b[K\r\n")).encode()
        else:  # redraw: full-screen redraws, a clear and cursor addressing every row
            row = i % LINES
            prefix = "\x1b[H\x1b[2J" if row == 0 else ""
            chunk = f"{prefix}\x1b[{row + 1};1H\x1b[7m{i:8d}\x1b[0m {'p' * rng.randint(40, 150)}\x1b[K".encode()
        parts.append(chunk)
        total += len(chunk)
        i += 1
    return b"".join(parts)[:size]


def pyte_run(data: bytes) -> tuple[float, float, list[str]]:
    screen = pyte.Screen(COLUMNS, LINES)
    byte_stream = pyte.ByteStream(screen)
    started = time.process_time()
    for start in range(0, len(data), 65536):
        byte_stream.feed(data[start : start + 65536])
    elapsed = time.process_time() - started
    return len(data) / elapsed / 1e6, 0.0, [line.rstrip() for line in screen.display]


def emulator_run(make: Callable[[], Any], data: bytes) -> tuple[float, float, Any]:
    emulator = make()
    started = time.process_time()
    for start in range(0, len(data), 65536):
        emulator.feed(data[start : start + 65536])
        emulator.process(0.008)  # the widget parses a slice per read before yielding
    emulator.process_all()
    elapsed = time.process_time() - started
    return len(data) / elapsed / 1e6, emulator.skipped_chars / max(len(data), 1), emulator


def load_baseline(revision: str) -> Any:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:vmss_tui/ui/terminal.py"],
                            capture_output=True, check=True).stdout
    path = Path(tempfile.mkdtemp(prefix="vmss-terminal-baseline-")) / "terminal_baseline.py"
    path.write_bytes(source)
    spec = importlib.util.spec_from_file_location("terminal_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def state(emulator: Any) -> tuple[object, ...]:
    screen = emulator.screen
    rows = [[screen.buffer[y][x] for x in range(screen.columns)] for y in range(screen.lines)]
    history = [[screen.cell(row, x) for x in range(screen.columns)] for row in screen.history]
    return rows, history, screen.cursor.x, screen.cursor.y, screen.cursor.attrs


def spread(values: list[float], digits: int = 2) -> str:
    text = f"{statistics.median(values):.{digits}f}"
    return text + (f" ({min(values):.{digits}f}-{max(values):.{digits}f})" if len(values) > 1 else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=20.0)
    parser.add_argument("--slow-mb", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", default="HEAD", help="git revision of `before`, or none")
    args = parser.parse_args()
    size, slow_size = int(args.mb * 1e6), int(args.slow_mb * 1e6)
    engines: list[tuple[str, Callable[[], Any] | None, bool]] = [("pyte", None, True)]
    if args.baseline != "none":
        before = load_baseline(args.baseline)
        engines.append((f"before ({args.baseline})", lambda: before.TerminalEmulator(COLUMNS, LINES, SCROLLBACK), True))
    engines.append(("after, pyte parser",
                    lambda: TerminalEmulator(COLUMNS, LINES, SCROLLBACK, hot_path=False), True))
    engines.append(("after", lambda: TerminalEmulator(COLUMNS, LINES, SCROLLBACK), False))
    print(f"screen {COLUMNS}x{LINES}, scrollback {SCROLLBACK}; {args.mb:g} MB per stream ({args.slow_mb:g} MB for "
          f"plain pyte, and for the redraws without the hot path); MB/s of CPU time, median (min-max) of "
          f"{args.repeat} runs")
    header = "".join(f"{name:>26}" for name, _, _ in engines)
    print(f"{'stream':9}{header} {'skipped':>8} {'same as pyte':>13} {'same as slow':>13}")
    for kind in KINDS:
        small, full = stream(kind, slow_size), stream(kind, size)
        rates: dict[str, list[float]] = {name: [] for name, _, _ in engines}
        skipped = 0.0
        for _ in range(args.repeat):
            for name, make, slow in engines:
                if make is None:
                    rate, _, pyte_screen = pyte_run(small)
                else:
                    data = small if slow and kind in ("top", "redraw") else full
                    rate, share, emulator = emulator_run(make, data)
                    if name == "after":
                        skipped = share
                rates[name].append(rate)
        _, _, after_small = emulator_run(engines[-1][1], small)  # type: ignore[arg-type]
        same_pyte = "yes" if after_small.display() == pyte_screen else "NO"
        data = small if kind in ("top", "redraw") else full
        _, _, after = emulator_run(engines[-1][1], data)  # type: ignore[arg-type]
        _, _, slow_after = emulator_run(engines[-2][1], data)  # type: ignore[arg-type]
        same_slow = "yes" if state(after) == state(slow_after) else "NO"
        cells = "".join(f"{spread(rates[name]):>26}" for name, _, _ in engines)
        print(f"{kind:9}{cells} {skipped:8.1%} {same_pyte:>13} {same_slow:>13}", flush=True)


if __name__ == "__main__":
    main()
