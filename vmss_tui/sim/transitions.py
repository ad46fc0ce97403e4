"""Instance state changes as a table: each action says from which power states it may run, what
the instance shows while it runs, how long it takes, where it ends and what else it does.

    start      stopped -> starting -> running            (already running: done at once)
    powerOff   running -> stopping -> stopped
    restart    running -> running (reboot call) -> starting (guest boots) -> running
    ...

The engine (`ActionEngine`, a part of `World`) runs a row for one instance under an operation,
with Azure's rules around it: a newer action preempts an older one on the same VM (whose LRO
then ends Failed OperationPreempted), an injected fault ends the part Failed with
ProvisioningState/failed/<code>, the instance's health follows its power state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .resources import ActionFault, ArmError, Instance, Operation

if TYPE_CHECKING:
    from .state import World

log = logging.getLogger(__name__)

# Base durations in simulated seconds (recorded real durations where we have them:
# restart ~1.4 s, start ~6 s, power off ~19 s, a two-instance rolling upgrade ~41 s).
DURATIONS: dict[str, float] = {
    "start": 6.0,
    "powerOff": 19.0,
    "deallocate": 30.0,
    "restart": 1.4,
    "reimage": 30.0,
    "upgrade": 20.0,
    "create": 40.0,
    "delete": 15.0,
    "runCommand": 3.0,
    "cancel": 1.0,
    "redeploy": 45.0,
    "attachDetachDataDisks": 5.0,
    "extension": 4.0,
}
# A restart's LRO ends Succeeded after its API part (DURATIONS["restart"]) while the guest is still
# booting: the instance then reports PowerState/starting for this long before it is running.
GUEST_BOOT_AFTER_RESTART = 8.0
QUICK = 0.5  # an action with nothing to do (start a running VM) still is an operation

ANY = "*"
TRANSIENT_POWER = frozenset({"starting", "stopping", "deallocating"})


@dataclass(frozen=True)
class Refusal:
    """409 OperationNotAllowed when the instance is in one of `power` states."""

    power: frozenset[str]
    message: str  # {action} and {name} are filled in


@dataclass(frozen=True)
class Transition:
    action: str
    provisioning: str | None = "Updating"  # shown while it runs; None: the action leaves it alone
    during: Mapping[str, str] = field(default_factory=dict)  # power before -> power while it runs (ANY: default)
    quick_from: frozenset[str] = frozenset()  # power states where there is nothing to do
    end: Mapping[str, str] = field(default_factory=dict)  # power before -> power at the end (ANY: default)
    effects: tuple[str, ...] = ()  # names of ActionEngine._effect_<name>, run in order at the end
    refusals: tuple[Refusal, ...] = ()
    exclusive: bool = True  # takes the instance over (preempts, marks it busy)
    duration: str | None = None  # key of DURATIONS (default: the action)

    def power_during(self, before: str) -> str:
        return self.during.get(before, self.during.get(ANY, before))

    def power_after(self, before: str, current: str) -> str:
        return self.end.get(before, self.end.get(ANY, current))


_NOT_DEALLOCATED = Refusal(frozenset({"deallocated", "deallocating"}),
                           "Operation '{action}' is not allowed on VM '{name}' since the VM is deallocated.")
_RUNNING_ONLY = Refusal(frozenset({"starting", "stopping", "stopped", "deallocating", "deallocated"}),
                        "Cannot run command on VM '{name}' since the VM is not running.")

TRANSITIONS: dict[str, Transition] = {t.action: t for t in (
    Transition("start", during={ANY: "starting"}, quick_from=frozenset({"running"}), end={ANY: "running"},
               effects=("boot_guest_if_was_down",)),
    Transition("powerOff", during={"running": "stopping", "starting": "stopping"},
               quick_from=frozenset({"stopped", "stopping", "deallocated", "deallocating"}),
               end={"deallocated": "deallocated", ANY: "stopped"}),
    Transition("deallocate", during={ANY: "deallocating"}, quick_from=frozenset({"deallocated"}),
               end={ANY: "deallocated"}),
    # Azure keeps PowerState/running during the reboot call; "starting" follows while the guest boots.
    Transition("restart", during={"running": "running", "starting": "running"}, effects=("boot",),
               refusals=(_NOT_DEALLOCATED,)),
    Transition("redeploy", during={ANY: "starting"}, end={ANY: "running"}, effects=("guest_reboot",)),
    Transition("create", provisioning="Creating", during={ANY: "starting"}, end={ANY: "running"},
               effects=("run_extensions",)),
    Transition("reimage", during={"running": "starting"}, end={"running": "running", "starting": "running"},
               effects=("new_host_key", "guest_reimage", "rerun_extensions")),
    Transition("upgrade", during={"running": "starting"}, end={"running": "running", "starting": "running"},
               effects=("apply_latest_model",)),  # a new host key only with a new image: apply_model
    Transition("delete", provisioning="Deleting", during={"running": "stopping"}, effects=("remove",)),
    Transition("attachDetachDataDisks", effects=("attach_detach",)),
    Transition("runCommand", provisioning=None, exclusive=False, refusals=(_RUNNING_ONLY,), effects=("run_script",)),
)}


class ActionEngine:
    """The part of `World` that runs rows of the transition table."""

    def check_action_allowed(self: World, action: str, instances: list[Instance]) -> None:
        transition = TRANSITIONS.get(action)
        for inst in instances:
            if inst.provisioning == "Deleting":
                raise ArmError(409, "OperationNotAllowed",
                               f"Operation '{action}' is not allowed on VM '{inst.name}' since the VM is marked for deletion.")
            for refusal in transition.refusals if transition else ():
                if inst.power in refusal.power:
                    raise ArmError(409, "OperationNotAllowed", refusal.message.format(action=action, name=inst.name))

    def start_action(self: World, action: str, instances: list[Instance], op: Operation | None = None,
                     payload: Any = None) -> Operation:
        """Run `action` on `instances`, in parallel, under one operation (a new one unless given)."""
        self.check_action_allowed(action, instances)
        op = op or self.new_operation(action)
        fault = self.take_fault(op.name, (i.instance_id for i in instances))
        if not instances:
            self.scheduler.after(QUICK, lambda: self.finish(op))
            return op
        op.pending += len(instances)
        for index, inst in enumerate(instances):
            self.instance_action(action, inst, op, fault_for(fault, inst, index), payload)
        self.changed()
        return op

    def instance_action(self: World, action: str, inst: Instance, op: Operation, fault: ActionFault | None,
                        payload: Any = None, on_end: Callable[[Instance, bool], None] | None = None) -> None:
        """One row for one instance; `on_end(instance, succeeded)` runs when its part ends."""
        transition = TRANSITIONS[action]
        previous_power = inst.power
        self._op_instances.setdefault(op.id, []).append(inst)
        quick = previous_power in transition.quick_from
        duration = QUICK if quick else DURATIONS.get(transition.duration or action, 5.0)
        token = inst.token
        if transition.exclusive:
            if inst.busy_with is not None and inst.busy_with != action:
                # Azure preempts the older operation on the VM; its LRO ends Failed.
                for other in self._ops_touching(inst):
                    if other is not op:
                        self.finish(other, "Failed", {
                            "code": "OperationPreempted",
                            "message": f"Operation execution has been preempted by a more recent operation ({action}).",
                        })
            inst.token += 1
            token = inst.token
            inst.busy_with = action
            inst.busy_since = self.scheduler.now()
            inst.failure = None
            if transition.provisioning is not None:
                inst.provisioning = transition.provisioning
            if not quick:
                inst.power = transition.power_during(previous_power)
            if inst.health is not None and inst.power == "starting":
                inst.health = "initializing"

        def complete() -> None:
            # on_end first: the operation's own end (when this was its last part) may read what it records.
            if inst.token != token or inst.deleted:
                if on_end is not None:
                    on_end(inst, False)
                self._part_done(op)
                return
            if transition.exclusive:
                inst.busy_with = None
            if fault is not None:
                if transition.exclusive:
                    inst.power = previous_power if previous_power not in TRANSIENT_POWER else "running"
                    inst.provisioning = "Failed"
                    inst.failure = (fault.code, fault.message)
                op.failed_parts += 1
                op.pending_error = {"code": fault.code, "message": fault.message}
                if on_end is not None:
                    on_end(inst, False)
                self._part_done(op)
                self.changed()
                return
            if transition.exclusive and "remove" not in transition.effects:
                inst.provisioning = "Succeeded"
                inst.power = transition.power_after(previous_power, inst.power)
            for effect in transition.effects:
                getattr(self, f"_effect_{effect}")(inst, op, previous_power, payload)
            if transition.exclusive and not inst.deleted:
                self.update_health(inst)
            if on_end is not None:
                on_end(inst, not inst.deleted or "remove" in transition.effects)
            self._part_done(op)
            self.changed()

        self.scheduler.after(duration, complete)

    def update_health(self: World, inst: Instance) -> None:
        if inst.health is None:
            return
        if inst.power == "running":
            inst.health = "unhealthy" if inst.sick else "healthy"
        else:
            inst.health = "initializing" if inst.power == "starting" else "unknown"

    # ---- effects (at the end of a row)

    def _effect_boot(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        """After a restart's API part: PowerState/starting while the guest boots, then running,
        unless another action has taken the instance over meanwhile."""
        inst.power = "starting"
        token = inst.token

        def booted() -> None:
            if inst.token != token or inst.deleted or inst.power != "starting":
                return
            inst.power = "running"
            self.update_health(inst)
            self.guest_event(inst, "reboot")
            self.changed()

        self.scheduler.after(GUEST_BOOT_AFTER_RESTART, booted)

    def _effect_boot_guest_if_was_down(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        if before != "running":
            self.guest_event(inst, "reboot")

    def _effect_guest_reboot(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        self.guest_event(inst, "reboot")

    def _effect_guest_reimage(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        self.guest_event(inst, "reimage")

    def _effect_run_extensions(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        self.run_extensions(inst)

    def _effect_rerun_extensions(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        if inst.extensions:  # a fresh OS disk runs the extensions again
            inst.extensions.clear()
            self.run_extensions(inst)

    def _effect_new_host_key(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        inst.host_key_generation += 1

    def _effect_apply_latest_model(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        self.apply_model(inst, inst.scale_set.model_version if inst.scale_set is not None else inst.model_version)

    def _effect_remove(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        self.remove_instance(inst, force=bool(payload))

    def _effect_attach_detach(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        self.apply_disk_changes(inst, payload)
        op.output = self.storage_profile_output(inst)

    def _effect_run_script(self: World, inst: Instance, op: Operation, before: str, payload: Any) -> None:
        op.output = self.run_command_output(inst, payload)


def fault_for(fault: ActionFault | None, inst: Instance, index: int) -> ActionFault | None:
    """Which instance of an action a fault hits: the named ones, else the first."""
    if fault is None:
        return None
    if fault.instance_ids is not None:
        return fault if inst.instance_id in fault.instance_ids else None
    return fault if index == 0 else None
