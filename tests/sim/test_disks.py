"""Managed disks as resources, model data disks, attach/detach, Run Command and extensions on the
simulator, through the real async SDK; the guest of each instance kept in step with ARM."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from tests.support.sim_sdk import sdk_clients
from vmss_tui.sim import DURATIONS, ManualClock, Simulator
from vmss_tui.sim.topology import BATCH_RG, FLEX_RG, demo_topology

BATCH = BATCH_RG


class RecordingGuest:
    """A stand-in guest that records what the simulator asks of it."""

    def __init__(self, name: str, log: list[tuple[str, ...]]) -> None:
        self.name = name
        self.log = log

    def attach(self, lun: int, size_gb: int, *, disk_name: str) -> None:
        self.log.append((self.name, "attach", str(lun), str(size_gb)))

    def detach(self, lun: int) -> None:
        self.log.append((self.name, "detach", str(lun)))

    def prepare(self, lun: int, **_: Any) -> None:
        self.log.append((self.name, "prepare", str(lun)))

    def reimage(self) -> None:
        self.log.append((self.name, "reimage"))

    def reboot(self) -> None:
        self.log.append((self.name, "reboot"))

    def run_script(self, script: str) -> Any:
        self.log.append((self.name, "run", script))
        return type("Result", (), {"exit_code": 0, "stdout": f"ran {len(script)} bytes\n", "stderr": ""})()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(demo_topology(), speed=500, ssh=False)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def clients(sim: Simulator) -> AsyncIterator[tuple[Any, Any]]:
    async with sdk_clients(sim) as pair:
        yield pair


async def test_disks_are_resources_with_managed_by(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    disks = {d.name: d async for d in compute.disks.list_by_resource_group(BATCH)}
    vm = await compute.virtual_machine_scale_set_vms.get(BATCH, "vmss-disks", "0")
    names = [vm.properties.storage_profile.os_disk.name, *(d.name for d in vm.properties.storage_profile.data_disks)]
    assert all(disks[n].managed_by == vm.id for n in names)
    assert [(d.lun, d.disk_size_gb) for d in vm.properties.storage_profile.data_disks] == [(0, 64), (1, 32)]
    orphan = disks["disk-orphaned"]
    assert orphan.managed_by is None and orphan.properties.disk_state == "Unattached"
    everywhere = {d.name async for d in compute.disks.list()}
    assert set(disks) <= everywhere and any(n.startswith("vmss-flex_") for n in everywhere)
    flex_vm = sim.world.get_scale_set(FLEX_RG, "vmss-flex").sorted_instances()[0]
    flex_os = await compute.disks.get(FLEX_RG, flex_vm.os_disk.name)
    assert flex_os.managed_by.lower() == flex_vm.id.lower()  # a Flexible VM's disks are its own
    with pytest.raises(ResourceNotFoundError):
        await compute.disks.get(BATCH, "no-such-disk")
    # A new empty disk, then it cannot be deleted while attached.
    created = await (await compute.disks.begin_create_or_update(
        BATCH, "disk-extra", {"location": "westeurope", "sku": {"name": "Premium_LRS"},
                              "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": 16}})).result()
    assert created.properties.disk_size_gb == 16 and created.properties.disk_state == "Unattached"


async def test_attach_and_detach_on_a_uniform_instance_and_a_flexible_vm(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    orphan = await compute.disks.get(BATCH, "disk-orphaned")
    profile = await (await compute.virtual_machine_scale_set_vms.begin_attach_detach_data_disks(
        BATCH, "vmss-disks", "2", {"dataDisksToAttach": [{"diskId": orphan.id, "caching": "ReadOnly"}]})).result()
    assert [(d.lun, d.name, d.create_option) for d in profile.data_disks][-1] == (2, "disk-orphaned", "Attach")
    attached = await compute.disks.get(BATCH, "disk-orphaned")
    assert attached.managed_by.endswith("/virtualMachineScaleSets/vmss-disks/virtualMachines/2")
    assert attached.properties.disk_state == "Attached"
    guest = sim.guest(BATCH, "vmss-disks", 2)
    assert "lun2" in guest.exec("ls /dev/disk/azure/scsi1", user="azureuser").stdout
    # Attached elsewhere: refused; same LUN twice: refused.
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machine_scale_set_vms.begin_attach_detach_data_disks(
            BATCH, "vmss-disks", "1", {"dataDisksToAttach": [{"diskId": orphan.id}]})
    assert info.value.status_code == 409
    # Detach, then on a Flexible VM.
    await (await compute.virtual_machine_scale_set_vms.begin_attach_detach_data_disks(
        BATCH, "vmss-disks", "2", {"dataDisksToDetach": [{"diskId": orphan.id}]})).result()
    assert (await compute.disks.get(BATCH, "disk-orphaned")).managed_by is None
    assert "lun2" not in guest.exec("ls /dev/disk/azure/scsi1", user="azureuser").stdout
    flex_vm = sim.world.get_scale_set(FLEX_RG, "vmss-flex").sorted_instances()[0]
    profile = await (await compute.virtual_machines.begin_attach_detach_data_disks(
        FLEX_RG, flex_vm.name, {"dataDisksToAttach": [{"diskId": orphan.id, "lun": 5}]})).result()
    assert [d.lun for d in profile.data_disks] == [5]
    vm = await compute.virtual_machines.get(FLEX_RG, flex_vm.name)
    assert vm.properties.storage_profile.data_disks[0].managed_disk.id.lower() == orphan.id.lower()
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machines.begin_attach_detach_data_disks(
            FLEX_RG, flex_vm.name, {"dataDisksToDetach": [{"diskId": orphan.id + "x"}]})
    assert info.value.status_code == 400


async def test_model_data_disks_reach_instances_with_the_model() -> None:
    log: list[tuple[str, ...]] = []
    sim = Simulator(demo_topology(), clock=ManualClock(), ssh=False,
                    guest_factory=lambda inst: RecordingGuest(inst.instance_id, log))
    await sim.start()
    try:
        async with sdk_clients(sim, polling_interval=0.01) as (compute, _):
            ss = sim.world.get_scale_set(BATCH, "vmss-batch")
            for inst in ss.sorted_instances():
                sim.world.guest_for(inst)
            add = {"properties": {"virtualMachineProfile": {"storageProfile": {"dataDisks": [
                {"lun": 0, "createOption": "Empty", "diskSizeGB": 100, "caching": "None",
                 "managedDisk": {"storageAccountType": "Premium_LRS"}}]}}}}
            await compute.virtual_machine_scale_sets.begin_update(BATCH, "vmss-batch", add)
            sim.advance(2)
            vm = await compute.virtual_machine_scale_set_vms.get(BATCH, "vmss-batch", "0")
            assert vm.properties.storage_profile.data_disks == [] and not vm.properties.latest_model_applied  # Manual
            poller = await compute.virtual_machine_scale_sets.begin_update_instances(BATCH, "vmss-batch", {"instanceIds": ["0"]})
            sim.advance(DURATIONS["upgrade"])
            await asyncio.wait_for(poller.result(), 5)
            vm = await compute.virtual_machine_scale_set_vms.get(BATCH, "vmss-batch", "0")
            assert [(d.lun, d.disk_size_gb, d.create_option) for d in vm.properties.storage_profile.data_disks] == [(0, 100, "Empty")]
            assert ("0", "attach", "0", "100") in log and not any(e[0] == "1" and e[1] == "attach" for e in log)
            new_disk = vm.properties.storage_profile.data_disks[0].name
            assert (await compute.disks.get(BATCH, new_disk)).managed_by == vm.id
            # Reimage and restart reach the guest.
            await compute.virtual_machine_scale_set_vms.begin_reimage(BATCH, "vmss-batch", "0")
            sim.advance(DURATIONS["reimage"])
            await compute.virtual_machine_scale_set_vms.begin_restart(BATCH, "vmss-batch", "0")
            sim.advance(DURATIONS["restart"] + 8)
            assert [e[1] for e in log if e[0] == "0"][-2:] == ["reimage", "reboot"]
            # Removing the disk from the model removes it from the instances that take the model.
            remove = {"properties": {"virtualMachineProfile": {"storageProfile": {"dataDisks": []}}}}
            await compute.virtual_machine_scale_sets.begin_update(BATCH, "vmss-batch", remove)
            poller = await compute.virtual_machine_scale_sets.begin_update_instances(BATCH, "vmss-batch", {"instanceIds": ["0"]})
            sim.advance(DURATIONS["upgrade"])
            await asyncio.wait_for(poller.result(), 5)
            assert ("0", "detach", "0") in log
            with pytest.raises(ResourceNotFoundError):
                await compute.disks.get(BATCH, new_disk)  # deleteOption Delete
    finally:
        await sim.stop()


async def test_run_command_runs_in_the_guest_and_answers_the_linux_shape(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    result = await (await compute.virtual_machine_scale_set_vms.begin_run_command(
        BATCH, "vmss-disks", "0", {"commandId": "RunShellScript",
                                   "script": ["hostname", "findmnt -n -o TARGET /datadisks/lun0", "ls /nope"]})).result()
    assert len(result.value) == 1
    status = result.value[0]
    assert (status.code, status.level, status.display_status) == ("ProvisioningState/succeeded", "Info", "Provisioning succeeded")
    head, _, rest = status.message.partition("\n[stdout]\n")
    stdout, _, stderr = rest.partition("\n[stderr]\n")
    assert head == "Enable succeeded: "
    assert stdout.splitlines() == ["vmss-disks000000", "/datadisks/lun0"]  # LUN 0 is prepared on instance 0
    assert "No such file or directory" in stderr
    # A Flexible VM: the same through virtual_machines.
    flex_vm = sim.world.get_scale_set(FLEX_RG, "vmss-flex").sorted_instances()[0]
    result = await (await compute.virtual_machines.begin_run_command(
        FLEX_RG, flex_vm.name, {"commandId": "RunShellScript", "script": ["echo $(( 6 * 7 ))"]})).result()
    assert "[stdout]\n42\n" in result.value[0].message
    # Not running: refused.
    await (await compute.virtual_machine_scale_set_vms.begin_power_off(BATCH, "vmss-disks", "1")).result()
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machine_scale_set_vms.begin_run_command(
            BATCH, "vmss-disks", "1", {"commandId": "RunShellScript", "script": ["true"]})
    assert info.value.status_code == 409


async def test_run_command_output_keeps_the_last_4_kib_of_each_stream(sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    result = await (await compute.virtual_machine_scale_set_vms.begin_run_command(
        BATCH, "vmss-disks", "0", {"commandId": "RunShellScript",
                                   "script": ["for i in $(seq 1 2000); do echo line-$i; done"]})).result()
    stdout = result.value[0].message.split("\n[stdout]\n", 1)[1].split("\n[stderr]\n", 1)[0]
    assert len(stdout.encode()) <= 4096 and stdout.endswith("line-2000\n")


async def test_custom_script_extension_is_a_model_resource_with_status_per_instance(
        sim: Simulator, clients: tuple[Any, Any]) -> None:
    compute, _ = clients
    script = base64.b64encode(b"mkdir -p /datadisks/marker && echo prepared on $(hostname)").decode()
    extension = {"properties": {"publisher": "Microsoft.Azure.Extensions", "type": "CustomScript",
                                "typeHandlerVersion": "2.1", "autoUpgradeMinorVersion": True,
                                "settings": {"timestamp": 1}, "protectedSettings": {"script": script}}}
    poller = await compute.virtual_machine_scale_set_extensions.begin_create_or_update(
        BATCH, "vmss-disks", "CustomScript", extension)
    created = await poller.result()
    assert created.properties.provisioning_state == "Succeeded" and created.properties.type == "CustomScript"
    assert created.properties.protected_settings is None  # never returned
    listed = [e.name async for e in compute.virtual_machine_scale_set_extensions.list(BATCH, "vmss-disks")]
    assert listed == ["CustomScript"]
    # Automatic: every instance runs the new model, and with it the script.
    await sim.settle()
    view = await compute.virtual_machine_scale_set_vms.get_instance_view(BATCH, "vmss-disks", "0")
    ext = next(e for e in view.extensions if e.name == "CustomScript")
    assert ext.statuses[0].code == "ProvisioningState/succeeded"
    assert ext.statuses[0].message == "Enable succeeded: \n[stdout]\nprepared on vmss-disks000000\n\n[stderr]\n"
    guest = sim.guest(BATCH, "vmss-disks", 0)
    assert guest.run_script("test -d /datadisks/marker && echo yes").stdout == "yes\n"
    # A failing script reports failure; deleting the extension removes it from the model.
    bad = {"properties": {**extension["properties"], "settings": {"timestamp": 2},
                          "protectedSettings": {"commandToExecute": "exit 3"}}}
    await (await compute.virtual_machine_scale_set_extensions.begin_create_or_update(
        BATCH, "vmss-disks", "CustomScript", bad)).result()
    await sim.settle()
    view = await compute.virtual_machine_scale_set_vms.get_instance_view(BATCH, "vmss-disks", "1")
    status = next(e for e in view.extensions if e.name == "CustomScript").statuses[0]
    assert status.code == "ProvisioningState/failed/1" and status.level == "Error"
    await (await compute.virtual_machine_scale_set_extensions.begin_delete(BATCH, "vmss-disks", "CustomScript")).result()
    with pytest.raises(ResourceNotFoundError):
        await compute.virtual_machine_scale_set_extensions.get(BATCH, "vmss-disks", "CustomScript")
    with pytest.raises(HttpResponseError) as info:
        await compute.virtual_machine_scale_set_extensions.begin_create_or_update(
            BATCH, "vmss-disks", "Broken", {"properties": {"publisher": "x", "type": "y"}})
    assert info.value.status_code == 400


async def test_nothing_runs_on_the_host(sim: Simulator, clients: tuple[Any, Any], tmp_path: Path) -> None:
    compute, _ = clients
    marker = tmp_path / "touched"
    await (await compute.virtual_machine_scale_set_vms.begin_run_command(
        BATCH, "vmss-disks", "0", {"commandId": "RunShellScript", "script": [f"mkdir -p {tmp_path}", f"echo x > {marker}", "rm -rf /etc"]})).result()
    assert not await asyncio.to_thread(marker.exists) and await asyncio.to_thread(Path("/etc").is_dir)
    assert sim.guest(BATCH, "vmss-disks", 0).run_script(f"cat {marker}").stdout == "x\n"


async def test_a_reboot_typed_in_the_guest_is_a_restart_arm_sees() -> None:
    sim = Simulator(demo_topology(), clock=ManualClock(), ssh=False)
    await sim.start()
    try:
        async with sdk_clients(sim) as (compute, _):
            guest = sim.guest(BATCH, "vmss-disks", 0)
            assert guest.run_script("reboot").exit_code == 0
            view = await compute.virtual_machine_scale_set_vms.get_instance_view(BATCH, "vmss-disks", "0")
            assert [s.code for s in view.statuses] == ["ProvisioningState/updating", "PowerState/running"]
            sim.advance(DURATIONS["restart"] + 8)
            view = await compute.virtual_machine_scale_set_vms.get_instance_view(BATCH, "vmss-disks", "0")
            assert [s.code for s in view.statuses] == ["ProvisioningState/succeeded", "PowerState/running"]
            # The prepared disk is mounted again from fstab after the reboot.
            assert guest.run_script("findmnt -n -o TARGET /datadisks/lun0").stdout == "/datadisks/lun0\n"
            guest.run_script("poweroff")
            sim.advance(DURATIONS["powerOff"])
            assert sim.instance(BATCH, "vmss-disks", 0).power == "stopped"
    finally:
        await sim.stop()
