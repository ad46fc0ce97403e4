"""SSH settings for sessions to scale-set instances, and choosing the target with them."""

from __future__ import annotations

import getpass
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vmss_tui.domain.models import Instance, NatResolution, ScaleSet
from vmss_tui.domain.ssh_target import JumpHost, TargetChoice, choose_ssh_target

APP_NAME = "vmss-tui"


def default_known_hosts_path() -> Path:
    """The app's own known_hosts: `user_data_dir("vmss-tui")/known_hosts` (not ~/.ssh/known_hosts)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME, appauthor=False)) / "known_hosts"


@dataclass(frozen=True, slots=True)
class SshSettings:
    user: str | None = None  # else the scale set's admin user
    port: int = 22  # the backend port on the instance whose NAT mapping is the target
    identity_file: str | None = None  # a key tried before the default ones
    jump_host: str | None = None  # "user@host:port", for instances without a public mapping
    connect_timeout: float = 10.0
    probe_timeout: float = 3.0
    known_hosts: Path = field(default_factory=default_known_hosts_path)
    use_agent: bool = True  # ssh-agent through $SSH_AUTH_SOCK
    use_default_keys: bool = True  # ~/.ssh/id_ed25519, id_ecdsa, id_rsa and IdentityFile of ~/.ssh/config
    ssh_config: Path | None = None  # None: ~/.ssh/config
    keepalive_interval: float = 15.0  # seconds; 0 disables. Detects dead connections.

    @property
    def jump(self) -> JumpHost | None:
        """The parsed jump host; raises JumpHostError (one line) when malformed."""
        return JumpHost.parse(self.jump_host) if self.jump_host else None

    @classmethod
    def from_config(cls, ssh: Any, **overrides: Any) -> SshSettings:
        """From the config file's `[ssh]` table object (user, port, identity_file, jump_host,
        extra), with command-line overrides (None values are ignored)."""
        values: dict[str, Any] = {}
        for name in ("user", "port", "identity_file", "jump_host"):
            value = getattr(ssh, name, None)
            if value is not None:
                values[name] = value
        extra: Mapping[str, Any] = getattr(ssh, "extra", None) or {}
        for name in ("connect_timeout", "probe_timeout", "keepalive_interval"):
            value = extra.get(name)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                values[name] = float(value)
        if isinstance(extra.get("known_hosts"), str):
            values["known_hosts"] = Path(extra["known_hosts"]).expanduser()
        if isinstance(extra.get("use_agent"), bool):
            values["use_agent"] = extra["use_agent"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def resolve_target(
    settings: SshSettings,
    *,
    scale_set: ScaleSet,
    instance: Instance,
    resolution: NatResolution,
    private_ip: str | None = None,
) -> TargetChoice:
    """Choose the session target with these settings (user, backend port, jump host).

    A malformed jump host gives no target and its one-line error as the reason.
    """
    from vmss_tui.domain.ssh_target import JumpHostError

    try:
        jump = settings.jump
    except JumpHostError as exc:
        return TargetChoice(target=None, reason=str(exc))
    return choose_ssh_target(
        scale_set=scale_set,
        instance=instance,
        resolution=resolution,
        backend_port=settings.port,
        username=settings.user,
        jump=jump,
        private_ip=private_ip,
        fallback_username=scale_set.admin_username or _local_user(),
    )


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in this environment
        return "azureuser"
