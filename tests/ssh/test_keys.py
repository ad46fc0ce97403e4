"""Where client keys come from: the flag, ~/.ssh/config IdentityFile, ~/.ssh/id_*, the agent."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import asyncssh
import pytest

from vmss_tui.ssh.keys import (
    KeyNeedsPassphrase,
    discover_key_sources,
    identity_files_from_config,
    read_key,
)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    (tmp_path / ".ssh").mkdir()
    return tmp_path


def write_key(path: Path, passphrase: str | None = None, fmt: str = "openssh") -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path), format_name=fmt, passphrase=passphrase)
    path.chmod(0o600)
    return key


def test_default_keys_in_openssh_order(home: Path) -> None:
    for name in ("id_rsa", "id_ed25519"):
        write_key(home / ".ssh" / name)
    sources = discover_key_sources(host="20.1.2.3", port=50001, username="azureuser")
    assert sources.key_files == (home / ".ssh" / "id_ed25519", home / ".ssh" / "id_rsa")
    assert sources.agent_path is None
    assert sources.describe() == "~/.ssh/id_ed25519, ~/.ssh/id_rsa"


def test_flag_key_first_then_config_then_defaults(home: Path) -> None:
    write_key(home / ".ssh" / "id_ed25519")
    write_key(home / "work.key")
    write_key(home / ".ssh" / "azure_20.1.2.3")
    (home / ".ssh" / "config").write_text(
        "IdentityFile ~/.ssh/missing_global\n"
        "Host other\n  IdentityFile ~/.ssh/other\n"
        "Host 20.1.2.* !20.1.2.9\n  IdentityFile=%d/.ssh/azure_%h\n"
        "Match user bob\n  IdentityFile ~/.ssh/bob\n"
    )
    sources = discover_key_sources(host="20.1.2.3", port=50001, username="azureuser",
                                   identity_file=str(home / "work.key"))
    assert sources.key_files == (home / "work.key", home / ".ssh" / "azure_20.1.2.3", home / ".ssh" / "id_ed25519")
    # A negated pattern excludes the host.
    assert identity_files_from_config(home / ".ssh" / "config", "20.1.2.9", 22, "u") == [
        home / ".ssh" / "missing_global"]


def test_missing_flag_key_is_kept_so_the_failure_can_name_it(home: Path) -> None:
    sources = discover_key_sources(host="h", port=22, username="u", identity_file=str(home / "nope"))
    assert sources.key_files == (home / "nope",)
    with pytest.raises(ValueError, match="cannot read key"):
        read_key(home / "nope")


def test_agent_socket_only_when_it_exists(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSH_AUTH_SOCK", str(home / "agent.sock"))
    assert discover_key_sources(host="h", port=22, username="u").agent_path is None
    (home / "agent.sock").touch()
    assert discover_key_sources(host="h", port=22, username="u").agent_path == str(home / "agent.sock")
    assert discover_key_sources(host="h", port=22, username="u", use_agent=False).agent_path is None


HAVE_BCRYPT = importlib.util.find_spec("bcrypt") is not None


@pytest.mark.parametrize(
    "fmt",
    [
        "pkcs8-pem",
        pytest.param("openssh", marks=pytest.mark.skipif(
            not HAVE_BCRYPT, reason="encrypted OpenSSH-format keys need the bcrypt package")),
    ],
)
def test_encrypted_key_needs_its_passphrase(home: Path, fmt: str) -> None:
    key = write_key(home / "enc", passphrase="correct horse", fmt=fmt)
    with pytest.raises(KeyNeedsPassphrase):
        read_key(home / "enc")
    with pytest.raises(KeyNeedsPassphrase):
        read_key(home / "enc", "wrong")
    pair = read_key(home / "enc", "correct horse")
    assert pair.public_data == key.public_data


def test_garbage_key_is_a_one_line_error(home: Path) -> None:
    (home / "junk").write_text("not a key\n")
    with pytest.raises(ValueError) as info:
        read_key(home / "junk")
    assert "junk" in str(info.value) and "\n" not in str(info.value)
