"""Guest inspection and health checks over SSH against a real OpenSSH server, whose sessions see
loop devices set up as Azure data disks (tests/ssh/guest_lab.py), through the SSH tab's own
connection, authentication and host-key code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncssh

from tests.ssh.guest_lab import GuestLab
from tests.support.ssh import authorize_encrypted_key, settings_for, sshd_fixture  # noqa: F401 (fixtures)
from tests.support.sshd import ThrowawaySshd, free_port
from vmss_tui.domain.disk_prepare import make_plan, prepare_script
from vmss_tui.domain.disks import (
    KIND_DATA,
    STATE_EMPTY,
    STATE_FORMATTED,
    STATE_MOUNTED,
    join_disks,
)
from vmss_tui.domain.models import DiskInfo, Instance, NatMapping, NatResolution, ScaleSet
from vmss_tui.domain.ssh_target import SshTarget
from vmss_tui.ssh.guest import (
    NOT_RUNNING,
    UNREADABLE,
    hint_for,
    inspect_guest,
    inspect_instance,
    run_check_command,
)
from vmss_tui.ssh.known_hosts import HostKeyStatus, KnownHosts
from vmss_tui.ssh.session import FailureKind


def target(port: int, user: str, host: str = "127.0.0.1") -> SshTarget:
    return SshTarget(host=host, port=port, username=user, label=f"vmss-data/0 {host}:{port}", scale_set="vmss-data",
                     instance_id="0")


def instance(luns: tuple[int, ...], power_state: str = "running") -> Instance:
    return Instance(
        id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-data/virtualMachines/0",
        scale_set="vmss-data", resource_group="rg", instance_id="0", name="vmss-data_0", computer_name="vmssdata000000",
        power_state=power_state, provisioning_state="Succeeded", latest_model=True,
        data_disks=tuple(DiskInfo(name=f"disk{lun}", lun=lun, size_gb=None, sku="Premium_LRS", caching="None",
                                  create_option="Empty") for lun in luns),
    )


def scale_set() -> ScaleSet:
    return ScaleSet(
        id="/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-data",
        name="vmss-data", resource_group="rg", subscription_id="s", location="westeurope", sku="Standard_B2s",
        capacity=1, upgrade_mode="Manual", orchestration_mode="Uniform", provisioning_state="Succeeded",
        admin_username="azureuser",
    )


async def test_inspection_of_a_real_guest_with_loop_disks(guest_lab: GuestLab, lab_sshd: ThrowawaySshd,
                                                          tmp_path: Path) -> None:
    empty = guest_lab.add_disk(0, 64)
    prepared = guest_lab.add_disk(1, 64)
    whole = guest_lab.add_disk(2, 64, link="by-lun")
    guest_lab.run("sh", input=prepare_script(make_plan([1], mount_template=guest_lab.mount_template)), check=True)
    guest_lab.run(f"mkfs.ext4 -q {whole}", check=True)

    settings = settings_for(lab_sshd, tmp_path)
    inspection = await inspect_guest(target(lab_sshd.port, lab_sshd.user), settings, accept_new=True)
    assert inspection.view is not None, inspection.reason
    rows = {r.lun: r for r in join_disks(instance((0, 1, 2)), inspection.view) if r.kind == KIND_DATA}
    assert (rows[0].guest_device, rows[0].state) == (empty, STATE_EMPTY)
    assert (rows[1].guest_device, rows[1].state, rows[1].fstype) == (prepared, STATE_MOUNTED, "ext4")
    assert rows[1].mountpoint == f"{guest_lab.mount_root}/lun1"
    assert (rows[1].in_fstab, rows[1].fstab_nofail) == (True, True)
    assert rows[1].used_bytes is not None and rows[1].avail_bytes is not None
    assert (rows[2].guest_device, rows[2].state, rows[2].fstype) == (whole, STATE_FORMATTED, "ext4")


async def test_unknown_host_key_is_refused_unless_accept_new_and_a_changed_one_always(
    sshd: ThrowawaySshd, tmp_path: Path
) -> None:
    settings = settings_for(sshd, tmp_path)
    where = target(sshd.port, sshd.user)
    refused = await inspect_guest(where, settings)
    assert refused.view is None and refused.kind == FailureKind.HOST_KEY_UNKNOWN
    assert refused.reason == (
        f"host key of [127.0.0.1]:{sshd.port} is not known yet: ssh-ed25519 "
        f"{sshd.host_public_key().get_fingerprint('sha256')}"
    )
    assert hint_for(refused.kind) and "--accept-new" in (hint_for(refused.kind) or "")
    known = KnownHosts(settings.known_hosts)
    assert known.keys_for("127.0.0.1", sshd.port) == []  # nothing saved without --accept-new

    accepted = await inspect_guest(where, settings, accept_new=True)
    assert accepted.view is not None, accepted.reason
    assert known.check("127.0.0.1", sshd.port, sshd.host_public_key()).status is HostKeyStatus.TRUSTED

    await sshd.restart(new_host_key=True)  # as a reimage does
    changed = await inspect_guest(where, settings, accept_new=True)
    assert changed.view is None and changed.kind == FailureKind.HOST_KEY_CHANGED
    assert changed.reason is not None and changed.reason.startswith(f"HOST KEY CHANGED for [127.0.0.1]:{sshd.port}")
    assert known.check("127.0.0.1", sshd.port, sshd.host_public_key()).status is HostKeyStatus.CHANGED


async def test_auth_failure_names_the_key_tried_and_how_to_give_one(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(stranger))
    stranger.chmod(0o600)
    settings = settings_for(sshd, tmp_path, identity_file=str(stranger))
    result = await inspect_guest(target(sshd.port, sshd.user), settings, accept_new=True)
    assert result.kind == FailureKind.AUTH
    assert result.reason == (
        f"authentication failed for {sshd.user}@127.0.0.1:{sshd.port} (tried {stranger}); "
        "give the right key with -i PATH or [ssh] identity_file in the config"
    )

    nothing = settings_for(sshd, tmp_path, identity_file=None)
    result = await inspect_guest(target(sshd.port, sshd.user), nothing, accept_new=True)
    assert result.kind == FailureKind.AUTH
    assert "(tried nothing: no ssh-agent keys and no key files)" in (result.reason or "")


async def test_refused_and_stopped(tmp_path: Path) -> None:
    port = free_port()
    settings = settings_for(ThrowawaySshd(tmp_path / "unused"), tmp_path)
    refused = await inspect_guest(target(port, "azureuser"), settings)
    assert refused.kind == FailureKind.REFUSED and "refused the connection" in (refused.reason or "")

    mapping = NatMapping(scale_set="vmss-data", resource_group="rg", instance_id="0", protocol="Tcp", backend_port=22,
                         frontend_ip="127.0.0.1", frontend_port=port, load_balancer="lb", rule="ssh", kind="pool")
    stopped = await inspect_instance(scale_set(), instance((0,), power_state="deallocated"),
                                     NatResolution(mappings=(mapping,)), settings)
    assert (stopped.kind, stopped.reason) == (NOT_RUNNING, "instance vmss-data/0 is deallocated: start it to connect")
    assert hint_for(stopped.kind) == "start the instance"
    no_mapping = await inspect_instance(scale_set(), instance((0,)), NatResolution(notes=("no load balancer",)),
                                        settings)
    assert no_mapping.view is None and "no load balancer" in (no_mapping.reason or "")


async def test_a_guest_without_lsblk_output_is_unreadable(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    # A forced command stands in for a guest whose shell runs something else entirely.
    (sshd.workdir / "authorized_keys").write_text(
        'command="echo not a linux shell; echo oops >&2" ' + (sshd.workdir / "client_ed25519.pub").read_text()
    )
    result = await inspect_guest(target(sshd.port, sshd.user), settings_for(sshd, tmp_path), accept_new=True)
    assert result.kind == UNREADABLE and result.view is None
    assert result.reason == "the guest printed no lsblk output (is util-linux installed?) (oops)"


async def test_health_check_command(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    settings = settings_for(sshd, tmp_path)
    where = target(sshd.port, sshd.user)
    passed = await run_check_command(where, settings, "echo healthy", accept_new=True)
    assert (passed.passed, passed.exit_status, passed.stdout, passed.reason) == (True, 0, "healthy\n", None)
    failed = await run_check_command(where, settings, "echo 'HTTP 503 from /health' >&2; exit 3")
    assert (failed.passed, failed.exit_status, failed.reason) == (False, 3, "exit status 3: HTTP 503 from /health")
    slow = await run_check_command(where, settings, "sleep 30", time_limit=0.5)
    assert slow.exit_status is None and "did not finish within 0.5 s" in (slow.reason or "")
    unknown = await run_check_command(target(sshd.port, sshd.user, host="localhost"), settings, "true")
    assert not unknown.passed and "is not known yet" in (unknown.reason or "")


async def test_inspections_run_side_by_side(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    settings = settings_for(sshd, tmp_path)
    where = target(sshd.port, sshd.user)
    first = await inspect_guest(where, settings, accept_new=True)
    assert first.view is not None
    results = await asyncio.gather(*(inspect_guest(where, settings) for _ in range(6)))
    assert all(r.view is not None for r in results), [r.reason for r in results]


async def test_an_encrypted_key_is_not_asked_for_when_nobody_watches(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    key_path = tmp_path / "encrypted"
    authorize_encrypted_key(sshd, key_path, "a passphrase nobody types here")
    result = await inspect_guest(target(sshd.port, sshd.user), settings_for(sshd, tmp_path, identity_file=str(key_path)),
                                 accept_new=True)
    assert result.kind == FailureKind.AUTH
    assert f"key {key_path} needs its passphrase, which is not asked here (add it to ssh-agent)" in (result.reason or "")
