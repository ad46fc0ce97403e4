"""The simulator's SSH servers on the NAT frontends, reached with a real SSH client (asyncssh)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from tests.support.sim_sdk import sdk_clients

from vmss_tui.sim import Simulator

WEB = "rg-web-prod"


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Simulator]:
    # A home without keys and no agent: only the simulator's demo key logs in.
    simulator = Simulator(speed=200, ssh=True, ssh_user_home=tmp_path, ssh_agent=False)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def target(sim: Simulator, scale_set: str, instance_id: str) -> dict[str, Any]:
    return next(t for t in sim.ssh_targets() if t["scale_set"] == scale_set and t["instance_id"] == instance_id)


async def connect(t: dict[str, Any], username: str = "azureuser", *, key: Any, **kwargs: Any
                  ) -> asyncssh.SSHClientConnection:
    """With exactly `key` (a path or a key): no agent, no ~/.ssh/config, no default keys."""
    return await asyncio.wait_for(asyncssh.connect(
        t["host"], t["port"], username=username, client_keys=[key], agent_path=None, config=None,
        known_hosts=None, **kwargs), 10)


def refused(outcome: BaseException) -> bool:
    return isinstance(outcome, asyncssh.PermissionDenied)


async def wait_until(predicate: Any) -> None:
    """Poll `predicate` for up to 5 s (listeners follow power state on the simulator's loop)."""
    for _ in range(250):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in 5 s")


async def test_targets_follow_nat_mappings(sim: Simulator) -> None:
    targets = {(t["scale_set"], t["instance_id"]): t for t in sim.ssh_targets()}
    # SSH pool of vmss-web on lb-web, lowest free ports (not start + id).
    assert targets[("vmss-web", "6")]["port"] == 50000
    assert targets[("vmss-web", "6")]["host"].startswith(sim.public_ip_prefix + ".")
    # NAT rule V2 on lb-batch: the SSH rule, not the 8080 one listed first.
    assert targets[("vmss-batch", "0")]["port"] == 61000
    # No public SSH mapping: internal LB, no LB, unallocated public IP (and RDP only).
    assert not any(t["scale_set"] in ("vmss-internal", "vmss-data", "vmss-pending") for t in targets.values())
    assert targets[("vmss-web", "1")]["listening"] and not targets[("vmss-web", "5")]["listening"]  # 5 is stopped


async def test_shell_in_pty_shows_the_instance(sim: Simulator) -> None:
    t = target(sim, "vmss-web", "1")
    async with await connect(t, key=sim.ssh_client_key_path) as conn:
        result = await conn.run("echo $HOSTNAME; hostname; echo $USER", check=True)
        assert result.stdout.split() == ["vmss-web000001", "vmss-web000001", "azureuser"]
        process = await conn.create_process(term_type="xterm-256color", term_size=(100, 30))
        process.stdin.write("stty size\n")
        await asyncio.sleep(0.3)
        process.change_terminal_size(132, 43)
        await asyncio.sleep(0.1)
        process.stdin.write("stty size; exit 3\n")
        output = await asyncio.wait_for(process.stdout.read(), 10)
        await process.wait()
        assert "azureuser@vmss-web000001:" in output
        assert "30 100" in output and "43 132" in output
        assert process.exit_status == 3


async def test_demo_key_logs_in_as_the_admin_user_only(sim: Simulator) -> None:
    key_path = sim.ssh_client_key_path
    assert key_path is not None and key_path.is_file()
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600 and stat.S_IMODE(key_path.parent.stat().st_mode) == 0o700
    t = target(sim, "vmss-batch", "2")
    async with await connect(t, key=key_path) as conn:
        assert (await conn.run("echo $HOSTNAME")).stdout.strip() == "vmss-batch000002"
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(t, username="root", key=key_path)


async def test_other_keys_and_passwords_are_refused(sim: Simulator) -> None:
    t = target(sim, "vmss-batch", "2")
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(t, key=asyncssh.generate_private_key("ssh-ed25519"))
    for password in ("", "azureuser", "anything"):
        with pytest.raises(asyncssh.PermissionDenied):
            await asyncio.wait_for(asyncssh.connect(
                t["host"], t["port"], username="azureuser", password=password, client_keys=None, agent_path=None,
                config=None, known_hosts=None), 10)


async def test_demo_key_is_removed_on_stop(tmp_path: Path) -> None:
    other = Simulator(speed=200, ssh=True, ssh_user_home=tmp_path, ssh_agent=False)
    await other.start()
    key_path = other.ssh_client_key_path
    assert key_path is not None and key_path.is_file()
    await other.stop()
    assert not key_path.parent.exists()


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    path.write_text(text)
    path.chmod(mode)


async def test_the_users_own_public_keys_log_in(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ssh_dir = home / ".ssh"
    ssh_dir.mkdir(parents=True)
    home.chmod(0o755)
    ssh_dir.chmod(0o700)
    listed, restricted, pub, foreign = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(4))
    write_private(ssh_dir / "authorized_keys", "# mine\n"
                  + listed.export_public_key().decode()
                  + 'from="10.9.9.9",command="/bin/true" ' + restricted.export_public_key().decode())
    write_private(ssh_dir / "laptop.pub", pub.export_public_key().decode(), 0o644)
    write_private(ssh_dir / "shared.pub", foreign.export_public_key().decode(), 0o666)  # anyone could write it
    sim = Simulator(speed=200, ssh=True, ssh_user_home=home, ssh_agent=False)
    await sim.start()
    try:
        t = target(sim, "vmss-api", "1")
        outcomes = await asyncio.gather(*(connect(t, key=k) for k in (listed, pub, restricted, foreign)),
                                        return_exceptions=True)
        for conn in outcomes[:2]:
            assert isinstance(conn, asyncssh.SSHClientConnection), conn
            assert (await conn.run("echo $USER")).stdout.strip() == "azureuser"
            conn.close()
        # A key restricted in authorized_keys gets no unrestricted shell; a world-writable file is ignored.
        assert all(refused(o) for o in outcomes[2:]), outcomes[2:]
    finally:
        await sim.stop()


async def test_a_group_writable_ssh_directory_is_not_trusted(tmp_path: Path) -> None:
    ssh_dir = tmp_path / ".ssh"
    ssh_dir.mkdir()
    key = asyncssh.generate_private_key("ssh-ed25519")
    write_private(ssh_dir / "authorized_keys", key.export_public_key().decode())
    ssh_dir.chmod(0o770)
    sim = Simulator(speed=200, ssh=True, ssh_user_home=tmp_path, ssh_agent=False)
    await sim.start()
    try:
        with pytest.raises(asyncssh.PermissionDenied):
            await connect(target(sim, "vmss-api", "1"), key=key)
    finally:
        await sim.stop()


@pytest.fixture
def ssh_agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A real ssh-agent on a socket of its own, as SSH_AUTH_SOCK."""
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("ssh-agent/ssh-add (openssh-client) are not installed")
    socket_path = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(socket_path)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if socket_path.exists():
                break
            time.sleep(0.01)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(socket_path))
        yield socket_path
    finally:
        agent.terminate()
        agent.wait(5)


async def test_keys_held_by_the_ssh_agent_log_in(tmp_path: Path, ssh_agent: Path) -> None:
    held, other = asyncssh.generate_private_key("ssh-ed25519"), asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "held_key"
    write_private(key_file, held.export_private_key().decode())
    added = await asyncio.create_subprocess_exec("ssh-add", str(key_file), stdout=asyncio.subprocess.DEVNULL,
                                                 stderr=asyncio.subprocess.DEVNULL, env={**os.environ})
    assert await added.wait() == 0
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    sim = Simulator(speed=200, ssh=True, ssh_user_home=empty_home)  # agent on: its keys are read at start
    await sim.start()
    try:
        t = target(sim, "vmss-web", "1")
        async with await connect(t, key=held) as conn:
            assert (await conn.run("echo $HOSTNAME")).stdout.strip() == "vmss-web000001"
        with pytest.raises(asyncssh.PermissionDenied):
            await connect(t, key=other)
    finally:
        await sim.stop()


async def test_stopped_instance_refuses_and_power_changes_follow(sim: Simulator) -> None:
    stopped = target(sim, "vmss-web", "5")
    with pytest.raises(OSError):
        await connect(stopped, key=sim.ssh_client_key_path)
    running = target(sim, "vmss-web", "2")
    conn = await connect(running, key=sim.ssh_client_key_path)
    async with sdk_clients(sim) as (compute, _):
        await (await compute.virtual_machine_scale_set_vms.begin_start(WEB, "vmss-web", "5")).result()
        await wait_until(lambda: target(sim, "vmss-web", "5")["listening"])
        async with await connect(stopped, key=sim.ssh_client_key_path) as started:
            assert (await started.run("echo $HOSTNAME")).stdout.strip() == "vmss-web000005"
        await (await compute.virtual_machine_scale_set_vms.begin_power_off(WEB, "vmss-web", "2")).result()
    await wait_until(lambda: not target(sim, "vmss-web", "2")["listening"])
    await asyncio.wait_for(conn.wait_closed(), 5)  # powering off drops the session
    with pytest.raises(OSError):
        await connect(running, key=sim.ssh_client_key_path)


async def test_host_key_is_stable_and_changes_on_reimage(sim: Simulator) -> None:
    t = target(sim, "vmss-api", "1")

    async def host_key() -> str:
        async with await connect(t, key=sim.ssh_client_key_path) as conn:
            key = conn.get_server_host_key()
            assert key is not None
            return key.get_fingerprint()

    first = await host_key()
    assert await host_key() == first
    other = target(sim, "vmss-api", "2")
    async with await connect(other, key=sim.ssh_client_key_path) as conn:
        assert conn.get_server_host_key().get_fingerprint() != first  # per instance
    async with sdk_clients(sim) as (compute, _):
        await (await compute.virtual_machine_scale_set_vms.begin_reimage(WEB, "vmss-api", "1")).result()
    await wait_until(lambda: target(sim, "vmss-api", "1")["listening"])
    assert await host_key() != first


async def test_scale_out_brings_new_servers(sim: Simulator) -> None:
    async with sdk_clients(sim) as (compute, _):
        await (await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-api", {"sku": {"capacity": 4}})).result()
    await wait_until(lambda: any(t["scale_set"] == "vmss-api" and t["instance_id"] == "3" and t["listening"]
                                 for t in sim.ssh_targets()))
    async with await connect(target(sim, "vmss-api", "3"), key=sim.ssh_client_key_path) as conn:
        assert (await conn.run("echo $HOSTNAME")).stdout.strip() == "vmss-api000003"
