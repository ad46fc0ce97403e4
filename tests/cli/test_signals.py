"""The console in a real pseudo-terminal: signals restore the terminal and clean up, and without a
terminal the console says it needs one and exits at once.

Each test runs `python -m vmss_tui ...` as a child on a fresh PTY (the `pty`/`os.openpty`
machinery, 120x40), reads every byte it writes, and judges the terminal's final state from
those bytes: the last word on each DEC private mode (alternate screen, mouse reporting, cursor,
bracketed paste, focus events) and the balance of kitty keyboard pushes and pops. The demo
simulator's per-run key directory is created under the child's own TMPDIR, so it can be seen
appear and disappear.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.pty_console import (
    EXIT_LIMIT,
    REPO,
    SESSION_UP,
    START_LIMIT,
    PtyProcess,
    SimProcess,
    assert_terminal_restored,
    child_env,
    demo_key_dirs,
    first_frame,
    terminal_modes,
    trust_the_host_key,
)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Callable[..., PtyProcess]]:
    started: list[PtyProcess] = []

    def start(*args: str, **env: str) -> PtyProcess:
        child = PtyProcess([sys.executable, "-m", "vmss_tui", *args], child_env(tmp_path, **env))
        started.append(child)
        return child

    yield start
    for child in started:
        child.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_stop_signal_restores_the_terminal_and_removes_the_demo_key(
    signum: signal.Signals, console: Callable[..., PtyProcess], tmp_path: Path,
) -> None:
    child = console("--demo")
    child.wait_for(first_frame, "the first frame with data")
    (key_dir,) = demo_key_dirs(tmp_path)
    assert (key_dir / "id_ed25519").is_file()
    modes = terminal_modes(bytes(child.output))
    assert modes.get(1049) and modes.get(1000) and modes.get(25) is False  # it really took the terminal
    child.process.send_signal(signum)
    assert child.wait_exit() == 128 + signum
    output = bytes(child.output)
    assert_terminal_restored(output)
    assert output.rstrip().endswith(f"vmss-tui: stopped by {signum.name}".encode())
    assert b"Traceback" not in output
    assert not key_dir.exists() and demo_key_dirs(tmp_path) == []
    # echo and line editing are back (the child set raw mode on this very terminal)
    before, after = child.termios_before, child.termios_now()
    assert after[3] & (termios.ECHO | termios.ICANON) == before[3] & (termios.ECHO | termios.ICANON)


@pytest.mark.parametrize("with_sighup", [False, True], ids=["hang-up-only", "hang-up-and-SIGHUP"])
def test_a_terminal_that_goes_away_ends_the_console(with_sighup: bool, console: Callable[..., PtyProcess],
                                                    tmp_path: Path) -> None:
    """The terminal emulator dies: its side of the PTY closes. Without the SIGHUP (the console is
    not its foreground process), Textual's input would read end-of-file in a busy loop forever;
    the console notices the hang-up, quits and takes the demo key with it. With the SIGHUP, the
    shutdown writes to a terminal that is gone and must not hang on it."""
    child = console("--demo")
    child.wait_for(first_frame, "the first frame with data")
    assert len(demo_key_dirs(tmp_path)) == 1
    os.close(child.master)
    child.master = os.open(os.devnull, os.O_RDONLY)  # what close() and pump() use from now on
    if with_sighup:
        child.process.send_signal(signal.SIGHUP)
    assert child.process.wait(EXIT_LIMIT) == 128 + signal.SIGHUP
    assert demo_key_dirs(tmp_path) == []


def test_a_stop_signal_with_an_ssh_session_open(console: Callable[..., PtyProcess], tmp_path: Path) -> None:
    """The ssh sub-command: a session tab in the console, the demo's key in use. SIGTERM still
    ends it at once (no "quit?" question), the terminal restored and the key directory gone."""
    child = console("ssh", "vmss-web", "1", "--demo")
    trust_the_host_key(child)
    child.wait_for(lambda out: SESSION_UP in out, "the SSH session")
    assert len(demo_key_dirs(tmp_path)) == 1
    child.process.send_signal(signal.SIGTERM)
    assert child.wait_exit() == 128 + signal.SIGTERM
    assert_terminal_restored(bytes(child.output))
    assert demo_key_dirs(tmp_path) == []


def test_quitting_normally_restores_the_terminal_too(console: Callable[..., PtyProcess], tmp_path: Path) -> None:
    child = console("--demo")
    child.wait_for(first_frame, "the first frame with data")
    child.send(b"\x11")  # ctrl+q
    assert child.wait_exit() == 0
    assert_terminal_restored(bytes(child.output))
    assert demo_key_dirs(tmp_path) == []


def run_without_terminal(tmp_path: Path, *args: str, **env: str) -> tuple[int, str, float]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "vmss_tui", *args], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, env=child_env(tmp_path, **env), cwd=REPO,
                            timeout=START_LIMIT)
    assert result.stdout == ""
    return result.returncode, result.stderr, time.monotonic() - started


@pytest.mark.parametrize("args", [
    ("--demo",),
    ("ssh", "nope", "1", "--demo"),
    ("--arm-endpoint", "http://127.0.0.1:9", "--subscription", "00000000-0000-0000-0000-000000000000"),
], ids=["demo", "ssh-demo", "endpoint"])
def test_without_a_terminal_the_console_says_it_needs_one(args: tuple[str, ...], tmp_path: Path) -> None:
    code, err, _ = run_without_terminal(tmp_path, *args)
    assert code == 2
    assert err.strip() == ("vmss-tui: the console needs a terminal, and its standard input is not one "
                           "(for scripts and cron: `vmss-tui get ...`)")
    assert demo_key_dirs(tmp_path) == []


def test_under_cron_no_term_and_output_to_a_file(tmp_path: Path) -> None:
    """cron: no TERM, stdin from /dev/null, stdout and stderr to a file (mailed to the owner)."""
    log = tmp_path / "cron.log"
    env = child_env(tmp_path)
    env.pop("TERM", None)
    with log.open("w") as handle:
        code = subprocess.run([sys.executable, "-m", "vmss_tui", "--demo"], stdin=subprocess.DEVNULL,
                              stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                              timeout=START_LIMIT).returncode
    assert code == 2
    assert log.read_text().strip().startswith("vmss-tui: the console needs a terminal")


def test_a_terminal_for_input_but_output_to_a_pipe(console: Callable[..., PtyProcess], tmp_path: Path) -> None:
    """`vmss-tui 2>log`: Textual draws on standard error, which is then not a terminal."""
    env = child_env(tmp_path)
    master, slave = os.openpty()
    try:
        result = subprocess.run([sys.executable, "-m", "vmss_tui", "--arm-endpoint", "http://127.0.0.1:9",
                                 "--subscription", "00000000-0000-0000-0000-000000000000"],
                                stdin=slave, capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert result.returncode == 2
    assert "its standard error is not one" in result.stderr


def test_the_command_line_vmss_tui_sim_prints_works_with_its_key_and_token(tmp_path: Path) -> None:
    """`vmss-tui sim` in another process prints the console command line; run as printed (in
    a shell, on a PTY) with `ssh vmss-web 1` added, it lists the fleet and logs in over SSH."""
    env = child_env(tmp_path)
    with SimProcess(env) as sim:
        words = shlex.split(sim.use_it)
        assert words[0].startswith("VMSS_TUI_ARM_TOKEN=") and "vmss-tui" in words
        assert "-i" in words or "--identity-file" in words, f"no key on the printed line: {sim.use_it}"
        venv_bin = str(Path(sys.executable).parent)
        shell_env = {**env, "PATH": f"{venv_bin}:{env.get('PATH', '')}"}
        child = PtyProcess(["/bin/sh", "-c", f"{sim.use_it} ssh vmss-web 1"], shell_env)
        try:
            trust_the_host_key(child)
            child.wait_for(lambda out: SESSION_UP in out, "the SSH session")
            assert b"authentication failed" not in child.output
            os.killpg(child.process.pid, signal.SIGTERM)  # the shell and the console it runs
            child.wait_exit()
        finally:
            child.close()
