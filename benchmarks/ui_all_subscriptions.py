"""The console with --all-subscriptions against 200 simulated subscriptions: the scale-set list
through Azure Resource Graph beside one list call per subscription, as the console does both
(the second is its fallback where Resource Graph answers an error).

For each way, interleaved rounds of: launch the console (headless, Textual's test driver) ->
every scale set of every subscription on screen; the requests the listing took (the console's
own count, which the tests prove equals the simulator's), the listing's share after connecting,
and the console process's CPU from launch. The simulator runs as `vmss-tui sim` in a process of
its own, so the CPU is the console's alone.

Usage: python benchmarks/ui_all_subscriptions.py [--subscriptions 200] [--latency 0.05] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vmss_tui.azure.fleet import ConnectionSettings  # noqa: E402
from vmss_tui.config import Config, RefreshSettings  # noqa: E402
from vmss_tui.domain.models import SOURCE_ARM, SOURCE_RESOURCE_GRAPH  # noqa: E402
from vmss_tui.ui.app import VmssConsoleApp  # noqa: E402
from vmss_tui.ui.panes.scale_sets import ScaleSetsPane  # noqa: E402

WAYS = {SOURCE_RESOURCE_GRAPH: "Resource Graph (one paged query)", SOURCE_ARM: "one list call per subscription"}


def start_simulator(subscriptions: int, latency: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "vmss_tui", "sim", "--subscriptions", str(subscriptions), "--port", "0", "--no-ssh",
         "--latency", str(latency)], stdout=subprocess.PIPE, text=True, start_new_session=True)
    info: dict[str, Any] = {}
    assert process.stdout is not None
    for line in process.stdout:
        if match := re.search(r"listening on (http://\S+)", line):
            info["endpoint"] = match.group(1)
        elif match := re.search(r"^subscription: (\S+)", line):
            info["subscription"] = match.group(1)
        elif match := re.search(r"fleet: (\d+) scale sets", line):
            info["scale_sets"] = int(match.group(1))
        elif match := re.search(r"^token: (\S+)", line):
            info["token"] = match.group(1)
        elif "Ctrl-C stops it" in line:
            break
    return process, info


async def launch_to_full_list(sim: dict[str, Any], via: str) -> dict[str, Any]:
    settings = ConnectionSettings(arm_endpoint=sim["endpoint"], bearer_token=sim["token"],
                                  subscription_id=sim["subscription"])
    hourly = Config(refresh=RefreshSettings(instances=3600, scale_sets=3600, nat=3600))
    cpu, started = time.process_time(), time.perf_counter()
    app = VmssConsoleApp(settings, config=hourly, all_subscriptions=True)
    app.fleet_screen.pane(ScaleSetsPane).listing_via = via
    async with app.run_test(size=(200, 50)):
        table = app.fleet_screen.query_one("#vmss")
        # Polled every 2 ms (the store has no signal for "connected"): resolution enough for seconds.
        while app.poller.fleet is None:  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        connected = time.perf_counter() - started
        while not (app.store.listing is not None and table.row_count == sim["scale_sets"]):  # noqa: ASYNC110
            await asyncio.sleep(0.002)
        listing = app.store.listing
        return {"via": listing.source, "seconds": time.perf_counter() - started, "connected": connected,
                "requests": listing.requests, "cpu_seconds": time.process_time() - cpu,
                "scale_sets": len(listing.scale_sets), "subscriptions": len(listing.subscriptions)}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    process, sim = start_simulator(args.subscriptions, args.latency)
    try:
        await launch_to_full_list(sim, SOURCE_RESOURCE_GRAPH)  # warm-up: imports, the simulator's first answers
        runs = [await launch_to_full_list(sim, via) for _ in range(args.rounds) for via in WAYS]
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait()
    summary = {}
    for via in WAYS:
        mine = [r for r in runs if r["via"] == via]
        summary[via] = {
            "requests": statistics.median(r["requests"] for r in mine),
            "seconds": statistics.median(r["seconds"] for r in mine),
            "listing_seconds": statistics.median(r["seconds"] - r["connected"] for r in mine),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in mine),
        }
    return {"subscriptions": args.subscriptions, "scale_sets": sim["scale_sets"], "latency": args.latency,
            "rounds": args.rounds, "runs": runs, "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.0, help="simulated latency per request, seconds")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(measure(args))
    print(f"{result['subscriptions']} subscriptions, {result['scale_sets']} scale sets, "
          f"{args.latency * 1000:.0f} ms per request; median of {args.rounds} rounds, {os.cpu_count()} cores")
    print(f"  {'way':<34} {'requests':>8} {'launch->full list':>18} {'listing':>8} {'console CPU':>12}")
    for via, label in WAYS.items():
        s = result["summary"][via]
        print(f"  {label:<34} {s['requests']:>8.0f} {s['seconds']:>16.2f} s {s['listing_seconds']:>6.2f} s "
              f"{s['cpu_seconds']:>10.2f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
