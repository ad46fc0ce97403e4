"""Live tables and the refresh plan on their own: keyed diffs, cursor and filters; intervals,
no overlap, back-off."""

from __future__ import annotations

from textual.app import App, ComposeResult

from vmss_tui.domain.models import Instance, ScaleSet
from vmss_tui.ui.format import format_duration
from vmss_tui.ui.panes import cells as styles
from vmss_tui.ui.panes.cells import Column, RowData, RowFilter
from vmss_tui.ui.panes.instances import InstanceTable, instance_cells
from vmss_tui.ui.panes.table import LiveTable
from vmss_tui.ui.poller import MAX_BACKOFF, THROTTLED_MIN_BACKOFF, RefreshPlan


class Table(LiveTable):
    COLUMNS = (Column("name", "Name"), Column("state", "State"), Column("zone", "Zone", wide_only=True))


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield Table(id="t")


def rows(states: dict[str, str]) -> list[RowData]:
    return [RowData.of(k, ((k, ""), (v, ""), ("1", "dim"))) for k, v in states.items()]


async def test_only_changed_cells_are_updated_and_cursor_follows_its_row():
    app = Host()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(Table)
        states = {f"vm{i:02d}": "running" for i in range(10)}
        table.set_rows(rows(states))
        await pilot.pause()
        table.move_to_key("vm05")
        rebuilds, updates = table.rebuilds, table.cell_updates
        states["vm05"] = "stopped"
        states["vm07"] = "stopped"
        table.set_rows(rows(states))
        assert table.rebuilds == rebuilds and table.cell_updates - updates == 2
        assert table.get_cell("vm05", "state").plain == "stopped"
        assert table.cursor_key == "vm05"
        # a row above the cursor goes: the cursor stays on vm05
        del states["vm01"]
        table.set_rows(rows(states))
        assert table.rebuilds == rebuilds
        assert table.cursor_key == "vm05" and table.cursor_row == 4
        # a new row at the end is added, nothing rebuilt
        states["vm10"] = "starting"
        table.set_rows(rows(states))
        assert table.rebuilds == rebuilds and table.row_count == 10
        # a changed order is a rebuild, still on vm05
        reordered = dict(reversed(list(states.items())))
        table.set_rows(rows(reordered))
        assert table.rebuilds == rebuilds + 1 and table.cursor_key == "vm05"
        # the row under the cursor goes: the cursor stays at its index
        index = table.cursor_row
        del reordered["vm05"]
        table.set_rows(rows(reordered))
        assert table.cursor_row == index and table.cursor_key != "vm05"


async def test_filter_and_narrow_columns():
    app = Host()
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one(Table)
        table.set_rows(rows({"web-1": "running", "web-2": "stopped", "api-1": "running"}))
        await pilot.pause()
        assert table.set_filter("web") is None
        assert table.visible_keys == ["web-1", "web-2"]
        assert table.set_filter("!stopped") is None
        assert table.visible_keys == ["web-1", "api-1"]
        assert table.set_filter("(") is not None  # invalid: the old filter stays
        assert table.visible_keys == ["web-1", "api-1"]
        table.set_filter("")
        assert table.total_rows == 3 and len(table.visible_keys) == 3
        table.set_narrow(True)
        assert [c.key.value for c in table.ordered_columns] == ["name", "state"]
        assert table.get_cell("web-2", "state").plain == "stopped"


def test_row_filter_semantics():
    assert RowFilter("").matches("anything")
    assert RowFilter("WEB").matches("vmss-web 3")  # case-insensitive
    assert not RowFilter("!web").matches("vmss-web")
    assert RowFilter("!web").matches("vmss-api")
    assert RowFilter("!").matches("x")  # a lone ! filters nothing
    assert RowFilter("[").error is not None


def test_refresh_plan_intervals_overlap_tokens_and_backoff():
    plan = RefreshPlan({"instances": 5.0})
    assert plan.due("instances", 0.0)
    token = plan.started("instances", 0.0)
    assert not plan.due("instances", 100.0)  # in flight: never overlaps
    assert plan.succeeded("instances", 1.0, token)
    assert not plan.due("instances", 5.9) and plan.due("instances", 6.0)
    # a cancelled refresh's late report is ignored
    old = plan.started("instances", 6.0)
    plan.cancelled("instances")
    new = plan.started("instances", 6.1)
    assert not plan.succeeded("instances", 6.2, old)
    assert plan["instances"].in_flight
    # errors back off exponentially, to a cap, and mark the data stale
    delay = plan.failed("instances", 7.0, new, "boom")
    assert delay == 10.0 and plan["instances"].stale
    token = plan.started("instances", 17.0)
    assert plan.failed("instances", 17.0, token, "boom") == 20.0
    for _ in range(10):
        token = plan.started("instances", 100.0)
        delay = plan.failed("instances", 100.0, token, "boom")
    assert delay == MAX_BACKOFF
    token = plan.started("instances", 500.0)
    plan.succeeded("instances", 500.0, token)
    assert not plan["instances"].stale and plan["instances"].failures == 0


def test_throttling_waits_at_least_a_minute_and_ignores_refresh_requests():
    plan = RefreshPlan({"instances": 2.0})
    token = plan.started("instances", 0.0)
    assert plan.failed("instances", 0.0, token, "429", throttled=True) == THROTTLED_MIN_BACKOFF
    plan.request_now("instances")
    assert not plan.due("instances", 1.0)
    assert plan.due("instances", THROTTLED_MIN_BACKOFF)
    plan.slow = True  # low headroom: intervals stretch
    assert plan.interval("instances") > 2.0


def _instance(instance_id: str, power: str = "running", health: str | None = "healthy") -> Instance:
    return Instance(id=f"/x/virtualMachines/{instance_id}", scale_set="vmss-web", resource_group="rg",
                    instance_id=instance_id, name=f"vmss-web_{instance_id}", computer_name=None,
                    power_state=power, provisioning_state="Succeeded", latest_model=True, health=health)


def test_pending_action_shows_in_the_state_cell_with_the_row_colour():
    instance = _instance("2")
    plain = instance_cells(instance, marked=False, private_ip=None, resolution=None)
    pending = instance_cells(instance, marked=False, private_ip=None, resolution=None, pending="restarting…")
    columns = [c.key for c in InstanceTable.COLUMNS]
    prov, ident, power = columns.index("prov"), columns.index("id"), columns.index("power")
    assert plain[prov] == ("Succeeded", styles.PLAIN)
    assert pending[prov] == ("restarting…", styles.PENDING)
    assert pending[ident][1] == styles.PENDING and plain[ident][1] != styles.PENDING
    assert pending[power] == plain[power] == ("running", styles.GOOD)  # ARM's word, untouched
    # a stopped guest's "unknown" health is no news; a running one's is
    health = columns.index("health")
    stopped = instance_cells(_instance("5", "stopped", "unknown"), marked=False, private_ip=None,
                             resolution=None)
    running = instance_cells(_instance("6", "running", "unknown"), marked=False, private_ip=None,
                             resolution=None)
    assert stopped[health][1] == styles.DIM and running[health][1] == styles.WARN


def test_operation_words():
    from vmss_tui.ui.actions import INSTANCE_ACTION_SPECS, operation_label, pending_on_scale_set

    restart = INSTANCE_ACTION_SPECS["restart"]
    scale_set = ScaleSet(id="/x/vmss-web", name="vmss-web", resource_group="rg-web", location="westeurope",
                         subscription_id="s", sku="Standard_D2s_v3", capacity=6, upgrade_mode="Manual",
                         orchestration_mode="Uniform", provisioning_state="Succeeded")
    assert operation_label(restart, scale_set, ["2"]) == "Restart of vmss-web instance 2"
    assert operation_label(restart, scale_set, ["1", "6"]) == "Restart of vmss-web instances 1, 6"
    assert pending_on_scale_set(restart, 1) == "restarting 1 instance…"
    assert all(spec.pending.endswith("…") for spec in INSTANCE_ACTION_SPECS.values())
    assert [format_duration(s) for s in (1.44, 9.96, 75)] == ["1.4s", "10s", "1m15s"]
