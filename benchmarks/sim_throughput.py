"""Simulator benchmark: start-up and request cost on a large fleet, through the real async SDK.

    python benchmarks/sim_throughput.py [--scale-sets 50] [--instances 1000] [--latency 0]

Prints: fleet build + start time, SSH listener start time, one paged instance list of the big
scale set (calls and wall time), a list of all scale sets, and sustained GET throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.sim_sdk import sdk_clients  # noqa: E402
from vmss_tui.sim import Simulator, large_topology  # noqa: E402


async def run(scale_sets: int, instances: int, latency: float, ssh: bool) -> None:
    started = time.perf_counter()
    sim = Simulator(large_topology(scale_sets, instances), speed=50, latency=latency, ssh=ssh)
    built = time.perf_counter()
    await sim.start()
    ready = time.perf_counter()
    print(f"fleet of {scale_sets} scale sets / {instances} instances: built {1000 * (built - started):.0f} ms, "
          f"started {1000 * (ready - built):.0f} ms"
          + (f" ({len(sim.ssh.listening_addresses())} SSH listeners)" if sim.ssh else ""))
    try:
        async with sdk_clients(sim) as (compute, network):
            before, t0 = sim.request_count, time.perf_counter()
            vms = [vm async for vm in compute.virtual_machine_scale_set_vms.list("rg-fleet-a", "vmss-big-000",
                                                                                   expand="instanceView")]
            t1 = time.perf_counter()
            print(f"list {len(vms)} instances with instanceView: {sim.request_count - before} calls, {1000 * (t1 - t0):.0f} ms")
            before, t0 = sim.request_count, time.perf_counter()
            all_sets = [s async for s in compute.virtual_machine_scale_sets.list_all()]
            t1 = time.perf_counter()
            print(f"list_all {len(all_sets)} scale sets: {sim.request_count - before} calls, {1000 * (t1 - t0):.0f} ms")
            t0 = time.perf_counter()
            lb = await network.load_balancers.get("rg-fleet-a", "lb-fleet")
            t1 = time.perf_counter()
            print(f"GET load balancer with {len(lb.properties.inbound_nat_rules)} NAT rules: {1000 * (t1 - t0):.0f} ms")
            n, t0 = 300, time.perf_counter()
            await asyncio.gather(*(compute.virtual_machine_scale_sets.get("rg-fleet-a", "vmss-big-000") for _ in range(n)))
            t1 = time.perf_counter()
            print(f"{n} concurrent scale-set GETs: {n / (t1 - t0):.0f} requests/s")
            t0 = time.perf_counter()
            poller = await compute.virtual_machine_scale_sets.begin_restart("rg-fleet-a", "vmss-big-000")
            await poller.result()
            t1 = time.perf_counter()
            print(f"restart all {instances} instances (speed x50): {1000 * (t1 - t0):.0f} ms")
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale-sets", type=int, default=50)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--ssh", action="store_true", help="also start the SSH listeners")
    args = parser.parse_args()
    asyncio.run(run(args.scale_sets, args.instances, args.latency, args.ssh))


if __name__ == "__main__":
    main()
