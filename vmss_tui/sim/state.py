"""Live state of the simulated subscription and the engine that changes it over simulated time.

Everything here runs on the simulator's event loop thread; nothing blocks. State changes
are events in a heap keyed by simulated time; `World.advance()` runs the ones that are
due, and is called before every request and by a periodic ticker, so what a client reads
is always consistent with the clock.
"""

from __future__ import annotations

import copy
import heapq
import ipaddress
import itertools
import logging
import math
import random
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .clock import SimClock
from .topology import (
    InstanceStateSpec,
    LoadBalancerSpec,
    NsgSpec,
    PublicIpSpec,
    RollingPolicySpec,
    ScaleSetSpec,
    Topology,
    VnetSpec,
)

log = logging.getLogger(__name__)

# Base durations in simulated seconds (recorded real durations where we have them:
# restart ~1.4 s, start ~6 s, power off ~19 s, a two-instance rolling upgrade ~41 s).
DURATIONS: dict[str, float] = {
    "start": 6.0,
    "powerOff": 19.0,
    "deallocate": 30.0,
    "restart": 1.4,
    "reimage": 30.0,
    "upgrade": 20.0,
    "create": 40.0,
    "delete": 15.0,
    "runCommand": 3.0,
    "cancel": 1.0,
}
# A restart's LRO ends Succeeded after its API part (DURATIONS["restart"]) while the guest is still
# booting: the instance then reports PowerState/starting for this long before it is running.
GUEST_BOOT_AFTER_RESTART = 8.0

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


# ---------------------------------------------------------------------------------------------
# Resources


@dataclass
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


@dataclass
class Vnet:
    id: str
    name: str
    resource_group: str
    spec: VnetSpec
    subnets: dict[str, Subnet] = field(default_factory=dict)


@dataclass
class Nsg:
    id: str
    name: str
    resource_group: str
    spec: NsgSpec


@dataclass
class PublicIp:
    id: str
    name: str
    resource_group: str
    spec: PublicIpSpec
    address: str | None
    attached_to: str | None = None  # the frontend ip configuration id


@dataclass
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


@dataclass
class Instance:
    scale_set: ScaleSet
    instance_id: str
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
    host_key_generation: int = 0  # bumped on reimage / OS upgrade: the SSH host key changes
    token: int = 0  # bumped when a new action takes over the instance
    busy_with: str | None = None
    busy_since: float = 0.0
    deleted: bool = False

    @property
    def id(self) -> str:
        return f"{self.scale_set.id}/virtualMachines/{self.instance_id}"

    @property
    def name(self) -> str:
        return f"{self.scale_set.name}_{self.instance_id}"

    @property
    def computer_name(self) -> str:
        # Uniform scale sets: prefix + 6 base-36 digits of the instance id.
        n = int(self.instance_id)
        digits = ""
        for _ in range(6):
            n, rem = divmod(n, 36)
            digits = "0123456789abcdefghijklmnopqrstuvwxyz"[rem] + digits
        return f"{self.scale_set.computer_name_prefix}{digits}"

    @property
    def latest_model(self) -> bool:
        return self.model_version == self.scale_set.model_version

    @property
    def nic_name(self) -> str:
        return self.scale_set.nic_config_name

    @property
    def nic_id(self) -> str:
        return f"{self.id}/networkInterfaces/{self.nic_name}"

    @property
    def ip_config_id(self) -> str:
        return f"{self.nic_id}/ipConfigurations/{self.scale_set.ip_config_name}"


@dataclass
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


@dataclass
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
        return sorted(self.instances.values(), key=lambda i: int(i.instance_id))


@dataclass
class Operation:
    id: str
    name: str  # action name, for logs and fault rules
    location: str
    start: float
    status: str = "InProgress"  # InProgress | Succeeded | Failed | Canceled
    end: float | None = None
    error: dict[str, Any] | None = None
    output: dict[str, Any] | None = None  # runCommand result
    pending: int = 0
    failed_parts: int = 0
    pending_error: dict[str, Any] | None = None  # set by a failed part; reported when all parts end
    on_done: list[Callable[[Operation], None]] = field(default_factory=list)

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


# ---------------------------------------------------------------------------------------------


def _parse_duration(text: str) -> float:
    """ISO 8601 durations as rolling upgrade policies use them (PT0S, PT2M, PT1H30M)."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", text or "PT0S")
    if not match:
        return 0.0
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def rolling_policy_dict(spec: RollingPolicySpec | None) -> dict[str, Any]:
    spec = spec or RollingPolicySpec()
    return {
        "maxBatchInstancePercent": spec.max_batch_instance_percent,
        "maxUnhealthyInstancePercent": spec.max_unhealthy_instance_percent,
        "maxUnhealthyUpgradedInstancePercent": spec.max_unhealthy_upgraded_instance_percent,
        "pauseTimeBetweenBatches": spec.pause_time_between_batches,
        "prioritizeUnhealthyInstances": spec.prioritize_unhealthy_instances,
        "maxSurge": spec.max_surge,
        "rollbackFailedInstancesOnPolicyBreach": False,
    }


class World:
    """All simulated resources of one subscription, plus the engine that moves them."""

    def __init__(self, topology: Topology, clock: SimClock, subscription_id: str, ip_prefix: tuple[int, int],
                 seed: int | None = None) -> None:
        self.topology = topology
        # Every uuid the simulator makes (vmIds, disk names, operation and request ids ...) comes
        # from here: seeded, two runs of the same topology give the same ids (snapshot tests).
        self._id_random = random.Random(seed) if seed is not None else None
        self.clock = clock
        self.scheduler = Scheduler(clock)
        self.subscription_id = subscription_id
        self.location = topology.location
        self.ip_prefix = ip_prefix
        self.resource_groups: dict[str, str] = {rg.lower(): rg for rg in topology.all_resource_groups()}
        self.vnets: dict[str, Vnet] = {}
        self.subnets: dict[str, Subnet] = {}
        self.nsgs: dict[str, Nsg] = {}
        self.public_ips: dict[str, PublicIp] = {}
        self.load_balancers: dict[str, LoadBalancer] = {}
        self.scale_sets: dict[str, ScaleSet] = {}
        self.operations: dict[str, Operation] = {}
        self.action_faults: list[ActionFault] = []
        self._op_instances: dict[str, list[Instance]] = {}
        self.listeners: list[Callable[[], None]] = []  # called after state changes (SSH reconcile)
        self._next_public_host = 4
        self._build()

    # ---- ids

    def new_uuid(self) -> uuid.UUID:
        """A random (version 4) uuid; from the seeded generator when the simulator has a seed."""
        if self._id_random is None:
            return uuid.uuid4()
        return uuid.UUID(int=self._id_random.getrandbits(128), version=4)

    def rg_id(self, rg: str) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{rg}"

    def resource_id(self, rg: str, provider: str, kind: str, name: str) -> str:
        return f"{self.rg_id(rg)}/providers/{provider}/{kind}/{name}"

    def canonical_rg(self, rg: str) -> str:
        try:
            return self.resource_groups[rg.lower()]
        except KeyError:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.") from None

    # ---- building from the topology

    def _build(self) -> None:
        topo = self.topology
        for nsg_spec in topo.nsgs:
            nsg_id = self.resource_id(nsg_spec.resource_group, NETWORK_PROVIDER, "networkSecurityGroups", nsg_spec.name)
            self.nsgs[nsg_id.lower()] = Nsg(nsg_id, nsg_spec.name, nsg_spec.resource_group, nsg_spec)
        for vnet_spec in topo.vnets:
            vnet_id = self.resource_id(vnet_spec.resource_group, NETWORK_PROVIDER, "virtualNetworks", vnet_spec.name)
            vnet = Vnet(vnet_id, vnet_spec.name, vnet_spec.resource_group, vnet_spec)
            for subnet_spec in vnet_spec.subnets:
                nsg_id = None
                if subnet_spec.nsg:
                    nsg_id = self.resource_id(vnet_spec.resource_group, NETWORK_PROVIDER, "networkSecurityGroups", subnet_spec.nsg)
                subnet = Subnet(f"{vnet_id}/subnets/{subnet_spec.name}", subnet_spec.name, vnet,
                                ipaddress.IPv4Network(subnet_spec.prefix), nsg_id)
                vnet.subnets[subnet_spec.name.lower()] = subnet
                self.subnets[subnet.id.lower()] = subnet
            self.vnets[vnet_id.lower()] = vnet
        for pip_spec in topo.public_ips:
            self._add_public_ip(pip_spec)
        for lb_spec in topo.load_balancers:
            lb_id = self.resource_id(lb_spec.resource_group, NETWORK_PROVIDER, "loadBalancers", lb_spec.name)
            lb = LoadBalancer(lb_id, lb_spec.name, lb_spec.resource_group, lb_spec, resource_guid=str(self.new_uuid()))
            for pool in lb_spec.nat_pools:
                lb.pool_ports[pool.name.lower()] = {}
            for rule in lb_spec.nat_rules_v2:
                lb.rule_ports[rule.name.lower()] = {}
            for fe in lb_spec.frontends:
                if fe.public_ip:
                    pip = self.public_ips.get(
                        self.resource_id(lb_spec.resource_group, NETWORK_PROVIDER, "publicIPAddresses", fe.public_ip).lower())
                    if pip:
                        pip.attached_to = lb.child_id("frontendIPConfigurations", fe.name)
            self.load_balancers[lb_id.lower()] = lb
        for ss_spec in topo.scale_sets:
            self._add_scale_set(ss_spec)

    def _add_public_ip(self, spec: PublicIpSpec) -> PublicIp:
        pip_id = self.resource_id(spec.resource_group, NETWORK_PROVIDER, "publicIPAddresses", spec.name)
        address = self.allocate_public_address() if spec.allocated else None
        pip = PublicIp(pip_id, spec.name, spec.resource_group, spec, address)
        self.public_ips[pip_id.lower()] = pip
        return pip

    def allocate_public_address(self) -> str:
        host = self._next_public_host
        self._next_public_host += 1
        a, b = self.ip_prefix
        if host > 254:
            raise ArmError(409, "PublicIPCountLimitReached", "The simulator's /24 of public addresses is used up.")
        return f"127.{a}.{b}.{host}"

    def _add_scale_set(self, spec: ScaleSetSpec) -> ScaleSet:
        ss_id = self.resource_id(spec.resource_group, COMPUTE_PROVIDER, "virtualMachineScaleSets", spec.name)
        subnet = None
        if spec.vnet and spec.subnet:
            vnet_rg = spec.vnet_resource_group or spec.resource_group
            vnet_id = self.resource_id(vnet_rg, NETWORK_PROVIDER, "virtualNetworks", spec.vnet)
            subnet = self.subnets.get(f"{vnet_id}/subnets/{spec.subnet}".lower())
            if subnet is None:
                raise ValueError(f"scale set {spec.name}: subnet {spec.vnet}/{spec.subnet} is not in the topology")
        lb = None
        if spec.load_balancer:
            lb = self.load_balancers.get(
                self.resource_id(spec.resource_group, NETWORK_PROVIDER, "loadBalancers", spec.load_balancer).lower())
            if lb is None:
                raise ValueError(f"scale set {spec.name}: load balancer {spec.load_balancer} is not in the topology")
        needs_previous = any(not s.latest_model for s in spec.instance_states.values())
        latest = self._model_profile(spec, spec.image[3], subnet, lb)
        models = [self._model_profile(spec, spec.previous_image_version, subnet, lb), latest] if needs_previous else [latest]
        ss = ScaleSet(
            id=ss_id,
            name=spec.name,
            resource_group=spec.resource_group,
            spec=spec,
            location=self.location,
            sku_name=spec.sku,
            capacity=0,
            upgrade_mode=spec.upgrade_mode,
            models=models,
            model_version=len(models) - 1,
            rolling_policy=rolling_policy_dict(spec.rolling_policy) if (spec.upgrade_mode == "Rolling" or spec.rolling_policy) else None,
            tags=dict(spec.tags),
            created_at=-86400.0 * 30,
            subnet=subnet,
            load_balancer=lb,
            unique_id=str(self.new_uuid()),
        )
        self.scale_sets[ss_id.lower()] = ss
        for verb, arg in spec.initial_history():
            if verb == "create":
                assert isinstance(arg, int)
                for _ in range(arg):
                    self._create_instance(ss, ready=True)
            elif verb == "delete":
                assert isinstance(arg, list)
                for iid in arg:
                    inst = ss.instances.get(str(iid))
                    if inst:
                        self._remove_instance(inst)
            else:
                raise ValueError(f"unknown history step {verb!r}")
        for iid, state in spec.instance_states.items():
            inst = ss.instances.get(str(iid))
            if inst is None:
                raise ValueError(f"scale set {spec.name}: instance_states names instance {iid}, which does not exist")
            self._apply_instance_state(inst, state)
        ss.capacity = len(ss.instances)
        return ss

    def _apply_instance_state(self, inst: Instance, state: InstanceStateSpec) -> None:
        inst.power = state.power
        if not state.latest_model:
            inst.model_version = inst.scale_set.model_version - 1
        if state.health:
            inst.health = state.health
            inst.sick = state.health == "unhealthy"
        elif inst.health is not None and inst.power != "running":
            inst.health = "unknown"  # as after a stop: a guest that is not running reports no health
        if state.provisioning_failed:
            inst.provisioning = "Failed"
            inst.failure = state.provisioning_failed

    def _model_profile(self, spec: ScaleSetSpec, image_version: str, subnet: Subnet | None,
                       lb: LoadBalancer | None) -> dict[str, Any]:
        publisher, offer, sku, _ = spec.image
        os_profile: dict[str, Any] = {
            "computerNamePrefix": spec.computer_name_prefix or spec.name,
            "adminUsername": spec.admin_user,
            "secrets": [],
            "allowExtensionOperations": True,
            "requireGuestProvisionSignal": True,
        }
        if spec.os == "Windows":
            os_profile["windowsConfiguration"] = {"provisionVMAgent": True, "enableAutomaticUpdates": True}
        else:
            os_profile["linuxConfiguration"] = {
                "disablePasswordAuthentication": True,
                "ssh": {"publicKeys": [{"path": f"/home/{spec.admin_user}/.ssh/authorized_keys",
                                        "keyData": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAISimulatorPlaceholderKey sim"}]},
                "provisionVMAgent": True,
            }
        ip_config: dict[str, Any] = {"primary": True, "privateIPAddressVersion": "IPv4"}
        if subnet:
            ip_config["subnet"] = {"id": subnet.id}
        if lb and spec.backend_pool:
            ip_config["loadBalancerBackendAddressPools"] = [{"id": lb.child_id("backendAddressPools", spec.backend_pool)}]
        if lb and spec.nat_pools:
            ip_config["loadBalancerInboundNatPools"] = [
                {"id": lb.child_id("inboundNatPools", pool)} for pool in spec.nat_pools
            ]
        if spec.instance_public_ip:
            ip_config["publicIPAddressConfiguration"] = {
                "name": f"{spec.name}-pip", "properties": {"idleTimeoutInMinutes": 15}}
        nic_config: dict[str, Any] = {
            "primary": True,
            "enableAcceleratedNetworking": False,
            "disableTcpStateTracking": False,
            "dnsSettings": {"dnsServers": []},
            "enableIPForwarding": False,
            "ipConfigurations": [{"name": f"{spec.name}-ipconfig", "properties": ip_config}],
        }
        if spec.nsg:
            nic_config["networkSecurityGroup"] = {
                "id": self.resource_id(spec.resource_group, NETWORK_PROVIDER, "networkSecurityGroups", spec.nsg)}
        profile: dict[str, Any] = {
            "osProfile": os_profile,
            "storageProfile": {
                "imageReference": {"publisher": publisher, "offer": offer, "sku": sku, "version": image_version},
                "osDisk": {
                    "osType": spec.os,
                    "createOption": "FromImage",
                    "caching": "ReadWrite",
                    "managedDisk": {"storageAccountType": "Premium_LRS"},
                    "diskSizeGB": 127 if spec.os == "Windows" else 30,
                },
                "dataDisks": [
                    {"lun": d.lun, "createOption": "Empty", "caching": d.caching, "diskSizeGB": d.size_gb,
                     "managedDisk": {"storageAccountType": d.sku}}
                    for d in spec.data_disks
                ],
            },
            "networkProfile": {"networkInterfaceConfigurations": [{"name": f"{spec.name}-nic", "properties": nic_config}]},
            "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
        }
        if spec.health_probe:
            profile["extensionProfile"] = {"extensions": [{
                "name": "HealthExtension",
                "properties": {
                    "publisher": "Microsoft.ManagedServices",
                    "type": "ApplicationHealthLinux" if spec.os == "Linux" else "ApplicationHealthWindows",
                    "typeHandlerVersion": "2.0",
                    "autoUpgradeMinorVersion": True,
                    "settings": {"protocol": "tcp", "port": 22},
                },
            }]}
        return profile

    # ---- instances

    def _create_instance(self, ss: ScaleSet, ready: bool) -> Instance:
        iid = str(ss.next_instance_id)
        ss.next_instance_id += 1
        private_ip = ss.subnet.allocate() if ss.subnet else None
        vm_id = str(self.new_uuid())
        inst = Instance(
            scale_set=ss,
            vm_id=vm_id,
            disk_suffix=self.new_uuid().hex,
            instance_id=iid,
            power="running" if ready else "starting",
            provisioning="Succeeded" if ready else "Creating",
            model_version=ss.model_version,
            private_ip=private_ip,
            created_at=self.scheduler.now() if not ready else ss.created_at + int(iid) * 60,
            health=("healthy" if ready else "initializing") if ss.spec.health_probe else None,
        )
        ss.instances[iid] = inst
        lb = ss.load_balancer
        if lb is not None:
            for pool_name in ss.spec.nat_pools:
                pool = next((p for p in lb.spec.nat_pools if p.name.lower() == pool_name.lower()), None)
                if pool is None:
                    continue
                port = self._lowest_free(lb.pool_ports[pool.name.lower()], pool.port_start, pool.port_end)
                if port is not None:
                    lb.pool_ports[pool.name.lower()][port] = inst
                    inst.pool_ports[(lb.name.lower(), pool.name.lower())] = port
            if ss.spec.backend_pool:
                for rule in lb.spec.nat_rules_v2:
                    if rule.backend_pool.lower() != ss.spec.backend_pool.lower():
                        continue
                    port = self._lowest_free(lb.rule_ports[rule.name.lower()], rule.port_start, rule.port_end)
                    if port is not None:
                        lb.rule_ports[rule.name.lower()][port] = inst
                        inst.rule_ports[(lb.name.lower(), rule.name.lower())] = port
        return inst

    @staticmethod
    def _lowest_free(used: dict[int, Instance], start: int, end: int) -> int | None:
        for port in range(start, end + 1):
            if port not in used:
                return port
        return None

    def _remove_instance(self, inst: Instance) -> None:
        ss = inst.scale_set
        inst.deleted = True
        inst.token += 1
        ss.instances.pop(inst.instance_id, None)
        if ss.subnet:
            ss.subnet.release(inst.private_ip)
        lb = ss.load_balancer
        if lb is not None:
            for (_, pool), port in inst.pool_ports.items():
                lb.pool_ports.get(pool, {}).pop(port, None)
            for (_, rule), port in inst.rule_ports.items():
                lb.rule_ports.get(rule, {}).pop(port, None)

    # ---- lookups

    def get_scale_set(self, rg: str, name: str) -> ScaleSet:
        self.canonical_rg(rg)
        ss = self.scale_sets.get(self.resource_id(rg, COMPUTE_PROVIDER, "virtualMachineScaleSets", name).lower())
        if ss is None:
            raise compute_not_found()
        return ss

    def get_instance(self, ss: ScaleSet, iid: str) -> Instance:
        inst = ss.instances.get(iid)
        if inst is None:
            raise compute_not_found()
        return inst

    def all_instances(self) -> Iterable[Instance]:
        for ss in self.scale_sets.values():
            yield from ss.instances.values()

    # ---- operations

    def new_operation(self, name: str) -> Operation:
        op = Operation(id=str(self.new_uuid()), name=name, location=self.location, start=self.scheduler.now())
        self.operations[op.id] = op
        return op

    def finish(self, op: Operation, status: str = "Succeeded", error: dict[str, Any] | None = None) -> None:
        if op.done:
            return
        op.status = status
        op.error = error
        op.end = self.scheduler.now()
        callbacks, op.on_done = op.on_done, []
        self._op_instances.pop(op.id, None)
        for callback in callbacks:
            callback(op)
        self.changed()

    def _part_done(self, op: Operation) -> None:
        op.pending -= 1
        if op.pending <= 0 and not op.done:
            if op.pending_error is not None:
                self.finish(op, "Failed", op.pending_error)
            else:
                self.finish(op)

    def take_fault(self, action: str, instance_ids: Iterable[str]) -> ActionFault | None:
        ids = set(instance_ids)
        for fault in self.action_faults:
            if fault.action.lower() != action.lower():
                continue
            if fault.instance_ids is not None and not (fault.instance_ids & ids):
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.action_faults.remove(fault)
            return fault
        return None

    def changed(self) -> None:
        for listener in list(self.listeners):
            try:
                listener()
            except Exception:
                log.exception("state listener failed")

    # ---- instance actions

    def resolve_instances(self, ss: ScaleSet, instance_ids: list[str] | None) -> list[Instance]:
        if not instance_ids:
            return ss.sorted_instances()
        result = []
        for raw in instance_ids:
            iid = str(raw)
            if iid == "*":
                return ss.sorted_instances()
            inst = ss.instances.get(iid)
            if inst is None:
                raise ArmError(400, "InvalidParameter",
                               f"The provided instanceId {iid} is not an active Virtual Machine Scale Set VM instanceId.")
            result.append(inst)
        return result

    def check_action_allowed(self, action: str, instances: list[Instance]) -> None:
        for inst in instances:
            if inst.provisioning == "Deleting":
                raise ArmError(409, "OperationNotAllowed",
                               f"Operation '{action}' is not allowed on VM '{inst.name}' since the VM is marked for deletion.")
            if action == "restart" and inst.power in ("deallocated", "deallocating"):
                raise ArmError(409, "OperationNotAllowed",
                               f"Operation 'restart' is not allowed on VM '{inst.name}' since the VM is deallocated.")
            if action == "runCommand" and inst.power != "running":
                raise ArmError(409, "OperationNotAllowed",
                               f"Cannot run command on VM '{inst.name}' since the VM is not running.")

    def start_action(self, action: str, ss: ScaleSet, instances: list[Instance], op: Operation | None = None) -> Operation:
        """Run a per-instance action (start, powerOff, deallocate, restart, reimage, upgrade, delete)
        on `instances` under one operation."""
        self.check_action_allowed(action, instances)
        op = op or self.new_operation(action)
        fault = self.take_fault(op.name, (i.instance_id for i in instances))
        if not instances:
            self.scheduler.after(0.5, lambda: self.finish(op))
            return op
        op.pending += len(instances)
        for index, inst in enumerate(instances):
            self._instance_action(action, inst, op, _fault_for(fault, inst, index))
        self.changed()
        return op

    def _instance_action(self, action: str, inst: Instance, op: Operation, fault: ActionFault | None) -> None:
        if inst.busy_with is not None and inst.busy_with != action:
            # Azure preempts the older operation on the VM; its LRO ends Failed.
            for other in self._ops_touching(inst):
                self.finish(other, "Failed", {
                    "code": "OperationPreempted",
                    "message": f"Operation execution has been preempted by a more recent operation ({action}).",
                })
        inst.token += 1
        token = inst.token
        inst.busy_with = action
        inst.busy_since = self.scheduler.now()
        inst.failure = None
        previous_power = inst.power
        duration = DURATIONS.get(action, 5.0)
        self._op_instances.setdefault(op.id, []).append(inst)
        if action == "delete":
            inst.provisioning = "Deleting"
        elif action == "create":
            inst.provisioning = "Creating"
        else:
            inst.provisioning = "Updating"
        if action == "start":
            if previous_power == "running":
                duration = 0.5
            else:
                inst.power = "starting"
        elif action == "powerOff":
            if previous_power in ("running", "starting"):
                inst.power = "stopping"
            else:
                duration = 0.5
        elif action == "deallocate":
            if previous_power != "deallocated":
                inst.power = "deallocating"
            else:
                duration = 0.5
        elif action == "restart":
            # Azure keeps PowerState/running during the reboot call; "starting" follows it.
            inst.power = "running" if previous_power in ("running", "starting") else previous_power
        elif action == "create":
            inst.power = "starting"
        elif action in ("reimage", "upgrade"):
            if previous_power == "running":
                inst.power = "starting"
        elif action == "delete":
            if previous_power == "running":
                inst.power = "stopping"
        if inst.health is not None and inst.power == "starting":
            inst.health = "initializing"

        def complete() -> None:
            if inst.token != token or inst.deleted:
                self._part_done(op)
                return
            inst.busy_with = None
            if fault is not None:
                inst.power = previous_power if previous_power not in ("starting", "stopping", "deallocating") else "running"
                inst.provisioning = "Failed"
                inst.failure = (fault.code, fault.message)
                op.failed_parts += 1
                op.pending_error = {"code": fault.code, "message": fault.message}
                self._part_done(op)
                self.changed()
                return
            if action == "delete":
                self._remove_instance(inst)
                self._part_done(op)
                self.changed()
                return
            inst.provisioning = "Succeeded"
            if action == "restart":
                self._boot_guest(inst)
            elif action in ("start", "create"):
                inst.power = "running"
            elif action == "powerOff":
                inst.power = "stopped" if previous_power != "deallocated" else "deallocated"
            elif action == "deallocate":
                inst.power = "deallocated"
            elif action in ("reimage", "upgrade"):
                inst.host_key_generation += 1
                if inst.power == "starting":
                    inst.power = "running"
                if action == "upgrade":
                    inst.model_version = inst.scale_set.model_version
            if inst.health is not None:
                if inst.power == "running":
                    inst.health = "unhealthy" if inst.sick else "healthy"
                else:
                    inst.health = "initializing" if inst.power == "starting" else "unknown"
            self._part_done(op)
            self.changed()

        self.scheduler.after(duration, complete)

    def _boot_guest(self, inst: Instance) -> None:
        """After a restart's API part: PowerState/starting while the guest boots, then running,
        unless another action has taken the instance over meanwhile."""
        inst.power = "starting"
        token = inst.token

        def booted() -> None:
            if inst.token != token or inst.deleted or inst.power != "starting":
                return
            inst.power = "running"
            if inst.health is not None:
                inst.health = "unhealthy" if inst.sick else "healthy"
            self.changed()

        self.scheduler.after(GUEST_BOOT_AFTER_RESTART, booted)

    def _ops_touching(self, inst: Instance) -> list[Operation]:
        return [self.operations[op_id] for op_id, insts in self._op_instances.items()
                if inst in insts and op_id in self.operations and not self.operations[op_id].done]

    # ---- scale set model changes

    def update_scale_set(self, ss: ScaleSet, patch: dict[str, Any]) -> Operation:
        """Apply a PATCH body; returns the operation that tracks scaling / automatic upgrades."""
        sku = patch.get("sku") or {}
        props = patch.get("properties") or {}
        new_capacity = ss.capacity
        if "capacity" in sku:
            capacity = sku["capacity"]
            if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 0 or capacity > 1000:
                raise ArmError(400, "InvalidParameter",
                               f"The value {capacity!r} of parameter 'sku.capacity' is out of range. The value must be between 0 and 1000, inclusive.",
                               details=None)
            new_capacity = capacity
        upgrade_policy = props.get("upgradePolicy")
        if upgrade_policy is not None:
            mode = upgrade_policy.get("mode")
            if mode is not None and mode not in ("Automatic", "Manual", "Rolling"):
                raise ArmError(400, "InvalidParameter", f"The value '{mode}' of parameter 'upgradePolicy.mode' is not valid.")
        model_changed = False
        if sku.get("name") and sku["name"] != ss.sku_name:
            ss.sku_name = sku["name"]
            model_changed = True
        if "virtualMachineProfile" in props and props["virtualMachineProfile"]:
            merged = copy.deepcopy(ss.models[ss.model_version])
            _deep_merge(merged, props["virtualMachineProfile"])
            if merged != ss.models[ss.model_version]:
                model_changed = True
                ss.models.append(merged)
        if model_changed:
            if len(ss.models) == ss.model_version + 1:
                ss.models.append(copy.deepcopy(ss.models[ss.model_version]))
            ss.model_version = len(ss.models) - 1
        if upgrade_policy is not None:
            if upgrade_policy.get("mode"):
                ss.upgrade_mode = upgrade_policy["mode"]
            if upgrade_policy.get("rollingUpgradePolicy"):
                ss.rolling_policy = {**(ss.rolling_policy or rolling_policy_dict(None)), **upgrade_policy["rollingUpgradePolicy"]}
            elif ss.upgrade_mode == "Rolling" and ss.rolling_policy is None:
                ss.rolling_policy = rolling_policy_dict(None)
        if "tags" in patch and isinstance(patch["tags"], dict):
            ss.tags = dict(patch["tags"])
        for key, value in props.items():
            if key in ("overprovision", "singlePlacementGroup", "doNotRunExtensionsOnOverprovisionedVMs"):
                ss.extra_properties[key] = value

        op = self.new_operation("update")
        ss.provisioning_state = "Updating"
        ss.updates_running += 1

        def settle(done: Operation) -> None:
            ss.updates_running -= 1
            if ss.updates_running <= 0:
                ss.provisioning_state = "Failed" if done.status == "Failed" else "Succeeded"

        op.on_done.append(settle)
        parts: list[tuple[str, list[Instance]]] = []
        if new_capacity > ss.capacity:
            created = [self._create_instance(ss, ready=False) for _ in range(new_capacity - ss.capacity)]
            parts.append(("create", created))
        elif new_capacity < ss.capacity:
            # Default scale-in policy: the highest instance ids go first.
            victims = [i for i in reversed(ss.sorted_instances()) if i.provisioning != "Deleting"][: ss.capacity - new_capacity]
            parts.append(("delete", victims))
        ss.capacity = new_capacity
        if model_changed and ss.upgrade_mode == "Automatic":
            outdated = [i for i in ss.sorted_instances() if not i.latest_model and i.provisioning not in ("Deleting", "Creating")]
            parts.append(("upgrade", outdated))
        total = sum(len(p[1]) for p in parts)
        fault = self.take_fault("update", (i.instance_id for _, insts in parts for i in insts))
        if fault is not None:
            op.pending_error = {"code": fault.code, "message": fault.message}
        if total == 0:
            self.scheduler.after(1.0, lambda: self.finish(op, "Failed" if op.pending_error else "Succeeded", op.pending_error))
        else:
            op.pending = total
            for action, insts in parts:
                for inst in insts:
                    self._instance_action(action, inst, op, None)
        self.changed()
        return op

    # ---- rolling upgrades

    def start_rolling_upgrade(self, ss: ScaleSet) -> Operation:
        if ss.rolling is not None and ss.rolling.code == "RollingForward":
            raise ArmError(409, "OperationNotAllowed",
                           "Rolling Upgrade cannot be started since there is already an ongoing upgrade.")
        policy = dict(ss.rolling_policy or rolling_policy_dict(None))
        op = self.new_operation("osRollingUpgrade")
        targets = [i for i in ss.sorted_instances() if not i.latest_model and i.provisioning != "Deleting"]
        if policy.get("prioritizeUnhealthyInstances"):
            targets.sort(key=lambda i: (i.health != "unhealthy", int(i.instance_id)))
        now = self.scheduler.now()
        ru = RollingUpgrade(policy=policy, start_time=now, operation=op, pending=targets, last_action_time=now)
        ss.rolling = ru
        fault = self.take_fault("osRollingUpgrade", (i.instance_id for i in targets))
        self.scheduler.after(0.5, lambda: self._next_batch(ss, ru, fault))
        self.changed()
        return op

    def _next_batch(self, ss: ScaleSet, ru: RollingUpgrade, fault: ActionFault | None) -> None:
        if ru.code != "RollingForward":
            return
        if ru.cancel_requested:
            self._finish_rolling(ss, ru, "Cancelled")
            return
        if not ru.pending:
            self._finish_rolling(ss, ru, "Completed")
            return
        everyone = [i for i in ss.instances.values() if i.provisioning != "Deleting"]
        unhealthy = [i for i in everyone if i.health == "unhealthy" or i.provisioning == "Failed"]
        limit = ru.policy.get("maxUnhealthyInstancePercent", 20)
        if everyone and 100 * len(unhealthy) / len(everyone) > limit:
            pct = round(100 * len(unhealthy) / len(everyone))
            self._finish_rolling(ss, ru, "Faulted", {
                "code": "MaxUnhealthyInstancePercentExceededInRollingUpgrade",
                "message": f"Rolling Upgrade failed after exceeding the MaxUnhealthyInstancePercent value defined in the "
                           f"RollingUpgradePolicy. {pct}% of instances are in an unhealthy state - more than the "
                           f"threshold of {limit}% configured in the RollingUpgradePolicy.",
            })
            return
        batch_size = max(1, math.floor(len(everyone) * ru.policy.get("maxBatchInstancePercent", 20) / 100))
        batch, ru.pending = ru.pending[:batch_size], ru.pending[batch_size:]
        batch = [i for i in batch if not i.deleted]
        ru.in_progress = batch
        ru.last_action_time = self.scheduler.now()
        part = Operation(id=f"batch-{self.new_uuid()}", name="upgrade", location=self.location, start=self.scheduler.now())
        part.pending = len(batch)
        batch_fault = fault if fault is not None and (fault.instance_ids is None or
                                                      fault.instance_ids & {i.instance_id for i in batch}) else None

        def batch_done(done: Operation) -> None:
            failed = done.failed_parts
            ru.failed += failed
            ru.successful += len(batch) - failed
            ru.in_progress = []
            upgraded = ru.successful + ru.failed
            limit_up = ru.policy.get("maxUnhealthyUpgradedInstancePercent", 20)
            if failed and upgraded and 100 * ru.failed / upgraded > limit_up:
                pct = round(100 * ru.failed / upgraded)
                self._finish_rolling(ss, ru, "Faulted", {
                    "code": "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade",
                    "message": f"Rolling Upgrade failed after exceeding the MaxUnhealthyUpgradedInstancePercent value "
                               f"defined in the RollingUpgradePolicy. {pct}% of upgraded instances are in an unhealthy "
                               f"state - more than the threshold of {limit_up}% configured in the RollingUpgradePolicy.",
                })
                return
            pause = _parse_duration(str(ru.policy.get("pauseTimeBetweenBatches", "PT0S"))) if ru.pending else 0.0
            self.scheduler.after(pause, lambda: self._next_batch(ss, ru, fault))

        part.on_done.append(batch_done)
        if not batch:
            self.finish(part)
            return
        for index, inst in enumerate(batch):
            self._instance_action("upgrade", inst, part, _fault_for(batch_fault, inst, index))
        self.changed()

    def _finish_rolling(self, ss: ScaleSet, ru: RollingUpgrade, code: str, error: dict[str, Any] | None = None) -> None:
        ru.code = code
        ru.end_time = self.scheduler.now()
        ru.last_action_time = ru.end_time
        if code == "Cancelled":
            ru.last_action = "Cancel"
            ru.error = {
                "code": "RollingUpgradeCanceled",
                "message": "The Rolling Upgrade was canceled.",
                "details": [{"code": "RollingUpgradeCanceled", "target": f"{ss.name}/virtualMachines/{i.instance_id}",
                             "message": "The Rolling Upgrade was canceled before this instance was upgraded."}
                            for i in ru.pending],
            }
            self.finish(ru.operation, "Canceled", {"code": "RollingUpgradeCanceled", "message": "The Rolling Upgrade was canceled."})
            for cancel_op in ru.cancel_ops:
                self.finish(cancel_op)
        elif code == "Faulted":
            ru.error = error
            self.finish(ru.operation, "Failed", error)
        else:
            self.finish(ru.operation)
        self.changed()

    def cancel_rolling_upgrade(self, ss: ScaleSet) -> Operation:
        ru = ss.rolling
        if ru is None or ru.code != "RollingForward":
            raise ArmError(409, "OperationNotAllowed", "There is no ongoing Rolling Upgrade to cancel.")
        op = self.new_operation("cancel")
        ru.cancel_requested = True
        ru.cancel_ops.append(op)
        ru.last_action = "Cancel"
        ru.last_action_time = self.scheduler.now()
        if not ru.in_progress:
            self.scheduler.after(DURATIONS["cancel"], lambda: self._finish_rolling(ss, ru, "Cancelled")
                                 if ru.code == "RollingForward" else self.finish(op))
        return op

    def manual_upgrade(self, ss: ScaleSet, instances: list[Instance]) -> Operation:
        op = self.new_operation("manualupgrade")
        targets = [i for i in instances if not i.latest_model]
        return self.start_action("upgrade", ss, targets, op)

    # ---- ticking

    def advance(self) -> None:
        if self.scheduler.run_due():
            self.changed()


def _deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _fault_for(fault: ActionFault | None, inst: Instance, index: int) -> ActionFault | None:
    """Which instance of an action a fault hits: the named ones, else the first."""
    if fault is None:
        return None
    if fault.instance_ids is not None:
        return fault if inst.instance_id in fault.instance_ids else None
    return fault if index == 0 else None
