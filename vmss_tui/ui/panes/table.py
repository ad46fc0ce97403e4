"""Live tables: rows keyed by resource id, updated in place, filtered by regex.

A refresh hands a table the full list of rows; the table works out which cells changed, keeps
the cursor on the same row key and the viewport where it was. `LiveTable` is a line-API widget
of our own (a ScrollView that renders only the rows in view) rather than Textual's DataTable:
DataTable keys its row cache on the cursor position, so every cursor move re-rendered every
visible row through Rich (~36 ms a key press with a screenful of 1,000 rows); here a row's line is
rendered once per content and cursor state and a key press repaints the two rows it touches.
It looks and behaves like DataTable with a row cursor (same component classes, bindings and
messages: `RowHighlighted`/`RowSelected` are DataTable's, so handlers written for DataTable
match), and renders cells the same way, so screenshots are unchanged.

A cell is `(text, style)`: tuples compare cheaply and exactly, which Rich `Text` does not (its
equality ignores the base style). The text is always shown as text, never parsed as markup.
This module imports nothing of the app or its screens: panes build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size, Spacing
from textual.renderables.styled import Styled
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, ColumnKey, RowKey

from vmss_tui.ui.panes.cells import Cell, Column, RowData, RowFilter, text_width, widen

# Above this many removals in one refresh the table counts a rebuild (columns re-measured, the
# viewport kept around the cursor's row rather than its index).
MAX_INCREMENTAL_REMOVALS = 16
CELL_PADDING = 1  # spaces each side of a cell, as DataTable's default


@dataclass(frozen=True, slots=True)
class ShownColumn:
    """A column as shown (DataTable's `ordered_columns` offered the same `key` and `label`)."""

    key: ColumnKey
    label: Text


NAV_BINDINGS: list[BindingType] = [
    Binding("j", "cursor_down", "Down", show=False, id="nav.down"),
    Binding("k", "cursor_up", "Up", show=False, id="nav.up"),
    Binding("g", "scroll_top", "Top", show=False, id="nav.top"),
    Binding("G", "scroll_bottom", "Bottom", show=False, id="nav.bottom"),
]

# DataTable's keys for a row cursor, with ids so that the config's [keys] can name them too.
TABLE_BINDINGS: list[BindingType] = [
    Binding("enter", "select_cursor", "Select", show=False, id="table.select"),
    Binding("up", "cursor_up", "Cursor up", show=False, id="table.up"),
    Binding("down", "cursor_down", "Cursor down", show=False, id="table.down"),
    Binding("right", "cursor_right", "Cursor right", show=False, id="table.right"),
    Binding("left", "cursor_left", "Cursor left", show=False, id="table.left"),
    Binding("pageup", "page_up", "Page up", show=False, id="table.page_up"),
    Binding("pagedown", "page_down", "Page down", show=False, id="table.page_down"),
    Binding("ctrl+home", "scroll_top", "Top", show=False, id="table.top"),
    Binding("ctrl+end", "scroll_bottom", "Bottom", show=False, id="table.bottom"),
    Binding("home", "scroll_home", "Home", show=False, id="table.home"),
    Binding("end", "scroll_end", "End", show=False, id="table.end"),
]

_HEADER = -1  # the row index of the header, as in the cells' mouse metadata
_NO_ROW = -2


class _RowCursorTable(ScrollView, can_focus=True):
    """DataTable's keys and looks for a row-cursor table (its bindings, CSS and component classes)."""

    BINDINGS: ClassVar[list[BindingType]] = TABLE_BINDINGS
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "datatable--cursor",
        "datatable--hover",
        "datatable--header",
        "datatable--header-cursor",
        "datatable--header-hover",
    }
    DEFAULT_CSS = """
    _RowCursorTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;

        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datatable--header {
                background-tint: $foreground 5%;
            }
        }
        & > .datatable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datatable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .datatable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .datatable--header-cursor {
            background: $accent-darken-1;
            color: $foreground;
        }
        & > .datatable--header-hover {
            background: $accent 30%;
        }
        & > .datatable--hover {
            background: $block-hover-background;
        }
    }
    """

    class RowHighlighted(DataTable.RowHighlighted):
        """The cursor moved to another row (`row_key.value` is the row's key)."""

    class RowSelected(DataTable.RowSelected):
        """Enter, or a click on the cursor's row."""


class LiveTable(_RowCursorTable):
    """A table fed whole row lists; see the module docstring."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    BINDINGS: ClassVar[list[BindingType]] = NAV_BINDINGS
    MUTATING_ACTIONS: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.narrow = False
        self.row_filter = RowFilter()
        self.show_header = True
        self._source: list[RowData] = []
        self._shown: dict[str, tuple[Cell, ...]] = {}  # key -> cells as displayed (projected)
        self._order: list[str] = []
        self._index: dict[str, int] = {}  # key -> row index in _order
        self._column_index: list[int] = []  # projected column -> index into COLUMNS
        self._columns: list[ShownColumn] = []
        self._widths: list[int] = []  # content width of each shown column
        self._mounted = False
        self._cursor = 0
        self._announced: str | None = None  # the row key the last RowHighlighted named
        self._hover = _NO_ROW
        self._show_hover = False  # the mouse moved over the table since the last key press
        # Rendered lines: (row key, cursor, hover) -> Strip of the whole row; valid while the
        # render state (widths, width, base style, focus) stays the one in _stamp.
        self._lines: dict[tuple[str, bool, bool], Strip] = {}
        self._header_line: Strip | None = None
        self._stamp: tuple[object, ...] | None = None
        self._styles: dict[str, Style] = {}  # cell style text -> Style
        self.rebuilds = 0  # counted for benchmarks and tests
        self.cell_updates = 0

    # ------------------------------------------------------------------ read-only
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.MUTATING_ACTIONS and getattr(self.app, "read_only", False):
            return False  # hidden from the footer and the key does nothing (the app says why)
        return True

    # ------------------------------------------------------------------ columns
    def on_mount(self) -> None:
        self._mounted = True
        self._setup_columns()

    def _setup_columns(self) -> None:
        self._column_index = [
            index for index, column in enumerate(self.COLUMNS) if not (self.narrow and column.wide_only)
        ]
        self._columns = []
        for index in self._column_index:
            column = self.COLUMNS[index]
            label = column.narrow_label if self.narrow and column.narrow_label else column.label
            self._columns.append(ShownColumn(ColumnKey(column.key), Text(label.ljust(column.min_width))))
        self._widths = [text_width(column.label.plain) for column in self._columns]
        self._shown.clear()
        self._order = []
        self._index = {}
        self._forget_lines()

    @property
    def ordered_columns(self) -> list[ShownColumn]:
        return list(self._columns)

    def set_narrow(self, narrow: bool) -> None:
        if narrow == self.narrow:
            return
        self.narrow = narrow
        key = self.cursor_key
        self._setup_columns()
        self._apply(force_rebuild=True, keep_key=key)

    # ------------------------------------------------------------------ rows
    @property
    def row_count(self) -> int:
        return len(self._order)

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def cursor_key(self) -> str | None:
        if not self._order or not (0 <= self._cursor < len(self._order)):
            return None
        return self._order[self._cursor]

    @property
    def visible_keys(self) -> list[str]:
        return list(self._order)

    @property
    def total_rows(self) -> int:
        return len(self._source)

    @property
    def header_height(self) -> int:
        return 1 if self.show_header else 0

    def get_cell(self, row_key: str, column_key: str) -> Text:
        """The cell as shown (DataTable's get_cell: a Text with the cell's style)."""
        cells = self._shown.get(row_key)
        column = next((i for i, c in enumerate(self._columns) if c.key.value == column_key), None)
        if cells is None or column is None:
            raise CellDoesNotExist(f"no cell in row {row_key!r}, column {column_key!r}")
        text, style = cells[column]
        return Text(text, style=style)

    def keys_in_view(self) -> list[str]:
        """Row keys inside the viewport (what the user can see), for refreshing only those."""
        if not self._order:
            return []
        top = int(self.scroll_y)
        height = self.scrollable_content_region.height - self.header_height
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
        index = self._index.get(key)
        if index is None:
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
        if not self._mounted:
            return  # on_mount sets the columns, the next set_rows fills them
        visible = [row for row in self._source if self.row_filter.matches(row.search)]
        rows = [(key, self._project(cells)) for key, cells in self.decorate(visible)]
        new_order = [key for key, _ in rows]
        new_cells = dict(rows)

        old_cursor_key = keep_key if keep_key is not None else self.cursor_key
        old_cursor_row = self._cursor
        old_scroll_y = self.scroll_y

        shown = self._shown
        kept = [key for key in self._order if key in new_cells]
        removed = len(self._order) - len(kept)
        incremental = (
            not force_rebuild
            and removed <= MAX_INCREMENTAL_REMOVALS
            and (bool(kept) or not self._order)  # all rows replaced (another scale set): rebuild
            and new_order[: len(kept)] == kept
        )
        widths = self._widths
        changed = not incremental or removed > 0 or new_order != self._order
        if incremental:
            lines = self._lines
            for key in kept:
                old = shown[key]
                new = new_cells[key]
                if old == new:
                    continue
                changed = True
                for index, (before, after) in enumerate(zip(old, new, strict=True)):
                    if before != after:
                        self.cell_updates += 1
                        width = text_width(after[0])
                        if width > widths[index]:
                            widths[index] = width
                shown[key] = new
                for state in ((False, False), (True, False), (False, True), (True, True)):
                    lines.pop((key, *state), None)
            for key in new_order[len(kept):]:
                cells = new_cells[key]
                widen(widths, cells)
                shown[key] = cells
            if removed:
                for key in self._order:
                    if key not in new_cells:
                        del shown[key]
                # Rows below a removed one moved up: their lines carry their old row index
                # (the mouse metadata), so they are rendered again as they come into view.
                self._lines.clear()
        else:
            self.rebuilds += 1
            # Columns too: re-measured from the rows now shown.
            self._widths = widths = [text_width(column.label.plain) for column in self._columns]
            shown.clear()
            for key, cells in rows:
                widen(widths, cells)
                shown[key] = cells
            self._forget_lines()
        self._order = new_order
        self._index = {key: index for index, key in enumerate(new_order)}
        self._update_virtual_size()

        # Keep the cursor on its row, and that row where it was on screen.
        if new_order:
            if old_cursor_key is not None and old_cursor_key in new_cells:
                index = old_cursor_row if incremental and not removed else self._index[old_cursor_key]
            else:
                index = min(old_cursor_row, len(new_order) - 1)
            self._cursor = index
            if not incremental or index != old_cursor_row:
                # After a rebuild the new virtual size is known only after the next refresh.
                target = max(0.0, old_scroll_y + index - old_cursor_row)
                self.call_after_refresh(self.scroll_to, y=target, animate=False)
        else:
            self._cursor = 0
        # The same rows again (a pane re-rendered for another reason) repaint nothing: a repaint
        # costs the table's whole area.
        if changed or self._cursor != old_cursor_row:
            self.refresh()
        self._announce()

    def _update_virtual_size(self) -> None:
        width = sum(self._widths) + 2 * CELL_PADDING * len(self._widths)
        self.virtual_size = Size(width, len(self._order) + self.header_height)

    # ------------------------------------------------------------------ cursor
    def move_cursor(
        self, *, row: int | None = None, column: int | None = None, animate: bool = False, scroll: bool = True
    ) -> None:
        """Move the cursor to `row` (DataTable's signature; a row cursor has no column)."""
        if row is None or not self._order:
            return
        row = max(0, min(row, len(self._order) - 1))
        old = self._cursor
        self._cursor = row
        if row != old:
            self._refresh_row(old)
            self._refresh_row(row)
        if scroll:
            self._scroll_cursor_into_view(animate=animate)
        self._announce()

    def _announce(self) -> None:
        key = self.cursor_key
        if key is not None and key != self._announced:
            self._announced = key
            self.post_message(self.RowHighlighted(self, self._cursor, RowKey(key)))  # type: ignore[arg-type]
        elif key is None:
            self._announced = None

    def _scroll_cursor_into_view(self, animate: bool = False) -> None:
        header = self.header_height
        region = Region(int(self.scroll_x), self._cursor + header, max(1, self.size.width), 1)
        self.scroll_to_region(region, animate=animate, spacing=Spacing(header, 0, 0, 0), force=True)

    def _refresh_row(self, row: int) -> None:
        y = row - int(self.scroll_y) + self.header_height
        if 0 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _set_hover(self, active: bool, row: int | None = None) -> None:
        before = self._hover if self._show_hover else _NO_ROW
        self._show_hover = active
        if row is not None:
            self._hover = row
        after = self._hover if active else _NO_ROW
        if before != after:
            for changed in (before, after):
                if changed == _HEADER:
                    self.refresh(Region(0, 0, self.size.width, 1))
                elif changed != _NO_ROW:
                    self._refresh_row(changed)

    def action_cursor_down(self) -> None:
        self._set_hover(False)
        self.move_cursor(row=self._cursor + 1)

    def action_cursor_up(self) -> None:
        self._set_hover(False)
        self.move_cursor(row=self._cursor - 1)

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - self.header_height)

    def action_page_down(self) -> None:
        self._set_hover(False)
        self.move_cursor(row=self._cursor + self._page())

    def action_page_up(self) -> None:
        self._set_hover(False)
        self.move_cursor(row=self._cursor - self._page())

    def action_scroll_top(self) -> None:
        self._set_hover(False)
        self.move_cursor(row=0)

    def action_scroll_bottom(self) -> None:
        self._set_hover(False)
        self.move_cursor(row=len(self._order) - 1)

    def action_scroll_home(self) -> None:
        self._set_hover(False)
        self.scroll_x = 0

    def action_scroll_end(self) -> None:
        self._set_hover(False)
        self.scroll_x = self.max_scroll_x

    def action_cursor_right(self) -> None:
        self._set_hover(False)
        self.action_scroll_right()

    def action_cursor_left(self) -> None:
        self._set_hover(False)
        self.action_scroll_left()

    def action_select_cursor(self) -> None:
        self._set_hover(False)
        key = self.cursor_key
        if key is not None:
            self.post_message(self.RowSelected(self, self._cursor, RowKey(key)))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ mouse
    def _on_mouse_move(self, event: events.MouseMove) -> None:
        row = event.style.meta.get("row") if event.style.meta else None
        if isinstance(row, int):
            self._set_hover(True, row)
        else:
            self._set_hover(False)

    def _on_leave(self, _: events.Leave) -> None:
        self._set_hover(False)

    async def _on_click(self, event: events.Click) -> None:
        row = event.style.meta.get("row") if event.style.meta else None
        if not isinstance(row, int):
            return
        self._set_hover(True, row)
        if row == _HEADER or not (0 <= row < len(self._order)):
            return
        if row == self._cursor:
            self.action_select_cursor()
        else:
            self.move_cursor(row=row, animate=True)
        event.stop()

    # ------------------------------------------------------------------ rendering
    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_lines()
        self.refresh()

    def _forget_lines(self) -> None:
        self._lines.clear()
        self._header_line = None
        self._stamp = None

    def render_lines(self, crop: Region) -> list[Strip]:
        # Whatever a row's line depends on besides its cells: when it changes, lines are redone.
        stamp = (self.size.width, tuple(self._widths), self.rich_style, self.get_pseudo_class_state())
        if stamp != self._stamp:
            self._lines.clear()
            self._header_line = None
            self._stamp = stamp
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x = int(self.scroll_x)
        if self.show_header and y == 0:
            if self._header_line is None:
                self._header_line = self._render_row(_HEADER, None)
            line = self._header_line
        else:
            row = y - self.header_height + int(self.scroll_y)
            if not (0 <= row < len(self._order)):
                return Strip.blank(width, self.rich_style)
            key = self._order[row]
            state = (key, row == self._cursor, self._show_hover and row == self._hover)
            line = self._lines.get(state)
            if line is None:
                line = self._lines[state] = self._render_row(row, key)
        if scroll_x or line.cell_length != width:
            line = line.crop(scroll_x, scroll_x + width).adjust_cell_length(width, self.rich_style)
        return line

    def _render_row(self, row: int, key: str | None) -> Strip:
        """One row (or the header) across all columns and the space after them, styled as
        DataTable styles a row-cursor table's cells, with the same mouse metadata."""
        header = row == _HEADER
        base_style = self.rich_style
        row_style = self.get_component_styles("datatable--header").rich_style if header else base_style
        cursor = not header and row == self._cursor
        hover = self._show_hover and row == self._hover
        component_style, post_style = self._cell_styles(header, hover, cursor)
        cells: Sequence[Cell] = (
            self._shown[key] if key is not None else [(column.label.plain, "") for column in self._columns]
        )
        segments: list[Segment] = []
        for column, ((text, style), width) in enumerate(zip(cells, self._widths, strict=True)):
            pre = row_style + Style.from_meta({"row": row, "column": column}) + component_style
            if text.isprintable():
                # What Rich makes of Styled(Padding(Text(text, style), (0, 1)), pre, post) in
                # width + 2 cells, without the renderable machinery (most of a row's cost).
                pad = pre + post_style
                segments.append(Segment(" " * CELL_PADDING, pad))
                if text:
                    segments.append(Segment(text, pre + self._style(style) + post_style))
                segments.append(Segment(" " * (width - cell_len(text) + CELL_PADDING), pad))
            else:  # tabs, line breaks, control characters: Rich decides what they become
                segments.extend(self._render_cell(Text(text, style=style), pre, post_style, width))
        remaining = max(0, self.size.width - sum(self._widths) - 2 * CELL_PADDING * len(self._widths))
        extend_style, _ = self._cell_styles(header, hover, cursor, css_priority=False)
        extend_style = row_style + extend_style + Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})
        segments.append(Segment(" " * remaining, extend_style))
        return Strip(segments).adjust_cell_length(self.size.width, base_style).simplify()

    def _render_cell(self, content: Text, pre: Style, post: Style, width: int) -> list[Segment]:
        """A cell through Rich, as DataTable renders every cell."""
        options = self.app.console_options.update_dimensions(width + 2 * CELL_PADDING, 1).update(no_wrap=True)
        lines = self.app.console.render_lines(Styled(Padding(content, (0, CELL_PADDING)), pre, post), options)
        return lines[0]

    def _style(self, name: str) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.app.console.get_style(name, default=Style.null())
        return style

    def _cell_styles(self, header: bool, hover: bool, cursor: bool, *, css_priority: bool = True) -> tuple[Style, Style]:
        """(component style, post style) of a cell: DataTable's defaults for a row cursor (the
        cursor's foreground from CSS, its background under the cell's own)."""
        get = self.get_component_rich_style
        style = Style()
        if hover:
            style += get("datatable--hover")
            if header:
                style += get("datatable--header-hover")
        if cursor:
            style += get("datatable--cursor")
        post = Style.from_color(color=style.color) if css_priority else Style.null()
        return style, post
