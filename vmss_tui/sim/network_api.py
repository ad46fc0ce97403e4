"""Microsoft.Network resource types (load balancers and their parts, public IPs, NSGs, virtual
networks, standalone NICs) and the network children of Uniform scale set instances, which ARM
serves under the Compute path at api-version 2018-10-01."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import render
from .registry import RESOURCE_GROUP, SUBSCRIPTION, ResourceType, Routed
from .resources import ArmError, Instance, ScaleSet

if TYPE_CHECKING:
    from .arm import ArmApp

# Parts of a network resource that ARM also serves as child resources: segment -> property.
_PARTS = {
    "Microsoft.Network/loadBalancers": ("frontendIPConfigurations", "backendAddressPools", "inboundNatRules",
                                         "inboundNatPools", "loadBalancingRules", "probes", "outboundRules"),
    "Microsoft.Network/networkSecurityGroups": ("securityRules", "defaultSecurityRules"),
    "Microsoft.Network/virtualNetworks": ("subnets",),
    "Microsoft.Network/networkInterfaces": ("ipConfigurations",),
}
PORT_MAPPING_QUERY_SECONDS = 1.0


def network_not_found(path: str) -> ArmError:
    return ArmError(404, "NotFound", f"Resource {path} not found.")


def _top_not_found(kind: str) -> Callable[[Routed, str], ArmError]:
    def not_found(routed: Routed, name: str) -> ArmError:
        return ArmError(404, "ResourceNotFound",
                        f"The Resource 'Microsoft.Network/{kind}/{name}' under resource group '{routed.resource_group}' "
                        f"was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix")
    return not_found


def _unknown_part(routed: Routed) -> ArmError:
    return ArmError(404, "InvalidResourceType", f"The simulator does not implement '{routed.ctx.request.path}'.")


def register(app: ArmApp) -> None:
    reg = app.registry

    def top(kind: str, renderer: Callable[[Routed, Any], dict[str, Any]]) -> ResourceType:
        return reg.add(ResourceType(f"Microsoft.Network/{kind}", render=renderer, not_found=_top_not_found(kind),
                                    scopes=frozenset({RESOURCE_GROUP, SUBSCRIPTION}), unknown_tail=_unknown_part))

    top("loadBalancers", lambda routed, lb: render.load_balancer(
        routed.world, lb, backend_addresses=app.backend_addresses_in_pools))
    top("publicIPAddresses", lambda routed, pip: render.public_ip(routed.world, pip))
    top("networkSecurityGroups", lambda routed, nsg: render.network_security_group(routed.world, nsg))
    top("virtualNetworks", lambda routed, vnet: render.virtual_network(routed.world, vnet))
    top("networkInterfaces", lambda routed, nic: render.nic(routed.world, nic.instance))

    for parent_name, parts in _PARTS.items():
        parent_type = reg.types[parent_name.lower()]
        for part in parts:
            _embedded_part(reg, parent_type, part)

    pools = reg.types["microsoft.network/loadbalancers/backendaddresspools"]

    @pools.on("POST", "queryInboundNatRulePortMapping")
    async def query_port_mapping(routed: Routed) -> web.Response:
        lb = routed.parent
        pool = routed.obj["name"]
        body = await routed.ctx.json_body()
        ip_address = body.get("ipAddress")
        ip_config = (body.get("ipConfiguration") or {}).get("id")
        if not ip_address and not ip_config:
            raise ArmError(400, "InvalidRequestFormat", "Either ipAddress or ipConfiguration must be specified.")
        mappings = render.port_mappings_for(routed.world, lb, pool, ip_address, ip_config)
        if mappings is None:
            raise ArmError(400, "BackendAddressNotFound",
                           f"Backend address {ip_address or ip_config} was not found in backend pool {pool}.")
        result = {"inboundNatRulePortMappings": mappings}
        if not app.port_mapping_async:
            return web.json_response(result)
        world = routed.world
        op = world.new_operation("queryInboundNatRulePortMapping", provider="Microsoft.Network")
        op.output = result
        world.scheduler.after(PORT_MAPPING_QUERY_SECONDS, lambda: world.finish(op))
        return app.accepted(routed, op)

    # ---- the network children of Uniform scale set instances (Compute path, 2018-10-01)

    def vmss_not_found(routed: Routed, rtype: ResourceType, name: str) -> ArmError:
        if rtype.key == "microsoft.compute/virtualmachinescalesets":
            group = routed.ctx.segments[3] if len(routed.ctx.segments) > 3 else routed.resource_group
            return ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/virtualMachineScaleSets/{name}' "
                                                     f"under resource group '{group}' was not found.")
        return network_not_found(routed.path)

    def family(rtype: ResourceType) -> ResourceType:
        rtype.not_found = lambda routed, name: network_not_found(routed.path)
        rtype.ancestor_not_found = vmss_not_found
        return reg.add(rtype)

    def uniform_members(ss: ScaleSet) -> list[Instance]:
        return ss.sorted_instances() if ss.orchestration_mode == "Uniform" else []

    family(ResourceType(
        "Microsoft.Compute/virtualMachineScaleSets/networkInterfaces",
        render=lambda routed, inst: render.nic(routed.world, inst),
        find=lambda routed, ss, name: None,
        members=lambda routed: uniform_members(routed.parent),
    ))
    family(ResourceType(
        "Microsoft.Compute/virtualMachineScaleSets/publicIPAddresses",
        render=lambda routed, inst: render.instance_public_ip(routed.world, inst),
        find=lambda routed, ss, name: None,
        members=lambda routed: uniform_members(routed.parent) if routed.parent.spec.instance_public_ip else [],
    ))

    def find_nic(routed: Routed, inst: Instance, name: str) -> Instance | None:
        return inst if inst.is_uniform and name.lower() == inst.nic_name.lower() else None

    family(ResourceType(
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces",
        render=lambda routed, inst: render.nic(routed.world, inst),
        find=find_nic,
        members=lambda routed: [routed.parent] if routed.parent.is_uniform else [],
    ))

    def ip_configs(routed: Routed, inst: Instance) -> list[dict[str, Any]]:
        return render.nic(routed.world, inst)["properties"]["ipConfigurations"]

    family(ResourceType(
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces/ipConfigurations",
        render=lambda routed, config: config,
        find=lambda routed, inst, name: next((c for c in ip_configs(routed, inst) if c["name"].lower() == name.lower()), None),
        members=lambda routed: ip_configs(routed, routed.parent),
    ))

    def instance_of(routed: Routed) -> Instance:
        return routed.chain[1]

    def has_public_ip(routed: Routed) -> bool:
        ss = instance_of(routed).scale_set
        return ss is not None and ss.spec.instance_public_ip

    def find_pip(routed: Routed, config: dict[str, Any], name: str) -> Instance | None:
        inst = instance_of(routed)
        ss = inst.scale_set
        if ss is None or not ss.spec.instance_public_ip or name.lower() != f"{ss.spec.name}-pip".lower():
            return None
        return inst

    family(ResourceType(
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/networkInterfaces/ipConfigurations/publicIPAddresses",
        render=lambda routed, inst: render.instance_public_ip(routed.world, inst),
        find=find_pip,
        members=lambda routed: [instance_of(routed)] if has_public_ip(routed) else [],
    ))


def _embedded_part(reg: Any, parent_type: ResourceType, part: str) -> None:
    """A part of a network resource's body (a load balancer's rules ...) served as a child."""

    def parts(routed: Routed, parent: Any) -> list[dict[str, Any]]:
        body = parent_type.render(routed, parent)
        if part not in body["properties"]:
            raise _unknown_part(routed)
        return body["properties"][part]

    reg.add(ResourceType(
        f"{parent_type.name}/{part}",
        render=lambda routed, child: child,
        find=lambda routed, parent, name: next((c for c in parts(routed, parent) if c["name"].lower() == name.lower()), None),
        members=lambda routed: parts(routed, routed.parent),
        not_found=lambda routed, name: network_not_found(routed.path),
    ))
