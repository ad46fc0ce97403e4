"""ARM JSON for the simulated resources, shaped like the recorded real responses."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from typing import Any

from .state import (
    Instance,
    LoadBalancer,
    Nsg,
    Operation,
    PublicIp,
    ScaleSet,
    Subnet,
    Vnet,
    World,
)

POWER_DISPLAY = {
    "running": "VM running",
    "starting": "VM starting",
    "stopping": "VM stopping",
    "stopped": "VM stopped",
    "deallocating": "VM deallocating",
    "deallocated": "VM deallocated",
}
PROVISIONING_DISPLAY = {
    "Succeeded": "Provisioning succeeded",
    "Updating": "Updating",
    "Creating": "Creating",
    "Deleting": "Deleting",
    "Failed": "Provisioning failed",
}
HEALTH_DISPLAY = {
    "healthy": "The VM is healthy",
    "unhealthy": "The VM is unhealthy",
    "unknown": "The VM health is unknown",
    "initializing": "The VM health is initializing",
}


def _etag(*parts: object) -> str:
    digest = hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()
    return f'W/"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"'


def _ref(resource_id: str) -> dict[str, str]:
    return {"id": resource_id}


# ---------------------------------------------------------------------------------------------
# Compute


def scale_set(world: World, ss: ScaleSet) -> dict[str, Any]:
    upgrade_policy: dict[str, Any] = {"mode": ss.upgrade_mode}
    if ss.rolling_policy is not None:
        upgrade_policy["rollingUpgradePolicy"] = dict(ss.rolling_policy)
    upgrade_policy["automaticOSUpgradePolicy"] = {
        "enableAutomaticOSUpgrade": False, "useRollingUpgradePolicy": False, "disableAutomaticRollback": False}
    body: dict[str, Any] = {
        "name": ss.name,
        "id": ss.id,
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": ss.location,
        "tags": dict(ss.tags),
        "sku": {"name": ss.sku_name, "tier": "Standard", "capacity": ss.capacity},
        "properties": {
            "singlePlacementGroup": ss.extra_properties.get("singlePlacementGroup", True),
            "orchestrationMode": "Uniform",
            "upgradePolicy": upgrade_policy,
            "scaleInPolicy": {"rules": ["Default"], "forceDeletion": False},
            "virtualMachineProfile": copy.deepcopy(ss.models[ss.model_version]),
            "provisioningState": ss.provisioning_state,
            "overprovision": ss.extra_properties.get("overprovision", ss.spec.overprovision),
            "doNotRunExtensionsOnOverprovisionedVMs": ss.extra_properties.get("doNotRunExtensionsOnOverprovisionedVMs", False),
            "uniqueId": ss.unique_id,
            "platformFaultDomainCount": 1 if ss.spec.zones else 5,
            "timeCreated": world.clock.iso(ss.created_at),
        },
    }
    if ss.spec.zones:
        body["zones"] = list(ss.spec.zones)
        body["properties"]["zoneBalance"] = False
    return body


def _status(code: str, display: str, time: str | None = None, level: str = "Info", message: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"code": code, "level": level, "displayStatus": display}
    if message:
        status["message"] = message
    if time:
        status["time"] = time
    return status


def _provisioning_status(world: World, inst: Instance) -> dict[str, Any]:
    when = world.clock.iso(inst.busy_since if inst.busy_with else inst.created_at)
    if inst.provisioning == "Failed" and inst.failure:
        code, message = inst.failure
        return _status(f"ProvisioningState/failed/{code}", "Provisioning failed", when, "Error", message)
    return _status(f"ProvisioningState/{inst.provisioning.lower()}", PROVISIONING_DISPLAY.get(inst.provisioning, inst.provisioning), when)


def instance_view(world: World, inst: Instance) -> dict[str, Any]:
    ss = inst.scale_set
    model = ss.models[inst.model_version]
    statuses = [_provisioning_status(world, inst)]
    statuses.append(_status(f"PowerState/{inst.power}", POWER_DISPLAY.get(inst.power, inst.power)))
    disk_time = world.clock.iso(inst.created_at)
    disks = [{"name": _os_disk_name(inst), "statuses": [_status("ProvisioningState/succeeded", "Provisioning succeeded", disk_time)]}]
    for data_disk in model["storageProfile"].get("dataDisks", []):
        disks.append({"name": _data_disk_name(inst, data_disk["lun"]),
                      "statuses": [_status("ProvisioningState/succeeded", "Provisioning succeeded", disk_time)]})
    windows = ss.spec.os == "Windows"
    agent_ready = inst.power == "running"
    view: dict[str, Any] = {
        "platformUpdateDomain": int(inst.instance_id) % 5,
        "platformFaultDomain": int(inst.instance_id) % 3,
        "computerName": inst.computer_name,
        "osName": "Windows Server 2022 Datacenter Azure Edition" if windows else "ubuntu",
        "osVersion": "10.0.20348" if windows else "22.04",
        "vmAgent": {
            "vmAgentVersion": "2.7.41491.1102" if windows else "2.13.1.1",
            "statuses": [_status(
                "ProvisioningState/succeeded",
                "Ready" if agent_ready else "Not Ready",
                world.clock.iso(),
                "Info" if agent_ready else "Warning",
                "GuestAgent is running and processing the extensions." if agent_ready
                else "VM status blob is found but not yet populated.",
            )],
        },
        "disks": disks,
        "bootDiagnostics": {},
        "statuses": statuses,
    }
    if inst.health is not None:
        view["vmHealth"] = {"status": _status(f"HealthState/{inst.health}", HEALTH_DISPLAY.get(inst.health, inst.health))}
    if ss.spec.zones:
        pass  # zone is a property of the VM resource, not of the view
    return view


def _os_disk_name(inst: Instance) -> str:
    return f"{inst.scale_set.name}_{inst.scale_set.name}_{inst.instance_id}_OsDisk_1_{inst.disk_suffix}"


def _data_disk_name(inst: Instance, lun: int) -> str:
    return f"{inst.scale_set.name}_{inst.scale_set.name}_{inst.instance_id}_disk{lun + 2}_{inst.disk_suffix}"


def disk_id(world: World, inst: Instance, name: str) -> str:
    return world.resource_id(inst.scale_set.resource_group, "Microsoft.Compute", "disks", name)


def instance(world: World, inst: Instance, expand_view: bool) -> dict[str, Any]:
    ss = inst.scale_set
    model = ss.models[inst.model_version]
    storage = model["storageProfile"]
    image = dict(storage["imageReference"])
    image["exactVersion"] = image.get("version")
    os_disk = dict(storage["osDisk"])
    os_name = _os_disk_name(inst)
    os_disk["name"] = os_name
    os_disk["managedDisk"] = {**os_disk.get("managedDisk", {}), "id": disk_id(world, inst, os_name)}
    data_disks = []
    for model_disk in storage.get("dataDisks", []):
        disk = dict(model_disk)
        name = _data_disk_name(inst, disk["lun"])
        disk["name"] = name
        disk["managedDisk"] = {**disk.get("managedDisk", {}), "id": disk_id(world, inst, name)}
        disk["toBeDetached"] = False
        data_disks.append(disk)
    os_profile = {k: v for k, v in model["osProfile"].items() if k != "computerNamePrefix"}
    os_profile["computerName"] = inst.computer_name
    properties: dict[str, Any] = {
        "latestModelApplied": inst.latest_model,
        "modelDefinitionApplied": "VirtualMachineScaleSet",
        "vmId": inst.vm_id,
        "hardwareProfile": {},
        "storageProfile": {"imageReference": image, "osDisk": os_disk, "dataDisks": data_disks},
        "osProfile": os_profile,
        "networkProfile": {"networkInterfaces": [{"id": inst.nic_id}]},
        "networkProfileConfiguration": copy.deepcopy(model["networkProfile"]),
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
        "provisioningState": inst.provisioning,
        "timeCreated": world.clock.iso(inst.created_at),
    }
    if expand_view:
        properties["instanceView"] = instance_view(world, inst)
    body: dict[str, Any] = {
        "name": inst.name,
        "id": inst.id,
        "type": "Microsoft.Compute/virtualMachines",
        "location": ss.location,
        "tags": dict(ss.tags),
        "instanceId": inst.instance_id,
        "sku": {"name": ss.sku_name, "tier": "Standard"},
        "etag": f'"{inst.token + 1}"',
        "properties": properties,
    }
    if ss.spec.zones:
        body["zones"] = [ss.spec.zones[int(inst.instance_id) % len(ss.spec.zones)]]
    return body


def scale_set_instance_view(world: World, ss: ScaleSet) -> dict[str, Any]:
    codes: Counter[str] = Counter()
    for inst in ss.instances.values():
        codes[_provisioning_status(world, inst)["code"]] += 1
        codes[f"PowerState/{inst.power}"] += 1
    view: dict[str, Any] = {
        "virtualMachine": {"statusesSummary": [{"code": code, "count": count} for code, count in sorted(codes.items())]},
        "statuses": [_status(
            f"ProvisioningState/{ss.provisioning_state.lower()}",
            PROVISIONING_DISPLAY.get(ss.provisioning_state, ss.provisioning_state),
            world.clock.iso(),
        )],
        "orchestrationServices": [{"serviceName": "AutomaticRepairs", "serviceState": "NotRunning"}],
    }
    if ss.spec.health_probe:
        health: Counter[str] = Counter(f"HealthState/{i.health}" for i in ss.instances.values() if i.health)
        view["extensions"] = [{
            "name": "HealthExtension",
            "statusesSummary": [{"code": "ProvisioningState/succeeded", "count": len(ss.instances)}],
        }]
        view["virtualMachine"]["statusesSummary"] += [{"code": c, "count": n} for c, n in sorted(health.items())]
    return view


def rolling_upgrade(world: World, ss: ScaleSet) -> dict[str, Any]:
    ru = ss.rolling
    assert ru is not None
    running_status: dict[str, Any] = {
        "code": ru.code,
        "startTime": world.clock.iso(ru.start_time),
        "lastAction": ru.last_action,
        "lastActionTime": world.clock.iso(ru.last_action_time),
    }
    body: dict[str, Any] = {
        "type": "Microsoft.Compute/virtualMachineScaleSets/rollingUpgrades",
        "location": ss.location,
        "properties": {
            "policy": dict(ru.policy),
            "runningStatus": running_status,
            "progress": {
                "successfulInstanceCount": ru.successful,
                "failedInstanceCount": ru.failed,
                "inProgressInstanceCount": len(ru.in_progress),
                "pendingInstanceCount": len(ru.pending),
            },
        },
    }
    if ru.error is not None:
        body["properties"]["error"] = ru.error
    return body


def operation_status(world: World, op: Operation) -> dict[str, Any]:
    body: dict[str, Any] = {"startTime": world.clock.iso(op.start), "status": op.status, "name": op.id}
    if op.end is not None:
        body["endTime"] = world.clock.iso(op.end)
    if op.error is not None:
        body["error"] = op.error
    if op.output is not None and op.done:
        body["properties"] = {"output": op.output}
    return body


def managed_disks(world: World, inst: Instance) -> list[dict[str, Any]]:
    ss = inst.scale_set
    model = ss.models[inst.model_version]
    storage = model["storageProfile"]
    created = world.clock.iso(inst.created_at)
    state = "Attached" if inst.power not in ("deallocated",) else "Reserved"
    disks = []
    os_name = _os_disk_name(inst)
    disks.append(_disk(world, inst, os_name, storage["osDisk"].get("diskSizeGB", 30),
                       storage["osDisk"].get("managedDisk", {}).get("storageAccountType", "Premium_LRS"), created, state,
                       os_type=ss.spec.os))
    for data_disk in storage.get("dataDisks", []):
        disks.append(_disk(world, inst, _data_disk_name(inst, data_disk["lun"]), data_disk.get("diskSizeGB", 0),
                           data_disk.get("managedDisk", {}).get("storageAccountType", "Premium_LRS"), created, state))
    return disks


def _disk(world: World, inst: Instance, name: str, size_gb: int, sku: str, created: str, state: str,
          os_type: str | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "creationData": {"createOption": "FromImage" if os_type else "Empty"},
        "diskSizeGB": size_gb,
        "diskSizeBytes": size_gb * 1024**3,
        "diskIOPSReadWrite": 500 if sku.startswith("Standard") else 2300,
        "diskMBpsReadWrite": 60 if sku.startswith("Standard") else 150,
        "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
        "timeCreated": created,
        "provisioningState": "Succeeded",
        "diskState": state,
        "uniqueId": inst.disk_suffix,
        "networkAccessPolicy": "AllowAll",
        "publicNetworkAccess": "Enabled",
    }
    if os_type:
        properties["osType"] = os_type
        properties["hyperVGeneration"] = "V2"
    body: dict[str, Any] = {
        "name": name,
        "id": disk_id(world, inst, name),
        "type": "Microsoft.Compute/disks",
        "location": inst.scale_set.location,
        "managedBy": inst.id,
        "sku": {"name": sku, "tier": "Premium" if sku.startswith("Premium") else "Standard"},
        "properties": properties,
    }
    if inst.scale_set.spec.zones:
        body["zones"] = [inst.scale_set.spec.zones[int(inst.instance_id) % len(inst.scale_set.spec.zones)]]
    return body


# ---------------------------------------------------------------------------------------------
# Network


def nic(world: World, inst: Instance) -> dict[str, Any]:
    ss = inst.scale_set
    ip_props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "privateIPAllocationMethod": "Dynamic",
        "primary": True,
        "privateIPAddressVersion": "IPv4",
    }
    if inst.private_ip:
        ip_props["privateIPAddress"] = inst.private_ip
    if ss.subnet:
        ip_props["subnet"] = _ref(ss.subnet.id)
    lb = ss.load_balancer
    if lb is not None and ss.spec.backend_pool:
        ip_props["loadBalancerBackendAddressPools"] = [_ref(lb.child_id("backendAddressPools", ss.spec.backend_pool))]
    if lb is not None and inst.pool_ports:
        ip_props["loadBalancerInboundNatRules"] = [
            _ref(lb.child_id("inboundNatRules", f"{_pool_name(lb, pool)}.{inst.instance_id}")) for (_, pool) in inst.pool_ports
        ]
    if ss.spec.instance_public_ip:
        ip_props["publicIPAddress"] = _ref(f"{inst.ip_config_id}/publicIPAddresses/{ss.spec.name}-pip")
    properties: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "resourceGuid": inst.vm_id,
        "ipConfigurations": [{"name": ss.ip_config_name, "id": inst.ip_config_id, "etag": _etag(inst.id, "ipc"),
                              "properties": ip_props}],
        "dnsSettings": {"dnsServers": [], "appliedDnsServers": [],
                        "internalDomainNameSuffix": "sim.internal.cloudapp.net"},
        "macAddress": "00-0D-3A-" + "-".join(f"{b:02X}" for b in hashlib.sha1(inst.id.encode()).digest()[:3]),
        "enableAcceleratedNetworking": False,
        "enableIPForwarding": False,
        "primary": True,
        "virtualMachine": _ref(inst.id),
    }
    nsg_ref = ss.models[inst.model_version]["networkProfile"]["networkInterfaceConfigurations"][0]["properties"].get(
        "networkSecurityGroup")
    if nsg_ref:
        properties["networkSecurityGroup"] = dict(nsg_ref)
    return {"name": ss.nic_config_name, "id": inst.nic_id, "etag": _etag(inst.id, "nic"), "properties": properties}


def instance_public_ip(world: World, inst: Instance) -> dict[str, Any]:
    ss = inst.scale_set
    address = _instance_public_address(world, inst)
    return {
        "name": f"{ss.spec.name}-pip",
        "id": f"{inst.ip_config_id}/publicIPAddresses/{ss.spec.name}-pip",
        "etag": _etag(inst.id, "pip"),
        "properties": {
            "provisioningState": "Succeeded",
            "ipAddress": address,
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": "Static",
            "idleTimeoutInMinutes": 15,
            "ipConfiguration": _ref(inst.ip_config_id),
        },
    }


def _instance_public_address(world: World, inst: Instance) -> str:
    # Per-instance public IPs: the upper half of the simulator's /24, by instance order.
    a, b = world.ip_prefix
    host = 128 + (int(hashlib.sha1(inst.id.lower().encode()).hexdigest(), 16) % 120)
    return f"127.{a}.{b}.{host}"


def _pool_name(lb: LoadBalancer, lowered: str) -> str:
    for pool in lb.spec.nat_pools:
        if pool.name.lower() == lowered:
            return pool.name
    return lowered


def _rule_name(lb: LoadBalancer, lowered: str) -> str:
    for rule in lb.spec.nat_rules_v2:
        if rule.name.lower() == lowered:
            return rule.name
    return lowered


def _lb_members(world: World, lb: LoadBalancer) -> list[Instance]:
    return [inst for ss in world.scale_sets.values() if ss.load_balancer is lb for inst in ss.sorted_instances()]


def load_balancer(world: World, lb: LoadBalancer) -> dict[str, Any]:
    spec = lb.spec
    members = _lb_members(world, lb)
    frontends = []
    for fe in spec.frontends:
        fe_props: dict[str, Any] = {"provisioningState": "Succeeded"}
        if fe.public_ip:
            fe_props["publicIPAddress"] = _ref(world.resource_id(lb.resource_group, "Microsoft.Network", "publicIPAddresses", fe.public_ip))
        else:
            fe_props["privateIPAddress"] = fe.private_ip
            fe_props["privateIPAllocationMethod"] = "Static"
            fe_props["privateIPAddressVersion"] = "IPv4"
            if fe.subnet:
                fe_props["subnet"] = _ref(world.resource_id(lb.resource_group, "Microsoft.Network", "virtualNetworks", fe.subnet[0])
                                          + f"/subnets/{fe.subnet[1]}")
        fe_props["inboundNatPools"] = [_ref(lb.child_id("inboundNatPools", p.name)) for p in spec.nat_pools if p.frontend == fe.name]
        fe_props["inboundNatRules"] = [
            _ref(lb.child_id("inboundNatRules", name)) for name in _rule_names_for_frontend(lb, members, fe.name)]
        fe_props["loadBalancingRules"] = [_ref(lb.child_id("loadBalancingRules", r.name)) for r in spec.lb_rules if r.frontend == fe.name]
        frontends.append({"name": fe.name, "id": lb.child_id("frontendIPConfigurations", fe.name),
                          "etag": _etag(lb.id, fe.name), "type": "Microsoft.Network/loadBalancers/frontendIPConfigurations",
                          "properties": fe_props})
    nat_rules = inbound_nat_rules(world, lb, members)
    pools = []
    for pool_name in spec.backend_pools:
        pool_members = [i for i in members if (i.scale_set.spec.backend_pool or "").lower() == pool_name.lower()]
        pool_props: dict[str, Any] = {
            "provisioningState": "Succeeded",
            "backendIPConfigurations": [_ref(i.ip_config_id) for i in pool_members],
            "loadBalancingRules": [_ref(lb.child_id("loadBalancingRules", r.name)) for r in spec.lb_rules
                                   if r.backend_pool.lower() == pool_name.lower()],
        }
        v2_rules = [r for r in spec.nat_rules_v2 if r.backend_pool.lower() == pool_name.lower()]
        if v2_rules:
            pool_props["inboundNatRules"] = [_ref(lb.child_id("inboundNatRules", r.name)) for r in v2_rules]
            pool_props["loadBalancerBackendAddresses"] = [_backend_address(lb, inst, v2_rules) for inst in pool_members]
        pools.append({"name": pool_name, "id": lb.child_id("backendAddressPools", pool_name), "etag": _etag(lb.id, pool_name),
                      "type": "Microsoft.Network/loadBalancers/backendAddressPools", "properties": pool_props})
    nat_pools = [{
        "name": p.name,
        "id": lb.child_id("inboundNatPools", p.name),
        "etag": _etag(lb.id, p.name),
        "type": "Microsoft.Network/loadBalancers/inboundNatPools",
        "properties": {
            "provisioningState": "Succeeded",
            "frontendIPConfiguration": _ref(lb.child_id("frontendIPConfigurations", p.frontend)),
            "frontendPortRangeStart": p.port_start,
            "frontendPortRangeEnd": p.port_end,
            "backendPort": p.backend_port,
            "protocol": p.protocol,
            "idleTimeoutInMinutes": 4,
            "enableFloatingIP": False,
            "enableTcpReset": False,
        },
    } for p in spec.nat_pools]
    probes = []
    lb_rules = []
    for rule in spec.lb_rules:
        rule_props: dict[str, Any] = {
            "provisioningState": "Succeeded",
            "frontendIPConfiguration": _ref(lb.child_id("frontendIPConfigurations", rule.frontend)),
            "backendAddressPool": _ref(lb.child_id("backendAddressPools", rule.backend_pool)),
            "backendAddressPools": [_ref(lb.child_id("backendAddressPools", rule.backend_pool))],
            "frontendPort": rule.frontend_port,
            "backendPort": rule.backend_port,
            "protocol": rule.protocol,
            "enableFloatingIP": False,
            "idleTimeoutInMinutes": 4,
            "loadDistribution": "Default",
            "disableOutboundSnat": False,
            "enableTcpReset": False,
        }
        if rule.probe_port is not None:
            probe_name = f"probe-{rule.name}"
            rule_props["probe"] = _ref(lb.child_id("probes", probe_name))
            probes.append({"name": probe_name, "id": lb.child_id("probes", probe_name), "etag": _etag(lb.id, probe_name),
                           "type": "Microsoft.Network/loadBalancers/probes",
                           "properties": {"provisioningState": "Succeeded", "protocol": "Tcp", "port": rule.probe_port,
                                          "intervalInSeconds": 5, "numberOfProbes": 2, "probeThreshold": 1,
                                          "loadBalancingRules": [_ref(lb.child_id("loadBalancingRules", rule.name))]}})
        lb_rules.append({"name": rule.name, "id": lb.child_id("loadBalancingRules", rule.name), "etag": _etag(lb.id, rule.name),
                         "type": "Microsoft.Network/loadBalancers/loadBalancingRules", "properties": rule_props})
    return {
        "name": lb.name,
        "id": lb.id,
        "etag": _etag(lb.id, len(members), sum(len(i.pool_ports) + len(i.rule_ports) for i in members)),
        "type": "Microsoft.Network/loadBalancers",
        "location": world.location,
        "sku": {"name": spec.sku, "tier": "Regional"},
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": lb.resource_guid,
            "frontendIPConfigurations": frontends,
            "backendAddressPools": pools,
            "loadBalancingRules": lb_rules,
            "probes": probes,
            "inboundNatRules": nat_rules,
            "inboundNatPools": nat_pools,
            "outboundRules": [],
        },
    }


def _rule_names_for_frontend(lb: LoadBalancer, members: list[Instance], frontend: str) -> list[str]:
    names = []
    for pool in lb.spec.nat_pools:
        if pool.frontend != frontend:
            continue
        for inst in members:
            if (lb.name.lower(), pool.name.lower()) in inst.pool_ports:
                names.append(f"{pool.name}.{inst.instance_id}")
    names += [r.name for r in lb.spec.nat_rules_v2 if r.frontend == frontend]
    return names


def _backend_address(lb: LoadBalancer, inst: Instance, rules: list[Any]) -> dict[str, Any]:
    mappings = []
    for rule in rules:
        port = inst.rule_ports.get((lb.name.lower(), rule.name.lower()))
        if port is not None:
            mappings.append({"inboundNatRuleName": rule.name, "frontendPort": port, "backendPort": rule.backend_port})
    props: dict[str, Any] = {
        "networkInterfaceIPConfiguration": _ref(inst.ip_config_id),
        "inboundNatRulesPortMapping": mappings,
    }
    if inst.private_ip:
        props["ipAddress"] = inst.private_ip
    return {"name": f"{inst.scale_set.name}_{inst.instance_id}", "properties": props}


def inbound_nat_rules(world: World, lb: LoadBalancer, members: list[Instance] | None = None) -> list[dict[str, Any]]:
    if members is None:
        members = _lb_members(world, lb)
    rules = []
    for pool in lb.spec.nat_pools:
        for inst in members:
            port = inst.pool_ports.get((lb.name.lower(), pool.name.lower()))
            if port is None:
                continue
            name = f"{pool.name}.{inst.instance_id}"
            rules.append({
                "name": name,
                "id": lb.child_id("inboundNatRules", name),
                "etag": _etag(lb.id, name, port),
                "type": "Microsoft.Network/loadBalancers/inboundNatRules",
                "properties": {
                    "provisioningState": "Succeeded",
                    "frontendIPConfiguration": _ref(lb.child_id("frontendIPConfigurations", pool.frontend)),
                    "frontendPort": port,
                    "backendPort": pool.backend_port,
                    "protocol": pool.protocol,
                    "idleTimeoutInMinutes": 4,
                    "enableFloatingIP": False,
                    "enableTcpReset": False,
                    "backendIPConfiguration": _ref(inst.ip_config_id),
                },
            })
    for rule in lb.spec.nat_rules_v2:
        rules.append({
            "name": rule.name,
            "id": lb.child_id("inboundNatRules", rule.name),
            "etag": _etag(lb.id, rule.name),
            "type": "Microsoft.Network/loadBalancers/inboundNatRules",
            "properties": {
                "provisioningState": "Succeeded",
                "frontendIPConfiguration": _ref(lb.child_id("frontendIPConfigurations", rule.frontend)),
                "frontendPort": 0,
                "frontendPortRangeStart": rule.port_start,
                "frontendPortRangeEnd": rule.port_end,
                "backendPort": rule.backend_port,
                "protocol": rule.protocol,
                "idleTimeoutInMinutes": 4,
                "enableFloatingIP": False,
                "enableTcpReset": False,
                "backendAddressPool": _ref(lb.child_id("backendAddressPools", rule.backend_pool)),
            },
        })
    return rules


def port_mappings_for(world: World, lb: LoadBalancer, pool_name: str, ip_address: str | None,
                      ip_configuration_id: str | None) -> list[dict[str, Any]] | None:
    """queryInboundNatRulePortMapping: the V2 mappings of one backend address, or None if unknown."""
    for inst in _lb_members(world, lb):
        if (inst.scale_set.spec.backend_pool or "").lower() != pool_name.lower():
            continue
        if (ip_address and inst.private_ip == ip_address) or (
                ip_configuration_id and inst.ip_config_id.lower() == ip_configuration_id.lower()):
            result = []
            for rule in lb.spec.nat_rules_v2:
                if rule.backend_pool.lower() != pool_name.lower():
                    continue
                port = inst.rule_ports.get((lb.name.lower(), rule.name.lower()))
                if port is not None:
                    result.append({"inboundNatRuleName": rule.name, "protocol": rule.protocol,
                                   "frontendPort": port, "backendPort": rule.backend_port})
            return result
    return None


def public_ip(world: World, pip: PublicIp) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "resourceGuid": hashlib.md5(pip.id.lower().encode()).hexdigest(),
        "publicIPAddressVersion": "IPv4",
        "publicIPAllocationMethod": "Static" if pip.spec.sku == "Standard" else "Dynamic",
        "idleTimeoutInMinutes": 4,
        "ipTags": [],
    }
    if pip.address:
        props["ipAddress"] = pip.address
    if pip.attached_to:
        props["ipConfiguration"] = _ref(pip.attached_to)
    if pip.spec.dns_label:
        props["dnsSettings"] = {"domainNameLabel": pip.spec.dns_label,
                                "fqdn": f"{pip.spec.dns_label}.{world.location}.cloudapp.azure.com"}
    return {"name": pip.name, "id": pip.id, "etag": _etag(pip.id, pip.address), "location": world.location,
            "type": "Microsoft.Network/publicIPAddresses",
            "sku": {"name": pip.spec.sku, "tier": "Regional"}, "properties": props}


DEFAULT_SECURITY_RULES = [
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*",
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*", "Deny all inbound traffic"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet", "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*", "Deny all outbound traffic"),
]


def _rule_body(nsg_id: str, kind: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "id": f"{nsg_id}/{kind}/{name}", "etag": _etag(nsg_id, name),
            "type": f"Microsoft.Network/networkSecurityGroups/{kind}", "properties": props}


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def network_security_group(world: World, nsg: Nsg) -> dict[str, Any]:
    rules = []
    for rule in nsg.spec.rules:
        props: dict[str, Any] = {
            "provisioningState": "Succeeded",
            "protocol": rule.protocol,
            "sourcePortRange": rule.source_port,
            "destinationAddressPrefix": rule.destination,
            "access": rule.access,
            "priority": rule.priority,
            "direction": rule.direction,
            "sourcePortRanges": [],
            "destinationPortRanges": [],
            "sourceAddressPrefixes": [],
            "destinationAddressPrefixes": [],
        }
        if rule.description:
            props["description"] = rule.description
        ports = _as_list(rule.destination_ports)
        if len(ports) == 1:
            props["destinationPortRange"] = ports[0]
        else:
            props["destinationPortRanges"] = ports
        sources = _as_list(rule.source)
        if len(sources) == 1:
            props["sourceAddressPrefix"] = sources[0]
        else:
            props["sourceAddressPrefixes"] = sources
        rules.append(_rule_body(nsg.id, "securityRules", rule.name, props))
    defaults = [
        _rule_body(nsg.id, "defaultSecurityRules", name, {
            "provisioningState": "Succeeded", "description": description, "protocol": "*", "sourcePortRange": "*",
            "destinationPortRange": "*", "sourceAddressPrefix": source, "destinationAddressPrefix": destination,
            "access": access, "priority": priority, "direction": direction, "sourcePortRanges": [],
            "destinationPortRanges": [], "sourceAddressPrefixes": [], "destinationAddressPrefixes": []})
        for name, priority, direction, access, source, destination, description in DEFAULT_SECURITY_RULES
    ]
    subnets = [_ref(s.id) for s in world.subnets.values() if s.nsg_id and s.nsg_id.lower() == nsg.id.lower()]
    nics = [_ref(inst.nic_id) for inst in world.all_instances()
            if (inst.scale_set.spec.nsg or "") and world.resource_id(inst.scale_set.resource_group, "Microsoft.Network",
                                                                      "networkSecurityGroups",
                                                                      inst.scale_set.spec.nsg or "").lower() == nsg.id.lower()]
    props_out: dict[str, Any] = {"provisioningState": "Succeeded", "resourceGuid": hashlib.md5(nsg.id.lower().encode()).hexdigest(),
                                 "securityRules": rules, "defaultSecurityRules": defaults}
    if subnets:
        props_out["subnets"] = subnets
    if nics:
        props_out["networkInterfaces"] = nics
    return {"name": nsg.name, "id": nsg.id, "etag": _etag(nsg.id), "type": "Microsoft.Network/networkSecurityGroups",
            "location": world.location, "properties": props_out}


def subnet(world: World, sub: Subnet) -> dict[str, Any]:
    props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "addressPrefix": str(sub.network),
        "privateEndpointNetworkPolicies": "Disabled",
        "privateLinkServiceNetworkPolicies": "Enabled",
    }
    if sub.nsg_id:
        props["networkSecurityGroup"] = _ref(sub.nsg_id)
    configs = [_ref(inst.ip_config_id) for ss in world.scale_sets.values() if ss.subnet is sub for inst in ss.sorted_instances()]
    if configs:
        props["ipConfigurations"] = configs
    return {"name": sub.name, "id": sub.id, "etag": _etag(sub.id), "type": "Microsoft.Network/virtualNetworks/subnets",
            "properties": props}


def virtual_network(world: World, vnet: Vnet) -> dict[str, Any]:
    return {
        "name": vnet.name,
        "id": vnet.id,
        "etag": _etag(vnet.id),
        "type": "Microsoft.Network/virtualNetworks",
        "location": world.location,
        "properties": {
            "provisioningState": "Succeeded",
            "resourceGuid": hashlib.md5(vnet.id.lower().encode()).hexdigest(),
            "addressSpace": {"addressPrefixes": [vnet.spec.address_prefix]},
            "subnets": [subnet(world, s) for s in vnet.subnets.values()],
            "virtualNetworkPeerings": [],
            "enableDdosProtection": False,
        },
    }
