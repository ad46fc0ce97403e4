"""Instance actions and scale limits, named once for every layer.

The ids are what the console's keys, the command line and the data layer agree on; the data
layer chooses the ARM calls for each id by the scale set's orchestration mode.
"""

from __future__ import annotations

from collections.abc import Sequence

from vmss_tui.domain.models import Instance, ScaleSet

START = "start"
RESTART = "restart"
POWER_OFF = "power_off"
DEALLOCATE = "deallocate"
REIMAGE = "reimage"
UPDATE = "update"  # to the scale set's latest model (manualupgrade)
DELETE = "delete"

INSTANCE_ACTIONS: tuple[str, ...] = (START, RESTART, POWER_OFF, DEALLOCATE, REIMAGE, UPDATE, DELETE)

# Azure's limit on instances per scale set, in either orchestration mode.
MAX_CAPACITY = 1000


def is_instance_action(action: str) -> bool:
    return action in INSTANCE_ACTIONS


def scale_in_victims(scale_set: ScaleSet, instances: Sequence[Instance], target: int) -> list[Instance] | None:
    """The instances Azure removes when `scale_set` scales in to `target`, where that can be told
    from what ARM says: a Uniform scale set in at most one zone under the Default scale-in policy
    deletes the highest instance ids first. None where Azure's choice depends on what ARM does
    not show (zone and fault-domain balancing, NewestVM / OldestVM, Flexible placement)."""
    remove = len(instances) - target
    if remove <= 0:
        return []
    rules = [r.casefold() for r in scale_set.scale_in_rules] or ["default"]
    if scale_set.is_flexible or len(scale_set.zones) > 1 or rules != ["default"]:
        return None
    if not all(i.instance_id.isdigit() for i in instances):
        return None
    live = [i for i in instances if i.provisioning_state.casefold() != "deleting"]
    return sorted(live, key=lambda i: int(i.instance_id), reverse=True)[:remove]


def is_strict_count(text: str) -> bool:
    """ASCII digits only: nothing typed is dropped or read as something else (`1e3`, `١٢`, ` 5`)."""
    return bool(text) and all("0" <= c <= "9" for c in text)
