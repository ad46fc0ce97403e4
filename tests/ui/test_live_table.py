"""LiveTable, the line-API table: it must look exactly like the DataTable it replaced (cells,
cursor, header, focus), repaint only what a key press touches, and speak DataTable's messages."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.widgets import DataTable

from vmss_tui.ui.panes import cells as styles
from vmss_tui.ui.panes.cells import Column, RowData
from vmss_tui.ui.panes.table import LiveTable

CELLS = [
    ("0", styles.GOOD), ("vmss-web_0", "bold"), ("running", styles.GOOD), ("Succeeded", styles.PLAIN),
    ("10.0.0.4", styles.DIM), ("20.1.2.3:50000", styles.BAD),
]


class Table(LiveTable):
    COLUMNS = (
        Column("id", "ID"), Column("name", "Name"), Column("power", "Power", min_width=12),
        Column("prov", "Provisioning"), Column("ip", "Private IP"), Column("ssh", "SSH endpoint"),
    )


def sample_rows(count: int) -> list[RowData]:
    rows = []
    for n in range(count):
        cells = [(text.replace("0", str(n), 1), style) for text, style in CELLS]
        if n == 3:
            cells[1] = ("名前-wide", styles.MARKED)  # double-width characters
        if n == 4:
            cells[3] = ("tab\there", styles.WARN)  # not printable: rendered through Rich
        if n == 5:
            cells[4] = ("", styles.PLAIN)
        rows.append(RowData.of(f"key-{n}", cells))
    return rows


class SideBySide(App[None]):
    """The same rows in a LiveTable and in a DataTable built the way LiveTable used to build it."""

    CSS = "Horizontal > * { width: 1fr; height: 1fr; }"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Table(id="live")
            yield DataTable(id="reference", cursor_type="row", zebra_stripes=False, cell_padding=1)

    def fill(self, rows: list[RowData]) -> None:
        self.query_one(Table).set_rows(rows)
        reference = self.query_one("#reference", DataTable)
        for column in Table.COLUMNS:
            reference.add_column(column.label.ljust(column.min_width), key=column.key)
        for row in rows:
            reference.add_row(*(Text(text, style=style) for text, style in row.cells), key=row.key)


def lines_of(widget: LiveTable | DataTable) -> list[list[tuple[str, object]]]:
    height = widget.size.height
    return [[(segment.text, segment.style) for segment in widget.render_line(y)] for y in range(height)]


async def test_unfocused_lines_are_the_ones_datatable_renders():
    app = SideBySide()
    async with app.run_test(size=(160, 20)) as pilot:
        app.fill(sample_rows(30))
        app.set_focus(None)
        await pilot.pause()
        live, reference = app.query_one(Table), app.query_one("#reference", DataTable)
        assert live.size == reference.size
        for row in (0, 4, 12, 29):
            live.move_cursor(row=row)
            reference.move_cursor(row=row)
            await pilot.pause()
            live.render_lines(live.size.region)
            reference.render_lines(reference.size.region)
            assert lines_of(live) == lines_of(reference), f"cursor on row {row}"


async def test_focused_lines_match_datatable_focused_lines():
    """Each table focused in turn: the focused LiveTable draws what the focused DataTable drew."""
    app = SideBySide()
    async with app.run_test(size=(160, 20)) as pilot:
        app.fill(sample_rows(30))
        live, reference = app.query_one(Table), app.query_one("#reference", DataTable)
        for row in (2, 17):
            live.move_cursor(row=row)
            reference.move_cursor(row=row)
            live.focus()
            await pilot.pause()
            live.render_lines(live.size.region)
            focused_live = lines_of(live)
            reference.focus()
            await pilot.pause()
            reference.render_lines(reference.size.region)
            assert focused_live == lines_of(reference), f"cursor on row {row}"


async def test_a_key_press_renders_only_the_rows_it_touches():
    app = SideBySide()
    async with app.run_test(size=(160, 20)) as pilot:
        app.fill(sample_rows(200))
        live = app.query_one(Table)
        live.focus()
        await pilot.pause()
        rendered: list[int] = []
        original = live._render_row

        def counting(row: int, key: str | None):  # type: ignore[no-untyped-def]
            rendered.append(row)
            return original(row, key)

        live._render_row = counting  # type: ignore[method-assign]
        await pilot.press("j")
        await pilot.pause()
        assert sorted(rendered) == [0, 1]  # the old cursor row and the new one, nothing else
        rendered.clear()
        for _ in range(30):  # past the bottom: the view scrolls a row at a time
            await pilot.press("j")
        await pilot.pause()
        assert len(rendered) <= 3 * 30  # per press: the row scrolled in, old and new cursor rows
        assert live.cursor_row == 31 and live.cursor_key == "key-31"


class Listening(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.highlighted: list[str | None] = []
        self.selected: list[str | None] = []

    def compose(self) -> ComposeResult:
        yield Table(id="live")

    @on(DataTable.RowHighlighted, "#live")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.highlighted.append(event.row_key.value)

    @on(DataTable.RowSelected, "#live")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self.selected.append(event.row_key.value)


async def test_datatable_handlers_hear_highlights_and_selections():
    app = Listening()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(Table)
        table.set_rows(sample_rows(10))
        table.focus()
        await pilot.pause()
        assert app.highlighted == ["key-0"]  # the first rows gave the cursor a row
        await pilot.press("j", "j", "k")
        await pilot.pause()
        assert app.highlighted == ["key-0", "key-1", "key-2", "key-1"]
        await pilot.press("enter")
        await pilot.pause()
        assert app.selected == ["key-1"]
        # a click on another row moves the cursor there; a click on the cursor's row selects it
        await pilot.click(Table, offset=(3, 4))  # header is line 0: line 4 is row 3
        await pilot.pause()
        assert table.cursor_key == "key-3" and app.highlighted[-1] == "key-3"
        await pilot.click(Table, offset=(3, 4))
        await pilot.pause()
        assert app.selected == ["key-1", "key-3"]
        # the row under the cursor goes away: the row now under it is announced
        table.set_rows([row for row in sample_rows(10) if row.key != "key-3"])
        await pilot.pause()
        assert table.cursor_key == "key-4" and app.highlighted[-1] == "key-4"


async def test_columns_fit_the_widest_cell_and_the_header():
    app = Listening()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(Table)
        table.set_rows(sample_rows(5))
        await pilot.pause()
        header = "".join(segment.text for segment in table.render_line(0))
        # ID: 2 wide (its label); Name: 10 (vmss-web_0); Power: its min_width of 12
        assert header.startswith(" ID  Name        Power         Provisioning  Private IP  SSH endpoint ")
        assert table.virtual_size.height == 6 and table.row_count == 5
        assert table.get_cell("key-3", "name").plain == "名前-wide"
        assert table.get_cell("key-3", "name").style == styles.MARKED
