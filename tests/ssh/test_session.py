"""SSH sessions against a real OpenSSH server (sshd started by the test on a loopback port with its
own host key and an authorized key), plus an asyncssh server for password authentication."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncssh
import pytest

from tests.support.ssh import (  # noqa: F401 (fixtures)
    authorize_encrypted_key,
    full_backlog_port_fixture,
    settings_for,
    sshd_fixture,
    wait_for,
)
from tests.support.sshd import ThrowawaySshd, free_port
from vmss_tui.domain.ssh_target import JumpHost, SshTarget
from vmss_tui.ssh.known_hosts import HostKeyCheck, HostKeyStatus, KnownHosts
from vmss_tui.ssh.session import FailureKind, SshFailure, SshPrompts, SshSession
from vmss_tui.ssh.settings import SshSettings


class Prompts:
    """Scripted answers; records what was asked."""

    def __init__(self, trust: bool = True, passphrases: tuple[str | None, ...] = (),
                 passwords: tuple[str | None, ...] = ()) -> None:
        self.trust = trust
        self.passphrases = list(passphrases)
        self.passwords = list(passwords)
        self.host_keys: list[HostKeyCheck] = []
        self.passphrase_asks: list[tuple[str, int]] = []
        self.password_asks: list[tuple[str, int]] = []

    def prompts(self) -> SshPrompts:
        async def confirm(check: HostKeyCheck) -> bool:
            self.host_keys.append(check)
            return self.trust

        async def passphrase(label: str, attempt: int) -> str | None:
            self.passphrase_asks.append((label, attempt))
            return self.passphrases.pop(0) if self.passphrases else None

        async def password(prompt: str, attempt: int) -> str | None:
            self.password_asks.append((prompt, attempt))
            return self.passwords.pop(0) if self.passwords else None

        return SshPrompts(confirm, passphrase, password)


class Output:
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed: list[str] = []

    def text(self) -> str:
        return self.data.decode(errors="replace")


def target_for(host: str, port: int, user: str, jump: JumpHost | None = None) -> SshTarget:
    return SshTarget(host=host, port=port, username=user, label=f"test {host}:{port}", scale_set="web",
                     instance_id="0", jump=jump)


async def open_session(session: SshSession, output: Output, cols: int = 80, rows: int = 24) -> None:
    await session.connect(cols, rows, output.data.extend, output.closed.append)


async def test_shell_in_a_pty_with_size_resize_and_exit_status(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    answers = Prompts()
    session = SshSession(target_for("127.0.0.1", sshd.port, sshd.user), settings_for(sshd, tmp_path),
                         answers.prompts())
    output = Output()
    await open_session(session, output, cols=100, rows=30)
    assert session.connected
    session.write(b"stty size; echo TERM=$TERM\n")
    await wait_for(lambda: "30 100" in output.text() and "TERM=xterm-256color" in output.text(), what="stty size")
    session.resize(120, 40)
    session.write(b"stty size\n")
    await wait_for(lambda: "40 120" in output.text(), what="resized stty size")
    session.write(b"exit 3\n")
    await wait_for(lambda: bool(output.closed), what="close")
    assert output.closed == ["session ended (exit status 3)"]
    assert session.exit_status == 3 and not session.connected


async def test_unknown_host_key_is_asked_once_then_trusted(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    settings = settings_for(sshd, tmp_path)
    target = target_for("127.0.0.1", sshd.port, sshd.user)
    answers = Prompts(trust=True)
    session = SshSession(target, settings, answers.prompts())
    output = Output()
    await open_session(session, output)
    assert len(answers.host_keys) == 1
    check = answers.host_keys[0]
    assert check.status is HostKeyStatus.UNKNOWN
    assert check.fingerprint == sshd.host_public_key().get_fingerprint("sha256")
    assert check.host_pattern == f"[127.0.0.1]:{sshd.port}"
    saved = settings.known_hosts.read_text()
    assert saved.startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    await session.close()
    assert output.closed == ["closed"]

    # A new session (another tab) does not ask again.
    again = Prompts(trust=False)
    second = SshSession(target, settings, again.prompts())
    await open_session(second, Output())
    assert again.host_keys == []
    await second.close()


async def test_declined_host_key_is_not_saved(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    settings = settings_for(sshd, tmp_path)
    answers = Prompts(trust=False)
    session = SshSession(target_for("127.0.0.1", sshd.port, sshd.user), settings, answers.prompts())
    with pytest.raises(SshFailure) as info:
        await open_session(session, Output())
    assert info.value.kind is FailureKind.HOST_KEY_REJECTED
    assert "not trusted" in str(info.value)
    assert not settings.known_hosts.exists()
    assert not session.connected


async def test_changed_host_key_is_refused_until_replaced(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    settings = settings_for(sshd, tmp_path)
    target = target_for("127.0.0.1", sshd.port, sshd.user)
    answers = Prompts(trust=True)
    session = SshSession(target, settings, answers.prompts())
    await open_session(session, Output())
    await session.close()
    old_fingerprint = sshd.host_public_key().get_fingerprint("sha256")

    await sshd.restart(new_host_key=True)  # what a reimage does to the instance
    new_fingerprint = sshd.host_public_key().get_fingerprint("sha256")
    assert new_fingerprint != old_fingerprint
    saved_before = settings.known_hosts.read_text()
    with pytest.raises(SshFailure) as info:
        await open_session(session, Output())
    failure = info.value
    assert failure.kind is FailureKind.HOST_KEY_CHANGED
    message = str(failure)
    assert new_fingerprint in message and old_fingerprint in message
    assert "reimage" in message and "attack" in message and "\n" not in message
    assert len(answers.host_keys) == 1  # a changed key is refused, never asked
    assert settings.known_hosts.read_text() == saved_before
    assert session.refused_host_key is not None

    note = await session.replace_host_key()
    assert new_fingerprint in note
    output = Output()
    await open_session(session, output)
    assert session.connected
    known = KnownHosts(settings.known_hosts)
    assert known.check("127.0.0.1", sshd.port, sshd.host_public_key()).status is HostKeyStatus.TRUSTED
    await session.close()


async def test_auth_failure_is_one_line(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    stranger.chmod(0o600)
    settings = settings_for(sshd, tmp_path, identity_file=str(stranger))
    session = SshSession(target_for("127.0.0.1", sshd.port, sshd.user), settings, Prompts().prompts())
    with pytest.raises(SshFailure) as info:
        await open_session(session, Output())
    assert info.value.kind is FailureKind.AUTH
    message = str(info.value)
    assert message == (
        f"authentication failed for {sshd.user}@127.0.0.1:{sshd.port} (tried {stranger}); "
        "give the right key with -i PATH or [ssh] identity_file in the config"
    )


async def test_auth_failure_names_agent_keys_by_comment_or_fingerprint(
    sshd: ThrowawaySshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    socket_path = tmp_path / "agent.sock"
    agent = await asyncio.create_subprocess_exec(
        "ssh-agent", "-D", "-a", str(socket_path),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for(socket_path.exists, what="ssh-agent socket")
        commented = asyncssh.generate_private_key("ssh-ed25519", comment="ops@laptop")
        bare = asyncssh.generate_private_key("ssh-ed25519", comment="")
        client = await asyncssh.connect_agent(str(socket_path))
        assert client is not None
        await client.add_keys([commented, bare])
        client.close()
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        settings = settings_for(sshd, tmp_path, identity_file=None, use_agent=True)
        session = SshSession(target_for("127.0.0.1", sshd.port, sshd.user), settings, Prompts().prompts())
        with pytest.raises(SshFailure) as info:
            await open_session(session, Output())
        assert info.value.kind is FailureKind.AUTH
        fingerprint = bare.get_fingerprint("sha256")
        assert f"(tried ssh-agent keys ops@laptop, {fingerprint});" in str(info.value)
    finally:
        agent.terminate()
        await agent.wait()


async def test_jump_host_password_prompt_names_the_jump_host(tmp_path: Path) -> None:
    class PasswordOnly(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return False

    server = await asyncssh.create_server(
        PasswordOnly, "127.0.0.1", 0, server_host_keys=[asyncssh.generate_private_key("ssh-ed25519")]
    )
    port = server.sockets[0].getsockname()[1]
    try:
        answers = Prompts(passwords=(None,))
        settings = SshSettings(known_hosts=tmp_path / "kh", use_agent=False, use_default_keys=False)
        jump = JumpHost("127.0.0.1", port, "bastion")
        session = SshSession(target_for("10.2.1.4", 22, "azureuser", jump=jump), settings, answers.prompts())
        with pytest.raises(SshFailure) as info:
            await open_session(session, Output())
        assert answers.password_asks == [(f"Password for jump host bastion@127.0.0.1:{port}", 1)]
        assert info.value.kind is FailureKind.AUTH and f"bastion@jump host 127.0.0.1:{port}" not in str(info.value)
    finally:
        server.close()
        await server.wait_closed()


async def test_run_a_command_without_a_pty(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    session = SshSession(target_for("127.0.0.1", sshd.port, sshd.user), settings_for(sshd, tmp_path),
                         Prompts().prompts())
    result = await session.run("tty; echo to-stderr >&2; exit 7")
    assert result.exit_status == 7
    assert result.stdout.strip() == "not a tty"
    assert result.stderr == "to-stderr\n"
    assert not session.connected
    again = await session.run("echo $((6 * 7))")
    assert (again.exit_status, again.stdout) == (0, "42\n")


async def test_refused_port(tmp_path: Path) -> None:
    port = free_port()
    session = SshSession(target_for("127.0.0.1", port, "azureuser"), SshSettings(known_hosts=tmp_path / "kh"),
                         Prompts().prompts())
    with pytest.raises(SshFailure) as info:
        await open_session(session, Output())
    assert info.value.kind is FailureKind.REFUSED
    assert str(info.value) == f"127.0.0.1:{port} refused the connection: nothing listens on that port"


async def test_connect_timeout(full_backlog_port: int, tmp_path: Path) -> None:
    settings = SshSettings(known_hosts=tmp_path / "kh", connect_timeout=0.4)
    session = SshSession(target_for("127.0.0.1", full_backlog_port, "azureuser"), settings, Prompts().prompts())
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(SshFailure) as info:
        await open_session(session, Output())
    assert info.value.kind is FailureKind.TIMEOUT
    assert loop.time() - started < 3.0
    assert "within 0.4 s" in str(info.value)


async def test_server_drop_then_reconnect(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    session = SshSession(target_for("127.0.0.1", sshd.port, sshd.user), settings_for(sshd, tmp_path),
                         Prompts().prompts())
    output = Output()
    await open_session(session, output)
    # Kill the server's per-connection process: the TCP connection drops under the session.
    session.write(b"kill -9 $PPID\n")
    await wait_for(lambda: bool(output.closed), what="connection drop")
    reason = output.closed[0]
    assert "\n" not in reason and f"127.0.0.1:{sshd.port}" in reason
    assert not session.connected

    again = Output()
    await open_session(session, again)
    session.write(b"echo back-again\n")
    await wait_for(lambda: "back-again\r\n" in again.text(), what="echo after reconnect")
    await session.close()


async def test_encrypted_key_asks_for_its_passphrase_and_never_logs_it(
    sshd: ThrowawaySshd, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "tr0ub4dor&3-passphrase"
    key_path = tmp_path / "encrypted_key"
    authorize_encrypted_key(sshd, key_path, secret)
    answers = Prompts(passphrases=("wrong one", secret))
    session = SshSession(target_for("127.0.0.1", sshd.port, sshd.user),
                         settings_for(sshd, tmp_path, identity_file=str(key_path)), answers.prompts())
    caplog.set_level(logging.DEBUG)
    await open_session(session, Output())
    assert [attempt for _label, attempt in answers.passphrase_asks] == [1, 2]
    assert answers.passphrase_asks[0][0] == str(key_path)
    await session.close()
    # Reconnecting in the same tab does not ask again (the key stays decrypted in memory).
    await open_session(session, Output())
    assert len(answers.passphrase_asks) == 2
    await session.close()
    assert secret not in caplog.text and "wrong one" not in caplog.text


async def test_password_authentication(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secret = "hunter2-but-longer"

    class PasswordServer(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username == "ops" and password == secret

    async def shell(process: asyncssh.SSHServerProcess) -> None:
        process.stdout.write("welcome ops\r\n")
        process.exit(0)

    host_key = asyncssh.generate_private_key("ssh-ed25519")
    server = await asyncssh.create_server(
        PasswordServer, "127.0.0.1", 0, server_host_keys=[host_key], process_factory=shell
    )
    port = server.sockets[0].getsockname()[1]
    try:
        answers = Prompts(passwords=("guess", secret))
        settings = SshSettings(known_hosts=tmp_path / "kh", use_agent=False, use_default_keys=False)
        session = SshSession(target_for("127.0.0.1", port, "ops"), settings, answers.prompts())
        caplog.set_level(logging.DEBUG)
        output = Output()
        await open_session(session, output)
        await wait_for(lambda: bool(output.closed), what="server shell to exit")
        assert "welcome ops" in output.text()
        assert [attempt for _p, attempt in answers.password_asks] == [1, 2]
        assert answers.password_asks[0][0] == f"Password for ops@127.0.0.1:{port}"
        assert secret not in caplog.text and "guess" not in caplog.text

        refused = Prompts(passwords=(None,))
        session = SshSession(target_for("127.0.0.1", port, "ops"), settings, refused.prompts())
        with pytest.raises(SshFailure) as info:
            await open_session(session, Output())
        assert info.value.kind is FailureKind.AUTH and "tried password" in str(info.value)
    finally:
        server.close()
        await server.wait_closed()


async def test_through_a_jump_host(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    # The sshd is both the jump host (127.0.0.1) and, reached through it, the target (localhost).
    jump = JumpHost("127.0.0.1", sshd.port, sshd.user)
    target = target_for("localhost", sshd.port, sshd.user, jump=jump)
    answers = Prompts(trust=True)
    session = SshSession(target, settings_for(sshd, tmp_path), answers.prompts())
    output = Output()
    await open_session(session, output)
    assert [c.host_pattern for c in answers.host_keys] == [f"[127.0.0.1]:{sshd.port}", f"[localhost]:{sshd.port}"]
    session.write(b"echo via-jump\n")
    await wait_for(lambda: "via-jump\r\n" in output.text(), what="echo through the jump host")
    await session.close()

    closed_port = free_port()
    nowhere = SshSession(target_for("localhost", closed_port, sshd.user, jump=jump), settings_for(sshd, tmp_path),
                         Prompts().prompts())
    with pytest.raises(SshFailure) as info:
        await open_session(nowhere, Output())
    assert info.value.kind is FailureKind.REFUSED
    assert f"jump host could not reach localhost:{closed_port}" in str(info.value)
