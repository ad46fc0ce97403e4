"""The user's config file: key bindings, refresh intervals, default subscription, theme, SSH.

TOML at `platformdirs.user_config_dir("vmss-tui") / "config.toml"` (so `$XDG_CONFIG_HOME` is
respected on Linux). A missing file is not an error. A malformed file or a bad value never stops
the app: loading returns the defaults for what could not be used plus one message per problem,
naming the line and what is wrong, for the console to show.

Example::

    subscription = "00000000-0000-0000-0000-000000000000"
    theme = "nord"
    all_subscriptions = false   # true: every subscription's scale sets (Azure Resource Graph)

    [keys]                      # binding id = key(s); see `?` in the console for the ids
    "instances.restart" = "R"
    "nav.down" = "j,n"

    [refresh]                   # seconds
    instances = 5
    scale_sets = 30
    nat = 30

    [ssh]                       # read by the SSH sessions
    user = "azureuser"
    port = 22
    identity_file = "~/.ssh/id_ed25519"
    jump_host = "bastion.example.com"
    connect_timeout = 10        # seconds; also probe_timeout, keepalive_interval (0: off)
    known_hosts = "~/.local/share/vmss-tui/known_hosts"
    use_agent = true

This module must stay light: `vmss-tui get` may read it and must never import Textual.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

APP_NAME = "vmss-tui"
CONFIG_FILE_NAME = "config.toml"
CONFIG_ENV = "VMSS_TUI_CONFIG"  # a config file other than the default one

DEFAULT_INSTANCES_REFRESH = 5.0
DEFAULT_SCALE_SETS_REFRESH = 30.0
DEFAULT_NAT_REFRESH = 30.0
MIN_REFRESH = 1.0
MAX_REFRESH = 3600.0
MAX_SSH_SECONDS = 3600.0  # connect_timeout, probe_timeout, keepalive_interval

_TOP_LEVEL_KEYS = ("subscription", "theme", "all_subscriptions", "keys", "refresh", "ssh")
_REFRESH_KEYS = ("instances", "scale_sets", "nat")
_SSH_KNOWN_KEYS = ("user", "port", "identity_file", "jump_host")
# Read by vmss_tui.ssh.settings.SshSettings.from_config from `SshSettings.extra`.
_SSH_SECONDS_KEYS = ("connect_timeout", "probe_timeout", "keepalive_interval")
_SSH_EXTRA_KEYS = (*_SSH_SECONDS_KEYS, "known_hosts", "use_agent")

# Key names as Textual reports them (textual.keys; tests/cli/test_bad_input.py checks this
# table against the installed Textual): a printable character, or one of these, after
# optional modifiers. A name Textual never reports would silently disable its action.
KEY_MODIFIERS = ("ctrl", "shift", "alt", "meta", "super", "hyper")
NAMED_KEYS = frozenset({
    "escape", "enter", "tab", "space", "backspace", "delete", "insert", "home", "end",
    "pageup", "pagedown", "up", "down", "left", "right",
    *(f"f{n}" for n in range(1, 25)),
    # printable characters that have a name (a binding of "?" is stored as "question_mark")
    "ampersand", "apostrophe", "asterisk", "at", "backslash", "circumflex_accent", "colon", "comma",
    "dollar_sign", "equals_sign", "exclamation_mark", "full_stop", "grave_accent", "greater_than_sign",
    "left_curly_bracket", "left_parenthesis", "left_square_bracket", "less_than_sign", "minus",
    "number_sign", "percent_sign", "plus", "question_mark", "quotation_mark", "right_curly_bracket",
    "right_parenthesis", "right_square_bracket", "semicolon", "slash", "tilde", "underscore",
    "vertical_line",
})
# Names people type that Textual spells differently.
_KEY_SPELLINGS = {
    "esc": "escape", "return": "enter", "ret": "enter", "del": "delete", "ins": "insert",
    "pgup": "pageup", "pgdn": "pagedown", "page_up": "pageup", "page_down": "pagedown",
    "control": "ctrl", "cmd": "super", "command": "super", "option": "alt", "bs": "backspace",
    "question": "question_mark", "period": "full_stop", "dot": "full_stop", "dash": "minus",
    "hyphen": "minus", "equal": "equals_sign", "equals": "equals_sign", "pipe": "vertical_line",
    "hash": "number_sign", "spacebar": "space", "arrow_up": "up", "arrow_down": "down",
}
KEYS_ALLOWED = (
    "one key, or several separated by commas: a character (r, R, ?) or a key name (enter, escape, "
    "tab, space, up, pageup, f1 ... f24, question_mark ...), optionally after ctrl+, shift+, alt+"
)

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
    # Where each value read came from, for messages: "subscription" -> "<path> line 2".
    where: Mapping[str, str] = field(default_factory=dict)
    all_subscriptions: bool = False  # list the scale sets of every subscription (Resource Graph)


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


def key_problem(key: str) -> str | None:
    """Why one key of a [keys] value is not a key Textual reports (None: it is one)."""
    if not key:
        return "an empty key (two commas in a row, or one at an end)"
    if key == "+" or key.endswith("++"):  # the plus key itself, maybe after modifiers
        modifiers, base = (key[:-2].split("+") if len(key) > 1 else []), "+"
    else:
        *modifiers, base = key.split("+")
    if not base or any(not m for m in modifiers):
        return f"{key!r} is not a key name: a '+' joins a modifier to a key (ctrl+r)"
    for modifier in modifiers:
        if modifier not in KEY_MODIFIERS:
            near = _KEY_SPELLINGS.get(modifier.casefold())
            if near in KEY_MODIFIERS:
                return f"{key!r} is not a key name: write {near!r} for {modifier!r}"
            return f"{key!r} is not a key name: {modifier!r} is not a modifier ({', '.join(KEY_MODIFIERS)})"
    if len(base) == 1:
        if not base.isprintable() or base.isspace():
            return f"{key!r} is not a key name: use 'space' or 'tab' for blank keys"
        if modifiers == ["shift"] and base.isalpha():
            return f"{key!r} never arrives: the terminal sends {base.upper()!r} for it; write {base.upper()!r}"
        if "ctrl" in modifiers and base.isalpha() and base.isupper():
            return f"{key!r} never arrives: the terminal sends ctrl+{base.lower()}; write 'ctrl+{base.lower()}'"
        return None
    if base in NAMED_KEYS:
        return None
    near = _KEY_SPELLINGS.get(base.casefold())
    if near is None and base.casefold() in NAMED_KEYS:
        near = base.casefold()
    if near is None:
        close = _closest(base, NAMED_KEYS)
        near = close if close else None
    hint = f" (did you mean {'+'.join([*modifiers, near])!r}?)" if near else ""
    return f"{key!r} is not a key name{hint}"


def _problem_at(where: str, message: str) -> str:
    return f"{where}: {message}"


_HOSTNAME = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_USER = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.@-]{0,63}$")  # Azure admin users; '@' for domain users


def is_host_name(text: str) -> bool:
    """A DNS name or an IP address (what an SSH client can connect to)."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(_HOSTNAME.match(text))


def jump_host_problem(spec: str) -> str | None:
    """Why `spec` is not a usable jump host (user@host:port), in words; None when it is."""
    from vmss_tui.domain.ssh_target import JumpHost, JumpHostError

    try:
        jump = JumpHost.parse(spec)
    except JumpHostError as error:
        return f"{error} (user and :port optional, [v6-address]:port for IPv6)"
    if not is_host_name(jump.host):
        return f"jump host {spec!r}: {jump.host!r} is not a host name or IP address"
    if jump.user is not None and not _USER.match(jump.user):
        return f"jump host {spec!r}: {jump.user!r} is not a user name (letters, digits, '.', '_', '-')"
    return None


def parse_config(text: str, path: Path) -> Config:
    """Parse the text of a config file; never raises for bad content."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        return Config(path=path, problems=(_describe_toml_error(path, error),))

    locate = _Locator(text)
    problems: list[str] = []
    where: dict[str, str] = {}

    for key in data:
        if key not in _TOP_LEVEL_KEYS:
            near = _closest(key, _TOP_LEVEL_KEYS)
            hint = f"did you mean {near!r}? " if near else ""
            problems.append(
                f"{locate.where(path, None, key)}: unknown setting {key!r} ignored "
                f"({hint}known: {', '.join(_TOP_LEVEL_KEYS)})"
            )

    subscription = data.get("subscription")
    if subscription is not None:
        where["subscription"] = locate.where(path, None, "subscription")
        problem = None
        if not (isinstance(subscription, str) and subscription.strip()):
            problem = "subscription must be a non-empty string"
        else:
            problem = subscription_problem(subscription.strip())
        if problem:
            problems.append(f"{where['subscription']}: {problem}")
            subscription = None

    theme = data.get("theme")
    if theme is not None and not (isinstance(theme, str) and theme.strip()):
        problems.append(f"{locate.where(path, None, 'theme')}: theme must be a theme name (a string)")
        theme = None
    elif theme is not None:
        where["theme"] = locate.where(path, None, "theme")

    all_subscriptions = data.get("all_subscriptions", False)
    if not isinstance(all_subscriptions, bool):
        problems.append(f"{locate.where(path, None, 'all_subscriptions')}: all_subscriptions must be true or "
                        f"false, not {all_subscriptions!r}; using false")
        all_subscriptions = False

    keys: dict[str, str] = {}
    raw_keys = data.get("keys", {})
    if not isinstance(raw_keys, dict):
        problems.append(f"{locate.where(path, None, 'keys')}: [keys] must be a table of binding-id = \"key\"")
        raw_keys = {}
    for binding_id, value in raw_keys.items():
        at = locate.where(path, "keys", binding_id)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            value = ",".join(value)
        if not isinstance(value, str) or not value.strip():
            problems.append(f'{at}: key for {binding_id!r} must be a string such as "ctrl+r" or "j,down"')
            continue
        parts = [part.strip() for part in value.split(",")]
        bad = [problem for problem in (key_problem(part) for part in parts) if problem]
        if bad:
            problems.append(f"{at}: {'; '.join(bad)} (for {binding_id!r}; allowed: {KEYS_ALLOWED})")
            continue
        if len(set(parts)) != len(parts):
            parts = list(dict.fromkeys(parts))  # "r,r": harmless, one is enough
        keys[binding_id] = ",".join(parts)
        where[f"keys.{binding_id}"] = at

    refresh = RefreshSettings()
    raw_refresh = data.get("refresh", {})
    if not isinstance(raw_refresh, dict):
        problems.append(f"{locate.where(path, None, 'refresh')}: [refresh] must be a table")
        raw_refresh = {}
    for name, value in raw_refresh.items():
        at = locate.where(path, "refresh", name)
        if name not in _REFRESH_KEYS:
            problems.append(f"{at}: unknown refresh setting {name!r} (known: {', '.join(_REFRESH_KEYS)})")
            continue
        seconds = _seconds(value)
        if seconds is None:
            default = getattr(refresh, name)
            problems.append(
                f"{at}: refresh.{name} must be a number of seconds from {MIN_REFRESH:g} to "
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
        at = locate.where(path, "ssh", name)
        if not (isinstance(value, str) and value.strip()):
            problems.append(f"{at}: ssh.{name} must be a non-empty string")
            continue
        problem = None
        if name == "user" and not _USER.match(value):
            problem = (f"ssh.user {value!r} is not a user name (letters, digits, '.', '_', '-'; "
                       "at most 64); using the scale set's admin user")
        elif name == "jump_host":
            problem = jump_host_problem(value)
            if problem:
                problem = f"ssh.jump_host: {problem}; connecting without a jump host"
        elif name == "identity_file" and any(ord(c) < 32 for c in value):
            problem = "ssh.identity_file has control characters; give the path of a private key"
        if problem:
            problems.append(f"{at}: {problem}")
            continue
        ssh_values[name] = value
        where[f"ssh.{name}"] = at
    if "port" in raw_ssh:
        port = raw_ssh["port"]
        if isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535:
            ssh_values["port"] = port
            where["ssh.port"] = locate.where(path, "ssh", "port")
        else:
            problems.append(f"{locate.where(path, 'ssh', 'port')}: ssh.port must be 1-65535, not {port!r}; using 22")
    extra: dict[str, Any] = {}
    for name, value in raw_ssh.items():
        if name in _SSH_KNOWN_KEYS:
            continue
        at = locate.where(path, "ssh", name)
        problem = _ssh_extra_problem(name, value)
        if problem:
            problems.append(f"{at}: {problem}")
            continue
        extra[name] = value
        where[f"ssh.{name}"] = at
    ssh = replace(ssh, extra=extra, **ssh_values)

    return Config(
        keys=keys,
        refresh=refresh,
        subscription=subscription.strip() if isinstance(subscription, str) else None,
        theme=theme.strip() if isinstance(theme, str) else None,
        ssh=ssh,
        path=path,
        problems=tuple(problems),
        where=where,
        all_subscriptions=all_subscriptions,
    )


def _ssh_extra_problem(name: str, value: Any) -> str | None:
    if name in _SSH_SECONDS_KEYS:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        low = 0.0 if name == "keepalive_interval" else 0.1
        if not number or not math.isfinite(value) or not low <= value <= MAX_SSH_SECONDS:
            zero = " (0 turns it off)" if name == "keepalive_interval" else ""
            return (f"ssh.{name} must be a number of seconds from {low:g} to {MAX_SSH_SECONDS:g}{zero}, "
                    f"not {value!r}; using the default")
        return None
    if name == "known_hosts":
        if not (isinstance(value, str) and value.strip()) or any(ord(c) < 32 for c in value):
            return f"ssh.known_hosts must be the path of a file, not {value!r}; using the default"
        return None
    if name == "use_agent":
        if not isinstance(value, bool):
            return f"ssh.use_agent must be true or false, not {value!r}; using true"
        return None
    near = _closest(name, (*_SSH_KNOWN_KEYS, *_SSH_EXTRA_KEYS))
    hint = f"did you mean {near!r}? " if near else ""
    return f"unknown ssh setting {name!r} ignored ({hint}known: {', '.join((*_SSH_KNOWN_KEYS, *_SSH_EXTRA_KEYS))})"


_SUBSCRIPTION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SUBSCRIPTION_ALLOWED = "a subscription id such as 00000000-0000-0000-0000-000000000000"


def subscription_problem(value: str) -> str | None:
    """Why `value` cannot be a subscription id (it would not even make a valid ARM path)."""
    if not _SUBSCRIPTION.match(value):
        return f"{value!r} is not a subscription id (allowed: {SUBSCRIPTION_ALLOWED})"
    return None


def load_config(path: Path | None = None) -> Config:
    """Read the config file (default location unless `path`); a missing file gives the defaults."""
    named_by = None
    if path is None:
        env_path = os.environ.get(CONFIG_ENV)
        if env_path:
            named_by = f"{CONFIG_ENV}={env_path} (environment)"
        path = Path(env_path).expanduser() if env_path else default_config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if named_by:  # asked for by name: a missing file is a mistake worth a line
            return Config(problems=(f"{named_by}: no such file; using the default settings",))
        return Config()
    except OSError as error:
        source = named_by or str(path)
        return Config(path=path, problems=(f"{source}: cannot be read ({error.strerror}); using the default settings",))
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


def bindings_of(classes: Iterable[type]) -> list[tuple[str, str]]:
    """(binding id, keys) of every binding with an id that these classes (and their bases)
    declare in BINDINGS. Duck-typed (a binding has .id and .key) so that this module never
    imports Textual."""
    found: dict[str, str] = {}
    for cls in classes:
        for klass in cls.__mro__:
            for binding in vars(klass).get("BINDINGS", ()) or ():
                binding_id, key = getattr(binding, "id", None), getattr(binding, "key", None)
                if isinstance(binding_id, str) and isinstance(key, str):
                    found.setdefault(binding_id, key)
    return list(found.items())


def binding_clash_problems(config: Config, owners: Mapping[str, Sequence[tuple[str, str]]]) -> tuple[str, ...]:
    """One message per key that [keys] leaves bound to two actions where both would apply.

    `owners`: for each pane or screen (a name people know it by), the bindings that apply
    while it has the focus, as (binding id, default keys "j,down"). Only clashes the config
    causes are reported (the program's own defaults are its business), naming the lines."""
    found: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for owner, bindings in owners.items():
        taken: dict[str, list[str]] = {}
        for binding_id, default in bindings:
            keys = config.keys.get(binding_id, default)
            for key in dict.fromkeys(k.strip() for k in keys.split(",")):
                ids = taken.setdefault(_KEY_ALIASES.get(key, key), [])
                if binding_id not in ids:
                    ids.append(binding_id)
        for key, ids in taken.items():
            if len(ids) > 1 and any(i in config.keys for i in ids):
                found.setdefault((key, tuple(sorted(ids))), []).append(owner)
    problems: list[str] = []
    for (key, ids), where_used in found.items():
        lines = ", ".join(dict.fromkeys(
            config.where.get(f"keys.{i}", str(config.path or "config")) for i in ids if i in config.keys))
        problems.append(
            f"{lines}: key {key!r} is bound to {' and '.join(repr(i) for i in ids)} "
            f"(in {', '.join(where_used)}): only one of them can work; give the other another key"
        )
    return tuple(problems)


# A character key and the name Textual stores it under are the same key.
_KEY_ALIASES = {
    "?": "question_mark", ":": "colon", "/": "slash", "[": "left_square_bracket", "]": "right_square_bracket",
    " ": "space", ".": "full_stop", "-": "minus", "+": "plus", "@": "at", "\\": "backslash", "_": "underscore",
    "!": "exclamation_mark", "#": "number_sign", "$": "dollar_sign", "%": "percent_sign", "&": "ampersand",
    "*": "asterisk", "(": "left_parenthesis", ")": "right_parenthesis", "=": "equals_sign", ";": "semicolon",
    "'": "apostrophe", '"': "quotation_mark", "<": "less_than_sign", ">": "greater_than_sign",
    "`": "grave_accent", "^": "circumflex_accent", "{": "left_curly_bracket", "}": "right_curly_bracket",
    "|": "vertical_line", "~": "tilde",
}


@dataclass(frozen=True, slots=True)
class SettingSources:
    """Where the endpoint and the subscription came from, so that a hint such as "check
    --subscription" names the place the value was really given (None: the flag itself)."""

    arm_endpoint: str | None = None
    subscription: str | None = None

    def hint(self, text: str | None) -> str | None:
        """`text` (a FleetError hint) naming the real sources."""
        if not text:
            return text
        if self.subscription:
            text = text.replace("--subscription (or AZURE_SUBSCRIPTION_ID)", self.subscription)
            text = text.replace("--subscription", self.subscription)
        if self.arm_endpoint:
            text = text.replace("--arm-endpoint", self.arm_endpoint)
        return text


def sources_of(*, endpoint: str | None, subscription: str | None, config: Config,
               environ: Mapping[str, str], endpoint_env: str, subscription_env: str,
               flags: Iterable[str] = ()) -> SettingSources:
    """The sources of the endpoint and subscription in use. `flags`: the options given on the
    command line ("--subscription", "--arm-endpoint"); without them, a value equal to the
    environment's came from the environment."""
    given = set(flags)
    endpoint_source = subscription_source = None
    if endpoint and "--arm-endpoint" not in given and environ.get(endpoint_env) == endpoint:
        endpoint_source = f"{endpoint_env} (environment)"
    if subscription is None and config.subscription:
        at = config.where.get("subscription", str(config.path))
        subscription_source = f"the subscription in {at}"
    elif subscription and "--subscription" not in given:
        if environ.get(subscription_env) == subscription:
            subscription_source = f"{subscription_env} (environment)"
        elif subscription == config.subscription:
            at = config.where.get("subscription", str(config.path))
            subscription_source = f"the subscription in {at}"
    return SettingSources(arm_endpoint=endpoint_source, subscription=subscription_source)
