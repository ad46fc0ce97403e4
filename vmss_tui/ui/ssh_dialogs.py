"""The dialogs an SSH connection asks in: an unknown host key (trust it?), a changed one (replace
it?), and a secret (a key's passphrase, a password) typed into a masked input that goes nowhere
but asyncssh. Used by the SSH tab and by the guest reads of the disk views."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static
from textual.widgets.button import ButtonVariant

if TYPE_CHECKING:
    from vmss_tui.ssh.known_hosts import HostKeyCheck


class _Dialog(ModalScreen[Any]):
    DEFAULT_CSS = """
    _Dialog, HostKeyDialog, ReplaceHostKeyDialog, SecretDialog {
        align: center middle;
    }
    .ssh-dialog {
        width: 84;
        max-width: 95%;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 1 2;
    }
    .ssh-dialog .title { text-style: bold; margin-bottom: 1; }
    .ssh-dialog .fingerprint { text-style: bold; color: $accent; margin: 1 0; }
    .ssh-dialog .buttons { height: auto; margin-top: 1; align-horizontal: right; }
    .ssh-dialog Button { margin-left: 2; }
    """


def _yes_no_bindings(yes: str) -> list[BindingType]:
    return [
        Binding("y", "answer(True)", yes, show=False),
        Binding("n,escape", "answer(False)", "Cancel", show=False),
    ]


class _HostKeyQuestion(_Dialog):
    """A yes/no question about a host key: `y` or the confirm button says yes; `n`/Esc or
    Cancel (focused, the default) says no. Subclasses give the words and the confirm button."""

    confirm_id: ClassVar[str]
    confirm_label: ClassVar[str]
    confirm_variant: ClassVar[ButtonVariant]

    def __init__(self, check: HostKeyCheck) -> None:
        super().__init__()
        self.check = check

    def heading(self) -> str:
        raise NotImplementedError

    def explanation(self) -> str:
        raise NotImplementedError

    def fingerprints(self) -> str:
        raise NotImplementedError

    def compose(self) -> ComposeResult:
        with Vertical(classes="ssh-dialog"):
            yield Label(Text(self.heading()), classes="title")  # host and key names: text, not markup
            yield Static(Text(self.explanation()))
            yield Static(Text(self.fingerprints()), classes="fingerprint")
            with Horizontal(classes="buttons"):
                yield Button(self.confirm_label, id=self.confirm_id, variant=self.confirm_variant)
                yield Button("Cancel (n)", id="cancel", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == self.confirm_id)


class HostKeyDialog(_HostKeyQuestion):
    """An unknown host key: `y` trusts and saves it, `n`/Esc cancels (the default)."""

    BINDINGS: ClassVar[list[BindingType]] = _yes_no_bindings("Trust")
    confirm_id = "trust"
    confirm_label = "Trust and save (y)"
    confirm_variant = "warning"

    def heading(self) -> str:
        return f"Unknown host key for {self.check.host_pattern}"

    def explanation(self) -> str:
        return (
            "This server's key is not in vmss-tui's known_hosts yet. Compare the fingerprint "
            "with the one the instance printed at first boot (boot diagnostics / serial log) "
            "before trusting it."
        )

    def fingerprints(self) -> str:
        return f"{self.check.key_type}  {self.check.fingerprint}"


class ReplaceHostKeyDialog(_HostKeyQuestion):
    """A changed host key: replacing it is explicit; `n`/Esc (the default) keeps refusing."""

    BINDINGS: ClassVar[list[BindingType]] = _yes_no_bindings("Replace")
    confirm_id = "replace"
    confirm_label = "Replace (y)"
    confirm_variant = "error"

    def heading(self) -> str:
        return f"Replace the saved host key of {self.check.host_pattern}?"

    def explanation(self) -> str:
        return (
            "The server presents a different key than the one saved. Reimaging an instance "
            "regenerates its host keys, which explains this; but a changed key can also mean "
            "someone is intercepting the connection. Replace it only if you know the "
            "instance was reimaged or recreated."
        )

    def fingerprints(self) -> str:
        saved = ", ".join(self.check.known_fingerprints) or "?"
        return f"saved: {saved}\nnow:   {self.check.key_type}  {self.check.fingerprint}"


class SecretDialog(_Dialog):
    """A masked input for a key passphrase or a password. Enter submits, Esc cancels.

    The value goes only to the dismiss callback and is cleared from the input right away.
    Nothing records it on the way: the input's messages leave the value out of their repr,
    Textual's own debug log ($TEXTUAL_LOG, which writes down every key event and message) is
    paused while the dialog is open, and the value is registered with vmss_tui.logsetup, which
    redacts it from the app's log (--log-file) should any library write it there later."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel", show=False)]

    class SecretInput(Input):
        """An Input whose messages say "<secret>" where Input's would show the value."""

        class Changed(Input.Changed):
            def __repr__(self) -> str:
                return "SecretInput.Changed(value=<secret>)"

            def __rich_repr__(self) -> Any:
                yield "value", "<secret>"

        class Submitted(Input.Submitted):
            def __repr__(self) -> str:
                return "SecretInput.Submitted(value=<secret>)"

            def __rich_repr__(self) -> Any:
                yield "value", "<secret>"

        class Blurred(Input.Blurred):
            def __repr__(self) -> str:
                return "SecretInput.Blurred(value=<secret>)"

            def __rich_repr__(self) -> Any:
                yield "value", "<secret>"

    _textual_log_paused: ClassVar[int] = 0  # open secret dialogs (one may stack on another)
    _textual_log_file: ClassVar[str | None] = None

    def __init__(self, title: str, prompt: str, attempt: int = 1) -> None:
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.attempt = attempt

    def compose(self) -> ComposeResult:
        with Vertical(classes="ssh-dialog"):
            yield Label(Text(self.title_text), classes="title")  # user@host: outside text, never markup
            note = f"  (attempt {self.attempt})" if self.attempt > 1 else ""
            yield Static(Text(self.prompt + note))
            yield self.SecretInput(password=True, id="secret")
            with Horizontal(classes="buttons"):
                yield Button("OK (enter)", id="ok", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def on_mount(self) -> None:
        self._pause_textual_log()
        for field in self.query("#secret").results(Input):  # none if dismissed before it composed
            field.focus()

    def on_unmount(self) -> None:
        self._resume_textual_log()

    @classmethod
    def _pause_textual_log(cls) -> None:
        from textual import constants

        if cls._textual_log_paused == 0:
            cls._textual_log_file = constants.LOG_FILE
            if constants.LOG_FILE:
                cls._note_in_textual_log(constants.LOG_FILE, "vmss-tui: log paused while a secret is typed")
            constants.LOG_FILE = None  # type: ignore[misc]  # Textual reads it at every record
        cls._textual_log_paused += 1

    @classmethod
    def _resume_textual_log(cls) -> None:
        from textual import constants

        cls._textual_log_paused = max(0, cls._textual_log_paused - 1)
        if cls._textual_log_paused == 0 and cls._textual_log_file:
            constants.LOG_FILE = cls._textual_log_file  # type: ignore[misc]
            cls._textual_log_file = None
            cls._note_in_textual_log(constants.LOG_FILE, "vmss-tui: log resumed")

    @staticmethod
    def _note_in_textual_log(path: str, line: str) -> None:
        try:
            with open(path, "a", encoding="utf-8") as handle:
                print(line, file=handle)
        except OSError:
            pass

    def action_cancel(self) -> None:
        self._finish(None)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._finish(event.value)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self._finish(self.query_one("#secret", Input).value if event.button.id == "ok" else None)

    def _finish(self, value: str | None) -> None:
        from vmss_tui.logsetup import redact_value

        redact_value(value)
        self.query_one("#secret", Input).value = ""
        self.dismiss(value)
