"""Network security group verdicts for inbound traffic to a backend port.

The question an operator asks about a NAT mapping is "can I reach this port from where I am?",
so the verdict is about clients arriving through the load balancer frontend:

* Inbound rules are evaluated in priority order (lowest number first), custom rules and then the
  platform defaults (AllowVnetInBound 65000, AllowAzureLoadBalancerInBound 65001,
  DenyAllInBound 65500). Where a payload carries no default rules, the platform's are assumed.
* A rule matches when its protocol is `*` or equal to the traffic's (case-insensitively) and one
  of its destination port ranges (`22`, `20-30`, `*`) holds the port. Destination addresses are
  not checked: the target is the instance itself.
* Sources: `*`, `Any`, `Internet`, `0.0.0.0/0` and `::/0` count as "any source". Through a public
  frontend, a client's address is a public one, so rules whose only sources are the
  `VirtualNetwork` or `AzureLoadBalancer` tags do not admit it and are skipped (otherwise the
  default AllowVnetInBound would make every port look open). Through a private (internal load
  balancer) frontend, `VirtualNetwork` does admit clients.
* Allow rules with specific sources (a CIDR, another service tag, an application security group)
  are collected as "allowed from X" until an any-source rule is reached: an any-source Allow
  opens the port to any source (that rule is reported as deciding, since it is the one to fix);
  an any-source Deny ends the walk. Deny rules with specific sources are carve-outs and do not
  change the summary. The verdict is: allowed from the collected sources (deciding rule = the
  first admitting rule), else blocked by the any-source Deny that ended the walk.
* Both NSGs on the path (the subnet's, evaluated first, and the NIC's) must allow. The sources
  of a port allowed by both are those admitted by both (CIDRs are intersected). An NSG that could
  not be read makes the verdict unknown (`allowed=None`) unless the other one blocks.
* No NSG at all: a Basic load balancer lets everything in; a Standard load balancer's public
  frontend (like a Standard public IP) is closed to inbound traffic unless an NSG allows it; a
  private frontend is reachable from its virtual network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vmss_tui.domain.models import NetworkSecurityGroup, NsgVerdict, SecurityRule

ANY_SOURCES = frozenset({"*", "any", "internet", "0.0.0.0/0", "::/0"})
# Service tags that never carry a client arriving at a public frontend.
LOCAL_ONLY_TAGS = frozenset({"virtualnetwork", "azureloadbalancer"})

MANAGEMENT_PORTS = (22, 3389)

DEFAULT_INBOUND_RULES: tuple[SecurityRule, ...] = (
    SecurityRule("AllowVnetInBound", 65000, "Inbound", "Allow", "*", ("VirtualNetwork",), ("*",), True),
    SecurityRule("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "*", ("AzureLoadBalancer",), ("*",), True),
    SecurityRule("DenyAllInBound", 65500, "Inbound", "Deny", "*", ("*",), ("*",), True),
)


@dataclass(frozen=True, slots=True)
class NsgLayer:
    """One NSG on the inbound path."""

    where: str  # "subnet" | "NIC"
    nsg_id: str
    nsg: NetworkSecurityGroup | None  # None: it exists but could not be read (403 ...)

    @property
    def name(self) -> str:
        if self.nsg is not None:
            return self.nsg.name
        return self.nsg_id.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class InboundPath:
    """What a NAT mapping asks the NSGs about."""

    protocol: str  # Tcp | Udp (as the NAT rule says)
    port: int  # the backend port
    public_frontend: bool = True  # False for an internal load balancer
    standard_lb: bool = False  # Standard SKU: closed unless an NSG allows


NsgVerdictFn = Callable[[InboundPath], NsgVerdict | None]


def is_any_source(prefix: str) -> bool:
    return prefix.strip().casefold() in ANY_SOURCES


def port_in_ranges(port: int, ranges: Iterable[str]) -> bool:
    """True when `port` is in one of the NSG port ranges ("22", "20-30", "*")."""
    for text in ranges:
        for item in str(text).split(","):
            item = item.strip()
            if not item:
                continue
            if item in ("*", "Any", "any"):
                return True
            low, sep, high = item.partition("-")
            try:
                if sep:
                    if int(low) <= port <= int(high):
                        return True
                elif int(item) == port:
                    return True
            except ValueError:
                continue  # malformed range: it matches nothing
    return False


def protocol_matches(rule_protocol: str, protocol: str) -> bool:
    rule_protocol = (rule_protocol or "*").strip().casefold()
    protocol = (protocol or "").strip().casefold()
    if rule_protocol in ("*", "any"):
        return True
    if protocol in ("all", "*", ""):  # a NAT rule for all protocols: judge it as TCP
        protocol = "tcp"
    return rule_protocol == protocol


def inbound_rules(nsg: NetworkSecurityGroup) -> list[SecurityRule]:
    """The NSG's inbound rules in evaluation order, platform defaults included."""
    rules = [r for r in nsg.rules if r.direction.casefold() == "inbound"]
    if not any(r.is_default for r in rules):
        rules.extend(DEFAULT_INBOUND_RULES)
    return sorted(rules, key=lambda r: (r.priority, r.is_default, r.name))


def _admits_clients(prefix: str, public_frontend: bool) -> bool:
    tag = prefix.strip().casefold()
    if tag == "azureloadbalancer":
        return False  # health probes, not clients
    if tag == "virtualnetwork":
        return not public_frontend
    return True


@dataclass(frozen=True, slots=True)
class _LayerVerdict:
    layer: NsgLayer
    allowed: bool | None
    rule: str | None
    sources: tuple[str, ...]
    open_to_any: bool


def _evaluate_layer(layer: NsgLayer, path: InboundPath) -> _LayerVerdict:
    if layer.nsg is None:
        return _LayerVerdict(layer, None, None, (), False)
    admitting: list[SecurityRule] = []
    sources: list[str] = []
    for rule in inbound_rules(layer.nsg):
        if not protocol_matches(rule.protocol, path.protocol):
            continue
        if not port_in_ranges(path.port, rule.destination_ports):
            continue
        rule_sources = rule.source_prefixes or ("*",)
        relevant = [s for s in rule_sources if _admits_clients(s, path.public_frontend)]
        if not relevant:
            continue
        any_source = any(is_any_source(s) for s in relevant)
        if rule.access.casefold() == "allow":
            admitting.append(rule)
            for source in relevant:
                if source not in sources:
                    sources.append(source)
            if any_source:
                return _LayerVerdict(layer, True, rule.name, tuple(sources), True)
        elif any_source:
            if admitting:
                break
            return _LayerVerdict(layer, False, rule.name, (), False)
    if admitting:
        return _LayerVerdict(layer, True, admitting[0].name, tuple(sources), False)
    return _LayerVerdict(layer, False, None, (), False)


def _network(prefix: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return None


def _intersect_sources(a: Sequence[str], b: Sequence[str]) -> tuple[str, ...]:
    """Sources admitted by both lists (any-sources are the whole space)."""
    if any(is_any_source(s) for s in a):
        return tuple(b)
    if any(is_any_source(s) for s in b):
        return tuple(a)
    result: list[str] = []
    for x in a:
        for y in b:
            if x.casefold() == y.casefold():
                candidate = x
            else:
                nx, ny = _network(x), _network(y)
                if nx is None or ny is None or nx.version != ny.version or not nx.overlaps(ny):
                    continue
                candidate = str(nx if nx.prefixlen >= ny.prefixlen else ny)
            if candidate not in result:
                result.append(candidate)
    return tuple(result)


def inbound_verdict(path: InboundPath, layers: Sequence[NsgLayer]) -> NsgVerdict:
    """Whether clients reach `path.port` through the NSGs in `layers` (subnet first, then NIC)."""
    port, protocol = path.port, path.protocol
    if not layers:
        if not path.public_frontend:
            return NsgVerdict(
                port, protocol, True, None, None, ("VirtualNetwork",), False,
                reason="no NSG on the NIC or subnet; the frontend is private",
            )
        if path.standard_lb:
            return NsgVerdict(
                port, protocol, False, None, None,
                reason="no NSG: a Standard load balancer admits no inbound traffic unless an NSG allows it",
            )
        return NsgVerdict(port, protocol, True, None, None, ("*",), True, reason="no NSG on the NIC or subnet")

    results = [_evaluate_layer(layer, path) for layer in layers]
    for result in results:
        if result.allowed is False:
            name = result.layer.name
            if result.rule:
                reason = f"blocked by {result.layer.where} NSG {name}, rule {result.rule}"
            else:
                reason = f"no rule of {result.layer.where} NSG {name} admits clients"
            return NsgVerdict(port, protocol, False, name, result.rule, reason=reason)
    unreadable = [r for r in results if r.allowed is None]
    if unreadable:
        names = ", ".join(r.layer.name for r in unreadable)
        return NsgVerdict(port, protocol, None, unreadable[0].layer.name, None, reason=f"NSG {names} could not be read")

    sources: tuple[str, ...] = ("*",)
    for result in results:
        sources = _intersect_sources(sources, result.sources)
    restrictive = [r for r in results if not r.open_to_any]
    deciding = restrictive[-1] if restrictive else results[-1]
    name = deciding.layer.name
    if not sources:
        names = " and ".join(r.layer.name for r in results)
        return NsgVerdict(port, protocol, False, name, deciding.rule, reason=f"no source is admitted by both {names}")
    open_to_any = not restrictive
    shown = ("*",) if open_to_any else sources
    reason = f"allowed from {', '.join(shown)} by {deciding.layer.where} NSG {name}, rule {deciding.rule}"
    return NsgVerdict(port, protocol, True, name, deciding.rule, shown, open_to_any, reason)


def verdict_function(layers: Sequence[NsgLayer]) -> NsgVerdictFn:
    """A verdict function for `resolve_nat_mappings`, bound to the NSGs of one scale set."""
    frozen = tuple(layers)

    def verdict_for(path: InboundPath) -> NsgVerdict:
        return inbound_verdict(path, frozen)

    return verdict_for


def open_management_ports(layers: Sequence[NsgLayer], ports: Sequence[int] = MANAGEMENT_PORTS) -> tuple[int, ...]:
    """Which of `ports` (SSH 22, RDP 3389) an NSG rule opens to any source on the path.

    Only a rule that opens a port counts: with no NSG at all nothing is flagged.
    """
    opened: list[int] = []
    for port in ports:
        verdict = inbound_verdict(InboundPath("Tcp", port, public_frontend=True), layers)
        if verdict.allowed and verdict.open_to_any and verdict.rule is not None:
            opened.append(port)
    return tuple(opened)
