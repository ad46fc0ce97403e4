"""The hot path of the terminal's VT parser.

pyte's parser takes one character at a time through a generator, about 1 MB/s; colourful output
and full-screen redraws (`ls --color`, `top`, vim) are made of a few kinds of sequences only.
`HotPath.feed` splits the text at escape sequences and controls with one C-level `re.split` and
applies the commonest tokens to the pyte screen itself: runs of printable ASCII written as whole
cell runs, CR/LF/BS, SGR and charset designations (memoised per current attributes), CUP and the
other one-parameter CSI controls, private mode changes. Everything else (other sequences, other
controls, text that is not ASCII) goes to the pyte stream, the slow path, which gives the same
result either way.

Why it gives exactly what the slow path gives: a token is taken by the hot path only while the
stream is at ground and only when it is complete, and the hot path then does what pyte does with
it (the same screen methods, or, for text, the same cells, cursor and wrap as `Screen.draw`).
Once a token went to the stream and left it inside a sequence or string, the following tokens go
there too until it is back at ground. tests/ui/test_terminal_hotpath.py checks screens, cursor,
modes and scrollback against the slow path on recorded and random streams.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pyte import modes as mo
from pyte.charsets import LAT1_MAP
from pyte.screens import Char

# Escape sequences and controls, one token each (the text between them is printable or not
# ASCII): two or more SGRs and charset designations in a row (ncurses resets with ESC ( B ESC [ m
# and then sets colours: one token, memoised as a whole), a complete CSI, ESC with a designation
# and its code, ESC and one character, a lone ESC (a sequence cut at the end of a read), CR LF,
# a C0 or C1 control or DEL.
_STYLE_SEQUENCE = r"\x1b\[[0-9;]*m|\x1b[()][ -~]"
_TOKENS = re.compile(
    rf"((?:{_STYLE_SEQUENCE}){{2,}}|\x1b\[[0-?]*[ -/]*[@-~]|\x1b[()#%][ -~]|\x1b[^\[]?|\r\n|[\x00-\x1f\x7f-\x9f])"
)
_STYLE_SEQUENCES = re.compile(_STYLE_SEQUENCE)
# A CSI the hot path can take: optional `?`, digits and semicolons only, one final byte.
_SIMPLE_CSI = re.compile(r"\x1b\[(\??)([0-9;]*)([@-~])\Z")
_DECAWM, _IRM, _DECSCNM, _DECOM = mo.DECAWM, mo.IRM, mo.DECSCNM, mo.DECOM
_MEMO_LIMIT = 4096  # distinct sequences / attribute combinations remembered before starting over


class _Cells(dict[str, Char]):
    """Character -> cell for one set of attributes, made on first use (cells are immutable, so
    one cell object serves every column that shows that character in those attributes)."""

    __slots__ = ("attrs",)

    def __init__(self, attrs: Char) -> None:
        super().__init__()
        self.attrs = attrs

    def __missing__(self, char: str) -> Char:
        cell = self[char] = self.attrs._replace(data=char)
        return cell


class HotPath:
    """Feeds text to a `VtScreen` through the hot path, and to its `VtStream` for the rest."""

    def __init__(self, screen: Any, stream: Any) -> None:
        self.screen = screen
        self.stream = stream
        self._ground = True  # the stream's parser is at ground (cached: checked after each slow feed)
        # sequence -> (screen method, parameters, private) or None: not for the hot path
        self._sequences: dict[str, tuple[Callable[..., Any], tuple[int, ...], bool | None] | None] = {}
        self._sgr: dict[tuple[str, Char, bool], Char] = {}  # (parameters, attributes, DECSCNM) -> attributes
        self._cells: dict[Char, _Cells] = {}
        # (style run, attributes, G0, G1, DECSCNM) -> (attributes, G0, G1)
        self._runs: dict[tuple[str, Char, str, str, bool], tuple[Char, str, str]] = {}
        self._last_cells = _Cells(Char(" "))
        self.slow_tokens = 0  # tokens handed to the stream (for benchmarks and tests)

    # -- feeding -----------------------------------------------------------------------------
    def feed(self, text: str) -> None:
        stream = self.stream
        screen = self.screen
        draw_ascii = self._draw_ascii
        apply_token = self._token
        sgr = self._sgr
        ground = stream.at_ground
        is_token = True
        # The parts alternate: text, token, text, token, ..., text.
        for part in _TOKENS.split(text):
            is_token = not is_token
            if not part:
                continue
            if not ground:
                self._slow(part)
                ground = self._ground
            elif not is_token:
                if part.isascii():
                    draw_ascii(part)
                else:
                    screen.draw(part)
            elif part == "\r\n":
                screen.cursor.x = 0
                screen.linefeed()
            elif part == "\r":
                screen.cursor.x = 0
            elif part == "\n":
                screen.linefeed()
            else:
                several = len(part) > 2 and part.find("\x1b", 1) > 0  # a style run
                if part[-1] == "m" and not several:  # SGR seen before with these attributes: the commonest token
                    cursor = screen.cursor
                    attrs = sgr.get((part, cursor.attrs, _DECSCNM in screen.mode))
                    if attrs is not None:
                        cursor.attrs = attrs
                        continue
                elif several or (len(part) == 3 and part[1] in "()"):
                    self._style_run(part)
                    continue
                if not apply_token(part):
                    self._slow(part)
                    ground = self._ground
        self._ground = ground

    def _style_run(self, token: str) -> None:
        """SGRs and charset designations (one or more), memoised as a whole: the outcome depends
        only on the attributes and charsets before it."""
        screen = self.screen
        cursor = screen.cursor
        key = (token, cursor.attrs, screen.g0_charset, screen.g1_charset, _DECSCNM in screen.mode)
        outcome = self._runs.get(key)
        if outcome is not None:
            cursor.attrs, screen.g0_charset, screen.g1_charset = outcome
            return
        errors = self.stream.errors
        for sequence in _STYLE_SEQUENCES.findall(token):
            if sequence[1] == "[":
                self._select_graphic_rendition(sequence)
            else:
                screen.define_charset(sequence[2], sequence[1])
        if self.stream.errors == errors:  # a sequence pyte could not apply is not remembered
            if len(self._runs) >= _MEMO_LIMIT:
                self._runs.clear()
            self._runs[key] = (cursor.attrs, screen.g0_charset, screen.g1_charset)

    def _slow(self, part: str) -> None:
        self.slow_tokens += 1
        stream = self.stream
        try:
            stream.feed(part)
        finally:
            self._ground = stream.at_ground

    def _token(self, token: str) -> bool:
        """Apply one complete escape sequence or control at ground; False: not a hot-path token."""
        screen = self.screen
        if token == "\r":
            screen.cursor.x = 0
            return True
        if token == "\n":
            screen.linefeed()
            return True
        if token == "\x08":
            screen.backspace()
            return True
        if not token.startswith("\x1b["):
            if len(token) == 3 and token[1] in "()":  # G0/G1 designation: ncurses sends ESC ( B with every sgr0
                screen.define_charset(token[2], token[1])
                return True
            return False
        if token[-1] == "m":
            return self._select_graphic_rendition(token)
        sequence = self._sequences.get(token, False)
        if sequence is False:
            sequence = self._parse_csi(token)
        if sequence is None:
            return False
        method, params, private = sequence
        if private is None and _DECOM not in screen.mode:
            # Cursor position: pyte's cursor_position and its bounds checks, without origin mode.
            cursor = screen.cursor
            cursor.x = min(max(0, (params[1] or 1) - 1), screen.columns - 1)
            cursor.y = min(max(0, (params[0] or 1) - 1), screen.lines - 1)
            return True
        try:
            if private:
                method(*params, private=True)
            else:
                method(*params)
        except Exception:
            # As the stream does: a sequence its handler cannot take is ignored.
            self.stream.errors += 1
        return True

    def _parse_csi(self, token: str) -> tuple[Callable[..., Any], tuple[int, ...], bool | None] | None:
        match = _SIMPLE_CSI.match(token)
        sequence: tuple[Callable[..., Any], tuple[int, ...], bool | None] | None = None
        if match is not None:
            private, digits, final = match.groups()
            name = self.stream.csi.get(final)
            if name is not None and (not private or final in "hl"):
                # The parameters as pyte's parser makes them: missing ones are 0, at most 9999.
                params = tuple(min(int(p or 0), 9999) for p in digits.split(";"))
                # `private` None marks a cursor position with both parameters (done inline).
                cursor_position = name == "cursor_position" and len(params) == 2
                sequence = (getattr(self.screen, name), params, None if cursor_position else bool(private))
        if len(self._sequences) >= _MEMO_LIMIT:
            self._sequences.clear()
        self._sequences[token] = sequence
        return sequence

    def _select_graphic_rendition(self, token: str) -> bool:
        screen = self.screen
        cursor = screen.cursor
        key = (token, cursor.attrs, _DECSCNM in screen.mode)
        attrs = self._sgr.get(key)
        if attrs is None:
            digits = token[2:-1]
            if digits.strip("0123456789;"):
                return False  # `?`, `>` ... : the stream's business
            try:
                screen.select_graphic_rendition(*(min(int(p or 0), 9999) for p in digits.split(";")))
            except Exception:
                self.stream.errors += 1
                return True
            if len(self._sgr) >= _MEMO_LIMIT:
                self._sgr.clear()
            self._sgr[key] = cursor.attrs
            return True
        cursor.attrs = attrs
        return True

    # -- text --------------------------------------------------------------------------------
    def _draw_ascii(self, text: str) -> None:
        """What `Screen.draw` does with printable ASCII, a row's run at a time."""
        screen = self.screen
        mode = screen.mode
        if _IRM in mode or (screen.g1_charset if screen.charset else screen.g0_charset) is not LAT1_MAP:
            screen.draw(text)
            return
        cursor = screen.cursor
        attrs = cursor.attrs
        cells = self._last_cells
        if cells.attrs is not attrs:  # SGR hands out the same attribute objects again
            cells = self._cells.get(attrs)
            if cells is None:
                if len(self._cells) >= _MEMO_LIMIT // 16:
                    self._cells.clear()
                cells = self._cells[attrs] = _Cells(attrs)
            self._last_cells = cells
        cell_of = cells.__getitem__
        columns = screen.columns
        x = cursor.x
        length = len(text)
        if x + length <= columns:  # the common case: no wrap
            screen.buffer[cursor.y].update(zip(range(x, x + length), map(cell_of, text), strict=True))
            cursor.x = x + length
            screen.dirty.add(cursor.y)
            screen._last_char = text[-1]
            return
        buffer = screen.buffer
        dirty = screen.dirty
        autowrap = _DECAWM in mode
        done = 0
        while done < length:
            if x >= columns:
                if autowrap:
                    dirty.add(cursor.y)
                    screen.carriage_return()
                    screen.linefeed()
                    buffer = screen.buffer  # scrolling may replace it
                    x = cursor.x
                else:
                    # Without autowrap every further character overwrites the last column.
                    buffer[cursor.y][columns - 1] = cell_of(text[-1])
                    x = columns
                    break
            take = min(length - done, columns - x)
            buffer[cursor.y].update(zip(range(x, x + take), map(cell_of, text[done : done + take]), strict=True))
            x += take
            done += take
        cursor.x = x
        dirty.add(cursor.y)
        screen._last_char = text[-1]
