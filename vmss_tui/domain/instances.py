"""Pure facts about a scale set's instances: counts, order, disks in slot order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vmss_tui.domain.arm_ids import instance_sort_key
from vmss_tui.domain.models import POWER_RUNNING, DiskInfo, Instance


@dataclass(frozen=True, slots=True)
class InstanceCounts:
    total: int
    outdated: int  # latest_model is False (None, "unknown", is not counted)
    not_running: int
    failed: int


def count_instances(instances: Sequence[Instance]) -> InstanceCounts:
    return InstanceCounts(
        total=len(instances),
        outdated=sum(1 for i in instances if i.latest_model is False),
        not_running=sum(1 for i in instances if i.power_state != POWER_RUNNING),
        failed=sum(1 for i in instances if i.provisioning_state.casefold() == "failed"),
    )


def sort_instances(instances: Iterable[Instance]) -> list[Instance]:
    """Numeric instance ids in numeric order (Uniform), VM names in name order (Flexible)."""
    return sorted(instances, key=lambda i: instance_sort_key(i.instance_id))


def instance_disks(instance: Instance) -> list[DiskInfo]:
    """The OS disk first, then the data disks by LUN."""
    disks = [instance.os_disk] if instance.os_disk is not None else []
    disks.extend(sorted(instance.data_disks, key=lambda d: d.lun if d.lun is not None else -1))
    return disks
