"""NAT mappings of a scale set: which frontend ip:port reaches which instance's backend port.

Done where `az vmss list-instance-connection-info` goes wrong:
* one mapping per (instance, backend port, protocol) and rule, so SSH and RDP pools on one scale
  set do not overwrite each other;
* the frontend is the one the rule itself names, not frontendIPConfigurations[0];
* NAT pools (V1) are read through the per-instance rules the platform created (`{pool}.{id}`,
  whose backendIPConfiguration is the instance NIC's ip configuration, or which the NIC's ip
  configuration lists); the port is the rule's, never range start + instance id;
* NAT rules V2 are read from the backend pool's per-address `inboundNatRulesPortMapping`,
  matched by rule name AND backend port, never "the first mapping"; where a pool does not list
  them for an instance's ip configuration, `port_mapping_queries` says which to ask the load
  balancer for (queryInboundNatRulePortMapping) and `with_port_mappings` adds the answers;
* only rules reaching this scale set's instances count (two scale sets can share a load balancer);
* an unallocated public IP, an internal load balancer and no load balancer give a state and a note.

A V1 mapping's `rule` is the pool's name (`instance_rule` holds the per-instance rule's name);
a V2 mapping's `rule` is the NAT rule's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from vmss_tui.domain.arm_ids import (
    id_key,
    instance_sort_key,
    load_balancer_id_of,
    name_of,
    parse_vmss_ip_config,
    same_id,
)
from vmss_tui.domain.models import (
    FRONTEND_PRIVATE,
    FRONTEND_PUBLIC,
    FRONTEND_UNALLOCATED,
    KIND_POOL,
    KIND_RULE_V2,
    BackendAddress,
    BackendPool,
    Frontend,
    InstanceNic,
    LoadBalancer,
    NatMapping,
    NatPool,
    NatResolution,
    NatRule,
    PortMapping,
    ScaleSet,
)
from vmss_tui.domain.nsg import InboundPath, NsgVerdictFn


def load_balancer_ids_of(scale_set: ScaleSet, instance_nics: Sequence[InstanceNic] = ()) -> tuple[str, ...]:
    """Ids of the load balancers the scale set's model or its instances' NICs refer to, in order."""
    refs: list[str] = []
    for nic_config in scale_set.nic_configs:
        for ip_config in nic_config.ip_configs:
            refs.extend(ip_config.load_balancer_backend_pool_ids)
            refs.extend(ip_config.load_balancer_nat_pool_ids)
    for nic in instance_nics:
        for ip_config in nic.ip_configs:
            refs.extend(ip_config.backend_pool_ids)
            refs.extend(ip_config.nat_rule_ids)
    seen: dict[str, str] = {}
    for ref in refs:
        lb_id = load_balancer_id_of(ref)
        if lb_id and id_key(lb_id) not in seen:
            seen[id_key(lb_id)] = lb_id
    return tuple(seen.values())


@dataclass(frozen=True, slots=True)
class _Frontend:
    ip: str | None
    state: str
    name: str | None
    note: str | None


def _frontend_of(lb: LoadBalancer, frontend_id: str | None) -> _Frontend:
    frontend: Frontend | None = None
    if frontend_id:
        frontend = next((f for f in lb.frontends if same_id(f.id, frontend_id)), None)
    if frontend is None:
        name = name_of(frontend_id) if frontend_id else None
        return _Frontend(
            None, FRONTEND_UNALLOCATED, name,
            f"load balancer {lb.name}: frontend {name or '(none)'} of a NAT rule was not found",
        )
    if frontend.public_ip_id:
        if frontend.public_ip:
            return _Frontend(frontend.public_ip, FRONTEND_PUBLIC, frontend.name, None)
        return _Frontend(
            None, FRONTEND_UNALLOCATED, frontend.name,
            f"load balancer {lb.name}: public IP {name_of(frontend.public_ip_id)} of frontend "
            f"{frontend.name} has no address allocated yet",
        )
    if frontend.private_ip:
        return _Frontend(
            frontend.private_ip, FRONTEND_PRIVATE, frontend.name,
            f"internal load balancer {lb.name}: frontend {frontend.name} is private ({frontend.private_ip}), "
            "reachable only from its virtual network and networks peered or connected to it",
        )
    return _Frontend(
        None, FRONTEND_UNALLOCATED, frontend.name,
        f"load balancer {lb.name}: frontend {frontend.name} has no address yet",
    )


def _pool_of_rule(lb: LoadBalancer, rule: NatRule) -> NatPool | None:
    """The NAT pool a per-instance V1 rule `{pool}.{instanceId}` was created from."""
    pool_name, dot, suffix = rule.name.rpartition(".")
    if not dot or not suffix:
        return None
    return next((p for p in lb.nat_pools if p.name.casefold() == pool_name.casefold()), None)


class _Resolver:
    def __init__(
        self,
        scale_set: ScaleSet,
        instance_nics: Sequence[InstanceNic],
        nsg_verdict_for: NsgVerdictFn | None,
    ) -> None:
        self.scale_set = scale_set
        self.nsg_verdict_for = nsg_verdict_for
        self.mappings: dict[tuple, NatMapping] = {}
        self.notes: list[str] = []
        # Instance lookup by NIC ip configuration id and by private IP.
        self.instance_by_ip_config: dict[str, str] = {}
        self.instance_by_private_ip: dict[str, str] = {}
        # V1 rules an instance's NIC says it is a backend of: rule id key -> instance id.
        self.instance_by_nat_rule: dict[str, str] = {}
        self.known_instances: set[str] = set()
        for nic in instance_nics:
            self.known_instances.add(nic.instance_id)
            for ip_config in nic.ip_configs:
                ip_config_id = f"{nic.id}/ipConfigurations/{ip_config.name}"
                self.instance_by_ip_config[id_key(ip_config_id)] = nic.instance_id
                if ip_config.private_ip:
                    self.instance_by_private_ip[ip_config.private_ip] = nic.instance_id
                for rule_id in ip_config.nat_rule_ids:
                    self.instance_by_nat_rule[id_key(rule_id)] = nic.instance_id
        self.model_nat_pool_ids = {
            id_key(pool_id)
            for nic_config in scale_set.nic_configs
            for ip_config in nic_config.ip_configs
            for pool_id in ip_config.load_balancer_nat_pool_ids
        }

    def note(self, text: str | None) -> None:
        if text and text not in self.notes:
            self.notes.append(text)

    def instance_of_ip_config(self, ip_config_id: str | None) -> str | None:
        """The instance of this scale set whose NIC ip configuration `ip_config_id` is."""
        if not ip_config_id:
            return None
        known = self.instance_by_ip_config.get(id_key(ip_config_id))
        if known is not None:
            return known
        ref = parse_vmss_ip_config(ip_config_id)
        if ref is not None and same_id(ref.scale_set_id, self.scale_set.id):
            return ref.instance_id
        return None

    def add(self, lb: LoadBalancer, instance_id: str, *, protocol: str, backend_port: int,
            frontend_port: int, frontend_id: str | None, rule: str, kind: str,
            instance_rule: str | None) -> None:
        frontend = _frontend_of(lb, frontend_id)
        self.note(frontend.note)
        verdict = None
        if self.nsg_verdict_for is not None:
            path = InboundPath(
                protocol=protocol,
                port=backend_port,
                public_frontend=frontend.state != FRONTEND_PRIVATE,
                standard_lb=(lb.sku or "").casefold() == "standard",
            )
            verdict = self.nsg_verdict_for(path)
        mapping = NatMapping(
            scale_set=self.scale_set.name,
            resource_group=self.scale_set.resource_group,
            instance_id=instance_id,
            protocol=protocol,
            backend_port=backend_port,
            frontend_ip=frontend.ip,
            frontend_port=frontend_port,
            load_balancer=lb.name,
            rule=rule,
            kind=kind,
            frontend_state=frontend.state,
            frontend_name=frontend.name,
            nsg=verdict,
            instance_rule=instance_rule,
        )
        key = (instance_id, protocol.casefold(), backend_port, id_key(lb.id), rule.casefold(),
               id_key(frontend_id), frontend_port)
        self.mappings.setdefault(key, mapping)

    def resolve_v1(self, lb: LoadBalancer) -> None:
        covered: dict[str, set[str]] = {}  # pool id key -> instances with a rule of the pool
        for rule in lb.nat_rules:
            if rule.is_v2 or rule.frontend_port is None:
                continue
            instance_id = self.instance_of_ip_config(rule.backend_ip_configuration_id)
            if instance_id is None and not rule.backend_ip_configuration_id:
                instance_id = self.instance_by_nat_rule.get(id_key(rule.id))
            if instance_id is None:
                continue  # a rule of another scale set or VM
            pool = _pool_of_rule(lb, rule)
            if pool is not None:
                covered.setdefault(id_key(pool.id), set()).add(instance_id)
            self.add(
                lb, instance_id,
                protocol=rule.protocol,
                backend_port=rule.backend_port,
                frontend_port=rule.frontend_port,
                frontend_id=rule.frontend_id or (pool.frontend_id if pool else None),
                rule=pool.name if pool else rule.name,
                kind=KIND_POOL,
                instance_rule=rule.name,
            )
        for pool in lb.nat_pools:
            if id_key(pool.id) not in self.model_nat_pool_ids:
                continue
            missing = self.known_instances - covered.get(id_key(pool.id), set())
            if missing:
                ids = ", ".join(sorted(missing, key=instance_sort_key))
                self.note(f"NAT pool {pool.name} of {lb.name}: no per-instance rule yet for instance(s) {ids}")

    def resolve_v2(self, lb: LoadBalancer) -> None:
        pools = {id_key(p.id): p for p in lb.backend_pools}
        for rule in lb.nat_rules:
            if not rule.is_v2:
                continue
            pool = pools.get(id_key(rule.backend_address_pool_id))
            if pool is None:
                continue
            found = False
            ours = False
            for address in pool.addresses:
                instance_id = self.instance_of_ip_config(address.ip_configuration_id)
                if instance_id is None and address.ip_address and not address.ip_configuration_id:
                    instance_id = self.instance_by_private_ip.get(address.ip_address)
                if instance_id is None:
                    continue  # an address of another scale set or VM
                ours = True
                for port_mapping in address.port_mappings:
                    if port_mapping.rule_name.casefold() != rule.name.casefold():
                        continue
                    if port_mapping.backend_port != rule.backend_port:
                        continue
                    found = True
                    self.add(
                        lb, instance_id,
                        protocol=rule.protocol,
                        backend_port=rule.backend_port,
                        frontend_port=port_mapping.frontend_port,
                        frontend_id=rule.frontend_id,
                        rule=rule.name,
                        kind=KIND_RULE_V2,
                        instance_rule=None,
                    )
            uses_pool = ours or any(
                self.instance_of_ip_config(ref) is not None for ref in pool.backend_ip_configuration_ids
            )
            if uses_pool and not found:
                self.note(
                    f"NAT rule {rule.name} of {lb.name}: the load balancer lists no port mapping "
                    f"for this scale set's instances in pool {pool.name}"
                )

    def result(self) -> NatResolution:
        ordered = sorted(
            self.mappings.values(),
            key=lambda m: (instance_sort_key(m.instance_id), m.backend_port, m.protocol, m.load_balancer,
                           m.rule, m.frontend_port),
        )
        return NatResolution(mappings=tuple(ordered), notes=tuple(self.notes))


def resolve_nat_mappings(
    scale_set: ScaleSet,
    instance_nics: Sequence[InstanceNic],
    load_balancers: Iterable[LoadBalancer] | Mapping[str, LoadBalancer],
    nsg_verdict_for: NsgVerdictFn | None = None,
) -> NatResolution:
    """Every NAT mapping reaching an instance of `scale_set` through `load_balancers`.

    `instance_nics` are the scale set's instance NICs (for ip-based V2 pools and NIC-side rule
    references); `load_balancers` are those the scale set refers to, with frontends' public IP
    addresses filled in (a referenced one that is missing gives a note). `nsg_verdict_for`, when
    given, is asked about each mapping's backend port (see nsg.verdict_function).
    """
    lbs = list(load_balancers.values()) if isinstance(load_balancers, Mapping) else list(load_balancers)
    resolver = _Resolver(scale_set, instance_nics, nsg_verdict_for)
    referenced = load_balancer_ids_of(scale_set, instance_nics)
    if not referenced and not lbs:
        resolver.note(f"no load balancer: {scale_set.name} is not behind a load balancer, so it has no NAT mappings")
        return resolver.result()
    by_key = {id_key(lb.id): lb for lb in lbs}
    for lb_id in referenced:
        if id_key(lb_id) not in by_key:
            resolver.note(f"load balancer {name_of(lb_id)} could not be read")
    for lb in lbs:
        before = len(resolver.mappings)
        resolver.resolve_v1(lb)
        resolver.resolve_v2(lb)
        if len(resolver.mappings) == before and not lb.nat_rules and not lb.nat_pools:
            resolver.note(f"load balancer {lb.name} has no inbound NAT rules or pools")
        elif len(resolver.mappings) == before:
            resolver.note(f"load balancer {lb.name} has no inbound NAT rule for this scale set's instances")
    return resolver.result()


@dataclass(frozen=True, slots=True)
class PortMappingQuery:
    """An instance's ip configuration in a NAT rule V2's backend pool whose port mappings the
    load balancer does not list: ask it (queryInboundNatRulePortMapping on the pool)."""

    load_balancer_id: str
    pool_id: str
    pool_name: str
    ip_configuration_id: str


def _ip_config_ids_in_pool(resolver: _Resolver, nics: Sequence[InstanceNic], pool: BackendPool) -> dict[str, str]:
    """id key -> id of this scale set's ip configurations that are members of `pool`."""
    found: dict[str, str] = {}
    for nic in nics:
        for ip_config in nic.ip_configs:
            if any(same_id(pool_id, pool.id) for pool_id in ip_config.backend_pool_ids):
                ip_config_id = f"{nic.id}/ipConfigurations/{ip_config.name}"
                found.setdefault(id_key(ip_config_id), ip_config_id)
    members = [*pool.backend_ip_configuration_ids, *(a.ip_configuration_id for a in pool.addresses)]
    for ip_config_id in members:
        if ip_config_id and resolver.instance_of_ip_config(ip_config_id) is not None:
            found.setdefault(id_key(ip_config_id), ip_config_id)
    return found


def port_mapping_queries(
    scale_set: ScaleSet, instance_nics: Sequence[InstanceNic], load_balancer: LoadBalancer
) -> tuple[PortMappingQuery, ...]:
    """The ip configurations of `scale_set`'s instances that are in the backend pool of a NAT
    rule V2 of `load_balancer` while the pool lists no port mapping of that rule for them."""
    resolver = _Resolver(scale_set, instance_nics, None)
    pools = {id_key(p.id): p for p in load_balancer.backend_pools}
    queries: dict[tuple[str, str], PortMappingQuery] = {}
    for rule in load_balancer.nat_rules:
        if not rule.is_v2:
            continue
        pool = pools.get(id_key(rule.backend_address_pool_id))
        if pool is None:
            continue
        covered = {
            id_key(address.ip_configuration_id)
            for address in pool.addresses
            if address.ip_configuration_id
            and any(m.rule_name.casefold() == rule.name.casefold() for m in address.port_mappings)
        }
        for key, ip_config_id in _ip_config_ids_in_pool(resolver, instance_nics, pool).items():
            if key not in covered:
                queries.setdefault(
                    (id_key(pool.id), key),
                    PortMappingQuery(load_balancer.id, pool.id, pool.name, ip_config_id),
                )
    return tuple(queries.values())


def with_port_mappings(
    load_balancer: LoadBalancer, answers: Mapping[PortMappingQuery, Sequence[PortMapping]]
) -> LoadBalancer:
    """`load_balancer` with the queried port mappings in its pools' backend addresses."""
    by_pool: dict[str, dict[str, tuple[str, tuple[PortMapping, ...]]]] = {}
    for query, mappings in answers.items():
        if same_id(query.load_balancer_id, load_balancer.id):
            by_pool.setdefault(id_key(query.pool_id), {})[id_key(query.ip_configuration_id)] = (
                query.ip_configuration_id, tuple(mappings),
            )
    if not by_pool:
        return load_balancer
    pools: list[BackendPool] = []
    for pool in load_balancer.backend_pools:
        answered = dict(by_pool.get(id_key(pool.id), {}))
        if not answered:
            pools.append(pool)
            continue
        addresses: list[BackendAddress] = []
        for address in pool.addresses:
            found = answered.pop(id_key(address.ip_configuration_id), None) if address.ip_configuration_id else None
            if found is None:
                addresses.append(address)
                continue
            known = {(m.rule_name.casefold(), m.frontend_port, m.backend_port) for m in address.port_mappings}
            extra = tuple(m for m in found[1] if (m.rule_name.casefold(), m.frontend_port, m.backend_port) not in known)
            addresses.append(replace(address, port_mappings=address.port_mappings + extra))
        addresses.extend(
            BackendAddress(name=None, ip_address=None, ip_configuration_id=ip_config_id, port_mappings=mappings)
            for ip_config_id, mappings in answered.values()
        )
        pools.append(replace(pool, addresses=tuple(addresses)))
    return replace(load_balancer, backend_pools=tuple(pools))
