"""Instance actions and scale limits, named once for every layer.

The ids are what the console's keys, the command line and the data layer agree on; the data
layer chooses the ARM calls for each id by the scale set's orchestration mode.
"""

from __future__ import annotations

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
