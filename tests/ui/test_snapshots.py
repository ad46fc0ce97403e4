"""Snapshot tests (pytest-textual-snapshot) of each pane on the simulator's default topology.

Deterministic by construction: the simulator's clock is manual (no state changes), its public
IPs use a fixed prefix, its generated ids come from a seeded generator, the app's clock is frozen
(so "refreshed 12:00:00 (0s ago)" never moves) and the throttling headroom, which depends on how
many requests happened to be counted last, is pinned after the load. Refresh intervals are an
hour, so nothing changes while a picture is taken. Update with `pytest --snapshot-update`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from vmss_tui.azure.fleet import ConnectionSettings
from vmss_tui.config import Config, RefreshSettings
from vmss_tui.domain.models import Throttling
from vmss_tui.ui.app import VmssConsoleApp

FROZEN_EPOCH = 1767268800.0  # 2026-01-01 12:00:00 UTC
QUIET = Config(refresh=RefreshSettings(instances=3600, scale_sets=3600, nat=3600))
PINNED_THROTTLING = Throttling(
    remaining_subscription_reads=11990,
    remaining_resource=(("Microsoft.Compute/HighCostGetVMScaleSet3Min", 171),),
)


@pytest.fixture(scope="module")
def frozen_simulator() -> Iterator[Any]:
    """One simulator for every picture: manual clock, fixed IP prefix, seeded ids."""
    from vmss_tui.sim import ManualClock, Simulator

    sim = Simulator(clock=ManualClock(), ip_prefix=(77, 1), ssh=False, seed=20260101).start_in_thread()
    yield sim
    sim.stop_thread()


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def console(sim: Any, *, read_only: bool = False) -> VmssConsoleApp:
    settings = ConnectionSettings(
        arm_endpoint=sim.endpoint, bearer_token=sim.bearer_token, subscription_id=sim.subscription_id,
                                  read_only=read_only, polling_interval=0.05)
    return VmssConsoleApp(settings, config=QUIET, clock=lambda: FROZEN_EPOCH, heartbeat=3600)


async def settle(pilot: Any, *, scale_set: str | None = None, instance: str | None = None,
                 view: str | None = None) -> None:
    """Wait for the load (and the chosen scale set / instance / view), then pin what varies."""
    app: VmssConsoleApp = pilot.app

    async def until(predicate: Any, what: str) -> None:
        for _ in range(500):
            if predicate():
                return
            await pilot.pause(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def idle() -> bool:
        return not any(t.in_flight for t in app.poller.plan.tracks.values())

    await until(lambda: app.store.loaded_once and idle(), "the first load")
    if scale_set is not None:
        key = next(k for k, v in app.store.entries.items() if v.scale_set.name == scale_set)
        app.fleet_screen.jump_to_scale_set(key)
    if view is not None:
        app.fleet_screen.show_view(view)
    showing_instances = any(app.fleet_screen.pane_visible(v) for v in ("inst", "nat", "disk"))
    showing_nat = any(app.fleet_screen.pane_visible(v) for v in ("inst", "nat"))
    await until(lambda: idle() and (not showing_instances or (
        app.store.selected() is not None
        and app.store.selected().instances is not None  # type: ignore[union-attr]
        and (app.store.selected().nat is not None or not showing_nat))),  # type: ignore[union-attr]
        "the selected scale set")
    if app.fleet_screen.pane_visible("vmss"):
        await until(lambda: idle() and all(v.counts is not None for v in app.store.entries.values()), "the counts")
    if instance is not None:
        selected = app.store.selected()
        assert selected is not None and selected.instances is not None
        key = next(i.id for i in selected.instances if i.instance_id == instance)
        app.query_one("#instances").move_to_key(key)
    await pilot.pause()
    assert app.fleet is not None
    app.fleet.throttling = PINNED_THROTTLING
    app.fleet_screen.render_status()
    await pilot.pause()


def test_main_view_wide(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, scale_set="vmss-web", instance="4", view="inst")

    assert snap_compare(console(frozen_simulator), terminal_size=(200, 50), run_before=run_before)


def test_scale_sets_compact(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, view="vmss")

    assert snap_compare(console(frozen_simulator), terminal_size=(80, 24), run_before=run_before)


def test_instances_compact(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, scale_set="vmss-web", view="inst")

    assert snap_compare(console(frozen_simulator), terminal_size=(80, 24), run_before=run_before)


def test_nat_panel(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, scale_set="vmss-web", view="nat")

    assert snap_compare(console(frozen_simulator), terminal_size=(100, 30), run_before=run_before)


def test_nat_panel_internal_load_balancer(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, scale_set="vmss-internal", view="nat")

    assert snap_compare(console(frozen_simulator), terminal_size=(100, 30), run_before=run_before)


def test_disk_panel(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, scale_set="vmss-data", instance="0", view="disk")

    assert snap_compare(console(frozen_simulator), terminal_size=(100, 30), run_before=run_before)


def test_action_dialog(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, scale_set="vmss-web", instance="2", view="inst")
        await pilot.press("space", "j", "space", "r")

    assert snap_compare(console(frozen_simulator), terminal_size=(120, 40), run_before=run_before)


def test_help(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, scale_set="vmss-web", view="inst")
        await pilot.press("question_mark")

    assert snap_compare(console(frozen_simulator), terminal_size=(120, 40), run_before=run_before)


def test_describe_instance(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, scale_set="vmss-web", instance="4", view="inst")
        await pilot.press("d")

    assert snap_compare(console(frozen_simulator), terminal_size=(100, 30), run_before=run_before)


def test_read_only_footer_offers_no_action(snap_compare, frozen_simulator):
    async def run_before(pilot: Any) -> None:
        await settle(pilot, scale_set="vmss-web", view="inst")

    assert snap_compare(console(frozen_simulator, read_only=True), terminal_size=(120, 30),
                        run_before=run_before)
