"""The simulated resources (plain mutable objects held by a World's store) and the pieces every
subscription shares: the scheduler of simulated time, generated ids and public addresses."""

from __future__ import annotations

import heapq
import ipaddress
import itertools
import logging
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .clock import SimClock
from .topology import LoadBalancerSpec, NsgSpec, PublicIpSpec, ScaleSetSpec, VirtualMachineSpec, VnetSpec

log = logging.getLogger(__name__)

COMPUTE_PROVIDER = "Microsoft.Compute"
NETWORK_PROVIDER = "Microsoft.Network"


class ArmError(Exception):
    """An ARM error response: status + {"error": {"code", "message"}}."""

    def __init__(self, status: int, code: str, message: str, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def compute_not_found() -> ArmError:
    return ArmError(404, "NotFound", "The entity was not found in this Azure location.")


class Scheduler:
    """Events at simulated times. Callbacks scheduled from inside an event are relative to
    that event's time, so lazily processing a backlog gives the same result as real time."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._current: float | None = None

    def now(self) -> float:
        return self._current if self._current is not None else self.clock.now()

    def after(self, delay: float, callback: Callable[[], None]) -> float:
        due = self.now() + max(0.0, delay)
        heapq.heappush(self._heap, (due, next(self._seq), callback))
        return due

    def run_due(self) -> int:
        ran = 0
        limit = self.clock.now()
        while self._heap and self._heap[0][0] <= limit:
            due, _, callback = heapq.heappop(self._heap)
            self._current = due
            try:
                callback()
            except Exception:  # one broken event must not stop the simulated world
                log.exception("simulator event failed")
            finally:
                self._current = None
            ran += 1
        return ran

    def next_due(self) -> float | None:
        return self._heap[0][0] if self._heap else None


class Environment:
    """What every subscription of one simulator shares: the clock and its scheduler, the
    generator of ids, the public address range and the change listeners."""

    def __init__(self, clock: SimClock, ip_prefix: tuple[int, int], seed: int | None = None,
                 guest_factory: Callable[[Any], Any] | None = None) -> None:
        self.clock = clock
        self.scheduler = Scheduler(clock)
        # Every uuid the simulator makes (vmIds, disk names, operation and request ids ...) comes
        # from here: seeded, two runs of the same topology give the same ids (snapshot tests).
        self._id_random = random.Random(seed) if seed is not None else None
        self.ip_prefix = ip_prefix
        self._next_public = 0  # public addresses handed out so far
        self.listeners: list[Callable[[], None]] = []  # called after state changes (SSH reconcile)
        self.guest_factory = guest_factory  # Instance -> its simulated guest OS

    def new_uuid(self) -> uuid.UUID:
        """A random (version 4) uuid; from the seeded generator when the simulator has a seed."""
        if self._id_random is None:
            return uuid.uuid4()
        return uuid.UUID(int=self._id_random.getrandbits(128), version=4)

    def new_hex(self, digits: int) -> str:
        return self.new_uuid().hex[:digits]

    def allocate_public_address(self) -> str:
        """The next loopback address for a public IP: 127.A.B.4 to .254, then on in the next /24s
        (hosts .0 to .3 stay free in each)."""
        a, b = self.ip_prefix
        block, host = divmod(self._next_public, 251)
        host += 4
        if b + block > 255:
            raise ArmError(409, "PublicIPCountLimitReached", "The simulator's range of public addresses is used up.")
        self._next_public += 1
        return f"127.{a}.{b + block}.{host}"

    def changed(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:
                log.exception("state listener failed")


# ---------------------------------------------------------------------------------------------
# Network


@dataclass(eq=False)
class Subnet:
    id: str
    name: str
    vnet: Vnet
    network: ipaddress.IPv4Network
    nsg_id: str | None
    used: set[int] = field(default_factory=set)

    def allocate(self) -> str:
        # Azure reserves the first four addresses of a subnet (and the last one).
        for host in range(4, self.network.num_addresses - 1):
            if host not in self.used:
                self.used.add(host)
                return str(self.network.network_address + host)
        raise ArmError(409, "SubnetIsFull", f"Subnet {self.name} has no free address.")

    def release(self, address: str | None) -> None:
        if address:
            self.used.discard(int(ipaddress.IPv4Address(address)) - int(self.network.network_address))


@dataclass(eq=False)
class Vnet:
    id: str
    name: str
    resource_group: str
    spec: VnetSpec
    subnets: dict[str, Subnet] = field(default_factory=dict)


@dataclass(eq=False)
class Nsg:
    id: str
    name: str
    resource_group: str
    spec: NsgSpec


@dataclass(eq=False)
class PublicIp:
    id: str
    name: str
    resource_group: str
    spec: PublicIpSpec
    address: str | None
    attached_to: str | None = None  # the frontend ip configuration id


@dataclass(eq=False)
class LoadBalancer:
    id: str
    name: str
    resource_group: str
    spec: LoadBalancerSpec
    # (pool or rule name lowered) -> {frontend port: instance}
    pool_ports: dict[str, dict[int, Instance]] = field(default_factory=dict)
    rule_ports: dict[str, dict[int, Instance]] = field(default_factory=dict)
    resource_guid: str = field(default_factory=lambda: str(uuid.uuid4()))

    def child_id(self, kind: str, name: str) -> str:
        return f"{self.id}/{kind}/{name}"


@dataclass(eq=False)
class NetworkInterface:
    """A standalone `Microsoft.Network/networkInterfaces` NIC (Flexible and standalone VMs; a
    Uniform instance's NIC is a child of the instance, rendered from it)."""

    id: str
    name: str
    resource_group: str
    location: str
    instance: Instance | None
    ip_config_name: str
    resource_guid: str

    @property
    def ip_config_id(self) -> str:
        return f"{self.id}/ipConfigurations/{self.ip_config_name}"


# ---------------------------------------------------------------------------------------------
# Compute


@dataclass(eq=False)
class ManagedDisk:
    """A `Microsoft.Compute/disks` resource: an OS disk, a data disk made from a scale set model,
    or a disk attached (or attached to nothing) on its own."""

    id: str
    name: str
    resource_group: str
    location: str
    size_gb: int
    sku: str
    created_at: float
    unique_id: str
    create_option: str = "Empty"  # creationData.createOption: FromImage | Empty | Copy ...
    os_type: str | None = None  # set for OS disks
    managed_by: Instance | None = None
    lun: int | None = None
    caching: str = "None"
    delete_option: str = "Delete"  # what deleting the VM does to it: Delete | Detach
    zone: str | None = None
    model_entry: dict[str, Any] | None = None  # the storage profile entry of the VM that has it
    order: tuple[Any, ...] = ()  # listing order within a resource group

    @property
    def state(self) -> str:
        if self.managed_by is None:
            return "Unattached"
        return "Reserved" if self.managed_by.power == "deallocated" else "Attached"


@dataclass
class ExtensionRun:
    """What one instance reports for one extension (instance view `extensions[]`)."""

    name: str
    type: str
    type_handler_version: str
    code: str
    message: str | None
    time: float
    level: str = "Info"
    display: str = "Provisioning succeeded"
    settings_marker: str = ""  # what the extension was run with (a change makes it run again)


@dataclass(eq=False)
class Instance:
    """A virtual machine: a Uniform scale set's instance (a child resource of the scale set), a
    Flexible scale set's VM or a VM of no scale set (both `Microsoft.Compute/virtualMachines`)."""

    scale_set: ScaleSet | None
    instance_id: str  # Uniform: the number; otherwise the VM name
    power: str
    provisioning: str
    model_version: int
    private_ip: str | None
    created_at: float
    vm_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    disk_suffix: str = field(default_factory=lambda: uuid.uuid4().hex)
    failure: tuple[str, str] | None = None  # (code, message) of a failed provisioning
    health: str | None = None
    # (lb name lowered, pool/rule name lowered) -> frontend port
    pool_ports: dict[tuple[str, str], int] = field(default_factory=dict)
    rule_ports: dict[tuple[str, str], int] = field(default_factory=dict)
    sick: bool = False  # reports HealthState/unhealthy while running
    sick_after_upgrade: bool = False  # turns sick when it next runs a new model (a bad image)
    host_key_generation: int = 0  # bumped on reimage / OS upgrade: the SSH host key changes
    token: int = 0  # bumped when a new action takes over the instance
    busy_with: str | None = None
    busy_since: float = 0.0
    deleted: bool = False
    # Flexible and standalone VMs: the VM resource of their own.
    vm_resource_id: str | None = None
    vm_name: str | None = None
    resource_group_name: str | None = None
    flex_computer_name: str | None = None
    nic: NetworkInterface | None = None
    own_model: dict[str, Any] | None = None  # standalone VMs: their profile
    vm_spec: VirtualMachineSpec | None = None
    fault_domain: int = 0
    zone: str | None = None
    # The managed disks it has: the OS disk and data disks by LUN.
    os_disk: ManagedDisk | None = None
    data_disks: dict[int, ManagedDisk] = field(default_factory=dict)
    extensions: dict[str, ExtensionRun] = field(default_factory=dict)  # by lower-cased name
    prepared_luns: tuple[int, ...] = ()  # topology: data disks its guest had prepared at creation
    guest: Any = None  # the simulated guest OS (made on first use)
    standalone_load_balancer: LoadBalancer | None = None  # VMs of no scale set: their own network
    standalone_subnet: Subnet | None = None

    @property
    def is_uniform(self) -> bool:
        return self.scale_set is not None and self.scale_set.orchestration_mode == "Uniform"

    @property
    def is_flexible(self) -> bool:
        return self.scale_set is not None and self.scale_set.orchestration_mode == "Flexible"

    @property
    def id(self) -> str:
        if self.vm_resource_id is not None:
            return self.vm_resource_id
        assert self.scale_set is not None
        return f"{self.scale_set.id}/virtualMachines/{self.instance_id}"

    @property
    def name(self) -> str:
        if self.vm_name is not None:
            return self.vm_name
        assert self.scale_set is not None
        return f"{self.scale_set.name}_{self.instance_id}"

    @property
    def resource_group(self) -> str:
        if self.resource_group_name is not None:
            return self.resource_group_name
        assert self.scale_set is not None
        return self.scale_set.resource_group

    @property
    def computer_name(self) -> str:
        if self.flex_computer_name is not None:
            return self.flex_computer_name
        assert self.scale_set is not None
        # Uniform scale sets: prefix + 6 base-36 digits of the instance id.
        n = int(self.instance_id)
        digits = ""
        for _ in range(6):
            n, rem = divmod(n, 36)
            digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rem] + digits
        return f"{self.scale_set.computer_name_prefix}{digits}"

    @property
    def admin_user(self) -> str:
        if self.vm_spec is not None:
            return self.vm_spec.admin_user
        assert self.scale_set is not None
        return self.scale_set.spec.admin_user

    @property
    def os_type(self) -> str:
        if self.vm_spec is not None:
            return self.vm_spec.os
        assert self.scale_set is not None
        return self.scale_set.spec.os

    @property
    def model(self) -> dict[str, Any]:
        """The virtual machine profile the instance runs."""
        if self.own_model is not None:
            return self.own_model
        assert self.scale_set is not None
        return self.scale_set.models[self.model_version]

    @property
    def latest_model(self) -> bool:
        if self.scale_set is None:
            return True
        return self.model_version == self.scale_set.model_version

    @property
    def nic_name(self) -> str:
        if self.nic is not None:
            return self.nic.name
        assert self.scale_set is not None
        return self.scale_set.nic_config_name

    @property
    def nic_id(self) -> str:
        if self.nic is not None:
            return self.nic.id
        return f"{self.id}/networkInterfaces/{self.nic_name}"

    @property
    def ip_config_id(self) -> str:
        if self.nic is not None:
            return self.nic.ip_config_id
        assert self.scale_set is not None
        return f"{self.nic_id}/ipConfigurations/{self.scale_set.ip_config_name}"

    @property
    def backend_pool(self) -> str | None:
        if self.vm_spec is not None:
            return self.vm_spec.backend_pool
        assert self.scale_set is not None
        return self.scale_set.spec.backend_pool

    @property
    def load_balancer(self) -> LoadBalancer | None:
        if self.scale_set is not None:
            return self.scale_set.load_balancer
        return self.standalone_load_balancer

    @property
    def subnet(self) -> Subnet | None:
        if self.scale_set is not None:
            return self.scale_set.subnet
        return self.standalone_subnet


@dataclass
class RolloutRecord:
    """One instance's part in a rolling upgrade (for tests and the demo's own checks)."""

    instance_id: str
    batch: int
    started: float
    ended: float | None = None
    result: str = "InProgress"  # InProgress | Succeeded | Failed | Unhealthy | Cancelled
    surge: bool = False  # created by maxSurge to replace an old instance


@dataclass(eq=False)
class RollingUpgrade:
    policy: dict[str, Any]
    start_time: float
    operation: Operation
    pending: list[Instance]
    code: str = "RollingForward"  # RollingForward | Cancelled | Completed | Faulted
    last_action: str = "Start"
    last_action_time: float = 0.0
    successful: int = 0
    failed: int = 0
    in_progress: list[Instance] = field(default_factory=list)
    cancel_requested: bool = False
    cancel_ops: list[Operation] = field(default_factory=list)
    error: dict[str, Any] | None = None
    end_time: float | None = None
    batches: int = 0
    records: list[RolloutRecord] = field(default_factory=list)


@dataclass(eq=False)
class ScaleSet:
    id: str
    name: str
    resource_group: str
    spec: ScaleSetSpec
    location: str
    sku_name: str
    capacity: int
    upgrade_mode: str
    models: list[dict[str, Any]]  # virtualMachineProfile per model version
    model_version: int
    rolling_policy: dict[str, Any] | None
    tags: dict[str, str]
    created_at: float
    subnet: Subnet | None
    load_balancer: LoadBalancer | None
    instances: dict[str, Instance] = field(default_factory=dict)
    next_instance_id: int = 0
    provisioning_state: str = "Succeeded"
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    rolling: RollingUpgrade | None = None
    updates_running: int = 0
    extra_properties: dict[str, Any] = field(default_factory=dict)
    order: int = 0  # position in the subscription (listing order of what belongs to it)

    @property
    def orchestration_mode(self) -> str:
        return self.spec.orchestration_mode

    @property
    def computer_name_prefix(self) -> str:
        return self.spec.computer_name_prefix or self.spec.name

    @property
    def nic_config_name(self) -> str:
        return f"{self.spec.name}-nic"

    @property
    def ip_config_name(self) -> str:
        return f"{self.spec.name}-ipconfig"

    def sorted_instances(self) -> list[Instance]:
        if self.orchestration_mode == "Uniform":
            return sorted(self.instances.values(), key=lambda i: int(i.instance_id))
        return sorted(self.instances.values(), key=lambda i: (i.created_at, i.instance_id))


@dataclass(eq=False)
class Operation:
    id: str
    name: str  # action name, for logs and fault rules
    location: str
    start: float
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Canceled
    end: float | None = None
    error: dict[str, Any] | None = None
    output: dict[str, Any] | None = None  # the result a Location poll answers with (run command ...)
    pending: int = 0
    failed_parts: int = 0
    pending_error: dict[str, Any] | None = None  # set by a failed part; reported when all parts end
    on_done: list[Callable[[Operation], None]] = field(default_factory=list)
    provider: str = COMPUTE_PROVIDER  # whose operations endpoint polls it

    @property
    def done(self) -> bool:
        return self.status != "InProgress"


@dataclass
class ActionFault:
    """Make the next `count` operations of `action` end Failed with `code`."""

    action: str
    code: str = "InternalExecutionError"
    message: str = "An internal execution error occurred. Please retry later."
    count: int | None = 1  # None: every time
    instance_ids: set[str] | None = None  # only when the action touches one of these
