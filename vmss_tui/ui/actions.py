"""The mutating actions the console offers, and the words its confirmation dialogs use.

Ids of instance actions are `vmss_tui.domain.actions`'; the scale-set actions are `scale`,
`start_all` and `stop_all`. Kept free of Textual so the dialog text can be checked on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmss_tui.domain.actions import DEALLOCATE, DELETE, POWER_OFF, REIMAGE, RESTART, START, UPDATE
from vmss_tui.domain.models import Instance, ScaleSet
from vmss_tui.ui.format import pluralize, summarize_ids


@dataclass(frozen=True, slots=True)
class ActionSpec:
    id: str  # INSTANCE_ACTIONS id, or scale / start_all / stop_all
    label: str  # button and palette text: "Restart"
    effect: str  # one sentence: what happens to each instance
    destructive: bool = False  # red button
    type_name: bool = False  # the scale set's name must be typed to confirm
    # Which power states the action changes nothing for: such instances are left out, and said so.
    no_op_states: tuple[str, ...] = ()
    already: str = ""  # how a person says it: "Already running"
    # What the affected rows read while the operation runs ("restarting…").
    pending: str = ""


INSTANCE_ACTION_SPECS: dict[str, ActionSpec] = {
    spec.id: spec
    for spec in (
        ActionSpec(START, "Start", "boots the VM; compute billing resumes.", no_op_states=("running",),
                   already="Already running", pending="starting…"),
        ActionSpec(RESTART, "Restart", "reboots the guest OS; the VM stays allocated and keeps its disks and IPs.",
                   pending="restarting…"),
        ActionSpec(
            POWER_OFF,
            "Stop (power off)",
            "powers the VM off without a guest shutdown; it stays allocated and compute is still billed.",
            no_op_states=("stopped", "deallocated"),
            already="Already stopped or deallocated",
            pending="stopping…",
        ),
        ActionSpec(
            DEALLOCATE,
            "Deallocate",
            "stops the VM and releases its compute (billing stops); ephemeral disks are lost.",
            no_op_states=("deallocated",),
            already="Already deallocated",
            pending="deallocating…",
        ),
        ActionSpec(
            REIMAGE,
            "Reimage",
            "replaces the OS disk with a new one from the image: everything on the OS disk is lost "
            "and the SSH host key changes.",
            destructive=True,
            type_name=True,
            pending="reimaging…",
        ),
        ActionSpec(
            UPDATE,
            "Update to latest model",
            "applies the scale set's current model (manual upgrade); the instance may restart.",
            already="Already on the latest model",
            pending="updating…",
        ),
        ActionSpec(
            DELETE,
            "Delete",
            "deletes the VM and its OS disk for good; the scale set's capacity goes down accordingly.",
            destructive=True,
            type_name=True,
            pending="deleting…",
        ),
    )
}

SCALE_SET_ACTION_SPECS: dict[str, ActionSpec] = {
    spec.id: spec
    for spec in (
        ActionSpec("scale", "Scale", "sets the scale set's capacity.", pending="scaling…"),
        ActionSpec("start_all", "Start all", "boots every instance of the scale set.", no_op_states=("running",),
                   pending="starting…"),
        ActionSpec(
            "stop_all",
            "Stop all",
            "powers off every instance of the scale set; they stay allocated and compute is still billed.",
            no_op_states=("stopped", "deallocated"),
            pending="stopping…",
        ),
    )
}


def instance_action_title(spec: ActionSpec, scale_set: ScaleSet, instances: list[Instance]) -> str:
    """A question a person can answer: `Restart instance 2 of vmss-web?`, `Update instances 1, 4
    of vmss-web to the latest model?`."""
    ids = [i.instance_id for i in instances]
    which = f"instance {ids[0]}" if len(ids) == 1 else f"{len(ids)} instances ({summarize_ids(ids, limit=6)})"
    if spec.id == UPDATE:
        return f"Update {which} of {scale_set.name} to the latest model?"
    return f"{spec.label} {which} of {scale_set.name}?"


def is_no_op(spec: ActionSpec, instance: Instance) -> bool:
    """The action would change nothing for this instance (start a running one, update one that
    already runs the latest model)."""
    if instance.power_state in spec.no_op_states:
        return True
    return spec.id == UPDATE and instance.latest_model is True


def already_text(spec: ActionSpec, instances: list[Instance]) -> str:
    """`Already running: instance 0`, `Already on the latest model: instances 1, 4`."""
    ids = [i.instance_id for i in instances]
    which = f"instance {ids[0]}" if len(ids) == 1 else f"instances {summarize_ids(ids)}"
    return f"{spec.already or 'Nothing to do'}: {which}"


def instance_action_summary(spec: ActionSpec, scale_set: ScaleSet, instances: list[Instance],
                            skipped: list[Instance] | None = None) -> str:
    """The sentence above the instance list in the dialog (`skipped`: left out, already there)."""
    subject = "this instance" if len(instances) == 1 else f"each of these {len(instances)} instances"
    text = f"{spec.label} {subject} of {scale_set.name} (resource group {scale_set.resource_group}): {spec.effect}"
    if skipped:
        text += f" Left out: {already_text(spec, skipped)}."
    if spec.id == DELETE:
        text += f" Capacity {scale_set.capacity} -> {max(0, scale_set.capacity - len(instances))}."
    return text


def scale_effect(scale_set: ScaleSet, target: int, victims: list[Instance] | None = None) -> str:
    """What scaling to `target` does (`victims`: the instances a scale-in removes, where known)."""
    if target == scale_set.capacity:
        return f"{scale_set.name} already has capacity {target}: nothing to do."
    if target > scale_set.capacity:
        return (f"Capacity {scale_set.capacity} -> {target}: Azure creates "
                f"{pluralize(target - scale_set.capacity, 'instance')} from the current model.")
    count = pluralize(scale_set.capacity - target, "instance")
    if victims:
        which = summarize_ids([i.instance_id for i in victims])
        return (f"Capacity {scale_set.capacity} -> {target}: Azure deletes {count} with their OS disks: "
                f"{which} (the highest instance ids, by the Default scale-in policy).")
    return (f"Capacity {scale_set.capacity} -> {target}: Azure deletes {count} with their OS disks, "
            "chosen by the scale-in policy (zones, fault domains and the policy's rules decide which).")


def operation_label(spec: ActionSpec, scale_set: ScaleSet, instance_ids: list[str]) -> str:
    """Who did what to which, for the progress line and the notifications:
    `Restart of vmss-web instance 2`, `Stop (power off) of vmss-web instances 1, 6`."""
    if len(instance_ids) == 1:
        return f"{spec.label} of {scale_set.name} instance {instance_ids[0]}"
    return f"{spec.label} of {scale_set.name} instances {summarize_ids(instance_ids, limit=6)}"


def pending_on_scale_set(spec: ActionSpec, count: int | None) -> str:
    """The scale set row's provisioning cell while an instance action runs: `restarting 2 instances…`."""
    verb = spec.pending.removesuffix("…")
    return f"{verb} {pluralize(count, 'instance')}…" if count else spec.pending
