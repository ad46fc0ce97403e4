"""SDK models -> domain objects. Nothing of the SDK leaves this module's return values.

The SDK models (azure-mgmt-compute 39 / network 33) are mappings over the response JSON with
attribute access (properties flattened). Every field is optional in practice: published example
payloads carry placeholders ("aaaa") and omit what real responses omit, so each read here
tolerates a missing or odd value instead of raising.

The converters read fields by the SDK models' attribute names, so they take either an SDK model
or a `JsonView` of the same resource's JSON. Paged lists use the latter: building the SDK models
of a thousand instances costs about a second of CPU on the event loop, reading the JSON a
twentieth of that (see Fleet._collect).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from enum import Enum
from typing import Any

from vmss_tui.domain.arm_ids import id_key, name_of, resource_group_of, segment_after, subscription_of
from vmss_tui.domain.models import (
    ORCHESTRATION_FLEXIBLE,
    ORCHESTRATION_UNIFORM,
    POWER_UNKNOWN,
    BackendAddress,
    BackendPool,
    DataDiskModel,
    DiskInfo,
    Frontend,
    Instance,
    InstanceIpConfig,
    InstanceNic,
    IpConfigModel,
    LoadBalancer,
    NatPool,
    NatRule,
    NetworkSecurityGroup,
    NicConfigModel,
    PortMapping,
    RollingPolicy,
    RolloutStatus,
    ScaleSet,
    SecurityRule,
)

# Keys whose values may be secrets; removed from the `raw` JSON kept for the `y` view.
SECRET_KEYS = frozenset({"adminPassword", "customData", "userData", "protectedSettings", "secrets"})


@functools.lru_cache(maxsize=4096)
def _normalized(name: str) -> str:
    # snake_case attribute names and camelCase JSON keys meet here: "disk_size_gb" and
    # "diskSizeGB" both become "disksizegb", "private_ip_address" and "privateIPAddress" too.
    return name.replace("_", "").casefold()


class JsonView:
    """Read-only attribute access over a resource's JSON, as the SDK models offer it:
    snake_case names, `properties` flattened, None for what is absent."""

    __slots__ = ("_data", "_index", "_properties")

    def __init__(self, data: Mapping[str, Any]) -> None:
        self._data = data
        self._index: dict[str, str] | None = None
        self._properties: JsonView | None = None

    def _find(self, name: str) -> tuple[bool, Any]:
        if self._index is None:
            self._index = {_normalized(k): k for k in self._data}
        key = self._index.get(_normalized(name))
        return (True, self._data[key]) if key is not None else (False, None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        found, value = self._find(name)
        if not found:
            if self._properties is None:
                properties = self._data.get("properties")
                if not isinstance(properties, Mapping):
                    return None
                self._properties = JsonView(properties)
            found, value = self._properties._find(name)
        return _view(value) if found else None

    def as_dict(self) -> dict[str, Any]:
        return dict(self._data)


def _view(value: Any) -> Any:
    if isinstance(value, Mapping):
        return JsonView(value)
    if isinstance(value, list):
        return [_view(v) for v in value]
    return value


def _attr(obj: Any, *path: str) -> Any:
    """obj.a.b.c, or None where any step is missing."""
    for name in path:
        if obj is None:
            return None
        try:
            obj = getattr(obj, name)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
    return obj


def _str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


_CANONICAL_STATES = {s.casefold(): s for s in (
    "Creating", "Updating", "Succeeded", "Failed", "Deleting", "Canceled", "Migrating", "Deallocating",
)}


def _state(value: Any) -> str | None:
    """A provisioning state in ARM's usual spelling (example payloads also say "succeeded")."""
    text = _str(value)
    if not text:
        return None
    return _CANONICAL_STATES.get(text.casefold(), text)


def _int(value: Any, default: int | None = None) -> int | None:
    if value is None or isinstance(value, bool):
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _bool(value: Any, default: bool | None = None) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.casefold() in ("true", "false"):
        return value.casefold() == "true"
    return default


def _ids(refs: Any) -> tuple[str, ...]:
    """The ids of a list of SubResource references."""
    result: list[str] = []
    for ref in refs or ():
        ref_id = _attr(ref, "id")
        if ref_id:
            result.append(str(ref_id))
    return tuple(result)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _has_secret(value: Any) -> bool:
    # An empty value hides nothing: every VM's JSON carries `osProfile.secrets: []`, and copying
    # each instance for it doubled the cost of converting a list.
    if isinstance(value, dict):
        return any((k in SECRET_KEYS and not _is_empty(v)) or _has_secret(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_secret(v) for v in value)
    return False


def _scrub(value: Any) -> Any:
    """`value` without secret keys; the same object when it holds none (the common case)."""
    if not _has_secret(value):
        return value
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in SECRET_KEYS or _is_empty(v)}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def raw_json(model: Any) -> dict[str, Any] | None:
    """The resource as ARM returned it (camelCase JSON), minus anything secret."""
    try:
        data = model.as_dict()
    except (AttributeError, TypeError, ValueError):
        return None
    return _scrub(data)


def _enum_str(value: Any) -> str | None:
    return _str(value)


# ---------------------------------------------------------------- scale sets


def _image_of(profile: Any) -> str | None:
    ref = _attr(profile, "storage_profile", "image_reference")
    if ref is None:
        return None
    parts = [_attr(ref, "publisher"), _attr(ref, "offer"), _attr(ref, "sku"), _attr(ref, "version")]
    if all(parts[:3]):
        return ":".join(str(p) for p in parts if p)
    for field in ("id", "shared_gallery_image_id", "community_gallery_image_id"):
        value = _attr(ref, field)
        if value:
            return str(value)
    return None


def _os_type_of(profile: Any) -> str | None:
    os_type = _enum_str(_attr(profile, "storage_profile", "os_disk", "os_type"))
    if os_type:
        return os_type
    if _attr(profile, "os_profile", "linux_configuration") is not None:
        return "Linux"
    if _attr(profile, "os_profile", "windows_configuration") is not None:
        return "Windows"
    return None


def _rolling_policy(policy: Any) -> RollingPolicy | None:
    if policy is None:
        return None
    defaults = RollingPolicy()
    return RollingPolicy(
        max_batch_instance_percent=_int(_attr(policy, "max_batch_instance_percent"), defaults.max_batch_instance_percent),
        max_unhealthy_instance_percent=_int(
            _attr(policy, "max_unhealthy_instance_percent"), defaults.max_unhealthy_instance_percent
        ),
        max_unhealthy_upgraded_instance_percent=_int(
            _attr(policy, "max_unhealthy_upgraded_instance_percent"), defaults.max_unhealthy_upgraded_instance_percent
        ),
        pause_time_between_batches=_str(_attr(policy, "pause_time_between_batches")) or defaults.pause_time_between_batches,
        prioritize_unhealthy_instances=bool(_bool(_attr(policy, "prioritize_unhealthy_instances"), False)),
        max_surge=bool(_bool(_attr(policy, "max_surge"), False)),
    )


def _nic_configs(profile: Any) -> tuple[NicConfigModel, ...]:
    configs: list[NicConfigModel] = []
    for nic in _attr(profile, "network_profile", "network_interface_configurations") or ():
        ip_configs = tuple(
            IpConfigModel(
                name=_str(_attr(ip, "name")) or "",
                subnet_id=_str(_attr(ip, "subnet", "id")),
                primary=bool(_bool(_attr(ip, "primary"), False)),
                load_balancer_backend_pool_ids=_ids(_attr(ip, "load_balancer_backend_address_pools")),
                load_balancer_nat_pool_ids=_ids(_attr(ip, "load_balancer_inbound_nat_pools")),
                has_public_ip_per_instance=_attr(ip, "public_ip_address_configuration") is not None,
            )
            for ip in (_attr(nic, "ip_configurations") or ())
        )
        configs.append(
            NicConfigModel(
                name=_str(_attr(nic, "name")) or "",
                primary=bool(_bool(_attr(nic, "primary"), False)),
                nsg_id=_str(_attr(nic, "network_security_group", "id")),
                ip_configs=ip_configs,
            )
        )
    return tuple(configs)


def _data_disk_models(profile: Any) -> tuple[DataDiskModel, ...]:
    disks: list[DataDiskModel] = []
    for disk in _attr(profile, "storage_profile", "data_disks") or ():
        lun = _int(_attr(disk, "lun"))
        if lun is None:
            continue
        disks.append(
            DataDiskModel(
                lun=lun,
                size_gb=_int(_attr(disk, "disk_size_gb")),
                sku=_enum_str(_attr(disk, "managed_disk", "storage_account_type")),
                caching=_enum_str(_attr(disk, "caching")),
                create_option=_enum_str(_attr(disk, "create_option")) or "Empty",
                name=_str(_attr(disk, "name")),
            )
        )
    return tuple(sorted(disks, key=lambda d: d.lun))


def scale_set_from_sdk(vmss: Any, *, keep_raw: bool = True) -> ScaleSet:
    resource_id = _str(_attr(vmss, "id")) or ""
    profile = _attr(vmss, "virtual_machine_profile")
    upgrade_policy = _attr(vmss, "upgrade_policy")
    tags = _attr(vmss, "tags")
    tags = tags._data if isinstance(tags, JsonView) else (tags or {})
    return ScaleSet(
        id=resource_id,
        name=_str(_attr(vmss, "name")) or name_of(resource_id) or "",
        resource_group=resource_group_of(resource_id) or "",
        subscription_id=subscription_of(resource_id) or "",
        location=_str(_attr(vmss, "location")) or "",
        sku=_str(_attr(vmss, "sku", "name")) or "",
        capacity=_int(_attr(vmss, "sku", "capacity"), 0) or 0,
        upgrade_mode=_enum_str(_attr(upgrade_policy, "mode")) or "Manual",  # ARM's default
        orchestration_mode=_enum_str(_attr(vmss, "orchestration_mode")) or "Uniform",
        provisioning_state=_state(_attr(vmss, "provisioning_state")) or "Unknown",
        tier=_str(_attr(vmss, "sku", "tier")),
        zones=tuple(str(z) for z in (_attr(vmss, "zones") or ())),
        admin_username=_str(_attr(profile, "os_profile", "admin_username")),
        os_type=_os_type_of(profile),
        image=_image_of(profile),
        overprovision=_bool(_attr(vmss, "overprovision")),
        rolling_policy=_rolling_policy(_attr(upgrade_policy, "rolling_upgrade_policy")),
        scale_in_rules=tuple(_enum_str(r) or "" for r in (_attr(vmss, "scale_in_policy", "rules") or ())),
        nic_configs=_nic_configs(profile),
        data_disks=_data_disk_models(profile),
        tags=tuple(sorted((str(k), str(v)) for k, v in dict(tags).items()) if isinstance(tags, Mapping) else ()),
        raw=raw_json(vmss) if keep_raw else None,
    )


# ---------------------------------------------------------------- instances


def _status_code(status: Any) -> str:
    return _str(_attr(status, "code")) or ""


def power_state_of(statuses: Any) -> str:
    for status in statuses or ():
        code = _status_code(status)
        if code.casefold().startswith("powerstate/"):
            return code.split("/", 1)[1].casefold() or POWER_UNKNOWN
    return POWER_UNKNOWN


def _provisioning_status(statuses: Any) -> tuple[str | None, str | None]:
    """(state, failure message) from a ProvisioningState/* status."""
    for status in statuses or ():
        code = _status_code(status)
        if code.casefold().startswith("provisioningstate/"):
            parts = code.split("/")
            state = _state(parts[1]) if len(parts) > 1 and parts[1] else None
            message = None
            if state == "Failed":
                message = _str(_attr(status, "message")) or (parts[2] if len(parts) > 2 else None)
            return state, message
    return None, None


def _health_of(instance_view: Any) -> str | None:
    code = _str(_attr(instance_view, "vm_health", "status", "code"))
    if not code:
        return None
    return code.split("/", 1)[1].casefold() if "/" in code else code.casefold()


def _disk_states(instance_view: Any) -> dict[str, str]:
    states: dict[str, str] = {}
    for disk in _attr(instance_view, "disks") or ():
        name = _str(_attr(disk, "name"))
        statuses = _attr(disk, "statuses") or ()
        if name and statuses:
            shown = _str(_attr(statuses[0], "display_status")) or _status_code(statuses[0])
            if shown:
                states[name.casefold()] = shown
    return states


def _disk_info(disk: Any, states: Mapping[str, str], *, is_os: bool) -> DiskInfo:
    name = _str(_attr(disk, "name")) or ""
    return DiskInfo(
        name=name,
        lun=None if is_os else _int(_attr(disk, "lun")),
        size_gb=_int(_attr(disk, "disk_size_gb")),
        sku=_enum_str(_attr(disk, "managed_disk", "storage_account_type")),
        caching=_enum_str(_attr(disk, "caching")),
        create_option=_enum_str(_attr(disk, "create_option")),
        managed_disk_id=_str(_attr(disk, "managed_disk", "id")),
        state=states.get(name.casefold()),
        is_os_disk=is_os,
    )


def _nic_ids(vm: Any) -> tuple[str, ...]:
    return _ids(_attr(vm, "network_profile", "network_interfaces"))


def _instance(vm: Any, *, scale_set: str, instance_id: str, latest_model: bool | None,
              orchestration_mode: str, keep_raw: bool) -> Instance:
    resource_id = _str(_attr(vm, "id")) or ""
    instance_view = _attr(vm, "instance_view")
    statuses = _attr(instance_view, "statuses")
    status_state, failure = _provisioning_status(statuses)
    provisioning = _state(_attr(vm, "provisioning_state")) or status_state or "Unknown"
    states = _disk_states(instance_view)
    storage = _attr(vm, "storage_profile")
    os_disk = _attr(storage, "os_disk")
    data_disks = tuple(
        sorted(
            (_disk_info(d, states, is_os=False) for d in (_attr(storage, "data_disks") or ())),
            key=lambda d: (d.lun if d.lun is not None else -1, d.name),
        )
    )
    zones = _attr(vm, "zones") or ()
    fault_domain = _int(_attr(vm, "platform_fault_domain"))
    if fault_domain is None:
        fault_domain = _int(_attr(instance_view, "platform_fault_domain"))
    return Instance(
        id=resource_id,
        scale_set=scale_set,
        resource_group=resource_group_of(resource_id) or "",
        instance_id=instance_id,
        name=_str(_attr(vm, "name")) or "",
        computer_name=_str(_attr(vm, "os_profile", "computer_name")) or _str(_attr(instance_view, "computer_name")),
        power_state=power_state_of(statuses),
        provisioning_state=provisioning,
        latest_model=latest_model,
        zone=str(zones[0]) if zones else None,
        health=_health_of(instance_view),
        vm_size=_str(_attr(vm, "hardware_profile", "vm_size")) or _str(_attr(vm, "sku", "name")),
        os_disk=_disk_info(os_disk, states, is_os=True) if os_disk is not None else None,
        data_disks=data_disks,
        status_message=failure,
        orchestration_mode=orchestration_mode,
        fault_domain=fault_domain,
        nic_ids=_nic_ids(vm),
        raw=raw_json(vm) if keep_raw else None,
    )


def instance_from_sdk(vm: Any, *, scale_set: str | None = None, keep_raw: bool = True) -> Instance:
    """A Uniform scale set's VM (`virtualMachineScaleSets/{vmss}/virtualMachines/{id}`)."""
    resource_id = _str(_attr(vm, "id")) or ""
    return _instance(
        vm,
        scale_set=scale_set or segment_after(resource_id, "virtualMachineScaleSets") or "",
        instance_id=_str(_attr(vm, "instance_id")) or segment_after(resource_id, "virtualMachines") or "",
        latest_model=_bool(_attr(vm, "latest_model_applied")),
        orchestration_mode=ORCHESTRATION_UNIFORM,
        keep_raw=keep_raw,
    )


def vm_scale_set_id_of(vm: Any) -> str | None:
    """The scale set a standalone virtual machine belongs to (`virtualMachineScaleSet.id`)."""
    return _str(_attr(vm, "virtual_machine_scale_set", "id")) or None


def flexible_instance_from_sdk(vm: Any, *, scale_set: str, keep_raw: bool = True) -> Instance:
    """A Flexible scale set's instance: a standalone virtual machine, whose instance id is its
    name. ARM keeps no latestModelApplied on such a VM, so the model state is unknown."""
    resource_id = _str(_attr(vm, "id")) or ""
    name = _str(_attr(vm, "name")) or name_of(resource_id) or ""
    return _instance(
        vm,
        scale_set=scale_set,
        instance_id=name,
        latest_model=None,
        orchestration_mode=ORCHESTRATION_FLEXIBLE,
        keep_raw=keep_raw,
    )


# ---------------------------------------------------------------- network


def instance_nic_from_sdk(nic: Any) -> InstanceNic:
    """A scale-set VM's NIC (its id runs through the VM) or a standalone NIC (the VM it is
    attached to, if any, names the instance: a Flexible VM's name is its instance id)."""
    resource_id = _str(_attr(nic, "id")) or ""
    vm_id = _str(_attr(nic, "virtual_machine", "id"))
    instance_id = segment_after(resource_id, "virtualMachines") or segment_after(vm_id, "virtualMachines")
    ip_configs = tuple(
        InstanceIpConfig(
            name=_str(_attr(ip, "name")) or name_of(_str(_attr(ip, "id"))) or "",
            private_ip=_str(_attr(ip, "private_ip_address")),
            primary=bool(_bool(_attr(ip, "primary"), False)),
            subnet_id=_str(_attr(ip, "subnet", "id")),
            public_ip_id=_str(_attr(ip, "public_ip_address", "id")),
            backend_pool_ids=_ids(_attr(ip, "load_balancer_backend_address_pools")),
            nat_rule_ids=_ids(_attr(ip, "load_balancer_inbound_nat_rules")),
        )
        for ip in (_attr(nic, "ip_configurations") or ())
    )
    return InstanceNic(
        id=resource_id,
        name=_str(_attr(nic, "name")) or name_of(resource_id) or "",
        instance_id=instance_id or "",
        primary=bool(_bool(_attr(nic, "primary"), False)),
        nsg_id=_str(_attr(nic, "network_security_group", "id")),
        ip_configs=ip_configs,
        virtual_machine_id=vm_id or None,
    )


def port_mappings_from_sdk(result: Any) -> tuple[PortMapping, ...]:
    """The answer of queryInboundNatRulePortMapping (`inboundNatRulePortMappings`)."""
    mappings: list[PortMapping] = []
    for m in _attr(result, "inbound_nat_rule_port_mappings") or ():
        frontend = _int(_attr(m, "frontend_port"))
        backend = _int(_attr(m, "backend_port"))
        name = _str(_attr(m, "inbound_nat_rule_name"))
        if frontend is None or backend is None or not name:
            continue
        mappings.append(PortMapping(rule_name=name, frontend_port=frontend, backend_port=backend))
    return tuple(mappings)


def public_ip_address_of(public_ip: Any) -> str | None:
    """The allocated address of a public IP resource; None when not allocated yet."""
    address = _str(_attr(public_ip, "ip_address"))
    return address or None


def frontend_public_ip_ids(lb: Any) -> tuple[str, ...]:
    return tuple(
        str(pip_id)
        for frontend in (_attr(lb, "frontend_ip_configurations") or ())
        if (pip_id := _attr(frontend, "public_ip_address", "id"))
    )


def load_balancer_from_sdk(
    lb: Any, public_ip_addresses: Mapping[str, str | None] | None = None, *, keep_raw: bool = True
) -> LoadBalancer:
    """`public_ip_addresses`: allocated address by public IP id key (arm_ids.id_key)."""
    addresses = public_ip_addresses or {}
    resource_id = _str(_attr(lb, "id")) or ""
    frontends: list[Frontend] = []
    for frontend in _attr(lb, "frontend_ip_configurations") or ():
        pip_id = _str(_attr(frontend, "public_ip_address", "id"))
        frontends.append(
            Frontend(
                id=_str(_attr(frontend, "id")) or "",
                name=_str(_attr(frontend, "name")) or "",
                public_ip_id=pip_id,
                private_ip=None if pip_id else _str(_attr(frontend, "private_ip_address")),
                public_ip=addresses.get(id_key(pip_id)) if pip_id else None,
            )
        )
    pools: list[NatPool] = []
    for pool in _attr(lb, "inbound_nat_pools") or ():
        start = _int(_attr(pool, "frontend_port_range_start"))
        end = _int(_attr(pool, "frontend_port_range_end"))
        backend = _int(_attr(pool, "backend_port"))
        if start is None or end is None or backend is None:
            continue
        pools.append(
            NatPool(
                id=_str(_attr(pool, "id")) or "",
                name=_str(_attr(pool, "name")) or "",
                frontend_id=_str(_attr(pool, "frontend_ip_configuration", "id")),
                protocol=_enum_str(_attr(pool, "protocol")) or "Tcp",
                frontend_port_start=start,
                frontend_port_end=end,
                backend_port=backend,
            )
        )
    rules: list[NatRule] = []
    for rule in _attr(lb, "inbound_nat_rules") or ():
        backend = _int(_attr(rule, "backend_port"))
        if backend is None:
            continue
        range_start = _int(_attr(rule, "frontend_port_range_start"))
        pool_id = _str(_attr(rule, "backend_address_pool", "id"))
        frontend_port = _int(_attr(rule, "frontend_port"))
        rules.append(
            NatRule(
                id=_str(_attr(rule, "id")) or "",
                name=_str(_attr(rule, "name")) or "",
                frontend_id=_str(_attr(rule, "frontend_ip_configuration", "id")),
                protocol=_enum_str(_attr(rule, "protocol")) or "Tcp",
                backend_port=backend,
                # A V2 rule carries frontendPort 0: it has no single port.
                frontend_port=None if (range_start is not None and pool_id) else frontend_port,
                frontend_port_range_start=range_start,
                frontend_port_range_end=_int(_attr(rule, "frontend_port_range_end")),
                backend_address_pool_id=pool_id,
                backend_ip_configuration_id=_str(_attr(rule, "backend_ip_configuration", "id")),
            )
        )
    backend_pools: list[BackendPool] = []
    for pool in _attr(lb, "backend_address_pools") or ():
        pool_addresses: list[BackendAddress] = []
        for address in _attr(pool, "load_balancer_backend_addresses") or ():
            mappings = tuple(
                PortMapping(
                    rule_name=_str(_attr(m, "inbound_nat_rule_name")) or "",
                    frontend_port=_int(_attr(m, "frontend_port"), 0) or 0,
                    backend_port=_int(_attr(m, "backend_port"), 0) or 0,
                )
                for m in (_attr(address, "inbound_nat_rules_port_mapping") or ())
            )
            pool_addresses.append(
                BackendAddress(
                    name=_str(_attr(address, "name")),
                    ip_address=_str(_attr(address, "ip_address")),
                    ip_configuration_id=_str(_attr(address, "network_interface_ip_configuration", "id")),
                    port_mappings=mappings,
                )
            )
        backend_pools.append(
            BackendPool(
                id=_str(_attr(pool, "id")) or "",
                name=_str(_attr(pool, "name")) or "",
                addresses=tuple(pool_addresses),
                backend_ip_configuration_ids=_ids(_attr(pool, "backend_ip_configurations")),
            )
        )
    return LoadBalancer(
        id=resource_id,
        name=_str(_attr(lb, "name")) or name_of(resource_id) or "",
        resource_group=resource_group_of(resource_id) or "",
        sku=_enum_str(_attr(lb, "sku", "name")),
        frontends=tuple(frontends),
        nat_pools=tuple(pools),
        nat_rules=tuple(rules),
        backend_pools=tuple(backend_pools),
        raw=raw_json(lb) if keep_raw else None,
    )


def _security_rule(rule: Any, *, is_default: bool) -> SecurityRule:
    sources: list[str] = []
    single = _str(_attr(rule, "source_address_prefix"))
    if single:
        sources.append(single)
    sources.extend(str(p) for p in (_attr(rule, "source_address_prefixes") or ()) if p)
    for group in _attr(rule, "source_application_security_groups") or ():
        group_id = _str(_attr(group, "id"))
        if group_id:
            sources.append(f"asg:{name_of(group_id)}")
    ports: list[str] = []
    single_port = _str(_attr(rule, "destination_port_range"))
    if single_port:
        ports.append(single_port)
    ports.extend(str(p) for p in (_attr(rule, "destination_port_ranges") or ()) if p)
    return SecurityRule(
        name=_str(_attr(rule, "name")) or "",
        priority=_int(_attr(rule, "priority"), 65535 if is_default else 4096) or 0,
        direction=_enum_str(_attr(rule, "direction")) or "Inbound",
        access=_enum_str(_attr(rule, "access")) or "Deny",
        protocol=_enum_str(_attr(rule, "protocol")) or "*",
        source_prefixes=tuple(sources),
        destination_ports=tuple(ports),
        is_default=is_default,
    )


def nsg_from_sdk(nsg: Any) -> NetworkSecurityGroup:
    resource_id = _str(_attr(nsg, "id")) or ""
    rules = [_security_rule(r, is_default=False) for r in (_attr(nsg, "security_rules") or ())]
    rules += [_security_rule(r, is_default=True) for r in (_attr(nsg, "default_security_rules") or ())]
    return NetworkSecurityGroup(
        id=resource_id,
        name=_str(_attr(nsg, "name")) or name_of(resource_id) or "",
        rules=tuple(rules),
    )


# ---------------------------------------------------------------- rollouts


def _time_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def rollout_from_sdk(info: Any) -> RolloutStatus:
    running = _attr(info, "running_status")
    progress = _attr(info, "progress")
    error = _attr(info, "error")
    return RolloutStatus(
        code=_enum_str(_attr(running, "code")) or "Unknown",
        start_time=_time_str(_attr(running, "start_time")),
        last_action=_enum_str(_attr(running, "last_action")),
        successful=_int(_attr(progress, "successful_instance_count"), 0) or 0,
        failed=_int(_attr(progress, "failed_instance_count"), 0) or 0,
        in_progress=_int(_attr(progress, "in_progress_instance_count"), 0) or 0,
        pending=_int(_attr(progress, "pending_instance_count"), 0) or 0,
        error_code=_str(_attr(error, "code")),
        error_message=_str(_attr(error, "message")),
    )
