"""A console (or any command) on a real pseudo-terminal, for tests that need one (no tests here).

    child = PtyProcess([sys.executable, "-m", "vmss_tui", "--demo"], child_env(tmp_path))
    child.wait_for(lambda out: b"refreshed" in out, "the first frame")
    child.send(b"\x11")                  # keys, as a terminal would send them
    child.wait_exit(); child.screen()    # what a terminal shows (pyte), child.output (the bytes)

`terminal_modes` / `assert_terminal_restored` judge the terminal's final state from the bytes the
program wrote. `child_env` gives the child its own TMPDIR and XDG folders under the test's.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
START_LIMIT = 90.0  # seconds: the demo simulator starts in 1-5 s, slower on a loaded machine
EXIT_LIMIT = 30.0

MOUSE_MODES = (1000, 1003, 1006, 1015)
_DEC_MODE = re.compile(rb"\x1b\[\?([0-9;]+)([hl])")


def terminal_modes(output: bytes) -> dict[int, bool]:
    """The last setting of each DEC private mode the program wrote (True: set)."""
    modes: dict[int, bool] = {}
    for match in _DEC_MODE.finditer(output):
        for number in match.group(1).split(b";"):
            if number:
                modes[int(number)] = match.group(2) == b"h"
    return modes


def kitty_keyboard_depth(output: bytes) -> int:
    """Pushes minus pops of the kitty keyboard protocol (CSI > flags u / CSI < u)."""
    return len(re.findall(rb"\x1b\[>\d+u", output)) - len(re.findall(rb"\x1b\[<\d*u", output))


def assert_terminal_restored(output: bytes) -> None:
    modes = terminal_modes(output)
    assert modes.get(1049) is True or b"\x1b[?1049h" in output, "the console never entered the alternate screen"
    assert modes.get(1049) is False, "left in the alternate screen"
    for mode in MOUSE_MODES:
        assert modes.get(mode) in (None, False), f"mouse reporting mode {mode} left on"
    assert modes.get(25) is True, "cursor left hidden"
    assert modes.get(2004) in (None, False), "bracketed paste left on"
    assert modes.get(1004) in (None, False), "focus reporting left on"
    assert kitty_keyboard_depth(output) <= 0, "kitty keyboard protocol left pushed"


class PtyProcess:
    """A child process on its own PTY; `output` is everything it wrote so far."""

    def __init__(self, argv: list[str], env: dict[str, str], size: tuple[int, int] = (120, 40)) -> None:
        master, slave = os.openpty()
        columns, lines = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        self.termios_before = termios.tcgetattr(slave)
        self.process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO,
                                        start_new_session=True)
        os.close(slave)
        self.master = master
        self.size = size
        self.output = bytearray()

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.master], [], [], max(0.0, min(left, 0.1)))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: every writer has closed the slave side
                    data = b""
                if not data:
                    if self.process.poll() is not None:
                        return
                    time.sleep(0.02)
                self.output.extend(data)
            if left <= 0:
                return

    def wait_for(self, predicate: Callable[[bytes], bool], what: str, limit: float = START_LIMIT) -> None:
        deadline = time.monotonic() + limit
        while not predicate(bytes(self.output)):
            if self.process.poll() is not None:
                self.pump(0.3)
                if predicate(bytes(self.output)):
                    return
                raise AssertionError(f"exited ({self.process.returncode}) before {what}: {self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {limit}s waiting for {what}: {self.tail()}")
            self.pump(0.1)

    def wait_exit(self, limit: float = EXIT_LIMIT) -> int:
        deadline = time.monotonic() + limit
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running {limit}s after it was told to stop: {self.tail()}")
            self.pump(0.1)
        self.pump(0.3)  # what it wrote last
        return self.process.returncode

    def termios_now(self) -> list:  # type: ignore[type-arg]
        return termios.tcgetattr(self.master)

    def send(self, data: bytes) -> None:
        os.write(self.master, data)

    def screen(self) -> str:
        """What a terminal would show now (the bytes so far through pyte, a VT emulator)."""
        import pyte

        screen = pyte.Screen(*self.size)
        pyte.ByteStream(screen).feed(bytes(self.output))
        return "\n".join(line.rstrip() for line in screen.display)

    def tail(self, size: int = 1500) -> str:
        return self.screen()

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        os.close(self.master)


def child_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VMSS_TUI_", "AZURE_", "TEXTUAL"))}
    run_tmp = tmp_path / "run-tmp"
    run_tmp.mkdir(parents=True, exist_ok=True)
    env.update({
        "TERM": "xterm-256color",
        "TMPDIR": str(run_tmp),  # where the demo simulator makes its key directory
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "PYTHONPATH": str(REPO),
    })
    env.pop("COLUMNS", None)
    env.pop("LINES", None)
    env.update(extra)
    return env


def demo_key_dirs(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "run-tmp").glob("vmss-tui-sim-key-*"))


SESSION_UP = b"leaves the terminal)"  # the SSH pane's status line, once connected


def trust_the_host_key(child: PtyProcess) -> None:
    """A fresh known_hosts: the console asks about the instance's host key; say yes."""
    child.wait_for(lambda out: b"Unknown host key" in out, "the host key question")
    child.send(b"y")


def first_frame(output: bytes) -> bool:
    return b"\x1b[?1049h" in output and b"refreshed" in output  # the status line after the first load


class SimProcess:
    """`vmss-tui sim` in a child process (a context manager): what it printed, parsed."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "vmss_tui", "sim", "--speed", "20", *args],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                                        cwd=REPO)
        self.printed: list[str] = []
        self.endpoint = self.subscription = self.token = self.use_it = ""

    def __enter__(self) -> SimProcess:
        assert self.process.stdout is not None
        deadline = time.monotonic() + START_LIMIT
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.printed.append(line.rstrip("\n"))
            if line.startswith("vmss-tui simulator listening on "):
                self.endpoint = line.rsplit(" ", 1)[1].strip()
            elif line.startswith("subscription: "):
                self.subscription = line.split()[1]
            elif line.startswith("token: "):
                self.token = line.split()[1]
            elif line.startswith("use it: "):
                self.use_it = line[len("use it: "):].split("   (", 1)[0].strip()
            elif line.startswith("Ctrl-C stops it."):
                return self
        self.__exit__()
        raise AssertionError("vmss-tui sim did not start: " + "\n".join(self.printed[-20:]))

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
