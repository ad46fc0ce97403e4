"""The `:` command line and the `/` filter line, and what a `:` command means.

`parse_command` is pure (k9s-style aliases, an optional argument); the input posts
`intents.PromptDone` when it closes, and the screen acts on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
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


def command_for(word: str) -> str | None:
    """The command a typed word means: an alias, else the suggestion the line shows for it (the
    first of COMMAND_SUGGESTIONS it begins), else the one command all aliases it begins agree on."""
    folded = word.casefold()
    if folded in COMMAND_ALIASES:
        return COMMAND_ALIASES[folded]
    suggested = next((s for s in COMMAND_SUGGESTIONS if s.startswith(folded)), None)
    if suggested is not None:
        return COMMAND_ALIASES[suggested]
    meant = {command for alias, command in COMMAND_ALIASES.items() if alias.startswith(folded)}
    return meant.pop() if len(meant) == 1 else None


def parse_command(text: str) -> Command | None:
    """`:vmss web` -> Command("vmss", "web"); `:na` -> Command("nat", None); None for an empty line."""
    words = text.strip().lstrip(":").split()
    if not words:
        return None
    return Command(command_for(words[0]), " ".join(words[1:]) or None, words[0])


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
        # At once, not on the next turn: keys typed right after `:` belong to the line, not to
        # the table under it (`:inst` typed fast would otherwise open an SSH session on `s`).
        self.screen.set_focus(self)

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
        self.tooltip = Text(error) if error else None  # quotes what was typed: text, not markup
        self.post_message(intents.FilterChanged(error))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(intents.PromptDone(self.mode, event.value, cancel=False))
