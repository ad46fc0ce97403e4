"""Dialogs: confirm an action, scale to N, pick a subscription.

Every dialog that changes something opens with Cancel as the default (Enter there cancels) and
closes on Esc without doing anything. Each has a footer of its own with its own keys (the
console's footer, under the dialog, would offer keys that do nothing while it is open). Every
text in them is shown as text, never parsed as markup: names and messages come from Azure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from vmss_tui.domain.actions import MAX_CAPACITY, is_strict_count
from vmss_tui.domain.models import ScaleSet
from vmss_tui.ui.actions import scale_effect

# Tab through a dialog's fields and buttons, said in its footer (Textual binds Tab unseen).
DIALOG_FOCUS_BINDINGS = [
    Binding("tab", "app.focus_next", "Next", id="dialog.next"),
    Binding("shift+tab", "app.focus_previous", "Previous", show=False, id="dialog.previous"),
]


class ConfirmScreen(ModalScreen[Any]):
    """Says exactly what will happen to which instances; Cancel is the default. With
    `type_to_confirm`, the confirm buttons unlock only once that name is typed (the typing goes to
    its field; Enter there with anything else cancels). `also_label`: a second confirm button.
    Subclasses say what each answer dismisses with (`answer`)."""

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
        also_label: str | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.title_text = title
        self.summary = summary
        self.items = list(items)
        self.confirm_label = confirm_label
        self.destructive = destructive
        self.type_to_confirm = type_to_confirm
        self.also_label = also_label

    def answer(self, button_id: str | None) -> Any:
        """What the dialog is dismissed with: `button_id` is "confirm", "confirm-also", or None
        (cancelled)."""
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="destructive" if self.destructive else ""):
            yield Label(Text(self.title_text), id="dialog-title")
            yield Static(Text(self.summary), id="dialog-summary")
            if self.items:
                # Not in the Tab order: Tab goes from Cancel to the name input and the buttons.
                with VerticalScroll(id="dialog-items", can_focus=False):
                    yield Static(Text("\n".join(self.items)), id="dialog-items-text")
            if self.type_to_confirm is not None:
                yield Label(Text.assemble("Type the scale set's name, ", (self.type_to_confirm, "bold"),
                                          ", to confirm:"), id="dialog-type-label")
                yield Input(placeholder="scale set name", id="dialog-type", compact=True)
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                variant = "error" if self.destructive else "warning"
                locked = self.type_to_confirm is not None
                yield Button(self.confirm_label, id="confirm", variant=variant, disabled=locked)
                if self.also_label:
                    yield Button(self.also_label, id="confirm-also", variant=variant, disabled=locked)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        # The name must be typed before anything can happen, so the typing goes to its field;
        # Cancel stays the default (Enter with an empty or wrong name cancels).
        if self.type_to_confirm is not None:
            self.query_one("#dialog-type", Input).focus()
        else:
            self.query_one("#cancel", Button).focus()

    def action_cancel(self) -> None:
        self.dismiss(self.answer(None))

    @on(Input.Changed, "#dialog-type")
    def _typed(self, event: Input.Changed) -> None:
        for button in self.query("#confirm, #confirm-also").results(Button):
            button.disabled = event.value != self.type_to_confirm

    @on(Input.Submitted, "#dialog-type")
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(self.answer("confirm" if event.value == self.type_to_confirm else None))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.disabled:
            return
        button = event.button.id
        self.dismiss(self.answer(button if button in ("confirm", "confirm-also") else None))


class ConfirmActionScreen(ConfirmScreen):
    """A yes/no confirmation: dismissed with True (confirmed) or False."""

    def answer(self, button_id: str | None) -> bool:
        return button_id is not None


class ScaleScreen(ModalScreen[int | None]):
    """Scale to N: ASCII digits only, 0..1000, checked as typed against the capacity read fresh
    from ARM when the dialog opens (the list's figure may be half a minute old)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel"), *DIALOG_FOCUS_BINDINGS]

    def __init__(self, scale_set: ScaleSet, read_fresh: Callable[[], Awaitable[ScaleSet]] | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.scale_set = scale_set
        self._read_fresh = read_fresh
        self.fresh = read_fresh is None  # the capacity shown is ARM's of a moment ago

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(Text(f"Scale {self.scale_set.name}"), id="dialog-title")
            yield Static(self._summary(), id="dialog-summary")
            yield Input(placeholder=str(self.scale_set.capacity), max_length=4, id="scale-input")
            yield Static("Type the new capacity; Enter applies it, Esc cancels.", id="scale-hint")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Scale", id="confirm", variant="warning", disabled=True)
        yield Footer(compact=True, show_command_palette=False)

    def _summary(self) -> Text:
        now = "" if self.fresh else " (reading the current capacity…)"
        return Text(f"Resource group {self.scale_set.resource_group} · capacity now {self.scale_set.capacity}{now}. "
                    f"New capacity (0-{MAX_CAPACITY}):")

    def on_mount(self) -> None:
        # The number must be typed before anything can happen, so typing starts right here;
        # Enter with nothing (or the current capacity) typed cancels.
        self.query_one("#scale-input", Input).focus()
        if self._read_fresh is not None:
            self.run_worker(self._refresh(), exit_on_error=False)

    async def _refresh(self) -> None:
        assert self._read_fresh is not None
        try:
            self.scale_set = await self._read_fresh()
        except Exception as error:  # noqa: BLE001 - said in the dialog, which stays usable
            self.query_one("#dialog-summary", Static).update(Text(
                f"Could not read the current capacity ({type(error).__name__}: {error}); "
                "scaling is not offered until it can be read.", style="red"))
            return
        self.fresh = True
        self.query_one("#dialog-summary", Static).update(self._summary())
        self._changed_to(self.query_one("#scale-input", Input).value)

    def _target(self) -> int | None:
        value = self.query_one("#scale-input", Input).value
        if not is_strict_count(value):
            return None
        target = int(value)
        return target if target <= MAX_CAPACITY else None

    @on(Input.Changed, "#scale-input")
    def _changed(self, event: Input.Changed) -> None:
        self._changed_to(event.value)

    def _changed_to(self, value: str) -> None:
        hint = self.query_one("#scale-hint", Static)
        button = self.query_one("#confirm", Button)
        if not value:
            hint.update("Type the new capacity; Enter applies it, Esc cancels.")
            hint.set_class(False, "invalid")
            button.disabled = True
            return
        target = self._target()
        if target is None:
            hint.update(Text(f"Not valid: {value!r}. The capacity is a whole number from 0 to {MAX_CAPACITY}, "
                             "in digits 0-9."))
            hint.set_class(True, "invalid")
            button.disabled = True
            return
        hint.set_class(False, "invalid")
        hint.update(Text(scale_effect(self.scale_set, target)))
        button.disabled = not self.fresh or target == self.scale_set.capacity
        button.label = f"Scale to {target}"

    def _accept(self) -> None:
        target = self._target()
        if self.fresh and target is not None and target != self.scale_set.capacity:
            self.dismiss(target)
        else:
            self.dismiss(None)

    @on(Input.Submitted, "#scale-input")
    def _submitted(self) -> None:
        self._accept()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self._accept()


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
                Option(Text.assemble(f"{'● ' if sub_id == self.current else '  '}{name}  ", (sub_id, "dim")),
                       id=sub_id)
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
