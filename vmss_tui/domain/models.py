"""Immutable domain objects: what the console shows, free of any SDK model.

The `azure` layer builds these from ARM resources; the `ui` layer only reads them.
`raw` fields keep the resource JSON as ARM returned it (for the `y` view); they are
excluded from equality so that a refresh that changed nothing compares equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Power states as the short codes after "PowerState/".
POWER_RUNNING = "running"
POWER_STARTING = "starting"
POWER_STOPPING = "stopping"
POWER_STOPPED = "stopped"
POWER_DEALLOCATING = "deallocating"
POWER_DEALLOCATED = "deallocated"
POWER_UNKNOWN = "unknown"

ORCHESTRATION_UNIFORM = "Uniform"
ORCHESTRATION_FLEXIBLE = "Flexible"

KIND_POOL = "pool"  # inbound NAT pool (V1): per-instance rules `{pool}.{instanceId}`
KIND_RULE_V2 = "rule-v2"  # NAT rule V2: port range + backend address pool


def _raw() -> Any:
    return field(default=None, compare=False, hash=False, repr=False)


@dataclass(frozen=True, slots=True)
class RollingPolicy:
    max_batch_instance_percent: int = 20
    max_unhealthy_instance_percent: int = 20
    max_unhealthy_upgraded_instance_percent: int = 20
    pause_time_between_batches: str = "PT0S"  # ISO 8601 duration as ARM sends it
    prioritize_unhealthy_instances: bool = False
    max_surge: bool = False


@dataclass(frozen=True, slots=True)
class IpConfigModel:
    """An ipConfiguration of the scale set model's NIC configuration."""

    name: str
    subnet_id: str | None = None
    primary: bool = False
    load_balancer_backend_pool_ids: tuple[str, ...] = ()
    load_balancer_nat_pool_ids: tuple[str, ...] = ()
    has_public_ip_per_instance: bool = False


@dataclass(frozen=True, slots=True)
class NicConfigModel:
    """A networkInterfaceConfiguration of the scale set model."""

    name: str
    primary: bool = False
    nsg_id: str | None = None
    ip_configs: tuple[IpConfigModel, ...] = ()


@dataclass(frozen=True, slots=True)
class DataDiskModel:
    """A data disk in the scale set model (storageProfile.dataDisks)."""

    lun: int
    size_gb: int | None
    sku: str | None  # storageAccountType, e.g. Premium_LRS
    caching: str | None  # None | ReadOnly | ReadWrite
    create_option: str  # Empty | FromImage | Attach ...
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ScaleSet:
    id: str
    name: str
    resource_group: str
    subscription_id: str
    location: str
    sku: str
    capacity: int
    upgrade_mode: str  # Automatic | Manual | Rolling
    orchestration_mode: str  # Uniform | Flexible
    provisioning_state: str
    tier: str | None = None
    zones: tuple[str, ...] = ()
    admin_username: str | None = None
    os_type: str | None = None  # Linux | Windows
    image: str | None = None  # "publisher:offer:sku:version" or an image id
    overprovision: bool | None = None
    scale_in_rules: tuple[str, ...] = ()  # scaleInPolicy.rules: Default | NewestVM | OldestVM; () = Default
    rolling_policy: RollingPolicy | None = None
    nic_configs: tuple[NicConfigModel, ...] = ()
    data_disks: tuple[DataDiskModel, ...] = ()
    tags: tuple[tuple[str, str], ...] = ()
    raw: Any = _raw()
    source: str = "arm"  # SOURCE_ARM | SOURCE_RESOURCE_GRAPH (which lags ARM by up to a minute)

    @property
    def is_flexible(self) -> bool:
        """Flexible orchestration: the instances are standalone virtual machines."""
        return self.orchestration_mode.casefold() == ORCHESTRATION_FLEXIBLE.casefold()


@dataclass(frozen=True, slots=True)
class DiskInfo:
    """A disk attached to an instance, as ARM reports it on the VM."""

    name: str
    lun: int | None  # None for the OS disk
    size_gb: int | None
    sku: str | None
    caching: str | None
    create_option: str | None
    managed_disk_id: str | None = None
    state: str | None = None  # from the instance view status, e.g. "Provisioning succeeded"
    is_os_disk: bool = False


@dataclass(frozen=True, slots=True)
class Instance:
    """A scale-set instance: a scale-set VM (Uniform) or a virtual machine of the set (Flexible)."""

    id: str  # resource id, the key for rows
    scale_set: str
    resource_group: str
    instance_id: str  # Uniform: the decimal instance id; Flexible: the VM name
    name: str
    computer_name: str | None
    power_state: str  # POWER_* short code
    provisioning_state: str  # Creating | Updating | Succeeded | Failed | Deleting
    latest_model: bool | None  # None: ARM does not say (always so for Flexible VMs)
    zone: str | None = None
    health: str | None = None  # healthy | unhealthy | unknown | initializing (HealthState/*)
    vm_size: str | None = None
    os_disk: DiskInfo | None = None
    data_disks: tuple[DiskInfo, ...] = ()
    status_message: str | None = None  # the message of a failed provisioning status
    orchestration_mode: str = ORCHESTRATION_UNIFORM
    fault_domain: int | None = None  # platformFaultDomain, where ARM reports one
    nic_ids: tuple[str, ...] = ()  # the VM's networkProfile.networkInterfaces ids
    raw: Any = _raw()

    @property
    def is_running(self) -> bool:
        return self.power_state == POWER_RUNNING


@dataclass(frozen=True, slots=True)
class InstanceIpConfig:
    name: str
    private_ip: str | None
    primary: bool = False
    subnet_id: str | None = None
    public_ip_id: str | None = None
    backend_pool_ids: tuple[str, ...] = ()
    nat_rule_ids: tuple[str, ...] = ()  # V1 per-instance rules this ip config is a backend of


@dataclass(frozen=True, slots=True)
class InstanceNic:
    """A network interface of a scale-set instance (Uniform: from the scale set's NIC list;
    Flexible: a standalone NIC of the resource group attached to one of the set's VMs)."""

    id: str
    name: str
    instance_id: str  # Uniform: the instance id; Flexible: the VM name
    primary: bool = False
    nsg_id: str | None = None
    ip_configs: tuple[InstanceIpConfig, ...] = ()
    virtual_machine_id: str | None = None  # the VM it is attached to (None: attached to none)

    @property
    def primary_private_ip(self) -> str | None:
        for cfg in self.ip_configs:
            if cfg.primary and cfg.private_ip:
                return cfg.private_ip
        return next((c.private_ip for c in self.ip_configs if c.private_ip), None)


@dataclass(frozen=True, slots=True)
class Frontend:
    """A load balancer frontend IP configuration."""

    id: str
    name: str
    public_ip_id: str | None = None
    private_ip: str | None = None  # internal load balancer
    public_ip: str | None = None  # filled in from the public IP resource; None if not allocated


@dataclass(frozen=True, slots=True)
class NatPool:
    id: str
    name: str
    frontend_id: str | None
    protocol: str
    frontend_port_start: int
    frontend_port_end: int
    backend_port: int


@dataclass(frozen=True, slots=True)
class NatRule:
    """An inbound NAT rule: a V1 single rule (perhaps created from a pool) or a V2 range rule."""

    id: str
    name: str
    frontend_id: str | None
    protocol: str
    backend_port: int
    frontend_port: int | None = None  # V1
    frontend_port_range_start: int | None = None  # V2
    frontend_port_range_end: int | None = None  # V2
    backend_address_pool_id: str | None = None  # V2
    backend_ip_configuration_id: str | None = None  # V1

    @property
    def is_v2(self) -> bool:
        return self.frontend_port_range_start is not None and self.backend_address_pool_id is not None


@dataclass(frozen=True, slots=True)
class PortMapping:
    """One entry of a backend address's inboundNatRulesPortMapping."""

    rule_name: str
    frontend_port: int
    backend_port: int


@dataclass(frozen=True, slots=True)
class BackendAddress:
    name: str | None
    ip_address: str | None
    ip_configuration_id: str | None  # NIC ip configuration for NIC-based pools
    port_mappings: tuple[PortMapping, ...] = ()


@dataclass(frozen=True, slots=True)
class BackendPool:
    id: str
    name: str
    addresses: tuple[BackendAddress, ...] = ()
    backend_ip_configuration_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LoadBalancer:
    id: str
    name: str
    resource_group: str
    sku: str | None = None
    frontends: tuple[Frontend, ...] = ()
    nat_pools: tuple[NatPool, ...] = ()
    nat_rules: tuple[NatRule, ...] = ()
    backend_pools: tuple[BackendPool, ...] = ()
    raw: Any = _raw()


@dataclass(frozen=True, slots=True)
class SecurityRule:
    name: str
    priority: int
    direction: str  # Inbound | Outbound
    access: str  # Allow | Deny
    protocol: str  # Tcp | Udp | Icmp | * ...
    source_prefixes: tuple[str, ...]
    destination_ports: tuple[str, ...]  # "22", "1000-2000", "*"
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class NetworkSecurityGroup:
    id: str
    name: str
    rules: tuple[SecurityRule, ...] = ()


# Where a NAT mapping's frontend can be reached from.
FRONTEND_PUBLIC = "public"
FRONTEND_UNALLOCATED = "unallocated"  # public IP resource with no address yet
FRONTEND_PRIVATE = "private"  # internal load balancer


@dataclass(frozen=True, slots=True)
class NsgVerdict:
    """Whether inbound traffic to one backend port passes the NSGs on the path."""

    port: int
    protocol: str
    allowed: bool | None  # None: could not be determined (NSG not readable)
    nsg: str | None  # the NSG (name) whose rule decided; None when no NSG applies
    rule: str | None  # the deciding rule's name
    sources: tuple[str, ...] = ()  # source prefixes the deciding allow rule admits
    open_to_any: bool = False  # allowed from *, Internet, 0.0.0.0/0
    reason: str = ""  # one line for people

    @property
    def label(self) -> str:
        if self.allowed is None:
            return "unknown"
        if not self.allowed:
            return f"blocked ({self.rule})" if self.rule else "blocked"
        src = ",".join(self.sources) if self.sources else "any"
        return f"allowed from {src}" + (" (OPEN)" if self.open_to_any else "")


@dataclass(frozen=True, slots=True)
class NatMapping:
    scale_set: str
    resource_group: str
    instance_id: str
    protocol: str  # Tcp | Udp
    backend_port: int
    frontend_ip: str | None  # None when not allocated
    frontend_port: int
    load_balancer: str
    rule: str
    kind: str  # KIND_POOL | KIND_RULE_V2
    frontend_state: str = FRONTEND_PUBLIC
    frontend_name: str | None = None
    nsg: NsgVerdict | None = None
    instance_rule: str | None = None  # V1: the per-instance rule `{pool}.{instanceId}` behind this mapping

    @property
    def endpoint(self) -> str | None:
        return f"{self.frontend_ip}:{self.frontend_port}" if self.frontend_ip else None


@dataclass(frozen=True, slots=True)
class NatResolution:
    """The NAT mappings of one scale set, and why there are none where there are none."""

    mappings: tuple[NatMapping, ...] = ()
    notes: tuple[str, ...] = ()  # e.g. "no load balancer", "internal load balancer lb-int: private only"


@dataclass(frozen=True, slots=True)
class RolloutStatus:
    """The latest rolling upgrade of a scale set (rollingUpgrades/latest)."""

    code: str  # RollingForward | Cancelled | Completed | Faulted
    start_time: str | None
    last_action: str | None
    successful: int = 0
    failed: int = 0
    in_progress: int = 0
    pending: int = 0
    error_code: str | None = None
    error_message: str | None = None
    policy: RollingPolicy | None = None  # the policy this rollout runs under (ARM's copy)
    last_action_time: str | None = None
    end_time: str | None = None  # lastActionTime once the code is final (ARM sends no end time)
    error_details: tuple[ArmErrorDetail, ...] = ()  # e.g. one per instance a cancel left behind

    @property
    def is_running(self) -> bool:
        return self.code in ("RollingForward", "RollingBack")


@dataclass(frozen=True, slots=True)
class ArmErrorDetail:
    """One entry of an ARM error's `details`."""

    code: str | None
    target: str | None
    message: str | None


# Where a ScaleSet came from.
SOURCE_ARM = "arm"
SOURCE_RESOURCE_GRAPH = "resource-graph"


@dataclass(frozen=True, slots=True)
class ManagedDisk:
    """A managed disk resource (Microsoft.Compute/disks), attached or not."""

    id: str
    name: str
    resource_group: str
    location: str
    size_gb: int | None
    sku: str | None  # Premium_LRS, StandardSSD_LRS ...
    state: str | None  # diskState: Unattached | Attached | Reserved | ActiveSAS ...
    managed_by: str | None  # resource id of the VM (or scale-set VM) it is attached to; None: unattached
    create_option: str | None  # Empty | FromImage | Copy | Attach ...
    zone: str | None = None
    lun: int | None = None  # where known (from the VM that has it attached)
    os_type: str | None = None  # set on OS disks
    provisioning_state: str | None = None
    time_created: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    raw: Any = _raw()

    @property
    def is_attached(self) -> bool:
        return bool(self.managed_by)


@dataclass(frozen=True, slots=True)
class InstanceFailure:
    """One instance whose part of an action failed."""

    instance_id: str
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class OperationResult:
    """The end of a long-running operation (or of one per VM, for a Flexible scale set's VMs)."""

    status: str  # Succeeded | Failed | Canceled
    error_code: str | None = None
    error_message: str | None = None
    failures: tuple[InstanceFailure, ...] = ()  # per-VM actions: the VMs whose operation failed


@dataclass(frozen=True, slots=True)
class Throttling:
    """ARM throttling headroom from the last response's headers."""

    remaining_subscription_reads: int | None = None
    remaining_resource: tuple[tuple[str, int], ...] = ()  # (policy, remaining)
