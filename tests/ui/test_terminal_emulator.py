"""The VT emulator (no Textual) against byte streams recorded from real programs run in a real PTY
(printf, tput, less, vim, tmux, seq), and the flood fast path against full parsing."""

from __future__ import annotations

import fcntl
import os
import pty
import random
import select
import shutil
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from vmss_tui.ui.terminal import TerminalEmulator, pyte_color

BASH = ["bash", "--norc", "--noprofile", "-c"]


def record(script: str, *, cols: int = 80, rows: int = 24, keys: tuple[tuple[float, bytes], ...] = (),
           timeout: float = 15.0) -> bytes:
    """Run `bash -c script` in a PTY of cols x rows with TERM=xterm-256color and return what it wrote.
    `keys`: (seconds of quiet output before sending, bytes) typed in order."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", LANG="C.UTF-8", LC_ALL="C.UTF-8", HOME=os.environ.get("HOME", "/"))
    process = subprocess.Popen([*BASH, script], stdin=slave, stdout=slave, stderr=slave, env=env,
                               start_new_session=True, close_fds=True)
    os.close(slave)
    output = bytearray()
    pending = list(keys)
    deadline = time.monotonic() + timeout
    last_output = time.monotonic()
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.02)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the program exited and the PTY closed
                    break
                if not data:
                    break
                output += data
                last_output = time.monotonic()
            elif pending and time.monotonic() - last_output > pending[0][0]:
                os.write(master, pending.pop(0)[1])
                last_output = time.monotonic()
            elif not pending and process.poll() is not None and time.monotonic() - last_output > 0.1:
                break
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=5)
        os.close(master)
    return bytes(output)


def emulate(data: bytes, cols: int = 80, rows: int = 24, scrollback: int = 1000, chunk: int = 0) -> TerminalEmulator:
    emulator = TerminalEmulator(cols, rows, scrollback)
    step = chunk or len(data) or 1
    for start in range(0, len(data), step):
        emulator.feed(data[start : start + step])
        emulator.process(0.002)
    emulator.process_all()
    return emulator


def visible(emulator: TerminalEmulator) -> list[str]:
    return [line for line in emulator.display() if line]


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "file.txt"
    path.write_text("".join(f"file line {i}\n" for i in range(300)))
    return path


def test_printf_colours_and_attributes() -> None:
    data = record(r"printf '\e[31mred\e[0m \e[1;4;3mbiu\e[0m \e[7mrev\e[0m \e[38;5;208m256\e[0m "
                  r"\e[38;2;10;20;30;48;2;200;100;50mtrue\e[0m \e[92mbright\e[0m\n'")
    emulator = emulate(data)
    assert emulator.display()[0] == "red biu rev 256 true bright"
    row = emulator.screen.buffer[0]
    assert row[0].fg == "red" and row[3].fg == "default"
    assert row[4].bold and row[4].underscore and row[4].italics
    assert row[8].reverse
    assert row[12].fg == "ff8700"  # 256-colour 208
    assert (row[16].fg, row[16].bg) == ("0a141e", "c86432")
    assert row[21].fg == "brightgreen"
    assert pyte_color("red").number == 1
    assert pyte_color("brightgreen").number == 10
    assert pyte_color("0a141e").triplet == (10, 20, 30)
    assert pyte_color("default") is None


def test_tput_alternate_screen_restores_the_main_screen() -> None:
    data = record("printf 'one\\ntwo\\n'; tput smcup; printf 'ALTERNATE\\n'; tput cup 10 5; printf X; tput rmcup; "
                  "printf 'three\\n'")
    assert b"\x1b[?1049h" in data and b"\x1b[?1049l" in data  # the real terminfo sequences
    inside = data[: data.index(b"\x1b[?1049l")]
    in_alt = emulate(inside)
    assert in_alt.screen.in_alternate
    assert visible(in_alt) == ["ALTERNATE", "     X"]
    after = emulate(data)
    assert not after.screen.in_alternate
    assert visible(after) == ["one", "two", "three"]
    assert after.screen.cursor.y == 3


@pytest.mark.skipif(shutil.which("less") is None, reason="less not installed")
def test_less_leaves_the_screen_as_it_was(text_file: Path) -> None:
    data = record(f"printf 'before less\\n'; less {text_file}; printf 'after less\\n'",
                  keys=((0.4, b" "), (0.3, b"q")))
    middle = emulate(data[: data.rindex(b"\x1b[?1049l")])
    assert middle.screen.in_alternate
    assert any(line.startswith("file line 2") for line in middle.display())
    after = emulate(data)
    assert visible(after) == ["before less", "after less"]
    assert not after.history_text()  # the pager's pages did not leak into the scrollback


@pytest.mark.skipif(shutil.which("vim") is None, reason="vim not installed")
def test_vim_leaves_the_screen_as_it_was(text_file: Path) -> None:
    data = record(f"printf 'before vim\\n'; vim -u NONE -N -n {text_file}; printf 'after vim\\n'",
                  keys=((0.6, b"jjjjG"), (0.3, b"ggdd"), (0.3, b":q!\r")))
    middle = emulate(data[: data.rindex(b"\x1b[?1049l")])
    assert middle.screen.in_alternate
    assert middle.display()[0] == "file line 1"  # first line deleted by `dd`
    after = emulate(data)
    assert visible(after) == ["before vim", "after vim"]
    assert after.stream.at_ground


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_tmux_draws_its_status_line_and_restores(tmp_path: Path) -> None:
    socket_name = f"vmss-tui-test-{os.getpid()}"
    data = record(f"printf 'before tmux\\n'; tmux -L {socket_name} -f /dev/null new-session "
                  f"'printf inner-shell; sleep 0.6'; printf 'after tmux\\n'", cols=60, rows=12)
    # tmux clears its screen on exit: look at the state just before that.
    middle = emulate(data[: data.rindex(b"\x1b[2J")], cols=60, rows=12)
    assert middle.screen.in_alternate
    lines = middle.display()
    assert lines[0].startswith("inner-shell")
    assert lines[-1].startswith("[0]")  # tmux's status line on the bottom row
    after = emulate(data, cols=60, rows=12)
    assert visible(after)[0] == "before tmux" and visible(after)[-1] == "after tmux"


def test_scrollback_from_real_output_and_clear() -> None:
    data = record("seq 1 100", cols=40, rows=10)
    emulator = emulate(data, cols=40, rows=10, scrollback=50)
    assert visible(emulator)[-1] == "100"
    history = emulator.history_text()
    assert len(history) == 50 and history[0] == "42" and history[-1] == "91"
    emulator.feed(b"\x1b[H\x1b[2J\x1b[3J")  # what `clear` sends
    emulator.process_all()
    assert emulator.history_text() == [] and visible(emulator) == []


def test_resize_keeps_the_cursor_row_and_moves_rows_to_the_scrollback() -> None:
    emulator = emulate(b"".join(b"row %d\r\n" % i for i in range(20)) + b"$ ", cols=30, rows=24)
    assert emulator.screen.cursor.y == 20
    emulator.resize(30, 10)
    assert (emulator.screen.lines, emulator.screen.columns) == (10, 30)
    assert emulator.display()[-1] == "$" and emulator.screen.cursor.y == 9
    assert emulator.history_text()[-1] == "row 10"
    emulator.resize(50, 15)
    assert emulator.display()[9] == "$" and emulator.display()[14] == ""
    emulator.feed(b"x" * 45)
    emulator.process_all()
    assert emulator.display()[9] == "$ " + "x" * 45
    # A fresh shell at the top of a big screen keeps its prompt when the screen shrinks.
    fresh = emulate(b"$ ", cols=30, rows=24)
    fresh.resize(30, 5)
    assert fresh.display()[0] == "$" and not fresh.history_text()


def test_device_status_report_is_answered() -> None:
    answers: list[str] = []
    emulator = TerminalEmulator(80, 24)
    emulator.screen.on_answer = answers.append
    emulator.feed(b"\x1b[5;10H\x1b[6n\x1b[5n\x1b[c")
    emulator.process_all()
    assert answers == ["\x1b[5;10R", "\x1b[0n", "\x1b[?6c"]


def test_controls_pyte_lacks() -> None:
    emulator = emulate(
        b"a\x1b[4b|"  # REP
        b"\x1b(0lqqk\x1b(B|"  # DEC line drawing in UTF-8
        b"\x1bP+q544e\x1b\\|"  # DCS (XTGETTCAP) consumed
        b"\x1b_Gkitty\x1b\\|"  # APC consumed
        b"\x1b[>4;2m\x1b[2 q\x1b[?2026$p|"  # modifyOtherKeys, cursor shape, DECRQM: consumed
        b"\x1b[1;2;3A\x1b[?4m|"  # malformed for pyte: ignored, no exception
        b"\xe2\x9d\xa4\xef\xb8\x8f ok"  # emoji + VS16 must not cut the rest of the run
    )
    line = emulator.display()[0]
    assert line == "aaaaa|┌──┐|||||❤ ok"
    assert not emulator.screen.cursor.attrs.underscore
    assert emulator.stream.at_ground


def test_scroll_up_down_and_soft_reset() -> None:
    emulator = emulate(b"1\r\n2\r\n3\r\n4", cols=10, rows=4)
    emulator.feed(b"\x1b[S")
    emulator.process_all()
    assert emulator.display() == ["2", "3", "4", ""]
    emulator.feed(b"\x1b[2T")
    emulator.process_all()
    assert emulator.display() == ["", "", "2", "3"]
    emulator.feed(b"\x1b[?1h\x1b[31m\x1b[2;3r\x1b[!p")
    emulator.process_all()
    assert not emulator.application_cursor and emulator.screen.margins is None
    assert emulator.screen.cursor.attrs.fg == "default"


def test_utf8_split_across_reads_and_wide_characters() -> None:
    data = "é日本 ok".encode()
    emulator = TerminalEmulator(20, 2)
    for byte in data:
        emulator.feed(bytes([byte]))
        emulator.process_all()
    assert emulator.display()[0] == "é日本 ok"
    assert emulator.screen.cursor.x == 8  # two wide characters take two cells each


def test_modes_for_keys_and_paste() -> None:
    emulator = emulate(b"\x1b[?1h\x1b[?2004h")
    assert emulator.application_cursor and emulator.bracketed_paste
    emulator.feed(b"\x1b[?1l\x1b[?2004l")
    emulator.process_all()
    assert not emulator.application_cursor and not emulator.bracketed_paste


# ----------------------------------------------------------------------------- the flood fast path


def snapshot(emulator: TerminalEmulator) -> tuple[object, ...]:
    screen = emulator.screen
    default = screen.default_char
    rows = []
    for y in range(screen.lines):
        row = screen.buffer.get(y)
        rows.append(tuple(row[x] if row is not None else default for x in range(screen.columns)))
    history = [tuple(screen.cell(row, x) for x in range(screen.columns)) for row in screen.history]
    cursor = screen.cursor
    return (rows, history, cursor.x, cursor.y, cursor.attrs, screen.charset, screen.in_alternate)


def generate(kind: str, count: int, rng: random.Random) -> str:
    out = []
    for i in range(count):
        if kind == "yes":
            out.append("y\r\n")
        elif kind == "wrapping":
            out.append("x" * rng.randint(0, 130) + f" {i}\r\n")
        elif kind == "coloured":
            out.append(f"\x1b[3{i % 8}m{i}\x1b[0m and \x1b[1mbold\x1b[m {'z' * rng.randint(0, 60)}\r\n")
        else:
            r = rng.random()
            if r < 0.1:
                out.append("tab\there\r\n")
            elif r < 0.2:
                out.append("é日本語 wide\r\n")
            elif r < 0.25:
                out.append("bare line feed\n")
            elif r < 0.3:
                out.append("\x1b[31mred\x1b[K\r\n")
            elif r < 0.32:
                out.append("\x1b(0lqqk\x1b(B\r\n")
            elif r < 0.33:
                out.append("\x0edec\x0f\r\n")
            else:
                out.append(f"plain line {i} {'w' * rng.randint(0, 80)}\r\n")
    return "".join(out)


def run_both(data: bytes, prefix: bytes, cols: int = 40, rows: int = 10, scrollback: int = 50,
             chunk: int = 16384) -> tuple[TerminalEmulator, TerminalEmulator]:
    results = []
    for fast in (True, False):
        emulator = TerminalEmulator(cols, rows, scrollback)
        # Small inputs keep the test fast: let the fast path start at 8 KiB instead of 64 KiB.
        emulator.FLOOD_MIN = 8192 if fast else 1 << 60
        emulator.feed(prefix)
        emulator.process_all()
        for start in range(0, len(data), chunk):
            emulator.feed(data[start : start + chunk])
            emulator.process(0.001)
        emulator.process_all()
        results.append(emulator)
    return results[0], results[1]


@pytest.mark.parametrize("kind", ["yes", "wrapping", "coloured", "mixed"])
@pytest.mark.parametrize(
    "prefix",
    [b"hello\r\nworld\r\n\x1b[5;3H", b"\x1b[?1049h", b"\x1b[?7l", b"\x1b[44;1m"],
    ids=["cursor-moved", "alternate", "no-wrap", "sgr-set"],
)
@pytest.mark.parametrize("tail", ["", "prompt$ ", "$ \x1b[2A\x1b[3Cxy", "\x1b[?1049h\x1b[Halt"],
                         ids=["none", "prompt", "cursor-moves", "alt-screen"])
def test_fast_path_gives_exactly_what_full_parsing_gives(kind: str, prefix: bytes, tail: str) -> None:
    rng = random.Random(hash((kind, prefix, tail)) & 0xFFFF)
    lines = 12000 if kind == "yes" else 1500
    data = (generate(kind, lines, rng) + tail).encode()
    fast, slow = run_both(data, prefix)
    assert fast.fast_forwards >= 1, "the fast path was not taken"
    assert fast.skipped_chars > len(data) // 2
    assert snapshot(fast) == snapshot(slow)
    assert fast.display() == slow.display()
    assert fast.history_text() == slow.history_text()


def test_fast_path_on_real_program_output() -> None:
    data = record("seq 1 60000", cols=40, rows=10, timeout=30)
    fast, slow = run_both(data, b"", scrollback=200, chunk=len(data))  # all of it pending at once
    assert fast.skipped_chars > len(data) * 0.9
    assert any(isinstance(row, str) for row in fast.screen.history)  # rows made without parsing
    assert snapshot(fast) == snapshot(slow)
    assert visible(fast)[-1] == "60000" and fast.history_text()[0] == str(60000 - 200 - 8)


def test_fast_path_is_not_used_where_it_could_be_wrong() -> None:
    rng = random.Random(7)
    body = generate("yes", 12000, rng).encode()
    for prefix in (b"\x1b[2;8r", b"\x1b[4h"):  # scrolling margins, insert mode
        fast, slow = run_both(body, prefix)
        assert fast.fast_forwards == 0
        assert snapshot(fast) == snapshot(slow)
    # Bare line feeds (no CR): the column at the cut is unknown, so no skipping.
    fast, slow = run_both(b"y\n" * 12000, b"")
    assert fast.skipped_chars == 0 and snapshot(fast) == snapshot(slow)
