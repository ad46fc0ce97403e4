"""Key events to the bytes xterm sends (TERM=xterm-256color), and pastes."""

from __future__ import annotations

import pytest

from vmss_tui.ui.terminal import key_to_bytes, paste_to_bytes

TABLE = [
    # (Textual key, character, application cursor mode, bytes)
    ("a", "a", False, b"a"),
    ("A", "A", False, b"A"),
    ("space", " ", False, b" "),
    ("question_mark", "?", False, b"?"),
    ("eacute", "é", False, "é".encode()),
    ("enter", "\r", False, b"\r"),
    ("tab", "\t", False, b"\t"),
    ("shift+tab", None, False, b"\x1b[Z"),
    ("backspace", "\x7f", False, b"\x7f"),
    ("ctrl+h", "\x08", False, b"\x08"),
    ("escape", "\x1b", False, b"\x1b"),
    ("ctrl+a", "\x01", False, b"\x01"),
    ("ctrl+c", "\x03", False, b"\x03"),
    ("ctrl+d", "\x04", False, b"\x04"),
    ("ctrl+p", "\x10", False, b"\x10"),
    ("ctrl+q", "\x11", False, b"\x11"),
    ("ctrl+z", "\x1a", False, b"\x1a"),
    ("ctrl+shift+a", None, False, b"\x01"),
    ("ctrl+@", "\x00", False, b"\x00"),
    ("ctrl+space", None, False, b"\x00"),
    ("ctrl+backslash", "\x1c", False, b"\x1c"),
    ("ctrl+circumflex_accent", "\x1e", False, b"\x1e"),
    ("ctrl+underscore", "\x1f", False, b"\x1f"),
    ("alt+x", "x", False, b"\x1bx"),
    ("alt+shift+x", "X", False, b"\x1bX"),
    ("alt+ctrl+b", None, False, b"\x1b\x02"),
    ("alt+enter", None, False, b"\x1b\r"),
    ("alt+backspace", None, False, b"\x1b\x7f"),
    # cursor keys: normal vs application mode (DECCKM), and modifiers
    ("up", None, False, b"\x1b[A"),
    ("down", None, False, b"\x1b[B"),
    ("right", None, False, b"\x1b[C"),
    ("left", None, False, b"\x1b[D"),
    ("up", None, True, b"\x1bOA"),
    ("left", None, True, b"\x1bOD"),
    ("home", None, False, b"\x1b[H"),
    ("end", None, False, b"\x1b[F"),
    ("home", None, True, b"\x1bOH"),
    ("end", None, True, b"\x1bOF"),
    ("shift+up", None, True, b"\x1b[1;2A"),
    ("alt+left", None, False, b"\x1b[1;3D"),
    ("ctrl+right", None, True, b"\x1b[1;5C"),
    ("ctrl+shift+left", None, False, b"\x1b[1;6D"),
    # editing keys
    ("insert", None, False, b"\x1b[2~"),
    ("delete", None, False, b"\x1b[3~"),
    ("pageup", None, False, b"\x1b[5~"),
    ("pagedown", None, False, b"\x1b[6~"),
    ("ctrl+delete", None, False, b"\x1b[3;5~"),
    ("ctrl+pageup", None, False, b"\x1b[5;5~"),
    # function keys
    ("f1", None, False, b"\x1bOP"),
    ("f2", None, False, b"\x1bOQ"),
    ("f3", None, False, b"\x1bOR"),
    ("f4", None, False, b"\x1bOS"),
    ("f5", None, False, b"\x1b[15~"),
    ("f6", None, False, b"\x1b[17~"),
    ("f10", None, False, b"\x1b[21~"),
    ("f11", None, False, b"\x1b[23~"),
    ("f12", None, False, b"\x1b[24~"),
    ("ctrl+f1", None, False, b"\x1b[1;5P"),
    ("ctrl+f5", None, False, b"\x1b[15;5~"),
    ("f13", None, False, b"\x1b[1;2P"),  # xterm reports shift+F1 as F13
    ("f17", None, False, b"\x1b[15;2~"),  # shift+F5
]


@pytest.mark.parametrize(("key", "character", "application", "expected"), TABLE,
                         ids=[f"{row[0]}{'-app' if row[2] else ''}" for row in TABLE])
def test_key_to_bytes(key: str, character: str | None, application: bool, expected: bytes) -> None:
    assert key_to_bytes(key, character, application_cursor=application) == expected


def test_keys_that_send_nothing() -> None:
    assert key_to_bytes("f25", None) is None
    assert key_to_bytes("ctrl+f30", None) is None


def test_paste_plain_and_bracketed() -> None:
    assert paste_to_bytes("ls -l\nexit\n", bracketed=False) == b"ls -l\rexit\r"
    assert paste_to_bytes("a\r\nb", bracketed=False) == b"a\rb"
    assert paste_to_bytes("echo hi\n", bracketed=True) == b"\x1b[200~echo hi\r\x1b[201~"
    # A pasted end-bracket must not end the bracket early (and run what follows).
    assert paste_to_bytes("x\x1b[201~rm -rf ~\n", bracketed=True) == b"\x1b[200~x[201~rm -rf ~\r\x1b[201~"


# What a real xterm sends for a key press, through Textual's own input parser, back to bytes:
# the remote must receive what it would get from the user's terminal.
ROUND_TRIP = [
    "a", "Z", "é", " ", "?", "\r", "\t", "\x7f", "\x1b[Z",
    "\x01", "\x03", "\x10", "\x11", "\x1a", "\x1c", "\x1e", "\x1f", "\x00",
    "\x1b[A", "\x1b[B", "\x1b[C", "\x1b[D", "\x1b[H", "\x1b[F",
    "\x1b[1;2A", "\x1b[1;3D", "\x1b[1;5C", "\x1b[1;6D",
    "\x1b[2~", "\x1b[3~", "\x1b[5~", "\x1b[6~", "\x1b[6;5~",
    "\x1bOP", "\x1bOQ", "\x1bOR", "\x1bOS", "\x1b[15~", "\x1b[17~", "\x1b[24~",
    "\x1b[1;2P", "\x1b[1;5P", "\x1b[15;5~",
    "\x1bx", "\x1bX",
]


@pytest.mark.parametrize("sequence", ROUND_TRIP, ids=[repr(s) for s in ROUND_TRIP])
def test_round_trip_through_textuals_parser(sequence: str) -> None:
    from textual import events
    from textual._xterm_parser import XTermParser

    parser = XTermParser()
    parsed = [*parser.feed(sequence), *parser.feed("")]  # "" = end of input (flushes a lone ESC)
    keys = [event for event in parsed if isinstance(event, events.Key)]
    assert len(keys) == 1, keys
    assert key_to_bytes(keys[0].key, keys[0].character) == sequence.encode()
