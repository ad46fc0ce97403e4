"""No secret in any log or file: a key passphrase, a password and the ARM bearer token, typed or
used by a real console, are nowhere in what it wrote.

The console runs as a user runs it, on a PTY, with Textual's own debug log on (`TEXTUAL_LOG`,
which records every key event and message), the app's log (`--log-file PATH -v`, which records
every ARM request and the SSH connection events), and its known_hosts in a folder of the test's.
It talks to `vmss-tui sim` in another process (with the token it printed) and logs in over SSH:
once with a passphrase-protected key, once through a jump host (a real OpenSSH server) that asks
for a password. Afterwards every file under the test's folder is searched for the secrets; the
logs are first checked to hold what they should (ARM requests, key events, the host key), so
that finding nothing means something.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.support.pty_console import (
    SESSION_UP,
    PtyProcess,
    SimProcess,
    child_env,
    first_frame,
    trust_the_host_key,
)
from tests.support.ssh import sshd_fixture  # noqa: F401 (a fixture)
from tests.support.sshd import ThrowawaySshd

PASSPHRASE = "Pass-phrase-7f3e1c"
PASSWORDS = ("Jump-password-one-51a2", "Jump-password-two-9b7d")


def files_holding(root: Path, secrets: list[str]) -> dict[str, list[str]]:
    """Every file under `root` that holds one of `secrets` (as UTF-8 or as UTF-16, which some
    loggers write), by secret."""
    found: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for secret in secrets:
            if secret.encode() in data or secret.encode("utf-16-le") in data:
                found.setdefault(secret, []).append(str(path.relative_to(root)))
    return found


def console_env(tmp_path: Path, token: str) -> dict[str, str]:
    home = tmp_path / "console-home"
    home.mkdir(exist_ok=True)
    env = child_env(tmp_path / "console", HOME=str(home), VMSS_TUI_ARM_TOKEN=token,
                    TEXTUAL_LOG=str(tmp_path / "console" / "textual.log"))
    env.pop("SSH_AUTH_SOCK", None)  # no agent: the keys and passwords of this test only
    return env


def type_text(child: PtyProcess, text: str) -> None:
    for char in text:  # one key at a time, as fingers do (each is its own key event)
        child.send(char.encode())


def test_a_typed_passphrase_and_the_token_are_in_no_log_or_file(tmp_path: Path) -> None:
    (tmp_path / "console").mkdir()
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_path = tmp_path / "keys" / "encrypted"
    key_path.parent.mkdir()
    key.write_private_key(str(key_path), passphrase=PASSPHRASE)
    key_path.chmod(0o600)
    sim_home = tmp_path / "sim-home"
    (sim_home / ".ssh").mkdir(parents=True)
    key.write_public_key(str(sim_home / ".ssh" / "encrypted.pub"))  # the simulator lets it log in
    log_file = tmp_path / "console" / "app.log"

    with SimProcess(child_env(tmp_path / "sim", HOME=str(sim_home))) as sim:
        child = PtyProcess([sys.executable, "-m", "vmss_tui", "ssh", "vmss-web", "1",
                            "--arm-endpoint", sim.endpoint, "--subscription", sim.subscription,
                            "-i", str(key_path), "--log-file", str(log_file), "-v"],
                           console_env(tmp_path, sim.token))
        try:
            trust_the_host_key(child)
            child.wait_for(lambda out: b"Passphrase for" in out, "the passphrase dialog")
            type_text(child, PASSPHRASE)
            child.send(b"\r")
            child.wait_for(lambda out: SESSION_UP in out, "the session, with the decrypted key")
            type_text(child, "echo typed-in-the-session\r")
            child.wait_for(lambda out: first_frame(out), "the fleet")
            child.process.send_signal(signal.SIGTERM)
            assert child.wait_exit() == 128 + signal.SIGTERM
        finally:
            child.close()
        token = sim.token

    app_log = log_file.read_text(encoding="utf-8")
    textual_log = (tmp_path / "console" / "textual.log").read_text(encoding="utf-8")
    known_hosts = list((tmp_path / "console").rglob("known_hosts"))
    # the logs were on and recorded what they should
    assert "ARM GET /subscriptions/" in app_log and "x-ms-request-id" in app_log
    assert "vmss_tui.ssh.session: ssh azureuser@" in app_log and ": connected" in app_log
    assert "Key(" in textual_log and "character='y'" in textual_log  # the host key answer was logged
    assert "vmss-tui: log paused while a secret is typed" in textual_log
    assert known_hosts and "ssh-ed25519" in known_hosts[0].read_text()
    # and no secret is anywhere
    assert files_holding(tmp_path, [PASSPHRASE, token]) == {}
    for secret in (PASSPHRASE, token):
        assert secret not in child.screen()
    # nor any sign of the passphrase's keys: after the dialog opened, no key event was written
    paused_at = textual_log.index("vmss-tui: log paused while a secret is typed")
    resumed_at = textual_log.index("vmss-tui: log resumed", paused_at)
    assert "Key(" not in textual_log[paused_at:resumed_at]


async def test_a_typed_jump_host_password_is_in_no_log_or_file(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    # The jump host: a real OpenSSH server that asks for a password (and refuses every one:
    # PAM is off and the account has no password it could match).
    await sshd.stop()
    sshd.extra_config += ["Match all", "    PasswordAuthentication yes", "    PermitRootLogin yes"]
    await sshd.start()
    (tmp_path / "console").mkdir()
    config_dir = tmp_path / "console" / "config" / "vmss-tui"
    config_dir.mkdir(parents=True)
    (config_dir / "config.toml").write_text(
        f'[ssh]\njump_host = "{sshd.user}@127.0.0.1:{sshd.port}"\n', encoding="utf-8")
    log_file = tmp_path / "console" / "app.log"

    def run_console() -> tuple[str, str]:
        with SimProcess(child_env(tmp_path / "sim")) as sim:
            child = PtyProcess([sys.executable, "-m", "vmss_tui", "ssh", "vmss-internal", "0",
                                "--arm-endpoint", sim.endpoint, "--subscription", sim.subscription,
                                "--log-file", str(log_file), "-v"],
                               console_env(tmp_path, sim.token))
            try:
                trust_the_host_key(child)  # the jump host's key
                for attempt, password in enumerate(PASSWORDS, 1):
                    marker = b"Password for jump host" if attempt == 1 else f"(attempt {attempt})".encode()
                    child.wait_for(lambda out, m=marker: m in out, f"password prompt {attempt}")
                    type_text(child, password)
                    child.send(b"\r")
                child.wait_for(lambda out: b"(attempt 3)" in out or b"authentication failed" in out,
                               "the third prompt or the failure")
                child.send(b"\x1b")  # Esc: no third try
                child.wait_for(lambda out: b"authentication failed" in out, "the failure")
                child.process.send_signal(signal.SIGTERM)
                child.wait_exit()
                return child.screen(), sim.token
            finally:
                child.close()

    screen, token = await asyncio.to_thread(run_console)
    assert "jump host" in screen
    app_log = log_file.read_text(encoding="utf-8")
    assert "ARM GET /subscriptions/" in app_log
    textual_log = (tmp_path / "console" / "textual.log").read_text(encoding="utf-8")
    assert textual_log.count("vmss-tui: log paused while a secret is typed") >= 2
    found = files_holding(tmp_path, [*PASSWORDS, token])
    assert found == {}, found
    for secret in (*PASSWORDS, token):
        assert secret not in screen


def test_the_secret_inputs_messages_hide_the_value() -> None:
    """What Textual logs of an input is its messages' repr: the secret input's never hold the value."""
    from vmss_tui.ui.ssh_dialogs import SecretDialog

    field = SecretDialog.SecretInput(password=True)
    for message in (field.Changed(field, PASSPHRASE), field.Submitted(field, PASSPHRASE),
                    field.Blurred(field, PASSPHRASE)):
        assert PASSPHRASE not in repr(message) and PASSPHRASE not in str(message)
        assert message.value == PASSPHRASE  # the dialog itself still gets it



def test_get_writes_its_log_to_the_file_or_with_v_alone_to_stderr(threaded_simulator: object, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`--log-file PATH -v` and `-v` alone (for `get`) are wired to the app's log; the token the
    requests carry is in neither."""
    import logging

    from vmss_tui.cli import entry
    from vmss_tui.logsetup import configure_logging

    sim: Any = threaded_simulator
    connection = ["--arm-endpoint", sim.endpoint, "--subscription", sim.subscription_id]
    log_file = tmp_path / "get.log"
    names = ("", "vmss_tui", "asyncssh", "azure")
    levels = {name: logging.getLogger(name).level for name in names}
    try:
        assert entry.main(["get", "scale-sets", "-o", "json", "--log-file", str(log_file), "-v", *connection]) == 0
        logged = log_file.read_text(encoding="utf-8")
        assert "ARM GET /subscriptions/" in logged and "x-ms-request-id" in logged
        assert oct(log_file.stat().st_mode & 0o777) == "0o600"
        capsys.readouterr()
        assert entry.main(["-v", "get", "scale-sets", "-o", "json", *connection]) == 0
        err = capsys.readouterr().err
        assert "ARM GET /subscriptions/" in err
        for text in (logged, err):
            assert sim.bearer_token not in text
    finally:  # this test process's logging as it was
        configure_logging(None, False)
        root = logging.getLogger()
        for handler in [h for h in root.handlers if getattr(h, "_vmss_tui", False)]:
            root.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
