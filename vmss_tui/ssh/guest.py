"""Looking into an instance over SSH, without a PTY, through the same connection, authentication
and host-key code as the SSH tab (`SshSession.run`).

    inspection = await inspect_guest(target, settings, accept_new=False)
    inspection.view          # the parsed GuestView, or None
    inspection.reason        # why there is none: one line (stopped, no NAT mapping, auth ...)

    check = await run_check_command(target, settings, "curl -fsS localhost/health")
    check.passed, check.exit_status, check.reason

Nobody is asked anything: a host key never seen is refused (`HOST_KEY_UNKNOWN`) unless
`accept_new` (trust on first use, saved in the app's known_hosts); a changed key is always
refused; encrypted keys without an agent and passwords are not tried.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmss_tui.domain.disks import INSPECT_COMMAND, GuestParseError, GuestView, parse_guest_output
from vmss_tui.domain.models import Instance, NatResolution, ScaleSet
from vmss_tui.domain.ssh_target import SshTarget, TargetChoice
from vmss_tui.ssh.session import FailureKind, SshFailure, SshPrompts, SshSession, non_interactive_prompts
from vmss_tui.ssh.settings import SshSettings, resolve_target

INSPECT_TIME_LIMIT = 60.0  # seconds for the inspection command once connected

# Why there is no guest view, beyond the SSH failure kinds.
NOT_RUNNING = "not-running"
NO_TARGET = "no-target"
UNREADABLE = "unreadable"  # connected and ran, but the output could not be read


@dataclass(frozen=True, slots=True)
class GuestInspection:
    """The guest's view of its disks, or why it could not be had."""

    view: GuestView | None
    reason: str | None = None  # one line when view is None (or a note when the command complained)
    kind: str | None = None  # a FailureKind value, NOT_RUNNING, NO_TARGET or UNREADABLE
    stderr: str = ""  # what the command printed on stderr (tools missing, permission denied ...)
    target: SshTarget | None = None

    @property
    def reachable(self) -> bool:
        return self.view is not None


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One health-check command run on an instance."""

    exit_status: int | None  # None when it could not run (see reason) or was killed
    reason: str | None = None  # one line when it did not exit 0
    stdout: str = ""
    stderr: str = ""

    @property
    def passed(self) -> bool:
        return self.exit_status == 0


def _prompts(accept_new: bool, prompts: SshPrompts | None) -> SshPrompts:
    return prompts if prompts is not None else non_interactive_prompts(accept_new)


async def inspect_guest(
    target: SshTarget,
    settings: SshSettings,
    *,
    accept_new: bool = False,
    prompts: SshPrompts | None = None,
    time_limit: float = INSPECT_TIME_LIMIT,
) -> GuestInspection:
    """Run the inspection exec on `target` and parse it. Never raises for anything the guest or
    the network does: the reason is in the result."""
    session = SshSession(target, settings, _prompts(accept_new, prompts))
    try:
        result = await session.run(INSPECT_COMMAND, time_limit=time_limit)
    except SshFailure as failure:
        return GuestInspection(view=None, reason=str(failure), kind=str(failure.kind), target=target)
    if result.exit_signal:
        return GuestInspection(view=None, reason=f"the inspection was killed by signal {result.exit_signal}",
                               kind=UNREADABLE, stderr=result.stderr, target=target)
    try:
        view = parse_guest_output(result.stdout)
    except GuestParseError as exc:
        detail = _first_line(result.stderr)
        reason = f"{exc}" + (f" ({detail})" if detail else "")
        return GuestInspection(view=None, reason=reason, kind=UNREADABLE, stderr=result.stderr, target=target)
    return GuestInspection(view=view, stderr=result.stderr, target=target)


async def inspect_instance(
    scale_set: ScaleSet,
    instance: Instance,
    resolution: NatResolution,
    settings: SshSettings,
    *,
    accept_new: bool = False,
    private_ip: str | None = None,
    prompts: SshPrompts | None = None,
) -> GuestInspection:
    """Choose the instance's SSH target (as the SSH tab does) and inspect it; a stopped instance
    or one without a reachable mapping says so without trying to connect."""
    choice = resolve_target(settings, scale_set=scale_set, instance=instance, resolution=resolution,
                            private_ip=private_ip)
    blocked = unreachable_because(choice)
    if blocked is not None:
        return blocked
    assert choice.target is not None
    return await inspect_guest(choice.target, settings, accept_new=accept_new, prompts=prompts)


def unreachable_because(choice: TargetChoice) -> GuestInspection | None:
    """The inspection result for a target choice that has no target, else None."""
    if choice.target is not None:
        return None
    kind = NOT_RUNNING if choice.not_running else NO_TARGET
    return GuestInspection(view=None, reason=choice.reason or "no SSH endpoint", kind=kind)


async def run_check_command(
    target: SshTarget,
    settings: SshSettings,
    command: str,
    *,
    accept_new: bool = False,
    time_limit: float = 60.0,
    prompts: SshPrompts | None = None,
) -> CheckResult:
    """Run a health-check command (the guarded rollout's): it passes when it exits 0."""
    session = SshSession(target, settings, _prompts(accept_new, prompts))
    try:
        result = await session.run(command, time_limit=time_limit)
    except SshFailure as failure:
        return CheckResult(exit_status=None, reason=str(failure))
    if result.exit_signal:
        return CheckResult(exit_status=None, reason=f"killed by signal {result.exit_signal}",
                           stdout=result.stdout, stderr=result.stderr)
    if result.exit_status != 0:
        detail = _first_line(result.stderr) or _first_line(result.stdout)
        reason = f"exit status {result.exit_status}" + (f": {detail}" if detail else "")
        return CheckResult(exit_status=result.exit_status, reason=reason, stdout=result.stdout, stderr=result.stderr)
    return CheckResult(exit_status=0, stdout=result.stdout, stderr=result.stderr)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()[:200]
    return ""


def hint_for(kind: str | None) -> str | None:
    """What a person can do about a failure of this kind (for `get` and the console)."""
    if kind == FailureKind.HOST_KEY_UNKNOWN:
        return "connect once from the console to check the key, or pass --accept-new to trust it on first use"
    if kind == FailureKind.HOST_KEY_CHANGED:
        return "a reimage changes host keys; if expected, replace the key from the console's SSH tab"
    if kind == NOT_RUNNING:
        return "start the instance"
    return None
