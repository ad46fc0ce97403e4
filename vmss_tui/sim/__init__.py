"""Local Azure simulator: ARM REST over loopback HTTP (for the real SDK clients) and SSH servers
on the simulated NAT ports. Imports nothing else from vmss_tui.

    sim = Simulator(topology=None, speed=1.0, latency=0.0, ssh=True)   # None -> default_topology()
    await sim.start()                 # or: sim = Simulator(...).start_in_thread(); sim.stop_thread()
    sim.endpoint, sim.subscription_id, sim.bearer_token, sim.request_count, sim.write_count, sim.write_log
    await sim.stop()

It is a small ARM: one store of resources keyed by lower-cased id (store.py), a registry of
resource types from which routes, collections, paging and 404s follow (registry.py,
compute_api.py, network_api.py), long-running operations polled by id, simulated time, instance
state changes as a table of transitions (transitions.py), model changes and rolling upgrades
(upgrades.py), Resource Graph (graph.py). Uniform and Flexible scale sets, VMs of no scale set,
NICs, managed disks, extensions and Run Command are resources; each instance has a simulated guest
OS (guest.py, shell.py) in which Run Command and Custom Script run: nothing runs on this machine.

Only `sim.bearer_token` (fresh per simulator) is accepted: any other Authorization gets 401.

Knobs (constructor keywords, most also settable later): page_size, vm_page_size (50),
latency, throttle_after + throttle_window (+ retry_after), unescaped_next_link_filter,
backend_addresses_in_pools, port_mapping_async, graph_lag, subscriptions=N or {id: topology},
sim.add_fault(path_regex, status, method=, count=), sim.fail_action(action, code, message, count=,
instance_ids=), sim.inject_unhealthy(rg, vmss, ids, after_upgrade=), sim.forbidden.add(resource_id),
clock=ManualClock() with sim.advance(seconds), seed=N (repeatable generated ids).
Introspection: sim.instance(rg, vmss, id), sim.virtual_machine(rg, name), sim.guest(rg, vmss, id),
sim.rollout_records(rg, vmss), sim.ssh_targets(), sim.ssh_endpoints(), sim.public_ip_prefix,
sim.world / sim.worlds (live state).

SSH: the servers accept public keys only, for the admin user `azureuser`: the demo key at
sim.ssh_client_key_path (made per simulator, removed on stop), the running user's
~/.ssh/authorized_keys and ~/.ssh/*.pub keys, and the ssh-agent's keys (ssh_user_home=,
ssh_agent= change where those come from). No password works.
"""

from .arm import FaultRule
from .clock import ManualClock, SimClock
from .resources import ActionFault, RolloutRecord
from .simulator import DEFAULT_SUBSCRIPTION_ID, Simulator, subscription_id_for
from .topology import (
    DataDiskSpec,
    FrontendSpec,
    InstanceStateSpec,
    LbRuleSpec,
    LoadBalancerSpec,
    ManagedDiskSpec,
    NatPoolSpec,
    NatRuleV2Spec,
    NsgSpec,
    PublicIpSpec,
    RollingPolicySpec,
    ScaleSetSpec,
    SecurityRuleSpec,
    SubnetSpec,
    Topology,
    VirtualMachineSpec,
    VnetSpec,
    classic_topology,
    default_topology,
    demo_topology,
    fleet_subscription_topology,
    large_topology,
)
from .transitions import DURATIONS, GUEST_BOOT_AFTER_RESTART, TRANSITIONS

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
    "ManagedDiskSpec",
    "ManualClock",
    "NatPoolSpec",
    "NatRuleV2Spec",
    "NsgSpec",
    "PublicIpSpec",
    "RollingPolicySpec",
    "RolloutRecord",
    "ScaleSetSpec",
    "SecurityRuleSpec",
    "SimClock",
    "Simulator",
    "SubnetSpec",
    "TRANSITIONS",
    "Topology",
    "VirtualMachineSpec",
    "VnetSpec",
    "classic_topology",
    "default_topology",
    "demo_topology",
    "fleet_subscription_topology",
    "large_topology",
    "subscription_id_for",
]
