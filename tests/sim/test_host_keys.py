"""An instance's SSH host key changes when its OS disk does (reimage, a new image through the
model update), and only then: a data disk added to the model or an extension keeps it, as on Azure."""

from __future__ import annotations

from typing import Any

from tests.support.sim_sdk import sdk_clients
from vmss_tui.sim import Simulator, classic_topology

WEB = "rg-web-prod"


async def _update_all(compute: Any, body: dict[str, Any]) -> None:
    """The model change, then every instance updated to it (a Manual scale set)."""
    await (await compute.virtual_machine_scale_sets.begin_update(WEB, "vmss-api", body)).result()
    ids = {"instanceIds": ["0", "1", "2"]}
    await (await compute.virtual_machine_scale_sets.begin_update_instances(WEB, "vmss-api", ids)).result()


async def test_host_keys_change_with_the_os_disk_only() -> None:
    sim = Simulator(classic_topology(), speed=1000, ssh=False)
    await sim.start()
    try:
        generation = {i: sim.instance(WEB, "vmss-api", i).host_key_generation for i in ("0", "1", "2")}
        async with sdk_clients(sim) as (compute, _):
            disk = {"lun": 3, "diskSizeGB": 8, "createOption": "Empty", "managedDisk": {"storageAccountType": "Standard_LRS"}}
            await _update_all(compute, {"properties": {"virtualMachineProfile": {"storageProfile": {"dataDisks": [disk]}}}})
            assert {i: sim.instance(WEB, "vmss-api", i).host_key_generation for i in generation} == generation
            assert all(3 in sim.instance(WEB, "vmss-api", i).data_disks for i in generation)  # the model reached them
            image = {"publisher": "Canonical", "offer": "0001-com-ubuntu-server-jammy", "sku": "22_04-lts-gen2",
                     "version": "22.04.202611010"}
            await _update_all(compute, {"properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": image}}}})
            assert all(sim.instance(WEB, "vmss-api", i).host_key_generation == generation[i] + 1 for i in generation)
    finally:
        await sim.stop()
