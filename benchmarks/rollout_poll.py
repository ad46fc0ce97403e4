"""What one poll of the rollout view costs: ARM requests, client CPU and wall time, for a scale set
of 10, 100 and 1,000 instances.

A poll is `Fleet.rollout_poll` (rollingUpgrades/latest plus one paged instance list, sent together)
and `RolloutTracker.observe` on its result. The simulator runs on its own thread, so the CPU
figures (`time.thread_time` of the client's thread) are the console's share only. The rollout is
running while it is measured (a rolling upgrade in progress on a slow simulated clock).

Usage: python benchmarks/rollout_poll.py [--polls N] [--page-size N] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmss_tui.azure.fleet import ConnectionSettings, Fleet  # noqa: E402
from vmss_tui.domain.rollout import RolloutTracker  # noqa: E402
from vmss_tui.sim import (  # noqa: E402
    InstanceStateSpec,
    RollingPolicySpec,
    ScaleSetSpec,
    Simulator,
    SubnetSpec,
    Topology,
    VnetSpec,
)

SIZES = (10, 100, 1000)


def topology(instances: int) -> Topology:
    spec = ScaleSetSpec(
        "vmss-roll", "rg-roll", capacity=instances, upgrade_mode="Rolling", health_probe=True, vnet="v", subnet="s",
        image=("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "latest"),
        rolling_policy=RollingPolicySpec(max_batch_instance_percent=10, pause_time_between_batches="PT30S"),
        instance_states={i: InstanceStateSpec(latest_model=False, health="healthy") for i in range(instances)},
        overprovision=False,
    )
    return Topology(scale_sets=[spec], vnets=[VnetSpec("v", "rg-roll", "10.8.0.0/16", [SubnetSpec("s", "10.8.0.0/20")])])


async def measure(sim: Simulator, polls: int) -> dict[str, float]:
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id, polling_interval=0.5)
    async with await Fleet.open(settings) as fleet:
        scale_set = await fleet.get_scale_set("rg-roll", "vmss-roll")
        rollout = asyncio.create_task(fleet.start_rolling_upgrade(scale_set))
        tracker = RolloutTracker()
        for _ in range(100):  # warm up (imports, connection pool) until the rolling upgrade runs
            poll = await fleet.rollout_poll(scale_set)
            view = tracker.observe(time.time(), poll.status, poll.instances)
            if view.status is not None and view.status.is_running:
                break
        # The rollout goes on in the simulator; stop waiting for its operation, whose status polls
        # would otherwise be counted with the view's.
        rollout.cancel()
        await asyncio.gather(rollout, return_exceptions=True)
        requests: list[int] = []
        cpu_poll: list[float] = []
        cpu_observe: list[float] = []
        wall: list[float] = []
        running = 0
        for _ in range(polls):
            before = sim.request_count
            started_cpu, started_wall = time.thread_time(), time.perf_counter()
            poll = await fleet.rollout_poll(scale_set)
            polled_cpu = time.thread_time()
            wall.append(time.perf_counter() - started_wall)
            view = tracker.observe(time.time(), poll.status, poll.instances)
            cpu_observe.append(time.thread_time() - polled_cpu)
            cpu_poll.append(polled_cpu - started_cpu)
            requests.append(sim.request_count - before)
            running += bool(view.status and view.status.is_running)
        return {
            "instances": len(poll.instances),
            "requests_per_poll": statistics.mean(requests),
            "poll_cpu_ms_median": statistics.median(cpu_poll) * 1000,
            "poll_cpu_ms_max": max(cpu_poll) * 1000,
            "observe_cpu_ms_median": statistics.median(cpu_observe) * 1000,
            "poll_wall_ms_median": statistics.median(wall) * 1000,
            "polls_while_rolling": running,
            "polls": polls,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--page-size", type=int, default=None, help="simulator page size (default: its own)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    results = []
    for size in SIZES:
        kwargs = {"page_size": args.page_size} if args.page_size else {}
        # Slow simulated time: the rollout stays in flight while it is measured.
        sim = Simulator(topology(size), speed=0.5, ssh=False, **kwargs).start_in_thread()
        try:
            result = asyncio.run(measure(sim, args.polls))
            result["page_size"] = sim.page_size
        finally:
            sim.stop_thread()
        results.append(result)
    print(f"{'instances':>9}  {'page':>5}  {'requests/poll':>13}  {'poll CPU ms (median/max)':>24}  "
          f"{'observe CPU ms':>14}  {'poll wall ms':>12}  rolling")
    for r in results:
        print(f"{r['instances']:>9}  {r['page_size']:>5}  {r['requests_per_poll']:>13.1f}  "
              f"{r['poll_cpu_ms_median']:>13.1f} / {r['poll_cpu_ms_max']:<8.1f}  {r['observe_cpu_ms_median']:>14.2f}  "
              f"{r['poll_wall_ms_median']:>12.1f}  {r['polls_while_rolling']}/{r['polls']}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
