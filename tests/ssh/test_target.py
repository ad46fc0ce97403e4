"""Choosing the SSH target of an instance from its NAT mappings (pure), and the settings around it."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmss_tui.domain.models import (
    FRONTEND_PRIVATE,
    FRONTEND_PUBLIC,
    FRONTEND_UNALLOCATED,
    KIND_POOL,
    KIND_RULE_V2,
    Instance,
    NatMapping,
    NatResolution,
    ScaleSet,
)
from vmss_tui.domain.ssh_target import JumpHost, JumpHostError, choose_ssh_target
from vmss_tui.ssh.session import ssh_command
from vmss_tui.ssh.settings import SshSettings, default_known_hosts_path, resolve_target


def scale_set(name: str = "web", admin: str | None = "azureuser") -> ScaleSet:
    return ScaleSet(
        id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/{name}",
        name=name, resource_group="rg", subscription_id="s", location="westeurope", sku="Standard_B2s",
        capacity=2, upgrade_mode="Manual", orchestration_mode="Uniform", provisioning_state="Succeeded",
        admin_username=admin,
    )


def instance(instance_id: str = "3", vmss: str = "web") -> Instance:
    return Instance(
        id=f"/x/{vmss}/virtualMachines/{instance_id}", scale_set=vmss, resource_group="rg",
        instance_id=instance_id, name=f"{vmss}_{instance_id}", computer_name=f"{vmss}00000{instance_id}",
        power_state="running", provisioning_state="Succeeded", latest_model=True,
    )


def mapping(instance_id: str = "3", backend: int = 22, ip: str | None = "20.1.2.3", port: int = 50003,
            state: str = FRONTEND_PUBLIC, vmss: str = "web", lb: str = "lb-web", rule: str = "ssh",
            protocol: str = "Tcp", kind: str = KIND_POOL) -> NatMapping:
    return NatMapping(scale_set=vmss, resource_group="rg", instance_id=instance_id, protocol=protocol,
                      backend_port=backend, frontend_ip=ip, frontend_port=port, load_balancer=lb, rule=rule,
                      kind=kind, frontend_state=state, frontend_name="fe")


def test_public_mapping_of_the_backend_port_is_the_target() -> None:
    resolution = NatResolution(mappings=(
        mapping("3", 3389, port=50203, rule="rdp"),
        mapping("2", 22, port=50002),
        mapping("3", 22, port=50003),
    ))
    choice = choose_ssh_target(scale_set=scale_set(), instance=instance("3"), resolution=resolution)
    assert choice.reason is None
    target = choice.target
    assert target is not None
    assert (target.host, target.port, target.username) == ("20.1.2.3", 50003, "azureuser")
    assert target.jump is None
    assert target.destination == "azureuser@20.1.2.3:50003"
    assert choice.mapping is not None and choice.mapping.rule == "ssh"


def test_configured_user_and_backend_port_win() -> None:
    resolution = NatResolution(mappings=(mapping("3", 22, port=50003), mapping("3", 2222, port=51003, rule="alt")))
    choice = choose_ssh_target(scale_set=scale_set(), instance=instance("3"), resolution=resolution,
                               backend_port=2222, username="ops")
    assert choice.target is not None
    assert (choice.target.port, choice.target.username) == (51003, "ops")


def test_user_falls_back_when_the_scale_set_has_no_admin_user() -> None:
    resolution = NatResolution(mappings=(mapping(),))
    choice = choose_ssh_target(scale_set=scale_set(admin=None), instance=instance(), resolution=resolution,
                               fallback_username="me")
    assert choice.target is not None and choice.target.username == "me"


def test_public_frontend_preferred_over_unallocated_and_private() -> None:
    resolution = NatResolution(mappings=(
        mapping(ip=None, port=50100, state=FRONTEND_UNALLOCATED, lb="lb-a"),
        mapping(ip="10.0.0.9", port=50200, state=FRONTEND_PRIVATE, lb="lb-b"),
        mapping(ip="52.0.0.1", port=50300, lb="lb-c", kind=KIND_RULE_V2),
    ))
    choice = choose_ssh_target(scale_set=scale_set(), instance=instance(), resolution=resolution)
    assert choice.target is not None and (choice.target.host, choice.target.port) == ("52.0.0.1", 50300)


def test_other_scale_set_and_udp_mappings_are_ignored() -> None:
    resolution = NatResolution(mappings=(mapping(vmss="api", port=50009), mapping(protocol="Udp", port=50010)))
    choice = choose_ssh_target(scale_set=scale_set(), instance=instance(), resolution=resolution)
    assert choice.target is None
    assert "no NAT mapping to port 22" in (choice.reason or "")


@pytest.mark.parametrize(
    ("resolution", "expected"),
    [
        (NatResolution(mappings=(mapping(ip="10.0.0.4", port=50003, state=FRONTEND_PRIVATE),)),
         "load balancer lb-web is internal"),
        (NatResolution(mappings=(mapping(ip=None, state=FRONTEND_UNALLOCATED),)), "is not allocated"),
        (NatResolution(mappings=(mapping(backend=3389, port=50203),)), "(mapped: 3389)"),
        (NatResolution(notes=("no load balancer",)), "no load balancer"),
    ],
)
def test_no_public_mapping_says_why_and_offers_the_jump_host(resolution: NatResolution, expected: str) -> None:
    without = choose_ssh_target(scale_set=scale_set(), instance=instance(), resolution=resolution,
                                private_ip="10.1.0.7")
    assert without.target is None
    assert expected in (without.reason or "")
    assert "jump host" in (without.reason or "")
    assert "\n" not in (without.reason or "")

    jump = JumpHost.parse("ops@bastion.example.com:2200")
    via = choose_ssh_target(scale_set=scale_set(), instance=instance(), resolution=resolution,
                            private_ip="10.1.0.7", jump=jump)
    assert via.target is not None
    assert (via.target.host, via.target.port, via.target.jump) == ("10.1.0.7", 22, jump)
    assert expected in (via.reason or "") and via.target.note == via.reason

    no_ip = choose_ssh_target(scale_set=scale_set(), instance=instance(), resolution=resolution, jump=jump)
    assert no_ip.target is None and "private IP" in (no_ip.reason or "")


@pytest.mark.parametrize(
    ("spec", "host", "port", "user", "back"),
    [
        ("bastion", "bastion", 22, None, "bastion"),
        ("ops@bastion:2200", "bastion", 2200, "ops", "ops@bastion:2200"),
        ("ops@10.0.0.1", "10.0.0.1", 22, "ops", "ops@10.0.0.1"),
        ("[fd00::1]:2222", "fd00::1", 2222, None, "[fd00::1]:2222"),
    ],
)
def test_jump_host_spec(spec: str, host: str, port: int, user: str | None, back: str) -> None:
    jump = JumpHost.parse(spec)
    assert (jump.host, jump.port, jump.user) == (host, port, user)
    assert jump.spec == back


@pytest.mark.parametrize("spec", ["", "a b", "user@host:port", "host:70000", "@host"])
def test_bad_jump_host_spec(spec: str) -> None:
    with pytest.raises(JumpHostError):
        JumpHost.parse(spec)


def test_resolve_target_uses_settings_and_reports_a_bad_jump_host(tmp_path: Path) -> None:
    resolution = NatResolution(notes=("no load balancer",))
    good = resolve_target(SshSettings(user="ops", jump_host="bastion:2200", known_hosts=tmp_path / "kh"),
                          scale_set=scale_set(), instance=instance(), resolution=resolution, private_ip="10.1.0.7")
    assert good.target is not None and good.target.username == "ops" and good.target.jump == JumpHost("bastion", 2200)
    bad = resolve_target(SshSettings(jump_host="user@host:port"), scale_set=scale_set(), instance=instance(),
                         resolution=resolution)
    assert bad.target is None and "user@host:port" in (bad.reason or "")


def test_settings_from_the_config_table(tmp_path: Path) -> None:
    class Table:
        user = "ops"
        port = 2222
        identity_file = "~/.ssh/work"
        jump_host = None
        extra = {"connect_timeout": 4, "known_hosts": str(tmp_path / "kh"), "use_agent": False}

    settings = SshSettings.from_config(Table(), user="flag-user")
    assert (settings.user, settings.port, settings.identity_file) == ("flag-user", 2222, "~/.ssh/work")
    assert settings.connect_timeout == 4.0 and settings.known_hosts == tmp_path / "kh" and not settings.use_agent


def test_default_known_hosts_is_the_apps_own_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    path = default_known_hosts_path()
    assert path == tmp_path / "vmss-tui" / "known_hosts"
    assert SshSettings().known_hosts == path


def test_system_ssh_command_line(tmp_path: Path) -> None:
    resolution = NatResolution(mappings=(mapping(),))
    settings = SshSettings(identity_file="/keys/id", known_hosts=tmp_path / "kh")
    target = resolve_target(settings, scale_set=scale_set(), instance=instance(), resolution=resolution).target
    assert target is not None
    assert ssh_command(target, settings) == [
        "ssh", "-p", "50003", "-o", f"UserKnownHostsFile={tmp_path / 'kh'}", "-i", "/keys/id", "azureuser@20.1.2.3"]
    jumped = resolve_target(SshSettings(jump_host="bastion", known_hosts=tmp_path / "kh"), scale_set=scale_set(),
                            instance=instance(), resolution=NatResolution(), private_ip="10.1.0.7").target
    assert jumped is not None
    argv = ssh_command(jumped, SshSettings(known_hosts=tmp_path / "kh"))
    assert argv[-3:] == ["-J", "azureuser@bastion", "azureuser@10.1.0.7"] and argv[1:3] == ["-p", "22"]


def test_one_ranking_with_two_mappings_for_one_instance() -> None:
    from vmss_tui.domain.models import NsgVerdict
    from vmss_tui.domain.ssh_target import ssh_mapping

    blocked = NsgVerdict(port=22, protocol="Tcp", allowed=False, nsg="nsg-a", rule="deny-ssh")
    allowed = NsgVerdict(port=22, protocol="Tcp", allowed=True, nsg="nsg-b", rule="allow-ssh", sources=("*",))
    first = mapping("3", 22, ip="20.1.2.3", port=50003, lb="lb-a", rule="ssh")
    second = mapping("3", 22, ip="20.9.9.9", port=61003, lb="lb-b", rule="ssh-v2", kind=KIND_RULE_V2)
    other_scale_set = mapping("3", 22, ip="20.5.5.5", port=50103, vmss="api", lb="lb-0")
    for order in ((first, second, other_scale_set), (other_scale_set, second, first)):
        resolution = NatResolution(mappings=order)
        chosen = ssh_mapping(resolution, "web", "3")
        target = choose_ssh_target(scale_set=scale_set(), instance=instance("3"), resolution=resolution).target
        assert chosen is not None and target is not None
        assert (chosen.load_balancer, chosen.frontend_port) == ("lb-a", 50003)  # stable: lb, rule, port
        assert (target.host, target.port) == (chosen.frontend_ip, chosen.frontend_port)  # the column is what `s` opens
    from dataclasses import replace

    with_nsg = NatResolution(mappings=(replace(first, nsg=blocked), replace(second, nsg=allowed), other_scale_set))
    chosen = ssh_mapping(with_nsg, "web", "3")
    target = choose_ssh_target(scale_set=scale_set(), instance=instance("3"), resolution=with_nsg).target
    assert chosen is not None and chosen.load_balancer == "lb-b"  # the one no NSG blocks
    assert target is not None and (target.host, target.port) == ("20.9.9.9", 61003)
    assert ssh_mapping(with_nsg, "api", "3") == other_scale_set
    assert ssh_mapping(with_nsg, "web", "4") is None and ssh_mapping(None, "web", "3") is None


@pytest.mark.parametrize("power", ["stopped", "deallocated", "stopping", "deallocating"])
def test_a_stopped_instance_says_so_instead_of_being_tried(power: str) -> None:
    from dataclasses import replace

    resolution = NatResolution(mappings=(mapping("3", 22),))
    choice = choose_ssh_target(scale_set=scale_set(), instance=replace(instance("3"), power_state=power),
                               resolution=resolution)
    assert choice.target is None and choice.not_running == power
    assert choice.reason == f"instance web/3 is {power}: start it to connect"


def test_a_starting_instance_is_still_tried() -> None:
    from dataclasses import replace

    resolution = NatResolution(mappings=(mapping("3", 22),))
    choice = choose_ssh_target(scale_set=scale_set(), instance=replace(instance("3"), power_state="starting"),
                               resolution=resolution)
    assert choice.target is not None and choice.not_running is None
