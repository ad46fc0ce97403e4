"""SshSessionPane in a small Textual app (pilot), connected to a real OpenSSH server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import asyncssh
from textual.app import App, ComposeResult
from textual.widgets import Input, Static

from tests.support.ssh import authorize_encrypted_key, settings_for, sshd_fixture  # noqa: F401 (a fixture)
from tests.support.sshd import ThrowawaySshd, free_port
from vmss_tui.domain.ssh_target import SshTarget
from vmss_tui.ssh.known_hosts import KnownHosts
from vmss_tui.ssh.settings import SshSettings
from vmss_tui.ui.ssh_dialogs import HostKeyDialog, ReplaceHostKeyDialog, SecretDialog
from vmss_tui.ui.ssh_pane import CONNECTED, DISCONNECTED, FAILED, SshSessionPane
from vmss_tui.ui.terminal import Terminal


class PaneApp(App[None]):
    def __init__(self, target: SshTarget, settings: SshSettings, nsg_label: str | None = None) -> None:
        super().__init__()
        self.target = target
        self.settings = settings
        self.nsg_label = nsg_label
        self.states: list[str] = []

    def compose(self) -> ComposeResult:
        yield Input(id="other")
        yield SshSessionPane(self.target, self.settings, self.nsg_label, id="pane")

    def on_ssh_session_pane_state_changed(self, message: SshSessionPane.StateChanged) -> None:
        self.states.append(message.state)


def make_app(server: ThrowawaySshd, tmp_path: Path, port: int | None = None, **settings: object) -> PaneApp:
    target = SshTarget(host="127.0.0.1", port=port or server.port, username=server.user,
                       label="web/0", scale_set="web", instance_id="0")
    return PaneApp(target, settings_for(server, tmp_path, **{"probe_timeout": 2.0, **settings}),
                   nsg_label="allowed from any (OPEN)")


async def wait_until(pilot, predicate: Callable[[], bool], what: str, within: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.02)):
        if predicate():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def screen_lines(pane: SshSessionPane) -> list[str]:
    terminal = pane.terminal
    return ["".join(s.text for s in terminal.render_line(y)).rstrip() for y in range(terminal.lines)]


def status(pane: SshSessionPane) -> str:
    return str(pane.query_one("#ssh-status", Static).render())


async def connect_trusting(pilot, app: PaneApp) -> SshSessionPane:  # type: ignore[no-untyped-def]
    pane = app.query_one(SshSessionPane)
    await wait_until(pilot, lambda: isinstance(app.screen, HostKeyDialog), "the host key dialog")
    await pilot.press("y")
    await wait_until(pilot, lambda: pane.state == CONNECTED, "connected")
    await wait_until(pilot, lambda: any(line.endswith("#") for line in screen_lines(pane)), "a shell prompt")
    return pane


async def test_typing_echo_hi_shows_hi(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    app = make_app(sshd, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await connect_trusting(pilot, app)
        assert app.focused is pane.terminal
        text = status(pane)
        assert f"{sshd.user}@127.0.0.1:{sshd.port}" in text
        assert "probe: listening (SSH-2.0-OpenSSH" in text and "NSG: allowed from any (OPEN)" in text
        assert "connected" in text
        await pilot.press(*"echo hi", "enter")
        await wait_until(pilot, lambda: "hi" in screen_lines(pane), "hi on the screen")
        assert any(line.endswith("echo hi") for line in screen_lines(pane))
        assert app.states[:3] == ["probing", "connecting", "connected"]
        await pane.close()
        assert pane.session.state == "closed"


async def test_device_status_report_goes_back_through_the_channel(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    app = make_app(sshd, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await connect_trusting(pilot, app)
        pane.terminal.send_bytes(b"stty -echo; clear; printf '\\033[5;9H\\033[6n'; read -r -d R pos; stty echo; echo \"got=${pos#*[}\"\r")
        # The answer is printed where the cursor was put (row 5, column 9).
        await wait_until(pilot, lambda: "got=" in screen_lines(pane)[4], "the answer")
        assert screen_lines(pane)[4] == " " * 8 + "got=5;9"


async def test_resize_reaches_the_remote_pty(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    app = make_app(sshd, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await connect_trusting(pilot, app)
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.3)
        pane.terminal.send_bytes(b"stty size\r")
        expected = f"{pane.terminal.lines} {pane.terminal.columns}"
        assert pane.terminal.columns == 120
        await wait_until(pilot, lambda: expected in screen_lines(pane), f"stty size {expected}")


async def test_resize_while_the_host_key_dialog_is_open(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    # The window changes size while connecting: the PTY must get the size at open time.
    app = make_app(sshd, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(SshSessionPane)
        await wait_until(pilot, lambda: isinstance(app.screen, HostKeyDialog), "the host key dialog")
        await pilot.resize_terminal(130, 42)
        # The new size reaches the session (debounced) while the dialog is still open ...
        await wait_until(pilot, lambda: pane.session.terminal_size == (130, pane.terminal.lines),
                         "the session to know the new size")
        await pilot.press("y")
        await wait_until(pilot, lambda: pane.state == CONNECTED, "connected")
        # ... and the remote PTY must have that size, not the one the connection started with.
        pane.terminal.send_bytes(b"stty size\r")
        expected = f"{pane.terminal.lines} 130"
        await wait_until(pilot, lambda: expected in screen_lines(pane), f"stty size {expected}")


async def test_disconnect_says_why_and_r_reconnects(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    app = make_app(sshd, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await connect_trusting(pilot, app)
        await pilot.press(*"exit 7", "enter")
        await wait_until(pilot, lambda: pane.state == DISCONNECTED, "disconnected")
        assert "session ended (exit status 7)" in status(pane)
        assert "r reconnect" in status(pane)
        assert app.focused is pane  # keys now go to the pane's bindings
        await pilot.press("r")
        await wait_until(pilot, lambda: pane.state == CONNECTED, "reconnected")
        assert app.focused is pane.terminal
        await wait_until(pilot, lambda: any(line.endswith("#") for line in screen_lines(pane)), "a prompt")
        await pilot.press(*"echo again", "enter")
        await wait_until(pilot, lambda: "again" in screen_lines(pane), "echo after reconnect")


async def test_changed_host_key_is_refused_and_K_replaces_it(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    known = KnownHosts(tmp_path / "data" / "known_hosts")
    known.add("127.0.0.1", sshd.port, asyncssh.generate_private_key("ssh-ed25519").convert_to_public())
    app = make_app(sshd, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(SshSessionPane)
        await wait_until(pilot, lambda: pane.state == FAILED, "refusal")
        text = status(pane)
        assert "HOST KEY CHANGED" in text and "press K" in text
        assert not isinstance(app.screen, HostKeyDialog)
        pane.focus()
        await pilot.press("K")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplaceHostKeyDialog), "replace dialog")
        await pilot.press("enter")  # the focused button is Cancel
        await pilot.pause(0.1)
        assert pane.state == FAILED and not isinstance(app.screen, ReplaceHostKeyDialog)
        await pilot.press("K")
        await wait_until(pilot, lambda: isinstance(app.screen, ReplaceHostKeyDialog), "replace dialog")
        await pilot.press("y")
        await wait_until(pilot, lambda: pane.state == CONNECTED, "connected after replacing")
        fingerprint = sshd.host_public_key().get_fingerprint("sha256")
        assert known.check("127.0.0.1", sshd.port, sshd.host_public_key()).fingerprint == fingerprint
        assert known.keys_for("127.0.0.1", sshd.port)[0].public_data == sshd.host_public_key().public_data


async def test_host_key_dialog_defaults_to_cancel(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    app = make_app(sshd, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(SshSessionPane)
        await wait_until(pilot, lambda: isinstance(app.screen, HostKeyDialog), "the host key dialog")
        dialog = app.screen
        assert isinstance(dialog, HostKeyDialog)
        assert sshd.host_public_key().get_fingerprint("sha256") in str(dialog.query_one(".fingerprint", Static).render())
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.state == FAILED, "failure")
        assert "not trusted" in status(pane)
        assert not (tmp_path / "data" / "known_hosts").exists()


async def test_closed_port_is_reported_by_the_probe(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    port = free_port()
    app = make_app(sshd, tmp_path, port=port)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(SshSessionPane)
        await wait_until(pilot, lambda: pane.state == FAILED, "failure")
        text = status(pane)
        assert f"127.0.0.1:{port} refused: not connecting (NSG: allowed from any (OPEN))" in text
        assert "probe: refused" in text
        assert "connecting" not in app.states


async def test_release_focus_then_copy_the_command(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    app = make_app(sshd, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await connect_trusting(pilot, app)
        await pilot.press("c")  # typed into the remote while the terminal has focus
        await pilot.press("ctrl+right_square_bracket")
        assert app.focused is pane
        await pilot.press("c")
        assert app.clipboard == (
            f"ssh -p {sshd.port} -o UserKnownHostsFile={tmp_path / 'data' / 'known_hosts'} "
            f"-i {sshd.client_key} {sshd.user}@127.0.0.1"
        )
        await pilot.press("i")
        assert app.focused is pane.terminal


async def test_passphrase_is_asked_in_a_masked_dialog(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    secret = "s3cret-pass"
    key_path = tmp_path / "encrypted"
    authorize_encrypted_key(sshd, key_path, secret)
    KnownHosts(tmp_path / "data" / "known_hosts").add("127.0.0.1", sshd.port, sshd.host_public_key())
    app = make_app(sshd, tmp_path, identity_file=str(key_path))
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(SshSessionPane)
        await wait_until(pilot, lambda: isinstance(app.screen, SecretDialog), "the passphrase dialog")
        dialog = app.screen
        field = dialog.query_one(Input)
        assert field.password
        await pilot.press(*secret)
        assert secret not in "".join(str(s) for s in dialog.query(Static).results())
        await pilot.press("enter")
        await wait_until(pilot, lambda: pane.state == CONNECTED, "connected with the decrypted key")
        assert field.value == ""
        assert secret not in status(pane)


def test_the_release_key_is_documented() -> None:
    import vmss_tui.ui.ssh_pane as pane_module

    assert Terminal.RELEASE_KEY == "ctrl+right_square_bracket"
    assert "ctrl+]" in (Terminal.__doc__ or "") and "ctrl+]" in (pane_module.__doc__ or "")
