"""Disks, Run Command and the Custom Script extension through the Fleet, against the simulator."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from vmss_tui.azure.disks import instance_extension_statuses, with_luns
from vmss_tui.azure.errors import FleetError, ReadOnlyError
from vmss_tui.domain.models import DiskInfo, Instance, ManagedDisk

BATCH = "rg-batch-dev"


def model_disks(scale_set: Any) -> list[dict[str, Any]]:
    return copy.deepcopy(scale_set.raw["properties"]["virtualMachineProfile"]["storageProfile"]["dataDisks"])


# ---------------------------------------------------------------- the model's data disks


async def test_add_a_data_disk_at_the_next_free_lun_keeping_the_others(fleet, simulator) -> None:
    data = await fleet.get_scale_set(BATCH, "vmss-data")
    before = model_disks(data)
    assert [d["lun"] for d in before] == [0, 1]
    result = await fleet.add_model_data_disk(data, size_gb=64, sku="premium_lrs")
    assert result.status == "Succeeded", result
    after = await fleet.get_scale_set(BATCH, "vmss-data")
    assert [(d.lun, d.size_gb, d.sku, d.caching, d.create_option) for d in after.data_disks] == [
        (0, 128, "Premium_LRS", before[0].get("caching"), "Empty"),
        (1, 512, "StandardSSD_LRS", before[1].get("caching"), "Empty"),
        (2, 64, "Premium_LRS", "None", "Empty"),
    ]
    assert model_disks(after)[:2] == before  # every property of the existing disks as it was
    # The instances get it with the model: under Automatic, every one of them at once.
    instances = await fleet.list_instances(after)
    assert all(i.latest_model for i in instances)
    assert all([d.lun for d in i.data_disks] == [0, 1, 2] for i in instances)


async def test_data_disk_input_is_checked_before_anything_is_sent(fleet, simulator) -> None:
    data = await fleet.get_scale_set(BATCH, "vmss-data")
    writes = simulator.write_count
    with pytest.raises(FleetError) as taken:
        await fleet.add_model_data_disk(data, size_gb=8, sku="Premium_LRS", lun=1)
    assert taken.value.message == "lun: 1 is taken (lowest free: 2)"
    with pytest.raises(FleetError) as both:
        await fleet.add_model_data_disk(data, size_gb=40000, sku="Gold_LRS")
    assert both.value.message.startswith("size: 40000 GB is out of range (1-32767 GB); sku: 'Gold_LRS' is not a disk SKU")
    with pytest.raises(FleetError) as absent:
        await fleet.remove_model_data_disk(data, 9)
    assert absent.value.message == "vmss-data has no data disk at LUN 9 (its LUNs: 0, 1)"
    assert simulator.write_count == writes


async def test_remove_a_data_disk_from_the_model(fleet) -> None:
    data = await fleet.get_scale_set(BATCH, "vmss-data")
    before = model_disks(data)
    assert (await fleet.remove_model_data_disk(data, 0)).status == "Succeeded"
    after = await fleet.get_scale_set(BATCH, "vmss-data")
    assert [d.lun for d in after.data_disks] == [1]
    assert model_disks(after) == before[1:]


# ---------------------------------------------------------------- managed disks


async def test_managed_disks_of_a_resource_group_with_what_they_are_attached_to(fleet) -> None:
    disks = await fleet.list_managed_disks(BATCH)
    assert disks and all(isinstance(d, ManagedDisk) for d in disks)
    assert all(d.resource_group.casefold() == BATCH for d in disks)
    data = await fleet.get_scale_set(BATCH, "vmss-data")
    instances = await fleet.list_instances(data)
    attached_ids = {d.managed_disk_id.casefold() for i in instances for d in i.data_disks if d.managed_disk_id}
    of_data = [d for d in disks if d.id.casefold() in attached_ids]
    assert len(of_data) == len(attached_ids)
    assert all(d.is_attached and d.managed_by and "/virtualMachines/" in d.managed_by for d in of_data)
    joined = {d.id.casefold(): d.lun for d in with_luns(disks, instances)}
    assert {joined[i] for i in attached_ids} == {0, 1}
    assert [d.name for d in await fleet.list_managed_disks()] >= [d.name for d in disks][:0]


def test_luns_join_by_disk_id_whatever_the_case() -> None:
    disk_id = "/subscriptions/s/resourceGroups/RG/providers/Microsoft.Compute/disks/data-0"
    disk = ManagedDisk(id=disk_id, name="data-0", resource_group="RG", location="l", size_gb=8, sku="Premium_LRS",
                       state="Attached", managed_by="/x/virtualMachines/0", create_option="Empty")
    instance = Instance(id="/x/virtualMachines/0", scale_set="x", resource_group="rg", instance_id="0", name="x_0",
                        computer_name=None, power_state="running", provisioning_state="Succeeded", latest_model=True,
                        data_disks=(DiskInfo("data-0", 3, 8, "Premium_LRS", "None", "Attach", disk_id.lower()),))
    assert with_luns([disk], [instance])[0].lun == 3
    assert with_luns([disk], [])[0].lun is None


# ---------------------------------------------------------------- read-only


async def test_read_only_sends_no_disk_write(simulator, open_fleet) -> None:
    fleet = await open_fleet(simulator, read_only=True)
    data = await fleet.get_scale_set(BATCH, "vmss-data")
    instance = (await fleet.list_instances(data))[0]
    disk_id = "/subscriptions/s/resourceGroups/rg-batch-dev/providers/Microsoft.Compute/disks/spare"
    writes = simulator.write_count
    for call in (
        fleet.add_model_data_disk(data, size_gb=8, sku="Premium_LRS"),
        fleet.remove_model_data_disk(data, 0),
        fleet.attach_data_disk(data, instance, disk_id),
        fleet.detach_data_disk(data, instance, disk_id),
        fleet.run_shell_script(data, instance, "echo hi"),
        fleet.set_custom_script_extension(data, "echo hi"),
    ):
        with pytest.raises(ReadOnlyError):
            await call
    assert simulator.write_count == writes
    assert instance_extension_statuses(instance) is not None  # reading stays possible


# ---------------------------------------------------------------- Run Command


async def test_run_shell_script_on_a_uniform_instance(fleet) -> None:
    data = await fleet.get_scale_set(BATCH, "vmss-data")
    instance = (await fleet.list_instances(data))[0]
    progress: list[str] = []
    result = await fleet.run_shell_script(data, instance, "echo hello\necho oops >&2", on_progress=progress.append)
    assert result.succeeded and progress[-1] == "Succeeded"
    assert result.stdout == "hello\n" and result.stderr == "oops\n"


async def test_run_shell_script_refuses_an_empty_script_without_sending(fleet, simulator) -> None:
    data = await fleet.get_scale_set(BATCH, "vmss-data")
    instance = (await fleet.list_instances(data))[0]
    writes = simulator.write_count
    with pytest.raises(FleetError) as empty:
        await fleet.run_shell_script(data, instance, "  \n")
    assert empty.value.message == "the script is empty" and simulator.write_count == writes


# ---------------------------------------------------------------- Uniform and Flexible side by side

DISKS = "rg-disks"


def disk_topology() -> Any:
    from vmss_tui.sim import DataDiskSpec, ScaleSetSpec, SubnetSpec, Topology, VnetSpec
    from vmss_tui.sim.topology import ManagedDiskSpec

    return Topology(
        scale_sets=[
            ScaleSetSpec("vmss-uni", DISKS, capacity=2, upgrade_mode="Automatic", vnet="v", subnet="s",
                         data_disks=[DataDiskSpec(0, 64, "Premium_LRS", "ReadOnly")]),
            ScaleSetSpec("vmss-flex", DISKS, capacity=2, upgrade_mode="Automatic", vnet="v", subnet="s",
                         orchestration_mode="Flexible", overprovision=False,
                         data_disks=[DataDiskSpec(0, 32, "Premium_LRS", "None")]),
        ],
        vnets=[VnetSpec("v", DISKS, "10.7.0.0/16", [SubnetSpec("s", "10.7.0.0/24")])],
        managed_disks=[ManagedDiskSpec("disk-spare", DISKS, 16, "Premium_LRS")],
    )


@pytest.fixture
async def disk_fleet(start_simulator, open_fleet) -> tuple[Any, Any]:
    sim = await start_simulator(topology=disk_topology(), speed=200, ssh=False)
    return sim, await open_fleet(sim)


async def instance_of(fleet: Any, scale_set: Any, instance_id: str) -> Instance:
    return next(i for i in await fleet.list_instances(scale_set) if i.instance_id == instance_id)


async def test_an_unattached_disk_shows_as_such(disk_fleet) -> None:
    _, fleet = disk_fleet
    disks = {d.name: d for d in await fleet.list_managed_disks(DISKS)}
    spare = disks["disk-spare"]
    assert (spare.managed_by, spare.is_attached, spare.state, spare.size_gb, spare.sku) == (
        None, False, "Unattached", 16, "Premium_LRS")
    attached = [d for d in disks.values() if d.is_attached]
    assert len(attached) == 8  # 4 instances: an OS disk and a data disk each
    assert {d.create_option for d in attached} == {"Empty", "FromImage"}


@pytest.mark.parametrize("name", ["vmss-uni", "vmss-flex"])
async def test_attach_then_detach_an_existing_disk(disk_fleet, name: str) -> None:
    _, fleet = disk_fleet
    scale_set = await fleet.get_scale_set(DISKS, name)
    instance = (await fleet.list_instances(scale_set))[0]
    spare = next(d for d in await fleet.list_managed_disks(DISKS) if d.name == "disk-spare")
    assert (await fleet.attach_data_disk(scale_set, instance, spare.id)).status == "Succeeded"
    attached = await instance_of(fleet, scale_set, instance.instance_id)
    assert [(d.lun, d.name) for d in attached.data_disks][-1] == (1, "disk-spare")  # the lowest free LUN
    now = next(d for d in await fleet.list_managed_disks(DISKS) if d.name == "disk-spare")
    assert now.managed_by and now.managed_by.casefold() == attached.id.casefold()
    with pytest.raises(FleetError) as twice:
        await fleet.attach_data_disk(scale_set, attached, spare.id)
    assert "already attached" in twice.value.message
    assert (await fleet.detach_data_disk(scale_set, attached, spare.id)).status == "Succeeded"
    detached = await instance_of(fleet, scale_set, instance.instance_id)
    assert [d.lun for d in detached.data_disks] == [0]
    assert next(d for d in await fleet.list_managed_disks(DISKS) if d.name == "disk-spare").managed_by is None


async def test_attach_checks_its_input_before_sending(disk_fleet) -> None:
    sim, fleet = disk_fleet
    scale_set = await fleet.get_scale_set(DISKS, "vmss-uni")
    instance = (await fleet.list_instances(scale_set))[0]
    writes = sim.write_count
    with pytest.raises(FleetError) as not_a_disk:
        await fleet.attach_data_disk(scale_set, instance, "disk-spare")
    assert not_a_disk.value.message == "not a managed disk id: 'disk-spare'"
    spare = next(d for d in await fleet.list_managed_disks(DISKS) if d.name == "disk-spare")
    with pytest.raises(FleetError) as taken:
        await fleet.attach_data_disk(scale_set, instance, spare.id, lun=0, caching="Sometimes")
    assert taken.value.message == "caching: 'Sometimes' is not one of None, ReadOnly, ReadWrite; lun: 0 is taken (lowest free: 1)"
    assert sim.write_count == writes


@pytest.mark.parametrize("name", ["vmss-uni", "vmss-flex"])
async def test_run_command_answers_the_linux_shape(disk_fleet, name: str) -> None:
    _, fleet = disk_fleet
    scale_set = await fleet.get_scale_set(DISKS, name)
    instance = (await fleet.list_instances(scale_set))[0]
    result = await fleet.run_shell_script(scale_set, instance, "echo hello\necho oops >&2\nid -u")
    assert (result.shape, result.succeeded, result.exit_code) == ("linux", True, 0)
    assert (result.stdout, result.stderr) == ("hello\n0\n", "oops\n")  # as root, like the agent
    assert result.codes == ("ProvisioningState/succeeded",)


@pytest.mark.parametrize("name", ["vmss-uni", "vmss-flex"])
async def test_custom_script_extension_runs_on_the_instances(disk_fleet, name: str) -> None:
    _, fleet = disk_fleet
    scale_set = await fleet.get_scale_set(DISKS, name)
    result = await fleet.set_custom_script_extension(scale_set, "echo from-cse\necho warn >&2")
    assert result.status == "Succeeded"
    for instance in await fleet.list_instances(scale_set):  # Automatic: every instance got the model
        listed = [s for s in instance_extension_statuses(instance) if s.name == "CustomScript"]
        fresh = [s for s in await fleet.extension_statuses(scale_set, instance) if s.name == "CustomScript"]
        assert listed == fresh and len(fresh) == 1
        status = fresh[0]
        assert (status.type, status.succeeded, status.stdout, status.stderr, status.exit_code) == (
            "Microsoft.Azure.Extensions.CustomScript", True, "from-cse\n", "warn\n", 0)
    # The script went in protectedSettings: ARM never returns it.
    after = await fleet.get_scale_set(DISKS, name)
    assert "ZWNobyBmcm9tLWNzZQ" not in str(after.raw) and "protectedSettings" not in str(after.raw)
