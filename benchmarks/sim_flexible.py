"""Simulator benchmark: what listing costs, Uniform beside Flexible, and one subscription at a time
beside Resource Graph, through the real async SDK.

    python benchmarks/sim_flexible.py [--instances 10 1000] [--subscriptions 200]

Prints, for each instance count: the calls and wall time to list a Uniform scale set's instances
with their instance view (one paged call, pages of 100), a Flexible scale set's VMs (one paged
VM list with $filter + $expand, pages of 50) and its resource group's NICs; then the calls and
time to list every scale set of N subscriptions one `list_all` per subscription, and through one
paged Resource Graph query.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from azure.mgmt.resourcegraph.aio import ResourceGraphClient  # noqa: E402
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions  # noqa: E402

from tests.support.sim_sdk import FixedTokenCredential, client_kwargs, sdk_clients  # noqa: E402
from vmss_tui.sim import Simulator, large_topology  # noqa: E402

RG = "rg-fleet-a"


async def listing(instances: int) -> None:
    for flexible in (False, True):
        sim = Simulator(large_topology(scale_sets=2, instances=instances, flexible=flexible), speed=100, ssh=False)
        await sim.start()
        try:
            async with sdk_clients(sim) as (compute, network):
                scale_set = sim.world.get_scale_set(RG, "vmss-big-000")
                before, started = sim.request_count, time.perf_counter()
                if flexible:
                    vms = [vm async for vm in compute.virtual_machines.list(
                        RG, filter=f"'virtualMachineScaleSet/id' eq '{scale_set.id}'", expand="instanceView")]
                    listed = time.perf_counter()
                    vm_calls = sim.request_count - before
                    nics = [n async for n in network.network_interfaces.list(RG)]
                    nic_calls = sim.request_count - before - vm_calls
                    done = time.perf_counter()
                    print(f"Flexible {instances:>5} VMs: VM list {vm_calls} calls {1000 * (listed - started):.0f} ms, "
                          f"NIC list ({len(nics)} NICs) {nic_calls} calls {1000 * (done - listed):.0f} ms; "
                          f"no per-VM call")
                    assert len(vms) == instances
                else:
                    vms = [vm async for vm in compute.virtual_machine_scale_set_vms.list(RG, "vmss-big-000",
                                                                                           expand="instanceView")]
                    done = time.perf_counter()
                    print(f"Uniform  {instances:>5} instances: instance list {sim.request_count - before} calls "
                          f"{1000 * (done - started):.0f} ms")
                    assert len(vms) == instances
        finally:
            await sim.stop()


async def subscriptions(count: int) -> None:
    built = time.perf_counter()
    sim = Simulator(subscriptions=count, speed=100, ssh=False)
    await sim.start()
    print(f"{count} subscriptions built and started in {1000 * (time.perf_counter() - built):.0f} ms")
    try:
        before, started = sim.request_count, time.perf_counter()
        total = 0
        for subscription in sim.subscription_ids:
            async with sdk_clients(sim, subscription_id=subscription) as (compute, _):
                total += len([s async for s in compute.virtual_machine_scale_sets.list_all()])
        print(f"per subscription: {total} scale sets, {sim.request_count - before} calls, "
              f"{1000 * (time.perf_counter() - started):.0f} ms")
        client = ResourceGraphClient(FixedTokenCredential(sim.bearer_token), **client_kwargs(sim.endpoint, sim.bearer_token))
        try:
            before, started = sim.request_count, time.perf_counter()
            rows, token = [], None
            while True:
                result = await client.resources(QueryRequest(
                    subscriptions=sim.subscription_ids,
                    query="Resources | where type =~ 'microsoft.compute/virtualmachinescalesets'",
                    options=QueryRequestOptions(top=1000, skip_token=token)))
                rows += result.data
                token = result.skip_token
                if not token:
                    break
            print(f"Resource Graph: {len(rows)} scale sets, {sim.request_count - before} calls, "
                  f"{1000 * (time.perf_counter() - started):.0f} ms")
        finally:
            await client.close()
    finally:
        await sim.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--subscriptions", type=int, default=200)
    args = parser.parse_args()

    async def run() -> None:
        for count in args.instances:
            await listing(count)
        await subscriptions(args.subscriptions)

    asyncio.run(run())


if __name__ == "__main__":
    main()
