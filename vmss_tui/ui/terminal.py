"""An embedded VT terminal: a pyte screen with what pyte lacks, rendered as a Textual widget.

Two layers in one module:

* `TerminalEmulator` (no Textual): bytes in (incremental UTF-8), a pyte screen that also has the
  alternate screen (modes 1049/1047/47), a scrollback, SU/SD/REP/CBT/CHT/SCOSC, DEC line drawing
  in UTF-8, and tolerance for sequences pyte misparses (DCS/APC strings, CSI with intermediates
  or `>`/`=`/`<` prefixes are consumed instead of leaking onto the screen). Output is parsed in
  time-boxed slices by the hot path of vt_hotpath.py (the commonest sequences applied directly,
  pyte's parser for the rest, with the same result); when output floods, the part that cannot
  affect the final screen or the scrollback is skipped without parsing (see `_fast_forward`).
* `Terminal` (Textual widget): renders only dirty rows as style runs (16/256/true colours, bold,
  italic, underline, strike, reverse, blink), paints at most ~60 times a second (15 while output
  floods) except for the echo of a typed key, which is painted at once; while a typed key awaits
  its echo, other terminals' output waits (the focused terminal first). It sends keys as
  xterm byte sequences (application cursor mode, function keys, ctrl/alt combinations,
  bracketed paste), pages through the scrollback with shift+PageUp/PageDown and the mouse wheel,
  and reports its size for the remote PTY.

While it has focus the terminal takes every key, including the ones the app binds with
priority (ctrl+p, ctrl+q, tab ...). **ctrl+] gives the focus back** to the console
(`Terminal.FocusReleased` is posted; the key is never sent to the remote).
"""

from __future__ import annotations

import asyncio
import codecs
import copy
import math
import re
import time
import unicodedata
import weakref
from collections import defaultdict, deque
from collections.abc import Callable
from itertools import groupby, repeat
from operator import itemgetter
from typing import Any, ClassVar

import pyte
from pyte import modes as mo
from pyte.charsets import LAT1_MAP, VT100_MAP
from pyte.screens import Char, Margins, StaticDefaultDict
from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget
from wcwidth import wcwidth

from vmss_tui.ui.vt_hotpath import HotPath

# Private modes are stored shifted left by 5 in pyte's `screen.mode`.
DECCKM = 1 << 5  # application cursor keys
BRACKETED_PASTE = 2004 << 5
_ALT_SCREEN_MODES = {1049, 1047, 47}
_IGNORED_PRIVATE_MODES = {3}  # DECCOLM: a widget cannot switch itself to 132 columns

ESC = "\x1b"
CSI_C1 = "\x9b"

Row = StaticDefaultDict  # a screen row: column -> Char
_STYLE_KEY = itemgetter(1, 2, 3, 4, 5, 6, 7, 8)  # a cell's attributes: fg, bg, bold ... blink
_CELL_DATA = itemgetter(0)
# A scrollback row the flood fast path made without parsing: plain text in the screen's
# `plain_attrs` (one str, which the garbage collector does not track: a flood makes many).
PlainRow = str


# ----------------------------------------------------------------------------- emulator


class VtScreen(pyte.Screen):
    """pyte.Screen plus alternate screen, scrollback and the controls pyte does not know."""

    def __init__(self, columns: int, lines: int, scrollback: int = 1000) -> None:
        self.history: deque[Row | PlainRow] = deque(maxlen=max(scrollback, 0))
        # The style of every PlainRow in the history (each fast-path skip replaces the whole
        # scrollback, so they all come from the same skip and share it).
        self.plain_attrs: Char = Char(" ")
        self.plain_default: Char = Char(" ")
        self.history_added = 0  # rows ever added; lets a scrolled-back view stay anchored
        self.in_alternate = False
        self._main_buffer: Any = None
        self._alt_buffer: Any = None
        self._alt_saved_cursor: pyte.screens.Cursor | None = None
        self._last_char = ""
        self.on_answer: Callable[[str], None] | None = None  # device status reports go here
        super().__init__(columns, lines)

    def cell(self, row: Row | PlainRow | None, x: int) -> Char:
        """The character at column x of a screen or scrollback row."""
        if row is None:
            return self.default_char
        if isinstance(row, str):
            return self.plain_attrs._replace(data=row[x]) if x < len(row) else self.plain_default
        return row[x]

    def _new_buffer(self) -> Any:
        return defaultdict(lambda: StaticDefaultDict(self.default_char))

    # -- answers to the remote (DSR/DA) -----------------------------------------------------
    def write_process_input(self, data: str) -> None:
        if self.on_answer is not None:
            self.on_answer(data)

    # -- drawing ----------------------------------------------------------------------------
    def draw(self, data: str) -> None:
        # pyte stops drawing a run at the first character with no width that is not a combining
        # mark (C0 controls its stream passes on as text, ZWJ, variation selectors, C1 controls
        # ...): xterm ignores those, so they are dropped instead.
        if not data.isascii():
            if any(wcwidth(c) < 0 or (wcwidth(c) == 0 and not unicodedata.combining(c)) for c in data):
                data = "".join(c for c in data if wcwidth(c) > 0 or unicodedata.combining(c))
                if not data:
                    return
        elif not data.isprintable():
            data = "".join(c for c in data if c.isprintable())
            if not data:
                return
        self._last_char = data[-1]
        super().draw(data)

    def repeat_last(self, count: int | None = None) -> None:
        """REP (CSI n b): ncurses uses it with TERM=xterm-256color."""
        if self._last_char:
            self.draw(self._last_char * min(count or 1, self.columns * self.lines))

    # -- scrolling and scrollback -------------------------------------------------------------
    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y != bottom:
            self.cursor_down()
            return
        buffer = self.buffer
        if top == 0 and not self.in_alternate and self.history.maxlen:
            self.history.append(buffer[top])
            self.history_added += 1
        # pyte's scroll, with the row moves done by C-level map/update instead of a Python loop:
        # the same rows end up under the same keys.
        self.dirty.update(range(self.lines))
        rows = list(map(buffer.__getitem__, range(top + 1, bottom + 1)))
        buffer.update(zip(range(top, bottom), rows, strict=True))
        buffer.pop(bottom, None)

    def scroll_up(self, count: int | None = None) -> None:
        """SU (CSI n S): the scrolling region moves up, blank lines enter at the bottom."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        n = min(count or 1, bottom - top + 1)
        for y in range(top, bottom + 1):
            source = y + n
            if source <= bottom and source in self.buffer:
                self.buffer[y] = self.buffer[source]
            else:
                self.buffer.pop(y, None)
        self.dirty.update(range(top, bottom + 1))

    def scroll_down(self, count: int | None = None) -> None:
        """SD (CSI n T): the scrolling region moves down, blank lines enter at the top."""
        top, bottom = self.margins or Margins(0, self.lines - 1)
        n = min(count or 1, bottom - top + 1)
        for y in range(bottom, top - 1, -1):
            source = y - n
            if source >= top and source in self.buffer:
                self.buffer[y] = self.buffer[source]
            else:
                self.buffer.pop(y, None)
        self.dirty.update(range(top, bottom + 1))

    # pyte's erases, with the cells written by C-level dict updates instead of a Python loop
    # per cell. Erase in display fills every cell with the current attributes, as xterm does
    # (TERM=xterm-256color says `bce`: ncurses paints backgrounds that way); pyte changed only
    # the cells written before.
    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        cursor = self.cursor
        self.dirty.add(cursor.y)
        if how == 0:
            interval = range(cursor.x, self.columns)
        elif how == 1:
            interval = range(cursor.x + 1)
        elif how == 2:
            interval = range(self.columns)
        else:
            return
        self.buffer[cursor.y].update(dict.fromkeys(interval, cursor.attrs))

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        if how == 3:  # ED 3: xterm erases the scrollback only
            self.history.clear()
            return
        cursor = self.cursor
        if how == 0:
            interval = range(cursor.y + 1, self.lines)
        elif how == 1:
            interval = range(cursor.y)
        elif how == 2:
            interval = range(self.lines)
        else:
            return
        self.dirty.update(interval)
        attrs = cursor.attrs
        buffer = self.buffer
        blank = dict.fromkeys(range(self.columns), attrs)
        for y in interval:
            row = buffer[y]
            if attrs == row.default:
                row.clear()  # an unwritten cell is the row's default
            else:
                row.update(blank)
        if how == 0 or how == 1:
            self.erase_in_line(how)

    # -- tabs ---------------------------------------------------------------------------------
    def back_tab(self, count: int | None = None) -> None:
        """CBT (CSI n Z)."""
        for _ in range(count or 1):
            stops = [s for s in self.tabstops if s < self.cursor.x]
            self.cursor.x = max(stops) if stops else 0

    def forward_tab(self, count: int | None = None) -> None:
        """CHT (CSI n I)."""
        for _ in range(count or 1):
            self.tab()

    # -- modes --------------------------------------------------------------------------------
    def set_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            for mode in modes:
                if mode == 1049:
                    self._enter_alternate(save_cursor=True, clear=True)
                elif mode in (1047, 47):
                    self._enter_alternate(save_cursor=False, clear=False)
            modes = tuple(m for m in modes if m not in _ALT_SCREEN_MODES and m not in _IGNORED_PRIVATE_MODES)
            if not modes:
                return
        super().set_mode(*modes, **kwargs)

    def reset_mode(self, *modes: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            for mode in modes:
                if mode == 1049:
                    self._leave_alternate(restore_cursor=True, clear=True)
                elif mode == 1047:
                    self._leave_alternate(restore_cursor=False, clear=True)
                elif mode == 47:
                    self._leave_alternate(restore_cursor=False, clear=False)
            modes = tuple(m for m in modes if m not in _ALT_SCREEN_MODES and m not in _IGNORED_PRIVATE_MODES)
            if not modes:
                return
        super().reset_mode(*modes, **kwargs)

    def _enter_alternate(self, *, save_cursor: bool, clear: bool) -> None:
        if save_cursor:
            self._alt_saved_cursor = copy.copy(self.cursor)
        if self.in_alternate:
            if clear:
                self.buffer.clear()
                self.dirty.update(range(self.lines))
            return
        self._main_buffer = self.buffer
        if clear or self._alt_buffer is None:
            self._alt_buffer = self._new_buffer()
        self.buffer = self._alt_buffer
        self.in_alternate = True
        self.dirty.update(range(self.lines))

    def _leave_alternate(self, *, restore_cursor: bool, clear: bool) -> None:
        if self.in_alternate:
            if clear:
                self._alt_buffer = None
            else:
                self._alt_buffer = self.buffer
            self.buffer = self._main_buffer
            self._main_buffer = None
            self.in_alternate = False
            self.dirty.update(range(self.lines))
        if restore_cursor and self._alt_saved_cursor is not None:
            self.cursor = self._alt_saved_cursor
            self._alt_saved_cursor = None
            self.ensure_hbounds()
            self.ensure_vbounds()

    def soft_reset(self) -> None:
        """DECSTR (CSI ! p)."""
        self.mode.difference_update({mo.IRM, mo.DECOM, DECCKM})
        self.mode.update({mo.DECAWM, mo.DECTCEM})
        self.cursor.hidden = False
        self.margins = None
        self.cursor.attrs = self.default_char
        self.g0_charset, self.g1_charset, self.charset = LAT1_MAP, VT100_MAP, 0
        self.savepoints.clear()

    def reset(self) -> None:
        if getattr(self, "in_alternate", False):
            self._leave_alternate(restore_cursor=False, clear=True)
        super().reset()

    # -- size ---------------------------------------------------------------------------------
    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        """Resize keeping the cursor's row on screen (rows above it go to the scrollback, as in
        xterm) instead of pyte's dropping of the top rows."""
        lines = lines or self.lines
        columns = columns or self.columns
        if lines == self.lines and columns == self.columns:
            return
        if lines < self.lines:
            shift = max(0, self.cursor.y - (lines - 1))
            if shift:
                for y in range(shift):
                    if not self.in_alternate and self.history.maxlen:
                        self.history.append(self.buffer.get(y) or StaticDefaultDict(self.default_char))
                        self.history_added += 1
                moved = self._new_buffer()
                for y, row in self.buffer.items():
                    if shift <= y < self.lines:
                        moved[y - shift] = row
                self.buffer = moved
                self.cursor.y -= shift
            for buffer in (self.buffer, self._main_buffer):
                if buffer is not None:
                    for y in [y for y in buffer if y >= lines]:
                        del buffer[y]
        if columns < self.columns:
            for buffer in (self.buffer, self._main_buffer):
                for row in (buffer or {}).values():
                    for x in [x for x in row if x >= columns]:
                        del row[x]
        if columns > self.columns:
            self.tabstops.update(range(8 * math.ceil(self.columns / 8), columns, 8))
        self.lines, self.columns = lines, columns
        self.margins = None
        self.dirty.update(range(lines))
        self.ensure_hbounds()
        self.ensure_vbounds()


class VtStream(pyte.Stream):
    """pyte.Stream with more CSI controls, and a small pre-parser in front of pyte's parser that
    consumes sequences pyte would misparse (it would draw their tails as text)."""

    csi = dict(pyte.Stream.csi)
    csi.update(
        {
            "S": "scroll_up",
            "T": "scroll_down",
            "b": "repeat_last",
            "Z": "back_tab",
            "I": "forward_tab",
            "s": "save_cursor",
            "u": "restore_cursor",
        }
    )
    events = pyte.Stream.events | frozenset(csi.values())

    def __init__(self, screen: VtScreen) -> None:
        super().__init__(screen)
        # Honour G0/G1 designations and SO/SI even though the text is UTF-8 (as xterm does):
        # ncurses draws boxes with `ESC ( 0`. Decoding is done before the stream sees the text.
        self.use_utf8 = False
        self._pre: str | None = None  # None | "esc" | "csi" | "string"
        self._held = ""
        self._drop = False
        self._string_esc = False
        self.errors = 0  # sequences pyte could not apply

    @property
    def at_ground(self) -> bool:
        """True when no escape sequence is half-parsed (pyte's parser and ours)."""
        return self._pre is None and bool(self._taking_plain_text)

    def _forward(self, char: str) -> bool | None:
        try:
            return super()._send_to_parser(char)
        except Exception:
            # pyte raises when a sequence has more parameters than its handler takes (CSI 1;2A,
            # CSI ?4m ...); it has already reset its parser, so the sequence is just ignored.
            self.errors += 1
            return True

    def _send_to_parser(self, data: str) -> bool | None:
        pre = self._pre
        if pre is None:
            if data == ESC:
                self._pre, self._held = "esc", data
                return None
            if data == CSI_C1:
                self._pre, self._held, self._drop = "csi", data, False
                return None
            return self._forward(data)
        if pre == "esc":
            if data == "[":
                self._pre, self._held, self._drop = "csi", self._held + data, False
                return None
            if data == ESC:  # a new sequence starts; the lone ESC before it is dropped
                return None
            if data in "P_^X":  # DCS, APC, PM, SOS: strings up to ST, consumed
                self._pre, self._held, self._string_esc = "string", "", False
                return None
            held, self._pre, self._held = self._held, None, ""
            self._forward(held)
            return self._forward(data)
        if pre == "csi":
            code = ord(data)
            if 0x40 <= code <= 0x7E:
                sequence = self._held + data
                self._pre, self._held = None, ""
                if self._drop:
                    if sequence.endswith("!p"):
                        self.listener.soft_reset()  # type: ignore[union-attr]
                    return True
                result = None
                for char in sequence:
                    result = self._forward(char)
                return result
            params = self._held[2:] if self._held.startswith(ESC) else self._held[1:]
            if (not params and data in "<=>") or 0x20 <= code <= 0x2F:
                self._drop = True  # private prefixes pyte ignores, or intermediates it cannot parse
            elif code < 0x20 or code == 0x7F or len(self._held) > 64:
                # A control inside the sequence, or a runaway: let pyte handle the rest as it would.
                sequence = self._held + data
                self._pre, self._held = None, ""
                result = None
                for char in sequence:
                    result = self._forward(char)
                return result
            self._held += data
            return None
        # inside a DCS/APC/PM/SOS string
        if self._string_esc:
            self._string_esc = False
            if data == "\\":
                self._pre = None
                return True
            if data == ESC:  # tmux passthrough doubles ESC inside its DCS
                return None
        if data == ESC:
            self._string_esc = True
        elif data in "\x9c\x18\x1a":  # ST, CAN, SUB end the string
            self._pre = None
            return True
        return None


def _nth_newline_back(text: str, low: int, high: int, n: int) -> int:
    """Index of the n-th newline (n >= 1) counting back from `high` within text[low:high], or
    low - 1 when there are fewer. Counts in growing windows, then one rsplit: no Python loop
    per line."""
    window = 16384
    while True:
        begin = max(low, high - window)
        if text.count("\n", begin, high) >= n:
            return begin + len(text[begin:high].rsplit("\n", n)[0])
        if begin == low:
            return low - 1
        window *= 4


# A run of text the flood fast path may skip: anything but escape sequences, except SGR, erase in
# line and charset designations (their effect on state is replayed).
_SKIPPABLE_RUN = re.compile(r"(?:[^\x1b\x9b\x9d]+|\x1b\[[0-9;]*m|\x1b\[[0-2]?K|\x1b[()][0-9A-Za-z])*")
_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_WITHOUT_PARAMETERS = str.maketrans("", "", "0123456789;")


def _skippable_end(text: str, start: int, limit: int) -> int:
    """Where the skippable run from `start` ends (at most `limit`). Most often all of it is
    skippable; that is checked with C-level string operations (with parameters removed, every
    ESC starts an SGR `ESC[m` or an erase in line `ESC[K`), ten times faster than the regular
    expression, which finds the end otherwise. (Any parameters of an erase in line are fine:
    it changes only the cursor's row, which scrolls away.)"""
    part = text[start:limit]
    escapes = part.count(ESC)
    if not escapes:
        if "\x9b" not in part and "\x9d" not in part:
            return limit
    elif "\x9b" not in part and "\x9d" not in part and "\x1b(" not in part and "\x1b)" not in part:
        squeezed = part.translate(_WITHOUT_PARAMETERS)
        if squeezed.count("\x1b[m") + squeezed.count("\x1b[K") == escapes:
            return limit
    return _SKIPPABLE_RUN.match(text, start, limit).end()


class TerminalEmulator:
    """Bytes in, screen state out; no Textual. `feed()` queues, `process()` parses a slice."""

    CHUNK = 4096  # characters handed to pyte at once ...
    CHUNK_LINES = 64  # ... and at most this many lines (each scroll costs pyte a screen's rows)
    FLOOD_MIN = 16 * 1024  # pending characters before the fast path is tried
    SKIP_WINDOW = 256 * 1024  # characters the fast path looks at in one go

    def __init__(self, columns: int = 80, lines: int = 24, scrollback: int = 1000, *, hot_path: bool = True) -> None:
        self.screen = VtScreen(columns, lines, scrollback)
        self.stream = VtStream(self.screen)
        # The hot path parses the commonest sequences itself; without it everything goes through
        # pyte's parser (the differential tests compare the two).
        self.hot_path = HotPath(self.screen, self.stream) if hot_path else None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._incoming: list[str] = []
        self._incoming_len = 0
        self._text = ""
        self._pos = 0
        self._consumed = 0  # characters consumed in total
        self._received = 0  # characters received in total
        self._retry_when_consumed = 0  # when the fast path may be tried again ...
        self._retry_when_received = 0  # ... in both terms
        self.last_fast_forward = -1.0  # perf_counter of the last skip
        self.waiting_for_more = False  # a flood is on: wait a moment for more instead of parsing
        self.skipped_chars = 0  # characters the fast path did not parse (for benchmarks)
        self._skippable_to = 0  # characters consumed + those after them known to be skippable
        self._waited_for = -1  # characters received when processing last waited for more
        self.fast_forwards = 0

    # -- input -------------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        text = self._decoder.decode(data)
        if text:
            self._incoming.append(text)
            self._incoming_len += len(text)
            self._received += len(text)

    @property
    def pending(self) -> int:
        return len(self._text) - self._pos + self._incoming_len

    def process(self, budget: float = 0.008) -> bool:
        """Parse pending output for about `budget` seconds; True if some is left."""
        deadline = time.perf_counter() + budget
        self.waiting_for_more = False
        self._take()
        text = self._text
        stream_feed = self.hot_path.feed if self.hot_path is not None else self.stream.feed
        if (
            self._received != self._waited_for
            and len(text) - self._pos < self.FLOOD_MIN
            and time.perf_counter() - self.last_fast_forward < 0.05
        ):
            # Mid-flood, output arrives in small reads: parsing each as it comes would leave
            # nothing to skip. Wait a moment for more, unless nothing came since the last wait.
            self._waited_for = self._received
            self.waiting_for_more = True
            return True
        while self._pos < len(text):
            if (
                len(text) - self._pos >= self.FLOOD_MIN
                and self._consumed >= self._retry_when_consumed
                and self._received >= self._retry_when_received
            ):
                outcome = self._fast_forward(text)
                if self._pos >= len(text) or (outcome == "skipped" and time.perf_counter() >= deadline):
                    break
                if outcome == "skipped":
                    continue  # more may be skipped, or too few lines are left to parse yet
                if outcome == "short":
                    # Too few lines yet to skip while more keeps coming (the fast path is tried
                    # again only once more has arrived): parsing them would cost more than
                    # waiting a few milliseconds for the rest.
                    self.waiting_for_more = True
                    break
            end = min(len(text), self._pos + self.CHUNK)
            line_end = self._pos - 1
            for _ in range(self.CHUNK_LINES):
                line_end = text.find("\n", line_end + 1, end)
                if line_end < 0:
                    break
                # Ending the chunk at a line end also leaves the parser at ground, so that the
                # next fast-path attempt can take place.
                end_at_line = line_end + 1
            else:
                end = end_at_line
            if line_end < 0 and len(text) - self._pos >= self.FLOOD_MIN:
                last = text.rfind("\n", self._pos, end)
                if last >= 0:
                    end = last + 1
            try:
                stream_feed(text[self._pos : end])
            except Exception:
                # Never let remote output break the UI; the rest of this chunk is lost.
                self.stream.errors += 1
            self._consumed += end - self._pos
            self._pos = end
            if time.perf_counter() >= deadline:
                break
        if self._pos >= len(text):
            self._text, self._pos = "", 0
        return self.pending > 0

    def process_all(self) -> None:
        while self.process(1.0):
            pass

    def _take(self) -> None:
        if self._incoming:
            rest = self._text[self._pos :] if self._pos < len(self._text) else ""
            self._text = rest + "".join(self._incoming)
            self._pos = 0
            self._incoming.clear()
            self._incoming_len = 0

    def resize(self, columns: int, lines: int) -> None:
        self.screen.resize(lines=lines, columns=columns)

    # -- the flood fast path -----------------------------------------------------------------
    def _fast_forward(self, text: str) -> str:
        """Skip output that cannot change what ends up on screen or in the scrollback.

        With no scrolling margins, each line feed at the bottom row scrolls; after (rows +
        scrollback) scrolls every row that was on screen or in the scrollback is gone. So in a
        run with no escape sequence that changes state (only SGR, erase-in-line and charset
        designations, whose effect is replayed), everything before the last
        `rows + scrollback` lines can be skipped, provided the cursor is known at the cut: the
        cut is just after a CR LF (column 0) and at least `rows` line feeds precede it (bottom
        row). The kept tail is then either turned into rows directly (plain ASCII lines) or
        parsed normally; both give the same screen and scrollback as parsing everything.
        """
        screen = self.screen
        start = self._pos
        if not self.stream.at_ground:
            self._retry_when_consumed = self._consumed + 1  # after the next chunk
            return "not at ground"
        if screen.margins is not None or mo.IRM in screen.mode or mo.LNM in screen.mode:
            self._retry_when_consumed = self._consumed + self.FLOOD_MIN
            return "unsuitable modes"
        lines = screen.lines
        keep = lines + (0 if screen.in_alternate else (screen.history.maxlen or 0))
        # Look at a window of the pending text, not all of it, so that one skip costs a few
        # milliseconds however much is pending; it ends just after a line feed, where no
        # sequence the run may contain can be cut. It grows if it holds too few lines.
        window = self.SKIP_WINDOW
        # Text an earlier call found skippable is not looked at again (while output arrives in
        # reads, the kept lines of one call are the start of the next).
        stop = start + max(0, min(self._skippable_to - self._consumed, len(text) - start))
        while True:
            limit = text.find("\n", start + window) + 1 or min(len(text), start + window)
            at_end = limit == len(text)
            stop = _skippable_end(text, min(stop, limit), limit)
            self._skippable_to = self._consumed + (stop - start)
            newlines = text.count("\n", start, stop)
            if newlines >= keep + lines + 1:
                break
            # A run that ends just before the end of the text or of a window with no line feed
            # may end in a sequence cut there: that one does not stop the run.
            if stop < limit and limit - stop >= 64:
                # The run ends at a sequence that must be parsed. Not tried again before some
                # output was parsed: full-screen redraws stop every run within a screenful, and
                # looking at each would cost a quarter of their parsing.
                self._retry_when_consumed = self._consumed + max(stop - start, 4 * self.FLOOD_MIN)
                return "run too short"
            if at_end:
                self._retry_when_received = self._received + self.FLOOD_MIN // 2
                return "short"
            window *= 4
        # The cut: just after the newline that leaves exactly `keep` newlines in the tail.
        cut = _nth_newline_back(text, start, stop, keep + 1) + 1
        # Column 0 at the cut needs a CR before that LF; look a little further back if not.
        tries = 0
        while text[cut - 2 : cut] != "\r\n" and tries < 64:
            cut = text.rfind("\n", start, cut - 1) + 1
            tries += 1
        if text[cut - 2 : cut] != "\r\n" or text.count("\n", start, cut) < lines:
            self._retry_when_consumed = self._consumed + max(stop - start, self.FLOOD_MIN)
            return "no line start"
        last_newline = text.rfind("\n", cut, stop)
        # The last `keep` complete lines, and where the first of them starts.
        first_kept = _nth_newline_back(text, cut - 1, last_newline, keep) + 1
        bodies = self._plain_bodies(text, start, first_kept, last_newline)
        if bodies is not None:
            self._replay_state(text, start, first_kept)
            self._rows_from_plain_lines(bodies)
            new_pos = last_newline + 1
        else:
            # Parse the tail normally from a known cursor: row contents before the cut scroll
            # away while it is parsed.
            self._replay_state(text, start, cut)
            screen.cursor.x, screen.cursor.y = 0, lines - 1
            new_pos = cut
        self.skipped_chars += new_pos - start
        self.fast_forwards += 1
        self._consumed += new_pos - start
        self._pos = new_pos
        self.last_fast_forward = time.perf_counter()
        return "skipped"

    def _plain_bodies(self, text: str, start: int, first: int, last_newline: int) -> list[str] | None:
        """The kept lines without their CR LF, when they can become rows without parsing:
        printable ASCII, each ended by CR LF, the line before them too (so each starts at
        column 0), and the plain charset active (after replaying the skipped part's shifts).
        None otherwise. All checks are single C-level string operations."""
        block = text[first:last_newline]
        if (
            ESC in block
            or text[first - 2 : first] != "\r\n"
            or not block.endswith("\r")
            or not block.isascii()
            or not block[:-1].replace("\r\n", "").isprintable()
        ):
            return None
        screen = self.screen
        saved = (screen.g0_charset, screen.g1_charset, screen.charset, screen.cursor.attrs)
        self._replay_state(text, start, first)
        charset = screen.g1_charset if screen.charset else screen.g0_charset
        screen.g0_charset, screen.g1_charset, screen.charset, screen.cursor.attrs = saved
        if charset is not LAT1_MAP:
            return None
        return block[:-1].split("\r\n")

    def _replay_state(self, text: str, start: int, end: int) -> None:
        """Apply what the skipped text did to state other than rows: attributes and charsets."""
        screen = self.screen
        reset_at = max(text.rfind("\x1b[m", start, end), text.rfind("\x1b[0m", start, end))
        if reset_at >= 0:
            screen.select_graphic_rendition(0)
        for match in _SGR.finditer(text, max(start, reset_at + 1), end):
            params = [min(int(p or 0), 9999) for p in match[1].split(";")]
            screen.select_graphic_rendition(*params)
        for mode in "()":
            at = text.rfind(ESC + mode, start, end)
            if at >= 0 and at + 2 < end:
                screen.define_charset(text[at + 2], mode)
        shift_out, shift_in = text.rfind("\x0e", start, end), text.rfind("\x0f", start, end)
        if shift_out > shift_in:
            screen.shift_out()
        elif shift_in > shift_out:
            screen.shift_in()

    def _rows_from_plain_lines(self, bodies: list[str]) -> None:
        screen = self.screen
        columns, lines = screen.columns, screen.lines
        wrap = mo.DECAWM in screen.mode
        needed = (lines - 1) + (0 if screen.in_alternate else (screen.history.maxlen or 0))
        if max(map(len, bodies), default=0) <= columns:
            rows = bodies[-needed:] if needed else []  # one row per line
        else:
            rows_reversed: list[str] = []
            for body in reversed(bodies):
                if len(body) <= columns:
                    rows_reversed.append(body)
                elif wrap:
                    rows_reversed.extend(reversed([body[i : i + columns] for i in range(0, len(body), columns)]))
                else:
                    rows_reversed.append(body[: columns - 1] + body[-1])
                if len(rows_reversed) >= needed:
                    break
            rows = rows_reversed[:needed][::-1]
        attrs = screen.cursor.attrs
        default = screen.default_char
        on_screen = rows[len(rows) - (lines - 1) :] if lines > 1 else []
        scrolled = rows[: len(rows) - len(on_screen)]
        if not screen.in_alternate:
            screen.history.clear()
            screen.history.extend(scrolled)
            screen.plain_attrs, screen.plain_default = attrs, default
            screen.history_added += len(scrolled)
        buffer = screen._new_buffer()
        cells: dict[str, Char] = {}
        for y, text in enumerate(on_screen):
            row = StaticDefaultDict(default)
            for x, char in enumerate(text):
                cell = cells.get(char)
                if cell is None:
                    cell = cells[char] = attrs._replace(data=char)
                row[x] = cell
            buffer[y] = row
        screen.buffer = buffer
        screen.cursor.x, screen.cursor.y = 0, lines - 1
        screen.dirty.update(range(lines))

    # -- what the widget reads ---------------------------------------------------------------
    @property
    def application_cursor(self) -> bool:
        return DECCKM in self.screen.mode

    @property
    def bracketed_paste(self) -> bool:
        return BRACKETED_PASTE in self.screen.mode

    def display(self) -> list[str]:
        """The screen as text lines (for tests and debugging)."""
        return [row_text(self.screen.buffer.get(y), self.screen.columns) for y in range(self.screen.lines)]

    def history_text(self) -> list[str]:
        return [row_text(row, self.screen.columns) for row in self.screen.history]


def row_text(row: Row | PlainRow | None, columns: int) -> str:
    if row is None:
        return ""
    if isinstance(row, str):
        return row[:columns].rstrip()
    text = [" "] * columns
    for x, cell in row.items():  # rows are sparse: only written cells are stored
        if x < columns:
            text[x] = cell.data
    return "".join(text).rstrip()


# ----------------------------------------------------------------------------- keys

_CURSOR_KEYS = {"up": "A", "down": "B", "right": "C", "left": "D", "home": "H", "end": "F"}
_SS3_FUNCTION_KEYS = {"f1": "P", "f2": "Q", "f3": "R", "f4": "S"}
_TILDE_KEYS = {
    "insert": 2, "delete": 3, "pageup": 5, "pagedown": 6,
    "f5": 15, "f6": 17, "f7": 18, "f8": 19, "f9": 20, "f10": 21, "f11": 23, "f12": 24,
}
_CTRL_SYMBOLS = {
    "@": 0x00, "space": 0x00, "2": 0x00,
    "left_square_bracket": 0x1B, "3": 0x1B,
    "backslash": 0x1C, "4": 0x1C,
    "right_square_bracket": 0x1D, "5": 0x1D,
    "circumflex_accent": 0x1E, "6": 0x1E,
    "underscore": 0x1F, "minus": 0x1F, "7": 0x1F,
    "question_mark": 0x7F, "8": 0x7F,
}


def key_to_bytes(key: str, character: str | None, *, application_cursor: bool = False) -> bytes | None:
    """The bytes xterm sends for a Textual key event, or None for a key that sends nothing."""
    parts = key.split("+")
    base, mods = parts[-1], set(parts[:-1])
    if key.endswith("+plus") or key == "plus":
        base = "+"
    if base.startswith("f") and base[1:].isdigit() and 13 <= int(base[1:]) <= 24:
        base = f"f{int(base[1:]) - 12}"  # xterm reports shift+F1 as F13 ...
        mods.add("shift")
    alt = bool(mods & {"alt", "meta"})
    ctrl = "ctrl" in mods
    shift = "shift" in mods
    modifier = 1 + shift + 2 * alt + 4 * ctrl
    if base in _CURSOR_KEYS:
        letter = _CURSOR_KEYS[base]
        if modifier == 1:
            return (b"\x1bO" if application_cursor else b"\x1b[") + letter.encode()
        return f"\x1b[1;{modifier}{letter}".encode()
    if base in _SS3_FUNCTION_KEYS:
        letter = _SS3_FUNCTION_KEYS[base]
        return f"\x1bO{letter}".encode() if modifier == 1 else f"\x1b[1;{modifier}{letter}".encode()
    if base in _TILDE_KEYS:
        number = _TILDE_KEYS[base]
        return f"\x1b[{number}~".encode() if modifier == 1 else f"\x1b[{number};{modifier}~".encode()
    prefix = b"\x1b" if alt else b""
    if base == "tab":
        return b"\x1b[Z" if shift else prefix + b"\t"
    if base in ("enter", "return"):
        return prefix + b"\r"
    if base == "backspace":
        return prefix + (b"\x08" if ctrl else b"\x7f")
    if base == "escape":
        return prefix + b"\x1b"
    if ctrl:
        if len(base) == 1 and base.isalpha():
            return prefix + bytes([ord(base.lower()) & 0x1F])
        if base in _CTRL_SYMBOLS:
            return prefix + bytes([_CTRL_SYMBOLS[base]])
    if character:
        return prefix + character.encode("utf-8", errors="replace")
    if base == "space":
        return prefix + b" "
    return None


def paste_to_bytes(text: str, bracketed: bool) -> bytes:
    """What a paste sends: newlines as CR (as typed), wrapped in 200~/201~ when the remote asked
    for bracketed paste (with ESC removed from the text so it cannot end the bracket early)."""
    text = text.replace("\r\n", "\r").replace("\n", "\r")
    if bracketed:
        return b"\x1b[200~" + text.replace(ESC, "").encode("utf-8", errors="replace") + b"\x1b[201~"
    return text.encode("utf-8", errors="replace")


# ----------------------------------------------------------------------------- colours

_ANSI_NAMES = {
    "black": 0, "red": 1, "green": 2, "brown": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7,
    "brightblack": 8, "brightred": 9, "brightgreen": 10, "brightbrown": 11, "brightblue": 12,
    "brightmagenta": 13, "bfightmagenta": 13, "brightcyan": 14, "brightwhite": 15,
}
_HEX = re.compile(r"^[0-9a-fA-F]{6}$")


def pyte_color(name: str) -> Color | None:
    """A pyte colour (`default`, a name, or `rrggbb` for 256/true colours) as a Rich colour."""
    if name == "default":
        return None
    number = _ANSI_NAMES.get(name)
    if number is not None:
        return Color.from_ansi(number)
    if _HEX.match(name):
        return Color.from_rgb(int(name[0:2], 16), int(name[2:4], 16), int(name[4:6], 16))
    return None


def _cell_style(key: tuple[Any, ...]) -> Style:
    fg, bg, bold, italics, underscore, strikethrough, reverse, blink = key
    return Style(
        color=pyte_color(fg),
        bgcolor=pyte_color(bg),
        bold=bold or None,
        italic=italics or None,
        underline=underscore or None,
        strike=strikethrough or None,
        reverse=reverse or None,
        blink=blink or None,
    )


# ----------------------------------------------------------------------------- widget


class Terminal(Widget, can_focus=True):
    """A VT terminal widget. Feed it with `write(bytes)`; keys go to `send(bytes)`.

    While focused it receives every key, including the app's priority bindings (ctrl+p, ctrl+q,
    tab ...). **ctrl+]** (`RELEASE_KEY`) releases the focus: it posts `Terminal.FocusReleased`
    and is never sent to the remote. shift+PageUp/PageDown (and the mouse wheel) page through
    the scrollback; any key sent to the remote returns to the live screen.

    With `input_enabled` False (e.g. after the session ended) keys are not taken, so the
    bindings of the widgets around it (reconnect ...) work while it keeps the focus.
    """

    RELEASE_KEY: ClassVar[str] = "ctrl+right_square_bracket"
    RELEASE_KEY_DISPLAY: ClassVar[str] = "ctrl+]"
    FRAME_INTERVAL: ClassVar[float] = 1 / 60  # at most ~60 paints a second ...
    FLOOD_FRAME_INTERVAL: ClassVar[float] = 1 / 15  # ... 15 while output floods (CPU for input)
    SLICE: ClassVar[float] = 0.008  # seconds of parsing before yielding to the event loop
    HIGH_WATER: ClassVar[int] = 1024 * 1024  # pending characters: pause the remote
    LOW_WATER: ClassVar[int] = 256 * 1024  # resume it
    ECHO_PRIORITY: ClassVar[float] = 0.05  # seconds other terminals' output waits for a typed key's echo, at most
    # Terminals waiting for the echo of a key typed in them -> until when (time.monotonic()).
    _awaiting_echo: ClassVar[weakref.WeakKeyDictionary[Terminal, float]] = weakref.WeakKeyDictionary()

    DEFAULT_CSS = """
    Terminal {
        width: 1fr;
        height: 1fr;
        background: #101010;
        color: #d8d8d8;
        overflow: hidden;
    }
    """

    class FocusReleased(Message):
        """ctrl+] was pressed: the console should take the focus back."""

        def __init__(self, terminal: Terminal) -> None:
            super().__init__()
            self.terminal = terminal

    class Resized(Message):
        def __init__(self, terminal: Terminal, columns: int, lines: int) -> None:
            super().__init__()
            self.terminal = terminal
            self.columns = columns
            self.lines = lines

    def __init__(
        self,
        *,
        send: Callable[[bytes], None] | None = None,
        on_resize: Callable[[int, int], None] | None = None,
        on_flow: Callable[[bool], None] | None = None,
        scrollback: int = 1000,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.send = send
        self.on_resize_callback = on_resize
        self.on_flow = on_flow
        self.input_enabled = True
        self.emulator = TerminalEmulator(80, 24, scrollback)
        self.emulator.screen.on_answer = self._answer
        self._drain_task: asyncio.Task[None] | None = None
        self._paint_timer: Any = None
        self._last_paint = 0.0
        self._behind_until = 0.0  # perf_counter until which output is taken to be flooding
        self._painted_cursor: tuple[int, int] | None = None
        self._view_offset = 0  # rows scrolled back into the history
        self._view_anchor = 0
        self._paused = False
        self._size_report_timer: Any = None
        self._cell_styles: dict[tuple[Any, ...], Style] = {}
        self._base_style: Style | None = None
        self.paints = 0  # for tests and benchmarks

    # -- size ---------------------------------------------------------------------------------
    @property
    def columns(self) -> int:
        return self.emulator.screen.columns

    @property
    def lines(self) -> int:
        return self.emulator.screen.lines

    def on_resize(self, event: events.Resize) -> None:
        size = self.size
        if size.width < 2 or size.height < 1:
            return  # hidden (e.g. an inactive tab): keep the remote's size and the screen as they are
        columns, lines = size.width, size.height
        if (columns, lines) == (self.columns, self.lines):
            return
        self.emulator.resize(columns, lines)
        self._clamp_view()
        self.refresh()
        if self._size_report_timer is not None:
            self._size_report_timer.stop()
        # Debounced: dragging a window edge must not flood the remote with window changes.
        self._size_report_timer = self.set_timer(0.05, self._report_size)

    def _report_size(self) -> None:
        self._size_report_timer = None
        if self.on_resize_callback is not None:
            self.on_resize_callback(self.columns, self.lines)
        self.post_message(self.Resized(self, self.columns, self.lines))

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return container.width

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

    # -- output -------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Queue output from the remote; parsing happens in slices on the event loop."""
        self.emulator.feed(data)
        if not self._paused and self.on_flow is not None and self.emulator.pending > self.HIGH_WATER:
            self._paused = True
            self.on_flow(True)
        if self._drain_task is None:
            self._drain_task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            while True:
                if self._another_awaits_echo():
                    # The focused terminal first: its echo is on the way, this one's output waits.
                    await asyncio.sleep(0.001)
                    continue
                # Shorter slices while another widget has the focus: its keys and echo wait
                # behind at most one of them.
                typed_in = self.has_focus or self in Terminal._awaiting_echo
                more = self.emulator.process(self.SLICE if typed_in else self.SLICE / 2)
                if more:  # output comes faster than it is parsed: paint at the flood rate
                    self._behind_until = time.perf_counter() + 0.25
                if self._paused and self.emulator.pending < self.LOW_WATER and self.on_flow is not None:
                    self._paused = False
                    # asyncssh hands over what it buffered meanwhile at once, inside this call
                    # (write() may pause the remote again): `more` must be looked at after it.
                    self.on_flow(False)
                self._schedule_paint()
                if not more and not self.emulator.pending:
                    break
                await asyncio.sleep(0.004 if self.emulator.waiting_for_more else 0)
        finally:
            self._drain_task = None

    def _answer(self, data: str) -> None:
        if self.send is not None and self.input_enabled:
            self.send(data.encode("utf-8"))

    def reset_screen(self) -> None:
        """A fresh screen (e.g. before reconnecting); the scrollback is kept."""
        screen = self.emulator.screen
        screen.reset()
        self.refresh()

    def _another_awaits_echo(self) -> bool:
        waiting = Terminal._awaiting_echo
        if not waiting:
            return False
        now = time.monotonic()
        for terminal, until in list(waiting.items()):
            if until < now:
                waiting.pop(terminal, None)
            elif terminal is not self:
                return True
        return False

    # -- painting -----------------------------------------------------------------------------
    def _schedule_paint(self) -> None:
        if self._paint_timer is not None:
            return
        now = time.perf_counter()
        flooding = now - self.emulator.last_fast_forward < 0.25 or now < self._behind_until
        interval = self.FLOOD_FRAME_INTERVAL if flooding else self.FRAME_INTERVAL
        delay = self._last_paint + interval - time.monotonic()
        if not flooding and self in Terminal._awaiting_echo:
            delay = 0  # the echo of a key: typing sets this pace, not the frame rate
        if delay <= 0:
            self._paint(at_once=not flooding)
        else:
            self._paint_timer = self.set_timer(delay, self._paint)

    def _paint(self, at_once: bool = False) -> None:
        """Mark the changed rows for repainting. `at_once`: also composite them now instead of
        at the screen's next update tick (up to 1/60 s later), for the echo of a key."""
        self._paint_timer = None
        self._last_paint = time.monotonic()
        screen = self.emulator.screen
        if not self.is_mounted:
            screen.dirty.clear()
            return
        self.paints += 1
        width = self.size.width
        if self._view_offset:
            # Scrolled back: keep the view where it is while new lines arrive.
            added = screen.history_added - self._view_anchor
            if added:
                self._view_offset += added
                self._view_anchor = screen.history_added
                self._clamp_view()
            self.refresh()
            screen.dirty.clear()
            return
        dirty = set(screen.dirty)
        screen.dirty.clear()
        cursor = (screen.cursor.x, screen.cursor.y)
        if cursor != self._painted_cursor:
            if self._painted_cursor is not None:
                dirty.add(self._painted_cursor[1])
            dirty.add(cursor[1])
            self._painted_cursor = cursor
        if len(dirty) >= screen.lines:
            self.refresh()
        else:
            for y in dirty:
                if 0 <= y < screen.lines:
                    self.refresh(Region(0, y, width, 1))
        Terminal._awaiting_echo.pop(self, None)
        if at_once and dirty:
            self._composite_now()

    def _composite_now(self) -> None:
        """Run the screen's update tick now for this widget: what Textual's 60 Hz
        `Screen._on_timer_update` does next (composite the dirty regions, write them), done
        early. Paints come here at most once a frame (see `_schedule_paint`), so the rate cap
        holds. Should a Textual release rename these, paints simply wait for the tick."""
        try:
            screen = self.screen
        except Exception:
            return
        tick = getattr(screen, "_on_timer_update", None)
        dirty_widgets = getattr(screen, "_dirty_widgets", None)
        if tick is None or not isinstance(dirty_widgets, set) or not screen.is_current:
            return
        dirty_widgets.add(self)
        try:
            tick()
        except Exception:
            pass  # best effort: the regular tick paints what this one could not

    def notify_style_update(self) -> None:
        self._base_style = None
        super().notify_style_update()

    def _style(self, key: tuple[Any, ...]) -> Style:
        style = self._cell_styles.get(key)
        if style is None:
            style = self._cell_styles[key] = _cell_style(key)
        return style

    def _view_row(self, y: int) -> Row | PlainRow | None:
        screen = self.emulator.screen
        if self._view_offset:
            index = len(screen.history) - self._view_offset + y
            if index < len(screen.history):
                return screen.history[index] if index >= 0 else None
            y = index - len(screen.history)
        return screen.buffer.get(y)

    def render_line(self, y: int) -> Strip:
        screen = self.emulator.screen
        width = self.size.width
        base = self._base_style
        if base is None:  # computed once, not per line (it walks the DOM)
            base = self._base_style = self.rich_style
        if y >= screen.lines:
            return Strip([Segment(" " * width, base)], width)
        row = self._view_row(y)
        columns = min(width, screen.columns)
        show_cursor = (
            self._view_offset == 0
            and y == screen.cursor.y
            and not screen.cursor.hidden
            and self.has_focus
        )
        cursor_x = min(screen.cursor.x, columns - 1) if show_cursor else -1
        segments: list[Segment] = []
        if row is None:
            default_key = tuple(screen.default_char[1:])
            text = " " * columns
            if cursor_x >= 0:
                segments.append(Segment(text[:cursor_x], base + self._style(default_key)))
                segments.append(Segment(" ", base + self._style(default_key) + Style(reverse=True)))
                segments.append(Segment(text[cursor_x + 1 :], base + self._style(default_key)))
            else:
                segments.append(Segment(text, base + self._style(default_key)))
        elif isinstance(row, str):
            text = row[:columns]
            segments.append(Segment(text, base + self._style(tuple(screen.plain_attrs[1:]))))
            if len(text) < columns:
                segments.append(
                    Segment(" " * (columns - len(text)), base + self._style(tuple(screen.plain_default[1:])))
                )
        else:
            segments = self._row_segments(row, columns, cursor_x, base)
        if width > columns:
            segments.append(Segment(" " * (width - columns), base))
        return Strip(segments, width).crop(0, width)

    def _row_segments(self, row: Row, columns: int, cursor_x: int, base: Style) -> list[Segment]:
        """Style runs of one row, found by C-level grouping of the row's cells (pyte rows are
        sparse: unwritten cells are the row's default)."""
        segments: list[Segment] = []
        style_of = self._style
        cells = list(map(row.get, range(columns), repeat(row.default, columns)))

        def add_runs(part: list[Char]) -> None:
            for key, group in groupby(part, _STYLE_KEY):
                # The right half of a wide character has no data: its left half covers it.
                segments.append(Segment("".join(map(_CELL_DATA, group)), base + style_of(key)))

        if 0 <= cursor_x < columns:
            add_runs(cells[:cursor_x])
            cell = cells[cursor_x]
            if cell.data:
                segments.append(Segment(cell.data, base + style_of(cell[1:]) + Style(reverse=not cell.reverse)))
            add_runs(cells[cursor_x + 1 :])
        else:
            add_runs(cells)
        return segments

    def on_focus(self, event: events.Focus) -> None:
        self._painted_cursor = None
        self._schedule_paint()

    def on_blur(self, event: events.Blur) -> None:
        self._painted_cursor = None
        self._schedule_paint()

    # -- scrollback view ----------------------------------------------------------------------
    @property
    def view_offset(self) -> int:
        return self._view_offset

    def scroll_history(self, rows: int) -> None:
        """Positive: back into the scrollback; negative: towards the live screen."""
        screen = self.emulator.screen
        if screen.in_alternate:
            return
        self._view_offset += rows
        self._view_anchor = screen.history_added
        self._clamp_view()
        self.refresh()

    def _clamp_view(self) -> None:
        self._view_offset = max(0, min(self._view_offset, len(self.emulator.screen.history)))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        self.scroll_history(3)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        self.scroll_history(-3)

    # -- keys ---------------------------------------------------------------------------------
    def check_consume_key(self, key: str, character: str | None = None) -> bool:
        # Textual removes keys a focused widget consumes from the bindings of its ancestors and
        # the app, priority bindings included: that is how ctrl+p/ctrl+q/tab reach the remote.
        return self.input_enabled and key != self.RELEASE_KEY

    async def on_key(self, event: events.Key) -> None:
        if event.key == self.RELEASE_KEY:
            event.stop()
            event.prevent_default()
            self.post_message(self.FocusReleased(self))
            return
        if not self.input_enabled:
            return
        event.stop()
        event.prevent_default()
        if event.key == "shift+pageup":
            self.scroll_history(max(self.lines - 1, 1))
            return
        if event.key == "shift+pagedown":
            self.scroll_history(-max(self.lines - 1, 1))
            return
        data = key_to_bytes(event.key, event.character, application_cursor=self.emulator.application_cursor)
        if data:
            Terminal._awaiting_echo[self] = time.monotonic() + self.ECHO_PRIORITY
            self.send_bytes(data)

    def on_paste(self, event: events.Paste) -> None:
        if not self.input_enabled:
            return
        event.stop()
        event.prevent_default()
        self.send_bytes(paste_to_bytes(event.text, self.emulator.bracketed_paste))

    def send_bytes(self, data: bytes) -> None:
        if self._view_offset:
            self._view_offset = 0
            self.refresh()
        if self.send is not None:
            self.send(data)

    def on_unmount(self) -> None:
        Terminal._awaiting_echo.pop(self, None)
        if self._drain_task is not None:
            self._drain_task.cancel()
            self._drain_task = None
