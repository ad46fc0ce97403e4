"""How many ARM requests `vmss-tui get instances` sends, counted by the simulator.

Runs the real command (vmss_tui.cli.main) against a simulator on its own thread and reads the
simulator's request counter before and after, for the default topology and for a fleet with one
1,000-instance scale set (large_topology). Usage: python benchmarks/calls_get_instances.py
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmss_tui import cli  # noqa: E402
from vmss_tui.sim import Simulator, default_topology, large_topology  # noqa: E402


def count(sim: Simulator, *argv: str) -> tuple[int, int, float]:
    """(requests, rows printed, seconds) for one `get` run."""
    args = ["get", *argv, "-o", "json", "--arm-endpoint", sim.endpoint, "--subscription", sim.subscription_id]
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
        print(f"  {label:<58} {requests:>4} requests  {rows:>5} instances  {seconds:6.2f} s")


def main() -> None:
    sim = Simulator(default_topology(), ssh=False).start_in_thread()
    try:
        report("default topology (6 scale sets, 18 instances)", sim, [
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


if __name__ == "__main__":
    main()
