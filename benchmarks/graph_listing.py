"""Listing the scale sets of 200 subscriptions: Azure Resource Graph beside one list call per
subscription, against the simulator (requests it counted, and wall time to the full list).

- Resource Graph: `Fleet.list_scale_sets_everywhere()`: the subscription list, then one paged
  `resources` query carrying every subscription id.
- Per subscription: the subscription list, then `list_scale_sets()` on a sibling Fleet of each
  subscription, 8 at a time (the Fleet's default concurrency), as a console without Resource
  Graph would.

Also: the import cost of azure-mgmt-resourcegraph (loaded on the first query only), in a fresh
interpreter that has already imported azure.mgmt.compute.aio.

Usage: python benchmarks/graph_listing.py [--subscriptions N] [--latency SECONDS] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmss_tui.azure.fleet import ConnectionSettings, Fleet  # noqa: E402
from vmss_tui.sim import Simulator  # noqa: E402

CONCURRENCY = 8


async def through_graph(sim: Simulator) -> dict[str, float]:
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id)
    async with await Fleet.open(settings) as fleet:
        before, started = sim.request_count, time.perf_counter()
        listing = await fleet.list_scale_sets_everywhere()
        return {"requests": sim.request_count - before, "seconds": time.perf_counter() - started,
                "scale_sets": len(listing.scale_sets), "subscriptions": len(listing.subscription_ids),
                "graph_pages": listing.pages}


async def per_subscription(sim: Simulator) -> dict[str, float]:
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id)
    async with await Fleet.open(settings) as fleet:
        before, started = sim.request_count, time.perf_counter()
        subscriptions = [sub for sub, _ in await fleet.list_subscriptions()]
        limit = asyncio.Semaphore(CONCURRENCY)

        async def one(sub: str) -> int:
            async with limit:
                sibling = await fleet.with_subscription(sub)
                try:
                    return len(await sibling.list_scale_sets())
                finally:
                    await sibling.close()

        counts = await asyncio.gather(*(one(sub) for sub in subscriptions))
        return {"requests": sim.request_count - before, "seconds": time.perf_counter() - started,
                "scale_sets": sum(counts), "subscriptions": len(subscriptions)}


def import_cost() -> float:
    probe = ("import time, azure.mgmt.compute.aio; t = time.perf_counter(); "
             "import azure.mgmt.resourcegraph.aio, azure.mgmt.resourcegraph.models; "
             "print(time.perf_counter() - t)")
    runs = [float(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout)
            for _ in range(3)]
    return min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.0, help="simulated latency per request, seconds")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    sim = Simulator(subscriptions=args.subscriptions, latency=args.latency, ssh=False).start_in_thread()
    try:
        graph = asyncio.run(through_graph(sim))
        each = asyncio.run(per_subscription(sim))
    finally:
        sim.stop_thread()
    seconds = import_cost()
    print(f"{args.subscriptions} subscriptions, latency {args.latency * 1000:.0f} ms per request")
    print(f"  {'way':<34} {'requests':>8} {'seconds':>8} {'scale sets':>10}")
    print(f"  {'Resource Graph (one paged query)':<34} {graph['requests']:>8} {graph['seconds']:>8.2f} "
          f"{graph['scale_sets']:>10}   ({graph['graph_pages']} graph pages)")
    print(f"  {'one list call per subscription':<34} {each['requests']:>8} {each['seconds']:>8.2f} {each['scale_sets']:>10}")
    print(f"  azure-mgmt-resourcegraph import (after compute): {seconds * 1000:.0f} ms")
    if args.json:
        args.json.write_text(json.dumps({"graph": graph, "per_subscription": each, "import_seconds": seconds,
                                         "latency": args.latency}, indent=2) + "\n")


if __name__ == "__main__":
    main()
