"""What a table row is made of, apart from the widget that shows it: a cell is `(text, style)`
(tuples compare cheaply and exactly, which Rich `Text` does not), the styles that say where a
person should look first, a row keyed by resource id, a column, and the `/` filter."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text

if TYPE_CHECKING:
    from vmss_tui.ui.panes.table import LiveTable

Cell = tuple[str, str]  # (text, Rich style)

# Styles: where a person should look first.
BAD = "bold red"
WARN = "yellow"
GOOD = "green"
OPEN = "bold yellow"  # reachable from any source: worth a look
BLOCKED = "red"  # the NSG drops it: neither a warning nor fine
DIM = "dim"
MARKED = "bold magenta"
PENDING = "bold yellow"  # an action of this session is running on the row
PENDING_ROW = "yellow"
PLAIN = ""


def short_vm_name(text: str) -> str:
    """A Flexible VM's name (`{scale set}_{8 hex}`) in a narrow terminal: its own part, `…_5f25bf78`."""
    head, sep, tail = text.rpartition("_")
    return f"…_{tail}" if sep and head and len(text) > 12 else text


def provisioning_style(state: str) -> str:
    folded = state.casefold()
    if folded == "failed":
        return BAD
    if folded in ("succeeded", ""):
        return PLAIN
    return WARN  # Creating, Updating, Deleting, Migrating ...


@dataclass(frozen=True, slots=True)
class RowData:
    key: str  # resource id (or a composite for NAT rows): stable across refreshes
    cells: tuple[Cell, ...]  # one per column of the table's full column set
    search: str  # what `/` matches against

    @staticmethod
    def of(key: str, cells: Sequence[Cell]) -> RowData:
        return RowData(key, tuple(cells), " ".join(text for text, _ in cells))


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    narrow_label: str | None = None  # shorter header in narrow terminals
    wide_only: bool = False  # dropped in narrow terminals
    narrow_text: Callable[[str], str] | None = None  # shorter text in narrow terminals
    min_width: int = 0  # room for the longest word the column shows, so refreshes do not move it


class RowFilter:
    """`/` filter: a case-insensitive regex over the row's text; a leading `!` inverts it."""

    def __init__(self, text: str = "") -> None:
        self.text = text
        self.error: str | None = None
        self.invert = text.startswith("!")
        pattern = text[1:] if self.invert else text
        self._regex: re.Pattern[str] | None = None
        if pattern:
            try:
                self._regex = re.compile(pattern, re.IGNORECASE)
            except re.error as error:
                self.error = f"not a regular expression: {error.msg}"

    @property
    def active(self) -> bool:
        return self._regex is not None

    def matches(self, text: str) -> bool:
        if self._regex is None:
            return True
        return (self._regex.search(text) is None) if self.invert else (self._regex.search(text) is not None)


def subtitle(table: LiveTable, stale: bool) -> Text:
    """A pane's lower border: the filter in force and whether the data is stale."""
    parts = Text()
    if table.row_filter.active:
        parts.append(f"filter /{table.row_filter.text}/ {len(table.visible_keys)} of {table.total_rows}")
    if stale:
        if parts:
            parts.append(" · ")
        parts.append("stale", style="bold red")
    return parts


def text_width(text: str) -> int:
    """Terminal cells the widest line of `text` takes."""
    if "\n" in text:
        return max(cell_len(line) for line in text.split("\n"))
    return cell_len(text)


def widen(widths: list[int], cells: tuple[Cell, ...]) -> None:
    """Grow each column's width to fit this row's cell."""
    for index, (text, _) in enumerate(cells):
        width = text_width(text)
        if width > widths[index]:
            widths[index] = width
