"""SSH sessions to the simulator's instances, found the way the console finds them: the real SDK
clients read the scale set, its instances and NAT mappings from the simulator over HTTP, the
target is chosen from those, and the session talks to the SSH server on that NAT frontend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from textual.app import App, ComposeResult

from tests.support.ssh import wait_for
from vmss_tui.domain.models import ScaleSet
from vmss_tui.domain.ssh_target import SshTarget
from vmss_tui.ssh.known_hosts import HostKeyCheck
from vmss_tui.ssh.session import FailureKind, SshFailure, SshPrompts, SshSession
from vmss_tui.ssh.settings import SshSettings, resolve_target
from vmss_tui.ui.ssh_pane import CONNECTED, HostKeyDialog, SshSessionPane


async def scale_set_named(fleet: Any, name: str) -> ScaleSet:
    return next(s for s in await fleet.list_scale_sets() if s.name == name)


async def target_of(fleet: Any, sim: Any, settings: SshSettings, name: str) -> tuple[SshTarget, str]:
    """The first running instance of `name` with a listening SSH server, and its computer name."""
    scale_set = await scale_set_named(fleet, name)
    instances = await fleet.list_instances(scale_set)
    nics = await fleet.list_instance_nics(scale_set)
    resolution = await fleet.nat_mappings_for(scale_set, nics)
    listening = {(t["instance_id"]) for t in sim.ssh_targets() if t["scale_set"] == name and t["listening"]}
    instance = next(i for i in instances if i.is_running and i.instance_id in listening)
    private_ip = next((n.primary_private_ip for n in nics if n.instance_id == instance.instance_id), None)
    choice = resolve_target(settings, scale_set=scale_set, instance=instance, resolution=resolution,
                            private_ip=private_ip)
    assert choice.target is not None, choice.reason
    return choice.target, instance.computer_name or ""


def settings_in(tmp_path: Path, sim: Any) -> SshSettings:
    # The simulator's servers take public keys only; it makes a demo key pair for the console.
    return SshSettings(identity_file=str(sim.ssh_client_key_path), known_hosts=tmp_path / "known_hosts",
                       use_agent=False, use_default_keys=False, connect_timeout=5.0, probe_timeout=2.0)


def trusting_prompts(asked: list[str]) -> SshPrompts:
    async def trust(check: HostKeyCheck) -> bool:
        asked.append(check.fingerprint)
        return True

    async def no_secret(label: str, attempt: int) -> str | None:
        return None

    return SshPrompts(trust, no_secret, no_secret)


async def test_session_to_a_simulated_instance_through_its_nat_port(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    sim = await start_simulator(speed=200, ssh=True)
    fleet = await open_fleet(sim)
    settings = settings_in(tmp_path, sim)
    target, computer_name = await target_of(fleet, sim, settings, "vmss-web")
    expected = next(t for t in sim.ssh_targets()
                    if t["scale_set"] == "vmss-web" and t["instance_id"] == target.instance_id)
    assert (target.host, target.port, target.username) == (expected["host"], expected["port"], "azureuser")

    asked: list[str] = []
    session = SshSession(target, settings, trusting_prompts(asked))
    output = bytearray()
    closed: list[str] = []
    await session.connect(90, 25, output.extend, closed.append)
    session.write(b"stty size; hostname\n")
    await wait_for(lambda: f"azureuser@{computer_name}" in output.decode(errors="replace")
                   and "25 90" in output.decode(errors="replace"), "the instance's prompt and PTY size", within=10.0)
    await session.close()
    assert len(asked) == 1

    # A reimage regenerates the instance's host keys: the next session is refused, not asked.
    scale_set = await scale_set_named(fleet, "vmss-web")
    result = await fleet.run_instance_action(scale_set, "reimage", [target.instance_id])
    assert result.status == "Succeeded"
    await wait_for(lambda: any(t["instance_id"] == target.instance_id and t["listening"]
                               for t in sim.ssh_targets() if t["scale_set"] == "vmss-web"), "listener back", within=10.0)
    again = SshSession(target, settings, trusting_prompts(asked))
    with pytest.raises(SshFailure) as info:
        await again.connect(90, 25, output.extend, closed.append)
    assert info.value.kind is FailureKind.HOST_KEY_CHANGED
    assert len(asked) == 1 and "reimage" in str(info.value)


async def test_internal_load_balancer_has_no_target_and_says_why(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    sim = await start_simulator(speed=200, ssh=True)
    fleet = await open_fleet(sim, read_only=True)
    scale_set = await scale_set_named(fleet, "vmss-internal")
    instances = await fleet.list_instances(scale_set)
    resolution = await fleet.nat_mappings_for(scale_set)
    choice = resolve_target(settings_in(tmp_path, sim), scale_set=scale_set, instance=instances[0],
                            resolution=resolution, private_ip="10.0.0.4")
    assert choice.target is None
    assert "internal" in (choice.reason or "") and "jump host" in (choice.reason or "")


class PaneApp(App[None]):
    def __init__(self, target: SshTarget, settings: SshSettings) -> None:
        super().__init__()
        self.target, self.settings = target, settings

    def compose(self) -> ComposeResult:
        yield SshSessionPane(self.target, self.settings, nsg_label="allowed from * (OPEN)")


async def test_the_pane_on_a_simulated_instance(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    sim = await start_simulator(speed=200, ssh=True)
    fleet = await open_fleet(sim, read_only=True)
    settings = settings_in(tmp_path, sim)
    target, computer_name = await target_of(fleet, sim, settings, "vmss-web")
    app = PaneApp(target, settings)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(SshSessionPane)

        async def until(predicate: Callable[[], bool], what: str) -> None:
            for _ in range(500):
                if predicate():
                    return
                await pilot.pause(0.02)
            raise AssertionError(f"timed out waiting for {what}")

        await until(lambda: isinstance(app.screen, HostKeyDialog), "host key dialog")
        await pilot.press("y")
        await until(lambda: pane.state == CONNECTED, "connected")
        await until(lambda: any(f"azureuser@{computer_name}" in line for line in pane.terminal.emulator.display()),
                    "the instance's prompt")
        await pilot.press(*"echo $HOSTNAME", "enter")
        await until(lambda: computer_name in pane.terminal.emulator.display(), "hostname echo")


async def test_a_key_the_simulator_does_not_know_is_refused_in_one_line(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    sim = await start_simulator(speed=200, ssh=True)
    fleet = await open_fleet(sim, read_only=True)
    stranger = tmp_path / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    stranger.chmod(0o600)
    settings = SshSettings(identity_file=str(stranger), known_hosts=tmp_path / "known_hosts", use_agent=False,
                           use_default_keys=False, connect_timeout=5.0)
    target, _name = await target_of(fleet, sim, settings, "vmss-web")
    session = SshSession(target, settings, trusting_prompts([]))
    with pytest.raises(SshFailure) as info:
        await session.connect(80, 24, lambda data: None, lambda reason: None)
    assert info.value.kind is FailureKind.AUTH
    assert str(info.value).startswith(f"authentication failed for azureuser@{target.endpoint} (tried {stranger})")
