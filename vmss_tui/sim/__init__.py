"""Local Azure simulator: ARM REST over loopback HTTP (for the real SDK clients) and SSH
servers on the simulated NAT ports. Imports nothing else from vmss_tui.

    sim = Simulator(topology=None, speed=1.0, latency=0.0, ssh=True)   # None -> default_topology()
    await sim.start()                 # or: sim = Simulator(...).start_in_thread(); sim.stop_thread()
    sim.endpoint, sim.subscription_id, sim.request_count, sim.write_count
    await sim.stop()

Knobs (constructor keywords, most also settable later): page_size, latency, throttle_after +
throttle_window (+ retry_after), sim.add_fault(path_regex, status, method=, count=),
sim.fail_action(action, code, message, count=, instance_ids=), sim.forbidden.add(resource_id),
clock=ManualClock() with sim.advance(seconds). Introspection: sim.instance(rg, vmss, id),
sim.ssh_targets(), sim.public_ip_prefix, sim.world (live state).
"""

from .arm import FaultRule
from .clock import ManualClock, SimClock
from .simulator import DEFAULT_SUBSCRIPTION_ID, Simulator
from .state import DURATIONS, ActionFault
from .topology import (
    DataDiskSpec,
    FrontendSpec,
    InstanceStateSpec,
    LbRuleSpec,
    LoadBalancerSpec,
    NatPoolSpec,
    NatRuleV2Spec,
    NsgSpec,
    PublicIpSpec,
    RollingPolicySpec,
    ScaleSetSpec,
    SecurityRuleSpec,
    SubnetSpec,
    Topology,
    VnetSpec,
    default_topology,
    large_topology,
)

__all__ = [
    "DEFAULT_SUBSCRIPTION_ID",
    "DURATIONS",
    "ActionFault",
    "DataDiskSpec",
    "FaultRule",
    "FrontendSpec",
    "InstanceStateSpec",
    "LbRuleSpec",
    "LoadBalancerSpec",
    "ManualClock",
    "NatPoolSpec",
    "NatRuleV2Spec",
    "NsgSpec",
    "PublicIpSpec",
    "RollingPolicySpec",
    "ScaleSetSpec",
    "SecurityRuleSpec",
    "SimClock",
    "Simulator",
    "SubnetSpec",
    "Topology",
    "VnetSpec",
    "default_topology",
    "large_topology",
]
