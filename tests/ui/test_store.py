"""FleetStore without Textual: what it keeps, and which topics each change announces."""

from __future__ import annotations

from tests.ui.test_tables import _instance
from vmss_tui.domain.models import NatResolution, OperationResult, ScaleSet
from vmss_tui.ui import store as topics
from vmss_tui.ui.store import WATCH_AFTER, FleetStore


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _scale_set(name: str, group: str = "rg") -> ScaleSet:
    return ScaleSet(id=f"/subscriptions/s/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}",
                    name=name, resource_group=group, subscription_id="s", location="westeurope",
                    sku="Standard_D2s_v3", capacity=2, upgrade_mode="Manual", orchestration_mode="Uniform",
                    provisioning_state="Succeeded")


def _recording(store: FleetStore) -> list[frozenset[str]]:
    seen: list[frozenset[str]] = []
    store.subscribe(seen.append)
    return seen


def test_scale_sets_are_kept_by_id_ordered_by_group_then_name_and_gone_ones_dropped() -> None:
    store = FleetStore(FakeClock())
    seen = _recording(store)
    web, api, batch = _scale_set("web", "rg-b"), _scale_set("api", "rg-b"), _scale_set("batch", "rg-a")
    store.apply_scale_sets([web, api, batch])
    assert [e.scale_set.name for e in store.ordered()] == ["batch", "api", "web"]
    assert store.loaded_once and seen[-1] == {topics.SCALE_SETS}
    assert store.select(web.id) and seen[-1] == {topics.SELECTION, topics.INSTANCES, topics.NAT}
    assert not store.select(web.id), "selecting the selected one changes nothing"
    store.apply_scale_sets([api, batch])  # web was deleted
    assert web.id not in store.entries and store.selected_id is None
    assert seen[-1] == {topics.SCALE_SETS, topics.SELECTION, topics.INSTANCES, topics.NAT}
    assert [e.scale_set.name for e in store.find_scale_set("RG-B/API")] == ["api"]


def test_instances_counts_and_marks_follow_each_refresh() -> None:
    clock = FakeClock()
    store = FleetStore(clock)
    web, api = _scale_set("web"), _scale_set("api")
    store.apply_scale_sets([web, api])
    store.select(web.id)
    seen = _recording(store)
    one, two, ten = _instance("1"), _instance("2", "stopped", None), _instance("10")
    store.apply_instances(web.id, [ten, two, one], clock())
    entry = store.selected()
    assert entry is not None and [i.instance_id for i in entry.instances or ()] == ["1", "2", "10"]
    assert entry.counts is not None and (entry.counts.total, entry.counts.not_running) == (3, 1)
    assert seen[-1] == {topics.SCALE_SETS, topics.INSTANCES}
    store.apply_instances(api.id, [], clock())  # not selected: only its row changes
    assert seen[-1] == {topics.SCALE_SETS}

    store.toggle_mark(two.id)
    store.mark([ten.id])
    assert entry.marks == {two.id, ten.id} and seen[-1] == {topics.MARKS}
    assert [i.instance_id for i in store.target_instances()] == ["2", "10"]
    store.apply_instances(web.id, [one, two], clock())  # instance 10 was deleted
    assert entry.marks == {two.id}, "a mark of a gone instance goes with it"
    store.clear_marks()
    store.move_instance_cursor(one.id)
    assert seen[-1] == {topics.CURSOR}
    assert store.target_instances() == [one] and store.cursor_instance() == one


def test_nat_of_another_scale_set_is_kept_but_announced_only_for_the_selected_one() -> None:
    store = FleetStore(FakeClock())
    web, api = _scale_set("web"), _scale_set("api")
    store.apply_scale_sets([web, api])
    store.select(web.id)
    seen = _recording(store)
    store.apply_nat(api.id, NatResolution(notes=("no load balancer",)), {})
    assert seen == [] and store.entries[api.id].nat is not None
    store.apply_nat(web.id, NatResolution(), {"1": "10.0.0.5"})
    assert seen == [{topics.NAT}] and store.entries[web.id].private_ips == {"1": "10.0.0.5"}


def test_an_action_is_watched_while_it_runs_and_a_while_after() -> None:
    clock = FakeClock()
    store = FleetStore(clock)
    web = _scale_set("web")
    store.apply_scale_sets([web])
    store.select(web.id)
    instance = _instance("2")
    run = store.begin_action("Restart of web instance 2", web.id, pending="restarting…",
                             instance_keys=frozenset({instance.id}), scale_set_pending="restarting 1 instance…")
    assert store.pending_instances(web.id) == {instance.id: "restarting…"}
    assert store.pending_scale_sets() == {web.id: "restarting 1 instance…"}
    assert store.watched(clock()) == {web.id} and store.actions_submitted == 1
    store.action_progress(run.id, "InProgress")
    assert store.running[run.id].status == "InProgress"
    clock.now += 1.4
    done = store.finish_action(run.id, OperationResult("Succeeded"), None)
    assert done is not None and done.succeeded and done.outcome == "Restart of web instance 2: succeeded in 1.4s"
    assert not store.running and store.finished == [done] and store.pending_instances(web.id) == {}
    clock.now += WATCH_AFTER - 0.1
    assert store.watched(clock()) == {web.id}
    clock.now += 0.2
    assert store.watched(clock()) == set()


def test_a_failed_action_is_the_last_error_with_arms_code_and_message() -> None:
    clock = FakeClock()
    store = FleetStore(clock)
    web = _scale_set("web")
    store.apply_scale_sets([web])
    run = store.begin_action("Delete of web instance 3", web.id)
    clock.now += 12
    failed = store.finish_action(run.id, OperationResult("Failed", "Conflict", "Another operation is in progress"), None)
    assert failed is not None and not failed.succeeded
    assert store.last_error == "Delete of web instance 3: failed after 12s: Conflict: Another operation is in progress"
    run = store.begin_action("Start all of web", web.id)
    store.finish_action(run.id, None, "unexpected error: ValueError")
    assert store.last_error == "Start all of web: failed: unexpected error: ValueError"
    assert store.finish_action(run.id, None, None) is None, "an action ends once"


def test_clear_forgets_the_fleet_for_another_subscription() -> None:
    store = FleetStore(FakeClock())
    store.apply_scale_sets([_scale_set("web")])
    seen = _recording(store)
    store.clear("sub-2")
    assert not store.entries and not store.loaded_once and store.subscription_id == "sub-2"
    assert seen[-1] == topics.ALL_TOPICS
