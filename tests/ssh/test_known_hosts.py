"""The app's known_hosts file: OpenSSH format both ways, verdicts, add and replace."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import asyncssh
import pytest

from vmss_tui.ssh.known_hosts import HostKeyStatus, KnownHosts, host_pattern, key_line


@pytest.fixture(scope="module")
def keys() -> tuple[asyncssh.SSHKey, asyncssh.SSHKey, asyncssh.SSHKey]:
    return (
        asyncssh.generate_private_key("ssh-ed25519").convert_to_public(),
        asyncssh.generate_private_key("ssh-ed25519").convert_to_public(),
        asyncssh.generate_private_key("ecdsa-sha2-nistp256").convert_to_public(),
    )


def test_host_pattern_spelling() -> None:
    assert host_pattern("20.1.2.3", 22) == "20.1.2.3"
    assert host_pattern("20.1.2.3", 50001) == "[20.1.2.3]:50001"


def test_unknown_then_trusted_then_changed(tmp_path: Path, keys) -> None:
    first, second, _ = keys
    known = KnownHosts(tmp_path / "data" / "known_hosts")
    check = known.check("20.1.2.3", 50001, first)
    assert check.status is HostKeyStatus.UNKNOWN
    assert check.fingerprint == first.get_fingerprint("sha256") and check.fingerprint.startswith("SHA256:")

    known.add("20.1.2.3", 50001, first)
    text = known.path.read_text()
    assert text == f"[20.1.2.3]:50001 {key_line(first)}\n"
    assert stat.S_IMODE(known.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(known.path.parent.stat().st_mode) == 0o700

    assert known.check("20.1.2.3", 50001, first).status is HostKeyStatus.TRUSTED
    # Another port of the same address is another host (another instance behind the NAT).
    assert known.check("20.1.2.3", 50002, first).status is HostKeyStatus.UNKNOWN

    changed = known.check("20.1.2.3", 50001, second)
    assert changed.status is HostKeyStatus.CHANGED
    assert changed.known_fingerprints == (first.get_fingerprint("sha256"),)
    assert "reimage" in changed.describe() and "attack" in changed.describe()
    assert "\n" not in changed.describe()


def test_replace_keeps_other_hosts(tmp_path: Path, keys) -> None:
    first, second, third = keys
    known = KnownHosts(tmp_path / "known_hosts")
    known.add("20.1.2.3", 50001, first)
    known.add("20.1.2.3", 50002, third)
    known.path.write_text(known.path.read_text() + "# a comment stays\n")
    known.replace("20.1.2.3", 50001, second)
    assert known.check("20.1.2.3", 50001, second).status is HostKeyStatus.TRUSTED
    assert known.check("20.1.2.3", 50001, first).status is HostKeyStatus.CHANGED
    assert known.check("20.1.2.3", 50002, third).status is HostKeyStatus.TRUSTED
    assert "# a comment stays" in known.path.read_text()


def test_reads_openssh_variants(tmp_path: Path, keys) -> None:
    first, second, third = keys
    path = tmp_path / "known_hosts"
    path.write_text(
        "\n".join([
            f"bastion,[10.0.0.4]:2222 {key_line(first)} comment here",
            f"[10.0.0.*]:2200,![10.0.0.9]:2200 {key_line(second)}",
            f"@revoked 10.0.0.5 {key_line(third)}",
            f"@cert-authority * {key_line(third)}",
            "garbage line",
            "",
        ])
    )
    known = KnownHosts(path)
    assert known.check("10.0.0.4", 2222, first).status is HostKeyStatus.TRUSTED
    assert known.check("bastion", 22, first).status is HostKeyStatus.TRUSTED
    assert known.check("10.0.0.7", 2200, second).status is HostKeyStatus.TRUSTED
    assert known.check("10.0.0.9", 2200, second).status is HostKeyStatus.UNKNOWN  # negated
    assert known.check("10.0.0.5", 22, third).status is HostKeyStatus.REVOKED
    assert known.check("10.0.0.4", 2222, second).status is HostKeyStatus.CHANGED


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen (openssh-client) not installed")
def test_interoperates_with_openssh_tools(tmp_path: Path, keys) -> None:
    first, second, _ = keys
    known = KnownHosts(tmp_path / "known_hosts")
    known.add("20.1.2.3", 50001, first)
    known.add("20.1.2.4", 22, second)
    # OpenSSH finds our entries ...
    found = subprocess.run(["ssh-keygen", "-F", "[20.1.2.3]:50001", "-f", str(known.path)],
                           capture_output=True, text=True, check=False)
    assert found.returncode == 0 and key_line(first).split()[1] in found.stdout
    # ... and we read the file after OpenSSH hashed it (HashKnownHosts style).
    subprocess.run(["ssh-keygen", "-H", "-f", str(known.path)], capture_output=True, check=True)
    assert "|1|" in known.path.read_text() and "20.1.2.3" not in known.path.read_text()
    assert known.check("20.1.2.3", 50001, first).status is HostKeyStatus.TRUSTED
    assert known.check("20.1.2.4", 22, second).status is HostKeyStatus.TRUSTED
    assert known.check("20.1.2.4", 22, first).status is HostKeyStatus.CHANGED
    known.replace("20.1.2.4", 22, first)
    assert known.check("20.1.2.4", 22, first).status is HostKeyStatus.TRUSTED
    assert known.check("20.1.2.3", 50001, first).status is HostKeyStatus.TRUSTED
