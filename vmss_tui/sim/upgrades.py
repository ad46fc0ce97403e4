"""Scale set model changes and how they reach the instances: scaling, the upgrade policies
(Automatic: everyone at once; Manual: nothing until update-instances; Rolling: batches by
`rollingUpgradePolicy`), rolling upgrades with their thresholds, pause, surge and cancel."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .resources import ActionFault, ArmError, Instance, Operation, RollingUpgrade, RolloutRecord, ScaleSet
from .topology import RollingPolicySpec
from .transitions import DURATIONS, fault_for

if TYPE_CHECKING:
    from .state import World


def parse_duration(text: str) -> float:
    """ISO 8601 durations as rolling upgrade policies use them (PT0S, PT2M, PT1H30M)."""
    match = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?)?", text or "PT0S")
    if not match:
        return 0.0
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def rolling_policy_dict(spec: RollingPolicySpec | None) -> dict[str, Any]:
    spec = spec or RollingPolicySpec()
    return {
        "maxBatchInstancePercent": spec.max_batch_instance_percent,
        "maxUnhealthyInstancePercent": spec.max_unhealthy_instance_percent,
        "maxUnhealthyUpgradedInstancePercent": spec.max_unhealthy_upgraded_instance_percent,
        "pauseTimeBetweenBatches": spec.pause_time_between_batches,
        "prioritizeUnhealthyInstances": spec.prioritize_unhealthy_instances,
        "maxSurge": spec.max_surge,
        "rollbackFailedInstancesOnPolicyBreach": False,
    }


def deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def has_health_extension(profile: dict[str, Any]) -> bool:
    return any(str(e.get("properties", {}).get("type", "")).startswith("ApplicationHealth")
               for e in profile.get("extensionProfile", {}).get("extensions", []))


class UpgradeEngine:
    """The part of `World` that changes scale set models and rolls them out."""

    def update_scale_set(self: World, ss: ScaleSet, patch: dict[str, Any]) -> Operation:
        """Apply a PATCH body; returns the operation that tracks scaling / automatic upgrades."""
        sku = patch.get("sku") or {}
        props = patch.get("properties") or {}
        new_capacity = ss.capacity
        if "capacity" in sku:
            capacity = sku["capacity"]
            if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 0 or capacity > 1000:
                raise ArmError(400, "InvalidParameter",
                               f"The value {capacity!r} of parameter 'sku.capacity' is out of range. The value must be between 0 and 1000, inclusive.",
                               details=None)
            new_capacity = capacity
        upgrade_policy = props.get("upgradePolicy")
        if upgrade_policy is not None:
            mode = upgrade_policy.get("mode")
            if mode is not None and mode not in ("Automatic", "Manual", "Rolling"):
                raise ArmError(400, "InvalidParameter", f"The value '{mode}' of parameter 'upgradePolicy.mode' is not valid.")
        model_changed = False
        if sku.get("name") and sku["name"] != ss.sku_name:
            ss.sku_name = sku["name"]
            model_changed = True
        if "virtualMachineProfile" in props and props["virtualMachineProfile"]:
            merged = copy.deepcopy(ss.models[ss.model_version])
            deep_merge(merged, props["virtualMachineProfile"])
            if merged != ss.models[ss.model_version]:
                model_changed = True
                ss.models.append(merged)
        if model_changed:
            if len(ss.models) == ss.model_version + 1:
                ss.models.append(copy.deepcopy(ss.models[ss.model_version]))
            ss.model_version = len(ss.models) - 1
        if upgrade_policy is not None:
            if (upgrade_policy.get("mode") == "Rolling" and ss.orchestration_mode == "Flexible"
                    and not has_health_extension(ss.models[ss.model_version])):
                raise ArmError(400, "InvalidParameter",
                               "The Rolling upgrade policy of a Flexible scale set needs the Application Health "
                               "extension in the scale set model.", details=[{
                                   "code": "InvalidParameter", "target": "upgradePolicy.mode",
                                   "message": "Add the Application Health extension before choosing Rolling."}])
            if upgrade_policy.get("mode"):
                ss.upgrade_mode = upgrade_policy["mode"]
            if upgrade_policy.get("rollingUpgradePolicy"):
                ss.rolling_policy = {**(ss.rolling_policy or rolling_policy_dict(None)), **upgrade_policy["rollingUpgradePolicy"]}
            elif ss.upgrade_mode == "Rolling" and ss.rolling_policy is None:
                ss.rolling_policy = rolling_policy_dict(None)
        if "tags" in patch and isinstance(patch["tags"], dict):
            ss.tags = dict(patch["tags"])
        for key, value in props.items():
            if key in ("overprovision", "singlePlacementGroup", "doNotRunExtensionsOnOverprovisionedVMs"):
                ss.extra_properties[key] = value

        op = self.new_operation("update")
        ss.provisioning_state = "Updating"
        ss.updates_running += 1

        def settle(done: Operation) -> None:
            ss.updates_running -= 1
            if ss.updates_running <= 0:
                ss.provisioning_state = "Failed" if done.status == "Failed" else "Succeeded"

        op.on_done.append(settle)
        parts: list[tuple[str, list[Instance]]] = []
        if new_capacity > ss.capacity:
            created = [self.create_instance(ss, ready=False) for _ in range(new_capacity - ss.capacity)]
            parts.append(("create", created))
        elif new_capacity < ss.capacity:
            victims = self.scale_in_victims(ss, ss.capacity - new_capacity)
            parts.append(("delete", victims))
        ss.capacity = new_capacity
        if model_changed and ss.upgrade_mode == "Automatic":
            outdated = [i for i in ss.sorted_instances() if not i.latest_model and i.provisioning not in ("Deleting", "Creating")]
            parts.append(("upgrade", outdated))
        scaling = bool(parts) and parts[0][0] in ("create", "delete")
        if ss.upgrade_mode == "Rolling" and (model_changed or not scaling) and (
                ss.rolling is None or ss.rolling.code != "RollingForward") and any(
                not i.latest_model and i.provisioning not in ("Deleting", "Creating") for i in ss.instances.values()):
            # A model change rolls out by itself under the Rolling policy; so does a PATCH that
            # changes nothing while instances are behind (Azure's way to restart a cancelled or
            # faulted rollout: a "generic model update"). Scaling alone leaves them as they are.
            self.start_rolling_upgrade(ss)
        total = sum(len(p[1]) for p in parts)
        fault = self.take_fault("update", (i.instance_id for _, insts in parts for i in insts))
        if fault is not None:
            op.pending_error = {"code": fault.code, "message": fault.message}
        if total == 0:
            self.scheduler.after(1.0, lambda: self.finish(op, "Failed" if op.pending_error else "Succeeded", op.pending_error))
        else:
            op.pending = total
            for action, insts in parts:
                for inst in insts:
                    self.instance_action(action, inst, op, None)
        self.changed()
        return op

    def scale_in_victims(self: World, ss: ScaleSet, count: int) -> list[Instance]:
        """Default scale-in policy: the highest instance ids (Flexible: the newest VMs) go first."""
        return [i for i in reversed(ss.sorted_instances()) if i.provisioning != "Deleting"][:count]

    # ---- rolling upgrades

    def start_rolling_upgrade(self: World, ss: ScaleSet) -> Operation:
        if ss.rolling is not None and ss.rolling.code == "RollingForward":
            raise ArmError(409, "OperationNotAllowed",
                           "Rolling Upgrade cannot be started since there is already an ongoing upgrade.")
        policy = dict(ss.rolling_policy or rolling_policy_dict(None))
        op = self.new_operation("osRollingUpgrade")
        ordered = ss.sorted_instances()
        targets = [i for i in ordered if not i.latest_model and i.provisioning != "Deleting"]
        if policy.get("prioritizeUnhealthyInstances"):
            position = {id(i): n for n, i in enumerate(ordered)}
            targets.sort(key=lambda i: (i.health != "unhealthy", position[id(i)]))
        now = self.scheduler.now()
        ru = RollingUpgrade(policy=policy, start_time=now, operation=op, pending=targets, last_action_time=now)
        ss.rolling = ru
        fault = self.take_fault("osRollingUpgrade", (i.instance_id for i in targets))
        self.scheduler.after(0.5, lambda: self._next_batch(ss, ru, fault))
        self.changed()
        return op

    def _next_batch(self: World, ss: ScaleSet, ru: RollingUpgrade, fault: ActionFault | None) -> None:
        if ru.code != "RollingForward":
            return
        if ru.cancel_requested:
            self._finish_rolling(ss, ru, "Cancelled")
            return
        ru.pending = [i for i in ru.pending if not i.deleted]
        if not ru.pending:
            self._finish_rolling(ss, ru, "Completed")
            return
        everyone = [i for i in ss.instances.values() if i.provisioning != "Deleting"]
        unhealthy = [i for i in everyone if i.health == "unhealthy" or i.provisioning == "Failed"]
        limit = ru.policy.get("maxUnhealthyInstancePercent", 20)
        if everyone and 100 * len(unhealthy) / len(everyone) > limit:
            pct = round(100 * len(unhealthy) / len(everyone))
            self._finish_rolling(ss, ru, "Faulted", {
                "code": "MaxUnhealthyInstancePercentExceededInRollingUpgrade",
                "message": f"Rolling Upgrade failed after exceeding the MaxUnhealthyInstancePercent value defined in the "
                           f"RollingUpgradePolicy. {pct}% of instances are in an unhealthy state - more than the "
                           f"threshold of {limit}% configured in the RollingUpgradePolicy.",
            })
            return
        batch_size = max(1, math.floor(len(everyone) * ru.policy.get("maxBatchInstancePercent", 20) / 100))
        batch, ru.pending = ru.pending[:batch_size], ru.pending[batch_size:]
        ru.in_progress = batch
        ru.batches += 1
        ru.last_action_time = self.scheduler.now()
        number = ru.batches
        part = Operation(id=f"batch-{self.new_uuid()}", name="upgrade", location=self.location, start=self.scheduler.now())
        batch_fault = fault if fault is not None and (fault.instance_ids is None or
                                                      fault.instance_ids & {i.instance_id for i in batch}) else None
        records = {id(i): RolloutRecord(i.instance_id, number, self.scheduler.now()) for i in batch}
        ru.records.extend(records.values())

        def ended(inst: Instance, succeeded: bool) -> None:
            record = records.get(id(inst))
            if record is None:
                return
            record.ended = self.scheduler.now()
            if not succeeded:
                record.result = "Failed"
            elif inst.health == "unhealthy":
                record.result = "Unhealthy"  # upgraded, but the new model does not come up healthy
            else:
                record.result = "Succeeded"

        def batch_done(done: Operation) -> None:
            if ru.code != "RollingForward":
                return
            failed = sum(1 for i in batch if records[id(i)].result in ("Failed", "Unhealthy"))
            ru.failed += failed
            ru.successful += len(batch) - failed
            ru.in_progress = []
            upgraded = ru.successful + ru.failed
            limit_up = ru.policy.get("maxUnhealthyUpgradedInstancePercent", 20)
            if failed and upgraded and 100 * ru.failed / upgraded > limit_up:
                pct = round(100 * ru.failed / upgraded)
                self._finish_rolling(ss, ru, "Faulted", {
                    "code": "MaxUnhealthyUpgradedInstancePercentExceededInRollingUpgrade",
                    "message": f"Rolling Upgrade failed after exceeding the MaxUnhealthyUpgradedInstancePercent value "
                               f"defined in the RollingUpgradePolicy. {pct}% of upgraded instances are in an unhealthy "
                               f"state - more than the threshold of {limit_up}% configured in the RollingUpgradePolicy.",
                })
                return
            pause = parse_duration(str(ru.policy.get("pauseTimeBetweenBatches", "PT0S"))) if (
                ru.pending and not ru.cancel_requested) else 0.0
            self.scheduler.after(pause, lambda: self._next_batch(ss, ru, fault))

        part.on_done.append(batch_done)
        if ru.policy.get("maxSurge"):
            self._surge_batch(ss, ru, batch, part, records, batch_fault, ended)
        else:
            part.pending = len(batch)
            for index, inst in enumerate(batch):
                self.instance_action("upgrade", inst, part, fault_for(batch_fault, inst, index), on_end=ended)
        self.changed()

    def _surge_batch(self: World, ss: ScaleSet, ru: RollingUpgrade, batch: list[Instance], part: Operation,
                     records: dict[int, RolloutRecord], fault: ActionFault | None,
                     ended: Callable[[Instance, bool], None]) -> None:
        """maxSurge: new instances on the new model first, then the old ones of the batch go."""
        created = [self.create_instance(ss, ready=False) for _ in batch]
        for new in created:
            ru.records.append(RolloutRecord(new.instance_id, ru.batches, self.scheduler.now(), surge=True))
        surge_records = {r.instance_id: r for r in ru.records[-len(created):]}
        creation = Operation(id=f"surge-{self.new_uuid()}", name="create", location=self.location,
                             start=self.scheduler.now(), pending=len(created))

        def replaced(record: RolloutRecord) -> Callable[[Instance, bool], None]:
            def close(inst: Instance, succeeded: bool) -> None:
                record.ended = self.scheduler.now()
                record.result = "Succeeded"
            return close

        def created_one(inst: Instance, succeeded: bool) -> None:
            record = surge_records[inst.instance_id]
            record.ended = self.scheduler.now()
            record.result = "Succeeded" if succeeded and inst.health != "unhealthy" else (
                "Unhealthy" if succeeded else "Failed")

        def replace_old(done: Operation) -> None:
            # Each old instance goes when its replacement came up; the others stay (and count failed).
            part.pending = len(batch)
            for old, new in zip(batch, created, strict=True):
                if surge_records[new.instance_id].result == "Succeeded" and not old.deleted:
                    self.instance_action("delete", old, part, None, on_end=replaced(records[id(old)]))
                else:
                    ended(old, False)
                    self._part_done(part)

        creation.on_done.append(replace_old)
        for index, inst in enumerate(created):
            self.instance_action("create", inst, creation, fault_for(fault, batch[index], index), on_end=created_one)

    def _finish_rolling(self: World, ss: ScaleSet, ru: RollingUpgrade, code: str, error: dict[str, Any] | None = None) -> None:
        ru.code = code
        ru.end_time = self.scheduler.now()
        ru.last_action_time = ru.end_time
        if code == "Cancelled":
            ru.last_action = "Cancel"
            ru.error = {
                "code": "RollingUpgradeCanceled",
                "message": "The Rolling Upgrade was canceled.",
                "details": [{"code": "RollingUpgradeCanceled", "target": f"{ss.name}/virtualMachines/{i.instance_id}",
                             "message": "The Rolling Upgrade was canceled before this instance was upgraded."}
                            for i in ru.pending],
            }
            self.finish(ru.operation, "Canceled", {"code": "RollingUpgradeCanceled", "message": "The Rolling Upgrade was canceled."})
            for cancel_op in ru.cancel_ops:
                self.finish(cancel_op)
        elif code == "Faulted":
            ru.error = error
            self.finish(ru.operation, "Failed", error)
        else:
            self.finish(ru.operation)
        self.changed()

    def cancel_rolling_upgrade(self: World, ss: ScaleSet) -> Operation:
        ru = ss.rolling
        if ru is None or ru.code != "RollingForward":
            raise ArmError(409, "OperationNotAllowed", "There is no ongoing Rolling Upgrade to cancel.")
        op = self.new_operation("cancel")
        ru.cancel_requested = True
        ru.cancel_ops.append(op)
        ru.last_action = "Cancel"
        ru.last_action_time = self.scheduler.now()
        if not ru.in_progress:
            self.scheduler.after(DURATIONS["cancel"], lambda: self._finish_rolling(ss, ru, "Cancelled")
                                 if ru.code == "RollingForward" else self.finish(op))
        return op

    def manual_upgrade(self: World, ss: ScaleSet, instances: list[Instance]) -> Operation:
        op = self.new_operation("manualupgrade")
        targets = [i for i in instances if not i.latest_model]
        return self.start_action("upgrade", targets, op)
