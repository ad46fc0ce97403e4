"""Microsoft.Compute resource types: scale sets, their instances, virtual machines, disks,
scale set extensions; their verbs (actions, instance views, rolling upgrades, run command,
attach/detach) and Azure's refusals for Flexible scale sets."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import render
from .registry import LIST, RESOURCE_GROUP, SUBSCRIPTION, ResourceType, Routed
from .resources import ArmError, Instance, ManagedDisk, ScaleSet, compute_not_found

if TYPE_CHECKING:
    from .arm import ArmApp

SCALE_SET_ACTIONS = {
    "start": "start",
    "poweroff": "powerOff",
    "deallocate": "deallocate",
    "restart": "restart",
    "reimage": "reimage",
    "reimageall": "reimage",
    "redeploy": "redeploy",
    "delete": "delete",
    "manualupgrade": "manualupgrade",
}
INSTANCE_ACTIONS = {
    "start": "start",
    "poweroff": "powerOff",
    "deallocate": "deallocate",
    "restart": "restart",
    "reimage": "reimage",
    "reimageall": "reimage",
    "redeploy": "redeploy",
}
_SCALE_SET_FILTER = re.compile(r"^\s*'?virtualMachineScaleSet/id'?\s+eq\s+'([^']*)'\s*$", re.IGNORECASE)


def _wants_view(routed: Routed) -> bool:
    return routed.ctx.query.get("$expand", "").lower() == "instanceview"


def _not_a_number() -> ArmError:
    return ArmError(400, "InvalidParameter", "Virtual Machine Scale Set VM instanceId must be a number.")


def _flexible_refusal(ss: ScaleSet, operation: str) -> ArmError:
    return ArmError(400, "OperationNotAllowed",
                    f"Operation '{operation}' is not allowed on Virtual Machine Scale Set '{ss.name}'.")


def _uniform_instance(routed: Routed) -> Instance:
    """The instance a scale-set-VM call names; a Flexible VM's name there is refused."""
    inst: Instance = routed.obj
    if not inst.is_uniform:
        raise _not_a_number()
    return inst


async def _instance_ids(routed: Routed) -> list[str] | None:
    body = await routed.ctx.json_body()
    ids = body.get("instanceIds")
    if ids is not None and not isinstance(ids, list):
        raise ArmError(400, "InvalidParameter", "The value of parameter 'instanceIds' must be a list.")
    return [str(i) for i in ids] if ids else None


def _force(routed: Routed) -> bool:
    return routed.ctx.query.get("forceDeletion", "").lower() == "true"


def register(app: ArmApp) -> None:
    reg = app.registry

    # ---- scale sets

    scale_sets = reg.add(ResourceType(
        "Microsoft.Compute/virtualMachineScaleSets",
        render=lambda routed, ss: render.scale_set(routed.world, ss),
        scopes=frozenset({RESOURCE_GROUP, SUBSCRIPTION}),
    ))

    @scale_sets.on("PATCH")
    async def patch_scale_set(routed: Routed) -> web.Response:
        ss: ScaleSet = routed.obj
        body = await routed.ctx.json_body()
        op = routed.world.update_scale_set(ss, body)
        headers = {"Azure-AsyncOperation": app.operation_headers(routed.ctx, routed.world, op)["Azure-AsyncOperation"]}
        return web.json_response(render.scale_set(routed.world, ss), status=200, headers=headers)

    @scale_sets.on("GET", "instanceView")
    async def scale_set_instance_view(routed: Routed) -> web.Response:
        ss: ScaleSet = routed.obj
        if ss.orchestration_mode == "Flexible":
            raise _flexible_refusal(ss, "VirtualMachineScaleSets.instanceView.GET")
        return web.json_response(render.scale_set_instance_view(routed.world, ss))

    async def scale_set_action(routed: Routed, action: str) -> web.Response:
        ss: ScaleSet = routed.obj
        world = routed.world
        ids = await _instance_ids(routed)
        if action in ("delete", "manualupgrade") and not ids:
            raise ArmError(400, "InvalidParameter", "Required parameter 'instanceIds' is missing (null).")
        instances = world.resolve_instances(ss, ids)
        if action == "manualupgrade":
            op = world.manual_upgrade(ss, instances)
        elif action == "delete":
            world.check_action_allowed("delete", instances)
            ss.capacity = max(0, ss.capacity - len(instances))
            op = world.start_action("delete", instances, payload=_force(routed))
        else:
            op = world.start_action(action, instances)
        return app.accepted(routed, op)

    for verb, action in SCALE_SET_ACTIONS.items():
        scale_sets.on("POST", verb)(lambda routed, action=action: scale_set_action(routed, action))

    @scale_sets.on("POST", "osRollingUpgrade")
    async def os_rolling_upgrade(routed: Routed) -> web.Response:
        return app.accepted(routed, routed.world.start_rolling_upgrade(routed.obj))

    @scale_sets.on("POST", "rollingUpgrades/cancel")
    async def cancel_rolling_upgrade(routed: Routed) -> web.Response:
        return app.accepted(routed, routed.world.cancel_rolling_upgrade(routed.obj))

    @scale_sets.on("GET", "rollingUpgrades/latest")
    async def latest_rolling_upgrade(routed: Routed) -> web.Response:
        ss: ScaleSet = routed.obj
        if ss.rolling is None:
            raise compute_not_found()
        return web.json_response(render.rolling_upgrade(routed.world, ss))

    # ---- scale set instances (Uniform: the instances; Flexible: thin entries and refusals)

    def find_instance(routed: Routed, ss: ScaleSet, name: str) -> Instance | None:
        if ss.orchestration_mode == "Flexible":
            return next((i for i in ss.instances.values() if i.instance_id.lower() == name.lower()), None)
        return ss.instances.get(name)

    instances = reg.add(ResourceType(
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
        render=lambda routed, inst: render.instance(routed.world, inst, _wants_view(routed)),
        find=find_instance,
    ))

    @instances.on("GET", LIST)
    async def list_instances(routed: Routed) -> web.Response:
        ss: ScaleSet = routed.parent
        if ss.orchestration_mode == "Flexible":
            if _wants_view(routed):
                raise _flexible_refusal(ss, "VirtualMachineScaleSets.virtualMachines.GET")
            return app.paged(routed.ctx, ss.sorted_instances(),
                             lambda i: render.flexible_scale_set_vm(routed.world, i, routed.ctx.api_version))
        expand = _wants_view(routed)
        return app.paged(routed.ctx, ss.sorted_instances(), lambda i: render.instance(routed.world, i, expand))

    @instances.on("GET")
    async def get_instance(routed: Routed) -> web.Response:
        inst: Instance = routed.obj
        if inst.is_flexible:
            if _wants_view(routed) or routed.ctx.api_version < "2025-11-01":
                raise _not_a_number()
            return web.json_response(render.flexible_scale_set_vm(routed.world, inst, routed.ctx.api_version, single=True))
        return web.json_response(render.instance(routed.world, inst, _wants_view(routed)))

    @instances.on("DELETE")
    async def delete_instance(routed: Routed) -> web.Response:
        inst = _uniform_instance(routed)
        ss = routed.parent
        routed.world.check_action_allowed("delete", [inst])
        ss.capacity = max(0, ss.capacity - 1)
        return app.accepted(routed, routed.world.start_action("delete", [inst], payload=_force(routed)))

    @instances.on("GET", "instanceView")
    async def get_instance_view(routed: Routed) -> web.Response:
        return web.json_response(render.instance_view(routed.world, _uniform_instance(routed)))

    async def instance_action(routed: Routed, action: str) -> web.Response:
        inst = _uniform_instance(routed)
        return app.accepted(routed, routed.world.start_action(action, [inst]))

    for verb, action in INSTANCE_ACTIONS.items():
        instances.on("POST", verb)(lambda routed, action=action: instance_action(routed, action))

    instances.on("POST", "runCommand")(lambda routed: run_command(routed, _uniform_instance(routed)))
    instances.on("POST", "attachDetachDataDisks")(lambda routed: attach_detach(routed, _uniform_instance(routed)))

    # ---- virtual machines (Flexible scale sets' VMs and VMs of no scale set)

    def vm_members(routed: Routed) -> list[Instance]:
        query = routed.ctx.query
        members: list[Instance] = routed.world.store.under(virtual_machines.key, routed.scope)
        raw_filter = query.get("$filter")
        if raw_filter:
            match = _SCALE_SET_FILTER.match(raw_filter)
            if match is None:
                raise ArmError(400, "InvalidParameter",
                               f"The $filter '{raw_filter}' is not supported: only 'virtualMachineScaleSet/id' eq '<id>'.")
            wanted = match.group(1).lower()
            members = [vm for vm in members if vm.scale_set is not None and vm.scale_set.id.lower() == wanted]
        expand = query.get("$expand")
        if expand is not None:
            if expand.lower() != "instanceview":
                raise ArmError(400, "InvalidParameter", f"The value '{expand}' of parameter '$expand' is not valid.")
            if not raw_filter:
                raise ArmError(400, "BadRequest",
                               "Expand Instance View is only supported when Virtual Machine Scale Set resource filter is applied")
        return members

    def vm_view_wanted(routed: Routed) -> bool:
        return _wants_view(routed) or routed.ctx.query.get("statusOnly", "").lower() == "true"

    virtual_machines = reg.add(ResourceType(
        "Microsoft.Compute/virtualMachines",
        render=lambda routed, vm: render.virtual_machine(routed.world, vm, vm_view_wanted(routed)),
        members=vm_members,
        scopes=frozenset({RESOURCE_GROUP, SUBSCRIPTION}),
        page_size=lambda routed: app.vm_page_size,
    ))

    @virtual_machines.on("DELETE")
    async def delete_virtual_machine(routed: Routed) -> web.Response:
        vm: Instance = routed.obj
        routed.world.check_action_allowed("delete", [vm])
        if vm.scale_set is not None:
            vm.scale_set.capacity = max(0, vm.scale_set.capacity - 1)
        return app.accepted(routed, routed.world.start_action("delete", [vm], payload=_force(routed)))

    @virtual_machines.on("GET", "instanceView")
    async def vm_instance_view(routed: Routed) -> web.Response:
        return web.json_response(render.instance_view(routed.world, routed.obj))

    async def vm_action(routed: Routed, action: str) -> web.Response:
        return app.accepted(routed, routed.world.start_action(action, [routed.obj]))

    for verb, action in INSTANCE_ACTIONS.items():
        if verb != "reimageall":
            virtual_machines.on("POST", verb)(lambda routed, action=action: vm_action(routed, action))
    virtual_machines.on("POST", "runCommand")(lambda routed: run_command(routed, routed.obj))
    virtual_machines.on("POST", "attachDetachDataDisks")(lambda routed: attach_detach(routed, routed.obj))

    # ---- run command and disks attach/detach, on either kind of instance

    async def run_command(routed: Routed, inst: Instance) -> web.Response:
        body = await routed.ctx.json_body()
        if not body.get("commandId"):
            raise ArmError(400, "InvalidParameter", "Required parameter 'commandId' is missing (null).")
        world = routed.world
        world.check_action_allowed("runCommand", [inst])
        if any(op.name == "runCommand" for op in world._ops_touching(inst)):
            raise ArmError(409, "Conflict", "Run command extension execution is in progress. Please wait for "
                                            "completion before invoking a run command.")
        op = world.new_operation("runCommand")
        return app.accepted(routed, world.start_action("runCommand", [inst], op, payload=body))

    async def attach_detach(routed: Routed, inst: Instance) -> web.Response:
        body = await routed.ctx.json_body()
        plan = routed.world.plan_disk_changes(inst, body)
        return app.accepted(routed, routed.world.start_action("attachDetachDataDisks", [inst], payload=plan))

    # ---- managed disks

    def disk_not_found(routed: Routed, name: str) -> ArmError:
        return ArmError(404, "ResourceNotFound", f"The Resource 'Microsoft.Compute/disks/{name}' under resource group "
                                                 f"'{routed.resource_group}' was not found.")

    def find_disk(routed: Routed, parent: Any, name: str) -> Any:
        found = routed.world.store.get(routed.world.resource_id(routed.resource_group, "Microsoft.Compute", "disks", name))
        if found is None and routed.ctx.request.method == "PUT":
            return _NEW  # a PUT creates it
        return found

    disks = reg.add(ResourceType(
        "Microsoft.Compute/disks",
        render=lambda routed, disk: render.disk(routed.world, disk),
        find=find_disk,
        members=lambda routed: routed.world.sorted_disks(routed.world.store.under(disks.key, routed.scope)),
        not_found=disk_not_found,
        scopes=frozenset({RESOURCE_GROUP, SUBSCRIPTION}),
    ))

    @disks.on("PUT")
    async def put_disk(routed: Routed) -> web.Response:
        body = await routed.ctx.json_body()
        existing: ManagedDisk | None = None if routed.obj is _NEW else routed.obj
        routed.world.put_disk(routed.resource_group, routed.name or "", body, existing)
        # Disks answer 202: the final GET of the disk reads it (Succeeded once the operation ends).
        op = routed.world.new_operation("putDisk")
        routed.world.scheduler.after(1.0, lambda: routed.world.finish(op))
        return app.accepted(routed, op)

    @disks.on("DELETE")
    async def delete_disk(routed: Routed) -> web.Response:
        disk: ManagedDisk = routed.obj
        if disk.managed_by is not None:
            raise ArmError(409, "OperationNotAllowed", f"Disk {disk.name} is attached to VM {disk.managed_by.id}.")
        routed.world.store.remove(disk.id)
        return web.Response(status=200)

    # ---- scale set extensions (part of the scale set model)

    def find_extension(routed: Routed, ss: ScaleSet, name: str) -> Any:
        found = routed.world.model_extension(ss, name)
        if found is None and routed.ctx.request.method == "PUT":
            return _NEW
        return found

    extensions = reg.add(ResourceType(
        "Microsoft.Compute/virtualMachineScaleSets/extensions",
        render=lambda routed, ext: render.scale_set_extension(routed.world, routed.parent, ext),
        find=find_extension,
        members=lambda routed: routed.world.model_extensions(routed.parent),
    ))

    @extensions.on("PUT")
    async def put_extension(routed: Routed) -> web.Response:
        ss: ScaleSet = routed.parent
        body = await routed.ctx.json_body()
        created = routed.obj is _NEW
        ext, op = routed.world.put_model_extension(ss, routed.name or "", body)
        headers = {"Azure-AsyncOperation": app.operation_headers(routed.ctx, routed.world, op)["Azure-AsyncOperation"]}
        return web.json_response(render.scale_set_extension(routed.world, ss, ext, provisioning="Creating" if created
                                                            else "Updating"), status=201 if created else 200,
                                 headers=headers)

    @extensions.on("DELETE")
    async def delete_extension(routed: Routed) -> web.Response:
        op = routed.world.delete_model_extension(routed.parent, routed.name or "")
        return app.accepted(routed, op)


class _New:
    """Marks a PUT target that does not exist yet."""

    id = ""


_NEW = _New()
