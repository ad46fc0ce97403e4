"""Live tables: rows keyed by resource id, updated in place, filtered by regex.

A refresh hands a table the full list of rows; the table works out which cells changed and
updates only those (`update_cell` costs the viewport only), adds new rows and removes gone ones,
and keeps the cursor on the same row key and the viewport where it was. A full rebuild happens
only when the order changed or many rows went at once (DataTable.remove_row re-indexes every row
on each call, so a thousand removals one by one would stall the UI).

A cell is `(text, style)`: tuples compare cheaply and exactly, which Rich `Text` does not (its
equality ignores the base style). The text is always shown as text, never parsed as markup.
This module imports nothing of the app or its screens: panes build on it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.widgets import DataTable

Cell = tuple[str, str]  # (text, Rich style)

# Styles: where a person should look first.
BAD = "bold red"
WARN = "yellow"
GOOD = "green"
DIM = "dim"
MARKED = "bold magenta"
PENDING = "bold yellow"  # an action of this session is running on the row
PENDING_ROW = "yellow"
PLAIN = ""


def provisioning_style(state: str) -> str:
    folded = state.casefold()
    if folded == "failed":
        return BAD
    if folded in ("succeeded", ""):
        return PLAIN
    return WARN  # Creating, Updating, Deleting, Migrating ...


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


@dataclass(frozen=True, slots=True)
class RowData:
    key: str  # resource id (or a composite for NAT rows): stable across refreshes
    cells: tuple[Cell, ...]  # one per column of the table's full column set
    search: str  # what `/` matches against

    @staticmethod
    def of(key: str, cells: Sequence[Cell]) -> RowData:
        return RowData(key, tuple(cells), " ".join(text for text, _ in cells))


# Above this many removals in one refresh, rebuilding is cheaper than remove_row one by one.
MAX_INCREMENTAL_REMOVALS = 16


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    narrow_label: str | None = None  # shorter header in narrow terminals
    wide_only: bool = False  # dropped in narrow terminals
    narrow_text: Callable[[str], str] | None = None  # shorter text in narrow terminals


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


NAV_BINDINGS: list[BindingType] = [
    Binding("j", "cursor_down", "Down", show=False, id="nav.down"),
    Binding("k", "cursor_up", "Up", show=False, id="nav.up"),
    Binding("g", "scroll_top", "Top", show=False, id="nav.top"),
    Binding("G", "scroll_bottom", "Bottom", show=False, id="nav.bottom"),
]


class LiveTable(DataTable[Text]):
    """A DataTable fed whole row lists; see the module docstring."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    BINDINGS: ClassVar[list[BindingType]] = NAV_BINDINGS
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False, cell_padding=1)
        self.narrow = False
        self.row_filter = RowFilter()
        self._source: list[RowData] = []
        self._shown: dict[str, tuple[Cell, ...]] = {}  # key -> cells as displayed (projected)
        self._order: list[str] = []
        self._column_index: list[int] = []  # projected column -> index into COLUMNS
        self.rebuilds = 0  # counted for benchmarks and tests
        self.cell_updates = 0

    # ------------------------------------------------------------------ read-only
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING_ACTIONS and getattr(self.app, "read_only", False):
            return False  # hidden from the footer and the key does nothing (the app says why)
        return True

    # ------------------------------------------------------------------ columns
    def on_mount(self) -> None:
        self._setup_columns()

    def _setup_columns(self) -> None:
        self.clear(columns=True)
        self._column_index = [
            index for index, column in enumerate(self.COLUMNS) if not (self.narrow and column.wide_only)
        ]
        for index in self._column_index:
            column = self.COLUMNS[index]
            label = column.narrow_label if self.narrow and column.narrow_label else column.label
            self.add_column(label, key=column.key)
        self._shown.clear()
        self._order = []

    def set_narrow(self, narrow: bool) -> None:
        if narrow == self.narrow:
            return
        self.narrow = narrow
        key = self.cursor_key
        self._setup_columns()
        self._apply(force_rebuild=True, keep_key=key)

    # ------------------------------------------------------------------ rows
    @property
    def cursor_key(self) -> str | None:
        if not self._order or not (0 <= self.cursor_row < len(self._order)):
            return None
        return self._order[self.cursor_row]

    @property
    def visible_keys(self) -> list[str]:
        return list(self._order)

    @property
    def total_rows(self) -> int:
        return len(self._source)

    def keys_in_view(self) -> list[str]:
        """Row keys inside the viewport (what the user can see), for refreshing only those."""
        if not self._order:
            return []
        top = int(self.scroll_y)
        height = self.scrollable_content_region.height - (1 if self.show_header else 0)
        if height <= 0:  # not laid out yet: assume a screenful
            height = 25
        return self._order[top : top + height]

    def set_rows(self, rows: Sequence[RowData]) -> None:
        self._source = list(rows)
        self._apply()

    def set_filter(self, text: str) -> str | None:
        """Apply a `/` filter; returns an error message (and keeps the old filter) when it is invalid."""
        new = RowFilter(text)
        if new.error:
            return new.error
        self.row_filter = new
        self._apply()
        return None

    def move_to_key(self, key: str) -> bool:
        try:
            index = self._order.index(key)
        except ValueError:
            return False
        self.move_cursor(row=index)
        return True

    def decorate(self, rows: list[RowData]) -> list[tuple[str, tuple[Cell, ...]]]:
        """Final cells of the visible rows (subclasses blank repeated group labels)."""
        return [(row.key, row.cells) for row in rows]

    def _project(self, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
        if not self.narrow:
            return cells
        projected = []
        for i in self._column_index:
            text, style = cells[i]
            shorten = self.COLUMNS[i].narrow_text
            projected.append((shorten(text), style) if shorten else (text, style))
        return tuple(projected)

    def _apply(self, *, force_rebuild: bool = False, keep_key: str | None = None) -> None:
        if not self.columns:
            return  # not mounted yet: on_mount sets columns, the next set_rows fills them
        visible = [row for row in self._source if self.row_filter.matches(row.search)]
        rows = [(key, self._project(cells)) for key, cells in self.decorate(visible)]
        new_order = [key for key, _ in rows]
        new_cells = dict(rows)

        old_cursor_key = keep_key if keep_key is not None else self.cursor_key
        old_cursor_row = self.cursor_row
        old_scroll_y = self.scroll_y

        kept = [key for key in self._order if key in new_cells]
        added = [key for key in new_order if key not in self._shown]
        removed = len(self._order) - len(kept)
        incremental = (
            not force_rebuild
            and new_order == kept + added
            and removed <= MAX_INCREMENTAL_REMOVALS
            and (bool(kept) or not self._order)  # all rows replaced (another scale set): rebuild
        )
        column_keys = [self.COLUMNS[i].key for i in self._column_index]
        if incremental:
            if removed:
                for key in self._order:
                    if key not in new_cells:
                        self.remove_row(key)
                        del self._shown[key]
            for key in kept:
                old = self._shown[key]
                new = new_cells[key]
                if old == new:
                    continue
                for index, (before, after) in enumerate(zip(old, new, strict=True)):
                    if before != after:
                        self.update_cell(
                            key, column_keys[index], Text(after[0], style=after[1]),
                            update_width=len(after[0]) > len(before[0]),
                        )
                        self.cell_updates += 1
                self._shown[key] = new
            for key in added:
                cells = new_cells[key]
                self.add_row(*(Text(text, style=style) for text, style in cells), key=key)
                self._shown[key] = cells
        else:
            self.rebuilds += 1
            # Columns too: DataTable keeps each column's widest width ever seen otherwise.
            self._setup_columns()
            for key, cells in rows:
                self.add_row(*(Text(text, style=style) for text, style in cells), key=key)
                self._shown[key] = cells
        self._order = new_order

        # Keep the cursor on its row, and that row where it was on screen.
        if new_order:
            if old_cursor_key is not None and old_cursor_key in new_cells:
                index = old_cursor_row if incremental and not removed else new_order.index(old_cursor_key)
            else:
                index = min(old_cursor_row, len(new_order) - 1)
            if index != self.cursor_row:
                self.move_cursor(row=index, scroll=False)
            if not incremental or index != old_cursor_row:
                # After a rebuild the new virtual size is known only after the next refresh.
                target = max(0.0, old_scroll_y + index - old_cursor_row)
                self.call_after_refresh(self.scroll_to, y=target, animate=False)
