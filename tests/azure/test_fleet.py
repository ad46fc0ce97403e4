"""The Fleet (real async SDK clients) against the simulator over loopback HTTP."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from vmss_tui.azure.errors import AuthError, EndpointError, FleetError, NotFoundError, ReadOnlyError
from vmss_tui.azure.fleet import INSTANCE_ACTIONS, ConnectionSettings, Fleet, parse_throttling
from vmss_tui.domain.models import Throttling
from vmss_tui.sim import ScaleSetSpec, Topology


async def scale_set(fleet: Fleet, name: str, group: str | None = None):
    return await fleet.get_scale_set(group, name)


async def instances_by_id(fleet: Fleet, name: str) -> dict[str, Any]:
    return {i.instance_id: i for i in await fleet.list_instances(await scale_set(fleet, name))}


# ---------------------------------------------------------------- reads


async def test_lists_scale_sets_of_the_subscription(fleet: Fleet, simulator) -> None:
    scale_sets = await fleet.list_scale_sets()
    assert [(s.resource_group, s.name) for s in scale_sets] == [
        ("rg-batch-dev", "vmss-batch"), ("rg-batch-dev", "vmss-data"), ("rg-batch-dev", "vmss-internal"),
        ("rg-batch-dev", "vmss-pending"), ("rg-web-prod", "vmss-api"), ("rg-web-prod", "vmss-web"),
    ]
    web = next(s for s in scale_sets if s.name == "vmss-web")
    assert (web.upgrade_mode, web.capacity, web.orchestration_mode) == ("Rolling", 6, "Uniform")
    assert web.rolling_policy is not None and web.rolling_policy.max_batch_instance_percent == 34
    assert web.subscription_id == simulator.subscription_id
    assert web.raw is not None and web.raw["name"] == "vmss-web"
    assert [s.name for s in await fleet.list_scale_sets("rg-web-prod")] == ["vmss-api", "vmss-web"]
    data = next(s for s in scale_sets if s.name == "vmss-data")
    assert [(d.lun, d.size_gb, d.sku) for d in data.data_disks] == [(0, 128, "Premium_LRS"), (1, 512, "StandardSSD_LRS")]


async def test_get_scale_set_by_name_with_and_without_group(fleet: Fleet) -> None:
    found = await fleet.get_scale_set(None, "VMSS-API")
    assert (found.name, found.resource_group) == ("vmss-api", "rg-web-prod")
    assert (await fleet.get_scale_set("rg-web-prod", "vmss-api")).id == found.id
    with pytest.raises(NotFoundError) as missing:
        await fleet.get_scale_set(None, "vmss-nope")
    assert "vmss-nope" in missing.value.one_line() and "--subscription" in missing.value.one_line()
    with pytest.raises(NotFoundError) as missing_in_group:
        await fleet.get_scale_set("rg-web-prod", "vmss-nope")
    assert "-g" in missing_in_group.value.one_line()


async def test_ambiguous_scale_set_name_asks_for_a_group(start_simulator, open_fleet) -> None:
    topology = Topology(scale_sets=[ScaleSetSpec("dup", "rg-a", capacity=1), ScaleSetSpec("dup", "rg-b", capacity=1)])
    fleet = await open_fleet(await start_simulator(topology=topology, ssh=False))
    with pytest.raises(FleetError) as ambiguous:
        await fleet.get_scale_set(None, "dup")
    assert "rg-a" in str(ambiguous.value) and ambiguous.value.hint == "pass -g"
    assert (await fleet.get_scale_set("rg-b", "dup")).resource_group == "rg-b"


async def test_instances_in_one_paged_call_with_states(fleet: Fleet, simulator) -> None:
    web = await scale_set(fleet, "vmss-web")
    before = simulator.request_count
    instances = await fleet.list_instances(web)
    assert simulator.request_count - before == 1  # one page, one request, all power states in it
    assert [i.instance_id for i in instances] == ["1", "2", "4", "5", "6", "7"]
    by_id = {i.instance_id: i for i in instances}
    assert by_id["5"].power_state == "stopped" and by_id["7"].power_state == "deallocated"
    assert by_id["1"].power_state == "running" and by_id["1"].provisioning_state == "Succeeded"
    assert [i.instance_id for i in instances if i.latest_model is False] == ["2", "4"]
    assert by_id["1"].health == "healthy" and by_id["1"].zone in ("1", "2", "3")
    assert by_id["1"].computer_name and by_id["1"].os_disk is not None
    data = await fleet.list_instances(await scale_set(fleet, "vmss-data"))
    assert [d.lun for d in data[0].data_disks] == [0, 1]


async def test_paging_follows_next_link(start_simulator, open_fleet) -> None:
    sim = await start_simulator(page_size=2, ssh=False)
    fleet = await open_fleet(sim)
    before = fleet.arm_calls
    scale_sets = await fleet.list_scale_sets()
    assert len(scale_sets) == 6 and fleet.arm_calls - before == 3
    web = next(s for s in scale_sets if s.name == "vmss-web")
    before = fleet.arm_calls
    instances = await fleet.list_instances(web)
    assert [i.instance_id for i in instances] == ["1", "2", "4", "5", "6", "7"]
    assert fleet.arm_calls - before == 3
    nics = await fleet.list_instance_nics(web)
    assert sorted({n.instance_id for n in nics}, key=int) == ["1", "2", "4", "5", "6", "7"]


async def test_instances_are_converted_page_by_page_with_turns_for_the_loop(
    start_simulator, open_fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vmss_tui.azure import convert
    from vmss_tui.azure.fleet import CONVERT_BATCH
    from vmss_tui.sim import large_topology

    sim = await start_simulator(topology=large_topology(scale_sets=1, instances=350), page_size=150, ssh=False)
    fleet = await open_fleet(sim)
    big = await fleet.get_scale_set(None, "vmss-big-000")
    expected = await fleet.list_instances(big)
    ticks = 0

    async def other_work() -> None:  # what else the loop runs: key presses, rendering
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    seen: list[tuple[int, int]] = []  # (requests sent, ticks of other work) at each conversion
    real = convert.instance_from_sdk

    def spy(vm: Any, **kwargs: Any) -> Any:
        seen.append((fleet.arm_calls, ticks))
        return real(vm, **kwargs)

    monkeypatch.setattr(convert, "instance_from_sdk", spy)
    before = fleet.arm_calls
    worker = asyncio.create_task(other_work())
    try:
        instances = await fleet.list_instances(big)
    finally:
        worker.cancel()
    assert instances == expected and len(instances) == 350
    # Each page is converted when it arrives, before the next one is asked for.
    assert [calls - before for calls, _ in seen] == [1] * 150 + [2] * 150 + [3] * 50
    # Never more than CONVERT_BATCH conversions in one go without the loop running other work.
    longest = max(len(list(run)) for _, run in itertools.groupby(t for _, t in seen))
    assert longest <= CONVERT_BATCH < 150


async def test_instance_nics(fleet: Fleet) -> None:
    nics = await fleet.list_instance_nics(await scale_set(fleet, "vmss-web"))
    assert [n.instance_id for n in nics] == ["1", "2", "4", "5", "6", "7"]
    assert all(n.primary_private_ip and n.primary_private_ip.startswith("10.1.0.") for n in nics)
    assert len({n.primary_private_ip for n in nics}) == 6
    assert all(any("natpool-ssh." in r for c in n.ip_configs for r in c.nat_rule_ids) for n in nics)


async def test_many_lists_give_each_scale_set_its_result_or_its_error(fleet: Fleet, simulator) -> None:
    scale_sets = await fleet.list_scale_sets()
    api = next(s for s in scale_sets if s.name == "vmss-api")
    simulator.forbidden.add(api.id)
    instances = await fleet.list_instances_many(scale_sets)
    nics = await fleet.list_instance_nics_many(scale_sets)
    nat = await fleet.nat_mappings_many(scale_sets)
    for results in (instances, nics, nat):
        assert list(results) == [s.id for s in scale_sets]
        assert isinstance(results[api.id], AuthError) and results[api.id].code == "AuthorizationFailed"
        assert not any(isinstance(r, FleetError) for key, r in results.items() if key != api.id)
    web = next(s for s in scale_sets if s.name == "vmss-web")
    assert [i.instance_id for i in instances[web.id]] == ["1", "2", "4", "5", "6", "7"]
    assert {m.instance_id for m in nat[web.id].mappings} == {"1", "2", "4", "5", "6", "7"}
    with pytest.raises(AuthError):  # the all-or-nothing form keeps its contract
        await fleet.nat_mappings_for_many(scale_sets)


def test_next_links_are_the_same_escaped_or_not() -> None:
    from vmss_tui.azure.fleet import escaped_url

    scale_set_id = "/subscriptions/s/resourceGroups/rg-flex/providers/Microsoft.Compute/virtualMachineScaleSets/flex"
    raw = ("http://127.0.0.1:1/subscriptions/s/resourceGroups/rg-flex/providers/Microsoft.Compute/virtualMachines"
           f"?api-version=2026-04-01&$filter='virtualMachineScaleSet/id' eq '{scale_set_id}'&$expand=instanceView"
           "&$skiptoken=50")
    escaped = raw.replace(" ", "%20")
    assert escaped_url(raw) == escaped_url(escaped) == escaped
    assert escaped_url("http://h/p?$filter=name eq 'café'") == "http://h/p?$filter=name%20eq%20'caf%C3%A9'"


async def test_subscriptions_are_listed_and_chosen_when_none_given(simulator) -> None:
    settings = ConnectionSettings(arm_endpoint=simulator.endpoint, polling_interval=0.05)
    async with await Fleet.open(settings) as fleet:
        assert fleet.subscription_id == simulator.subscription_id
        assert fleet.subscription_source == "listed"
        assert [s for s, _ in fleet.listed_subscriptions] == [simulator.subscription_id]
        subscriptions = await fleet.list_subscriptions()
        assert [s for s, _ in subscriptions] == [simulator.subscription_id]
        assert subscriptions[0][1]


async def test_throttling_headers_and_call_count_are_recorded(fleet: Fleet) -> None:
    assert fleet.arm_calls == 0 and fleet.throttling == Throttling()
    await fleet.list_instances(await scale_set(fleet, "vmss-web", "rg-web-prod"))
    assert fleet.arm_calls == 2
    assert fleet.throttling.remaining_subscription_reads is not None
    policies = dict(fleet.throttling.remaining_resource)
    assert any(p.startswith("Microsoft.Compute/") for p in policies) and all(v >= 0 for v in policies.values())


def test_parse_throttling_headers() -> None:
    headers = {
        "x-ms-ratelimit-remaining-subscription-reads": "11999",
        "x-ms-ratelimit-remaining-resource": "Microsoft.Compute/GetVMScaleSet3Min;399,Microsoft.Compute/GetVMScaleSet30Min;2579",
    }
    parsed = parse_throttling(headers, Throttling())
    assert parsed == Throttling(11999, (("Microsoft.Compute/GetVMScaleSet3Min", 399),
                                        ("Microsoft.Compute/GetVMScaleSet30Min", 2579)))
    assert parse_throttling({}, parsed) is parsed  # a response without the headers keeps the last values
    assert parse_throttling({"x-ms-ratelimit-remaining-resource": "junk"}, parsed) is parsed


async def test_rollout_status_none_when_never_rolled(fleet: Fleet) -> None:
    assert await fleet.rollout_status(await scale_set(fleet, "vmss-data")) is None


# ---------------------------------------------------------------- actions


async def wait_for(predicate, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_restart_reports_progress_and_ends_running(start_simulator, open_fleet) -> None:
    # Slower than the other tests, so that the guests' 8 s boot (0.8 s here) is sure to be seen.
    simulator = await start_simulator(speed=10, ssh=False)
    fleet = await open_fleet(simulator)
    web = await scale_set(fleet, "vmss-web")
    seen: list[str] = []
    writes = simulator.write_count
    result = await fleet.run_instance_action(web, "restart", ["1", "2"], on_progress=seen.append)
    assert result.status == "Succeeded" and result.error_code is None
    assert seen[0] == "InProgress" and seen[-1] == "Succeeded"
    assert simulator.write_count - writes == 1  # one scale-set-level request for both instances
    by_id = await instances_by_id(fleet, "vmss-web")
    # Like Azure, the operation ends before the guests are up: starting, then running.
    assert by_id["1"].power_state == "starting" and by_id["2"].power_state == "starting"

    async def both_running() -> bool:
        by_id = await instances_by_id(fleet, "vmss-web")
        return by_id["1"].power_state == by_id["2"].power_state == "running"

    await wait_for(both_running)


@pytest.mark.parametrize(
    ("action", "instance", "expected_power"),
    [("power_off", "1", "stopped"), ("deallocate", "1", "deallocated"), ("start", "5", "running"),
     ("start", "7", "running")],
)
async def test_power_actions_end_states(fleet: Fleet, action: str, instance: str, expected_power: str) -> None:
    web = await scale_set(fleet, "vmss-web")
    progress: list[str] = []

    async def record(status: str) -> None:  # an async callback works too
        progress.append(status)

    result = await fleet.run_instance_action(web, action, [instance], on_progress=record)
    assert result.status == "Succeeded", result
    assert progress[-1] == "Succeeded"
    by_id = await instances_by_id(fleet, "vmss-web")
    assert by_id[instance].power_state == expected_power
    assert by_id[instance].provisioning_state == "Succeeded"
    untouched = "6"
    assert by_id[untouched].power_state == "running"


async def test_update_brings_an_instance_to_the_latest_model(fleet: Fleet) -> None:
    before = await instances_by_id(fleet, "vmss-batch")
    assert before["1"].latest_model is False
    result = await fleet.run_instance_action(await scale_set(fleet, "vmss-batch"), "update", ["1"])
    assert result.status == "Succeeded"
    assert (await instances_by_id(fleet, "vmss-batch"))["1"].latest_model is True


async def test_reimage_ends_running(fleet: Fleet) -> None:
    result = await fleet.run_instance_action(await scale_set(fleet, "vmss-api"), "reimage", ["0"])
    assert result.status == "Succeeded"
    after = (await instances_by_id(fleet, "vmss-api"))["0"]
    assert (after.power_state, after.provisioning_state) == ("running", "Succeeded")


async def test_delete_instances_removes_them(fleet: Fleet) -> None:
    api = await scale_set(fleet, "vmss-api")
    result = await fleet.run_instance_action(api, "delete", ["0", "2"])
    assert result.status == "Succeeded"
    assert list(await instances_by_id(fleet, "vmss-api")) == ["1"]
    assert (await fleet.get_scale_set("rg-web-prod", "vmss-api")).capacity == 1


async def test_scale_to_changes_capacity_and_instances(fleet: Fleet) -> None:
    api = await scale_set(fleet, "vmss-api")
    result = await fleet.scale_to(api, 5)
    assert result.status == "Succeeded"

    async def five_running() -> bool:
        instances = await fleet.list_instances(api)
        return len(instances) == 5 and all(i.provisioning_state == "Succeeded" for i in instances)

    await wait_for(five_running)
    assert (await fleet.get_scale_set("rg-web-prod", "vmss-api")).capacity == 5
    with pytest.raises(FleetError):
        await fleet.scale_to(api, 1001)
    with pytest.raises(FleetError):
        await fleet.scale_to(api, -1)


async def test_power_off_all_and_start_all(fleet: Fleet) -> None:
    api = await scale_set(fleet, "vmss-api")
    assert (await fleet.power_off_all(api)).status == "Succeeded"
    assert {i.power_state for i in await fleet.list_instances(api)} == {"stopped"}
    assert (await fleet.start_all(api)).status == "Succeeded"
    assert {i.power_state for i in await fleet.list_instances(api)} == {"running"}


async def test_failed_operation_returns_the_arm_error(fleet: Fleet, simulator) -> None:
    simulator.fail_action("restart", code="VMRestartTimedOut", message="The restart of the VM timed out.")
    seen: list[str] = []
    result = await fleet.run_instance_action(await scale_set(fleet, "vmss-web"), "restart", ["4"], seen.append)
    assert result.status == "Failed"
    assert result.error_code == "VMRestartTimedOut"
    assert "timed out" in (result.error_message or "")
    assert seen[-1] == "Failed"


async def test_unknown_action_and_empty_selection_send_nothing(fleet: Fleet, simulator) -> None:
    web = await scale_set(fleet, "vmss-web")
    before = simulator.request_count
    with pytest.raises(FleetError):
        await fleet.run_instance_action(web, "explode", ["1"])
    with pytest.raises(FleetError):
        await fleet.run_instance_action(web, "restart", [])
    assert simulator.request_count == before


async def test_read_only_sends_no_request_for_any_write(simulator, open_fleet) -> None:
    fleet = await open_fleet(simulator, read_only=True)
    web = await fleet.get_scale_set("rg-web-prod", "vmss-web")
    writes, requests = simulator.write_count, simulator.request_count
    for action in INSTANCE_ACTIONS:
        with pytest.raises(ReadOnlyError) as refused:
            await fleet.run_instance_action(web, action, ["1"])
        assert "read-only" in refused.value.one_line()
    with pytest.raises(ReadOnlyError):
        await fleet.scale_to(web, 3)
    with pytest.raises(ReadOnlyError):
        await fleet.start_all(web)
    with pytest.raises(ReadOnlyError):
        await fleet.power_off_all(web)
    assert simulator.write_count == writes and simulator.request_count == requests
    assert (await fleet.list_scale_sets())  # reads still work


# ---------------------------------------------------------------- errors


async def test_transient_server_error_is_retried(fleet: Fleet, simulator) -> None:
    simulator.add_fault(r"/virtualMachineScaleSets$", status=503, count=1)
    before = fleet.arm_calls
    assert len(await fleet.list_scale_sets()) == 6
    assert fleet.arm_calls - before == 2


async def test_throttled_request_waits_for_retry_after(fleet: Fleet, simulator) -> None:
    simulator.add_fault(r"/virtualMachineScaleSets$", status=429, count=1, retry_after=1)
    started = time.monotonic()
    assert len(await fleet.list_scale_sets()) == 6
    assert time.monotonic() - started >= 0.9


async def test_persistent_server_error_becomes_one_line(fleet: Fleet, simulator) -> None:
    simulator.add_fault(r"/virtualMachineScaleSets$", status=500, count=None, code="InternalServerError",
                        message="Something broke.\nSecond line.")
    with pytest.raises(FleetError) as failure:
        await fleet.list_scale_sets()
    line = failure.value.one_line()
    assert "\n" not in line and "InternalServerError" in line and "retry" in line


async def test_forbidden_reads(fleet: Fleet, simulator) -> None:
    web = await scale_set(fleet, "vmss-web")
    simulator.forbidden.add(web.id)
    with pytest.raises(AuthError) as denied:
        await fleet.get_scale_set("rg-web-prod", "vmss-web")
    assert "role" in denied.value.one_line() and denied.value.code == "AuthorizationFailed"
    simulator.forbidden.discard(web.id)
    nsg_id = web.nic_configs[0].nsg_id
    simulator.forbidden.add(nsg_id)
    assert await fleet.get_network_security_group(nsg_id) is None
    resolution = await fleet.nat_mappings_for(web)
    assert resolution.mappings and {m.nsg.label for m in resolution.mappings if m.nsg} == {"unknown"}


async def test_unknown_subscription(simulator, open_fleet) -> None:
    fleet = await open_fleet(simulator)
    other = await fleet.with_subscription("00000000-1111-2222-3333-444444444444")
    try:
        with pytest.raises(NotFoundError) as missing:
            await other.list_scale_sets()
        assert "--subscription" in missing.value.one_line()
    finally:
        await other.close()
    assert await fleet.list_scale_sets()  # the sibling's close left the shared credential usable


async def test_unreachable_endpoint() -> None:
    settings = ConnectionSettings(arm_endpoint="http://127.0.0.1:9", subscription_id="s", polling_interval=0.05)
    async with await Fleet.open(settings) as fleet:
        with pytest.raises(EndpointError) as unreachable:
            await fleet.list_scale_sets()
    line = unreachable.value.one_line()
    assert "127.0.0.1:9" in line and "reachable" in line and "\n" not in line


async def test_scale_sets_are_fetched_concurrently_with_a_bound(start_simulator, open_fleet) -> None:
    from vmss_tui.azure.fleet import DEFAULT_CONCURRENCY
    from vmss_tui.sim import large_topology

    sim = await start_simulator(topology=large_topology(scale_sets=2 * DEFAULT_CONCURRENCY, instances=2),
                                latency=0.2, ssh=False)
    fleet = await open_fleet(sim)
    scale_sets = await fleet.list_scale_sets()
    sim.reset_peak_in_flight()
    results = await fleet.map_bounded(fleet.list_instances, scale_sets)
    assert [len(r) for r in results] == [2] * len(scale_sets)
    # 16 one-page lists that each hold the server for 0.2 s: all the bound allows run at once
    # (so they are concurrent), and never more than the bound.
    assert sim.peak_in_flight == DEFAULT_CONCURRENCY
