"""The simulator's SSH servers on the NAT frontends, reached with a real SSH client (asyncssh)."""

from __future__ import annotations

import asyncio
import json
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


# ---------------------------------------------------------------- sessions answered by the guest


def endpoint(sim: Simulator, scale_set: str, instance_id: str) -> dict[str, Any]:
    """The target with its instance object (to reach the instance's guest)."""
    return next(t for t in sim.ssh_endpoints() if t["scale_set"] == scale_set and t["instance_id"] == instance_id)


class Screen:
    """An interactive session in a PTY: everything the server wrote, read as it comes."""

    def __init__(self, process: asyncssh.SSHClientProcess[str]) -> None:
        self.process = process
        self.text = ""
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        while chunk := await self.process.stdout.read(4096):
            self.text += chunk

    async def until(self, needle: str, after: int = 0) -> int:
        """Wait until `needle` shows (after position `after`); where it ends."""
        for _ in range(500):
            index = self.text.find(needle, after)
            if index >= 0:
                return index + len(needle)
            await asyncio.sleep(0.01)
        raise AssertionError(f"{needle!r} not shown; screen:\n{self.text}")

    async def type(self, keys: str, *, then: str) -> str:
        """Type `keys`, wait for `then` after them; what was shown meanwhile."""
        start = len(self.text)
        self.process.stdin.write(keys)
        end = await self.until(then, start)
        return self.text[start:end]


async def open_screen(conn: asyncssh.SSHClientConnection, size: tuple[int, int] = (100, 30)) -> Screen:
    process = await conn.create_process(term_type="xterm-256color", term_size=size)
    screen = Screen(process)
    await screen.until("azureuser@")
    return screen


async def test_exec_returns_the_exit_status_and_both_streams(sim: Simulator) -> None:
    async with await connect(target(sim, "vmss-web", "1"), key=sim.ssh_client_key_path) as conn:
        result = await conn.run("echo out; echo err >&2; exit 7")
        assert (result.exit_status, result.stdout, result.stderr) == (7, "out\n", "err\n")
        result = await conn.run("nosuch --help")
        assert (result.exit_status, result.stderr) == (127, "bash: line 1: nosuch: command not found\n")
        result = await conn.run("sort | head -2", input="b\nc\na\n")
        assert (result.exit_status, result.stdout) == (0, "a\nb\n")
        result = await conn.run("tty; echo $TERM; whoami; sudo -n whoami")
        assert result.stdout == "not a tty\n\nazureuser\nroot\n"


async def test_the_disk_inspection_is_one_exec(sim: Simulator) -> None:
    found = endpoint(sim, "vmss-web", "2")
    guest = sim.world.guest_for(found["instance"])
    guest.attach(0, 64, disk_name="vmss-web_disk0")
    guest.attach(1, 32, disk_name="vmss-web_disk1")
    guest.prepare(0)
    command = ("lsblk -J -b -o NAME,KNAME,PATH,PKNAME,TYPE,SIZE,FSTYPE,UUID,MOUNTPOINTS,HCTL; echo ::; df -B1 -P; "
               "echo ::; ls -l /dev/disk/azure/scsi1; echo ::; cat /etc/fstab")
    async with await connect(target(sim, "vmss-web", "2"), key=sim.ssh_client_key_path) as conn:
        result = await conn.run(command)
    assert result.exit_status == 0 and result.stderr == ""
    lsblk, df, links, fstab = result.stdout.split("::\n")
    tree = {d["name"]: d for d in json.loads(lsblk)["blockdevices"]}
    assert tree["sdc"]["hctl"] == "1:0:0:0" and tree["sdc"]["children"][0]["mountpoints"] == ["/datadisks/lun0"]
    assert tree["sdd"]["hctl"] == "1:0:0:1" and "children" not in tree["sdd"] and tree["sdd"]["fstype"] is None
    assert "/dev/sdc1" in df and "/datadisks/lun0" in df
    assert "lun0 -> ../../../sdc" in links and "lun1 -> ../../../sdd" in links
    assert f"UUID={tree['sdc']['children'][0]['uuid']} /datadisks/lun0 ext4 defaults,nofail 0 2" in fstab


async def test_an_operator_session_in_a_pty(sim: Simulator) -> None:
    guest = sim.world.guest_for(endpoint(sim, "vmss-web", "1")["instance"])
    guest.attach(0, 128, disk_name="vmss-web_disk0")
    async with await connect(target(sim, "vmss-web", "1"), key=sim.ssh_client_key_path) as conn:
        screen = await open_screen(conn)
        assert "Welcome to Ubuntu 22.04.5 LTS" in screen.text and "simulated" in screen.text
        prompt = "azureuser@vmss-web000001:~$ "
        assert screen.text.endswith(prompt)
        shown = await screen.type("sudo fdisk -l\r", then=prompt)
        assert shown.startswith("sudo fdisk -l\r\nDisk /dev/sda: 30 GiB, 32212254720 bytes, 62914560 sectors\r\n")
        assert "Disk /dev/sdc: 128 GiB, 137438953472 bytes, 268435456 sectors\r\n" in shown
        shown = await screen.type("df -h\r", then=prompt)
        assert "Filesystem      Size  Used Avail Use% Mounted on\r\n/dev/root        29G" in shown
        shown = await screen.type("lsblk\r", then=prompt)
        assert "sdc       8:32   0  128G  0 disk \r\n" in shown
        shown = await screen.type("fdisk -l /dev/sdc\r", then=prompt)
        assert "fdisk: cannot open /dev/sdc: Permission denied\r\n" in shown
        shown = await screen.type("stty size\r", then=prompt)
        assert "30 100\r\n" in shown
        screen.process.change_terminal_size(132, 43)
        for _ in range(200):  # the window change travels on its own; ask until the guest has it
            if "43 132" in await screen.type("stty size\r", then=prompt):
                break
        else:
            raise AssertionError("the new window size never reached the guest")
        await screen.type("exit 5\r", then="logout")
        await screen.process.wait()
        assert screen.process.exit_status == 5


async def test_line_editing_history_and_ctrl_c(sim: Simulator) -> None:
    async with await connect(target(sim, "vmss-web", "1"), key=sim.ssh_client_key_path) as conn:
        screen = await open_screen(conn)
        prompt = "azureuser@vmss-web000001:~$ "
        # typo, three left arrows, backspace, the right letter, Enter
        await screen.type("echo hxllo\x1b[D\x1b[D\x1b[D\x7fe\r", then=f"\r\nhello\r\n{prompt}")
        await screen.type("\x1b[A\r", then=f"\r\nhello\r\n{prompt}")  # up: the last line again
        shown = await screen.type("echo gone\x15echo kept\r", then=f"\r\nkept\r\n{prompt}")  # Ctrl-U
        assert "\r\ngone" not in shown
        await screen.type("cat\r", then="cat\r\n")  # cat waits for input from the terminal
        shown = await screen.type("typed\r", then="typed\r\ntyped\r\n")
        assert shown == "typed\r\ntyped\r\n"  # the line discipline's echo, then cat's copy
        await screen.type("\x03", then=prompt)
        shown = await screen.type("echo $?\r", then=prompt)
        assert "\r\n130\r\n" in shown
        await screen.type("half typed\x03", then=prompt)  # Ctrl-C at the prompt drops the line
        shown = await screen.type("for x in a b\rdo echo $x; done\r", then=prompt)
        assert "\r\n> " in shown and "\r\na\r\nb\r\n" in shown
        shown = await screen.type("sudo -i\r", then="root@vmss-web000001:~# ")
        shown = await screen.type("whoami; exit\r", then=prompt)
        assert "root\r\nlogout\r\n" in shown
        screen.process.stdin.write("\x04")  # Ctrl-D on an empty line logs out
        await asyncio.wait_for(screen.process.wait(), 10)
        assert screen.text.endswith("logout\r\n")


def host_files() -> dict[str, bytes]:
    return {p: Path(p).read_bytes() for p in ("/etc/passwd", "/etc/hostname", "/etc/fstab") if os.path.exists(p)}


async def test_nothing_typed_in_the_guest_reaches_the_host(sim: Simulator) -> None:
    before = host_files()
    async with await connect(target(sim, "vmss-api", "1"), key=sim.ssh_client_key_path) as conn:
        result = await conn.run("rm -rf /; echo x > /etc/passwd; echo owned | sudo tee /etc/passwd >/dev/null; "
                                "cat /etc/hostname; sudo wipefs -a /dev/sda; sudo mkfs.ext4 -F /dev/sdb1 >/dev/null")
        assert "vmss-api000001\n" in result.stdout
        assert "rm: it is dangerous to operate recursively on '/'" in result.stderr
        assert "bash: line 1: /etc/passwd: Permission denied" in result.stderr
        assert (await conn.run("cat /etc/passwd")).stdout == "owned\n"  # the guest's file changed
    assert host_files() == before


async def test_reboot_in_the_guest_ends_the_session(sim: Simulator) -> None:
    found = endpoint(sim, "vmss-web", "1")
    guest = sim.world.guest_for(found["instance"])
    booted = guest.boot_time
    async with await connect(target(sim, "vmss-web", "1"), key=sim.ssh_client_key_path) as conn:
        screen = await open_screen(conn)
        screen.process.stdin.write("sudo reboot\r")
        await asyncio.wait_for(conn.wait_closed(), 10)
    assert guest.boot_time >= booted and guest.boot_error is None


async def test_a_guest_in_emergency_mode_has_no_sshd(sim: Simulator) -> None:
    found = endpoint(sim, "vmss-api", "2")
    guest = sim.world.guest_for(found["instance"])
    result = guest.run_script("mkfs.ext4 -q /dev/sdb1 >/dev/null; echo 'UUID=0000-gone /data ext4 defaults 0 2' "
                              ">> /etc/fstab")
    assert result.exit_code == 0
    guest.reboot()
    assert guest.boot_error is not None
    sim.ssh.request_reconcile()
    await wait_until(lambda: not target(sim, "vmss-api", "2")["listening"])
    with pytest.raises(OSError):
        await connect(target(sim, "vmss-api", "2"), key=sim.ssh_client_key_path)
    guest.reimage()  # a fresh OS disk has the image's fstab
    sim.ssh.request_reconcile()
    await wait_until(lambda: target(sim, "vmss-api", "2")["listening"])


def flexible_topology() -> Any:
    from vmss_tui.sim.topology import (
        DataDiskSpec,
        FrontendSpec,
        LoadBalancerSpec,
        NatRuleV2Spec,
        PublicIpSpec,
        ScaleSetSpec,
        SubnetSpec,
        Topology,
        VnetSpec,
    )

    rg = "rg-flex"
    return Topology(
        vnets=[VnetSpec("vnet-flex", rg, "10.5.0.0/16", [SubnetSpec("snet-flex", "10.5.0.0/24")])],
        public_ips=[PublicIpSpec("pip-flex", rg)],
        load_balancers=[LoadBalancerSpec("lb-flex", rg, frontends=[FrontendSpec("fe", public_ip="pip-flex")],
                                         backend_pools=["be"],
                                         nat_rules_v2=[NatRuleV2Spec("NatRule", "fe", "be", 22, 50000, 50099)])],
        scale_sets=[ScaleSetSpec("vmss-flex", rg, capacity=2, orchestration_mode="Flexible", vnet="vnet-flex",
                                 subnet="snet-flex", load_balancer="lb-flex", backend_pool="be",
                                 data_disks=[DataDiskSpec(0, 64), DataDiskSpec(1, 32)])])


async def test_flexible_vms_get_ssh_with_their_data_disks(tmp_path: Path) -> None:
    flex = Simulator(topology=flexible_topology(), speed=200, ssh=True, ssh_user_home=tmp_path, ssh_agent=False)
    await flex.start()
    try:
        targets = [t for t in flex.ssh_targets() if t["scale_set"] == "vmss-flex"]
        assert len(targets) == 2 and {t["port"] for t in targets} == {50000, 50001}
        await wait_until(lambda: all(t["listening"] for t in flex.ssh_targets()))
        for t in targets:
            async with await connect(t, key=flex.ssh_client_key_path) as conn:
                result = await conn.run("hostname; ls /dev/disk/azure/scsi1; lsblk -dno NAME,SIZE /dev/sdc /dev/sdd")
                assert result.stdout == f"{t['computer_name']}\nlun0\nlun1\nsdc    64G\nsdd    32G\n"
    finally:
        await flex.stop()


async def test_an_endless_loop_leaves_the_simulator_responsive_and_ctrl_c_stops_it(sim: Simulator) -> None:
    async with await connect(target(sim, "vmss-web", "1"), key=sim.ssh_client_key_path) as conn:
        screen = await open_screen(conn)
        prompt = "azureuser@vmss-web000001:~$ "
        await screen.type("while true; do echo y; done\r", then="y\r\ny\r\ny\r\n")
        async with await connect(target(sim, "vmss-web", "2"), key=sim.ssh_client_key_path) as other:
            assert (await other.run("hostname")).stdout == "vmss-web000002\n"  # served meanwhile
        mark = len(screen.text)
        screen.process.stdin.write("\x03")
        await screen.until("^C\r\n" + prompt, mark)
        shown = await screen.type("echo $?\r", then=prompt)
        assert "\r\n130\r\n" in shown
