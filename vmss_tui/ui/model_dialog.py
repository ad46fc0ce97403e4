"""`M` on a scale set: change its model (image, gallery image, size, tags, custom data).

Each field is checked as it is typed (`domain.model_change`, one line per problem, under the
field); below the fields the dialog shows the change as before -> after and what the upgrade
policy will then do with it. Nothing is sent until Apply is pressed: Esc, Cancel, and Enter in
the last field all leave the model as it is. The PATCH carries only what changed
(`Fleet.update_model`), run through the console's action flow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static, TextArea

from vmss_tui.domain.model_change import (
    ModelChange,
    ModelChangeError,
    image_ref_of,
    model_change_from_input,
    model_diff,
    parse_custom_data,
    parse_image,
    parse_tag,
    parse_tag_name,
    parse_vm_size,
    policy_consequence,
)
from vmss_tui.domain.models import ScaleSet
from vmss_tui.ui.dialogs import DIALOG_FOCUS_BINDINGS

if TYPE_CHECKING:
    from vmss_tui.ui.panes.base import PaneHost

TAGS_HELP = "one per line: name=value (delete a line to remove that tag)"


def tag_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def tags_from_text(scale_set: ScaleSet, text: str) -> tuple[list[str], list[str]]:
    """The tags box holds the whole tag set after the change: (name=value lines to set, names to
    remove). A line starting with `-` removes that tag too."""
    current = dict(scale_set.tags)
    to_set: list[str] = []
    removed: list[str] = []
    named: set[str] = set()
    for line in tag_lines(text):
        if line.startswith("-") and "=" not in line:
            removed.append(line[1:].strip())
            continue
        name, _, value = line.partition("=")
        named.add(name)
        if current.get(name) != value or "=" not in line:
            to_set.append(line)
    removed.extend(name for name in current if name not in named and name not in removed)
    return to_set, removed


def change_from_fields(scale_set: ScaleSet, *, image: str, size: str, tags: str, custom_data: str) -> ModelChange:
    """The change the fields describe (raises ModelChangeError with every problem)."""
    current_image = image_ref_of(scale_set)
    image_text = image.strip()
    unchanged_image = current_image is not None and image_text == current_image.text()
    to_set, removed = tags_from_text(scale_set, tags)
    return model_change_from_input(
        image=None if unchanged_image or not image_text else image_text,
        vm_size=None if size.strip() in ("", scale_set.sku) else size,
        set_tags=to_set,
        remove_tags=removed,
        custom_data=custom_data or None,
        current_tags=dict(scale_set.tags),
    )


def field_problem(scale_set: ScaleSet, field: str, value: str) -> str | None:
    """The one-line problem of one field as typed, or None."""
    try:
        if field == "image":
            current = image_ref_of(scale_set)
            if value.strip() and not (current is not None and value.strip() == current.text()):
                parse_image(value)
        elif field == "size":
            if value.strip():
                parse_vm_size(value)
        elif field == "tags":
            problems = []
            for index, line in enumerate(tag_lines(value), 1):
                try:
                    if line.startswith("-") and "=" not in line:
                        parse_tag_name(line[1:].strip(), where=f"tags line {index}")
                    else:
                        parse_tag(line, where=f"tags line {index}")
                except ModelChangeError as exc:
                    problems.extend(exc.problems)
            if problems:
                return "; ".join(problems)
        elif field == "custom_data":
            parse_custom_data(value)
    except ModelChangeError as exc:
        return "; ".join(exc.problems)
    return None


def diff_text(scale_set: ScaleSet, change: ModelChange) -> Text:
    rows = model_diff(scale_set, change)
    if not rows:
        return Text("No change yet: edit a field above.", style="dim")
    text = Text()
    width = max(len(row.field) for row in rows)
    for index, row in enumerate(rows):
        if index:
            text.append("\n")
        # Before above after: an image reference is too long to share a line with another.
        text.append(f"{row.field:<{width}}  ", style="bold")
        text.append(row.before if row.before is not None else "(none)", style="red")
        text.append(f"\n{'→':>{width}}  ")
        text.append(row.after if row.after is not None else "(removed)", style="green")
    return text


class ModelChangeScreen(ModalScreen[ModelChange | None]):
    """The model-change dialog of one scale set; dismissed with the change, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel"), *DIALOG_FOCUS_BINDINGS]
    DEFAULT_CSS = """
    ModelChangeScreen #model-form { height: auto; max-height: 70vh; }
    ModelChangeScreen .field-label { margin-top: 1; color: $text-muted; }
    ModelChangeScreen .field-problem { color: $error; height: auto; }
    ModelChangeScreen TextArea { height: 5; }
    ModelChangeScreen #model-diff { margin-top: 1; height: auto; }
    ModelChangeScreen #model-consequence { margin-top: 1; height: auto; color: $warning; }
    """

    def __init__(self, scale_set: ScaleSet) -> None:
        super().__init__(classes="dialog-screen")
        self.scale_set = scale_set
        self.change: ModelChange | None = None

    def compose(self) -> ComposeResult:
        scale_set = self.scale_set
        image = image_ref_of(scale_set)
        tags = "\n".join(f"{k}={v}" for k, v in scale_set.tags)
        with Vertical(id="dialog"):
            yield Label(Text(f"Change the model of {scale_set.name} ({scale_set.resource_group})"), id="dialog-title")
            with VerticalScroll(id="model-form"):
                yield Label("Image: publisher:offer:sku:version, or a gallery image (version) id", classes="field-label")
                yield Input(image.text() if image else (scale_set.image or ""), id="model-image", compact=True,
                            select_on_focus=False)
                yield Static("", id="model-image-problem", classes="field-problem")
                yield Label("Size (SKU), e.g. Standard_D2s_v5", classes="field-label")
                yield Input(scale_set.sku, id="model-size", compact=True, select_on_focus=False)
                yield Static("", id="model-size-problem", classes="field-problem")
                yield Label(f"Tags, {TAGS_HELP}", classes="field-label")
                yield TextArea(tags, id="model-tags", soft_wrap=False, tab_behavior="focus")
                yield Static("", id="model-tags-problem", classes="field-problem")
                yield Label("Custom data (ARM never returns it: empty leaves it as it is)", classes="field-label")
                yield TextArea("", id="model-custom-data", soft_wrap=False, tab_behavior="focus")
                yield Static("", id="model-custom_data-problem", classes="field-problem")
                yield Static(id="model-diff")
                yield Static(id="model-consequence")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Apply", id="confirm", variant="warning", disabled=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_resize(self) -> None:
        # The buttons stay on screen at 80x24: the fields scroll instead.
        self.query_one("#model-form").styles.max_height = max(4, self.size.height - 12)

    def on_mount(self) -> None:
        for field in ("image", "size", "tags", "custom_data"):
            self.query_one(f"#model-{field}-problem", Static).display = False
        self._revalidate()
        self.query_one("#model-image", Input).focus()

    def _values(self) -> dict[str, str]:
        return {
            "image": self.query_one("#model-image", Input).value,
            "size": self.query_one("#model-size", Input).value,
            "tags": self.query_one("#model-tags", TextArea).text,
            "custom_data": self.query_one("#model-custom-data", TextArea).text,
        }

    def _revalidate(self) -> None:
        values = self._values()
        valid = True
        for field, value in values.items():
            problem = field_problem(self.scale_set, field, value)
            shown = self.query_one(f"#model-{field}-problem", Static)
            shown.display = problem is not None
            shown.update(Text(problem or ""))
            valid = valid and problem is None
        diff = self.query_one("#model-diff", Static)
        consequence = self.query_one("#model-consequence", Static)
        button = self.query_one("#confirm", Button)
        self.change = None
        if valid:
            try:
                self.change = change_from_fields(self.scale_set, **values)
            except ModelChangeError as exc:
                diff.update(Text("\n".join(exc.problems), style="red"))
                consequence.update("")
                button.disabled = True
                return
            diff.update(diff_text(self.scale_set, self.change))
            consequence.update(Text(policy_consequence(self.scale_set, self.change)))
        else:
            diff.update(Text("Fix the fields marked above to see the change.", style="dim"))
            consequence.update("")
        button.disabled = self.change is None or not model_diff(self.scale_set, self.change)

    @on(Input.Changed)
    @on(TextArea.Changed)
    def _changed(self) -> None:
        self._revalidate()

    @on(Input.Submitted)
    def _next_field(self) -> None:
        self.focus_next()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    def _apply(self, event: Button.Pressed) -> None:
        self._revalidate()
        if not event.button.disabled and self.change is not None:
            self.dismiss(self.change)


def request_model_change(host: PaneHost, scale_set: ScaleSet) -> None:
    """The dialog, then (confirmed) the PATCH through the console's action flow."""
    if host.read_only:
        host.notify("Read-only session: changing the model is disabled (started with --read-only)",
                    severity="warning")
        return
    if host.fleet is None:
        host.notify("Not connected yet", severity="warning")
        return

    def chosen(change: ModelChange | None) -> None:
        fleet = host.fleet
        if change is None or fleet is None:
            host.notify(f"Cancelled: model change of {scale_set.name}", timeout=3)
            return
        fields = ", ".join(row.field for row in model_diff(scale_set, change))
        label = f"Model change of {scale_set.name} ({fields})"

        async def call(progress: Any) -> Any:
            if fleet.subscription_id.casefold() == scale_set.subscription_id.casefold():
                return await fleet.update_model(scale_set, change, on_progress=progress)
            sibling = await fleet.with_subscription(scale_set.subscription_id)  # --all-subscriptions
            try:
                return await sibling.update_model(scale_set, change, on_progress=progress)
            finally:
                await sibling.close()

        host.start_action(label, scale_set, call, scale_set_pending="changing the model…")
        if change.changes_instances:
            host.notify(f"{policy_consequence(scale_set, change)} Press u to watch the rollout.", timeout=10)

    host.push_screen(ModelChangeScreen(scale_set), chosen)
