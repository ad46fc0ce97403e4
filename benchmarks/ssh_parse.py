"""Terminal emulator throughput without SSH: pyte alone vs vmss-tui's TerminalEmulator.

    python benchmarks/ssh_parse.py [--mb 50] [--pyte-mb 4]

Streams (xterm output as a PTY would deliver it, CR LF line ends):
  yes        `yes | head -c N`: "y\\r\\n" repeated
  text       log-like lines of 60-100 printable characters (what `cat` of a log file shows)
  coloured   lines with SGR colours every few words (like `ls --color` / `grep --color`)
  redraw     full-screen redraws with cursor addressing (like `top`): nothing to skip

For each: MB/s of plain pyte (Screen + ByteStream fed everything; measured on --pyte-mb MB and
extrapolated, pyte is slow), and of TerminalEmulator fed in 64 KiB reads with 8 ms parse slices
(as the widget does), with the share of input the flood fast path skipped. The final screens of
both are compared on the pyte-sized input to show the fast path changes nothing. Not run by the
test suite.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyte  # noqa: E402

from vmss_tui.ui.terminal import TerminalEmulator  # noqa: E402

COLUMNS, LINES, SCROLLBACK = 200, 50, 1000


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
        else:  # redraw: a `top`-like screen every LINES rows
            row = i % LINES
            prefix = "\x1b[H\x1b[2J" if row == 0 else ""
            chunk = f"{prefix}\x1b[{row + 1};1H\x1b[7m{i:8d}\x1b[0m {'p' * rng.randint(40, 150)}\x1b[K".encode()
        parts.append(chunk)
        total += len(chunk)
        i += 1
    return b"".join(parts)[:size]


def pyte_rate(data: bytes) -> tuple[float, list[str]]:
    screen = pyte.Screen(COLUMNS, LINES)
    byte_stream = pyte.ByteStream(screen)
    started = time.perf_counter()
    for start in range(0, len(data), 65536):
        byte_stream.feed(data[start : start + 65536])
    elapsed = time.perf_counter() - started
    return len(data) / elapsed / 1e6, [line.rstrip() for line in screen.display]


def emulator_rate(data: bytes) -> tuple[float, float, list[str]]:
    emulator = TerminalEmulator(COLUMNS, LINES, SCROLLBACK)
    started = time.perf_counter()
    for start in range(0, len(data), 65536):
        emulator.feed(data[start : start + 65536])
        emulator.process(0.008)  # the widget parses a slice per read before yielding
    emulator.process_all()
    elapsed = time.perf_counter() - started
    return len(data) / elapsed / 1e6, emulator.skipped_chars / max(len(data), 1), emulator.display()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0)
    parser.add_argument("--pyte-mb", type=float, default=4.0)
    args = parser.parse_args()
    size, pyte_size = int(args.mb * 1e6), int(args.pyte_mb * 1e6)
    print(f"screen {COLUMNS}x{LINES}, scrollback {SCROLLBACK}; emulator on {args.mb:g} MB, pyte on {args.pyte_mb:g} MB")
    print(f"{'stream':10} {'pyte MB/s':>10} {'emulator MB/s':>14} {'skipped':>8} {'same screen':>12}")
    for kind in ("yes", "text", "coloured", "redraw"):
        small = stream(kind, pyte_size)
        pyte_mbs, pyte_screen = pyte_rate(small)
        _, _, emulator_screen = emulator_rate(small)
        same = "yes" if pyte_screen == emulator_screen else "NO"
        rate, skipped, _ = emulator_rate(stream(kind, size))
        print(f"{kind:10} {pyte_mbs:10.2f} {rate:14.1f} {skipped:8.1%} {same:>12}")


if __name__ == "__main__":
    main()
