"""ARM JSON for the simulated resources, shaped like the recorded real responses.

Bodies may share parts of the live model (a scale set's profile ...): they are serialized at once
and never modified, so nothing is copied that need not be."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from typing import Any

from .state import (
    Instance,
    LoadBalancer,
    ManagedDisk,
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


def _public_profile(profile: dict[str, Any]) -> dict[str, Any]:
    """The model as ARM shows it: extensions' protectedSettings are never returned."""
    if not any("protectedSettings" in e.get("properties", {})
               for e in profile.get("extensionProfile", {}).get("extensions", [])):
        return profile  # shared: bodies are only serialized
    shown = copy.deepcopy(profile)
    for ext in shown.get("extensionProfile", {}).get("extensions", []):
        ext.get("properties", {}).pop("protectedSettings", None)
    return shown


def scale_set_extension(world: World, ss: ScaleSet, ext: dict[str, Any], provisioning: str = "Succeeded") -> dict[str, Any]:
    props = {k: copy.deepcopy(v) for k, v in ext.get("properties", {}).items() if k != "protectedSettings"}
    props["provisioningState"] = provisioning
    return {"name": ext["name"], "id": f"{ss.id}/extensions/{ext['name']}",
            "type": "Microsoft.Compute/virtualMachineScaleSets/extensions", "properties": props}


def scale_set(world: World, ss: ScaleSet) -> dict[str, Any]:
    upgrade_policy: dict[str, Any] = {"mode": ss.upgrade_mode}
    if ss.rolling_policy is not None:
        upgrade_policy["rollingUpgradePolicy"] = dict(ss.rolling_policy)
    upgrade_policy["automaticOSUpgradePolicy"] = {
        "enableAutomaticOSUpgrade": False, "useRollingUpgradePolicy": False, "disableAutomaticRollback": False}
    if ss.orchestration_mode == "Flexible":
        properties: dict[str, Any] = {
            "singlePlacementGroup": False,
            "orchestrationMode": "Flexible",
            "upgradePolicy": upgrade_policy,
            "scaleInPolicy": {"rules": ["Default"], "forceDeletion": False},
            "virtualMachineProfile": _public_profile(ss.models[ss.model_version]),
            "provisioningState": ss.provisioning_state,
            "uniqueId": ss.unique_id,
            "platformFaultDomainCount": 1,
            "timeCreated": world.clock.iso(ss.created_at),
        }
    else:
        properties = {
            "singlePlacementGroup": ss.extra_properties.get("singlePlacementGroup", True),
            "orchestrationMode": "Uniform",
            "upgradePolicy": upgrade_policy,
            "scaleInPolicy": {"rules": ["Default"], "forceDeletion": False},
            "virtualMachineProfile": _public_profile(ss.models[ss.model_version]),
            "provisioningState": ss.provisioning_state,
            "overprovision": ss.extra_properties.get("overprovision", ss.spec.overprovision),
            "doNotRunExtensionsOnOverprovisionedVMs": ss.extra_properties.get("doNotRunExtensionsOnOverprovisionedVMs", False),
            "uniqueId": ss.unique_id,
            "platformFaultDomainCount": 1 if ss.spec.zones else 5,
            "timeCreated": world.clock.iso(ss.created_at),
        }
    body: dict[str, Any] = {
        "name": ss.name,
        "id": ss.id,
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": ss.location,
        "tags": dict(ss.tags),
        "sku": {"name": ss.sku_name, "tier": "Standard", "capacity": ss.capacity},
        "properties": properties,
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


def power_status(inst: Instance) -> dict[str, Any]:
    return _status(f"PowerState/{inst.power}", POWER_DISPLAY.get(inst.power, inst.power))


def _disks_of(inst: Instance) -> list[ManagedDisk]:
    return ([inst.os_disk] if inst.os_disk is not None else []) + list(inst.data_disks.values())


def _extension_views(world: World, inst: Instance) -> list[dict[str, Any]]:
    return [{
        "name": run.name,
        "type": run.type,
        "typeHandlerVersion": run.type_handler_version,
        "statuses": [_status(run.code, run.display, world.clock.iso(run.time), run.level, run.message)],
    } for run in inst.extensions.values()]


def instance_view(world: World, inst: Instance) -> dict[str, Any]:
    statuses = [_provisioning_status(world, inst), power_status(inst)]
    disk_time = world.clock.iso(inst.created_at)
    disks = [{"name": d.name, "statuses": [_status("ProvisioningState/succeeded", "Provisioning succeeded", disk_time)]}
             for d in _disks_of(inst)]
    windows = inst.os_type == "Windows"
    agent_ready = inst.power == "running"
    view: dict[str, Any] = {}
    if inst.is_uniform:
        view["platformUpdateDomain"] = int(inst.instance_id) % 5
        view["platformFaultDomain"] = int(inst.instance_id) % 3
    elif inst.is_flexible:
        view["platformFaultDomain"] = inst.fault_domain
    view.update({
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
    })
    if not inst.is_uniform:
        view["hyperVGeneration"] = "V2"
    if inst.extensions:
        view["extensions"] = _extension_views(world, inst)
    view["bootDiagnostics"] = {}
    view["statuses"] = statuses
    if inst.health is not None:
        view["vmHealth"] = {"status": _status(f"HealthState/{inst.health}", HEALTH_DISPLAY.get(inst.health, inst.health))}
    if not inst.is_uniform:
        view["isVMInStandbyPool"] = False
    return view


def _storage_profile(inst: Instance, *, vm_resource: bool) -> dict[str, Any]:
    storage = inst.model["storageProfile"]
    image = dict(storage["imageReference"])
    image["exactVersion"] = image.get("version")
    os_disk = dict(storage["osDisk"])
    if inst.os_disk is not None:
        os_disk["name"] = inst.os_disk.name
        os_disk["managedDisk"] = {**os_disk.get("managedDisk", {}), "id": inst.os_disk.id}
    if vm_resource:
        os_disk["deleteOption"] = "Delete"
    data_disks = []
    for disk in inst.data_disks.values():
        entry = disk.model_entry or {"lun": disk.lun, "createOption": "Attach", "caching": disk.caching,
                                     "diskSizeGB": disk.size_gb, "managedDisk": {"storageAccountType": disk.sku}}
        rendered = {**entry, "name": disk.name, "managedDisk": {**entry.get("managedDisk", {}), "id": disk.id}}
        if vm_resource:
            rendered["deleteOption"] = disk.delete_option
        rendered["toBeDetached"] = False
        data_disks.append(rendered)
    profile: dict[str, Any] = {"imageReference": image, "osDisk": os_disk, "dataDisks": data_disks}
    if vm_resource:
        profile["diskControllerType"] = "SCSI"
    return profile


def storage_profile_output(world: World, inst: Instance) -> dict[str, Any]:
    """What attachDetachDataDisks answers: the storage profile after the change."""
    return _storage_profile(inst, vm_resource=not inst.is_uniform)


def instance(world: World, inst: Instance, expand_view: bool) -> dict[str, Any]:
    """A Uniform scale set's instance (`virtualMachineScaleSets/{n}/virtualMachines/{id}`)."""
    ss = inst.scale_set
    assert ss is not None
    model = inst.model
    os_profile = {k: v for k, v in model["osProfile"].items() if k != "computerNamePrefix"}
    os_profile["computerName"] = inst.computer_name
    properties: dict[str, Any] = {
        "latestModelApplied": inst.latest_model,
        "modelDefinitionApplied": "VirtualMachineScaleSet",
        "vmId": inst.vm_id,
        "hardwareProfile": {},
        "storageProfile": _storage_profile(inst, vm_resource=False),
        "osProfile": os_profile,
        "networkProfile": {"networkInterfaces": [{"id": inst.nic_id}]},
        "networkProfileConfiguration": model["networkProfile"],  # shared: bodies are only serialized
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
    if inst.zone is not None:
        body["zones"] = [inst.zone]
    return body


def flexible_scale_set_vm(world: World, inst: Instance, api_version: str, *, single: bool = False) -> dict[str, Any]:
    """What `virtualMachineScaleSets/{n}/virtualMachines` says about a Flexible VM: a thin entry
    (from api-version 2025-11-01 with the VM's resource id)."""
    assert inst.scale_set is not None
    body: dict[str, Any] = {
        "name": inst.name,
        "id": f"{inst.scale_set.id}/virtualMachines/{inst.name}",
        "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        "location": inst.scale_set.location,
        "instanceId": inst.instance_id,
        "etag": f'"{inst.token + 1}"',
    }
    if api_version >= "2025-11-01":
        if single:
            body["virtualMachineResourceId"] = inst.id
        else:
            body["properties"] = {"virtualMachineResourceId": inst.id}
    return body


def virtual_machine(world: World, inst: Instance, expand_view: bool) -> dict[str, Any]:
    """A `Microsoft.Compute/virtualMachines` resource: a Flexible scale set's VM or a VM of none."""
    model = inst.model
    os_profile: dict[str, Any] = {"computerName": inst.computer_name}
    os_profile.update({k: v for k, v in model["osProfile"].items() if k != "computerNamePrefix"})
    network_profile: dict[str, Any] = {
        "networkInterfaces": [{"id": inst.nic_id, "properties": {"primary": True, "deleteOption": "Delete"}}]}
    if inst.is_flexible:
        network_profile["networkApiVersion"] = model["networkProfile"].get("networkApiVersion", "2020-11-01")
        network_profile["networkInterfaceConfigurations"] = model["networkProfile"]["networkInterfaceConfigurations"]
    size = inst.scale_set.sku_name if inst.scale_set is not None else (inst.vm_spec.size if inst.vm_spec else "")
    properties: dict[str, Any] = {
        "vmId": inst.vm_id,
        "hardwareProfile": {"vmSize": size},
        "storageProfile": _storage_profile(inst, vm_resource=True),
        "osProfile": os_profile,
        "networkProfile": network_profile,
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
    }
    if inst.scale_set is not None:
        properties["virtualMachineScaleSet"] = {"id": inst.scale_set.id}
        properties["platformFaultDomain"] = inst.fault_domain
    properties["provisioningState"] = inst.provisioning
    properties["timeCreated"] = world.clock.iso(inst.created_at)
    if expand_view:
        properties["instanceView"] = instance_view(world, inst)
    tags = dict(inst.scale_set.tags) if inst.scale_set is not None else dict(inst.vm_spec.tags if inst.vm_spec else {})
    body: dict[str, Any] = {
        "name": inst.name,
        "id": inst.id,
        "type": "Microsoft.Compute/virtualMachines",
        "location": world.location,
        "tags": tags,
        "etag": f'"{inst.token + 1}"',
        "properties": properties,
    }
    if inst.zone is not None:
        body["zones"] = [inst.zone]
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


def disk(world: World, managed: ManagedDisk) -> dict[str, Any]:
    sku = managed.sku
    properties: dict[str, Any] = {
        "creationData": {"createOption": managed.create_option},
        "diskSizeGB": managed.size_gb,
        "diskSizeBytes": managed.size_gb * 1024**3,
        "diskIOPSReadWrite": 500 if sku.startswith("Standard") else 2300,
        "diskMBpsReadWrite": 60 if sku.startswith("Standard") else 150,
        "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
        "timeCreated": world.clock.iso(managed.created_at),
        "provisioningState": "Succeeded",
        "diskState": managed.state,
        "uniqueId": managed.unique_id,
        "networkAccessPolicy": "AllowAll",
        "publicNetworkAccess": "Enabled",
    }
    if managed.os_type:
        properties["osType"] = managed.os_type
        properties["hyperVGeneration"] = "V2"
    body: dict[str, Any] = {
        "name": managed.name,
        "id": managed.id,
        "type": "Microsoft.Compute/disks",
        "location": managed.location,
    }
    if managed.managed_by is not None:
        body["managedBy"] = managed.managed_by.id
    body["sku"] = {"name": sku, "tier": "Premium" if sku.startswith("Premium") else "Standard"}
    body["properties"] = properties
    if managed.zone is not None:
        body["zones"] = [managed.zone]
    return body


# ---------------------------------------------------------------------------------------------
# Network


def nic(world: World, inst: Instance) -> dict[str, Any]:
    """A VM's NIC: a Uniform instance's child NIC, or the standalone NIC of a Flexible or
    standalone VM (`Microsoft.Network/networkInterfaces`)."""
    ip_props: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "privateIPAllocationMethod": "Dynamic",
        "primary": True,
        "privateIPAddressVersion": "IPv4",
    }
    if inst.private_ip:
        ip_props["privateIPAddress"] = inst.private_ip
    subnet = inst.subnet
    if subnet:
        ip_props["subnet"] = _ref(subnet.id)
    lb = inst.load_balancer
    if lb is not None and inst.backend_pool:
        ip_props["loadBalancerBackendAddressPools"] = [_ref(lb.child_id("backendAddressPools", inst.backend_pool))]
    if lb is not None and inst.pool_ports:
        ip_props["loadBalancerInboundNatRules"] = [
            _ref(lb.child_id("inboundNatRules", f"{_pool_name(lb, pool)}.{inst.instance_id}")) for (_, pool) in inst.pool_ports
        ]
    ss = inst.scale_set
    if ss is not None and ss.spec.instance_public_ip and inst.is_uniform:
        ip_props["publicIPAddress"] = _ref(f"{inst.ip_config_id}/publicIPAddresses/{ss.spec.name}-pip")
    standalone = inst.nic
    ip_config_name = standalone.ip_config_name if standalone is not None else (ss.ip_config_name if ss is not None else "")
    ip_config: dict[str, Any] = {"name": ip_config_name, "id": inst.ip_config_id, "etag": _etag(inst.id, "ipc")}
    if standalone is not None:
        ip_config["type"] = "Microsoft.Network/networkInterfaces/ipConfigurations"
    ip_config["properties"] = ip_props
    properties: dict[str, Any] = {
        "provisioningState": "Succeeded",
        "resourceGuid": standalone.resource_guid if standalone is not None else inst.vm_id,
        "ipConfigurations": [ip_config],
        "dnsSettings": {"dnsServers": [], "appliedDnsServers": [],
                        "internalDomainNameSuffix": "sim.internal.cloudapp.net"},
        "macAddress": "00-0D-3A-" + "-".join(f"{b:02X}" for b in hashlib.sha1(inst.id.encode()).digest()[:3]),
        "enableAcceleratedNetworking": False,
        "enableIPForwarding": False,
        "primary": True,
        "virtualMachine": _ref(inst.id),
    }
    nsg_id = _nsg_id_of(world, inst)
    if nsg_id:
        properties["networkSecurityGroup"] = {"id": nsg_id}
    if standalone is None:
        return {"name": inst.nic_name, "id": inst.nic_id, "etag": _etag(inst.id, "nic"), "properties": properties}
    properties["nicType"] = "Standard"
    properties["vnetEncryptionSupported"] = False
    return {"name": standalone.name, "id": standalone.id, "etag": _etag(inst.id, "nic"),
            "type": "Microsoft.Network/networkInterfaces", "location": standalone.location, "properties": properties}


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
    return world.lb_members(lb)


def load_balancer(world: World, lb: LoadBalancer, backend_addresses: bool = True) -> dict[str, Any]:
    """`backend_addresses=False`: NIC-based pools list their members only as backendIPConfigurations,
    without loadBalancerBackendAddresses (clients then ask queryInboundNatRulePortMapping)."""
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
        pool_members = [i for i in members if (i.backend_pool or "").lower() == pool_name.lower()]
        pool_props: dict[str, Any] = {
            "provisioningState": "Succeeded",
            "backendIPConfigurations": [_ref(i.ip_config_id) for i in pool_members],
            "loadBalancingRules": [_ref(lb.child_id("loadBalancingRules", r.name)) for r in spec.lb_rules
                                   if r.backend_pool.lower() == pool_name.lower()],
        }
        v2_rules = [r for r in spec.nat_rules_v2 if r.backend_pool.lower() == pool_name.lower()]
        if v2_rules:
            pool_props["inboundNatRules"] = [_ref(lb.child_id("inboundNatRules", r.name)) for r in v2_rules]
            if backend_addresses:
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
    return {"name": inst.name, "properties": props}


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
        if (inst.backend_pool or "").lower() != pool_name.lower():
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


def _nsg_id_of(world: World, inst: Instance) -> str | None:
    """The NSG on the instance's NIC (from its NIC configuration)."""
    configs = inst.model["networkProfile"]["networkInterfaceConfigurations"]
    ref = configs[0]["properties"].get("networkSecurityGroup") if configs else None
    return ref["id"] if ref else None


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
    nics = [_ref(inst.nic_id) for inst in world.all_instances() if (_nsg_id_of(world, inst) or "").lower() == nsg.id.lower()]
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
    configs += [_ref(vm.ip_config_id) for vm in world.virtual_machines.values() if vm.scale_set is None and vm.subnet is sub]
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
