"""How many ARM requests `vmss-tui get instances` (and the console's refreshes) send, counted by
the simulator.

Runs the real command (vmss_tui.cli.entry.main) against a simulator on its own thread and reads
the simulator's request counter before and after: for the default topology, for a fleet with one
1,000-instance scale set (large_topology), and for one scale set of 10 and of 1,000 instances in
each orchestration mode (Uniform behind a NAT pool, Flexible behind a NAT rule V2 on a NIC-based
pool, as `az vmss create` builds them), where it also counts the Fleet calls a console refresh
makes (the instance list; the NICs after it; the NAT mappings). Usage:
python benchmarks/calls_get_instances.py
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmss_tui import cli  # noqa: E402
from vmss_tui.azure.fleet import ConnectionSettings, Fleet  # noqa: E402
from vmss_tui.sim import Simulator, default_topology, large_topology  # noqa: E402
from vmss_tui.sim.topology import (  # noqa: E402
    FrontendSpec,
    LoadBalancerSpec,
    NatPoolSpec,
    NatRuleV2Spec,
    NsgSpec,
    PublicIpSpec,
    ScaleSetSpec,
    SecurityRuleSpec,
    SubnetSpec,
    Topology,
    VnetSpec,
)

AZURE_PAGE_SIZE = 50  # what Azure pages the Flexible VM list by; used for both modes below
RG = "rg-bench"


def count(sim: Simulator, *argv: str) -> tuple[int, int, float]:
    """(requests, rows printed, seconds) for one `get` run."""
    args = ["get", *argv, "-o", "json", "--arm-endpoint", sim.endpoint, "--subscription", sim.subscription_id]
    os.environ["VMSS_TUI_ARM_TOKEN"] = sim.bearer_token  # the simulator takes its own token only
    before = sim.request_count
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = cli.main(args)
    elapsed = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"vmss-tui {' '.join(args)} failed with {code}")
    return sim.request_count - before, len(json.loads(out.getvalue())), elapsed


def report(title: str, sim: Simulator, cases: list[tuple[str, list[str]]]) -> None:
    print(f"{title} (simulator page size {sim.page_size})")
    for label, argv in cases:
        requests, rows, seconds = count(sim, *argv)
        print(f"  {label:<58} {requests:>4} requests  {rows:>5} rows       {seconds:6.2f} s")


def one_scale_set(mode: str, instances: int) -> Topology:
    """One scale set of `instances` behind a Standard load balancer with SSH NAT, in `mode`."""
    flexible = mode == "Flexible"
    return Topology(
        vnets=[VnetSpec("vnet-bench", RG, "10.8.0.0/16", [SubnetSpec("snet-bench", "10.8.0.0/20")])],
        nsgs=[NsgSpec("nsg-bench", RG, [SecurityRuleSpec("allow-ssh", 100, "22", "*")])],
        public_ips=[PublicIpSpec("pip-bench", RG)],
        load_balancers=[LoadBalancerSpec(
            "lb-bench", RG, frontends=[FrontendSpec("fe", public_ip="pip-bench")], backend_pools=["bepool"],
            nat_pools=[] if flexible else [NatPoolSpec("natpool-ssh", "fe", 22, 50000, 51999)],
            nat_rules_v2=[NatRuleV2Spec("NatRule", "fe", "bepool", 22, 50000, 51999)] if flexible else [],
        )],
        scale_sets=[ScaleSetSpec(
            "vmss-bench", RG, capacity=instances, orchestration_mode=mode, vnet="vnet-bench", subnet="snet-bench",
            nsg="nsg-bench", load_balancer="lb-bench", backend_pool="bepool",
            nat_pools=[] if flexible else ["natpool-ssh"], overprovision=False,
        )],
    )


async def fleet_calls(sim: Simulator) -> list[tuple[str, int]]:
    """Requests of each Fleet call a console refresh of the scale set makes, in order."""
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id)
    counted: list[tuple[str, int]] = []
    async with await Fleet.open(settings) as fleet:
        scale_set = await fleet.get_scale_set(RG, "vmss-bench")

        async def measure(label: str, call: Callable[[], Awaitable[Any]]) -> None:
            before = sim.request_count
            await call()
            counted.append((label, sim.request_count - before))

        await measure("list_instances (the instances refresh)", lambda: fleet.list_instances(scale_set))
        await measure("list_instance_nics (after it)", lambda: fleet.list_instance_nics(scale_set))
        await measure("nat_mappings_for (reads NICs, LB, PIP, subnet, NSG)", lambda: fleet.nat_mappings_for(scale_set))
    return counted


def by_mode() -> None:
    print(f"one scale set, Uniform beside Flexible (simulator page size {AZURE_PAGE_SIZE})")
    for instances in (10, 1000):
        for mode in ("Uniform", "Flexible"):
            sim = Simulator(one_scale_set(mode, instances), ssh=False, page_size=AZURE_PAGE_SIZE).start_in_thread()
            try:
                title = f"{mode}, {instances} instances"
                for label, argv in [
                    ("get instances --scale-set -g", ["instances", "--scale-set", "vmss-bench", "-g", RG]),
                    ("get nat --scale-set -g", ["nat", "--scale-set", "vmss-bench", "-g", RG]),
                ]:
                    requests, rows, seconds = count(sim, *argv)
                    print(f"  {title:<24} {label:<50} {requests:>4} requests  {rows:>5} rows  {seconds:6.2f} s")
                for label, requests in asyncio.run(fleet_calls(sim)):
                    print(f"  {title:<24} {label:<50} {requests:>4} requests")
            finally:
                sim.stop_thread()


def main() -> None:
    sim = Simulator(default_topology(), ssh=False).start_in_thread()
    try:
        report("default topology", sim, [
            ("get instances (every scale set)", ["instances"]),
            ("get instances --scale-set vmss-web", ["instances", "--scale-set", "vmss-web"]),
            ("get instances --scale-set vmss-web -g rg-web-prod", ["instances", "--scale-set", "vmss-web", "-g", "rg-web-prod"]),
        ])
    finally:
        sim.stop_thread()
    sim = Simulator(large_topology(scale_sets=50, instances=1000), ssh=False).start_in_thread()
    try:
        report("large topology (50 scale sets, one with 1,000 instances)", sim, [
            ("get instances --scale-set vmss-big-000 -g rg-fleet-a", ["instances", "--scale-set", "vmss-big-000", "-g", "rg-fleet-a"]),
            ("get instances --scale-set vmss-big-000", ["instances", "--scale-set", "vmss-big-000"]),
            ("get instances (every scale set)", ["instances"]),
        ])
    finally:
        sim.stop_thread()
    by_mode()


if __name__ == "__main__":
    main()
