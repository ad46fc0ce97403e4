"""Local Azure simulator: ARM REST over loopback HTTP (for the real SDK clients) and SSH
servers on the simulated NAT ports. Imports nothing else from vmss_tui.

    sim = Simulator(topology=None, speed=1.0, latency=0.0, ssh=True)   # None -> default_topology()
    await sim.start()                 # or: sim = Simulator(...).start_in_thread(); sim.stop_thread()
    sim.endpoint, sim.subscription_id, sim.request_count, sim.write_count
    await sim.stop()

Knobs (constructor keywords, most also settable later): page_size, latency, throttle_after +
throttle_window (+ retry_after), sim.add_fault(path_regex, status, method=, count=),
sim.fail_action(action, code, message, count=, instance_ids=), sim.forbidden.add(resource_id),
clock=ManualClock() with sim.advance(seconds), seed=N (repeatable generated ids).
Introspection: sim.instance(rg, vmss, id), sim.ssh_targets(), sim.public_ip_prefix, sim.world
(live state).

SSH: the servers accept public keys only, for the admin user `azureuser`: the demo key at
sim.ssh_client_key_path (made per simulator, removed on stop), the running user's
~/.ssh/authorized_keys and ~/.ssh/*.pub keys, and the ssh-agent's keys (ssh_user_home=,
ssh_agent= change where those come from). No password works.
"""

from .arm import FaultRule
from .clock import ManualClock, SimClock
from .simulator import DEFAULT_SUBSCRIPTION_ID, Simulator
from .state import DURATIONS, GUEST_BOOT_AFTER_RESTART, ActionFault
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
    "GUEST_BOOT_AFTER_RESTART",
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
