"""Live state of one simulated subscription and the engine that changes it over simulated time.

Resources live in one `Store` keyed by lower-cased id (see store.py); the per-type mappings
(`scale_sets`, `load_balancers` ...) are views of it. Instance state changes follow the table in
transitions.py, model changes and upgrades upgrades.py. Everything here runs on the
simulator's event loop thread; nothing blocks. State changes are events in a heap keyed by
simulated time; `World.advance()` runs the ones that are due, and is called before every
request and by a periodic ticker, so what a client reads is always consistent with the clock.
"""

from __future__ import annotations

import base64
import gzip
import ipaddress
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .clock import SimClock
from .resources import (
    COMPUTE_PROVIDER,
    NETWORK_PROVIDER,
    ActionFault,
    ArmError,
    Environment,
    ExtensionRun,
    Instance,
    LoadBalancer,
    ManagedDisk,
    NetworkInterface,
    Nsg,
    Operation,
    PublicIp,
    RollingUpgrade,
    RolloutRecord,
    ScaleSet,
    Scheduler,
    Subnet,
    Vnet,
    compute_not_found,
)
from .store import Store
from .topology import (
    InstanceStateSpec,
    ManagedDiskSpec,
    PublicIpSpec,
    ScaleSetSpec,
    Topology,
    VirtualMachineSpec,
)
from .transitions import DURATIONS, GUEST_BOOT_AFTER_RESTART, ActionEngine, fault_for
from .upgrades import UpgradeEngine, deep_merge, parse_duration, rolling_policy_dict

log = logging.getLogger(__name__)

__all__ = [
    "COMPUTE_PROVIDER",
    "DURATIONS",
    "GUEST_BOOT_AFTER_RESTART",
    "NETWORK_PROVIDER",
    "ActionFault",
    "ArmError",
    "Environment",
    "ExtensionRun",
    "Instance",
    "LoadBalancer",
    "ManagedDisk",
    "NetworkInterface",
    "Nsg",
    "Operation",
    "PublicIp",
    "RollingUpgrade",
    "RolloutRecord",
    "ScaleSet",
    "Scheduler",
    "Subnet",
    "Vnet",
    "World",
    "compute_not_found",
    "deep_merge",
    "fault_for",
    "parse_duration",
    "rolling_policy_dict",
]

# Lower-cased resource types of the store.
SCALE_SET = "microsoft.compute/virtualmachinescalesets"
SCALE_SET_VM = "microsoft.compute/virtualmachinescalesets/virtualmachines"
VIRTUAL_MACHINE = "microsoft.compute/virtualmachines"
DISK = "microsoft.compute/disks"
LOAD_BALANCER = "microsoft.network/loadbalancers"
PUBLIC_IP = "microsoft.network/publicipaddresses"
NSG = "microsoft.network/networksecuritygroups"
VNET = "microsoft.network/virtualnetworks"
NIC = "microsoft.network/networkinterfaces"

RUN_COMMAND_STREAM_LIMIT = 4096  # Azure keeps the last 4,096 bytes of each stream
DISK_SKUS = ("Standard_LRS", "StandardSSD_LRS", "Premium_LRS", "PremiumV2_LRS", "UltraSSD_LRS", "StandardSSD_ZRS",
             "Premium_ZRS")


class World(ActionEngine, UpgradeEngine):
    """All simulated resources of one subscription, plus the engine that moves them."""

    def __init__(self, topology: Topology, clock: SimClock | None, subscription_id: str,
                 ip_prefix: tuple[int, int] = (0, 0), seed: int | None = None, *,
                 environment: Environment | None = None) -> None:
        if environment is None:
            if clock is None:
                raise ValueError("a World needs a clock or an environment")
            environment = Environment(clock, ip_prefix, seed)
        self.env = environment
        self.topology = topology
        self.clock = environment.clock
        self.scheduler: Scheduler = environment.scheduler
        self.subscription_id = subscription_id
        self.location = topology.location
        self.ip_prefix = environment.ip_prefix
        self.store = Store()
        self.resource_groups: dict[str, str] = {rg.lower(): rg for rg in topology.all_resource_groups()}
        self.subnets: dict[str, Subnet] = {}
        self.operations: dict[str, Operation] = {}
        self.action_faults: list[ActionFault] = []
        self._op_instances: dict[str, list[Instance]] = {}
        self._build()

    # ---- views of the store (by lower-cased id, in creation order)

    @property
    def scale_sets(self) -> dict[str, ScaleSet]:
        return self.store.of_type(SCALE_SET)

    @property
    def load_balancers(self) -> dict[str, LoadBalancer]:
        return self.store.of_type(LOAD_BALANCER)

    @property
    def public_ips(self) -> dict[str, PublicIp]:
        return self.store.of_type(PUBLIC_IP)

    @property
    def nsgs(self) -> dict[str, Nsg]:
        return self.store.of_type(NSG)

    @property
    def vnets(self) -> dict[str, Vnet]:
        return self.store.of_type(VNET)

    @property
    def disks(self) -> dict[str, ManagedDisk]:
        return self.store.of_type(DISK)

    @property
    def virtual_machines(self) -> dict[str, Instance]:
        """Flexible scale sets' VMs and VMs of no scale set."""
        return self.store.of_type(VIRTUAL_MACHINE)

    @property
    def network_interfaces(self) -> dict[str, NetworkInterface]:
        return self.store.of_type(NIC)

    @property
    def listeners(self) -> list[Callable[[], None]]:
        return self.env.listeners

    # ---- ids

    def new_uuid(self) -> Any:
        return self.env.new_uuid()

    def rg_id(self, rg: str) -> str:
        return f"/subscriptions/{self.subscription_id}/resourceGroups/{rg}"

    def resource_id(self, rg: str, provider: str, kind: str, name: str) -> str:
        return f"{self.rg_id(rg)}/providers/{provider}/{kind}/{name}"

    def canonical_rg(self, rg: str) -> str:
        try:
            return self.resource_groups[rg.lower()]
        except KeyError:
            raise ArmError(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.") from None

    def allocate_public_address(self) -> str:
        return self.env.allocate_public_address()

    # ---- building from the topology

    def _build(self) -> None:
        topo = self.topology
        for nsg_spec in topo.nsgs:
            nsg_id = self.resource_id(nsg_spec.resource_group, NETWORK_PROVIDER, "networkSecurityGroups", nsg_spec.name)
            self.store.add(nsg_id, Nsg(nsg_id, nsg_spec.name, nsg_spec.resource_group, nsg_spec))
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
            self.store.add(vnet_id, vnet)
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
            self.store.add(lb_id, lb)
        for order, ss_spec in enumerate(topo.scale_sets):
            self._add_scale_set(ss_spec, order)
        for vm_spec in topo.virtual_machines:
            self._add_virtual_machine(vm_spec)
        for disk_spec in topo.managed_disks:
            self._add_unattached_disk(disk_spec)

    def _add_public_ip(self, spec: PublicIpSpec) -> PublicIp:
        pip_id = self.resource_id(spec.resource_group, NETWORK_PROVIDER, "publicIPAddresses", spec.name)
        address = self.allocate_public_address() if spec.allocated else None
        pip = PublicIp(pip_id, spec.name, spec.resource_group, spec, address)
        self.store.add(pip_id, pip)
        return pip

    def _subnet_for(self, owner: str, rg: str, vnet: str | None, subnet: str | None,
                    vnet_rg: str | None) -> Subnet | None:
        if not (vnet and subnet):
            return None
        vnet_id = self.resource_id(vnet_rg or rg, NETWORK_PROVIDER, "virtualNetworks", vnet)
        found = self.subnets.get(f"{vnet_id}/subnets/{subnet}".lower())
        if found is None:
            raise ValueError(f"{owner}: subnet {vnet}/{subnet} is not in the topology")
        return found

    def _load_balancer_for(self, owner: str, rg: str, name: str | None) -> LoadBalancer | None:
        if not name:
            return None
        lb = self.load_balancers.get(self.resource_id(rg, NETWORK_PROVIDER, "loadBalancers", name).lower())
        if lb is None:
            raise ValueError(f"{owner}: load balancer {name} is not in the topology")
        return lb

    def _add_scale_set(self, spec: ScaleSetSpec, order: int) -> ScaleSet:
        if spec.orchestration_mode not in ("Uniform", "Flexible"):
            raise ValueError(f"scale set {spec.name}: orchestration_mode must be Uniform or Flexible")
        ss_id = self.resource_id(spec.resource_group, COMPUTE_PROVIDER, "virtualMachineScaleSets", spec.name)
        subnet = self._subnet_for(f"scale set {spec.name}", spec.resource_group, spec.vnet, spec.subnet,
                                  spec.vnet_resource_group)
        lb = self._load_balancer_for(f"scale set {spec.name}", spec.resource_group, spec.load_balancer)
        needs_previous = any(not s.latest_model for s in spec.instance_states.values())
        latest = self.model_profile(spec, spec.image[3], subnet, lb)
        models = [self.model_profile(spec, spec.previous_image_version, subnet, lb), latest] if needs_previous else [latest]
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
            order=order,
        )
        self.store.add(ss_id, ss)
        created: list[Instance] = []
        for verb, arg in spec.initial_history():
            if verb == "create":
                assert isinstance(arg, int)
                for _ in range(arg):
                    created.append(self.create_instance(ss, ready=True))
            elif verb == "delete":
                assert isinstance(arg, list)
                for iid in arg:
                    inst = ss.instances.get(str(iid)) if ss.orchestration_mode == "Uniform" else (
                        created[iid] if 0 <= iid < len(created) else None)
                    if inst:
                        self.remove_instance(inst)
            else:
                raise ValueError(f"unknown history step {verb!r}")
        for iid, state in spec.instance_states.items():
            if ss.orchestration_mode == "Uniform":
                inst = ss.instances.get(str(iid))
            else:
                inst = created[iid] if 0 <= iid < len(created) and not created[iid].deleted else None
            if inst is None:
                raise ValueError(f"scale set {spec.name}: instance_states names instance {iid}, which does not exist")
            self._apply_instance_state(inst, state)
        ss.capacity = len(ss.instances)
        return ss

    def _apply_instance_state(self, inst: Instance, state: InstanceStateSpec) -> None:
        inst.power = state.power
        if not state.latest_model:
            inst.model_version = inst.scale_set.model_version - 1 if inst.scale_set is not None else 0
        if state.health:
            inst.health = state.health
            inst.sick = state.health == "unhealthy"
        elif inst.health is not None and inst.power != "running":
            inst.health = "unknown"  # as after a stop: a guest that is not running reports no health
        if state.provisioning_failed:
            inst.provisioning = "Failed"
            inst.failure = state.provisioning_failed
        inst.prepared_luns = tuple(state.prepared_luns)

    def model_profile(self, spec: ScaleSetSpec | VirtualMachineSpec, image_version: str, subnet: Subnet | None,
                      lb: LoadBalancer | None) -> dict[str, Any]:
        """The virtualMachineProfile of a scale set (or the profile of a standalone VM)."""
        is_scale_set = isinstance(spec, ScaleSetSpec)
        publisher, offer, sku, _ = spec.image
        os_profile: dict[str, Any] = {
            "computerNamePrefix": (spec.computer_name_prefix or spec.name) if is_scale_set else (spec.computer_name or spec.name),
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
        if is_scale_set and lb and spec.nat_pools:
            ip_config["loadBalancerInboundNatPools"] = [
                {"id": lb.child_id("inboundNatPools", pool)} for pool in spec.nat_pools
            ]
        if is_scale_set and spec.instance_public_ip:
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
        if is_scale_set and spec.orchestration_mode == "Flexible":
            profile["networkProfile"]["networkApiVersion"] = "2020-11-01"
        if is_scale_set and spec.health_probe:
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

    def create_instance(self, ss: ScaleSet, ready: bool) -> Instance:
        """A new instance of `ss` (ready: as built by the topology; else Creating)."""
        if ss.orchestration_mode == "Uniform":
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
            if ss.spec.zones:
                inst.zone = ss.spec.zones[int(iid) % len(ss.spec.zones)]
            inst.fault_domain = int(iid) % 3
            self.store.add(inst.id, inst)
        else:
            inst = self._new_flexible_vm(ss, ready)
        ss.instances[inst.instance_id] = inst
        self._allocate_nat_ports(inst, ss.load_balancer, ss.spec.backend_pool, ss.spec.nat_pools)
        self._create_disks(inst)
        return inst

    def _new_flexible_vm(self, ss: ScaleSet, ready: bool) -> Instance:
        ordinal = ss.next_instance_id
        ss.next_instance_id += 1
        while True:
            name = f"{ss.name}_{self.env.new_hex(8)}"
            if name not in ss.instances:
                break
        # The computer name is the prefix plus 6 characters; the NIC is named from the NIC
        # configuration and a suffix of its own, not after the VM.
        computer_name = f"{ss.computer_name_prefix}{self.env.new_hex(6)}"
        nic_name = f"{ss.nic_config_name}-{self.env.new_hex(8)}"
        inst = Instance(
            scale_set=ss,
            vm_id=str(self.new_uuid()),
            disk_suffix=self.new_uuid().hex,
            instance_id=name,
            power="running" if ready else "starting",
            provisioning="Succeeded" if ready else "Creating",
            model_version=ss.model_version,
            private_ip=ss.subnet.allocate() if ss.subnet else None,
            created_at=self.scheduler.now() if not ready else ss.created_at + ordinal * 60,
            health=("healthy" if ready else "initializing") if ss.spec.health_probe else None,
            vm_resource_id=self.resource_id(ss.resource_group, COMPUTE_PROVIDER, "virtualMachines", name),
            vm_name=name,
            resource_group_name=ss.resource_group,
            flex_computer_name=computer_name,
            fault_domain=0,  # platformFaultDomainCount 1: every VM in fault domain 0, spread by the platform
        )
        if ss.spec.zones:
            inst.zone = ss.spec.zones[ordinal % len(ss.spec.zones)]
        inst.nic = NetworkInterface(
            id=self.resource_id(ss.resource_group, NETWORK_PROVIDER, "networkInterfaces", nic_name),
            name=nic_name, resource_group=ss.resource_group, location=self.location, instance=inst,
            ip_config_name=ss.ip_config_name, resource_guid=str(self.new_uuid()))
        self.store.add(inst.id, inst)
        self.store.add(inst.nic.id, inst.nic)
        return inst

    def _add_virtual_machine(self, spec: VirtualMachineSpec) -> Instance:
        subnet = self._subnet_for(f"virtual machine {spec.name}", spec.resource_group, spec.vnet, spec.subnet,
                                  spec.vnet_resource_group)
        lb = self._load_balancer_for(f"virtual machine {spec.name}", spec.resource_group, spec.load_balancer)
        inst = Instance(
            scale_set=None,
            vm_id=str(self.new_uuid()),
            disk_suffix=self.new_uuid().hex,
            instance_id=spec.name,
            power=spec.power,
            provisioning="Succeeded",
            model_version=0,
            private_ip=subnet.allocate() if subnet else None,
            created_at=-86400.0 * 20,
            vm_resource_id=self.resource_id(spec.resource_group, COMPUTE_PROVIDER, "virtualMachines", spec.name),
            vm_name=spec.name,
            resource_group_name=spec.resource_group,
            flex_computer_name=spec.computer_name or spec.name,
            own_model=self.model_profile(spec, spec.image[3], subnet, lb),
            vm_spec=spec,
            zone=spec.zone,
            standalone_load_balancer=lb,
            standalone_subnet=subnet,
        )
        nic_name = f"{spec.name}-nic"
        inst.nic = NetworkInterface(
            id=self.resource_id(spec.resource_group, NETWORK_PROVIDER, "networkInterfaces", nic_name),
            name=nic_name, resource_group=spec.resource_group, location=self.location, instance=inst,
            ip_config_name=f"{spec.name}-ipconfig", resource_guid=str(self.new_uuid()))
        self.store.add(inst.id, inst)
        self.store.add(inst.nic.id, inst.nic)
        self._allocate_nat_ports(inst, lb, spec.backend_pool, [])
        self._create_disks(inst)
        return inst

    def _add_unattached_disk(self, spec: ManagedDiskSpec) -> ManagedDisk:
        disk_id = self.resource_id(spec.resource_group, COMPUTE_PROVIDER, "disks", spec.name)
        disk = ManagedDisk(id=disk_id, name=spec.name, resource_group=spec.resource_group, location=self.location,
                           size_gb=spec.size_gb, sku=spec.sku, created_at=-86400.0 * 10,
                           unique_id=str(self.new_uuid()), order=(1 << 30, len(self.disks)))
        self.store.add(disk_id, disk)
        return disk

    def _allocate_nat_ports(self, inst: Instance, lb: LoadBalancer | None, backend_pool: str | None,
                            nat_pools: list[str]) -> None:
        if lb is None:
            return
        for pool_name in nat_pools:
            pool = next((p for p in lb.spec.nat_pools if p.name.lower() == pool_name.lower()), None)
            if pool is None:
                continue
            port = self._lowest_free(lb.pool_ports[pool.name.lower()], pool.port_start, pool.port_end)
            if port is not None:
                lb.pool_ports[pool.name.lower()][port] = inst
                inst.pool_ports[(lb.name.lower(), pool.name.lower())] = port
        if backend_pool:
            for rule in lb.spec.nat_rules_v2:
                if rule.backend_pool.lower() != backend_pool.lower():
                    continue
                port = self._lowest_free(lb.rule_ports[rule.name.lower()], rule.port_start, rule.port_end)
                if port is not None:
                    lb.rule_ports[rule.name.lower()][port] = inst
                    inst.rule_ports[(lb.name.lower(), rule.name.lower())] = port

    @staticmethod
    def _lowest_free(used: dict[int, Instance], start: int, end: int) -> int | None:
        if len(used) > end - start:
            return None
        for port in range(start, end + 1):
            if port not in used:
                return port
        return None

    # ---- managed disks of instances

    def _disk_names(self, inst: Instance, lun: int | None) -> str:
        if inst.is_uniform:
            assert inst.scale_set is not None
            base = f"{inst.scale_set.name}_{inst.scale_set.name}_{inst.instance_id}"
        else:
            base = inst.name
        return f"{base}_OsDisk_1_{inst.disk_suffix}" if lun is None else f"{base}_disk{lun + 2}_{inst.disk_suffix}"

    def _disk_order(self, inst: Instance, position: int) -> tuple[Any, ...]:
        # Lists of disks go by scale set, then instance, then OS disk before data disks.
        if inst.scale_set is not None:
            key: Any = int(inst.instance_id) if inst.is_uniform else (inst.created_at, inst.instance_id)
            return (inst.scale_set.order, key, position)
        return (1 << 29, (inst.created_at, inst.instance_id), position)

    def _create_disks(self, inst: Instance) -> None:
        storage = inst.model["storageProfile"]
        os_entry = storage["osDisk"]
        name = self._disk_names(inst, None)
        os_disk = ManagedDisk(
            id=self.resource_id(inst.resource_group, COMPUTE_PROVIDER, "disks", name), name=name,
            resource_group=inst.resource_group, location=self.location, size_gb=os_entry.get("diskSizeGB", 30),
            sku=os_entry.get("managedDisk", {}).get("storageAccountType", "Premium_LRS"), created_at=inst.created_at,
            unique_id=inst.disk_suffix, create_option="FromImage", os_type=inst.os_type, managed_by=inst,
            caching=os_entry.get("caching", "ReadWrite"), zone=inst.zone, model_entry=dict(os_entry),
            order=self._disk_order(inst, -1))
        self.store.add(os_disk.id, os_disk)
        inst.os_disk = os_disk
        for entry in storage.get("dataDisks", []):
            self._create_data_disk(inst, entry)

    def _create_data_disk(self, inst: Instance, entry: dict[str, Any]) -> ManagedDisk:
        lun = int(entry["lun"])
        name = self._disk_names(inst, lun)
        disk = ManagedDisk(
            id=self.resource_id(inst.resource_group, COMPUTE_PROVIDER, "disks", name), name=name,
            resource_group=inst.resource_group, location=self.location, size_gb=int(entry.get("diskSizeGB", 0)),
            sku=entry.get("managedDisk", {}).get("storageAccountType", "Premium_LRS"),
            created_at=inst.created_at if inst.provisioning != "Updating" else self.scheduler.now(),
            unique_id=inst.disk_suffix, create_option="Empty", managed_by=inst, lun=lun,
            caching=entry.get("caching", "None"), delete_option=entry.get("deleteOption", "Delete"), zone=inst.zone,
            model_entry=dict(entry), order=self._disk_order(inst, lun))
        self.store.add(disk.id, disk)
        inst.data_disks[lun] = disk
        if inst.guest is not None:
            inst.guest.attach(lun, disk.size_gb, disk_name=disk.name)
        return disk

    def _drop_data_disk(self, inst: Instance, lun: int, delete: bool) -> None:
        disk = inst.data_disks.pop(lun, None)
        if disk is None:
            return
        if inst.guest is not None:
            try:
                inst.guest.detach(lun)
            except KeyError:
                pass
        if delete:
            self.store.remove(disk.id)
        else:
            disk.managed_by = None
            disk.lun = None
            disk.model_entry = None

    def sorted_disks(self, disks: Iterable[ManagedDisk]) -> list[ManagedDisk]:
        return sorted(disks, key=lambda d: d.order)

    def apply_model(self, inst: Instance, version: int) -> None:
        """The instance now runs model `version`: data disks follow the model (new LUNs are
        created empty, LUNs the model dropped are removed), and a new image means a new OS disk."""
        before = inst.model
        inst.model_version = version
        after = inst.model
        if before is after:
            return
        wanted = {int(d["lun"]): d for d in after["storageProfile"].get("dataDisks", [])}
        for lun in [lun for lun, disk in inst.data_disks.items()
                    if lun not in wanted and disk.model_entry is not None and disk.model_entry.get("createOption") != "Attach"]:
            self._drop_data_disk(inst, lun, delete=inst.data_disks[lun].delete_option == "Delete")
        for lun, entry in wanted.items():
            if lun not in inst.data_disks:
                self._create_data_disk(inst, entry)
        if before["storageProfile"]["imageReference"] != after["storageProfile"]["imageReference"]:
            # A new image is a new OS disk: a fresh guest, and a new SSH host key. Any other model
            # change (a data disk, an extension, a tag) keeps both, as on Azure.
            self.guest_event(inst, "reimage")
            inst.host_key_generation += 1
        if inst.sick_after_upgrade:
            inst.sick = True
        self.run_extensions(inst)

    # ---- removal

    def remove_instance(self, inst: Instance, force: bool = False) -> None:
        ss = inst.scale_set
        inst.deleted = True
        inst.token += 1
        if ss is not None:
            ss.instances.pop(inst.instance_id, None)
        self.store.remove(inst.id)
        if inst.nic is not None:
            self.store.remove(inst.nic.id)
        subnet = inst.subnet
        if subnet:
            subnet.release(inst.private_ip)
        lb = inst.load_balancer
        if lb is not None:
            for (_, pool), port in inst.pool_ports.items():
                lb.pool_ports.get(pool, {}).pop(port, None)
            for (_, rule), port in inst.rule_ports.items():
                lb.rule_ports.get(rule, {}).pop(port, None)
        if inst.os_disk is not None:
            self.store.remove(inst.os_disk.id)
        for lun in list(inst.data_disks):
            self._drop_data_disk(inst, lun, delete=inst.data_disks[lun].delete_option == "Delete")

    # backwards-compatible names
    _create_instance = create_instance
    _remove_instance = remove_instance

    # ---- lookups

    def get_scale_set(self, rg: str, name: str) -> ScaleSet:
        self.canonical_rg(rg)
        ss = self.scale_sets.get(self.resource_id(rg, COMPUTE_PROVIDER, "virtualMachineScaleSets", name).lower())
        if ss is None:
            raise compute_not_found()
        return ss

    def get_instance(self, ss: ScaleSet, iid: str) -> Instance:
        inst = ss.instances.get(iid)
        if inst is None and ss.orchestration_mode == "Flexible":
            inst = next((i for i in ss.instances.values() if i.instance_id.lower() == iid.lower()), None)
        if inst is None:
            raise compute_not_found()
        return inst

    def get_virtual_machine(self, rg: str, name: str) -> Instance:
        self.canonical_rg(rg)
        inst = self.virtual_machines.get(self.resource_id(rg, COMPUTE_PROVIDER, "virtualMachines", name).lower())
        if inst is None:
            raise compute_not_found()
        return inst

    def all_instances(self) -> Iterator[Instance]:
        for ss in self.scale_sets.values():
            yield from ss.instances.values()
        for vm in self.virtual_machines.values():
            if vm.scale_set is None:
                yield vm

    def lb_members(self, lb: LoadBalancer) -> list[Instance]:
        """The instances and VMs behind `lb`: scale sets in order, then VMs of no scale set."""
        members = [inst for ss in self.scale_sets.values() if ss.load_balancer is lb for inst in ss.sorted_instances()]
        members += [vm for vm in self.virtual_machines.values() if vm.scale_set is None and vm.standalone_load_balancer is lb]
        return members

    def ssh_endpoints(self, backend_port: int = 22) -> list[dict[str, Any]]:
        """Every (instance, public frontend ip:port) whose NAT mapping (pool V1 or rule V2) leads to
        `backend_port`: Uniform instances, Flexible VMs and VMs of no scale set alike."""
        targets: list[dict[str, Any]] = []
        members = [inst for ss in self.scale_sets.values() for inst in ss.sorted_instances()]
        members += [vm for vm in self.virtual_machines.values() if vm.scale_set is None]
        addresses: dict[str, dict[str, str]] = {}
        for inst in members:
            lb = inst.load_balancer
            if lb is None:
                continue
            if lb.id not in addresses:
                addresses[lb.id] = self.frontend_addresses(lb)
            frontends = addresses[lb.id]
            for pool in lb.spec.nat_pools:
                port = inst.pool_ports.get((lb.name.lower(), pool.name.lower()))
                host = frontends.get(pool.frontend.lower())
                if port is not None and host and pool.backend_port == backend_port:
                    targets.append(self._endpoint(inst, host, port, f"{pool.name}.{inst.instance_id}"))
            for rule in lb.spec.nat_rules_v2:
                port = inst.rule_ports.get((lb.name.lower(), rule.name.lower()))
                host = frontends.get(rule.frontend.lower())
                if port is not None and host and rule.backend_port == backend_port:
                    targets.append(self._endpoint(inst, host, port, rule.name))
        return targets

    def frontend_addresses(self, lb: LoadBalancer) -> dict[str, str]:
        """Frontend name (lowered) -> allocated public address."""
        result = {}
        for fe in lb.spec.frontends:
            if not fe.public_ip:
                continue
            pip = self.public_ips.get(self.resource_id(lb.resource_group, NETWORK_PROVIDER, "publicIPAddresses",
                                                       fe.public_ip).lower())
            if pip is not None and pip.address:
                result[fe.name.lower()] = pip.address
        return result

    @staticmethod
    def _endpoint(inst: Instance, host: str, port: int, rule: str) -> dict[str, Any]:
        return {
            "resource_group": inst.resource_group,
            "scale_set": inst.scale_set.name if inst.scale_set is not None else None,
            "instance_id": inst.instance_id,
            "computer_name": inst.computer_name,
            "user": inst.admin_user,
            "host": host,
            "port": port,
            "rule": rule,
            "instance": inst,
        }

    # ---- operations

    def new_operation(self, name: str, provider: str = COMPUTE_PROVIDER) -> Operation:
        op = Operation(id=str(self.new_uuid()), name=name, location=self.location, start=self.scheduler.now(),
                       provider=provider)
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

    def _ops_touching(self, inst: Instance) -> list[Operation]:
        return [self.operations[op_id] for op_id, insts in self._op_instances.items()
                if inst in insts and op_id in self.operations and not self.operations[op_id].done]

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
        self.env.changed()

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
            if inst is None and ss.orchestration_mode == "Flexible":
                inst = next((i for i in ss.instances.values() if i.instance_id.lower() == iid.lower()), None)
            if inst is None:
                raise ArmError(400, "InvalidParameter",
                               f"The provided instanceId {iid} is not an active Virtual Machine Scale Set VM instanceId.")
            result.append(inst)
        return result

    # ---- guests

    def guest_for(self, inst: Instance) -> Any:
        """The simulated guest OS of `inst` (made on first use, in step with its disks), or None
        when the simulator has no guest implementation."""
        if inst.guest is None and self.env.guest_factory is not None:
            guest = self.env.guest_factory(inst)
            for lun, disk in sorted(inst.data_disks.items()):
                guest.attach(lun, disk.size_gb, disk_name=disk.name)
            for lun in inst.prepared_luns:
                if lun in inst.data_disks:
                    guest.prepare(lun)
            if hasattr(guest, "on_power_request"):
                guest.on_power_request = lambda action: self.guest_power_request(inst, action)
            inst.guest = guest
        return inst.guest

    def guest_power_request(self, inst: Instance, action: str) -> bool:
        """`sudo reboot` / `poweroff` typed in the guest: the platform sees a restart or a stop, as
        Azure does (the power state follows; a watching console sees it)."""
        transition = {"reboot": "restart", "halt": "restart", "poweroff": "powerOff"}.get(action)
        if transition is None or inst.deleted:
            return False
        try:
            self.start_action(transition, [inst], self.new_operation(f"guest-{action}"))
        except ArmError:
            return False
        return True

    def guest_event(self, inst: Instance, event: str) -> None:
        """A reboot or reimage reaches a guest that exists (one made later starts fresh anyway)."""
        if inst.guest is None:
            return
        try:
            getattr(inst.guest, event)()
        except Exception:
            log.exception("guest %s of %s failed", event, inst.name)

    def run_script_on(self, inst: Instance, script: str) -> tuple[int, str, str]:
        """Run `script` as root in the instance's simulated guest (never on this machine)."""
        guest = self.guest_for(inst)
        if inst.os_type == "Windows":
            return 1, "", "The simulator runs no PowerShell: Windows guests are not simulated."
        if guest is None:
            return 1, "", "The simulator has no guest operating system to run the script in."
        try:
            result = guest.run_script(script)
        except Exception as exc:  # a script the simulated shell chokes on is the script's failure
            log.exception("run command on %s failed", inst.name)
            return 1, "", f"{type(exc).__name__}: {exc}"
        return int(result.exit_code), str(result.stdout), str(result.stderr)

    def run_command_output(self, inst: Instance, payload: dict[str, Any]) -> dict[str, Any]:
        """The RunCommandResult of a run command: Linux's one status with [stdout]/[stderr]
        sections, Windows' StdOut/StdErr pair."""
        script = "\n".join(str(line) for line in payload.get("script") or [])
        _, stdout, stderr = self.run_script_on(inst, script)
        stdout = _tail(stdout)
        stderr = _tail(stderr)
        if inst.os_type == "Windows":
            return {"value": [
                {"code": "ComponentStatus/StdOut/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                 "message": stdout},
                {"code": "ComponentStatus/StdErr/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                 "message": stderr},
            ]}
        return {"value": [{
            "code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
            "message": f"Enable succeeded: \n[stdout]\n{stdout}\n[stderr]\n{stderr}",
        }]}

    # ---- disks on their own: PUT, attach and detach

    def put_disk(self, rg: str, name: str, body: dict[str, Any], existing: ManagedDisk | None) -> ManagedDisk:
        """Create (or grow / change the SKU of) an empty managed disk."""
        props = body.get("properties") or {}
        sku = (body.get("sku") or {}).get("name") or (existing.sku if existing else "Standard_LRS")
        if sku not in DISK_SKUS:
            raise ArmError(400, "InvalidParameter", f"The value '{sku}' of parameter 'sku.name' is not valid. "
                                                    f"Allowed values: {', '.join(DISK_SKUS)}.")
        size = props.get("diskSizeGB", existing.size_gb if existing else None)
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 32767:
            raise ArmError(400, "InvalidParameter",
                           "The value of parameter 'diskSizeGB' is invalid: a whole number from 1 to 32767 is required.")
        option = (props.get("creationData") or {}).get("createOption", "Empty")
        if existing is None and option != "Empty":
            raise ArmError(400, "InvalidParameter", f"The simulator makes Empty disks only, not createOption '{option}'.")
        if existing is not None:
            if size < existing.size_gb:
                raise ArmError(409, "BadRequest", f"Disk {name} cannot be shrunk from {existing.size_gb} GB to {size} GB.")
            existing.size_gb = size
            existing.sku = sku
            return existing
        disk = ManagedDisk(id=self.resource_id(rg, COMPUTE_PROVIDER, "disks", name), name=name, resource_group=rg,
                           location=body.get("location") or self.location, size_gb=size, sku=sku,
                           created_at=self.scheduler.now(), unique_id=str(self.new_uuid()),
                           zone=(body.get("zones") or [None])[0], order=(1 << 30, len(self.disks)))
        self.store.add(disk.id, disk)
        return disk

    def plan_disk_changes(self, inst: Instance, body: dict[str, Any]) -> dict[str, Any]:
        """Check an attachDetachDataDisks body against the instance; what to do when it runs."""
        attach = body.get("dataDisksToAttach") or []
        detach = body.get("dataDisksToDetach") or []
        if not isinstance(attach, list) or not isinstance(detach, list) or not (attach or detach):
            raise ArmError(400, "InvalidParameter",
                           "At least one of dataDisksToAttach or dataDisksToDetach must be specified.")
        used = set(inst.data_disks)
        by_id = {d.id.lower(): lun for lun, d in inst.data_disks.items()}
        detach_luns = []
        for item in detach:
            disk_id = str((item or {}).get("diskId") or "")
            if disk_id.lower() not in by_id:
                raise ArmError(400, "InvalidParameter", f"Disk '{disk_id}' is not attached to VM '{inst.name}'.",
                               details=[{"code": "InvalidParameter", "target": "dataDisksToDetach.diskId",
                                         "message": f"Disk '{disk_id}' is not attached to VM '{inst.name}'."}])
            lun = by_id[disk_id.lower()]
            used.discard(lun)
            detach_luns.append(lun)
        attach_plan = []
        for item in attach:
            item = item or {}
            disk_id = str(item.get("diskId") or "")
            disk = self.store.get(disk_id) if disk_id.lower().startswith("/subscriptions/") else None
            if not isinstance(disk, ManagedDisk):
                name = disk_id.rsplit("/", 1)[-1]
                raise ArmError(404, "NotFound", f"Disk '{name}' was not found." if disk_id else
                               "Required parameter 'diskId' is missing (null).")
            if disk.managed_by is not None and disk.managed_by is not inst:
                raise ArmError(409, "OperationNotAllowed",
                               f"Disk '{disk.name}' is already attached to VM '{disk.managed_by.id}'.")
            if disk.managed_by is inst:
                raise ArmError(409, "OperationNotAllowed", f"Disk '{disk.name}' is already attached to this VM.")
            lun = item.get("lun")
            if lun is None:
                lun = next(n for n in range(64) if n not in used)
            if not isinstance(lun, int) or isinstance(lun, bool) or not 0 <= lun <= 63:
                raise ArmError(400, "InvalidParameter", f"The value '{lun}' of parameter 'lun' is not valid: 0 to 63.")
            if lun in used:
                raise ArmError(409, "InvalidParameter", f"A disk at LUN {lun} already exists on VM '{inst.name}'.",
                               details=[{"code": "InvalidParameter", "target": "lun",
                                         "message": f"A disk at LUN {lun} already exists."}])
            used.add(lun)
            attach_plan.append((disk, lun, str(item.get("caching") or "None"), str(item.get("deleteOption") or "Detach")))
        return {"attach": attach_plan, "detach": detach_luns}

    def apply_disk_changes(self, inst: Instance, plan: dict[str, Any]) -> None:
        for lun in plan["detach"]:
            self._drop_data_disk(inst, lun, delete=False)
        for disk, lun, caching, delete_option in plan["attach"]:
            if disk.managed_by is not None or lun in inst.data_disks or disk.id.lower() not in self.store:
                continue  # taken meanwhile
            disk.managed_by = inst
            disk.lun = lun
            disk.caching = caching
            disk.delete_option = delete_option
            disk.model_entry = {"lun": lun, "createOption": "Attach", "caching": caching, "diskSizeGB": disk.size_gb,
                                "managedDisk": {"storageAccountType": disk.sku}}
            inst.data_disks[lun] = disk
            if inst.guest is not None:
                inst.guest.attach(lun, disk.size_gb, disk_name=disk.name)

    def storage_profile_output(self, inst: Instance) -> dict[str, Any]:
        from . import render

        return render.storage_profile_output(self, inst)

    # ---- extensions of the scale set model

    def model_extensions(self, ss: ScaleSet) -> list[dict[str, Any]]:
        return list(ss.models[ss.model_version].get("extensionProfile", {}).get("extensions", []))

    def model_extension(self, ss: ScaleSet, name: str) -> dict[str, Any] | None:
        return next((e for e in self.model_extensions(ss) if e["name"].lower() == name.lower()), None)

    def put_model_extension(self, ss: ScaleSet, name: str, body: dict[str, Any]) -> tuple[dict[str, Any], Operation]:
        """Add or replace an extension of the model: a model change like any other (the upgrade
        policy decides when instances get it)."""
        props = dict(body.get("properties") or {})
        for required in ("publisher", "type", "typeHandlerVersion"):
            if not props.get(required):
                raise ArmError(400, "InvalidParameter", f"Required parameter '{required}' is missing (null).")
        both = set(props.get("settings") or {}) & set(props.get("protectedSettings") or {})
        if both:
            raise ArmError(400, "InvalidParameter", f"The key(s) {', '.join(sorted(both))} are in both settings and "
                                                    f"protectedSettings: a key may be in one of them only.")
        props.pop("provisioningState", None)
        entry = {"name": name, "properties": props}
        extensions = [e for e in self.model_extensions(ss) if e["name"].lower() != name.lower()] + [entry]
        op = self.update_scale_set(ss, {"properties": {"virtualMachineProfile": {"extensionProfile": {"extensions": extensions}}}})
        return entry, op

    def delete_model_extension(self, ss: ScaleSet, name: str) -> Operation:
        extensions = [e for e in self.model_extensions(ss) if e["name"].lower() != name.lower()]
        return self.update_scale_set(ss, {"properties": {"virtualMachineProfile": {"extensionProfile": {"extensions": extensions}}}})

    # ---- extensions

    def run_extensions(self, inst: Instance) -> None:
        """Run the extensions of the instance's model that it has not run with these settings
        (Custom Script runs its script in the guest; others just report success)."""
        now = self.scheduler.now()
        extensions = inst.model.get("extensionProfile", {}).get("extensions", []) if inst.model else []
        names = set()
        for ext in extensions:
            name = ext["name"]
            names.add(name.lower())
            props = ext.get("properties", {})
            if str(props.get("type", "")).startswith("ApplicationHealth"):
                continue  # its status is the instance's vmHealth
            marker = repr((props.get("settings"), props.get("protectedSettings"), props.get("forceUpdateTag"),
                           props.get("typeHandlerVersion")))
            previous = inst.extensions.get(name.lower())
            if previous is not None and previous.settings_marker == marker:
                continue
            if inst.power != "running":
                continue
            code, message, level = "ProvisioningState/succeeded", "Enable succeeded", "Info"
            if props.get("type") == "CustomScript":
                script = _custom_script(props)
                if script is not None:
                    exit_code, stdout, stderr = self.run_script_on(inst, script)
                    message = f"Enable succeeded: \n[stdout]\n{_tail(stdout)}\n[stderr]\n{_tail(stderr)}"
                    if exit_code != 0:
                        code, level = "ProvisioningState/failed/1", "Error"
                        message = (f"Enable failed: failed to execute command: command terminated with exit status="
                                   f"{exit_code}\n[stdout]\n{_tail(stdout)}\n[stderr]\n{_tail(stderr)}")
            display = "Provisioning succeeded" if level == "Info" else "Provisioning failed"
            inst.extensions[name.lower()] = ExtensionRun(
                name=name, type=f"{props.get('publisher', '')}.{props.get('type', '')}".strip("."),
                type_handler_version=str(props.get("typeHandlerVersion", "")), code=code, message=message, time=now,
                level=level, display=display, settings_marker=marker)
        for stale in [key for key in inst.extensions if key not in names]:
            del inst.extensions[stale]

    # ---- ticking

    def advance(self) -> None:
        if self.scheduler.run_due():
            self.changed()


def _tail(text: str) -> str:
    data = text.encode()
    if len(data) <= RUN_COMMAND_STREAM_LIMIT:
        return text
    return data[-RUN_COMMAND_STREAM_LIMIT:].decode(errors="replace")


def _custom_script(props: dict[str, Any]) -> str | None:
    """The script a Custom Script extension runs: `script` (base64, maybe gzip) or `commandToExecute`,
    from settings or protectedSettings."""
    for source in (props.get("protectedSettings") or {}, props.get("settings") or {}):
        if source.get("script"):
            raw = base64.b64decode(str(source["script"]))
            if raw[:2] == b"\x1f\x8b":
                raw = gzip.decompress(raw)
            return raw.decode(errors="replace")
        if source.get("commandToExecute"):
            return str(source["commandToExecute"])
    return None
