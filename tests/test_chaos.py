"""Chaos, the short version (benchmarks/chaos.py is the long one): the console driven through a few
hundred ARM requests with 429s, 500s, 503s, latency spikes, dropped connections, failed
operations and 403s mixed in, keys pressed all along. No crash, no unhandled exception, every
key answered, stale shown while refreshes fail and cleared once the faults stop.

And `--read-only` under the same faults: every key of every pane and screen pressed (each
followed by Tab and Enter, which would confirm a dialog had one opened), zero writes sent.
"""

from __future__ import annotations

from typing import Any

from tests.support.chaos import FlakyProxy, phases_for, post_keys, run_chaos
from tests.support.console import UI_SIM_SPEED, instance_table, scale_set_table, wait_until

CHAOS_SECONDS = 40.0  # the load, then 8 fault phases of 4 s
CHAOS_REQUESTS = 200


async def test_the_console_under_chaos(start_simulator: Any) -> None:
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    report = await run_chaos(sim, duration=CHAOS_SECONDS, min_requests=CHAOS_REQUESTS, phase_seconds=4.0)
    summary = report.summary()
    assert report.crashed is None, summary
    assert report.unhandled == 0, (report.error_records, report.loop_exceptions, report.worker_errors)
    assert report.at_exit == [], report.at_exit
    assert report.unanswered == [], (report.unanswered, summary)
    assert report.keys >= 50 and report.keys_answered == report.keys
    assert report.requests >= CHAOS_REQUESTS and report.faulted > 0 and report.dropped > 0, summary
    # every kind of fault was met (answered by the simulator, or reset by the proxy)
    assert {429, 500, 503, 403} <= set(report.statuses), summary
    assert len(set(report.phases)) == len(phases_for(sim)), report.phases
    assert report.actions_submitted > 0 and report.actions_failed > 0, summary
    assert report.stale_seen and report.stale_shown and report.stale_cleared, summary


async def test_read_only_sends_no_write_whatever_is_pressed_under_faults(start_simulator: Any) -> None:
    import random

    from vmss_tui.azure.fleet import ConnectionSettings
    from vmss_tui.config import Config
    from vmss_tui.ui.app import VmssConsoleApp
    from vmss_tui.ui.bindings import all_binding_ids

    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    proxy = FlakyProxy(sim.port, random.Random(3))
    await proxy.start()
    try:
        settings = ConnectionSettings(arm_endpoint=proxy.endpoint, bearer_token=sim.bearer_token,
                                      subscription_id=sim.subscription_id, read_only=True, polling_interval=0.05)
        app = VmssConsoleApp(settings, config=Config())
        keys = _every_bound_key()
        assert len(keys) >= 30 and {"r", "D", "I", "ctrl+d", "s", "t", "o", "u", "M"} <= keys
        assert all_binding_ids(VmssConsoleApp)  # the ids the keys come from
        async with app.run_test(size=(160, 45)) as pilot:
            await wait_until(pilot, lambda: app.store.loaded_once, "the scale sets", limit=90.0)
            sim.add_fault(r"networkInterfaces", 500, count=None)
            sim.add_fault(r"virtualMachines$", 503, count=5, retry_after=1)
            proxy.drop_rate = 0.1
            for table in (scale_set_table, instance_table):  # every other pane's keys are theirs too
                table(app).focus()
                for key in sorted(keys - {"ctrl+q", "ctrl+c"}):
                    # the key, then Tab and Enter (a confirmation, had a dialog opened), then back
                    await post_keys(app, (key, "tab", "enter", "escape", "escape"), gap=0.03)
                await pilot.pause()
                assert app.is_running
            await pilot.pause(0.5)
        assert sim.write_count == 0
        assert app.store.actions_submitted == 0
    finally:
        await proxy.stop()


def _every_bound_key() -> set[str]:
    """Every key (default keys, as Textual names them) bound in a pane, screen or the app."""
    from textual.screen import Screen
    from textual.widget import Widget

    from vmss_tui.ui import dialogs, help, prompt, ssh_pane
    from vmss_tui.ui.app import FleetScreen, VmssConsoleApp
    from vmss_tui.ui.details import DetailsScreen
    from vmss_tui.ui.panes import disks, instances, nat, scale_sets

    classes: list[type] = [VmssConsoleApp, FleetScreen, DetailsScreen]
    for module in (dialogs, help, prompt, ssh_pane, disks, instances, nat, scale_sets):
        classes += [c for c in vars(module).values()
                    if isinstance(c, type) and c.__module__ == module.__name__ and issubclass(c, Widget | Screen)]
    keys: set[str] = set()
    for cls in classes:
        for klass in cls.__mro__:
            for binding in vars(klass).get("BINDINGS", ()) or ():
                key = getattr(binding, "key", None) or (binding[0] if isinstance(binding, tuple) else None)
                if isinstance(key, str):
                    keys.update(k.strip() for k in key.split(","))
    return keys
