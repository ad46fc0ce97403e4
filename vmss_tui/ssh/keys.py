"""Where client keys come from: ssh-agent, a key from the settings or a flag, `IdentityFile`
entries of ~/.ssh/config that apply to the host, and the default ~/.ssh/id_* files.

Only paths are discovered here; keys are read when authentication gets to them, so an encrypted
key asks for its passphrase only if it is actually tried. A passphrase is never logged or stored:
the decrypted key lives in the session object for reconnects and goes away with it.
"""

from __future__ import annotations

import getpass
import importlib.util
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import asyncssh

from vmss_tui.ssh.known_hosts import wildcard_match

DEFAULT_KEY_NAMES = ("id_ed25519", "id_ecdsa", "id_rsa")
# `Keyword value` or `Keyword=value`
_CONFIG_LINE = re.compile(r"^(\w+)\s*(?:=\s*|\s+)(.*)$")


@dataclass(frozen=True, slots=True)
class KeySources:
    agent_path: str | None  # the ssh-agent socket, when one is usable
    key_files: tuple[Path, ...]  # in the order they are tried

    def describe(self) -> str:
        parts = []
        if self.agent_path:
            parts.append("ssh-agent")
        parts.extend(_short(p) for p in self.key_files)
        return ", ".join(parts) if parts else "no keys"


def _short(path: Path) -> str:
    home = Path.home()
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def identity_files_from_config(config_path: Path, host: str, port: int, remote_user: str) -> list[Path]:
    """`IdentityFile` values of the `Host` blocks of an OpenSSH client config that match `host`.

    Understands `Host` patterns (wildcards, `!` negation), `%d %u %h %r %p %%` tokens and `~`.
    `Match` blocks are skipped (their conditions need more than a host name to evaluate).
    """
    try:
        text = config_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    files: list[Path] = []
    applies = True  # lines before the first Host/Match apply to every host
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _CONFIG_LINE.match(line)
        if not match:
            continue
        keyword, rest = match[1].lower(), match[2].strip()
        if keyword == "host":
            applies = _host_matches(rest, host)
        elif keyword == "match":
            applies = False
        elif keyword == "identityfile" and applies:
            try:
                value = shlex.split(rest)[0]
            except (ValueError, IndexError):
                continue
            files.append(Path(_expand_tokens(value, host, port, remote_user)).expanduser())
    return files


def _host_matches(patterns: str, host: str) -> bool:
    matched = False
    for pattern in patterns.split():
        negated = pattern.startswith("!")
        if wildcard_match(pattern.lstrip("!"), host):
            if negated:
                return False
            matched = True
    return matched


def _expand_tokens(value: str, host: str, port: int, remote_user: str) -> str:
    try:
        local_user = getpass.getuser()
    except Exception:  # no login name in this environment
        local_user = ""
    tokens = {"%d": str(Path.home()), "%u": local_user, "%h": host, "%r": remote_user, "%p": str(port)}
    out = []
    i = 0
    while i < len(value):
        pair = value[i : i + 2]
        if pair == "%%":
            out.append("%")
            i += 2
        elif pair in tokens:
            out.append(tokens[pair])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def discover_key_sources(
    *,
    host: str,
    port: int,
    username: str,
    identity_file: str | None = None,
    use_agent: bool = True,
    use_default_keys: bool = True,
    ssh_config: Path | None = None,
) -> KeySources:
    """The agent socket and key files to try, in order, without reading any key (blocking file
    checks: call through asyncio.to_thread)."""
    agent = os.environ.get("SSH_AUTH_SOCK") if use_agent else None
    if agent and not Path(agent).exists():
        agent = None
    candidates: list[Path] = []
    if identity_file:
        candidates.append(Path(identity_file).expanduser())
    if use_default_keys:
        config = ssh_config or Path.home() / ".ssh" / "config"
        candidates.extend(identity_files_from_config(config, host, port, username))
        candidates.extend(Path.home() / ".ssh" / name for name in DEFAULT_KEY_NAMES)
    seen: set[Path] = set()
    files: list[Path] = []
    for path in candidates:
        if path in seen:
            continue
        seen.add(path)
        # The flag's key is kept even if missing, so the failure can name it.
        if path.is_file() or (identity_file and path == Path(identity_file).expanduser()):
            files.append(path)
    return KeySources(agent_path=agent or None, key_files=tuple(files))


class KeyNeedsPassphrase(Exception):
    pass


def read_key(path: Path, passphrase: str | None = None) -> asyncssh.SSHKeyPair:
    """Load one private key (and its `-cert.pub` if present). Blocking: use asyncio.to_thread.

    Raises KeyNeedsPassphrase for an encrypted key without (or with a wrong) passphrase, and
    ValueError with a one-line message for anything else."""
    try:
        pairs = asyncssh.load_keypairs([str(path)], passphrase=passphrase)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as exc:
        text = str(exc).lower()
        if "bcrypt" in text or ("passphrase must be specified" in text and _openssh_format_without_bcrypt(path)):
            # Do not ask for a passphrase that cannot be used.
            raise ValueError(
                f"key {_short(path)} is encrypted in OpenSSH format, which needs the bcrypt package"
            ) from None
        if "passphrase" in text or "decrypt" in text or "incorrect" in text:
            raise KeyNeedsPassphrase(str(path)) from None
        raise ValueError(f"cannot use key {_short(path)}: {exc}") from None
    except OSError as exc:
        raise ValueError(f"cannot read key {_short(path)}: {exc.strerror or exc}") from None
    if not pairs:
        raise ValueError(f"no key in {_short(path)}")
    return pairs[0]


def _openssh_format_without_bcrypt(path: Path) -> bool:
    if importlib.util.find_spec("bcrypt") is not None:
        return False
    try:
        with path.open("rb") as handle:
            return handle.read(64).startswith(b"-----BEGIN OPENSSH PRIVATE KEY-----")
    except OSError:
        return False
