"""What the simulated subscription contains: a declarative, dataclass-based spec.

A `Topology` names resource groups, networks, load balancers and scale sets; the
simulator turns it into live state (instances, NAT ports, private and public IPs).
Tests build their own with these classes; `default_topology()` is the demo fleet and
`large_topology()` the benchmark fleet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# An entry of ScaleSetSpec.history: ("create", count) adds `count` instances with the next
# ids, ("delete", [ids]) removes those ids. Replaying the history through the same
# allocator the live simulator uses gives the real port gaps of a scale set that was
# overprovisioned or scaled in and out.
HistoryStep = tuple[str, int | list[int]]


@dataclass
class SecurityRuleSpec:
    name: str
    priority: int
    destination_ports: str | list[str] = "22"  # "22", "8000-8100", "*" or a list of them
    source: str | list[str] = "*"  # "*", "Internet", "10.0.0.0/8", a list of prefixes ...
    access: str = "Allow"  # Allow | Deny
    direction: str = "Inbound"  # Inbound | Outbound
    protocol: str = "Tcp"  # Tcp | Udp | Icmp | *
    destination: str = "*"
    source_port: str = "*"
    description: str | None = None


@dataclass
class NsgSpec:
    name: str
    resource_group: str
    rules: list[SecurityRuleSpec] = field(default_factory=list)


@dataclass
class SubnetSpec:
    name: str
    prefix: str  # e.g. "10.1.0.0/24"
    nsg: str | None = None  # name of an NSG in the vnet's resource group


@dataclass
class VnetSpec:
    name: str
    resource_group: str
    address_prefix: str  # e.g. "10.1.0.0/16"
    subnets: list[SubnetSpec] = field(default_factory=list)


@dataclass
class PublicIpSpec:
    name: str
    resource_group: str
    allocated: bool = True  # False: the resource exists but has no ipAddress yet
    sku: str = "Standard"
    dns_label: str | None = None


@dataclass
class FrontendSpec:
    name: str
    public_ip: str | None = None  # name of a PublicIpSpec in the load balancer's group
    private_ip: str | None = None  # internal load balancer: a static private address
    subnet: tuple[str, str] | None = None  # (vnet, subnet) for a private frontend


@dataclass
class NatPoolSpec:
    """An inbound NAT pool (V1): the platform creates one rule `{pool}.{instanceId}` per instance."""

    name: str
    frontend: str
    backend_port: int
    port_start: int
    port_end: int
    protocol: str = "Tcp"


@dataclass
class NatRuleV2Spec:
    """An inbound NAT rule V2: a frontend port range mapped onto a backend address pool."""

    name: str
    frontend: str
    backend_pool: str
    backend_port: int
    port_start: int
    port_end: int
    protocol: str = "Tcp"


@dataclass
class LbRuleSpec:
    name: str
    frontend: str
    backend_pool: str
    frontend_port: int
    backend_port: int
    protocol: str = "Tcp"
    probe_port: int | None = None


@dataclass
class LoadBalancerSpec:
    name: str
    resource_group: str
    frontends: list[FrontendSpec]
    backend_pools: list[str] = field(default_factory=list)
    nat_pools: list[NatPoolSpec] = field(default_factory=list)
    nat_rules_v2: list[NatRuleV2Spec] = field(default_factory=list)
    lb_rules: list[LbRuleSpec] = field(default_factory=list)
    sku: str = "Standard"


@dataclass
class DataDiskSpec:
    lun: int
    size_gb: int
    sku: str = "Premium_LRS"  # storageAccountType
    caching: str = "ReadOnly"  # None | ReadOnly | ReadWrite


@dataclass
class RollingPolicySpec:
    max_batch_instance_percent: int = 20
    max_unhealthy_instance_percent: int = 20
    max_unhealthy_upgraded_instance_percent: int = 20
    pause_time_between_batches: str = "PT0S"
    prioritize_unhealthy_instances: bool = False
    max_surge: bool = False


@dataclass
class InstanceStateSpec:
    """Overrides for one instance of a scale set (by instance id)."""

    power: str = "running"  # running | stopped | deallocated
    latest_model: bool = True  # False: the instance runs the previous model (older image)
    health: str | None = None  # healthy | unhealthy | unknown | initializing (needs health_probe)
    provisioning_failed: tuple[str, str] | None = None  # (code, message): ProvisioningState/failed/<code>
    prepared_luns: tuple[int, ...] = ()  # data disks its guest has partitioned, formatted, mounted and in fstab


@dataclass
class ScaleSetSpec:
    name: str
    resource_group: str
    capacity: int = 2  # used when history is None: instances 0..capacity-1
    sku: str = "Standard_D2s_v3"
    upgrade_mode: str = "Manual"  # Automatic | Manual | Rolling
    os: str = "Linux"  # Linux | Windows
    admin_user: str = "azureuser"
    image: tuple[str, str, str, str] = ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "22.04.202507010")
    previous_image_version: str = "22.04.202503180"  # the image of instances not on the latest model
    vnet: str | None = None  # (in the scale set's resource group unless vnet_resource_group says)
    subnet: str | None = None
    vnet_resource_group: str | None = None
    nsg: str | None = None  # NSG on the NIC configuration (same resource group)
    load_balancer: str | None = None  # load balancer name (same resource group)
    backend_pool: str | None = None
    nat_pools: list[str] = field(default_factory=list)  # names of the LB's NAT pools this scale set uses
    instance_public_ip: bool = False  # publicIPAddressConfiguration: one public IP per instance
    data_disks: list[DataDiskSpec] = field(default_factory=list)
    rolling_policy: RollingPolicySpec | None = None  # defaults apply for Rolling mode
    health_probe: bool = False  # Application Health extension: instances report vmHealth
    zones: list[str] = field(default_factory=list)
    overprovision: bool = True
    history: list[HistoryStep] | None = None
    instance_states: dict[int, InstanceStateSpec] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    computer_name_prefix: str | None = None  # default: the scale set name
    # Uniform: instances are children of the scale set, numbered. Flexible: each instance is a
    # VM resource of its own (`{name}_{8 hex}`) with a NIC resource of its own; instance_states
    # is then keyed by the VM's position in creation order (0, 1, ...).
    orchestration_mode: str = "Uniform"

    def initial_history(self) -> list[HistoryStep]:
        return self.history if self.history is not None else [("create", self.capacity)]


@dataclass
class VirtualMachineSpec:
    """A virtual machine that belongs to no scale set."""

    name: str
    resource_group: str
    size: str = "Standard_B2s"
    os: str = "Linux"
    admin_user: str = "azureuser"
    image: tuple[str, str, str, str] = ("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "22.04.202507010")
    vnet: str | None = None
    subnet: str | None = None
    vnet_resource_group: str | None = None
    nsg: str | None = None
    load_balancer: str | None = None
    backend_pool: str | None = None
    data_disks: list[DataDiskSpec] = field(default_factory=list)
    zone: str | None = None
    power: str = "running"
    computer_name: str | None = None  # default: the VM name
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ManagedDiskSpec:
    """A managed disk attached to nothing (still billed)."""

    name: str
    resource_group: str
    size_gb: int = 64
    sku: str = "Standard_LRS"


@dataclass
class Topology:
    scale_sets: list[ScaleSetSpec] = field(default_factory=list)
    virtual_machines: list[VirtualMachineSpec] = field(default_factory=list)
    managed_disks: list[ManagedDiskSpec] = field(default_factory=list)
    load_balancers: list[LoadBalancerSpec] = field(default_factory=list)
    public_ips: list[PublicIpSpec] = field(default_factory=list)
    nsgs: list[NsgSpec] = field(default_factory=list)
    vnets: list[VnetSpec] = field(default_factory=list)
    resource_groups: list[str] = field(default_factory=list)  # extra (possibly empty) groups
    location: str = "westeurope"
    subscription_name: str = "vmss-tui simulator"

    def all_resource_groups(self) -> list[str]:
        names: list[str] = []
        for name in [
            *self.resource_groups,
            *(s.resource_group for s in self.scale_sets),
            *(v.resource_group for v in self.virtual_machines),
            *(d.resource_group for d in self.managed_disks),
            *(lb.resource_group for lb in self.load_balancers),
            *(p.resource_group for p in self.public_ips),
            *(n.resource_group for n in self.nsgs),
            *(v.resource_group for v in self.vnets),
        ]:
            if name.lower() not in {n.lower() for n in names}:
                names.append(name)
        return names


WEB_RG = "rg-web-prod"
BATCH_RG = "rg-batch-dev"


def _ssh_open_to_world_nsg() -> NsgSpec:
    return NsgSpec(
        "nsg-web",
        WEB_RG,
        [
            SecurityRuleSpec("allow-ssh-anywhere", 100, "22", "*", description="Opens SSH to the world"),
            SecurityRuleSpec("allow-http", 110, ["80", "443"], "Internet"),
        ],
    )


def default_topology() -> Topology:
    """The fleet a simulator serves unless told otherwise: `demo_topology()`."""
    return demo_topology()


def classic_topology() -> Topology:
    """The first demo fleet: six Uniform scale sets in two resource groups covering the NAT cases.

    rg-web-prod
      vmss-web      Rolling, lb-web NAT pools SSH (22) + RDP (3389), NSG nsg-web opens SSH to *,
                    ids 1,2,4,5,6,7 after overprovisioning and scale-out (ports are not start+id),
                    5 stopped, 7 deallocated, 2 and 4 on the previous model, health probe.
      vmss-api      Manual, shares lb-web (own NAT pool natpool-api-ssh, own backend pool).
    rg-batch-dev
      vmss-batch    Manual, lb-batch NAT rules V2 (8080 rule listed before the SSH rule),
                    instance 1 on the previous model, NSG nsg-batch, subnet NSG nsg-snet-batch.
      vmss-data     Automatic, two data disks (LUN 0 128 GB Premium_LRS, LUN 1 512 GB
                    StandardSSD_LRS), no load balancer.
      vmss-internal Manual, internal load balancer lb-internal (private frontend only).
      vmss-pending  Windows, Rolling, lb-pending whose public IP is not allocated yet (RDP pool).
    """
    web_history: list[HistoryStep] = [("create", 6), ("delete", [0, 3]), ("create", 2)]
    return Topology(
        location="westeurope",
        vnets=[
            VnetSpec("vnet-web", WEB_RG, "10.1.0.0/16", [SubnetSpec("snet-web", "10.1.0.0/24")]),
            VnetSpec(
                "vnet-batch",
                BATCH_RG,
                "10.2.0.0/16",
                [
                    SubnetSpec("snet-batch", "10.2.0.0/24", nsg="nsg-snet-batch"),
                    SubnetSpec("snet-jobs", "10.2.1.0/24"),
                ],
            ),
        ],
        nsgs=[
            _ssh_open_to_world_nsg(),
            NsgSpec(
                "nsg-batch",
                BATCH_RG,
                [
                    SecurityRuleSpec("allow-ssh-corp", 100, "22", ["10.0.0.0/8", "192.168.0.0/16"]),
                    SecurityRuleSpec("allow-http-alt", 120, "8080", "Internet"),
                    SecurityRuleSpec("deny-rdp", 200, "3389", "*", access="Deny"),
                ],
            ),
            NsgSpec(
                "nsg-snet-batch",
                BATCH_RG,
                [
                    SecurityRuleSpec("allow-ssh-vnet", 100, "22", "VirtualNetwork"),
                    SecurityRuleSpec("allow-ssh-corp", 110, "22", "10.0.0.0/8"),
                    SecurityRuleSpec("allow-http-alt", 120, "8080", "*"),
                ],
            ),
            NsgSpec("nsg-jobs", BATCH_RG, [SecurityRuleSpec("allow-rdp-any", 100, "3389", "Internet")]),
        ],
        public_ips=[
            PublicIpSpec("pip-lb-web", WEB_RG, dns_label="vmss-web-demo"),
            PublicIpSpec("pip-lb-batch", BATCH_RG),
            PublicIpSpec("pip-lb-pending", BATCH_RG, allocated=False),
        ],
        load_balancers=[
            LoadBalancerSpec(
                "lb-web",
                WEB_RG,
                frontends=[FrontendSpec("fe-web", public_ip="pip-lb-web")],
                backend_pools=["bepool-web", "bepool-api"],
                nat_pools=[
                    NatPoolSpec("natpool-ssh", "fe-web", 22, 50000, 50119),
                    NatPoolSpec("natpool-rdp", "fe-web", 3389, 50200, 50319),
                    NatPoolSpec("natpool-api-ssh", "fe-web", 22, 50400, 50499),
                ],
                lb_rules=[LbRuleSpec("http", "fe-web", "bepool-web", 80, 80, probe_port=80)],
            ),
            LoadBalancerSpec(
                "lb-batch",
                BATCH_RG,
                frontends=[FrontendSpec("fe-batch", public_ip="pip-lb-batch")],
                backend_pools=["bepool-batch"],
                nat_rules_v2=[
                    NatRuleV2Spec("nat-http-alt", "fe-batch", "bepool-batch", 8080, 60000, 60099),
                    NatRuleV2Spec("nat-ssh", "fe-batch", "bepool-batch", 22, 61000, 61099),
                ],
            ),
            LoadBalancerSpec(
                "lb-internal",
                BATCH_RG,
                frontends=[FrontendSpec("fe-internal", private_ip="10.2.1.100", subnet=("vnet-batch", "snet-jobs"))],
                backend_pools=["bepool-internal"],
                nat_pools=[NatPoolSpec("natpool-ssh", "fe-internal", 22, 50000, 50099)],
            ),
            LoadBalancerSpec(
                "lb-pending",
                BATCH_RG,
                frontends=[FrontendSpec("fe-pending", public_ip="pip-lb-pending")],
                backend_pools=["bepool-pending"],
                nat_pools=[NatPoolSpec("natpool-rdp", "fe-pending", 3389, 50000, 50099)],
            ),
        ],
        scale_sets=[
            ScaleSetSpec(
                "vmss-web",
                WEB_RG,
                upgrade_mode="Rolling",
                vnet="vnet-web",
                subnet="snet-web",
                nsg="nsg-web",
                load_balancer="lb-web",
                backend_pool="bepool-web",
                nat_pools=["natpool-ssh", "natpool-rdp"],
                rolling_policy=RollingPolicySpec(
                    max_batch_instance_percent=34, pause_time_between_batches="PT2S"
                ),
                health_probe=True,
                zones=["1", "2", "3"],
                history=web_history,
                instance_states={
                    5: InstanceStateSpec(power="stopped"),
                    7: InstanceStateSpec(power="deallocated"),
                    2: InstanceStateSpec(latest_model=False),
                    4: InstanceStateSpec(latest_model=False),
                },
                tags={"env": "prod", "team": "web"},
            ),
            ScaleSetSpec(
                "vmss-api",
                WEB_RG,
                capacity=3,
                sku="Standard_B2s",
                upgrade_mode="Manual",
                vnet="vnet-web",
                subnet="snet-web",
                nsg="nsg-web",
                load_balancer="lb-web",
                backend_pool="bepool-api",
                nat_pools=["natpool-api-ssh"],
                tags={"env": "prod", "team": "api"},
            ),
            ScaleSetSpec(
                "vmss-batch",
                BATCH_RG,
                capacity=3,
                sku="Standard_F4s_v2",
                upgrade_mode="Manual",
                vnet="vnet-batch",
                subnet="snet-batch",
                nsg="nsg-batch",
                load_balancer="lb-batch",
                backend_pool="bepool-batch",
                instance_states={1: InstanceStateSpec(latest_model=False)},
                tags={"env": "dev"},
            ),
            ScaleSetSpec(
                "vmss-data",
                BATCH_RG,
                capacity=2,
                sku="Standard_E4s_v5",
                upgrade_mode="Automatic",
                vnet="vnet-batch",
                subnet="snet-jobs",
                data_disks=[
                    DataDiskSpec(0, 128, "Premium_LRS", "ReadOnly"),
                    DataDiskSpec(1, 512, "StandardSSD_LRS", "None"),
                ],
            ),
            ScaleSetSpec(
                "vmss-internal",
                BATCH_RG,
                capacity=2,
                sku="Standard_B2s",
                vnet="vnet-batch",
                subnet="snet-jobs",
                load_balancer="lb-internal",
                backend_pool="bepool-internal",
                nat_pools=["natpool-ssh"],
            ),
            ScaleSetSpec(
                "vmss-pending",
                BATCH_RG,
                capacity=2,
                sku="Standard_D4s_v3",
                upgrade_mode="Rolling",
                os="Windows",
                image=("MicrosoftWindowsServer", "WindowsServer", "2022-datacenter-azure-edition", "20348.3932.250705"),
                previous_image_version="20348.3807.250605",
                vnet="vnet-batch",
                subnet="snet-jobs",
                nsg="nsg-jobs",
                load_balancer="lb-pending",
                backend_pool="bepool-pending",
                nat_pools=["natpool-rdp"],
                computer_name_prefix="pend",
            ),
        ],
    )


FLEX_RG = "rg-flex-demo"


def demo_topology() -> Topology:
    """The demo fleet (the default): everything `classic_topology()` has, plus

    rg-flex-demo
      vmss-flex     Flexible, Rolling with the Application Health extension, three VMs behind the
                    Standard load balancer lb-flex with a NAT rule V2 `NatRule` (22 from 50000, as
                    `az vmss create` builds it), one of them on the previous model.
      vm-tools      a VM of no scale set beside it, in the same backend pool (its NAT port is not an
                    instance's).
      vmss-disks    Uniform, Automatic, data disks LUN 0 (64 GB, prepared: partitioned, formatted,
                    mounted at /datadisks/lun0, in fstab, on instances 0 and 1, not on 2) and LUN 1
                    (32 GB, empty everywhere), behind lb-disks with an SSH NAT pool; instance 2 still
                    runs the previous model.
    rg-batch-dev
      disk-orphaned a managed disk attached to nothing (still billed).

    One scale set per upgrade policy has a model change ready to roll: vmss-web and vmss-flex
    (Rolling), vmss-batch (Manual), vmss-disks (Automatic).
    """
    topology = classic_topology()
    topology.vnets.append(VnetSpec("vnet-flex", FLEX_RG, "10.3.0.0/16", [SubnetSpec("snet-flex", "10.3.0.0/24")]))
    topology.nsgs.append(NsgSpec("nsg-flex", FLEX_RG, [
        SecurityRuleSpec("allow-ssh-corp", 100, "22", ["10.0.0.0/8", "192.168.0.0/16", "127.0.0.0/8"]),
    ]))
    topology.public_ips += [PublicIpSpec("pip-lb-flex", FLEX_RG), PublicIpSpec("pip-lb-disks", BATCH_RG)]
    topology.load_balancers += [
        LoadBalancerSpec(
            "lb-flex", FLEX_RG,
            frontends=[FrontendSpec("fe-flex", public_ip="pip-lb-flex")],
            backend_pools=["bepool-flex"],
            nat_rules_v2=[NatRuleV2Spec("NatRule", "fe-flex", "bepool-flex", 22, 50000, 50119)],
        ),
        LoadBalancerSpec(
            "lb-disks", BATCH_RG,
            frontends=[FrontendSpec("fe-disks", public_ip="pip-lb-disks")],
            backend_pools=["bepool-disks"],
            nat_pools=[NatPoolSpec("natpool-ssh", "fe-disks", 22, 50000, 50099)],
        ),
    ]
    topology.scale_sets += [
        ScaleSetSpec(
            "vmss-flex", FLEX_RG, capacity=3, sku="Standard_D2s_v5", upgrade_mode="Rolling",
            orchestration_mode="Flexible", vnet="vnet-flex", subnet="snet-flex", nsg="nsg-flex",
            load_balancer="lb-flex", backend_pool="bepool-flex", health_probe=True, zones=["1", "2", "3"],
            rolling_policy=RollingPolicySpec(max_batch_instance_percent=34, pause_time_between_batches="PT2S"),
            instance_states={2: InstanceStateSpec(latest_model=False)}, overprovision=False,
            tags={"env": "demo", "team": "flex"},
        ),
        ScaleSetSpec(
            "vmss-disks", BATCH_RG, capacity=3, sku="Standard_E2s_v5", upgrade_mode="Automatic",
            vnet="vnet-batch", subnet="snet-jobs", load_balancer="lb-disks", backend_pool="bepool-disks",
            nat_pools=["natpool-ssh"],
            data_disks=[DataDiskSpec(0, 64, "Premium_LRS", "ReadOnly"), DataDiskSpec(1, 32, "StandardSSD_LRS", "None")],
            instance_states={0: InstanceStateSpec(prepared_luns=(0,)), 1: InstanceStateSpec(prepared_luns=(0,)),
                             2: InstanceStateSpec(latest_model=False)},
            tags={"env": "dev", "team": "data"},
        ),
    ]
    topology.virtual_machines.append(VirtualMachineSpec(
        "vm-tools", FLEX_RG, vnet="vnet-flex", subnet="snet-flex", nsg="nsg-flex", load_balancer="lb-flex",
        backend_pool="bepool-flex", zone="1", tags={"env": "demo", "role": "tools"}))
    topology.managed_disks.append(ManagedDiskSpec("disk-orphaned", BATCH_RG, size_gb=128, sku="Standard_LRS"))
    return topology


def large_topology(scale_sets: int = 50, instances: int = 1000, *, flexible: bool = False,
                   flexible_small: int = 0) -> Topology:
    """A benchmark fleet: `scale_sets` scale sets, one of them with `instances` instances.

    The big one ("vmss-big-000") sits behind a NAT pool wide enough for all its instances, or,
    `flexible`, is a Flexible scale set behind a NAT rule V2 on its backend pool; the others have
    two instances each and alternate between two resource groups (the first `flexible_small` of
    them Flexible).
    """
    rg_a, rg_b = "rg-fleet-a", "rg-fleet-b"
    port_end = 20000 + max(instances, 1) * 2
    topology = Topology(
        vnets=[
            VnetSpec("vnet-fleet", rg_a, "10.0.0.0/8", [SubnetSpec("snet-big", "10.16.0.0/12"), SubnetSpec("snet-small", "10.32.0.0/12")])
        ],
        nsgs=[_fleet_nsg(rg_a)],
        public_ips=[PublicIpSpec("pip-fleet", rg_a)],
        load_balancers=[
            LoadBalancerSpec(
                "lb-fleet",
                rg_a,
                frontends=[FrontendSpec("fe-fleet", public_ip="pip-fleet")],
                backend_pools=["bepool-big"],
                nat_pools=[] if flexible else [NatPoolSpec("natpool-ssh", "fe-fleet", 22, 20000, port_end)],
                nat_rules_v2=[NatRuleV2Spec("NatRule", "fe-fleet", "bepool-big", 22, 20000, port_end)] if flexible else [],
            )
        ],
        resource_groups=[rg_a, rg_b],
    )
    for index in range(scale_sets):
        big = index == 0
        topology.scale_sets.append(
            ScaleSetSpec(
                f"vmss-{'big' if big else 'small'}-{index:03d}",
                rg_a if big or index % 2 else rg_b,
                capacity=instances if big else 2,
                vnet="vnet-fleet",
                vnet_resource_group=rg_a,
                subnet="snet-big" if big else "snet-small",
                nsg="nsg-fleet" if big else None,
                load_balancer="lb-fleet" if big else None,
                backend_pool="bepool-big" if big else None,
                nat_pools=["natpool-ssh"] if big and not flexible else [],
                upgrade_mode=("Rolling", "Manual", "Automatic")[index % 3],
                health_probe=(big and flexible) or (not big and index <= flexible_small and index % 3 == 0),
                overprovision=False,
                orchestration_mode="Flexible" if (big and flexible) or (not big and index <= flexible_small) else "Uniform",
            )
        )
    return topology


def _fleet_nsg(rg: str) -> NsgSpec:
    return NsgSpec("nsg-fleet", rg, [SecurityRuleSpec("allow-ssh-corp", 100, "22", "10.0.0.0/8")])


def fleet_subscription_topology(index: int) -> Topology:
    """A small subscription of a many-subscription fleet: one resource group, one or two scale
    sets of two instances (every third subscription also has a Flexible one), no public IPs."""
    rg = f"rg-team-{index:03d}"
    topology = Topology(
        vnets=[VnetSpec("vnet-team", rg, "10.40.0.0/16", [SubnetSpec("snet-team", "10.40.0.0/24")])],
        resource_groups=[rg],
        subscription_name=f"vmss-tui simulator team {index:03d}",
    )
    topology.scale_sets.append(ScaleSetSpec(
        f"vmss-team-{index:03d}", rg, capacity=2, vnet="vnet-team", subnet="snet-team",
        upgrade_mode=("Rolling", "Manual", "Automatic")[index % 3], overprovision=False, tags={"team": f"{index:03d}"}))
    if index % 3 == 0:
        topology.scale_sets.append(ScaleSetSpec(
            f"vmss-team-{index:03d}-flex", rg, capacity=2, vnet="vnet-team", subnet="snet-team",
            orchestration_mode="Flexible", overprovision=False, tags={"team": f"{index:03d}"}))
    return topology
