"""A subscription with a Flexible scale set beside a Uniform one, for the data layer's and
`get`'s tests (no tests here).

rg-flex
  vmss-flex     Flexible, 3 VMs (the second stopped) in zones 1-3, NIC-based pool bepool-flex of
                the Standard load balancer lb-flex with NAT rule V2 `NatRule` 22 from 50000 up
                (as `az vmss create` builds it), NSG nsg-flex opening SSH to any source.
  vmss-uniform  Uniform, 2 instances, no load balancer.
  vm-loner      a VM of no scale set, in the same subnet.
"""

from __future__ import annotations

import re

from vmss_tui.sim.topology import (
    FrontendSpec,
    InstanceStateSpec,
    LoadBalancerSpec,
    NatRuleV2Spec,
    NsgSpec,
    PublicIpSpec,
    ScaleSetSpec,
    SecurityRuleSpec,
    SubnetSpec,
    Topology,
    VirtualMachineSpec,
    VnetSpec,
)

RG = "rg-flex"
VM_NAME = re.compile(r"^vmss-flex_[0-9a-f]{8}$")


def flexible_topology(capacity: int = 3) -> Topology:
    return Topology(
        vnets=[VnetSpec("vnet-flex", RG, "10.5.0.0/16", [SubnetSpec("snet-flex", "10.5.0.0/24")])],
        nsgs=[NsgSpec("nsg-flex", RG, [SecurityRuleSpec("allow-ssh", 100, "22", "*")])],
        public_ips=[PublicIpSpec("pip-flex", RG)],
        load_balancers=[
            LoadBalancerSpec(
                "lb-flex", RG, frontends=[FrontendSpec("fe-flex", public_ip="pip-flex")],
                backend_pools=["bepool-flex"],
                nat_rules_v2=[NatRuleV2Spec("NatRule", "fe-flex", "bepool-flex", 22, 50000, 50099)],
            )
        ],
        scale_sets=[
            ScaleSetSpec(
                "vmss-flex", RG, capacity=capacity, orchestration_mode="Flexible", vnet="vnet-flex",
                subnet="snet-flex", nsg="nsg-flex", load_balancer="lb-flex", backend_pool="bepool-flex",
                zones=["1", "2", "3"], instance_states={1: InstanceStateSpec(power="stopped")},
            ),
            ScaleSetSpec("vmss-uniform", RG, capacity=2, vnet="vnet-flex", subnet="snet-flex"),
        ],
        virtual_machines=[VirtualMachineSpec("vm-loner", RG, vnet="vnet-flex", subnet="snet-flex", nsg="nsg-flex")],
    )
