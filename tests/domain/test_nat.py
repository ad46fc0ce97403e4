"""NAT mapping resolution (pure domain logic) on hand-built load balancers and scale sets."""

from __future__ import annotations

from vmss_tui.domain.models import (
    FRONTEND_PRIVATE,
    FRONTEND_PUBLIC,
    FRONTEND_UNALLOCATED,
    KIND_POOL,
    KIND_RULE_V2,
    BackendAddress,
    BackendPool,
    Frontend,
    InstanceIpConfig,
    InstanceNic,
    IpConfigModel,
    LoadBalancer,
    NatPool,
    NatRule,
    NicConfigModel,
    NsgVerdict,
    PortMapping,
    ScaleSet,
)
from vmss_tui.domain.nat import load_balancer_ids_of, resolve_nat_mappings
from vmss_tui.domain.nsg import InboundPath

SUB = "/subscriptions/11111111-2222-3333-4444-555555555555"
RG = f"{SUB}/resourceGroups/rg-web"


def vmss_id(name: str) -> str:
    return f"{RG}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"


def lb_id(name: str = "lb") -> str:
    return f"{RG}/providers/Microsoft.Network/loadBalancers/{name}"


def ip_config_id(vmss: str, instance: str, nic: str = "nic", ip: str = "ipconfig1") -> str:
    return f"{vmss_id(vmss)}/virtualMachines/{instance}/networkInterfaces/{nic}/ipConfigurations/{ip}"


def scale_set(name: str, *, pools: tuple[str, ...] = (), nat_pools: tuple[str, ...] = ()) -> ScaleSet:
    ip = IpConfigModel(
        "ipconfig1",
        subnet_id=f"{RG}/providers/Microsoft.Network/virtualNetworks/vnet/subnets/snet",
        primary=True,
        load_balancer_backend_pool_ids=pools,
        load_balancer_nat_pool_ids=nat_pools,
    )
    return ScaleSet(
        id=vmss_id(name), name=name, resource_group="rg-web", subscription_id=SUB.rsplit("/", 1)[1],
        location="westeurope", sku="Standard_B2s", capacity=3, upgrade_mode="Manual",
        orchestration_mode="Uniform", provisioning_state="Succeeded",
        nic_configs=(NicConfigModel("nic", primary=True, ip_configs=(ip,)),),
    )


def nic(vmss: str, instance: str, private_ip: str, *, nat_rules: tuple[str, ...] = (),
        pools: tuple[str, ...] = ()) -> InstanceNic:
    return InstanceNic(
        id=f"{vmss_id(vmss)}/virtualMachines/{instance}/networkInterfaces/nic",
        name="nic", instance_id=instance, primary=True,
        ip_configs=(InstanceIpConfig("ipconfig1", private_ip, primary=True, backend_pool_ids=pools,
                                     nat_rule_ids=nat_rules),),
    )


def frontend(name: str, *, public_ip: str | None = None, allocated: bool = True,
             private_ip: str | None = None, lb: str = "lb") -> Frontend:
    pip_id = f"{RG}/providers/Microsoft.Network/publicIPAddresses/pip-{name}" if public_ip or not allocated else None
    return Frontend(
        id=f"{lb_id(lb)}/frontendIPConfigurations/{name}", name=name, public_ip_id=pip_id,
        private_ip=private_ip, public_ip=public_ip if allocated else None,
    )


def pool(name: str, frontend_name: str, backend_port: int, start: int, end: int, lb: str = "lb") -> NatPool:
    return NatPool(f"{lb_id(lb)}/inboundNatPools/{name}", name, f"{lb_id(lb)}/frontendIPConfigurations/{frontend_name}",
                   "Tcp", start, end, backend_port)


def v1_rule(pool_name: str, vmss: str, instance: str, port: int, backend_port: int, frontend_name: str = "fe",
            lb: str = "lb", *, with_backend: bool = True) -> NatRule:
    return NatRule(
        id=f"{lb_id(lb)}/inboundNatRules/{pool_name}.{instance}", name=f"{pool_name}.{instance}",
        frontend_id=f"{lb_id(lb)}/frontendIPConfigurations/{frontend_name}", protocol="Tcp",
        backend_port=backend_port, frontend_port=port,
        backend_ip_configuration_id=ip_config_id(vmss, instance) if with_backend else None,
    )


def by_key(resolution) -> dict[tuple[str, int], tuple[str | None, int]]:
    return {(m.instance_id, m.backend_port): (m.frontend_ip, m.frontend_port) for m in resolution.mappings}


def test_pool_ports_follow_the_rules_not_start_plus_instance_id() -> None:
    # Instances 1, 2, 4 after overprovisioning: the platform gave them the lowest free ports.
    rules = (v1_rule("ssh", "web", "1", 50000, 22), v1_rule("ssh", "web", "2", 50001, 22),
             v1_rule("ssh", "web", "4", 50003, 22))
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Standard", frontends=(frontend("fe", public_ip="20.1.2.3"),),
                      nat_pools=(pool("ssh", "fe", 22, 50000, 50099),), nat_rules=rules)
    ss = scale_set("web", nat_pools=(f"{lb_id()}/inboundNatPools/ssh",))
    resolution = resolve_nat_mappings(ss, [], [lb])
    assert by_key(resolution) == {("1", 22): ("20.1.2.3", 50000), ("2", 22): ("20.1.2.3", 50001),
                                  ("4", 22): ("20.1.2.3", 50003)}
    assert {m.kind for m in resolution.mappings} == {KIND_POOL}
    assert {m.rule for m in resolution.mappings} == {"ssh"}
    assert [m.instance_rule for m in resolution.mappings] == ["ssh.1", "ssh.2", "ssh.4"]
    assert resolution.notes == ()


def test_ssh_and_rdp_pools_on_one_scale_set_do_not_overwrite_each_other() -> None:
    rules = []
    for index, instance in enumerate(("0", "3")):
        rules.append(v1_rule("ssh", "web", instance, 50000 + index, 22))
        rules.append(v1_rule("rdp", "web", instance, 50200 + index, 3389))
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Standard", frontends=(frontend("fe", public_ip="20.1.2.3"),),
                      nat_pools=(pool("ssh", "fe", 22, 50000, 50099), pool("rdp", "fe", 3389, 50200, 50299)),
                      nat_rules=tuple(rules))
    resolution = resolve_nat_mappings(scale_set("web"), [], [lb])
    assert by_key(resolution) == {
        ("0", 22): ("20.1.2.3", 50000), ("0", 3389): ("20.1.2.3", 50200),
        ("3", 22): ("20.1.2.3", 50001), ("3", 3389): ("20.1.2.3", 50201),
    }
    assert [(m.instance_id, m.backend_port, m.rule) for m in resolution.mappings] == [
        ("0", 22, "ssh"), ("0", 3389, "rdp"), ("3", 22, "ssh"), ("3", 3389, "rdp")]


def test_two_scale_sets_sharing_a_load_balancer_each_see_only_their_rules() -> None:
    rules = (v1_rule("web-ssh", "web", "0", 50000, 22), v1_rule("web-ssh", "web", "1", 50001, 22),
             v1_rule("api-ssh", "api", "0", 50400, 22), v1_rule("api-ssh", "api", "1", 50401, 22))
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Standard", frontends=(frontend("fe", public_ip="20.1.2.3"),),
                      nat_pools=(pool("web-ssh", "fe", 22, 50000, 50099), pool("api-ssh", "fe", 22, 50400, 50499)),
                      nat_rules=rules)
    web = resolve_nat_mappings(scale_set("web"), [], [lb])
    api = resolve_nat_mappings(scale_set("api"), [], [lb])
    assert by_key(web) == {("0", 22): ("20.1.2.3", 50000), ("1", 22): ("20.1.2.3", 50001)}
    assert by_key(api) == {("0", 22): ("20.1.2.3", 50400), ("1", 22): ("20.1.2.3", 50401)}
    assert {m.scale_set for m in api.mappings} == {"api"}


def test_a_scale_set_whose_name_prefixes_another_is_not_confused() -> None:
    rules = (v1_rule("ssh", "web", "0", 50000, 22), v1_rule("ssh2", "web2", "0", 50100, 22))
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Standard", frontends=(frontend("fe", public_ip="20.1.2.3"),),
                      nat_rules=rules)
    assert by_key(resolve_nat_mappings(scale_set("web"), [], [lb])) == {("0", 22): ("20.1.2.3", 50000)}


def test_frontend_is_the_one_the_rule_names_not_the_first() -> None:
    rules = (v1_rule("ssh", "web", "0", 50000, 22, frontend_name="fe-b"),)
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Standard",
                      frontends=(frontend("fe-a", public_ip="20.0.0.1"), frontend("fe-b", public_ip="20.0.0.2")),
                      nat_pools=(pool("ssh", "fe-b", 22, 50000, 50099),), nat_rules=rules)
    (mapping,) = resolve_nat_mappings(scale_set("web"), [], [lb]).mappings
    assert (mapping.frontend_ip, mapping.frontend_name, mapping.endpoint) == ("20.0.0.2", "fe-b", "20.0.0.2:50000")


def test_ids_compare_case_insensitively() -> None:
    rule = v1_rule("ssh", "web", "0", 50000, 22)
    shouting = NatRule(
        id=rule.id, name=rule.name,
        frontend_id=rule.frontend_id.upper(),
        protocol="Tcp", backend_port=22, frontend_port=50000,
        backend_ip_configuration_id=rule.backend_ip_configuration_id.replace("resourceGroups/rg-web",
                                                                             "resourcegroups/RG-WEB"),
    )
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Standard", frontends=(frontend("fe", public_ip="20.1.2.3"),),
                      nat_rules=(shouting,))
    assert by_key(resolve_nat_mappings(scale_set("WEB"), [], [lb])) == {("0", 22): ("20.1.2.3", 50000)}


def test_v1_rule_found_through_the_nic_reference_when_the_rule_lacks_its_backend() -> None:
    rule = v1_rule("ssh", "web", "5", 50002, 22, with_backend=False)
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Standard", frontends=(frontend("fe", public_ip="20.1.2.3"),),
                      nat_rules=(rule,))
    nics = [nic("web", "5", "10.0.0.9", nat_rules=(rule.id.replace("inboundNatRules", "InboundNatRules"),))]
    assert by_key(resolve_nat_mappings(scale_set("web"), nics, [lb])) == {("5", 22): ("20.1.2.3", 50002)}
    # Without the NIC reference, a rule without backend belongs to nobody.
    assert resolve_nat_mappings(scale_set("web"), [], [lb]).mappings == ()


def _v2_lb(addresses: tuple[BackendAddress, ...]) -> LoadBalancer:
    pool_id = f"{lb_id()}/backendAddressPools/be"
    fe_id = f"{lb_id()}/frontendIPConfigurations/fe"
    rules = (
        NatRule(f"{lb_id()}/inboundNatRules/nat-http", "nat-http", fe_id, "Tcp", 8080,
                frontend_port_range_start=60000, frontend_port_range_end=60099, backend_address_pool_id=pool_id),
        NatRule(f"{lb_id()}/inboundNatRules/nat-ssh", "nat-ssh", fe_id, "Tcp", 22,
                frontend_port_range_start=61000, frontend_port_range_end=61099, backend_address_pool_id=pool_id),
    )
    return LoadBalancer(lb_id(), "lb", "rg-web", "Standard", frontends=(frontend("fe", public_ip="20.9.9.9"),),
                        nat_rules=rules, backend_pools=(BackendPool(pool_id, "be", addresses),))


def test_v2_mapping_is_chosen_by_rule_name_and_backend_port_not_first() -> None:
    addresses = (
        BackendAddress("a0", None, ip_config_id("batch", "0"),
                       (PortMapping("nat-http", 60000, 8080), PortMapping("nat-ssh", 61000, 22))),
        BackendAddress("a2", None, ip_config_id("batch", "2"),
                       # the SSH mapping is not first, and a same-named entry for another port is a decoy
                       (PortMapping("nat-http", 60001, 8080), PortMapping("nat-ssh", 61500, 2222),
                        PortMapping("nat-ssh", 61001, 22))),
    )
    resolution = resolve_nat_mappings(scale_set("batch", pools=(f"{lb_id()}/backendAddressPools/be",)), [],
                                      [_v2_lb(addresses)])
    assert by_key(resolution) == {
        ("0", 22): ("20.9.9.9", 61000), ("0", 8080): ("20.9.9.9", 60000),
        ("2", 22): ("20.9.9.9", 61001), ("2", 8080): ("20.9.9.9", 60001),
    }
    assert {m.kind for m in resolution.mappings} == {KIND_RULE_V2}
    ssh = [m for m in resolution.mappings if m.backend_port == 22]
    assert {m.rule for m in ssh} == {"nat-ssh"}
    assert all(m.instance_rule is None for m in resolution.mappings)


def test_v2_address_matched_by_private_ip_and_other_addresses_ignored() -> None:
    addresses = (
        BackendAddress("x", "10.2.0.4", None, (PortMapping("nat-ssh", 61000, 22),)),
        BackendAddress("y", "10.2.0.99", None, (PortMapping("nat-ssh", 61001, 22),)),  # another VM
        BackendAddress("z", None, ip_config_id("other", "0"), (PortMapping("nat-ssh", 61002, 22),)),
    )
    nics = [nic("batch", "7", "10.2.0.4")]
    resolution = resolve_nat_mappings(scale_set("batch"), nics, [_v2_lb(addresses)])
    assert by_key(resolution) == {("7", 22): ("20.9.9.9", 61000)}


def test_v2_rule_without_port_mappings_gives_a_note_not_a_guess() -> None:
    addresses = (BackendAddress("a0", None, ip_config_id("batch", "0"), ()),)
    resolution = resolve_nat_mappings(scale_set("batch"), [], [_v2_lb(addresses)])
    assert resolution.mappings == ()
    assert any("nat-ssh" in note and "no port mapping" in note for note in resolution.notes)


def test_unallocated_public_ip_gives_a_state_and_no_address() -> None:
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Standard",
                      frontends=(frontend("fe", allocated=False),),
                      nat_pools=(pool("rdp", "fe", 3389, 50000, 50099),),
                      nat_rules=(v1_rule("rdp", "web", "0", 50000, 3389),))
    resolution = resolve_nat_mappings(scale_set("web"), [], [lb])
    (mapping,) = resolution.mappings
    assert mapping.frontend_state == FRONTEND_UNALLOCATED
    assert mapping.frontend_ip is None and mapping.endpoint is None
    assert mapping.frontend_port == 50000
    assert any("no address allocated" in note for note in resolution.notes)


def test_internal_load_balancer_gives_the_private_frontend_and_a_note() -> None:
    lb = LoadBalancer(lb_id("lb-int"), "lb-int", "rg-web", "Standard",
                      frontends=(frontend("fe", private_ip="10.2.1.100", lb="lb-int"),),
                      nat_rules=(v1_rule("ssh", "web", "0", 50000, 22, lb="lb-int"),))
    seen: list[InboundPath] = []

    def verdict(path: InboundPath) -> NsgVerdict:
        seen.append(path)
        return NsgVerdict(path.port, path.protocol, True, "nsg", "r", ("VirtualNetwork",))

    resolution = resolve_nat_mappings(scale_set("web"), [], [lb], verdict)
    (mapping,) = resolution.mappings
    assert (mapping.frontend_state, mapping.frontend_ip) == (FRONTEND_PRIVATE, "10.2.1.100")
    assert any("internal load balancer lb-int" in note for note in resolution.notes)
    assert seen == [InboundPath("Tcp", 22, public_frontend=False, standard_lb=True)]
    assert mapping.nsg is not None and mapping.nsg.sources == ("VirtualNetwork",)


def test_no_load_balancer_gives_empty_mappings_and_a_note() -> None:
    resolution = resolve_nat_mappings(scale_set("data"), [nic("data", "0", "10.0.0.4")], [])
    assert resolution.mappings == ()
    assert len(resolution.notes) == 1 and "no load balancer" in resolution.notes[0]


def test_referenced_load_balancer_that_could_not_be_read_is_noted() -> None:
    ss = scale_set("web", nat_pools=(f"{lb_id('gone')}/inboundNatPools/ssh",))
    assert load_balancer_ids_of(ss) == (lb_id("gone"),)
    resolution = resolve_nat_mappings(ss, [], [])
    assert resolution.mappings == ()
    assert resolution.notes == ("load balancer gone could not be read",)


def test_pool_instances_without_a_rule_yet_are_noted() -> None:
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Standard", frontends=(frontend("fe", public_ip="20.1.2.3"),),
                      nat_pools=(pool("ssh", "fe", 22, 50000, 50099),),
                      nat_rules=(v1_rule("ssh", "web", "0", 50000, 22),))
    ss = scale_set("web", nat_pools=(f"{lb_id()}/inboundNatPools/ssh",))
    resolution = resolve_nat_mappings(ss, [nic("web", "0", "10.0.0.4"), nic("web", "9", "10.0.0.5")], [lb])
    assert by_key(resolution) == {("0", 22): ("20.1.2.3", 50000)}
    assert any("instance(s) 9" in note for note in resolution.notes)


def test_public_frontend_is_public_and_verdict_asks_about_standard_lb() -> None:
    lb = LoadBalancer(lb_id(), "lb", "rg-web", "Basic", frontends=(frontend("fe", public_ip="20.1.2.3"),),
                      nat_rules=(v1_rule("ssh", "web", "0", 50000, 22),))
    paths: list[InboundPath] = []
    resolution = resolve_nat_mappings(scale_set("web"), [], [lb], lambda p: paths.append(p) or None)
    assert resolution.mappings[0].frontend_state == FRONTEND_PUBLIC
    assert paths == [InboundPath("Tcp", 22, public_frontend=True, standard_lb=False)]



def test_members_without_port_mappings_are_the_ones_to_query() -> None:
    from dataclasses import replace

    from vmss_tui.domain.nat import port_mapping_queries, with_port_mappings

    pool_id = f"{lb_id()}/backendAddressPools/be"
    listed = BackendAddress("a0", None, ip_config_id("batch", "0"),
                            (PortMapping("nat-http", 60000, 8080), PortMapping("nat-ssh", 61000, 22)))
    half = BackendAddress("a1", None, ip_config_id("batch", "1"), (PortMapping("nat-http", 60001, 8080),))
    lb = _v2_lb((listed, half))
    # Instance 2 is a member only through the pool's backendIPConfigurations; another scale set's
    # member is none of this scale set's business.
    lb = replace(lb, backend_pools=(replace(lb.backend_pools[0], backend_ip_configuration_ids=(
        ip_config_id("batch", "2"), ip_config_id("other", "0"))),))
    batch = scale_set("batch", pools=(pool_id,))
    queries = port_mapping_queries(batch, [], lb)
    assert sorted(q.ip_configuration_id for q in queries) == [ip_config_id("batch", "1"), ip_config_id("batch", "2")]
    assert {(q.pool_id, q.pool_name, q.load_balancer_id) for q in queries} == {(pool_id, "be", lb_id())}
    answers = {q: (PortMapping("nat-http", 60001 + i, 8080), PortMapping("nat-ssh", 61001 + i, 22))
               for i, q in enumerate(sorted(queries, key=lambda q: q.ip_configuration_id))}
    answered = with_port_mappings(lb, answers)
    assert port_mapping_queries(batch, [], answered) == ()
    assert by_key(resolve_nat_mappings(batch, [], [answered])) == {
        ("0", 22): ("20.9.9.9", 61000), ("0", 8080): ("20.9.9.9", 60000),
        ("1", 22): ("20.9.9.9", 61001), ("1", 8080): ("20.9.9.9", 60001),
        ("2", 22): ("20.9.9.9", 61002), ("2", 8080): ("20.9.9.9", 60002),
    }
    # The mapping instance 1 already had is kept once, not twice.
    (a1,) = [a for a in answered.backend_pools[0].addresses if a.name == "a1"]
    assert a1.port_mappings == (PortMapping("nat-http", 60001, 8080), PortMapping("nat-ssh", 61001, 22))
    assert with_port_mappings(lb, {}) is lb
