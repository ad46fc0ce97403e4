"""The VT parser's hot path (vmss_tui/ui/vt_hotpath.py) against pyte's parser, the slow path:
identical screens, cursor, attributes, modes, margins and scrollback, on byte streams recorded
from real programs and on random ones, fed whole or cut anywhere. And the screen methods that
VtScreen does faster than pyte (scroll, erase) against pyte's own."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pyte
import pytest

from tests.ui.test_terminal_emulator import record, run_both, snapshot
from vmss_tui.ui.terminal import TerminalEmulator


def state(emulator: TerminalEmulator) -> tuple[object, ...]:
    screen = emulator.screen
    return (
        snapshot(emulator),
        frozenset(screen.mode),
        screen.margins,
        screen.g0_charset == pyte.charsets.VT100_MAP,
        screen.g1_charset == pyte.charsets.VT100_MAP,
        screen.cursor.hidden,
        screen.history_added,
        screen.title,
        emulator.stream.at_ground,
        emulator.stream.errors,
    )


def feed_both(data: bytes, *, cols: int = 40, rows: int = 12, scrollback: int = 30,
              cuts: list[int] | None = None) -> tuple[TerminalEmulator, TerminalEmulator]:
    """The same bytes through the hot path and through pyte alone (the flood fast path off in
    both), in reads that end at `cuts` (or in one read)."""
    results = []
    for hot in (True, False):
        emulator = TerminalEmulator(cols, rows, scrollback, hot_path=hot)
        emulator.FLOOD_MIN = 1 << 60
        answers: list[str] = []
        emulator.screen.on_answer = answers.append
        start = 0
        for end in [*(cuts or []), len(data)]:
            emulator.feed(data[start:end])
            emulator.process(0.001)
            start = end
        emulator.process_all()
        emulator.answers = answers  # type: ignore[attr-defined]
        results.append(emulator)
    return results[0], results[1]


def assert_same(hot: TerminalEmulator, slow: TerminalEmulator) -> None:
    assert state(hot) == state(slow)
    assert hot.display() == slow.display()
    assert hot.history_text() == slow.history_text()
    assert hot.answers == slow.answers  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------- recorded streams


@pytest.fixture(scope="module")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("files") / "file.txt"
    path.write_text("".join(f"file line {i} \t{'x' * (i % 50)}\n" for i in range(300)))
    return path


RECORDINGS = {
    "printf": (r"printf '\e[31mred\e[0m \e[1;4;3mbiu\e[0m \e[7mrev\e[0m \e[38;5;208m256\e[0m "
               r"\e[38;2;10;20;30;48;2;200;100;50mtrue\e[0m \e[92mbright\e[0m\n'; "
               r"printf 'a\tb\bc\rd\e[2Ke\e[1Kf\e[5;5Hg\e[Jh\e[1Ji\e[2;3rj\e[r\e(0lqk\e(Bk\e[4hins\e[4l\n'", None),
    "ls": ("ls --color=always -la /usr/bin | head -400", "ls"),
    "grep": ("grep --color=always -rn 'import' /usr/lib/python3*/json/ | head -300", "grep"),
    "seq": ("seq 1 3000", "seq"),
}


@pytest.mark.parametrize("name", sorted(RECORDINGS))
def test_recorded_command_output(name: str) -> None:
    script, program = RECORDINGS[name]
    if program and shutil.which(program) is None:
        pytest.skip(f"{program} not installed")
    data = record(script, cols=80, rows=24)
    assert len(data) > 20
    hot, slow = feed_both(data, cols=80, rows=24, scrollback=200)
    assert_same(hot, slow)
    assert hot.hot_path is not None and hot.hot_path.slow_tokens < max(20, len(data) // 200)


@pytest.mark.skipif(shutil.which("vim") is None or shutil.which("less") is None, reason="vim or less not installed")
def test_recorded_full_screen_programs(text_file: Path) -> None:
    for script, keys in (
        (f"vim -u NONE -N -n {text_file}", ((0.6, b"jjjjGkkk"), (0.3, b"ggddjjx"), (0.3, b":q!\r"))),
        (f"less {text_file}", ((0.4, b" "), (0.3, b"b"), (0.3, b"q"))),
    ):
        data = record(script, keys=keys)
        for cuts in (None, list(range(1, len(data), 97))):
            hot, slow = feed_both(data, cols=80, rows=24, cuts=cuts)
            assert_same(hot, slow)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
def test_recorded_tmux() -> None:
    data = record("tmux -L vmss-tui-hotpath-$$ -f /dev/null new-session 'seq 1 40; printf \"\\e[1;31mred\"; sleep 0.6'",
                  cols=60, rows=12)
    hot, slow = feed_both(data, cols=60, rows=12, cuts=list(range(3, len(data), 61)))
    assert_same(hot, slow)


def test_benchmark_streams() -> None:
    from benchmarks.ssh_parse import stream

    for kind in ("text", "coloured", "redraw"):
        data = stream(kind, 120_000)
        hot, slow = feed_both(data, cols=100, rows=30, scrollback=100, cuts=list(range(4096, len(data), 4096)))
        assert_same(hot, slow)


# ----------------------------------------------------------------------------- random streams

PIECES = [
    "plain text ", "x" * 37, "é", "日本", "❤\ufe0f", "e\u0301", "\t", "\r", "\n", "\r\n", "\x08", "\x07", "\x0b",
    "\x01", "\x7f", "\x00", "\x85", "\x0e", "\x0f",
    "\x1b[m", "\x1b[0m", "\x1b[1m", "\x1b[01;31m", "\x1b[7;44m", "\x1b[38;5;208m", "\x1b[48;2;1;2;3m", "\x1b[38;5m",
    "\x1b[38:5:1m", "\x1b[?5m", "\x1b[4;;7m", "\x1b[99999m",
    "\x1b[H", "\x1b[5;10H", "\x1b[;7H", "\x1b[99;999H", "\x1b[3f", "\x1b[2A", "\x1b[B", "\x1b[5C", "\x1b[D",
    "\x1b[7G", "\x1b[4d", "\x1b[2E", "\x1b[F", "\x1b[1;2;3A",
    "\x1b[K", "\x1b[1K", "\x1b[2K", "\x1b[5K", "\x1b[J", "\x1b[1J", "\x1b[2J", "\x1b[3J",
    "\x1b[2@", "\x1b[3P", "\x1b[4X", "\x1b[2L", "\x1b[M", "\x1b[2S", "\x1b[T", "\x1b[3b", "\x1b[Z", "\x1b[2I",
    "\x1b[?25l", "\x1b[?25h", "\x1b[?7l", "\x1b[?7h", "\x1b[?1h", "\x1b[?1l", "\x1b[?2004h", "\x1b[?5h", "\x1b[?5l",
    "\x1b[?6h", "\x1b[?6l", "\x1b[4h", "\x1b[4l", "\x1b[20h", "\x1b[20l", "\x1b[?1049h", "\x1b[?1049l",
    "\x1b[?47h", "\x1b[?47l", "\x1b[3;8r", "\x1b[r", "\x1b7", "\x1b8", "\x1b[s", "\x1b[u", "\x1bD", "\x1bM",
    "\x1bE", "\x1bc", "\x1b[!p", "\x1b(0", "\x1b(B", "\x1b)0", "\x1b#8", "\x1b]0;title\x07", "\x1b]2;t2\x1b\\",
    "\x1bP+q544e\x1b\\", "\x1b_apc\x1b\\", "\x1b[>4;2m", "\x1b[2 q", "\x1b[?2026$p", "\x1b[6n", "\x1b[5n", "\x1b[c",
    "\x1b[1\r2H", "\x1b[3\x1b[4m", "\x1b", "\x9b2J", "\x1b[g", "\x1bH", "\x1b[3g",
]


def random_stream(rng: random.Random, count: int) -> bytes:
    return "".join(rng.choice(PIECES) for _ in range(count)).encode()


@pytest.mark.parametrize("seed", range(40))
def test_random_streams_give_the_same_screen(seed: int) -> None:
    rng = random.Random(seed)
    data = random_stream(rng, 400)
    cuts = sorted(rng.sample(range(1, len(data)), 25))  # reads ending anywhere, inside sequences too
    hot, slow = feed_both(data, cols=rng.choice([10, 23, 40]), rows=rng.choice([3, 8, 12]), cuts=cuts)
    assert_same(hot, slow)


def test_the_hot_path_takes_the_common_tokens() -> None:
    data = b"".join(b"\x1b[%d;1H\x1b[1;3%dmrow %d\x1b[0m text\x1b[K\r\n" % (i % 20 + 1, i % 8, i) for i in range(500))
    hot, slow = feed_both(data, cols=80, rows=24)
    assert_same(hot, slow)
    assert hot.hot_path is not None and hot.hot_path.slow_tokens == 0


# ----------------------------------------------------------------------------- against pyte itself


@pytest.mark.parametrize("seed", range(10))
def test_faster_screen_methods_match_pytes(seed: int) -> None:
    # What pyte's own Screen does with sequences it handles: scrolling, erasing, drawing,
    # cursor addressing and SGR (VtScreen replaces index, erase_in_line and erase_in_display).
    # Erase in display runs with default attributes here: with others, pyte changes only the
    # cells written before, VtScreen all of them (test_erase_in_display_fills_the_background).
    rng = random.Random(seed)
    pieces = ["word ", "y" * 13, "\r\n", "\n", "\r", "\x1b[K", "\x1b[1K", "\x1b[2K", "\x1b[0m\x1b[J", "\x1b[0m\x1b[1J",
              "\x1b[0m\x1b[2J",
              "\x1b[31;44m", "\x1b[0m", "\x1b[7m", "\x1b[5;3H", "\x1b[H", "\x1b[20;1H", "\x1b[2;6r", "\x1b[r",
              "\x1b[2A", "\x1b[3C", "\x1bM", "\x1bD", "\x1b[?7l", "\x1b[?7h"]
    text = "".join(rng.choice(pieces) for _ in range(600))
    reference = pyte.Screen(30, 8)
    pyte.Stream(reference).feed(text)
    for hot in (True, False):
        emulator = TerminalEmulator(30, 8, 0, hot_path=hot)
        emulator.FLOOD_MIN = 1 << 60
        emulator.feed(text.encode())
        emulator.process_all()
        screen = emulator.screen
        assert [[screen.buffer[y][x] for x in range(30)] for y in range(8)] == [
            [reference.buffer[y][x] for x in range(30)] for y in range(8)
        ]
        assert (screen.cursor.x, screen.cursor.y, screen.cursor.attrs) == (
            reference.cursor.x, reference.cursor.y, reference.cursor.attrs)


def test_erase_in_display_fills_the_background() -> None:
    emulator = TerminalEmulator(12, 4)
    emulator.feed(b"one\r\ntwo\x1b[44m\x1b[2J\x1b[2;5H\x1b[41m\x1b[J\x1b[42m\x1b[1J")
    emulator.process_all()
    screen = emulator.screen
    assert [screen.buffer[0][x].bg for x in (0, 11)] == ["green", "green"]
    assert [screen.buffer[1][x].bg for x in (0, 4, 5, 11)] == ["green", "green", "red", "red"]
    assert [screen.buffer[y][x].bg for y in (2, 3) for x in (0, 11)] == ["red"] * 4
    assert emulator.display() == ["", "", "", ""]
    emulator.feed(b"\x1b[0m\x1b[2J")
    emulator.process_all()
    assert all(screen.buffer[y][x] == screen.default_char for y in range(4) for x in range(12))


# ----------------------------------------------------------------------------- the flood fast path


@pytest.mark.parametrize("kind", ["coloured", "wrapping", "mixed"])
def test_fast_path_in_small_windows_gives_what_full_parsing_gives(kind: str) -> None:
    from tests.ui.test_terminal_emulator import generate

    rng = random.Random(len(kind))
    data = (generate(kind, 3000, rng) + "\x1b[1;32mprompt$ \x1b[0m").encode()
    results = []
    default = TerminalEmulator.SKIP_WINDOW
    for window in (4096, 1 << 20):
        TerminalEmulator.SKIP_WINDOW = window
        try:
            results.append(run_both(data, b"\x1b[44m", chunk=50_000))
        finally:
            TerminalEmulator.SKIP_WINDOW = default
    for fast, slow in results:
        assert fast.fast_forwards >= 1
        assert snapshot(fast) == snapshot(slow)
        assert fast.history_text() == slow.history_text()


def test_coloured_flood_with_erase_in_line_is_skipped() -> None:
    body = "".join(f"\x1b[01;3{i % 8}m{i:6d}\x1b[0m \x1b[38;5;{i % 256}mitem\x1b[m\x1b[K\r\n" for i in range(6000))
    fast, slow = run_both(body.encode(), b"")
    assert fast.skipped_chars > 0.8 * len(body)
    assert snapshot(fast) == snapshot(slow)
    # A designation other than the ones the fast path replays stops the run where it is.
    odd = body[: len(body) // 2] + "\x1b(%" + body[len(body) // 2 :]
    fast, slow = run_both(odd.encode(), b"")
    assert snapshot(fast) == snapshot(slow)
