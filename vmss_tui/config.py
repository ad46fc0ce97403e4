"""The user's config file: key bindings, refresh intervals, default subscription, theme, SSH.

TOML at `platformdirs.user_config_dir("vmss-tui") / "config.toml"` (so `$XDG_CONFIG_HOME` is
respected on Linux). A missing file is not an error. A malformed file or a bad value never stops
the app: loading returns the defaults for what could not be used plus one message per problem,
naming the line and what is wrong, for the console to show.

Example::

    subscription = "00000000-0000-0000-0000-000000000000"
    theme = "nord"

    [keys]                      # binding id = key(s); see `?` in the console for the ids
    "instances.restart" = "R"
    "nav.down" = "j,n"

    [refresh]                   # seconds
    instances = 5
    scale_sets = 30
    nat = 30

    [ssh]                       # read by the SSH session (issue 4)
    user = "azureuser"
    port = 22
    identity_file = "~/.ssh/id_ed25519"
    jump_host = "bastion.example.com"

This module must stay light: `vmss-tui get` may read it and must never import Textual.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

APP_NAME = "vmss-tui"
CONFIG_FILE_NAME = "config.toml"

DEFAULT_INSTANCES_REFRESH = 5.0
DEFAULT_SCALE_SETS_REFRESH = 30.0
DEFAULT_NAT_REFRESH = 30.0
MIN_REFRESH = 1.0
MAX_REFRESH = 3600.0

_TOP_LEVEL_KEYS = ("subscription", "theme", "keys", "refresh", "ssh")
_REFRESH_KEYS = ("instances", "scale_sets", "nat")
_SSH_KNOWN_KEYS = ("user", "port", "identity_file", "jump_host")

# A key as Textual names it: optional modifiers, then one printable character or a key name
# (`f5`, `escape`, `question_mark`, `pageup` ...).
_KEY_RE = re.compile(r"^(?:(?:ctrl|shift|alt|meta|super|hyper)\+)*(?:[^\s,+]|[a-z][a-z0-9_]*|\+)$")


@dataclass(frozen=True, slots=True)
class RefreshSettings:
    """Refresh intervals in seconds."""

    instances: float = DEFAULT_INSTANCES_REFRESH  # the selected scale set's instances
    scale_sets: float = DEFAULT_SCALE_SETS_REFRESH  # the scale set list and its counts
    nat: float = DEFAULT_NAT_REFRESH  # NAT mappings and NSG verdicts of the selected scale set


@dataclass(frozen=True, slots=True)
class SshSettings:
    """The `[ssh]` table, passed through to the SSH session; `extra` keeps keys not named here."""

    user: str | None = None
    port: int = 22
    identity_file: str | None = None
    jump_host: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    keys: Mapping[str, str] = field(default_factory=dict)  # binding id -> key(s), comma-separated
    refresh: RefreshSettings = RefreshSettings()
    subscription: str | None = None
    theme: str | None = None
    ssh: SshSettings = SshSettings()
    path: Path | None = None  # where it was read from (None: defaults only)
    problems: tuple[str, ...] = ()  # one line each, for the console to show


def config_dir() -> Path:
    """The directory of config.toml (honours $XDG_CONFIG_HOME through platformdirs)."""
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME, appauthor=False))


def default_config_path() -> Path:
    return config_dir() / CONFIG_FILE_NAME


_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_TOML_END = re.compile(r"\s*\(at end of document\)\s*$")


def _describe_toml_error(path: Path, error: tomllib.TOMLDecodeError) -> str:
    """`config.toml line 3: Expected '=' after a key ...` from tomllib's message."""
    message = str(error)
    lineno = getattr(error, "lineno", None)  # Python 3.14 adds it; 3.11 only puts it in the text
    match = _TOML_POSITION.search(message)
    if match:
        lineno = lineno or int(match.group(1))
        message = message[: match.start()]
    elif _TOML_END.search(message):
        message = _TOML_END.sub("", message) + " at the end of the file"
    where = f"{path} line {lineno}" if lineno else str(path)
    return f"{where}: {message}; using the default settings"


class _Locator:
    """Best-effort line numbers for values tomllib accepted but we reject."""

    def __init__(self, text: str) -> None:
        self._lines = text.splitlines()

    def line_of(self, table: str | None, key: str) -> int | None:
        current: str | None = None
        bare = key.strip('"')
        key_re = re.compile(r'^\s*(?:"' + re.escape(bare) + r'"|' + re.escape(bare) + r")\s*=")
        for number, line in enumerate(self._lines, 1):
            header = re.match(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$", line)
            if header:
                current = header.group(1).strip()
                continue
            if current == table and key_re.match(line):
                return number
            if table is None and current is None and key_re.match(line):
                return number
        return None

    def where(self, path: Path, table: str | None, key: str) -> str:
        line = self.line_of(table, key)
        return f"{path} line {line}" if line else str(path)


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if MIN_REFRESH <= seconds <= MAX_REFRESH else None


def parse_config(text: str, path: Path) -> Config:
    """Parse the text of a config file; never raises for bad content."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return Config(path=path, problems=(_describe_toml_error(path, error),))

    locate = _Locator(text)
    problems: list[str] = []

    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            problems.append(
                f"{locate.where(path, None, key)}: unknown setting {key!r} ignored "
                f"(known: {', '.join(_TOP_LEVEL_KEYS)})"
            )

    subscription = data.get("subscription")
    if subscription is not None and not (isinstance(subscription, str) and subscription.strip()):
        problems.append(f"{locate.where(path, None, 'subscription')}: subscription must be a non-empty string")
        subscription = None

    theme = data.get("theme")
    if theme is not None and not (isinstance(theme, str) and theme.strip()):
        problems.append(f"{locate.where(path, None, 'theme')}: theme must be a theme name (a string)")
        theme = None

    keys: dict[str, str] = {}
    raw_keys = data.get("keys", {})
    if not isinstance(raw_keys, dict):
        problems.append(f"{locate.where(path, None, 'keys')}: [keys] must be a table of binding-id = \"key\"")
        raw_keys = {}
    for binding_id, value in raw_keys.items():
        where = locate.where(path, "keys", binding_id)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ",".join(value)
        if not isinstance(value, str) or not value.strip():
            problems.append(f'{where}: key for {binding_id!r} must be a string such as "ctrl+r" or "j,down"')
            continue
        bad = [k for k in (part.strip() for part in value.split(",")) if not _KEY_RE.match(k)]
        if bad:
            problems.append(f"{where}: {', '.join(repr(b) for b in bad)} is not a key name (for {binding_id!r})")
            continue
        keys[binding_id] = ",".join(part.strip() for part in value.split(","))

    refresh = RefreshSettings()
    raw_refresh = data.get("refresh", {})
    if not isinstance(raw_refresh, dict):
        problems.append(f"{locate.where(path, None, 'refresh')}: [refresh] must be a table")
        raw_refresh = {}
    for name, value in raw_refresh.items():
        where = locate.where(path, "refresh", name)
        if name not in _REFRESH_KEYS:
            problems.append(f"{where}: unknown refresh setting {name!r} (known: {', '.join(_REFRESH_KEYS)})")
            continue
        seconds = _seconds(value)
        if seconds is None:
            default = getattr(refresh, name)
            problems.append(
                f"{where}: refresh.{name} must be a number of seconds from {MIN_REFRESH:g} to "
                f"{MAX_REFRESH:g}, not {value!r}; using {default:g}"
            )
            continue
        refresh = replace(refresh, **{name: seconds})

    ssh = SshSettings()
    raw_ssh = data.get("ssh", {})
    if not isinstance(raw_ssh, dict):
        problems.append(f"{locate.where(path, None, 'ssh')}: [ssh] must be a table")
        raw_ssh = {}
    ssh_values: dict[str, Any] = {}
    for name in ("user", "identity_file", "jump_host"):
        value = raw_ssh.get(name)
        if value is None:
            continue
        if isinstance(value, str) and value.strip():
            ssh_values[name] = value
        else:
            problems.append(f"{locate.where(path, 'ssh', name)}: ssh.{name} must be a non-empty string")
    if "port" in raw_ssh:
        port = raw_ssh["port"]
        if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
            ssh_values["port"] = port
        else:
            problems.append(f"{locate.where(path, 'ssh', 'port')}: ssh.port must be 1-65535, not {port!r}; using 22")
    extra = {k: v for k, v in raw_ssh.items() if k not in _SSH_KNOWN_KEYS}
    ssh = replace(ssh, extra=extra, **ssh_values)

    return Config(
        keys=keys,
        refresh=refresh,
        subscription=subscription.strip() if isinstance(subscription, str) else None,
        theme=theme.strip() if isinstance(theme, str) else None,
        ssh=ssh,
        path=path,
        problems=tuple(problems),
    )


def load_config(path: Path | None = None) -> Config:
    """Read the config file (default location unless `path`); a missing file gives the defaults."""
    if path is None:
        env_path = os.environ.get("VMSS_TUI_CONFIG")
        path = Path(env_path).expanduser() if env_path else default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as error:
        return Config(path=path, problems=(f"{path}: cannot be read ({error.strerror}); using the default settings",))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        return Config(path=path, problems=(f"{path} line {line}: not valid UTF-8; using the default settings",))
    return parse_config(text, path)


def unknown_binding_problems(config: Config, known_ids: Iterable[str]) -> tuple[Config, tuple[str, ...]]:
    """Drop [keys] entries whose binding id does not exist; one message per such entry."""
    known = set(known_ids)
    problems: list[str] = []
    keys: dict[str, str] = {}
    text = config.path.read_text("utf-8", errors="replace") if config.path and config.path.exists() else ""
    locate = _Locator(text)
    for binding_id, key in config.keys.items():
        if binding_id in known:
            keys[binding_id] = key
            continue
        near = _closest(binding_id, known)
        hint = f" (did you mean {near!r}?)" if near else ""
        where = locate.where(config.path, "keys", binding_id) if config.path else "config"
        problems.append(f"{where}: unknown binding id {binding_id!r}{hint}; press ? in the console to see the ids")
    return replace(config, keys=keys), tuple(problems)


def _closest(name: str, candidates: Iterable[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(name, sorted(candidates), n=1, cutoff=0.6)
    return matches[0] if matches else None
