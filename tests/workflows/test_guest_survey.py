"""The guest survey of a scale set: the real SDK reads the simulator over HTTP, each instance is read
over SSH from the simulator's guest on its NAT port, with the SSH tab's own code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.disks_topology import SCALE_SET, disks_topology
from vmss_tui.domain.disks import STATE_EMPTY, STATE_MOUNTED, STATE_UNREACHABLE
from vmss_tui.domain.models import Instance, NatResolution, ScaleSet
from vmss_tui.sim.topology import InstanceStateSpec
from vmss_tui.ssh.guest import NOT_RUNNING, GuestInspection, inspect_instance
from vmss_tui.ssh.session import FailureKind
from vmss_tui.ssh.settings import SshSettings
from vmss_tui.workflows.guest_survey import GuestSurvey


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def ssh_settings(sim: Any, tmp_path: Path, **overrides: Any) -> SshSettings:
    values: dict[str, Any] = {
        "identity_file": str(sim.ssh_client_key_path), "known_hosts": tmp_path / "known_hosts",
        "use_agent": False, "use_default_keys": False, "connect_timeout": 5.0,
    }
    values.update(overrides)
    return SshSettings(**values)


async def scale_set_of(fleet: Any) -> ScaleSet:
    return next(s for s in await fleet.list_scale_sets() if s.name == SCALE_SET)


async def test_survey_says_per_instance_which_data_disks_are_mounted(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    states = {1: InstanceStateSpec(power="deallocated"), 2: InstanceStateSpec(prepared_luns=(0, 1)),
              3: InstanceStateSpec(prepared_luns=(0,))}
    sim = await start_simulator(topology=disks_topology(capacity=4, instance_states=states), ssh=True)
    fleet = await open_fleet(sim, read_only=True)
    scale_set = await scale_set_of(fleet)
    seen: list[str] = []
    survey = GuestSurvey(fleet, ssh_settings(sim, tmp_path), accept_new=True)
    result = await survey.refresh(scale_set, on_instance=lambda entry: seen.append(entry.instance_id))

    assert sorted(seen) == ["0", "1", "2", "3"]
    assert [e.instance_id for e in result.instances] == ["0", "1", "2", "3"]
    assert result.fully_mounted == ("2",)
    assert result.not_fully_mounted == ("0", "3")
    assert result.unreachable == ("1",)
    assert result.summary() == "1 of 4 instances have every data disk mounted; 1 unreachable"

    by_id = {e.instance_id: e for e in result.instances}
    assert by_id["0"].summary() == "0 of 2 data disks mounted (LUN 0 empty, LUN 1 empty)"
    assert by_id["2"].summary() == "all 2 data disks mounted"
    assert by_id["3"].summary() == "1 of 2 data disks mounted (LUN 1 empty)"
    lun0 = next(r for r in by_id["3"].data_rows if r.lun == 0)
    assert (lun0.state, lun0.mountpoint, lun0.in_fstab, lun0.fstab_nofail) == (STATE_MOUNTED, "/datadisks/lun0", True, True)
    assert next(r for r in by_id["3"].data_rows if r.lun == 1).state == STATE_EMPTY

    stopped = by_id["1"]
    assert (stopped.reachable, stopped.kind, stopped.hint) == (False, NOT_RUNNING, "start the instance")
    assert stopped.reason == f"instance {SCALE_SET}/1 is deallocated: start it to connect"
    assert {r.state for r in stopped.rows} == {STATE_UNREACHABLE} and stopped.all_data_mounted is None
    assert [r.arm_name is not None for r in stopped.rows] == [True, True, True]  # ARM's side stays


async def test_unknown_host_keys_are_refused_without_accept_new(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    sim = await start_simulator(topology=disks_topology(capacity=1, instance_states={}), ssh=True)
    fleet = await open_fleet(sim, read_only=True)
    result = await GuestSurvey(fleet, ssh_settings(sim, tmp_path)).refresh(await scale_set_of(fleet))
    entry = result.instances[0]
    assert (entry.reachable, entry.kind) == (False, FailureKind.HOST_KEY_UNKNOWN)
    assert "is not known yet" in (entry.reason or "") and "--accept-new" in (entry.hint or "")
    assert not (tmp_path / "known_hosts").exists()


async def test_cached_with_its_age_until_refreshed(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    sim = await start_simulator(topology=disks_topology(capacity=2), ssh=True)
    fleet = await open_fleet(sim, read_only=True)
    scale_set = await scale_set_of(fleet)
    clock = FakeClock()
    survey = GuestSurvey(fleet, ssh_settings(sim, tmp_path), accept_new=True, clock=clock)
    assert survey.cached(scale_set) is None and survey.age(scale_set) is None

    first = await survey.get(scale_set, max_age=60)
    clock.now += 30
    assert survey.age(scale_set) == 30
    requests = sim.request_count
    assert await survey.get(scale_set, max_age=60) is first
    assert sim.request_count == requests  # served from the cache: no ARM read

    clock.now += 31
    second = await survey.get(scale_set, max_age=60)
    assert second is not first and sim.request_count > requests
    assert second.age(clock.now) == 0

    both = await asyncio.gather(survey.refresh(scale_set), survey.refresh(scale_set))
    assert both[0] is both[1]  # one refresh of the scale set at a time, shared


async def test_eight_at_once_and_a_stuck_or_broken_instance_holds_up_nobody(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    sim = await start_simulator(topology=disks_topology(capacity=12, instance_states={}), ssh=True)
    fleet = await open_fleet(sim, read_only=True)
    scale_set = await scale_set_of(fleet)
    in_flight = 0
    peak = 0
    never = asyncio.Event()

    async def inspect(scale_set: ScaleSet, instance: Instance, resolution: NatResolution, settings: SshSettings,
                      accept_new: bool, private_ip: str | None) -> GuestInspection:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            if instance.instance_id == "4":
                await never.wait()  # a guest that never answers
            if instance.instance_id == "7":
                raise RuntimeError("boom")
            return await inspect_instance(scale_set, instance, resolution, settings, accept_new=accept_new,
                                          private_ip=private_ip)
        finally:
            in_flight -= 1

    survey = GuestSurvey(fleet, ssh_settings(sim, tmp_path), accept_new=True, inspect=inspect,
                         instance_time_limit=3.0)
    result = await survey.refresh(scale_set)
    assert peak == 8
    by_id = {e.instance_id: e for e in result.instances}
    assert len(by_id) == 12
    assert by_id["4"].reachable is False and by_id["4"].reason == "no result within 3 s"
    assert by_id["7"].reachable is False and by_id["7"].reason == "unexpected error: RuntimeError: boom"
    assert all(e.reachable for k, e in by_id.items() if k not in ("4", "7")), [e.reason for e in result.instances]


async def test_one_instance_now_updates_the_survey(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    sim = await start_simulator(topology=disks_topology(capacity=2, instance_states={}), ssh=True)
    fleet = await open_fleet(sim)
    scale_set = await scale_set_of(fleet)
    survey = GuestSurvey(fleet, ssh_settings(sim, tmp_path), accept_new=True)
    before = await survey.refresh(scale_set)
    assert before.fully_mounted == ()
    instance = next(e.instance for e in before.instances if e.instance_id == "0")
    result = await fleet.run_shell_script(scale_set, instance, "mkfs.ext4 -q /dev/disk/azure/scsi1/lun0")
    assert result.succeeded
    entry = await survey.inspect(scale_set, instance)
    assert next(r for r in entry.data_rows if r.lun == 0).state == "formatted-not-mounted"
    cached = survey.cached(scale_set)
    assert cached is not None and cached.entry("0") == entry and cached.entry("1") == before.entry("1")


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_the_bound_is_the_one_asked_for(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path,
    concurrency: int,
) -> None:
    sim = await start_simulator(topology=disks_topology(capacity=4, instance_states={}), ssh=True)
    fleet = await open_fleet(sim, read_only=True)
    in_flight = peak = 0

    async def inspect(*args: Any) -> GuestInspection:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await inspect_instance(*args[:4], accept_new=args[4], private_ip=args[5])
        finally:
            in_flight -= 1

    survey = GuestSurvey(fleet, ssh_settings(sim, tmp_path), accept_new=True, inspect=inspect, concurrency=concurrency)
    result = await survey.refresh(await scale_set_of(fleet))
    assert peak == concurrency and len(result.unreachable) == 0
