"""`?`: every key that does something where the focus is, with its binding id for the config.

The rows come from Textual's public `Screen.active_bindings` (the keymap applied); in a
read-only session the mutating keys of the focused pane, which are hidden there, are listed too,
marked as disabled, so that a person learns why they do nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import DataTable, Footer, Input, Label, Static

from vmss_tui.ui.panes.table import LiveTable

EVERYWHERE = "Everywhere"


@dataclass(frozen=True, slots=True)
class HelpRow:
    section: str  # "Instances", "Everywhere" ...
    key: str
    description: str
    binding_id: str  # "" for Textual's built-in keys, which have none
    note: str = ""


def section_of(node: DOMNode) -> str | None:
    """Where a binding applies, in the words of the help: the pane, the prompt, everywhere."""
    help_section = getattr(node, "HELP_SECTION", None)
    if isinstance(help_section, str):
        return help_section
    if isinstance(node, Input):
        return "Prompt"
    if isinstance(node, App):
        return EVERYWHERE
    if isinstance(node, Widget | Screen) and type(node).__module__.startswith("vmss_tui"):
        return type(node).__name__
    return None  # Textual's own screens: focus keys, said in every dialog's footer


def declared_bindings(node: DOMNode) -> Iterator[Binding]:
    """The bindings a node's classes declare (BINDINGS, most derived class first)."""
    for klass in type(node).__mro__:
        for binding in vars(klass).get("BINDINGS", ()) or ():
            if isinstance(binding, Binding):
                yield binding


def is_mutating(node: DOMNode, action: str) -> bool:
    name = action.split("(", 1)[0].removeprefix("app.")
    return isinstance(node, LiveTable) and name in node.MUTATING_ACTIONS


def mutating_bindings(focused: Widget | None, keymap: Mapping[str, str]) -> Iterator[tuple[DOMNode, Binding]]:
    """The mutating bindings of the focused widget and its ancestors, with the config's keys."""
    node: DOMNode | None = focused
    while node is not None:
        for binding in declared_bindings(node):
            if is_mutating(node, binding.action):
                key = keymap.get(binding.id or "", binding.key)
                for one in key.split(","):
                    yield node, dataclasses.replace(binding, key=one.strip())
        node = node.parent


def help_rows(screen: Screen[object], *, read_only: bool, keymap: Mapping[str, str]) -> list[HelpRow]:
    """Every binding reachable from the focused widget, grouped by where it applies: this app's
    bindings (they have ids) first in each section, Textual's built-in ones after."""
    app = screen.app
    grouped: dict[tuple[str, str], HelpRow] = {}
    order: list[tuple[str, str]] = []

    def add(node: DOMNode, binding: Binding, note: str = "") -> None:
        section = section_of(node)
        if section is None or binding.system:
            return
        if isinstance(node, Screen) and not binding.id:
            return  # Textual's own screen keys (focus, copy): said in the footers where they matter
        ident = (section, binding.id or binding.action)
        display = app.get_key_display(binding)
        row = grouped.get(ident)
        if row is not None:
            if display not in row.key.split(", "):
                grouped[ident] = dataclasses.replace(row, key=f"{row.key}, {display}")
            return
        description = binding.description or binding.action.replace("_", " ")
        grouped[ident] = HelpRow(section, display, description, binding.id or "", note)
        order.append(ident)

    for active in screen.active_bindings.values():
        add(active.node, active.binding)
    # This app's keys that do nothing right now are listed too (the tab keys with one tab open;
    # in a read-only session the mutating ones, said to be disabled): a person learns them here.
    node: DOMNode | None = screen.focused or screen
    while node is not None:
        for binding in declared_bindings(node):
            if binding.id:
                mutating = is_mutating(node, binding.action)
                for key in keymap.get(binding.id, binding.key).split(","):
                    add(node, dataclasses.replace(binding, key=key.strip()),
                        "disabled: read-only" if read_only and mutating else "")
        node = node.parent
    rows = [grouped[ident] for ident in order]
    sections = list(dict.fromkeys(row.section for row in rows))
    rows.sort(key=lambda row: (sections.index(row.section), not row.binding_id))
    return rows


class HelpScreen(ModalScreen[None]):
    """Every binding of the focused pane and the global ones, with their ids for the config."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, pane: str, rows: Sequence[HelpRow], config_hint: Text) -> None:
        super().__init__(classes="dialog-screen")
        self.pane = pane
        self.rows = list(rows)
        self.config_hint = config_hint

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label(Text(f"Keys · {self.pane}"), id="dialog-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static(self.config_hint, id="help-hint")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#help-table", DataTable)
        table.add_columns("Where", "Key", "Does", Text("Binding id (for [keys] in config)"))
        previous = None
        for row in self.rows:
            description = row.description + (f"  ({row.note})" if row.note else "")
            style = "dim" if row.note else ""
            table.add_row(
                Text(row.section if row.section != previous else "", style="bold"),
                Text(row.key, style="bold cyan"),
                Text(description, style=style),
                Text(row.binding_id or "-", style="dim"),
            )
            previous = row.section
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)
