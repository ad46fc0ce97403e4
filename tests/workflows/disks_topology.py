"""A simulated subscription for the disk tests (no tests here): one Linux scale set behind a load
balancer with an SSH NAT pool and two empty data disks (LUN 0 and 1)."""

from __future__ import annotations

from vmss_tui.sim.topology import (
    DataDiskSpec,
    FrontendSpec,
    InstanceStateSpec,
    LoadBalancerSpec,
    NatPoolSpec,
    NsgSpec,
    PublicIpSpec,
    ScaleSetSpec,
    SecurityRuleSpec,
    SubnetSpec,
    Topology,
    VnetSpec,
)

RG = "rg-disks"
SCALE_SET = "vmss-disks"


def disks_topology(capacity: int = 2, upgrade_mode: str = "Manual",
                   instance_states: dict[int, InstanceStateSpec] | None = None) -> Topology:
    """`vmss-disks` in `rg-disks`: instances 0..capacity-1; by default instance 1 is deallocated."""
    states = {1: InstanceStateSpec(power="deallocated")} if instance_states is None else instance_states
    return Topology(
        vnets=[VnetSpec("vnet-disks", RG, "10.9.0.0/16", [SubnetSpec("snet-disks", "10.9.1.0/24")])],
        nsgs=[NsgSpec("nsg-disks", RG, [SecurityRuleSpec("allow-ssh", 100, "22", "*")])],
        public_ips=[PublicIpSpec("pip-disks", RG)],
        load_balancers=[LoadBalancerSpec(
            "lb-disks", RG, frontends=[FrontendSpec("fe-disks", public_ip="pip-disks")], backend_pools=["bepool"],
            nat_pools=[NatPoolSpec("natpool-ssh", "fe-disks", 22, 50000, 50099)],
        )],
        scale_sets=[ScaleSetSpec(
            SCALE_SET, RG, capacity=capacity, upgrade_mode=upgrade_mode, vnet="vnet-disks", subnet="snet-disks",
            nsg="nsg-disks", load_balancer="lb-disks", backend_pool="bepool", nat_pools=["natpool-ssh"],
            overprovision=False,
            data_disks=[DataDiskSpec(0, 1, caching="None"), DataDiskSpec(1, 1, sku="StandardSSD_LRS")],
            instance_states=states,
        )],
    )
