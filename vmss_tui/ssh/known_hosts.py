"""The app's own known_hosts file, in OpenSSH format, and host key verdicts.

Lines are `host keytype base64 [comment]` with the host written `[ip]:port` when the port is not
22, exactly as OpenSSH writes them, so `ssh -o UserKnownHostsFile=<this file>` shares it. Reading
also understands comma-separated patterns, `*`/`?` wildcards, `!` negation, hashed hosts
(`|1|salt|hmac`, as OpenSSH writes with HashKnownHosts) and `@revoked` markers; `@cert-authority`
lines are ignored. The file is small: methods are synchronous, call them through
`asyncio.to_thread` from async code.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncssh


class HostKeyStatus(enum.StrEnum):
    UNKNOWN = "unknown"  # no key saved for this host: ask the user
    TRUSTED = "trusted"  # the saved key matches
    CHANGED = "changed"  # a different key is saved: refuse unless the user replaces it
    REVOKED = "revoked"  # the key is marked @revoked: refuse


@dataclass(frozen=True, slots=True)
class HostKeyCheck:
    """What the server presented and what the file says about it."""

    host: str
    port: int
    key_type: str  # e.g. ssh-ed25519
    fingerprint: str  # SHA256:...
    status: HostKeyStatus
    known_fingerprints: tuple[str, ...] = ()  # of the saved keys when status is CHANGED
    public_key: str = ""  # `keytype base64`, what would be saved

    @property
    def host_pattern(self) -> str:
        return host_pattern(self.host, self.port)

    def describe(self) -> str:
        if self.status is HostKeyStatus.TRUSTED:
            return f"host key of {self.host_pattern} is trusted ({self.key_type} {self.fingerprint})"
        if self.status is HostKeyStatus.UNKNOWN:
            return f"host key of {self.host_pattern} is not known yet: {self.key_type} {self.fingerprint}"
        if self.status is HostKeyStatus.REVOKED:
            return f"host key of {self.host_pattern} is revoked: {self.key_type} {self.fingerprint}"
        saved = ", ".join(self.known_fingerprints) or "?"
        return (
            f"HOST KEY CHANGED for {self.host_pattern}: now {self.key_type} {self.fingerprint}, "
            f"saved {saved}. A reimage regenerates host keys, but this can also be an attack"
        )


def host_pattern(host: str, port: int) -> str:
    """`host` for port 22, else `[host]:port` (OpenSSH's known_hosts spelling)."""
    return host if port == 22 else f"[{host}]:{port}"


def key_fingerprint(key: asyncssh.SSHKey) -> str:
    return key.get_fingerprint("sha256")


def key_line(key: asyncssh.SSHKey) -> str:
    """`keytype base64` without a comment."""
    algorithm, data = key.export_public_key("openssh").decode("ascii").split()[:2]
    return f"{algorithm} {data}"


@dataclass(frozen=True, slots=True)
class _Entry:
    marker: str | None
    patterns: str
    key: asyncssh.SSHKey
    line_no: int

    def matches(self, host: str, port: int) -> bool:
        return _patterns_match(self.patterns, host_pattern(host, port))


def _hashed_match(pattern: str, name: str) -> bool:
    # |1|base64(salt)|base64(hmac-sha1(salt, name))
    try:
        _, magic, salt64, digest64 = pattern.split("|")
        if magic != "1":
            return False
        salt = base64.b64decode(salt64)
        digest = base64.b64decode(digest64)
    except ValueError:
        return False
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)


def wildcard_match(pattern: str, name: str) -> bool:
    """OpenSSH pattern matching: `*` and `?` are wildcards, everything else (brackets of
    `[ip]:port` included) is literal; case-insensitive."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, name, re.IGNORECASE | re.DOTALL) is not None


def _patterns_match(patterns: str, name: str) -> bool:
    if patterns.startswith("|"):
        return _hashed_match(patterns, name)
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        pattern = pattern[1:] if negated else pattern
        if wildcard_match(pattern, name):
            if negated:
                return False
            matched = True
    return matched


class KnownHosts:
    """One known_hosts file. Never raises for a malformed line: it is skipped."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path).expanduser()

    def _entries(self) -> list[_Entry]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return []
        entries: list[_Entry] = []
        for line_no, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            marker = None
            if parts[0].startswith("@"):
                marker, parts = parts[0], parts[1:]
            if len(parts) < 3 or marker == "@cert-authority":
                continue
            try:
                key = asyncssh.import_public_key(f"{parts[1]} {parts[2]}")
            except (asyncssh.KeyImportError, ValueError):
                continue
            entries.append(_Entry(marker, parts[0], key, line_no))
        return entries

    def keys_for(self, host: str, port: int) -> list[asyncssh.SSHKey]:
        """The trusted (not revoked) keys saved for host:port."""
        return [e.key for e in self._entries() if e.marker is None and e.matches(host, port)]

    def check(self, host: str, port: int, key: asyncssh.SSHKey) -> HostKeyCheck:
        entries = [e for e in self._entries() if e.matches(host, port)]
        presented = key_line(key)
        revoked = any(e.marker == "@revoked" and key_line(e.key) == presented for e in entries)
        saved = [e.key for e in entries if e.marker is None]
        if revoked:
            status = HostKeyStatus.REVOKED
        elif any(key_line(k) == presented for k in saved):
            status = HostKeyStatus.TRUSTED
        elif saved:
            status = HostKeyStatus.CHANGED
        else:
            status = HostKeyStatus.UNKNOWN
        return HostKeyCheck(
            host=host,
            port=port,
            key_type=presented.split()[0],
            fingerprint=key_fingerprint(key),
            status=status,
            known_fingerprints=tuple(key_fingerprint(k) for k in saved) if status is HostKeyStatus.CHANGED else (),
            public_key=presented,
        )

    def add(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        """Trust `key` for host:port (appends a line; creates the file 0600 and its folder 0700)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        existing = self.path.read_text(encoding="utf-8") if self.path.exists() else ""
        if existing and not existing.endswith("\n"):
            existing += "\n"
        self._write(existing + f"{host_pattern(host, port)} {key_line(key)}\n")

    def replace(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        """Forget every saved key of host:port, then trust `key` (an explicit user action)."""
        name = host_pattern(host, port)
        kept: list[str] = []
        if self.path.exists():
            for raw in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                parts = raw.split()
                if parts and not raw.lstrip().startswith("#"):
                    field = parts[1] if parts[0].startswith("@") and len(parts) > 1 else parts[0]
                    if not (parts[0] == "@revoked") and _patterns_match(field, name):
                        remaining = _without_pattern(field, name)
                        if remaining is None:
                            continue
                        raw = raw.replace(field, remaining, 1)
                kept.append(raw)
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        kept.append(f"{name} {key_line(key)}")
        self._write("\n".join(kept) + "\n")

    def _write(self, text: str) -> None:
        # Atomic: a crash never leaves a half-written file that would make every host "unknown".
        fd, tmp = tempfile.mkstemp(prefix=".known_hosts.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _without_pattern(field: str, name: str) -> str | None:
    """The pattern list minus the entries that match `name` exactly (None when nothing is left).

    A wildcard pattern that matches is also removed from the list only if it is the whole
    field; hashed fields are dropped whole."""
    if field.startswith("|"):
        return None
    remaining = [p for p in field.split(",") if p.lower() != name.lower()]
    if not remaining or remaining == field.split(","):
        # Only wildcards matched: drop the line, the user asked to replace this host's key.
        return None
    return ",".join(remaining)
