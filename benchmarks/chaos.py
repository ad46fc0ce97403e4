"""Chaos: the console driven through at least 1,000 ARM requests with faults mixed in, keys pressed
all along.

    python benchmarks/chaos.py [--requests 1000] [--seconds 150] [--phase 6] [--no-storm] [--json]

The console is the real one (headless, Textual's Pilot), on an in-process simulator reached through
a TCP proxy that resets connections on demand (tests/support/chaos.py has the harness; the test
suite runs a short version in tests/test_chaos.py). Phases of a few seconds each, in a loop:
429s (and, unless --no-storm, a read cap that throttles every refresh for a while), 500s, 503s,
a 1.5 s latency spike, dropped connections, failed operations, 403s, and all of them mixed.
Every key step has a condition that says it was answered; its latency is measured from the last
key of the step until the effect shows.

Prints: ARM requests and how they were answered, connections reset, keys pressed and answered,
key latency (p50/p95/max), actions submitted and failed, crashes, unhandled exceptions (ERROR
log records, event-loop exception handler calls, workers ended in ERROR), whether the status
line showed the data as stale and how long it took to clear once the faults stopped, and the
machine's load average (2 shared cores: the figures move with it). Not run by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.support.chaos import run_chaos
    from vmss_tui.sim import Simulator

    sim = Simulator(speed=100, ssh=False)  # 100 simulated seconds a second: operations end quickly
    await sim.start()
    load_before = os.getloadavg()
    try:
        report = await run_chaos(sim, duration=args.seconds, min_requests=args.requests,
                                 phase_seconds=args.phase, storm=not args.no_storm,
                                 on_phase=None if args.json else lambda name: print(f"  phase: {name}", flush=True))
    finally:
        await sim.stop()
    summary = report.summary()
    summary["load_average"] = {"before": round(load_before[0], 2), "after": round(os.getloadavg()[0], 2)}
    summary["unanswered"] = report.unanswered
    summary["unhandled"] = [*report.error_records, *report.loop_exceptions, *report.worker_errors][:20]
    summary["crashed"] = report.crashed
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="at least this many ARM requests (1000)")
    parser.add_argument("--seconds", type=float, default=150.0, help="and at least this long (150 s)")
    parser.add_argument("--phase", type=float, default=6.0, help="seconds per fault phase (6)")
    parser.add_argument("--no-storm", action="store_true", help="429s on one kind of call only, no read cap")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()
    summary = asyncio.run(run(args))
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    latency = summary["key_latency_ms"]
    rows = [
        ("duration", f"{summary['duration_s']} s, {summary['phases']} fault phases"),
        ("ARM requests", f"{summary['arm_requests']} ({summary['faulted_answers']} answered with a fault)"),
        ("statuses", ", ".join(f"{k}: {v}" for k, v in summary["statuses"].items())),
        ("connections reset", str(summary["dropped_connections"])),
        ("keys", f"{summary['keys_pressed']} pressed, {summary['keys_answered']} answered"),
        ("key latency", f"p50 {latency['p50']} ms, p95 {latency['p95']} ms, max {latency['max']} ms"),
        ("actions", f"{summary['actions_submitted']} submitted, {summary['actions_failed']} failed as injected"),
        ("crashes", str(summary["crashes"]) + (f" ({summary['crashed']})" if summary["crashed"] else "")),
        ("unhandled exceptions", str(summary["unhandled_exceptions"])),
        ("stale", f"shown: {summary['stale_shown']}, cleared: {summary['stale_cleared']} "
                  f"({summary['recovery_s']} s after the faults stopped)"),
        ("load average", f"{summary['load_average']['before']} -> {summary['load_average']['after']} (2 cores)"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for what in summary["unanswered"]:
        print(f"unanswered: {what}")
    for what in summary["unhandled"]:
        print(f"unhandled: {what}")


if __name__ == "__main__":
    main()
