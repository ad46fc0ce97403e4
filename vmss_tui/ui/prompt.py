"""The `:` command line and the `/` filter line, and what a `:` command means.

`parse_command` is pure (k9s-style aliases, an optional argument); the input posts
`intents.PromptDone` when it closes, and the screen acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.binding import Binding
from textual.suggester import SuggestFromList
from textual.widgets import Input

from vmss_tui.ui import intents
from vmss_tui.ui.panes.table import LiveTable

COMMAND_ALIASES = {
    "vmss": "vmss", "ss": "vmss", "scalesets": "vmss", "scaleset": "vmss",
    "inst": "inst", "instances": "inst", "instance": "inst", "vm": "inst", "vms": "inst",
    "nat": "nat",
    "disk": "disk", "disks": "disk",
    "sub": "sub", "subs": "sub", "subscription": "sub",
    "q": "quit", "q!": "quit", "quit": "quit", "exit": "quit",
    "help": "help", "?": "help",
    "refresh": "refresh", "r": "refresh",
}
COMMAND_SUGGESTIONS = ["vmss", "inst", "nat", "disk", "sub", "q", "help", "refresh", "scalesets", "instances"]
COMMAND_PLACEHOLDER = "vmss · inst · nat · disk · sub [id] · q   (Esc cancels)"
FILTER_PLACEHOLDER = "regex; !regex inverts; Esc clears"


@dataclass(frozen=True, slots=True)
class Command:
    name: str | None  # vmss | inst | nat | disk | sub | quit | help | refresh; None: unknown
    argument: str | None
    word: str  # what was typed as the command


def parse_command(text: str) -> Command | None:
    """`:vmss web` -> Command("vmss", "web"); None for an empty line."""
    words = text.strip().lstrip(":").split()
    if not words:
        return None
    return Command(COMMAND_ALIASES.get(words[0].casefold()), " ".join(words[1:]) or None, words[0])


class PromptInput(Input):
    """The `:` command line and the `/` filter line (one input, two modes). A filter applies to
    its table as it is typed; Enter or Esc posts `intents.PromptDone` for the screen to act on."""

    BINDINGS = [Binding("escape", "dismiss_prompt", "Cancel", id="prompt.cancel")]
    HELP_SECTION = "Prompt"

    def __init__(self) -> None:
        super().__init__(id="prompt", compact=True)
        self.mode: str = "command"  # command | filter
        self.target: LiveTable | None = None  # the table a filter applies to

    def open(self, mode: str, target: LiveTable | None) -> None:
        self.mode = mode
        self.target = target
        if mode == "command":
            self.suggester = SuggestFromList(COMMAND_SUGGESTIONS, case_sensitive=False)
            self.placeholder = COMMAND_PLACEHOLDER
            self.value = ""
            self.border_title = ":"
        else:
            self.suggester = None
            self.placeholder = FILTER_PLACEHOLDER
            self.value = target.row_filter.text if target else ""
        self.set_class(mode == "filter", "-filter")
        self.set_class(mode == "command", "-command")
        self.display = True
        self.focus()

    def close(self, *, cancel: bool) -> LiveTable | None:
        """Hide the line (Esc on a filter clears it); returns the table it was for."""
        target, self.target = self.target, None
        if self.mode == "filter" and cancel and target is not None:
            target.set_filter("")
        self.display = False
        return target

    def action_dismiss_prompt(self) -> None:
        self.post_message(intents.PromptDone(self.mode, self.value, cancel=True))

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if self.mode != "filter" or self.target is None:
            return
        error = self.target.set_filter(event.value)
        self.set_class(error is not None, "-invalid")
        self.tooltip = error
        self.post_message(intents.FilterChanged(error))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(intents.PromptDone(self.mode, event.value, cancel=False))
