"""The fleet screen's `:` and `/` lines: opening them, a filter applied as typed, and what a `:`
command does."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from vmss_tui.ui import intents
from vmss_tui.ui.panes.table import LiveTable
from vmss_tui.ui.prompt import parse_command

if TYPE_CHECKING:
    from vmss_tui.ui.prompt import PromptInput
    from vmss_tui.ui.store import FleetStore

TABLE_OF_VIEW = {"vmss": "#vmss", "inst": "#instances", "nat": "#nat", "disk": "#instance-disks"}


class CommandLineMixin:
    """The prompt handling of FleetScreen."""

    prompt: PromptInput
    store: FleetStore
    view: str
    status: Any

    def action_command_mode(self) -> None:
        self._open_prompt("command", None)

    def action_filter(self) -> None:
        table = self.focused_table() or self.query_one(TABLE_OF_VIEW[self.view], LiveTable)
        self._open_prompt("filter", table)

    def _open_prompt(self, mode: str, target: LiveTable | None) -> None:
        self.prompt.open(mode, target)

    def on_prompt_done(self, message: intents.PromptDone) -> None:
        target = self.prompt.close(cancel=message.cancel)
        # At once, as the prompt took it: a deferred focus would land after keys typed meanwhile.
        if target is not None and target.display:
            self.set_focus(target)
        else:
            self.set_focus(self.query_one(TABLE_OF_VIEW[self.view], LiveTable))
        self.render_bars()
        if message.mode == "command" and not message.cancel:
            self.run_command(message.value)

    def on_filter_changed(self, message: intents.FilterChanged) -> None:
        self.render_bars()
        if message.error:
            self.status.set(Text(f"filter: {message.error}", style="red"))

    def run_command(self, text: str) -> None:
        """`:` commands (k9s style): a view alias, optionally with a name to jump to."""
        command = parse_command(text)
        if command is None:
            return
        if command.name is None:
            self.notify(f"Unknown command :{command.word} (try :vmss :inst :nat :disk :sub :q)", severity="warning")
        elif command.name == "quit":
            self.call_later(self.app.run_action, "quit")
        elif command.name == "help":
            self.action_help()
        elif command.name == "refresh":
            self.action_refresh_now()
        elif command.name == "sub":
            self.post_message(intents.SwitchSubscription(command.argument))
        elif command.name == "vmss" and command.argument:
            matches = self.store.find_scale_set(command.argument)
            if not matches:
                self.notify(f"No scale set named {command.argument}", severity="warning")
                self.show_view("vmss")
            else:
                self.jump_to_scale_set(matches[0].scale_set.id)
        elif command.name == "inst" and command.argument:
            entry = self.store.selected()
            instance = entry.instance_by_id(command.argument) if entry else None
            if entry is None or instance is None:
                self.notify(f"No instance {command.argument} in the selected scale set", severity="warning")
            else:
                self.jump_to_instance(entry.scale_set.id, instance.id)
        else:
            self.show_view(command.name)
