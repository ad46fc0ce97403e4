"""`vmss-tui get rollout --scale-set NAME [-g RG] [-o table|json]`: a scale set's rollout for scripts.

One poll (rollingUpgrades/latest plus one paged instance list), printed as one JSON object or as
a summary and a table of instances. Never imports Textual.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from vmss_tui.domain.rollout import instance_rollout_state

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import ConnectionSettings
    from vmss_tui.azure.rollouts import RolloutPoll
    from vmss_tui.domain.models import ScaleSet

PROG = "vmss-tui"
INSTANCE_COLUMNS = ("instance_id", "state", "latest_model", "provisioning_state", "power_state", "health")


def rollout_document(scale_set: ScaleSet, poll: RolloutPoll) -> dict[str, Any]:
    """The JSON object `get rollout -o json` prints."""
    status = poll.status
    return {
        "scale_set": scale_set.name,
        "resource_group": scale_set.resource_group,
        "subscription_id": scale_set.subscription_id,
        "orchestration_mode": scale_set.orchestration_mode,
        "upgrade_mode": scale_set.upgrade_mode,
        "status": status.code if status else None,
        "successful": status.successful if status else 0,
        "failed": status.failed if status else 0,
        "in_progress": status.in_progress if status else 0,
        "pending": status.pending if status else 0,
        "error_code": status.error_code if status else None,
        "error_message": status.error_message if status else None,
        "started_at": status.start_time if status else None,
        "last_action": status.last_action if status else None,
        "last_action_time": status.last_action_time if status else None,
        "instances": [
            {
                "instance_id": i.instance_id,
                "state": instance_rollout_state(i),
                "latest_model": i.latest_model,
                "provisioning_state": i.provisioning_state,
                "power_state": i.power_state,
                "health": i.health,
            }
            for i in poll.instances
        ],
    }


async def _fetch(settings: ConnectionSettings, resource_group: str | None, name: str) -> dict[str, Any]:
    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.cli.get import every_subscription, find_scale_set

    async with await Fleet.open(settings) as fleet:
        async with every_subscription(fleet) as fleets:
            owner, scale_set = await find_scale_set(fleets, resource_group, name)
            return rollout_document(scale_set, await owner.rollout_poll(scale_set))


def format_rollout(document: dict[str, Any]) -> str:
    from vmss_tui.cli.get import format_table, table_cell

    status = document["status"] or "none (no rolling upgrade has run)"
    lines = [
        f"scale set:  {document['scale_set']} ({document['resource_group']}, {document['upgrade_mode']} policy)",
        f"status:     {status}",
    ]
    if document["status"]:
        lines.append(f"progress:   {document['successful']} successful, {document['failed']} failed, "
                     f"{document['in_progress']} in progress, {document['pending']} pending")
        lines.append(f"started:    {table_cell(document['started_at'])}   last action: {table_cell(document['last_action'])} "
                     f"at {table_cell(document['last_action_time'])}")
    if document["error_code"] or document["error_message"]:
        lines.append(f"error:      {table_cell(document['error_code'])}: {table_cell(document['error_message'])}")
    lines.append("")
    if document["instances"]:
        lines.append(format_table(document["instances"], INSTANCE_COLUMNS))
    else:
        lines.append("no instances")
    return "\n".join(lines)


def run_get_rollout(settings: ConnectionSettings, args: argparse.Namespace) -> int:
    """`vmss-tui get rollout ...`: print the rollout; the exit code for the shell."""
    import asyncio

    name = getattr(args, "scale_set", None)
    if not name:
        print(f"{PROG}: get rollout needs --scale-set NAME (and -g RG where the name is in several groups)",
              file=sys.stderr)
        return 2
    document = asyncio.run(_fetch(settings, getattr(args, "resource_group", None), name))
    if getattr(args, "output", "table") == "json":
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        print(format_rollout(document))
    return 0
