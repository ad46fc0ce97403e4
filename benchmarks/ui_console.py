"""Console benchmarks: 50 scale sets, one with 1,000 instances, at simulator latency 0 and 0.1 s.

    python benchmarks/ui_console.py [--latency 0 0.1] [--presses 200]

Prints, per latency:
  cold start       process start -> first frame, -> full 1,000-row instance table (a fresh
                   `python` process running the console headless; includes interpreter start-up)
  SDK at 1st frame whether azure.mgmt.* was already imported when the first frame was painted
  key press CPU    CPU seconds of this process per `j` press moving down the instance table
                   (time.process_time around Pilot.press; p50/p95), and the worst event-loop
                   lag a 5 ms heartbeat saw meanwhile
  5% refresh       a live refresh after 50 of the 1,000 instances changed power state:
                   CPU of the whole refresh (SDK paging + parsing + diff + cells) and of the UI part
                   alone (rows + diff + update_cell), cells updated, rebuilds (should be 0)
  peak RSS         ru_maxrss of the console process (the simulator runs in another process)

The simulator runs as `python -m vmss_tui sim` in a child process so its CPU and memory are not
counted. Not run by the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCALE_SETS, INSTANCES = 50, 1000


def start_simulator(latency: float) -> tuple[subprocess.Popen[bytes], str, str, str]:
    """`vmss-tui sim` in a child process; its output goes to a file nobody has to drain."""
    log = tempfile.NamedTemporaryFile(prefix="vmss-sim-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "vmss_tui", "sim", "--scale-sets", str(SCALE_SETS), "--instances", str(INSTANCES),
         "--latency", str(latency), "--no-ssh", "--speed", "100"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = Path(log.name).read_text(errors="replace")
        endpoint = re.search(r"listening on (http://\S+)", text)
        subscription = re.search(r"subscription: (\S+)", text)
        token = re.search(r"token: (\S+)", text)
        if endpoint and subscription and token:
            return proc, endpoint.group(1), subscription.group(1), token.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the simulator did not start:\n{Path(log.name).read_text(errors='replace')[-2000:]}")


# ------------------------------------------------------------------ cold start (child process)

CHILD = r"""
import json, sys, time
marks = {}
from vmss_tui.azure.fleet import ConnectionSettings
from vmss_tui.config import Config, RefreshSettings
from vmss_tui.ui.app import VmssConsoleApp
marks["imported"] = time.time()

class Measured(VmssConsoleApp):
    def on_ready(self) -> None:
        marks["first_frame"] = time.time()
        marks["sdk_loaded_at_first_frame"] = any(m.startswith("azure.mgmt") for m in sys.modules)
        self.set_interval(0.01, self._check)

    def _check(self) -> None:
        entry = self.store.selected()
        if entry is not None and entry.instances and len(entry.instances) >= %(instances)d \
                and self.fleet_screen.query_one("#instances").row_count >= %(instances)d \
                and "full_table" not in marks:
            marks["full_table"] = time.time()
            self.exit()

settings = ConnectionSettings(arm_endpoint=%(endpoint)r, subscription_id=%(subscription)r, polling_interval=0.05,
                              bearer_token=%(token)r)
app = Measured(settings, config=Config(refresh=RefreshSettings(instances=3600, scale_sets=3600, nat=3600)))
app.run(headless=True, size=(200, 50))
print(json.dumps(marks))
"""


def cold_start(endpoint: str, subscription: str, token: str) -> dict[str, Any]:
    code = CHILD % {"endpoint": endpoint, "subscription": subscription, "instances": INSTANCES, "token": token}
    start = time.time()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180)
    try:
        marks = json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise SystemExit(f"the console child failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}") from None
    return {
        "import_s": marks["imported"] - start,
        "first_frame_s": marks["first_frame"] - start,
        "full_table_s": marks.get("full_table", float("nan")) - start,
        "sdk_loaded_at_first_frame": marks["sdk_loaded_at_first_frame"],
    }


# ------------------------------------------------------------------ in-process measurements

async def poll(predicate: Any, interval: float = 0.05, limit: float = 120.0) -> None:
    for _ in range(int(limit / interval)):
        if predicate():
            return
        await asyncio.sleep(interval)
    raise SystemExit("timed out")


async def in_process(endpoint: str, subscription: str, token: str, presses: int) -> dict[str, Any]:
    from vmss_tui.azure.fleet import ConnectionSettings, Fleet
    from vmss_tui.config import Config, RefreshSettings
    from vmss_tui.ui.app import VmssConsoleApp
    from vmss_tui.ui.panes.cells import RowData
    from vmss_tui.ui.panes.instances import instance_cells

    settings = ConnectionSettings(arm_endpoint=endpoint, subscription_id=subscription, polling_interval=0.05,
                                  bearer_token=token)
    quiet = Config(refresh=RefreshSettings(instances=3600, scale_sets=3600, nat=3600))
    app = VmssConsoleApp(settings, config=quiet)
    result: dict[str, Any] = {}
    async with app.run_test(size=(200, 50)) as pilot:
        table = app.fleet_screen.query_one("#instances")
        await poll(lambda: bool(app.store.selected() and app.store.selected().instances
                                and len(app.store.selected().instances) >= INSTANCES
                                and table.row_count >= INSTANCES
                                and not any(t.in_flight for t in app.poller.plan.tracks.values())))
        await asyncio.sleep(1.0)  # whatever follows the first load (counts, NSG marks) settles
        await poll(lambda: not any(t.in_flight for t in app.poller.plan.tracks.values()))
        table.focus()
        await pilot.pause()

        # key presses: CPU per press, and the event loop's worst lag meanwhile
        lags: list[float] = []
        stop = False

        async def heartbeat() -> None:
            period = 0.005
            while not stop:
                before = time.perf_counter()
                await asyncio.sleep(period)
                lags.append(time.perf_counter() - before - period)

        import gc

        gc_pauses: list[float] = []
        gc_started: list[float] = []

        def gc_callback(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_started.append(time.perf_counter())
            elif gc_started:
                gc_pauses.append(time.perf_counter() - gc_started.pop())

        gc.callbacks.append(gc_callback)
        beat = asyncio.create_task(heartbeat())
        cpu: list[float] = []
        for _ in range(presses):
            start = time.process_time()
            await pilot.press("j")
            cpu.append(time.process_time() - start)
        stop = True
        await beat
        gc.callbacks.remove(gc_callback)
        result["gc_max_ms"] = 1000 * max(gc_pauses, default=0.0)
        cpu.sort()
        result["press_cpu_p50_ms"] = 1000 * statistics.median(cpu)
        result["press_cpu_p95_ms"] = 1000 * cpu[int(0.95 * (len(cpu) - 1))]
        lags.sort()
        result["loop_lag_max_ms"] = 1000 * lags[-1]
        result["loop_lag_p99_ms"] = 1000 * lags[int(0.99 * (len(lags) - 1))]
        result["cursor_row"] = table.cursor_row

        # 5% of the rows change: power off 50 instances (another client does it), then refresh
        view = app.store.selected()
        assert view is not None and view.instances is not None
        ids = [i.instance_id for i in view.instances if i.is_running][: INSTANCES // 20]
        async with await Fleet.open(settings) as other:
            outcome = await other.run_instance_action(view.scale_set, "power_off", ids)
            assert outcome.status == "Succeeded", outcome
        rebuilds, updates = table.rebuilds, table.cell_updates
        track = app.poller.plan["instances"]
        last = track.last_ok
        lags.clear()
        stop = False
        beat = asyncio.create_task(heartbeat())
        start = time.process_time()
        wall = time.perf_counter()
        app.fleet_screen.request_refresh("instances")
        await poll(lambda: track.last_ok != last, interval=0.001)
        stop = True
        await beat
        result["refresh_loop_lag_max_ms"] = 1000 * max(lags)
        result["refresh_cpu_ms"] = 1000 * (time.process_time() - start)
        result["refresh_wall_ms"] = 1000 * (time.perf_counter() - wall)
        result["refresh_cells_updated"] = table.cell_updates - updates
        result["refresh_rebuilds"] = table.rebuilds - rebuilds
        stopped = sum(1 for i in (app.store.selected().instances or []) if i.power_state == "stopped")
        result["rows_now_stopped"] = stopped

        # the UI part alone: rows for 1,000 instances + diff + update_cell, for a 5% change
        instances = list(app.store.selected().instances or [])
        flipped = [
            (i if n % 20 else type(i)(**{**{f: getattr(i, f) for f in i.__slots__}, "power_state": "starting"}))
            for n, i in enumerate(instances)
        ]
        start = time.process_time()
        rows = [RowData.of(i.id, instance_cells(i, marked=False, private_ip=view.private_ips.get(i.instance_id),
                                                resolution=view.nat)) for i in flipped]
        table.set_rows(rows)
        result["ui_diff_cpu_ms"] = 1000 * (time.process_time() - start)
        await pilot.pause()
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, nargs="+", default=[0.0, 0.1])
    parser.add_argument("--presses", type=int, default=200)
    args = parser.parse_args()
    print(f"fleet: {SCALE_SETS} scale sets, one with {INSTANCES} instances; python {sys.version.split()[0]}; "
          f"{os.cpu_count()} CPUs")
    for latency in args.latency:
        proc, endpoint, subscription, token = start_simulator(latency)
        try:
            cold = cold_start(endpoint, subscription, token)
            warm = asyncio.run(in_process(endpoint, subscription, token, args.presses))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        print(f"\nsimulator latency {latency * 1000:.0f} ms per request")
        print(f"  cold start: import {cold['import_s']:.2f} s, first frame {cold['first_frame_s']:.2f} s, "
              f"full instance table {cold['full_table_s']:.2f} s "
              f"(SDK loaded at first frame: {'yes' if cold['sdk_loaded_at_first_frame'] else 'no'})")
        print(f"  key press (j through {INSTANCES} rows, {args.presses} presses): CPU p50 "
              f"{warm['press_cpu_p50_ms']:.1f} ms, p95 {warm['press_cpu_p95_ms']:.1f} ms; "
              f"event-loop lag p99 {warm['loop_lag_p99_ms']:.1f} ms, worst {warm['loop_lag_max_ms']:.1f} ms "
              f"(longest garbage collection {warm['gc_max_ms']:.0f} ms)")
        print(f"  live refresh, 5% of rows changed: CPU {warm['refresh_cpu_ms']:.0f} ms "
              f"(wall {warm['refresh_wall_ms']:.0f} ms), {warm['refresh_cells_updated']} cells updated, "
              f"{warm['refresh_rebuilds']} rebuilds; UI part alone {warm['ui_diff_cpu_ms']:.1f} ms; "
              f"longest event-loop stall meanwhile {warm['refresh_loop_lag_max_ms']:.0f} ms")
        print(f"  peak RSS of the console process: {warm['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
