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
    await guest_read_done(pilot)
    assert app.fleet is not None
    app.fleet.throttling = PINNED_THROTTLING
    app.fleet_screen.render_status()
    await pilot.pause()


async def guest_read_done(pilot: Any) -> None:
    """The disk pane reads the guest of the instance the cursor rests on: let that read end, so the
    picture never depends on how fast this machine is."""
    from vmss_tui.ui.panes.disks import CURSOR_SETTLE, DisksPane

    app: VmssConsoleApp = pilot.app
    await pilot.pause(CURSOR_SETTLE + 0.1)
    guest = app.fleet_screen.pane(DisksPane).guest
    for _ in range(500):
        if not guest.reading and not any(t.in_flight for t in app.poller.plan.tracks.values()):
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError("timed out waiting for the guest read")
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
        await pilot.press("space", "j", "space")
        await guest_read_done(pilot)
        await pilot.press("r")

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


# ---------------------------------------------------------------------- the disk pane with guests


@pytest.fixture(scope="module")
def frozen_demo_simulator() -> Iterator[Any]:
    """The demo fleet (vmss-disks behind an SSH NAT pool) with its SSH servers: the guests' disks."""
    from vmss_tui.sim import ManualClock, Simulator, demo_topology

    sim = Simulator(topology=demo_topology(), clock=ManualClock(), ip_prefix=(77, 2), ssh=True,
                    seed=20260102).start_in_thread()
    yield sim
    sim.stop_thread()


def guest_console(sim: Any, known_hosts: Any) -> VmssConsoleApp:
    from vmss_tui.config import SshSettings as SshConfig

    settings = ConnectionSettings(arm_endpoint=sim.endpoint, bearer_token=sim.bearer_token,
                                  subscription_id=sim.subscription_id, polling_interval=0.05)
    config = Config(refresh=QUIET.refresh, ssh=SshConfig(extra={"known_hosts": str(known_hosts), "use_agent": False}))
    return VmssConsoleApp(settings, config=config, clock=lambda: FROZEN_EPOCH, heartbeat=3600,
                          ssh_identity_file=str(sim.ssh_client_key_path))


async def trusted_guests(pilot: Any, sim: Any, known_hosts: Any, instance: str = "0") -> None:
    """vmss-disks on the disk view, every instance's host key saved, the cursor instance's guest read."""
    import asyncssh

    from vmss_tui.ssh.known_hosts import KnownHosts

    for target in sim.ssh_targets():
        if target["scale_set"] == "vmss-disks":
            key = await asyncssh.get_server_host_key(target["host"], target["port"])
            KnownHosts(known_hosts).add(target["host"], target["port"], key)
    await settle(pilot, scale_set="vmss-disks", instance=instance, view="disk")
    app: VmssConsoleApp = pilot.app
    await pilot.press("R")
    for _ in range(3000):  # 60 s: a wait costs time only when it fails
        table = app.query_one("#instance-disks")
        if "lun1" in table.visible_keys and table.get_cell("lun1", "state").plain not in ("…", "not read") \
                and not any(t.in_flight for t in app.poller.plan.tracks.values()):
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError("the guest of vmss-disks was not read")
    app.query_one("#instance-disks").move_to_key("lun1")
    await pilot.pause()
    pin_throttling(app)
    await pilot.pause()


def pin_throttling(app: VmssConsoleApp) -> None:
    assert app.fleet is not None
    app.fleet.throttling = PINNED_THROTTLING
    app.fleet_screen.render_status()


def test_disk_panel_joined_with_the_guest(snap_compare, frozen_demo_simulator, tmp_path):
    async def run_before(pilot: Any) -> None:
        await trusted_guests(pilot, frozen_demo_simulator, tmp_path / "known_hosts")

    assert snap_compare(guest_console(frozen_demo_simulator, tmp_path / "known_hosts"), terminal_size=(100, 30),
                        run_before=run_before)


def test_disk_prepare_dialog(snap_compare, frozen_demo_simulator, tmp_path):
    async def run_before(pilot: Any) -> None:
        await trusted_guests(pilot, frozen_demo_simulator, tmp_path / "known_hosts", instance="2")
        await pilot.press("P")
        await pilot.pause()
        pin_throttling(pilot.app)
        await pilot.pause()

    assert snap_compare(guest_console(frozen_demo_simulator, tmp_path / "known_hosts"), terminal_size=(80, 24),
                        run_before=run_before)


def test_disk_survey_tab(snap_compare, frozen_demo_simulator, tmp_path):
    async def run_before(pilot: Any) -> None:
        await trusted_guests(pilot, frozen_demo_simulator, tmp_path / "known_hosts")
        app: VmssConsoleApp = pilot.app
        await pilot.press("v")
        for _ in range(3000):  # 60 s: a wait costs time only when it fails
            view = app.query("GuestDisksView")
            if view and view.first().table.row_count == 3 and not any(
                    t.in_flight for t in app.poller.plan.tracks.values()) and all(
                    view.first().table.get_cell(i, "guest").plain not in ("not read", "reading…")
                    for i in ("0", "1", "2")) \
                    and view.first().disks_table.row_count:
                break
            await pilot.pause(0.02)
        else:
            raise AssertionError("the survey tab did not read every instance")
        pin_throttling(app)
        await pilot.pause()

    assert snap_compare(guest_console(frozen_demo_simulator, tmp_path / "known_hosts"), terminal_size=(120, 30),
                        run_before=run_before)


# ---------------------------------------------------------------------- the rollout view (rollout-ui)


def rolling_simulator() -> Any:
    """A Rolling scale set of six instances on the previous model, on a manual clock whose wall
    time starts at FROZEN_EPOCH (ARM's timestamps are then the same on every run)."""
    from datetime import UTC, datetime, timedelta

    from vmss_tui.sim import (
        InstanceStateSpec,
        ManualClock,
        RollingPolicySpec,
        ScaleSetSpec,
        Simulator,
        SubnetSpec,
        Topology,
        VnetSpec,
    )

    class FrozenWall(ManualClock):
        def wall(self, sim_time: float | None = None) -> datetime:
            origin = datetime.fromtimestamp(FROZEN_EPOCH, UTC)
            return origin + timedelta(seconds=self.now() if sim_time is None else sim_time)

    topology = Topology(
        vnets=[VnetSpec("vnet-roll", "rg-roll", "10.42.0.0/16", [SubnetSpec("default", "10.42.0.0/24")])],
        scale_sets=[ScaleSetSpec(
            "vmss-roll", "rg-roll", capacity=6, upgrade_mode="Rolling", health_probe=True, vnet="vnet-roll",
            subnet="default", overprovision=False,
            rolling_policy=RollingPolicySpec(max_batch_instance_percent=34, pause_time_between_batches="PT10S"),
            instance_states={i: InstanceStateSpec(latest_model=False) for i in range(6)},
        )],
    )
    return Simulator(topology=topology, clock=FrozenWall(), ip_prefix=(77, 3), ssh=False, seed=20260102).start_in_thread()


async def rollout_mid_way(pilot: Any, sim: Any, now: list[float]) -> None:
    """`u` on vmss-roll, `S` and confirm, then simulated time and the app's clock stepped together
    (10 s a step) to the middle of the second batch, the view polled after each step."""
    from vmss_tui.ui.rollout_view import RolloutView

    app: VmssConsoleApp = pilot.app

    async def until(predicate: Any, what: str) -> None:
        for _ in range(1500):
            if predicate():
                return
            await pilot.pause(0.02)
        raise AssertionError(f"timed out waiting for {what}")

    def idle() -> bool:
        return not any(t.in_flight for t in app.poller.plan.tracks.values())

    await until(lambda: app.store.loaded_once and idle(), "the first load")
    table = app.query_one("#vmss")
    table.focus()
    table.move_to_key(next(iter(app.store.entries)))
    await pilot.press("u")
    await until(lambda: bool(app.query(RolloutView)) and app.query_one(RolloutView).polls >= 1, "the view")
    view = app.query_one(RolloutView)
    await pilot.press("S")
    await pilot.pause()
    await pilot.press("tab", "enter")
    await until(lambda: sim.write_count == 1, "the rolling upgrade to be asked for")
    for _ in range(4):  # 40 s: batch 1 (0, 1) done, the pause, batch 2 (2, 3) upgrading
        sim.clock.advance(10)  # the simulator's own thread applies it at its next request
        now[0] += 10
        seen = view.polls
        view.poll_soon()
        await until(lambda seen=seen: view.polls > seen and idle(), "a poll")
    await until(lambda: not app.store.running and idle(), "the start operation's end")
    view.render_view()
    app.clear_notifications()
    pin_throttling(app)
    await pilot.pause()


def rollout_console(sim: Any, now: list[float]) -> VmssConsoleApp:
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, bearer_token=sim.bearer_token,
                                  subscription_id=sim.subscription_id, polling_interval=0.05)
    return VmssConsoleApp(settings, config=QUIET, clock=lambda: now[0], heartbeat=3600)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["wide", "compact"])
def test_rollout_view_mid_rollout(snap_compare, size):
    sim = rolling_simulator()
    now = [FROZEN_EPOCH]
    try:
        assert snap_compare(rollout_console(sim, now), terminal_size=size,
                            run_before=lambda pilot: rollout_mid_way(pilot, sim, now))
    finally:
        sim.stop_thread()
