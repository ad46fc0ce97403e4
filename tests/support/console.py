"""Helpers for the console's Pilot tests (no tests here).

The app under test talks to a real simulator over HTTP through the real Fleet; nothing is
mocked. `config=Config()` keeps the developer's own config file out of the tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from textual.pilot import Pilot

from vmss_tui.azure.fleet import ConnectionSettings
from vmss_tui.config import Config
from vmss_tui.ui.app import VmssConsoleApp
from vmss_tui.ui.panes.instances import InstanceTable
from vmss_tui.ui.panes.nat import NatTable
from vmss_tui.ui.panes.scale_sets import ScaleSetTable

UI_SIM_SPEED = 100  # simulated seconds per real second: a 30 s deallocate takes 0.3 s
WAIT_TIMEOUT = 15.0


def make_app(
    sim: Any,
    *,
    read_only: bool = False,
    config: Config | None = None,
    clock: Callable[[], float] | None = None,
    heartbeat: float = 1.0,
    **app_options: Any,
) -> VmssConsoleApp:
    """The console on `sim`; `app_options` go to VmssConsoleApp (ssh_identity_file=, ssh_target= ...)."""
    settings = ConnectionSettings(
        arm_endpoint=sim.endpoint, bearer_token=sim.bearer_token,
        subscription_id=sim.subscription_id,
        read_only=read_only,
        polling_interval=0.05,
    )
    kwargs: dict[str, Any] = {"config": config if config is not None else Config(), "heartbeat": heartbeat,
                              **app_options}
    if clock is not None:
        kwargs["clock"] = clock
    return VmssConsoleApp(settings, **kwargs)


def record_notifications(
    app: VmssConsoleApp, notes: list[tuple[str, dict[str, Any]]] | None = None,
) -> list[tuple[str, dict[str, Any]]]:
    """Every notify() call of the app from now on, as (message, keyword arguments), appended to
    `notes` (a new list if none) which is returned."""
    recorded: list[tuple[str, dict[str, Any]]] = [] if notes is None else notes
    original = app.notify

    def record(message: str, *args: Any, **kwargs: Any) -> None:
        recorded.append((message, kwargs))
        original(message, *args, **kwargs)

    app.notify = record  # type: ignore[method-assign]
    return recorded


@asynccontextmanager
async def loaded_console(
    sim: Any,
    *,
    size: tuple[int, int] = (160, 45),
    scale_set: str | None = None,
    notes: list[tuple[str, dict[str, Any]]] | None = None,
    **app_options: Any,
) -> AsyncIterator[tuple[VmssConsoleApp, Pilot[Any]]]:
    """The console on `sim` (make_app's options), running, its first load done and, if given,
    `scale_set` opened. `notes`, if given, collects every notification from the very start."""
    app = make_app(sim, **app_options)
    async with app.run_test(size=size) as pilot:
        if notes is not None:
            record_notifications(app, notes)
        await wait_loaded(pilot, app)
        if scale_set is not None:
            await select_scale_set(pilot, app, scale_set)
        yield app, pilot


async def wait_until(pilot: Pilot[Any], predicate: Callable[[], bool], what: str,
                     limit: float = WAIT_TIMEOUT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await pilot.pause(0.02)


def scale_set_table(app: VmssConsoleApp) -> ScaleSetTable:
    return app.fleet_screen.query_one("#vmss", ScaleSetTable)


def scale_set_key(app: VmssConsoleApp, name: str) -> str:
    """The scale set table's row key of the scale set called `name`."""
    return next(k for k in scale_set_table(app).visible_keys if app.store.entries[k].scale_set.name == name)


def instance_table(app: VmssConsoleApp) -> InstanceTable:
    return app.fleet_screen.query_one("#instances", InstanceTable)


def nat_table(app: VmssConsoleApp) -> NatTable:
    return app.fleet_screen.query_one("#nat", NatTable)


def idle(app: VmssConsoleApp) -> bool:
    return not any(track.in_flight for track in app.poller.plan.tracks.values())


async def wait_loaded(pilot: Pilot[Any], app: VmssConsoleApp) -> None:
    """Scale sets listed and (in the wide layout, where they are on screen) the selected one's
    instances and NAT mappings shown."""

    def ready() -> bool:
        view = app.store.selected()
        if app.store.loaded_once and not app.fleet_screen.wide:
            return scale_set_table(app).row_count == len(app.store.entries)
        return (
            app.store.loaded_once
            and view is not None
            and view.instances is not None
            and view.nat is not None
            and instance_table(app).row_count == len(view.instances)
        )

    await wait_until(pilot, ready, "the first load")


async def select_scale_set(pilot: Pilot[Any], app: VmssConsoleApp, name: str) -> None:
    """Move the scale set cursor to `name` with j/k (as a person would) and open it with Enter."""
    table = scale_set_table(app)
    table.focus()
    await pilot.pause()
    names = [app.store.entries[key].scale_set.name for key in table.visible_keys]
    target = names.index(name)
    key = "down" if target > table.cursor_row else "up"
    for _ in range(abs(target - table.cursor_row)):
        await pilot.press(key)
    await pilot.press("enter")
    await wait_until(
        pilot,
        lambda: app.store.selected() is not None and app.store.selected().scale_set.name == name  # type: ignore[union-attr]
        and app.store.selected().instances is not None  # type: ignore[union-attr]
        and app.store.selected().nat is not None  # type: ignore[union-attr]
        and instance_table(app).row_count == len(app.store.selected().instances or []),  # type: ignore[union-attr]
        f"scale set {name} to load",
    )


async def move_to_instance(pilot: Pilot[Any], app: VmssConsoleApp, instance_id: str) -> None:
    """Put the instance cursor on `instance_id` with j/k."""
    table = instance_table(app)
    table.focus()
    await pilot.pause()
    view = app.store.selected()
    assert view is not None and view.instances is not None
    keys = table.visible_keys
    wanted = next(i.id for i in view.instances if i.instance_id == instance_id)
    target = keys.index(wanted)
    key = "down" if target > table.cursor_row else "up"
    for _ in range(abs(target - table.cursor_row)):
        await pilot.press(key)
    assert table.cursor_key == wanted


def shown_instance_ids(app: VmssConsoleApp) -> list[str]:
    view = app.store.selected()
    assert view is not None and view.instances is not None
    by_key = {i.id: i.instance_id for i in view.instances}
    return [by_key[key] for key in instance_table(app).visible_keys]


def cell_text(table: Any, key: str, column: str) -> str:
    return table.get_cell(key, column).plain


def instance_key(app: VmssConsoleApp, instance_id: str) -> str:
    view = app.store.selected()
    assert view is not None and view.instances is not None
    return next(i.id for i in view.instances if i.instance_id == instance_id)
