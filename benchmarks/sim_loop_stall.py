"""Event-loop stalls while the data layer lists a 1,000-instance scale set from the simulator.

    python benchmarks/sim_loop_stall.py [--instances 1000] [--rounds 5] [--latency 0] [--sim-process]

The simulator runs on its own thread (as under `--demo`); the Fleet runs on this loop next to a
probe that wakes every millisecond and records how late it wakes. The longest late wake-up is
the longest time a key press would wait while the console refreshes the instance table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmss_tui.azure.fleet import ConnectionSettings, Fleet  # noqa: E402
from vmss_tui.sim import Simulator, large_topology  # noqa: E402


async def probe(stalls: list[float], stop: asyncio.Event) -> None:
    tick = 0.001
    while not stop.is_set():
        before = time.perf_counter()
        await asyncio.sleep(tick)
        stalls.append(time.perf_counter() - before - tick)


async def measure(sim: Simulator, rounds: int) -> None:
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id,
                                  bearer_token=sim.bearer_token)
    async with await Fleet.open(settings) as fleet:
        big = await fleet.get_scale_set("rg-fleet-a", "vmss-big-000")
        await fleet.list_instances(big)  # warm up (imports, connection)
        worst: list[float] = []
        walls: list[float] = []
        for _ in range(rounds):
            stalls: list[float] = []
            stop = asyncio.Event()
            watcher = asyncio.create_task(probe(stalls, stop))
            await asyncio.sleep(0.01)
            started = time.perf_counter()
            instances = await fleet.list_instances(big)
            walls.append(time.perf_counter() - started)
            stop.set()
            await watcher
            worst.append(max(stalls))
        print(f"list_instances of {len(instances)} instances, {rounds} rounds: "
              f"wall p50 {1000 * statistics.median(walls):.0f} ms; "
              f"longest loop stall p50 {1000 * statistics.median(worst):.1f} ms, max {1000 * max(worst):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--sim-process", action="store_true",
                        help="run the simulator in another process (measures the data layer alone; "
                             "in a thread, as under --demo, the simulator's own CPU shares the GIL)")
    args = parser.parse_args()
    if args.sim_process:
        with simulator_process(args.instances, args.latency) as sim:
            asyncio.run(measure(sim, args.rounds))
        return
    sim = Simulator(large_topology(scale_sets=2, instances=args.instances), latency=args.latency,
                    ssh=False).start_in_thread()
    try:
        asyncio.run(measure(sim, args.rounds))
    finally:
        sim.stop_thread()


@contextlib.contextmanager
def simulator_process(instances: int, latency: float) -> Iterator[Any]:
    """`vmss-tui sim` in a child process; yields an object with .endpoint and .subscription_id."""
    argv = [sys.executable, "-m", "vmss_tui", "sim", "--no-ssh", "--scale-sets", "2", "--instances",
            str(instances), "--latency", str(latency)]
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        endpoint = subscription = None
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("vmss-tui simulator listening on "):
                endpoint = line.split()[-1]
            elif line.startswith("subscription: "):
                subscription = line.split()[-1]
            if endpoint and subscription:
                break
        if not (endpoint and subscription):
            raise SystemExit("the simulator process did not start")
        yield types.SimpleNamespace(endpoint=endpoint, subscription_id=subscription)
    finally:
        child.send_signal(signal.SIGINT)
        child.wait(10)


if __name__ == "__main__":
    main()
