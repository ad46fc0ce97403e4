"""`vmss-tui get disks`: ARM's disks from the simulator through the real SDK, and with `--guest` each
guest's disks over SSH: here a real OpenSSH server listening on the simulated NAT frontend of an
instance, whose sessions see loop devices set up as that instance's Azure data disks."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ssh.guest_lab import GuestLab, guest_lab_fixture  # noqa: F401 (a fixture)
from tests.support.sshd import SshdUnavailable, ThrowawaySshd
from tests.workflows.disks_topology import RG, disks_topology
from vmss_tui.azure.fleet import ConnectionSettings
from vmss_tui.cli.get import configure_get_parser, run_get
from vmss_tui.cli.get_disks import ARM_FIELDS, GUEST_FIELDS
from vmss_tui.domain.disk_prepare import make_plan, prepare_script
from vmss_tui.sim import Simulator

GIB = 1024**3


def get_disks(capsys: pytest.CaptureFixture[str], sim: Any, *argv: str) -> tuple[int, str, str]:
    """`get disks ...` parsed by the `get` parser of cli/get.py, run as the entry point runs it."""
    parser = argparse.ArgumentParser(prog="vmss-tui get")
    configure_get_parser(parser)
    args = parser.parse_args(["disks", *argv])
    code = run_get(ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id,
                                      polling_interval=0.05), args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def disks_sim() -> Iterator[Simulator]:
    sim = Simulator(disks_topology(), speed=50, ssh=False).start_in_thread()
    try:
        yield sim
    finally:
        sim.stop_thread()


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # known_hosts lives in the user data dir: keep the real one out of reach.
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


def test_arm_rows_of_every_instance(capsys: pytest.CaptureFixture[str], threaded_simulator: Any) -> None:
    code, out, err = get_disks(capsys, threaded_simulator, "--scale-set", "vmss-data", "-o", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert rows and all(list(r) == list(ARM_FIELDS) for r in rows)
    instances = sorted({r["instance_id"] for r in rows})
    assert len(instances) == 2
    for instance_id in instances:
        mine = [r for r in rows if r["instance_id"] == instance_id]
        assert [r["kind"] for r in mine] == ["os"] + ["data"] * (len(mine) - 1)
        assert [r["lun"] for r in mine[1:]] == sorted(r["lun"] for r in mine[1:])
        assert all(r["arm_name"] and r["size_gb"] and r["scale_set"] == "vmss-data" for r in mine)

    code, out, err = get_disks(capsys, threaded_simulator, "--scale-set", "vmss-data", "--instance", instances[1])
    assert code == 0, err
    header, *lines = out.strip().splitlines()
    assert header.split() == ["INSTANCE_ID", "KIND", "LUN", "ARM_NAME", "SIZE_GB", "SKU", "CACHING"]
    assert lines and all(line.split()[0] == instances[1] for line in lines)


def test_bad_requests_are_one_line(capsys: pytest.CaptureFixture[str], threaded_simulator: Any) -> None:
    code, _out, err = get_disks(capsys, threaded_simulator)
    assert code == 2 and err.startswith("vmss-tui: get disks needs --scale-set NAME")
    code, _out, err = get_disks(capsys, threaded_simulator, "--scale-set", "vmss-data", "--accept-new")
    assert code == 2 and "--accept-new only matters with --guest" in err
    from vmss_tui.azure.errors import NotFoundError

    with pytest.raises(NotFoundError) as info:  # the entry point prints it as one line, exit 1
        get_disks(capsys, threaded_simulator, "--scale-set", "vmss-data", "--instance", "99")
    assert info.value.one_line().startswith("instance 99 not found in vmss-data (its instances: ")


def test_the_entry_point_takes_the_get_disks_options() -> None:
    from vmss_tui.cli.entry import UsageError, build_parser

    try:
        args = build_parser().parse_args(["get", "disks", "--scale-set", "x", "--guest", "--accept-new", "-i", "k"])
    except UsageError:
        pytest.skip("cli/entry.py does not build `get` with cli.get.configure_get_parser yet (asked of the lead)")
    assert (args.what, args.guest, args.accept_new, args.identity_file) == ("disks", True, True, "k")


def test_guest_rows_from_a_real_sshd_on_the_nat_frontend(
    capsys: pytest.CaptureFixture[str], disks_sim: Simulator, guest_lab: GuestLab, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sshd runs as the user running the tests (root, for the lab): the config file says so.
    config = tmp_path / "config.toml"
    config.write_text(f'[ssh]\nuser = "{getpass.getuser()}"\n', encoding="utf-8")
    monkeypatch.setenv("VMSS_TUI_CONFIG", str(config))
    endpoint = next(t for t in disks_sim.ssh_targets() if t["scale_set"] == "vmss-disks" and t["instance_id"] == "0")
    guest_lab.add_disk(0, 1024)
    empty = guest_lab.add_disk(1, 1024)
    plan = make_plan([0], mount_template=guest_lab.mount_template)
    guest_lab.run("sh", input=prepare_script(plan), check=True)

    server = ThrowawaySshd(tmp_path / "sshd", host=endpoint["host"], port=endpoint["port"])
    if server._sshd is not None:
        server._sshd = guest_lab.sshd_wrapper()
    loop = asyncio.new_event_loop()
    try:
        try:
            loop.run_until_complete(server.start())
        except SshdUnavailable as exc:
            pytest.skip(f"real OpenSSH server unavailable: {exc}")
        key = ["-i", server.client_key]

        code, out, err = get_disks(capsys, disks_sim, "--scale-set", "vmss-disks", "-g", RG, "--guest", "-o", "json",
                                   *key)
        assert code == 3
        rows = json.loads(out)
        zero = [r for r in rows if r["instance_id"] == "0"]
        assert {r["state"] for r in zero} == {"unreachable"}
        assert "is not known yet" in zero[0]["reason"]
        assert f"vmss-disks/0: host key of [{endpoint['host']}]:{endpoint['port']} is not known yet" in err
        assert "--accept-new to trust it on first use" in err

        code, out, err = get_disks(capsys, disks_sim, "--scale-set", "vmss-disks", "--guest", "--accept-new",
                                   "-o", "json", *key)
        assert code == 3, err  # instance 1 is deallocated
        rows = json.loads(out)
        assert all(list(r)[: len(ARM_FIELDS)] == list(ARM_FIELDS) for r in rows)
        assert all(set(GUEST_FIELDS) <= set(r) for r in rows)
        data = {r["lun"]: r for r in rows if r["instance_id"] == "0" and r["kind"] == "data" and r["arm_name"]}
        assert data[0]["state"] == "mounted" and data[0]["mountpoint"] == f"{guest_lab.mount_root}/lun0"
        assert data[0]["fstype"] == "ext4" and data[0]["in_fstab"] is True and data[0]["fstab_nofail"] is True
        assert data[0]["partitions"] == [{
            "device": f"{guest_lab.devices[0]}p1", "fstype": "ext4", "uuid": data[0]["uuid"],
            "mountpoint": f"{guest_lab.mount_root}/lun0", "size_bytes": data[0]["partitions"][0]["size_bytes"],
        }]
        assert data[0]["size_bytes"] == GIB and data[0]["size_gb"] == 1
        assert data[0]["used_bytes"] > 0 and data[0]["avail_bytes"] > 0
        assert (data[1]["guest_device"], data[1]["state"], data[1]["partitions"]) == (empty, "empty", [])
        assert data[1]["reason"] is None and data[1]["sku"] == "StandardSSD_LRS"
        stopped = [r for r in rows if r["instance_id"] == "1"]
        assert stopped and {r["state"] for r in stopped} == {"unreachable"}
        assert stopped[0]["reason"] == "instance vmss-disks/1 is deallocated: start it to connect"
        assert "vmss-disks/1: instance vmss-disks/1 is deallocated: start it to connect (start the instance)" in err

        code, out, err = get_disks(capsys, disks_sim, "--scale-set", "vmss-disks", "--guest", "--instance", "0",
                                   *key)
        assert code == 0, err
        header, *lines = out.strip().splitlines()
        assert header.split()[:6] == ["INSTANCE_ID", "KIND", "LUN", "ARM_NAME", "SIZE_GB", "GUEST_DEVICE"]
        lun0 = next(line for line in lines if f"{guest_lab.mount_root}/lun0" in line)
        assert " 1.0G " in lun0 and " mounted" in lun0
    finally:
        loop.run_until_complete(server.stop())
        loop.close()


def test_guest_rows_from_the_simulators_guests(capsys: pytest.CaptureFixture[str]) -> None:
    from vmss_tui.sim.topology import InstanceStateSpec

    topology = disks_topology(capacity=2, instance_states={1: InstanceStateSpec(prepared_luns=(0,))})
    sim = Simulator(topology, speed=50, ssh=True).start_in_thread()
    try:
        code, out, err = get_disks(capsys, sim, "--scale-set", "vmss-disks", "--guest", "--accept-new", "-o", "json",
                                   "-i", str(sim.ssh_client_key_path))
    finally:
        sim.stop_thread()
    assert code == 0, err
    rows = json.loads(out)
    states = {(r["instance_id"], r["lun"]): r["state"] for r in rows if r["kind"] == "data"}
    assert states == {("0", 0): "empty", ("0", 1): "empty", ("1", 0): "mounted", ("1", 1): "empty"}
    os_rows = [r for r in rows if r["kind"] == "os"]
    assert [r["mountpoint"] for r in os_rows] == ["/", "/"] and all(r["in_fstab"] for r in os_rows)
    temp = [r for r in rows if r["kind"] == "temp"]
    assert [(r["guest_device"], r["mountpoint"], r["arm_name"]) for r in temp] == [("/dev/sdb", "/mnt", None)] * 2
