"""Dialogs and full-screen views: confirmations, scale, details (JSON / description), help,
subscription picker.

Every dialog that changes something opens with the focus on Cancel (Enter there cancels) and
closes on Esc without doing anything. Each dialog has a footer of its own with its own keys (the
console's footer, under the dialog, would offer keys that do nothing while it is open).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.syntax import Syntax
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.validation import Integer
from textual.widgets import Button, DataTable, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from vmss_tui.domain.models import ScaleSet
from vmss_tui.ui.actions import scale_effect

MAX_CAPACITY = 1000


# Tab through a dialog's fields and buttons, said in its footer (Textual binds Tab unseen).
DIALOG_FOCUS_BINDINGS = [
    Binding("tab", "app.focus_next", "Next", id="dialog.next"),
    Binding("shift+tab", "app.focus_previous", "Previous", show=False, id="dialog.previous"),
]


class ConfirmActionScreen(ModalScreen[bool]):
    """Says exactly what will happen to which instances; Cancel is the default."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
        *DIALOG_FOCUS_BINDINGS,
        Binding("left", "app.focus_previous", show=False),
        Binding("right", "app.focus_next", show=False),
    ]

    def __init__(
        self,
        title: str,
        summary: str,
        items: Sequence[str],
        confirm_label: str,
        *,
        destructive: bool = False,
        type_to_confirm: str | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.summary = summary
        self.items = list(items)
        self.confirm_label = confirm_label
        self.destructive = destructive
        self.type_to_confirm = type_to_confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="destructive" if self.destructive else ""):
            yield Label(self.title_text, id="dialog-title")
            yield Static(self.summary, id="dialog-summary")
            if self.items:
                # Not in the Tab order: Tab goes from Cancel to the name input and the buttons.
                with VerticalScroll(id="dialog-items", can_focus=False):
                    yield Static(Text("\n".join(self.items)), id="dialog-items-text")
            if self.type_to_confirm is not None:
                yield Label(f"Type the scale set's name, [b]{self.type_to_confirm}[/b], to confirm:",
                            id="dialog-type-label")
                yield Input(placeholder="scale set name", id="dialog-type", compact=True)
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(
                    self.confirm_label,
                    id="confirm",
                    variant="error" if self.destructive else "warning",
                    disabled=self.type_to_confirm is not None,
                )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_cancel(self) -> None:
        self.dismiss(False)

    @on(Input.Changed, "#dialog-type")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self.type_to_confirm

    @on(Input.Submitted, "#dialog-type")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value == self.type_to_confirm:
            self.dismiss(True)
        else:
            self.notify(f"Type {self.type_to_confirm} exactly, or press Esc to cancel", severity="warning")

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(False)

    @on(Button.Pressed, "#confirm")
    def _confirm(self, event: Button.Pressed) -> None:
        if not event.button.disabled:
            self.dismiss(True)


class ScaleScreen(ModalScreen[int | None]):
    """Scale to N: an integer 0..1000, validated as it is typed."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel"), *DIALOG_FOCUS_BINDINGS]

    def __init__(self, scale_set: ScaleSet) -> None:
        super().__init__(classes="dialog-screen")
        self.scale_set = scale_set

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Scale {self.scale_set.name}", id="dialog-title")
            yield Static(
                f"Resource group {self.scale_set.resource_group} · capacity now {self.scale_set.capacity}. "
                f"New capacity (0-{MAX_CAPACITY}):",
                id="dialog-summary",
            )
            yield Input(
                placeholder=str(self.scale_set.capacity),
                type="integer",
                max_length=4,
                validators=[Integer(minimum=0, maximum=MAX_CAPACITY,
                                    failure_description=f"a whole number from 0 to {MAX_CAPACITY}")],
                validate_on=["changed", "submitted"],
                id="scale-input",
            )
            yield Static("Type the new capacity; Enter applies it, Esc cancels.", id="scale-hint")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Scale", id="confirm", variant="warning", disabled=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # The number must be typed before anything can happen, so typing starts right here;
        # Enter with nothing (or the current capacity) typed cancels.
        self.query_one("#scale-input", Input).focus()

    def _target(self) -> int | None:
        value = self.query_one("#scale-input", Input).value.strip()
        if not value:
            return None
        try:
            target = int(value)
        except ValueError:
            return None
        return target if 0 <= target <= MAX_CAPACITY else None

    @on(Input.Changed, "#scale-input")
    def _changed(self, event: Input.Changed) -> None:
        hint = self.query_one("#scale-hint", Static)
        button = self.query_one("#confirm", Button)
        if not event.value.strip():
            hint.update("Type the new capacity; Enter applies it, Esc cancels.")
            hint.set_class(False, "invalid")
            button.disabled = True
            return
        target = self._target()
        if target is None:
            hint.update(f"Not valid: capacity must be a whole number from 0 to {MAX_CAPACITY}.")
            hint.set_class(True, "invalid")
            button.disabled = True
            return
        hint.set_class(False, "invalid")
        hint.update(scale_effect(self.scale_set, target))
        button.disabled = target == self.scale_set.capacity
        button.label = f"Scale to {target}"

    @on(Input.Submitted, "#scale-input")
    def _submitted(self) -> None:
        target = self._target()
        if not self.query_one("#scale-input", Input).value.strip():
            self.dismiss(None)
        elif target is not None and target != self.scale_set.capacity:
            self.dismiss(target)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        target = self._target()
        if target is not None and target != self.scale_set.capacity:
            self.dismiss(target)


class DetailsScreen(Screen[None]):
    """`y`: the JSON as ARM returned it; `d`: a readable description. Esc goes back."""

    BINDINGS = [
        Binding("escape,q", "close", "Back", id="details.close"),
        Binding("y", "show('json')", "JSON", id="details.json"),
        Binding("d", "show('describe')", "Describe", id="details.describe"),
        Binding("j,down", "scroll_down", "Down", show=False, id="details.down"),
        Binding("k,up", "scroll_up", "Up", show=False, id="details.up"),
    ]

    def __init__(self, subject: str, json_text: str, description: str, mode: str = "describe") -> None:
        super().__init__()
        self.subject = subject
        self.json_text = json_text
        self.description = description
        self.mode = mode

    def compose(self) -> ComposeResult:
        yield Static(id="details-title")
        with VerticalScroll(id="details-body"):
            yield Static(id="details-content")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._show_content()
        self.query_one("#details-body").focus()

    def _show_content(self) -> None:
        what = "JSON as ARM returned it" if self.mode == "json" else "description"
        self.query_one("#details-title", Static).update(f" {self.subject} · {what}   (y JSON · d describe · Esc back)")
        content = self.query_one("#details-content", Static)
        if self.mode == "json":
            content.update(Syntax(self.json_text, "json", theme="ansi_dark", background_color="default",
                                  word_wrap=False))
        else:
            content.update(Text(self.description))

    def action_show(self, mode: str) -> None:
        self.mode = mode
        self._show_content()
        self.query_one("#details-body", VerticalScroll).scroll_home(animate=False)

    def action_scroll_down(self) -> None:
        self.query_one("#details-body", VerticalScroll).scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        self.query_one("#details-body", VerticalScroll).scroll_up(animate=False)

    def action_close(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True, slots=True)
class HelpRow:
    section: str  # "Instances", "Everywhere" ...
    key: str
    description: str
    binding_id: str  # "" for Textual's built-in keys, which have none
    note: str = ""


class HelpScreen(ModalScreen[None]):
    """Every binding of the focused pane and the global ones, with their ids for the config."""

    BINDINGS = [Binding("escape,q,question_mark", "close", "Close", id="help.close")]

    def __init__(self, pane: str, rows: Sequence[HelpRow], config_hint: str) -> None:
        super().__init__(classes="dialog-screen")
        self.pane = pane
        self.rows = list(rows)
        self.config_hint = config_hint

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label(f"Keys · {self.pane}", id="dialog-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static(self.config_hint, id="help-hint")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#help-table", DataTable)
        table.add_columns("Where", "Key", "Does", "Binding id (for \\[keys] in config)")
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


class SubscriptionScreen(ModalScreen[str | None]):
    """`:sub` without an argument: pick one of the subscriptions the credential can list."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, subscriptions: Sequence[tuple[str, str]], current: str | None) -> None:
        super().__init__(classes="dialog-screen")
        self.subscriptions = list(subscriptions)
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Switch subscription", id="dialog-title")
            options = [
                Option(f"{'● ' if sub_id == self.current else '  '}{name}  [dim]{sub_id}[/dim]", id=sub_id)
                for sub_id, name in self.subscriptions
            ]
            yield OptionList(*options, id="subscriptions")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        option_list = self.query_one(OptionList)
        option_list.focus()
        for index, (sub_id, _) in enumerate(self.subscriptions):
            if sub_id == self.current:
                option_list.highlighted = index

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
