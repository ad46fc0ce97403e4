"""NAT mappings and NSG verdicts end to end: simulator -> real SDK -> Fleet -> domain resolution."""

from __future__ import annotations

import asyncio
import time

from vmss_tui.azure.fleet import Fleet
from vmss_tui.domain.models import (
    FRONTEND_PRIVATE,
    FRONTEND_PUBLIC,
    FRONTEND_UNALLOCATED,
    KIND_POOL,
    KIND_RULE_V2,
)
from vmss_tui.sim import (
    FrontendSpec,
    LoadBalancerSpec,
    NatRuleV2Spec,
    NsgSpec,
    PublicIpSpec,
    ScaleSetSpec,
    SecurityRuleSpec,
    SubnetSpec,
    Topology,
    VnetSpec,
)


def table(resolution) -> dict[tuple[str, int], tuple[int, str]]:
    return {(m.instance_id, m.backend_port): (m.frontend_port, m.rule) for m in resolution.mappings}


async def resolve(fleet: Fleet, name: str):
    return await fleet.nat_mappings_for(await fleet.get_scale_set(None, name))


async def test_pool_ports_have_gaps_and_ssh_rdp_pools_coexist(fleet: Fleet, simulator) -> None:
    resolution = await resolve(fleet, "vmss-web")
    # Instances 1,2,4,5 kept their ports; 6 and 7 (created after 0 and 3 were deleted) took the
    # lowest free ones: 50000 and 50003, not 50000 + id.
    assert table(resolution) == {
        ("1", 22): (50001, "natpool-ssh"), ("1", 3389): (50201, "natpool-rdp"),
        ("2", 22): (50002, "natpool-ssh"), ("2", 3389): (50202, "natpool-rdp"),
        ("4", 22): (50004, "natpool-ssh"), ("4", 3389): (50204, "natpool-rdp"),
        ("5", 22): (50005, "natpool-ssh"), ("5", 3389): (50205, "natpool-rdp"),
        ("6", 22): (50000, "natpool-ssh"), ("6", 3389): (50200, "natpool-rdp"),
        ("7", 22): (50003, "natpool-ssh"), ("7", 3389): (50203, "natpool-rdp"),
    }
    assert {m.kind for m in resolution.mappings} == {KIND_POOL}
    assert {m.frontend_state for m in resolution.mappings} == {FRONTEND_PUBLIC}
    (address,) = {m.frontend_ip for m in resolution.mappings}
    assert address is not None and address.startswith(simulator.public_ip_prefix + ".")
    assert {m.load_balancer for m in resolution.mappings} == {"lb-web"}
    assert resolution.notes == ()


async def test_two_scale_sets_share_one_load_balancer(fleet: Fleet) -> None:
    web = await resolve(fleet, "vmss-web")
    api = await resolve(fleet, "vmss-api")
    assert table(api) == {("0", 22): (50400, "natpool-api-ssh"), ("1", 22): (50401, "natpool-api-ssh"),
                          ("2", 22): (50402, "natpool-api-ssh")}
    assert {m.scale_set for m in api.mappings} == {"vmss-api"}
    assert not {(m.frontend_port) for m in api.mappings} & {m.frontend_port for m in web.mappings}
    assert {m.frontend_ip for m in api.mappings} == {m.frontend_ip for m in web.mappings}


async def test_v2_rules_chosen_by_backend_port_when_ssh_is_not_first(fleet: Fleet) -> None:
    resolution = await resolve(fleet, "vmss-batch")
    assert table(resolution) == {
        ("0", 22): (61000, "nat-ssh"), ("0", 8080): (60000, "nat-http-alt"),
        ("1", 22): (61001, "nat-ssh"), ("1", 8080): (60001, "nat-http-alt"),
        ("2", 22): (61002, "nat-ssh"), ("2", 8080): (60002, "nat-http-alt"),
    }
    assert {m.kind for m in resolution.mappings} == {KIND_RULE_V2}


async def test_internal_unallocated_and_no_load_balancer(fleet: Fleet) -> None:
    internal = await resolve(fleet, "vmss-internal")
    assert {(m.frontend_state, m.frontend_ip) for m in internal.mappings} == {(FRONTEND_PRIVATE, "10.2.1.100")}
    assert any("internal load balancer lb-internal" in n for n in internal.notes)

    pending = await resolve(fleet, "vmss-pending")
    assert [(m.instance_id, m.backend_port, m.frontend_port) for m in pending.mappings] == [
        ("0", 3389, 50000), ("1", 3389, 50001)]
    assert {(m.frontend_state, m.frontend_ip, m.endpoint) for m in pending.mappings} == {
        (FRONTEND_UNALLOCATED, None, None)}
    assert any("pip-lb-pending" in n and "no address" in n for n in pending.notes)

    data = await resolve(fleet, "vmss-data")
    assert data.mappings == () and "no load balancer" in data.notes[0]


async def test_nsg_verdicts_of_the_default_topology(fleet: Fleet) -> None:
    web = await resolve(fleet, "vmss-web")
    ssh = [m.nsg for m in web.mappings if m.backend_port == 22]
    assert {(v.allowed, v.nsg, v.rule, v.open_to_any) for v in ssh} == {(True, "nsg-web", "allow-ssh-anywhere", True)}
    rdp = [m.nsg for m in web.mappings if m.backend_port == 3389]
    assert {(v.allowed, v.rule) for v in rdp} == {(False, "DenyAllInBound")}

    batch = await resolve(fleet, "vmss-batch")
    ssh = {m.nsg for m in batch.mappings if m.backend_port == 22}
    # subnet NSG admits 10.0.0.0/8 (its VirtualNetwork rule does not admit internet clients),
    # NIC NSG admits 10.0.0.0/8 and 192.168.0.0/16: both together admit 10.0.0.0/8.
    assert {(v.allowed, v.sources, v.open_to_any, v.nsg) for v in ssh} == {(True, ("10.0.0.0/8",), False, "nsg-batch")}
    http = {m.nsg for m in batch.mappings if m.backend_port == 8080}
    assert {(v.allowed, v.open_to_any) for v in http} == {(True, True)}

    pending = await resolve(fleet, "vmss-pending")
    assert {(m.nsg.allowed, m.nsg.rule, m.nsg.open_to_any) for m in pending.mappings} == {
        (True, "allow-rdp-any", True)}


async def test_management_ports_open_flag(fleet: Fleet) -> None:
    flags = {}
    for scale_set in await fleet.list_scale_sets():
        flags[scale_set.name] = await fleet.management_ports_open(scale_set)
    assert flags == {"vmss-batch": (), "vmss-data": (), "vmss-internal": (), "vmss-pending": (3389,),
                     "vmss-api": (22,), "vmss-web": (22,)}


async def test_management_ports_open_many_reads_each_subnet_and_nsg_once(fleet: Fleet) -> None:
    scale_sets = await fleet.list_scale_sets()
    before = fleet.arm_calls
    many = await fleet.management_ports_open_many(scale_sets)
    calls_many = fleet.arm_calls - before
    subnets: set[str] = set()
    nsgs: set[str] = set()
    for scale_set in scale_sets:
        assert many[scale_set.id] == await fleet.management_ports_open(scale_set)
        subnets.update(c.subnet_id.lower() for n in scale_set.nic_configs for c in n.ip_configs if c.subnet_id)
        nsgs.update(layer.nsg_id.lower() for layer in await fleet.nsg_layers_for(scale_set))
    assert len(many) == len(scale_sets) and any(many.values())
    assert calls_many == len(subnets) + len(nsgs) < fleet.arm_calls - before - calls_many


async def test_management_ports_open_many_unknown_when_an_nsg_is_unreadable(fleet: Fleet, simulator) -> None:
    scale_sets = {s.name: s for s in await fleet.list_scale_sets()}
    web = scale_sets["vmss-web"]
    simulator.forbidden.add(web.nic_configs[0].nsg_id)  # nsg-web: vmss-web and vmss-api
    plain = await fleet.management_ports_open_many(list(scale_sets.values()))
    assert plain[web.id] == () == await fleet.management_ports_open(web)  # as the single call says
    known = await fleet.management_ports_open_many(list(scale_sets.values()), unknown_as_none=True)
    assert known[web.id] is None and known[scale_sets["vmss-api"].id] is None
    assert known[scale_sets["vmss-pending"].id] == (3389,) and known[scale_sets["vmss-batch"].id] == ()


async def test_many_scale_sets_fetch_shared_resources_once(fleet: Fleet) -> None:
    scale_sets = await fleet.list_scale_sets()
    before = fleet.arm_calls
    many = await fleet.nat_mappings_for_many(scale_sets)
    calls_many = fleet.arm_calls - before
    for scale_set in scale_sets:
        single = await fleet.nat_mappings_for(scale_set)
        assert single == many[scale_set.id]
    calls_single = fleet.arm_calls - before - calls_many
    assert calls_many < calls_single


async def test_new_instance_takes_the_lowest_free_port_after_scale_in(fleet: Fleet) -> None:
    web = await fleet.get_scale_set("rg-web-prod", "vmss-web")
    assert (await fleet.run_instance_action(web, "delete", ["6"])).status == "Succeeded"
    assert (await fleet.scale_to(web, 6)).status == "Succeeded"
    deadline = time.monotonic() + 5
    while True:
        resolution = await fleet.nat_mappings_for(web)
        ids = {m.instance_id for m in resolution.mappings}
        if "6" not in ids and len(ids) == 6:
            break
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    (new_id,) = ids - {"1", "2", "4", "5", "7"}
    assert int(new_id) > 7
    # The freed ports (of instance 6) are reused: the lowest free, whatever the new id is.
    assert table(resolution)[(new_id, 22)] == (50000, "natpool-ssh")
    assert table(resolution)[(new_id, 3389)] == (50200, "natpool-rdp")


def shared_v2_topology() -> Topology:
    group = "rg-shared"
    return Topology(
        vnets=[VnetSpec("vnet", group, "10.5.0.0/16", [SubnetSpec("snet", "10.5.0.0/24")])],
        nsgs=[NsgSpec("nsg", group, [SecurityRuleSpec("ssh-office", 100, "22", "203.0.113.0/24")])],
        public_ips=[PublicIpSpec("pip-a", group), PublicIpSpec("pip-b", group)],
        load_balancers=[
            LoadBalancerSpec(
                "lb-shared", group,
                frontends=[FrontendSpec("fe-a", public_ip="pip-a"), FrontendSpec("fe-b", public_ip="pip-b")],
                backend_pools=["bepool"],
                nat_rules_v2=[
                    NatRuleV2Spec("nat-rdp", "fe-a", "bepool", 3389, 40000, 40099),
                    NatRuleV2Spec("nat-ssh", "fe-b", "bepool", 22, 41000, 41099),
                ],
            )
        ],
        scale_sets=[
            ScaleSetSpec("vmss-one", group, capacity=2, vnet="vnet", subnet="snet", nsg="nsg",
                         load_balancer="lb-shared", backend_pool="bepool", overprovision=False),
            ScaleSetSpec("vmss-two", group, capacity=2, vnet="vnet", subnet="snet",
                         load_balancer="lb-shared", backend_pool="bepool", overprovision=False),
        ],
    )


async def test_v2_pool_shared_by_two_scale_sets_and_rule_frontends(start_simulator, open_fleet) -> None:
    sim = await start_simulator(topology=shared_v2_topology(), ssh=False)
    fleet = await open_fleet(sim)
    one = await resolve(fleet, "vmss-one")
    two = await resolve(fleet, "vmss-two")
    assert {m.scale_set for m in one.mappings} == {"vmss-one"}
    assert len(one.mappings) == 4 and len(two.mappings) == 4
    assert not {m.frontend_port for m in one.mappings} & {m.frontend_port for m in two.mappings}
    # Each rule's own frontend: RDP on fe-a, SSH on fe-b (two different public IPs).
    frontends = {(m.backend_port, m.frontend_name) for m in one.mappings}
    assert frontends == {(3389, "fe-a"), (22, "fe-b")}
    ips = {m.backend_port: m.frontend_ip for m in one.mappings}
    assert ips[22] != ips[3389]
    ssh_one = {m.nsg.label for m in one.mappings if m.backend_port == 22}
    assert ssh_one == {"allowed from 203.0.113.0/24"}
    # vmss-two has no NSG at all behind a Standard load balancer: closed.
    assert {m.nsg.allowed for m in two.mappings} == {False}
