"""NSG verdicts for inbound traffic to NAT backend ports (pure domain logic)."""

from __future__ import annotations

import pytest

from vmss_tui.domain.models import NetworkSecurityGroup, SecurityRule
from vmss_tui.domain.nsg import (
    DEFAULT_INBOUND_RULES,
    InboundPath,
    NsgLayer,
    inbound_verdict,
    open_management_ports,
    port_in_ranges,
)

NSG_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/"


def rule(name: str, priority: int, ports: str | tuple[str, ...], sources: str | tuple[str, ...] = "*",
         access: str = "Allow", protocol: str = "Tcp", direction: str = "Inbound") -> SecurityRule:
    ports = (ports,) if isinstance(ports, str) else ports
    sources = (sources,) if isinstance(sources, str) else sources
    return SecurityRule(name, priority, direction, access, protocol, sources, ports)


def layer(name: str, *rules: SecurityRule, where: str = "NIC", defaults: bool = True) -> NsgLayer:
    all_rules = rules + (DEFAULT_INBOUND_RULES if defaults else ())
    return NsgLayer(where, NSG_ID + name, NetworkSecurityGroup(NSG_ID + name, name, all_rules))


def ssh(**kw) -> InboundPath:
    return InboundPath("Tcp", 22, **kw)


@pytest.mark.parametrize(
    ("port", "ranges", "expected"),
    [
        (22, ("22",), True), (23, ("22",), False), (25, ("20-30",), True), (31, ("20-30",), False),
        (3389, ("*",), True), (443, ("80", "443"), True), (8080, ("80", "443"), False),
        (22, ("abc", "x-y"), False), (22, ("22,80",), True), (22, (), False),
    ],
)
def test_port_ranges(port: int, ranges: tuple[str, ...], expected: bool) -> None:
    assert port_in_ranges(port, ranges) is expected


def test_default_rules_block_internet_clients() -> None:
    verdict = inbound_verdict(ssh(), [layer("nsg")])
    assert verdict.allowed is False
    assert (verdict.nsg, verdict.rule) == ("nsg", "DenyAllInBound")
    assert verdict.label == "blocked (DenyAllInBound)"


def test_default_rules_admit_the_virtual_network_through_an_internal_frontend() -> None:
    verdict = inbound_verdict(ssh(public_frontend=False), [layer("nsg")])
    assert verdict.allowed is True
    assert (verdict.rule, verdict.sources, verdict.open_to_any) == ("AllowVnetInBound", ("VirtualNetwork",), False)


def test_defaults_are_assumed_when_the_payload_has_none() -> None:
    verdict = inbound_verdict(ssh(), [layer("bare", rule("allow-http", 100, "80"), defaults=False)])
    assert (verdict.allowed, verdict.rule) == (False, "DenyAllInBound")


def test_allow_any_source_is_open_to_any() -> None:
    verdict = inbound_verdict(ssh(), [layer("nsg-web", rule("allow-ssh-anywhere", 100, "22", "*"))])
    assert verdict.allowed is True and verdict.open_to_any is True
    assert (verdict.nsg, verdict.rule, verdict.sources) == ("nsg-web", "allow-ssh-anywhere", ("*",))
    assert verdict.label == "allowed from * (OPEN)"


@pytest.mark.parametrize("source", ["Internet", "0.0.0.0/0", "Any", "*"])
def test_any_source_spellings(source: str) -> None:
    verdict = inbound_verdict(ssh(), [layer("nsg", rule("open", 100, "22", source))])
    assert verdict.open_to_any is True


def test_specific_source_is_reported_as_such() -> None:
    verdict = inbound_verdict(ssh(), [layer("nsg", rule("allow-ssh-corp", 100, "22", ("10.0.0.0/8",)))])
    assert verdict.allowed is True and verdict.open_to_any is False
    assert (verdict.rule, verdict.sources) == ("allow-ssh-corp", ("10.0.0.0/8",))
    assert verdict.label == "allowed from 10.0.0.0/8"


def test_virtual_network_only_rule_does_not_admit_internet_clients() -> None:
    verdict = inbound_verdict(ssh(), [layer("nsg", rule("allow-ssh-vnet", 100, "22", "VirtualNetwork"))])
    assert (verdict.allowed, verdict.rule) == (False, "DenyAllInBound")


def test_priority_decides_deny_before_allow() -> None:
    nsg = layer("nsg", rule("open", 200, "22"), rule("deny-ssh", 100, "22", access="Deny"))
    verdict = inbound_verdict(ssh(), [nsg])
    assert (verdict.allowed, verdict.rule) == (False, "deny-ssh")


def test_specific_allow_survives_a_later_any_deny_and_later_any_allow_opens() -> None:
    nsg = layer("nsg", rule("corp", 100, "22", "10.0.0.0/8"), rule("deny", 200, "22", access="Deny"),
                rule("open", 300, "22"))
    verdict = inbound_verdict(ssh(), [nsg])
    assert (verdict.allowed, verdict.rule, verdict.sources, verdict.open_to_any) == (True, "corp", ("10.0.0.0/8",), False)
    opened = inbound_verdict(ssh(), [layer("nsg", rule("corp", 100, "22", "10.0.0.0/8"), rule("open", 300, "20-30"))])
    assert (opened.rule, opened.open_to_any) == ("open", True)


def test_protocol_and_port_must_match() -> None:
    nsg = layer("nsg", rule("udp-ssh", 100, "22", protocol="Udp"), rule("ssh-range", 110, ("2000-3000", "22")))
    verdict = inbound_verdict(ssh(), [nsg])
    assert verdict.rule == "ssh-range"
    udp = inbound_verdict(InboundPath("Udp", 22), [nsg])
    assert udp.rule == "udp-ssh"
    rdp = inbound_verdict(InboundPath("Tcp", 3389), [nsg])
    assert rdp.allowed is False


def test_outbound_rules_are_ignored() -> None:
    verdict = inbound_verdict(ssh(), [layer("nsg", rule("out", 100, "22", direction="Outbound"))])
    assert verdict.allowed is False


def test_both_nsgs_must_allow() -> None:
    subnet = layer("nsg-snet", rule("deny-ssh", 100, "22", access="Deny"), where="subnet")
    nic = layer("nsg-nic", rule("open", 100, "22"))
    verdict = inbound_verdict(ssh(), [subnet, nic])
    assert (verdict.allowed, verdict.nsg, verdict.rule) == (False, "nsg-snet", "deny-ssh")
    assert "subnet" in verdict.reason


def test_sources_allowed_by_both_are_intersected() -> None:
    subnet = layer("nsg-snet", rule("corp", 100, "22", "10.0.0.0/8"), where="subnet")
    nic = layer("nsg-nic", rule("team", 100, "22", ("10.1.0.0/16", "192.168.0.0/16")))
    verdict = inbound_verdict(ssh(), [subnet, nic])
    assert verdict.allowed is True and verdict.sources == ("10.1.0.0/16",)
    assert verdict.open_to_any is False and verdict.nsg == "nsg-nic"

    open_subnet = layer("nsg-snet", rule("open", 100, "22"), where="subnet")
    verdict = inbound_verdict(ssh(), [open_subnet, nic])
    assert verdict.sources == ("10.1.0.0/16", "192.168.0.0/16") and verdict.rule == "team"

    disjoint = layer("nsg-snet", rule("other", 100, "22", "172.16.0.0/12"), where="subnet")
    verdict = inbound_verdict(ssh(), [disjoint, nic])
    assert verdict.allowed is False and "no source" in verdict.reason


def test_open_only_when_both_are_open() -> None:
    subnet = layer("nsg-snet", rule("open", 100, "22"), where="subnet")
    nic = layer("nsg-nic", rule("open-too", 100, "22", "Internet"))
    verdict = inbound_verdict(ssh(), [subnet, nic])
    assert verdict.open_to_any is True and verdict.rule == "open-too"


def test_unreadable_nsg_makes_the_verdict_unknown_unless_another_blocks() -> None:
    unreadable = NsgLayer("NIC", NSG_ID + "secret", None)
    verdict = inbound_verdict(ssh(), [layer("nsg-snet", rule("open", 100, "22"), where="subnet"), unreadable])
    assert verdict.allowed is None and verdict.label == "unknown" and verdict.nsg == "secret"
    blocked = inbound_verdict(ssh(), [layer("nsg-snet", where="subnet"), unreadable])
    assert blocked.allowed is False


def test_no_nsg_at_all() -> None:
    basic = inbound_verdict(ssh(standard_lb=False), [])
    assert basic.allowed is True and basic.open_to_any is True and basic.rule is None
    standard = inbound_verdict(ssh(standard_lb=True), [])
    assert standard.allowed is False and "Standard" in standard.reason
    internal = inbound_verdict(ssh(standard_lb=True, public_frontend=False), [])
    assert internal.allowed is True and internal.sources == ("VirtualNetwork",) and not internal.open_to_any


def test_open_management_ports() -> None:
    web = layer("nsg-web", rule("allow-ssh-anywhere", 100, "22"), rule("allow-http", 110, ("80", "443"), "Internet"))
    assert open_management_ports([web]) == (22,)
    both = layer("nsg", rule("mgmt", 100, ("22", "3389"), "Internet"))
    assert open_management_ports([both]) == (22, 3389)
    corp = layer("nsg", rule("corp", 100, "22", "10.0.0.0/8"), rule("all", 200, "*", "*", protocol="*"))
    assert open_management_ports([corp]) == (22, 3389)
    assert open_management_ports([layer("nsg", rule("corp", 100, "22", "10.0.0.0/8"))]) == ()
    assert open_management_ports([]) == ()  # nothing opens a port when there is no rule
    subnet_blocks = layer("snet", where="subnet")
    assert open_management_ports([subnet_blocks, both]) == ()
