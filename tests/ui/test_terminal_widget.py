"""The terminal widget inside a real Textual app (pilot): keys, focus release, rendering, painting
only dirty rows at a capped rate, scrollback paging, resize, and staying responsive in a flood."""

from __future__ import annotations

import asyncio
import time

from textual.app import App, ComposeResult
from textual.command import CommandPalette
from textual.widgets import Input

from vmss_tui.ui.terminal import Terminal


class CountingTerminal(Terminal):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rendered_rows: list[int] = []

    def render_line(self, y: int):  # type: ignore[no-untyped-def]
        self.rendered_rows.append(y)
        return super().render_line(y)


class TermApp(App[None]):
    def __init__(self, scrollback: int = 1000) -> None:
        super().__init__()
        self.sent = bytearray()
        self.sizes: list[tuple[int, int]] = []
        self.released = 0
        self.scrollback = scrollback

    def compose(self) -> ComposeResult:
        yield Input(id="other")
        yield CountingTerminal(send=self.sent.extend, on_resize=lambda c, r: self.sizes.append((c, r)),
                               scrollback=self.scrollback, id="term")

    def on_terminal_focus_released(self, message: Terminal.FocusReleased) -> None:
        self.released += 1
        self.query_one("#other", Input).focus()


def row_text(terminal: Terminal, y: int) -> str:
    return "".join(segment.text for segment in terminal.render_line(y)).rstrip()


async def settle(pilot, terminal: Terminal) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        await pilot.pause(0.01)
        if not terminal.emulator.pending and terminal._paint_timer is None:
            break
    await pilot.pause(0.05)


async def test_keys_reach_the_remote_including_the_apps_priority_keys() -> None:
    app = TermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.focus()
        await pilot.pause()
        await pilot.press("h", "i", "ctrl+p", "ctrl+q", "tab", "ctrl+c", "escape", "up", "f5", "shift+tab")
        await pilot.pause()
        assert bytes(app.sent) == b"hi\x10\x11\t\x03\x1b\x1b[A\x1b[15~\x1b[Z"
        assert app.is_running  # ctrl+q did not quit
        assert not isinstance(app.screen, CommandPalette)  # ctrl+p did not open the palette
        assert app.focused is terminal  # tab did not move the focus

        terminal.write(b"\x1b[?1h")  # the remote switches to application cursor keys
        await settle(pilot, terminal)
        app.sent.clear()
        await pilot.press("up", "left")
        assert bytes(app.sent) == b"\x1bOA\x1bOD"


async def test_ctrl_right_bracket_gives_the_focus_back() -> None:
    app = TermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.focus()
        await pilot.pause()
        await pilot.press("ctrl+right_square_bracket")
        await pilot.pause()
        assert app.released == 1
        assert app.focused is app.query_one("#other")
        assert bytes(app.sent) == b""
        # The app's own priority key works again once the terminal lost the focus.
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)


async def test_disabled_input_lets_keys_through() -> None:
    app = TermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.focus()
        terminal.input_enabled = False
        await pilot.press("x", "ctrl+p")
        await pilot.pause()
        assert bytes(app.sent) == b""
        assert isinstance(app.screen, CommandPalette)


async def test_paste_is_bracketed_when_the_remote_asks() -> None:
    from textual import events

    app = TermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.focus()
        terminal.post_message(events.Paste("ls\nexit"))
        await pilot.pause()
        assert bytes(app.sent) == b"ls\rexit"
        app.sent.clear()
        terminal.write(b"\x1b[?2004h")
        await settle(pilot, terminal)
        terminal.post_message(events.Paste("ls\n"))
        await pilot.pause()
        assert bytes(app.sent) == b"\x1b[200~ls\r\x1b[201~"


async def test_rendering_styles_and_cursor() -> None:
    app = TermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.focus()
        terminal.write(b"\x1b[31mred\x1b[0m \x1b[1;44mbold\x1b[0m \x1b[38;2;1;2;3mrgb\x1b[0m \x1b[4;7mur\x1b[0m")
        await settle(pilot, terminal)
        strip = terminal.render_line(0)
        by_text = {segment.text: segment.style for segment in strip if segment.text.strip()}
        assert by_text["red"].color.number == 1
        assert by_text["bold"].bold and by_text["bold"].bgcolor.number == 4
        assert by_text["rgb"].color.triplet == (1, 2, 3)
        assert by_text["ur"].underline and by_text["ur"].reverse
        assert row_text(terminal, 0) == "red bold rgb ur"
        # The cursor (after "ur", column 15) is drawn reversed while focused.
        cursor = [s for s in strip if s.style and s.style.reverse and s.text == " "]
        assert len(cursor) == 1
        app.query_one("#other").focus()
        await settle(pilot, terminal)
        assert not [s for s in terminal.render_line(0) if s.style and s.style.reverse and s.text == " "]


async def test_only_dirty_rows_are_repainted() -> None:
    app = TermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(CountingTerminal)
        terminal.write(b"first row")
        await settle(pilot, terminal)
        terminal.rendered_rows.clear()
        terminal.write(b"\x1b[6;1Hrow six")  # one row changes, the cursor moves from row 0 to 5
        await settle(pilot, terminal)
        assert set(terminal.rendered_rows) == {0, 5}
        assert row_text(terminal, 5) == "row six"


async def test_paints_are_capped_near_sixty_a_second() -> None:
    app = TermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(Terminal)
        await settle(pilot, terminal)
        before = terminal.paints
        started = time.monotonic()
        for i in range(400):
            terminal.write(b"line %d\r\n" % i)
            await asyncio.sleep(0.001)
        await settle(pilot, terminal)
        elapsed = time.monotonic() - started
        paints = terminal.paints - before
        assert paints <= elapsed * 60 + 3, (paints, elapsed)
        assert row_text(terminal, terminal.lines - 2) == "line 399"


async def test_scrollback_paging_and_return_on_key() -> None:
    app = TermApp(scrollback=500)
    async with app.run_test(size=(60, 14)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.focus()
        await settle(pilot, terminal)
        lines = terminal.lines
        terminal.write(b"".join(b"L%03d\r\n" % i for i in range(200)))
        await settle(pilot, terminal)
        assert row_text(terminal, lines - 2) == "L199"
        await pilot.press("shift+pageup")
        await pilot.pause()
        assert terminal.view_offset == lines - 1
        # One page back, the bottom row shows what the top row of the live screen showed.
        assert row_text(terminal, lines - 1) == f"L{199 - (lines - 2):03d}"
        await pilot.press("shift+pageup", "shift+pageup", "shift+pagedown")
        assert terminal.view_offset == 2 * (lines - 1)
        # New output while paging back does not move the page being read.
        shown = row_text(terminal, 0)
        terminal.write(b"more\r\n")
        await settle(pilot, terminal)
        assert row_text(terminal, 0) == shown
        assert bytes(app.sent) == b""
        await pilot.press("x")  # typing returns to the live screen
        assert terminal.view_offset == 0 and bytes(app.sent) == b"x"


async def test_resize_reports_the_new_size() -> None:
    app = TermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(Terminal)
        await pilot.pause(0.15)
        assert app.sizes and app.sizes[-1] == (terminal.size.width, terminal.size.height)
        await pilot.resize_terminal(100, 30)
        await pilot.pause(0.2)
        assert app.sizes[-1] == (100, terminal.size.height) == (terminal.columns, terminal.lines)
        assert terminal.lines == terminal.size.height > 21


async def test_a_flood_ends_on_the_right_screen_without_parsing_it_all() -> None:
    # How long the loop stalls during a flood is measured by benchmarks/ssh_terminal.py; here,
    # that a flood fed as fast as the loop allows ends on exactly the right screen and that the
    # fast path skipped what cannot reach it.
    app = TermApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(Terminal)
        await settle(pilot, terminal)
        chunk = b"".join(b"flood line %06d of output\r\n" % i for i in range(2400))  # ~64 KiB
        for _ in range(300):  # ~19 MB arriving as fast as the loop allows, like SSH reads
            terminal.write(chunk)
            await asyncio.sleep(0)
        terminal.write(b"done$ ")
        await settle(pilot, terminal)
        assert row_text(terminal, terminal.lines - 1) == "done$"
        assert row_text(terminal, terminal.lines - 2) == "flood line 002399 of output"
        assert terminal.emulator.skipped_chars > 0.9 * 300 * len(chunk)


async def test_a_hidden_tab_keeps_the_terminal_size() -> None:
    from textual.widgets import TabbedContent, TabPane

    sizes: list[tuple[int, int]] = []

    class TabsApp(App[None]):
        def compose(self) -> ComposeResult:
            with TabbedContent(id="tabs"):
                with TabPane("fleet", id="fleet"):
                    yield Input()
                with TabPane("ssh", id="ssh"):
                    yield Terminal(on_resize=lambda c, r: sizes.append((c, r)))

    app = TabsApp()
    async with app.run_test(size=(90, 30)) as pilot:
        tabs = app.query_one(TabbedContent)
        tabs.active = "ssh"
        await pilot.pause(0.2)
        terminal = app.query_one(Terminal)
        shown = (terminal.columns, terminal.lines)
        assert shown[0] == 90 and sizes[-1] == shown
        terminal.write(b"keep me\r\n")
        await settle(pilot, terminal)
        tabs.active = "fleet"
        await pilot.pause(0.2)
        tabs.active = "ssh"
        await pilot.pause(0.2)
        assert set(sizes) == {shown} and (terminal.columns, terminal.lines) == shown
        assert row_text(terminal, 0) == "keep me"


class EchoTerminal(CountingTerminal):
    """Echoes what is typed, as a remote shell does, and records whether each paint reached the
    screen (render_line calls) before returning: composited at once, not at the next tick."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(send=lambda data: self.write(data), **kwargs)
        self.paints_at_once: list[bool] = []

    def _paint(self, at_once: bool = False) -> None:
        rendered = len(self.rendered_rows)
        super()._paint(at_once)
        self.paints_at_once.append(len(self.rendered_rows) > rendered)


class EchoApp(App[None]):
    def compose(self) -> ComposeResult:
        yield EchoTerminal(id="typing")
        yield CountingTerminal(id="flooding")


async def test_the_echo_of_a_key_is_painted_at_once() -> None:
    app = EchoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one("#typing", EchoTerminal)
        terminal.focus()
        await settle(pilot, terminal)
        for key in "hello":
            terminal.paints_at_once.clear()
            await pilot.press(key)
            await settle(pilot, terminal)
            # Keys typed faster than the frame rate still get their echo painted at once.
            assert terminal.paints_at_once[:1] == [True]
        assert row_text(terminal, 0) == "hello"
        # Output that keeps coming faster than it is parsed is painted at the capped rate, at
        # the screen's own update ticks.
        terminal.paints_at_once.clear()
        flood = b"".join(b"\x1b[3%dmline %d\x1b[0m\r\n" % (i % 8, i) for i in range(20000))
        terminal.write(flood)
        await settle(pilot, terminal)
        assert terminal.paints_at_once and not all(terminal.paints_at_once)
        assert row_text(terminal, terminal.lines - 2) == "line 19999"


async def test_a_flooding_terminal_waits_while_a_typed_key_awaits_its_echo() -> None:
    sent: list[bytes] = []

    class Typing(CountingTerminal):
        ECHO_PRIORITY = 60.0  # the echo is written by the test below, whenever it gets there

    class TwoApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Typing(send=sent.append, id="typing")
            yield CountingTerminal(id="flooding")

    app = TwoApp()
    async with app.run_test(size=(80, 24)) as pilot:
        typing = app.query_one("#typing", Typing)
        flooding = app.query_one("#flooding", CountingTerminal)
        typing.focus()
        await settle(pilot, typing)
        await pilot.press("x")
        assert sent == [b"x"]
        flooding.write(b"".join(b"flood %d\r\n" % i for i in range(200)))
        for _ in range(20):  # while the echo is awaited, the other terminal's output waits
            await pilot.pause(0.01)
        assert flooding.emulator.pending > 0
        typing.write(b"x")  # the echo arrives and is painted: the flood goes on
        await settle(pilot, flooding)
        assert flooding.emulator.pending == 0
        assert row_text(typing, 0) == "x"
        assert row_text(flooding, flooding.lines - 2) == "flood 199"


async def test_rendered_rows_have_every_cells_character_and_style() -> None:
    import random

    from rich.style import Style

    rng = random.Random(5)
    pieces = ["plain", " ", "日本", "\x1b[31m", "\x1b[1;44m", "\x1b[7m", "\x1b[0m", "\x1b[38;5;208m", "\x1b[4;9m",
              "\x1b[38;2;1;2;3m", "\x1b[K", "\x1b[3C", "\r\n", "\x1b[2;20H", "xyz"]
    app = TermApp()
    async with app.run_test(size=(60, 12)) as pilot:
        terminal = app.query_one(Terminal)
        terminal.focus()
        terminal.write("".join(rng.choice(pieces) for _ in range(300)).encode())
        await settle(pilot, terminal)
        screen = terminal.emulator.screen
        base = terminal.rich_style
        for y in range(terminal.lines):
            strip = terminal.render_line(y)
            assert strip.cell_length == terminal.size.width
            cells = [(char, segment.style) for segment in strip for char in segment.text]
            row = screen.buffer.get(y)
            expected = []
            for x in range(screen.columns):
                cell = row[x] if row is not None else screen.default_char
                if not cell.data:
                    continue  # the right half of a wide character
                style = base + terminal._style(tuple(cell[1:]))
                if y == screen.cursor.y and x == min(screen.cursor.x, screen.columns - 1):
                    style += Style(reverse=not cell.reverse)
                expected.append((cell.data, style))
            assert cells[: len(expected)] == expected


async def test_output_handed_over_when_the_remote_resumes_is_parsed() -> None:
    # asyncssh delivers what it buffered while paused inside resume_reading(), so write() runs
    # inside on_flow(False) and may pause the remote again: the terminal must go on parsing.
    flow: list[bool] = []
    buffered = [b"".join(b"buffered line %05d\r\n" % i for i in range(6000)), b"last line\r\nend$ "]

    class Flow(CountingTerminal):
        HIGH_WATER = 64 * 1024
        LOW_WATER = 16 * 1024

    def on_flow(pause: bool) -> None:
        flow.append(pause)
        if not pause and buffered:
            terminal.write(buffered.pop(0))

    class FlowApp(App[None]):
        def compose(self) -> ComposeResult:
            yield Flow(on_flow=on_flow, id="term")

    app = FlowApp()
    async with app.run_test(size=(80, 24)) as pilot:
        terminal = app.query_one(Flow)
        await settle(pilot, terminal)
        terminal.write(b"".join(b"first line %05d\r\n" % i for i in range(6000)))
        for _ in range(500):
            await pilot.pause(0.01)
            if not buffered and not terminal.emulator.pending and flow[-1] is False:
                break
        await settle(pilot, terminal)
        assert flow[:3] == [True, False, True] and flow[-1] is False
        assert terminal.emulator.pending == 0
        assert row_text(terminal, terminal.lines - 1) == "end$"
        assert row_text(terminal, terminal.lines - 2) == "last line"
