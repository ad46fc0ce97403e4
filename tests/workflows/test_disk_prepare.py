"""Preparing disks on instances through the real SDK against the simulator, whose guests run the
prepare script in their simulated shell: Run Command per instance and the Custom Script extension on
the model; the guests are then read back over SSH."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.workflows.disks_topology import SCALE_SET, disks_topology
from tests.workflows.test_guest_survey import scale_set_of, ssh_settings
from vmss_tui.azure.errors import ReadOnlyError
from vmss_tui.domain.disk_prepare import ALREADY_PREPARED, PREPARED, DiskPrepareError
from vmss_tui.sim.topology import InstanceStateSpec
from vmss_tui.workflows.disk_prepare import (
    DONE,
    FAILED,
    NOTHING_TO_DO,
    ROUTE_CUSTOM_SCRIPT,
    RUNNING,
    WAITING,
    DiskPrepareJob,
    InstancePrepare,
)
from vmss_tui.workflows.guest_survey import GuestSurvey


async def test_run_command_prepares_the_empty_disks_and_again_changes_nothing(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    states = {1: InstanceStateSpec(power="deallocated"), 2: InstanceStateSpec(prepared_luns=(0,))}
    sim = await start_simulator(topology=disks_topology(capacity=3, instance_states=states), ssh=True)
    fleet = await open_fleet(sim)
    scale_set = await scale_set_of(fleet)
    instances = await fleet.list_instances(scale_set)
    job = DiskPrepareJob(fleet, scale_set, instances)
    assert job.preview()[0] == "instance 0: LUN 0 -> /datadisks/lun0, LUN 1 -> /datadisks/lun1 (ext4, fstab by UUID, nofail)"
    assert "Only a disk with neither a partition table nor a filesystem" in job.describe()

    updates: list[InstancePrepare] = []
    results = await job.run(on_update=updates.append)
    assert {k: r.state for k, r in results.items()} == {"0": DONE, "1": FAILED, "2": DONE}
    assert [(r.lun, r.result) for r in results["0"].report.results] == [(0, PREPARED), (1, PREPARED)]  # type: ignore[union-attr]
    assert results["0"].summary() == "prepared LUN 0, 1"
    assert "vmss-tui-prepare: lun=0 result=prepared" in results["0"].stdout  # kept for the details view
    assert results["2"].summary() == "prepared LUN 1; already prepared LUN 0"
    assert results["1"].error == "instance 1 is deallocated: start it first"
    assert [u.state for u in updates if u.instance_id == "0"] == [RUNNING, DONE]

    survey = await GuestSurvey(fleet, ssh_settings(sim, tmp_path), accept_new=True).refresh(scale_set)
    assert survey.fully_mounted == ("0", "2")

    again = await DiskPrepareJob(fleet, scale_set, instances).run()
    for key in ("0", "2"):
        assert {r.result for r in again[key].report.results} == {ALREADY_PREPARED}  # type: ignore[union-attr]
        assert not again[key].report.changed  # type: ignore[union-attr]


async def test_read_only_sends_nothing(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]]
) -> None:
    sim = await start_simulator(topology=disks_topology(capacity=1, instance_states={}))
    fleet = await open_fleet(sim, read_only=True)
    scale_set = await scale_set_of(fleet)
    job = DiskPrepareJob(fleet, scale_set, await fleet.list_instances(scale_set))
    writes = sim.write_count
    with pytest.raises(ReadOnlyError):
        await job.run()
    with pytest.raises(ReadOnlyError):
        await DiskPrepareJob(fleet, scale_set, [], route=ROUTE_CUSTOM_SCRIPT).run()
    assert sim.write_count == writes


async def test_custom_script_on_the_model_reaches_each_instance(
    start_simulator: Callable[..., Awaitable[Any]], open_fleet: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    topology = disks_topology(capacity=2, upgrade_mode="Automatic", instance_states={1: InstanceStateSpec(prepared_luns=(1,))})
    sim = await start_simulator(topology=topology, ssh=True)
    fleet = await open_fleet(sim)
    scale_set = await scale_set_of(fleet)
    job = DiskPrepareJob(fleet, scale_set, await fleet.list_instances(scale_set), route=ROUTE_CUSTOM_SCRIPT,
                         fstype="xfs", sleep=lambda _seconds: asyncio.sleep(0.05))
    assert job.waiting_note() is None  # Automatic: instances get the model at once
    results = await job.run()
    assert {r.state for r in results.values()} == {WAITING}
    assert await job.poll_custom_script(interval=0.05, time_limit=60)
    assert {k: r.state for k, r in job.results.items()} == {"0": DONE, "1": DONE}
    assert job.results["0"].summary() == "prepared LUN 0, 1"
    assert job.results["1"].summary() == "prepared LUN 0; already prepared LUN 1"
    survey = await GuestSurvey(fleet, ssh_settings(sim, tmp_path), accept_new=True).refresh(scale_set)
    assert survey.fully_mounted == ("0", "1")
    row = next(r for r in survey.entry("0").data_rows if r.lun == 0)  # type: ignore[union-attr]
    assert row.fstype == "xfs"


def test_manual_scale_sets_say_the_instances_need_the_model_update() -> None:
    from vmss_tui.domain.models import DataDiskModel, ScaleSet

    scale_set = ScaleSet(
        id=f"/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/{SCALE_SET}",
        name=SCALE_SET, resource_group="rg", subscription_id="s", location="westeurope", sku="Standard_D2s_v3",
        capacity=1, upgrade_mode="Manual", orchestration_mode="Uniform", provisioning_state="Succeeded",
        data_disks=(DataDiskModel(lun=0, size_gb=1, sku="Premium_LRS", caching="None", create_option="Empty"),),
    )
    job = DiskPrepareJob(object(), scale_set, [], route=ROUTE_CUSTOM_SCRIPT)  # type: ignore[arg-type]
    assert "only after update-instances" in (job.waiting_note() or "")
    with pytest.raises(DiskPrepareError, match="filesystem 'ntfs' is not supported"):
        DiskPrepareJob(object(), scale_set, [], fstype="ntfs")  # type: ignore[arg-type]
    with pytest.raises(DiskPrepareError, match="route 'ftp' is not known"):
        DiskPrepareJob(object(), scale_set, [], route="ftp")  # type: ignore[arg-type]
    from vmss_tui.domain.models import Instance

    bare = Instance(id="x", scale_set=SCALE_SET, resource_group="rg", instance_id="0", name=f"{SCALE_SET}_0",
                    computer_name=None, power_state="running", provisioning_state="Succeeded", latest_model=True)
    nothing = DiskPrepareJob(object(), scale_set, [bare])  # type: ignore[arg-type]
    assert nothing.results["0"].state == NOTHING_TO_DO and nothing.results["0"].finished
    assert nothing.preview() == ("instance 0: no data disk",)
