"""One SSH session in a tab: status line + embedded terminal; the dialogs it asks in are ssh_dialogs.py.

    pane = SshSessionPane(target, settings, nsg_label="allowed from any (OPEN)")
    await tabbed_content.add_pane(TabPane(target.label, pane))
    ...
    await pane.close()          # when the tab closes (also done on unmount)

On mount it probes the NAT port (listening / refused / timed out), then connects. Host keys,
key passphrases and passwords are asked in modal dialogs (a secret is typed into a masked input
and goes nowhere but asyncssh). While the terminal has focus every key goes to the remote;
ctrl+] gives the focus to the pane, whose keys are:

    r  reconnect (after a disconnect; the status line says why it ended)
    S  hand the whole terminal to the system `ssh` (App.suspend) with the same user/host/port
    c  copy that `ssh` command line to the clipboard
    p  probe the port again
    K  replace a changed host key (after the refusal; asks again, defaults to Cancel)
    i / enter  type in the terminal again

The pane posts `SshSessionPane.StateChanged` when the session state changes (for tab labels).
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Static

from vmss_tui.domain.ssh_target import SshTarget
from vmss_tui.ssh.known_hosts import HostKeyCheck, HostKeyStatus
from vmss_tui.ssh.probe import ProbeResult, ProbeState, probe_tcp
from vmss_tui.ssh.session import FailureKind, SshFailure, SshPrompts, SshSession, ssh_command
from vmss_tui.ssh.settings import SshSettings
from vmss_tui.ui.ssh_dialogs import HostKeyDialog, ReplaceHostKeyDialog, SecretDialog
from vmss_tui.ui.terminal import Terminal

# Sessions of removed panes still closing (a reference keeps their tasks alive).
_closing_sessions: set[asyncio.Task[None]] = set()

# States shown in the status line and sent with StateChanged.
PROBING = "probing"
CONNECTING = "connecting"
CONNECTED = "connected"
DISCONNECTED = "disconnected"
FAILED = "failed"


# ----------------------------------------------------------------------------- the pane


class SshSessionPane(Widget, can_focus=True):
    """A status line and an embedded terminal running one SSH session."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "reconnect", "Reconnect", id="ssh.reconnect"),
        Binding("S", "system_ssh", "System ssh", id="ssh.system_ssh"),
        Binding("c", "copy_command", "Copy ssh command", id="ssh.copy_command"),
        Binding("p", "probe", "Probe port", id="ssh.probe"),
        Binding("K", "replace_host_key", "Replace host key", id="ssh.replace_host_key"),
        Binding("i,enter", "focus_terminal", "Type", id="ssh.focus_terminal"),
    ]

    DEFAULT_CSS = """
    SshSessionPane {
        layout: vertical;
        height: 1fr;
        width: 1fr;
    }
    SshSessionPane > #ssh-status {
        height: auto;
        max-height: 3;
        background: $panel;
        padding: 0 1;
    }
    SshSessionPane:focus > #ssh-status {
        background: $accent 30%;
    }
    SshSessionPane > Terminal {
        height: 1fr;
    }
    """

    class StateChanged(Message):
        def __init__(self, pane: SshSessionPane, state: str, reason: str | None) -> None:
            super().__init__()
            self.pane = pane
            self.state = state
            self.reason = reason

    def __init__(
        self,
        target: SshTarget,
        settings: SshSettings,
        nsg_label: str | None = None,
        *,
        scrollback: int = 1000,
        connect_on_mount: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.target = target
        self.settings = settings
        self.nsg_label = nsg_label
        self.connect_on_mount = connect_on_mount
        self.state = PROBING
        self.reason: str | None = target.note
        self.probe_result: ProbeResult | None = None
        self.session = SshSession(
            target,
            settings,
            SshPrompts(
                confirm_host_key=self._confirm_host_key,
                ask_passphrase=self._ask_passphrase,
                ask_password=self._ask_password,
            ),
        )
        self.terminal = Terminal(
            send=self.session.write,
            on_resize=self.session.resize,
            on_flow=self._flow,
            scrollback=scrollback,
        )
        self._open_dialog: ModalScreen[Any] | None = None
        self._dialog_done: Any = None  # resolves the open dialog's answer
        self._session_closed = False

    # -- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(id="ssh-status")
        yield self.terminal

    def on_mount(self) -> None:
        self._render_status()
        if self.connect_on_mount:
            self.start()

    # -- status ------------------------------------------------------------------------------
    @property
    def command_line(self) -> str:
        return shlex.join(ssh_command(self.target, self.settings))

    def _set_state(self, state: str, reason: str | None = None) -> None:
        self.state = state
        self.reason = reason
        self.terminal.input_enabled = state == CONNECTED
        self._render_status()
        self.refresh_bindings()
        self.post_message(self.StateChanged(self, state, reason))

    def _render_status(self) -> None:
        if not self.is_mounted:
            return
        target = self.target
        line = Text()
        line.append(f"{target.destination}", style="bold")
        if target.jump is not None:
            line.append(f" via {target.jump.spec}")
        line.append("  probe: ")
        probe = self.probe_result
        if probe is None:
            line.append("…", style="dim")
        else:
            style = "green" if probe.state is ProbeState.LISTENING else "bold red"
            line.append(probe.label, style=style)
        if self.nsg_label:
            line.append(f"  NSG: {self.nsg_label}")
        state_style = {CONNECTED: "bold green", FAILED: "bold red", DISCONNECTED: "bold yellow"}.get(self.state, "")
        line.append("  ")
        line.append(self.state, style=state_style)
        if self.state == CONNECTED:
            line.append(f"  ({Terminal.RELEASE_KEY_DISPLAY} leaves the terminal)", style="dim")
        if self.reason and self.state != CONNECTED:
            line.append("\n")
            line.append(self.reason, style="yellow" if self.state != FAILED else "red")
        if self.state in (DISCONNECTED, FAILED):
            hint = "  r reconnect · S system ssh · c copy command · p probe"
            refused = self.session.refused_host_key
            if refused is not None and refused.status is HostKeyStatus.CHANGED:
                hint += " · K replace host key"
            line.append("\n" if not self.reason else "")
            line.append(hint, style="dim")
        self.query_one("#ssh-status", Static).update(line)

    def focus_default(self) -> None:
        """Its tab came to the front: the terminal takes the keys once connected, else the pane."""
        if self.state == CONNECTED:
            self.terminal.focus()
        else:
            self.focus()

    def quit_blocker(self) -> str | None:
        """What quitting would end, for the quit confirmation (None: nothing worth asking)."""
        if self.state in (CONNECTING, CONNECTED):
            return f"the SSH session to {self.target.label} ends"
        return None

    # -- session lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Probe, then connect (again). Does nothing while connecting or connected."""
        if self._session_closed or self.state in (CONNECTING, CONNECTED):
            return
        self.run_worker(self._run(), group="ssh-session", exclusive=True, exit_on_error=False)

    async def _run(self) -> None:
        self._set_state(PROBING, self.target.note)
        probe_host, probe_port = self.target.host, self.target.port
        if self.target.jump is not None:  # the private address is only reachable through the jump host
            probe_host, probe_port = self.target.jump.host, self.target.jump.port
        self.probe_result = await probe_tcp(probe_host, probe_port, self.settings.probe_timeout)
        if self.probe_result.state is not ProbeState.LISTENING:
            where = f"{probe_host}:{probe_port}"
            self._set_state(FAILED, f"{where} {self.probe_result.label}: not connecting" + self._nsg_hint())
            return
        self._set_state(CONNECTING, self.target.note)
        try:
            await self.session.connect(
                self.terminal.columns, self.terminal.lines, self._on_output, self._on_closed
            )
        except SshFailure as failure:
            reason = str(failure)
            refused = failure.host_key
            if refused is not None and refused.status is HostKeyStatus.CHANGED:
                reason += " (press K to replace it)"
            elif failure.kind in (FailureKind.TIMEOUT, FailureKind.REFUSED):
                reason += self._nsg_hint()
            self._set_state(FAILED, reason)
            return
        except Exception as exc:  # never a traceback in the console: one line in the status
            message = str(exc).splitlines()[0] if str(exc) else ""
            self._set_state(FAILED, f"unexpected error: {type(exc).__name__}: {message}".rstrip(": "))
            return
        self._set_state(CONNECTED)
        # A connected session takes the keyboard if its tab is the one showing.
        if self.screen is self.app.screen and self.region.area > 0:
            self.terminal.focus()

    def on_terminal_focus_released(self, message: Terminal.FocusReleased) -> None:
        # The pane's own keys (r, S, c ...) work from here; the message bubbles on so that the
        # console may move the focus elsewhere instead.
        self.focus()

    def _nsg_hint(self) -> str:
        return f" (NSG: {self.nsg_label})" if self.nsg_label else ""

    def _on_output(self, data: bytes) -> None:
        self.terminal.write(data)

    def _on_closed(self, reason: str) -> None:
        if self._session_closed:
            return
        self._set_state(DISCONNECTED, reason)
        if self.app.focused is self.terminal:
            self.focus()  # so r/S/c work right away

    def _flow(self, pause: bool) -> None:
        if pause:
            self.session.pause_reading()
        else:
            self.session.resume_reading()

    async def close(self) -> None:
        """End the session and dismiss a dialog it has open (the tab is closing)."""
        if self._session_closed:
            return
        self._session_closed = True
        self.workers.cancel_group(self, "ssh-session")
        self._drop_dialog()
        await self.session.close("tab closed")

    def _drop_dialog(self) -> None:
        dialog, self._open_dialog = self._open_dialog, None
        done, self._dialog_done = self._dialog_done, None
        try:
            on_top = dialog is not None and self.app.screen is dialog
        except Exception:  # no screen any more (the app is closing)
            on_top = False
        if on_top and dialog is not None:
            dialog.dismiss(None)  # answers None through the callback
        elif done is not None:
            done(None)

    async def on_unmount(self) -> None:
        if not self._session_closed:
            self._session_closed = True
            self.workers.cancel_group(self, "ssh-session")
            self._drop_dialog()
            # The pane is going away: the session must still end (sockets, remote shell).
            task = asyncio.get_running_loop().create_task(self.session.close("tab closed"))
            _closing_sessions.add(task)
            task.add_done_callback(_closing_sessions.discard)

    # -- prompts (called by the session, from its tasks) -------------------------------------
    async def _ask(self, dialog: ModalScreen[Any]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def done(result: Any) -> None:
            if not future.done():
                future.set_result(result)

        self._open_dialog, self._dialog_done = dialog, done
        await self.app.push_screen(dialog, callback=done)
        try:
            return await future
        finally:
            if self._open_dialog is dialog:
                self._open_dialog, self._dialog_done = None, None

    async def _confirm_host_key(self, check: HostKeyCheck) -> bool:
        return bool(await self._ask(HostKeyDialog(check)))

    async def _ask_passphrase(self, key_label: str, attempt: int) -> str | None:
        title = f"Passphrase for {key_label}"
        return await self._ask(SecretDialog(title, f"The key {key_label} is encrypted.", attempt))

    async def _ask_password(self, prompt: str, attempt: int) -> str | None:
        return await self._ask(SecretDialog("Password", prompt, attempt))

    # -- actions -----------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Footer: K only after a changed host key was refused; r dimmed while connected."""
        if action == "replace_host_key":
            refused = self.session.refused_host_key
            return refused is not None and refused.status is HostKeyStatus.CHANGED
        if action == "reconnect":
            return None if self.state in (PROBING, CONNECTING, CONNECTED) else True
        return True

    def action_reconnect(self) -> None:
        if self.state in (PROBING, CONNECTING, CONNECTED):
            self.notify(f"already {self.state}", severity="information")
            return
        self.terminal.reset_screen()
        self.start()

    def action_focus_terminal(self) -> None:
        self.terminal.focus()

    def action_probe(self) -> None:
        self.run_worker(self._probe_again(), group="ssh-probe", exclusive=True, exit_on_error=False)

    async def _probe_again(self) -> None:
        host, port = self.target.host, self.target.port
        if self.target.jump is not None:
            host, port = self.target.jump.host, self.target.jump.port
        self.probe_result = None
        self._render_status()
        self.probe_result = await probe_tcp(host, port, self.settings.probe_timeout)
        self._render_status()

    def action_copy_command(self) -> None:
        command = self.command_line
        self.app.copy_to_clipboard(command)
        self.notify(command, title="Copied")

    def action_system_ssh(self) -> None:
        """Hand the terminal to the system ssh. Blocking on purpose: the app is suspended and
        the child owns the terminal until it exits."""
        from textual.app import SuspendNotSupported

        argv = ssh_command(self.target, self.settings)
        try:
            with self.app.suspend():
                try:
                    result = subprocess.run(argv, check=False)
                except OSError as exc:
                    self.notify(f"cannot run ssh: {exc.strerror or exc}", severity="error")
                    return
        except SuspendNotSupported:
            self.notify("this terminal cannot be handed over; press c to copy the command", severity="warning")
            return
        if result.returncode not in (0, 130):
            self.notify(f"ssh exited with status {result.returncode}", severity="warning")
        self.refresh()

    def action_replace_host_key(self) -> None:
        check = self.session.refused_host_key
        if check is None:
            self.notify("no changed host key to replace", severity="information")
            return
        if check.status is not HostKeyStatus.CHANGED:
            self.notify(f"the host key of {check.host_pattern} is {check.status}: not replaced here", severity="error")
            return
        self.run_worker(self._replace_host_key(check), group="ssh-session", exclusive=True, exit_on_error=False)

    async def _replace_host_key(self, check: HostKeyCheck) -> None:
        if not await self._ask(ReplaceHostKeyDialog(check)):
            return
        try:
            message = await self.session.replace_host_key()
        except (SshFailure, OSError) as exc:
            self._set_state(FAILED, f"could not replace the host key: {exc}")
            return
        self.notify(message)
        self.state = FAILED  # so start() runs
        self.terminal.reset_screen()
        self.call_later(self.start)
