"""Fixtures and helpers shared by the SSH tests (no tests here): a throwaway OpenSSH server, a
port that never answers, client settings for that server, an encrypted key it accepts, and a bounded wait."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncssh
import pytest

from tests.support.sshd import SshdUnavailable, ThrowawaySshd
from vmss_tui.ssh.settings import SshSettings


# Named *_fixture so that a test's `sshd` parameter does not shadow the imported name.
@pytest.fixture(name="sshd")
async def sshd_fixture(tmp_path: Path) -> AsyncIterator[ThrowawaySshd]:
    server = ThrowawaySshd(tmp_path / "sshd")
    try:
        await server.start()
    except SshdUnavailable as exc:
        pytest.skip(f"real OpenSSH server unavailable: {exc}")
    yield server
    await server.stop()


@pytest.fixture(name="full_backlog_port")
def full_backlog_port_fixture() -> Iterator[int]:
    """A port whose accept queue is full: Linux drops further SYNs, so a connect hangs."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(4):
        client = socket.socket()
        client.setblocking(False)
        try:
            client.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(client)
    yield port
    for client in fillers:
        client.close()
    server.close()


async def wait_for(predicate: Callable[[], bool], what: str = "condition", within: float = 8.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def settings_for(server: ThrowawaySshd, tmp_path: Path, **overrides: object) -> SshSettings:
    """Client settings that log in to `server` with its key only (no agent, no ~/.ssh keys) and
    keep known_hosts under `tmp_path`; `overrides` replace any of them."""
    values: dict[str, object] = {
        "identity_file": server.client_key,
        "known_hosts": tmp_path / "data" / "known_hosts",
        "use_agent": False,
        "use_default_keys": False,
        "connect_timeout": 5.0,
    }
    values.update(overrides)
    return SshSettings(**values)  # type: ignore[arg-type]


def authorize_encrypted_key(server: ThrowawaySshd, key_path: Path, passphrase: str) -> None:
    """A new ed25519 key at `key_path` (mode 600), encrypted with `passphrase`, and the only key
    `server` authorizes from now on."""
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(key_path), format_name="pkcs8-pem", passphrase=passphrase)
    key_path.chmod(0o600)
    server.authorized_keys.write_text(key.export_public_key().decode())
