"""The simulator's SSH servers on the NAT frontends, reached with a real SSH client (asyncssh)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncssh
import pytest
from sim_sdk_helpers import sdk_clients

from vmss_tui.sim import Simulator

WEB = "rg-web-prod"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(speed=200, ssh=True)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


def target(sim: Simulator, scale_set: str, instance_id: str) -> dict[str, Any]:
    return next(t for t in sim.ssh_targets() if t["scale_set"] == scale_set and t["instance_id"] == instance_id)


async def connect(t: dict[str, Any], username: str = "azureuser", **kwargs: Any) -> asyncssh.SSHClientConnection:
    return await asyncio.wait_for(asyncssh.connect(
        t["host"], t["port"], username=username, password=kwargs.pop("password", "anything"), known_hosts=None,
        **kwargs), 10)


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
    async with await connect(t) as conn:
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


async def test_any_password_or_key_for_the_admin_user_only(sim: Simulator) -> None:
    t = target(sim, "vmss-batch", "2")
    async with await connect(t, password="whatever") as conn:
        assert (await conn.run("echo ok")).stdout.strip() == "ok"
    key = asyncssh.generate_private_key("ssh-ed25519")
    async with await asyncio.wait_for(asyncssh.connect(
            t["host"], t["port"], username="azureuser", client_keys=[key], known_hosts=None, password=None), 10) as conn:
        assert (await conn.run("echo $HOSTNAME")).stdout.strip() == "vmss-batch000002"
    with pytest.raises(asyncssh.PermissionDenied):
        await connect(t, username="root")


async def test_stopped_instance_refuses_and_power_changes_follow(sim: Simulator) -> None:
    stopped = target(sim, "vmss-web", "5")
    with pytest.raises(OSError):
        await connect(stopped)
    running = target(sim, "vmss-web", "2")
    conn = await connect(running)
    async with sdk_clients(sim) as (compute, _):
        await (await compute.virtual_machine_scale_set_vms.begin_start(WEB, "vmss-web", "5")).result()
        await wait_until(lambda: target(sim, "vmss-web", "5")["listening"])
        async with await connect(stopped) as started:
            assert (await started.run("echo $HOSTNAME")).stdout.strip() == "vmss-web000005"
        await (await compute.virtual_machine_scale_set_vms.begin_power_off(WEB, "vmss-web", "2")).result()
    await wait_until(lambda: not target(sim, "vmss-web", "2")["listening"])
    await asyncio.wait_for(conn.wait_closed(), 5)  # powering off drops the session
    with pytest.raises(OSError):
        await connect(running)


async def test_host_key_is_stable_and_changes_on_reimage(sim: Simulator) -> None:
    t = target(sim, "vmss-api", "1")

    async def host_key() -> str:
        async with await connect(t) as conn:
            key = conn.get_server_host_key()
            assert key is not None
            return key.get_fingerprint()

    first = await host_key()
    assert await host_key() == first
    other = target(sim, "vmss-api", "2")
    async with await connect(other) as conn:
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
    async with await connect(target(sim, "vmss-api", "3")) as conn:
        assert (await conn.run("echo $HOSTNAME")).stdout.strip() == "vmss-api000003"
