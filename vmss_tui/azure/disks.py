"""Disks, Run Command and the Custom Script extension in the data layer.

A mixin of `Fleet`. Uniform instances are scale-set VMs (`virtual_machine_scale_set_vms`);
Flexible instances are standalone VMs (`virtual_machines`): every per-instance call below picks
the right one, so nothing above branches on the orchestration mode.

Writes go through `_check_writable` first: a read-only session sends nothing.
"""

from __future__ import annotations

import base64
import copy
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from vmss_tui.azure.errors import FleetError
from vmss_tui.domain.arm_ids import id_key, name_of, resource_group_of
from vmss_tui.domain.model_change import (
    ModelChangeError,
    next_free_lun,
    validate_data_disk,
    validate_lun_and_caching,
)
from vmss_tui.domain.models import Instance, ManagedDisk, OperationResult, ScaleSet
from vmss_tui.domain.run_command import (
    ExtensionStatus,
    RunCommandResult,
    extension_statuses,
    parse_run_command_result,
)

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import ProgressCallback

CUSTOM_SCRIPT_PUBLISHER = "Microsoft.Azure.Extensions"
CUSTOM_SCRIPT_TYPE = "CustomScript"
CUSTOM_SCRIPT_VERSION = "2.1"
RUN_SHELL_SCRIPT = "RunShellScript"


def managed_disk_from_sdk(disk: Any) -> ManagedDisk:
    """A disk resource (SDK model or JsonView of its JSON) as a ManagedDisk."""
    from vmss_tui.azure.convert import _attr, _int, _state, _str

    resource_id = _str(_attr(disk, "id")) or ""
    zones = _attr(disk, "zones") or ()
    tags = _attr(disk, "tags")
    tag_map = getattr(tags, "_data", tags) if tags is not None else {}
    return ManagedDisk(
        id=resource_id,
        name=_str(_attr(disk, "name")) or name_of(resource_id) or "",
        resource_group=resource_group_of(resource_id) or "",
        location=_str(_attr(disk, "location")) or "",
        size_gb=_int(_attr(disk, "disk_size_gb")),
        sku=_str(_attr(disk, "sku", "name")),
        state=_str(_attr(disk, "disk_state")),
        managed_by=_str(_attr(disk, "managed_by")) or None,
        create_option=_str(_attr(disk, "creation_data", "create_option")),
        zone=str(zones[0]) if zones else None,
        os_type=_str(_attr(disk, "os_type")),
        provisioning_state=_state(_attr(disk, "provisioning_state")),
        time_created=_str(_attr(disk, "time_created")),
        tags=tuple(sorted((str(k), str(v)) for k, v in dict(tag_map).items())) if isinstance(tag_map, dict) else (),
    )


def with_luns(disks: Iterable[ManagedDisk], instances: Iterable[Instance]) -> list[ManagedDisk]:
    """The disks with the LUN each is attached at, from instances already listed (no call)."""
    luns = {
        id_key(d.managed_disk_id): d.lun
        for instance in instances
        for d in instance.data_disks
        if d.managed_disk_id and d.lun is not None
    }
    return [replace(d, lun=luns.get(id_key(d.id), d.lun)) for d in disks]


def instance_extension_statuses(instance: Instance) -> list[ExtensionStatus]:
    """Extension statuses from the instance view that came with the instance list (no call)."""
    raw = instance.raw if isinstance(instance.raw, dict) else {}
    view = (raw.get("properties") or {}).get("instanceView") or raw.get("instanceView")
    return extension_statuses(view if isinstance(view, dict) else None)


def _is_flexible(scale_set: ScaleSet) -> bool:
    return scale_set.orchestration_mode.casefold() == "flexible"


def _model_data_disks(scale_set: ScaleSet) -> list[dict[str, Any]]:
    """The model's data disks as ARM sent them (every property kept), else from the domain copy."""
    raw = scale_set.raw if isinstance(scale_set.raw, dict) else None
    if raw is not None:
        profile = (raw.get("properties") or {}).get("virtualMachineProfile") or {}
        disks = (profile.get("storageProfile") or {}).get("dataDisks")
        if isinstance(disks, list):
            return [copy.deepcopy(d) for d in disks if isinstance(d, dict)]
    result: list[dict[str, Any]] = []
    for disk in scale_set.data_disks:
        item: dict[str, Any] = {"lun": disk.lun, "createOption": disk.create_option}
        if disk.size_gb is not None:
            item["diskSizeGB"] = disk.size_gb
        if disk.caching:
            item["caching"] = disk.caching
        if disk.sku:
            item["managedDisk"] = {"storageAccountType": disk.sku}
        if disk.name:
            item["name"] = disk.name
        result.append(item)
    return result


class DiskCalls:
    """Fleet methods for disks, Run Command and extensions."""

    if TYPE_CHECKING:
        _compute: Any

        async def _call(self, make: Any) -> Any: ...
        async def _collect(self, make_pager: Any, convert: Any) -> list[Any]: ...
        async def _run_lro(self, start: Any, on_progress: ProgressCallback | None) -> OperationResult: ...
        def _check_writable(self, what: str) -> None: ...
        async def _patch_scale_set(
            self, scale_set: ScaleSet, body: dict[str, Any], on_progress: ProgressCallback | None
        ) -> OperationResult: ...

    # ------------------------------------------------------------ managed disks

    async def list_managed_disks(self, resource_group: str | None = None) -> list[ManagedDisk]:
        """Every managed disk of the resource group (None: of the subscription), attached or not
        (`managed_by` None: attached to nothing, still billed). One paged call."""
        operations = self._compute.disks
        if resource_group:
            disks = await self._collect(lambda **kw: operations.list_by_resource_group(resource_group, **kw),
                                        managed_disk_from_sdk)
        else:
            disks = await self._collect(operations.list, managed_disk_from_sdk)
        return sorted(disks, key=lambda d: (d.resource_group.casefold(), d.name.casefold()))

    # ------------------------------------------------------------ the model's data disks

    async def add_model_data_disk(
        self,
        scale_set: ScaleSet,
        *,
        size_gb: int,
        sku: str,
        lun: int | None = None,
        caching: str = "None",
        on_progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Add an empty data disk to the scale set model (lowest free LUN unless given), keeping
        the other disks as they are. Existing instances get it through the model update (the
        upgrade policy's), new instances at once."""
        self._check_writable("adding a data disk")
        disks = _model_data_disks(scale_set)
        try:
            size, canonical_sku, chosen_lun, canonical_caching = validate_data_disk(
                size_gb=size_gb, sku=sku, lun=lun, caching=caching,
                used_luns=(int(d["lun"]) for d in disks if isinstance(d.get("lun"), int)),
            )
        except ModelChangeError as exc:
            raise FleetError("; ".join(exc.problems)) from exc
        disks.append({
            "lun": chosen_lun,
            "createOption": "Empty",
            "diskSizeGB": size,
            "caching": canonical_caching,
            "managedDisk": {"storageAccountType": canonical_sku},
        })
        body = {"properties": {"virtualMachineProfile": {"storageProfile": {"dataDisks": disks}}}}
        return await self._patch_scale_set(scale_set, body, on_progress)

    async def remove_model_data_disk(
        self, scale_set: ScaleSet, lun: int, on_progress: ProgressCallback | None = None
    ) -> OperationResult:
        """Remove the data disk at `lun` from the scale set model (the instances lose it, and its
        data, when they get the model)."""
        self._check_writable("removing a data disk")
        disks = _model_data_disks(scale_set)
        kept = [d for d in disks if d.get("lun") != lun]
        if len(kept) == len(disks):
            luns = ", ".join(str(d.get("lun")) for d in disks) or "none"
            raise FleetError(f"{scale_set.name} has no data disk at LUN {lun} (its LUNs: {luns})")
        body = {"properties": {"virtualMachineProfile": {"storageProfile": {"dataDisks": kept}}}}
        return await self._patch_scale_set(scale_set, body, on_progress)

    # ------------------------------------------------------------ one instance's disks

    async def _attach_detach(
        self, scale_set: ScaleSet, instance: Instance, body: dict[str, Any], on_progress: ProgressCallback | None
    ) -> OperationResult:
        if _is_flexible(scale_set):
            vms = self._compute.virtual_machines
            group = instance.resource_group or scale_set.resource_group
            return await self._run_lro(lambda: vms.begin_attach_detach_data_disks(group, instance.name, body),
                                       on_progress)
        scale_set_vms = self._compute.virtual_machine_scale_set_vms
        group, name, iid = scale_set.resource_group, scale_set.name, instance.instance_id
        return await self._run_lro(
            lambda: scale_set_vms.begin_attach_detach_data_disks(group, name, iid, body), on_progress
        )

    async def attach_data_disk(
        self,
        scale_set: ScaleSet,
        instance: Instance,
        disk_id: str,
        lun: int | None = None,
        caching: str = "None",
        on_progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Attach an existing managed disk to one instance (attachDetachDataDisks), at the lowest
        LUN the instance has free unless given."""
        self._check_writable("attaching a disk")
        if not (resource_group_of(disk_id) and "/providers/microsoft.compute/disks/" in disk_id.casefold()):
            raise FleetError(f"not a managed disk id: {disk_id!r}",
                             hint="/subscriptions/SUB/resourceGroups/RG/providers/Microsoft.Compute/disks/NAME")
        if any(id_key(d.managed_disk_id) == id_key(disk_id) for d in instance.data_disks if d.managed_disk_id):
            raise FleetError(f"{name_of(disk_id)} is already attached to instance {instance.instance_id}")
        try:
            chosen_lun, canonical_caching = validate_lun_and_caching(
                lun=lun, caching=caching, used_luns=(d.lun for d in instance.data_disks if d.lun is not None)
            )
        except ModelChangeError as exc:
            raise FleetError("; ".join(exc.problems)) from exc
        body = {"dataDisksToAttach": [{"diskId": disk_id, "lun": chosen_lun, "caching": canonical_caching}]}
        return await self._attach_detach(scale_set, instance, body, on_progress)

    async def detach_data_disk(
        self,
        scale_set: ScaleSet,
        instance: Instance,
        disk_id: str,
        *,
        force: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Detach a managed disk from one instance; `force` is ARM's ForceDetach (data in the
        host cache may be lost)."""
        self._check_writable("detaching a disk")
        item: dict[str, Any] = {"diskId": disk_id}
        if force:
            item["detachOption"] = "ForceDetach"
        return await self._attach_detach(scale_set, instance, {"dataDisksToDetach": [item]}, on_progress)

    # ------------------------------------------------------------ Run Command

    async def run_shell_script(
        self,
        scale_set: ScaleSet,
        instance: Instance,
        script: str,
        on_progress: ProgressCallback | None = None,
    ) -> RunCommandResult:
        """Run a shell script on one instance through Run Command (RunShellScript, as root; Azure
        runs one at a time per VM and keeps the last 4 KiB of each stream). Waits for its end.
        An operation that fails (the VM is deallocated, the agent is not ready...) raises."""
        self._check_writable("running a command")
        if not script.strip():
            raise FleetError("the script is empty")
        body = {"commandId": RUN_SHELL_SCRIPT, "script": script.splitlines()}
        pollers: list[Any] = []
        if _is_flexible(scale_set):
            vms = self._compute.virtual_machines
            group = instance.resource_group or scale_set.resource_group

            async def start() -> Any:
                pollers.append(await vms.begin_run_command(group, instance.name, body))
                return pollers[-1]
        else:
            scale_set_vms = self._compute.virtual_machine_scale_set_vms
            group, name, iid = scale_set.resource_group, scale_set.name, instance.instance_id

            async def start() -> Any:
                pollers.append(await scale_set_vms.begin_run_command(group, name, iid, body))
                return pollers[-1]

        outcome = await self._run_lro(start, on_progress)
        if outcome.status != "Succeeded":
            raise FleetError(
                outcome.error_message or f"Run Command on instance {instance.instance_id} ended {outcome.status}",
                code=outcome.error_code,
            )
        result = await self._call(pollers[-1].result)
        statuses = [dict(s) for s in (getattr(result, "value", None) or ())]
        return parse_run_command_result(statuses)

    # ------------------------------------------------------------ Custom Script extension

    async def set_custom_script_extension(
        self,
        scale_set: ScaleSet,
        script: str,
        *,
        name: str = "CustomScript",
        on_progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Put the Custom Script extension (Microsoft.Azure.Extensions / CustomScript / 2.1) on the
        scale set model with `script` (base64, in protectedSettings: never in the readable
        settings) and a fresh timestamp and forceUpdateTag, so it runs again even when the script
        is the same. The instances run it as they get the model: at once under Automatic, in
        batches under Rolling, after update-instances under Manual."""
        self._check_writable("setting the Custom Script extension")
        if not script.strip():
            raise FleetError("the script is empty")
        extension = {
            "properties": {
                "publisher": CUSTOM_SCRIPT_PUBLISHER,
                "type": CUSTOM_SCRIPT_TYPE,
                "typeHandlerVersion": CUSTOM_SCRIPT_VERSION,
                "autoUpgradeMinorVersion": True,
                "forceUpdateTag": uuid.uuid4().hex,
                "settings": {"timestamp": int(time.time())},
                "protectedSettings": {"script": base64.b64encode(script.encode("utf-8")).decode("ascii")},
            }
        }
        operations = self._compute.virtual_machine_scale_set_extensions
        group, vmss = scale_set.resource_group, scale_set.name
        return await self._run_lro(
            lambda: operations.begin_create_or_update(group, vmss, name, extension), on_progress
        )

    async def extension_statuses(self, scale_set: ScaleSet, instance: Instance) -> list[ExtensionStatus]:
        """Each extension's status on one instance, fresh from its instance view (one GET).
        `instance_extension_statuses(instance)` reads the same from the instance list, free."""
        if _is_flexible(scale_set):
            vms = self._compute.virtual_machines
            group = instance.resource_group or scale_set.resource_group
            view = await self._call(lambda: vms.instance_view(group, instance.name))
        else:
            scale_set_vms = self._compute.virtual_machine_scale_set_vms
            view = await self._call(lambda: scale_set_vms.get_instance_view(
                scale_set.resource_group, scale_set.name, instance.instance_id))
        return extension_statuses(dict(view) if view is not None else None)


def free_instance_lun(instance: Instance, taken: Sequence[int] = ()) -> int | None:
    """The lowest LUN the instance has free."""
    return next_free_lun([*(d.lun for d in instance.data_disks if d.lun is not None), *taken])
