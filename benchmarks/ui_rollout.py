"""What the rollout view costs the console per poll: the ARM requests of one poll, and the time its
result takes on the event loop (tracker, lines, table diff, timeline), for 10, 100 and 1,000
instances while a rolling upgrade runs.

The console runs headless (Textual's test driver) against the simulator on its own thread, so the
CPU figures (`time.thread_time` of the console's thread) are the console's only; nothing else
polls (hour-long refresh intervals). Apply time is also the longest stall a poll causes: it runs
on the event loop in one piece.

Usage: python benchmarks/ui_rollout.py [--polls N] [--sizes 10,100,1000] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmss_tui.azure.fleet import ConnectionSettings  # noqa: E402
from vmss_tui.config import Config, RefreshSettings  # noqa: E402
from vmss_tui.sim import (  # noqa: E402
    InstanceStateSpec,
    RollingPolicySpec,
    ScaleSetSpec,
    Simulator,
    SubnetSpec,
    Topology,
    VnetSpec,
)
from vmss_tui.ui import rollout_view  # noqa: E402
from vmss_tui.ui.app import VmssConsoleApp  # noqa: E402

QUIET = Config(refresh=RefreshSettings(instances=3600, scale_sets=3600, nat=3600))


def topology(instances: int) -> Topology:
    spec = ScaleSetSpec(
        "vmss-roll", "rg-roll", capacity=instances, upgrade_mode="Rolling", health_probe=True, vnet="v", subnet="s",
        rolling_policy=RollingPolicySpec(max_batch_instance_percent=10, pause_time_between_batches="PT5S"),
        instance_states={i: InstanceStateSpec(latest_model=False, health="healthy") for i in range(instances)},
        overprovision=False,
    )
    return Topology(scale_sets=[spec], vnets=[VnetSpec("v", "rg-roll", "10.8.0.0/16", [SubnetSpec("s", "10.8.0.0/20")])])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(sim: Simulator, polls: int) -> dict[str, Any]:
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, bearer_token=sim.bearer_token,
                                  subscription_id=sim.subscription_id, polling_interval=0.5)
    app = VmssConsoleApp(settings, config=QUIET, heartbeat=3600)
    applied: list[tuple[float, float]] = []  # (cpu, wall) of each poll's result on the event loop
    requests: list[int] = []
    async with app.run_test(size=(200, 50)) as pilot:
        while not app.store.loaded_once or app.fleet is None:
            await pilot.pause(0.05)
        scale_set = next(iter(app.store.entries.values())).scale_set
        # The rollout goes on in the simulator; its operation is not waited for (its polls would be
        # counted with the view's).
        starting = asyncio.ensure_future(app.fleet.start_rolling_upgrade(scale_set))
        rollout_view.open_rollout_view(app.fleet_screen, scale_set)
        while not app.query(rollout_view.RolloutView):
            await pilot.pause(0.05)
        view = app.query_one(rollout_view.RolloutView)
        track = app.poller.track(view.track_name)
        original = track.apply

        def timed(poll: Any) -> None:
            cpu, wall = time.thread_time(), time.perf_counter()
            original(poll)
            applied.append((time.thread_time() - cpu, time.perf_counter() - wall))

        track.apply = timed
        while view.tracker.view.status is None or not view.tracker.view.status.is_running:
            view.poll_soon()
            await pilot.pause(0.2)
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        applied.clear()
        for _ in range(polls):
            seen, before = view.polls, sim.request_count
            view.poll_soon()
            while view.polls == seen:
                await pilot.pause(0.01)
            requests.append(sim.request_count - before)
        running = view.tracker.view.status is not None and view.tracker.view.status.is_running
    cpu = [c * 1000 for c, _ in applied]
    wall = [w * 1000 for _, w in applied]
    return {
        "requests_per_poll": statistics.median(requests),
        "apply_cpu_ms_median": round(statistics.median(cpu), 2),
        "apply_cpu_ms_p95": round(percentile(cpu, 0.95), 2),
        "apply_wall_ms_max": round(max(wall), 2),
        "polls": len(applied),
        "rollout_running_at_end": running,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    for size in (int(s) for s in args.sizes.split(",")):
        sim = Simulator(topology=topology(size), speed=0.2, ssh=False, seed=1).start_in_thread()
        try:
            results[size] = asyncio.run(measure(sim, args.polls))
        finally:
            sim.stop_thread()
        row = results[size]
        print(f"{size:>5} instances: {row['requests_per_poll']:g} ARM requests per poll · apply on the event loop "
              f"{row['apply_cpu_ms_median']} ms median, {row['apply_cpu_ms_p95']} ms p95 CPU, "
              f"longest {row['apply_wall_ms_max']} ms · {row['polls']} polls", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
