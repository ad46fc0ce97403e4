"""Rolling upgrades and update-instances: start, cancel, and the poll a rollout view makes.

A mixin of `Fleet` (it uses the Fleet's clients, `_call`, `_run_lro` and `_check_writable`).

How a rollout starts depends on what Azure offers:
- a model change (PATCH) on a Rolling scale set starts the rolling upgrade by itself;
- `start_rolling_upgrade` on an image whose version is `latest` is the OS rolling upgrade
  (POST osRollingUpgrade, `az vmss rolling-upgrade start`): instances move to the newest image
  version, in batches per the rolling upgrade policy, whatever the upgrade mode;
- otherwise, on a Rolling scale set, it is what Azure documents for restarting a cancelled or
  faulted rolling upgrade: a generic model update (a PATCH that changes nothing, as
  `az vmss update` with no arguments), after which Azure rolls out the latest model to the
  instances that do not run it;
- Manual and Automatic scale sets with a pinned image have no rolling upgrade to start: Manual
  waits for update-instances (`update_instances`), Automatic applied the change already.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vmss_tui.azure.errors import FleetError, NotFoundError
from vmss_tui.domain.model_change import image_ref_of
from vmss_tui.domain.models import ArmErrorDetail, Instance, OperationResult, RolloutStatus, ScaleSet
from vmss_tui.domain.rollout import RolloutTracker, RolloutView

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import ProgressCallback

FINAL_ROLLOUT_CODES = ("Completed", "Faulted", "Cancelled")


@dataclass(frozen=True, slots=True)
class RolloutPoll:
    """One poll of a rollout view: ARM's status (None: no rolling upgrade ever ran) and the
    instances with their provisioning, power, health and latest-model flag."""

    status: RolloutStatus | None
    instances: tuple[Instance, ...]


def rollout_status_from_sdk(info: Any) -> RolloutStatus:
    """rollingUpgrades/latest as a RolloutStatus, with the policy in force, the last action's time
    and the error's details."""
    from dataclasses import replace

    from vmss_tui.azure.convert import _attr, _rolling_policy, _str, _time_str, rollout_from_sdk

    base = rollout_from_sdk(info)
    running = _attr(info, "running_status")
    error = _attr(info, "error")
    details = tuple(
        ArmErrorDetail(code=_str(_attr(d, "code")), target=_str(_attr(d, "target")), message=_str(_attr(d, "message")))
        for d in (_attr(error, "details") or ())
    )
    last_action_time = _time_str(_attr(running, "last_action_time"))
    return replace(
        base,
        policy=_rolling_policy(_attr(info, "policy")),
        last_action_time=last_action_time,
        end_time=last_action_time if base.code in FINAL_ROLLOUT_CODES else None,
        error_details=details,
    )


class RolloutCalls:
    """Fleet methods for rollouts."""

    if TYPE_CHECKING:
        _compute: Any
        read_only: bool

        async def _call(self, make: Any) -> Any: ...
        async def _run_lro(self, start: Any, on_progress: ProgressCallback | None) -> OperationResult: ...
        def _check_writable(self, what: str) -> None: ...
        async def list_instances(self, scale_set: ScaleSet, *, keep_raw: bool = True) -> list[Instance]: ...
        async def run_instance_action(
            self, scale_set: ScaleSet, action: str, instance_ids: Sequence[str],
            on_progress: ProgressCallback | None = None,
        ) -> OperationResult: ...

    async def latest_rollout(self, scale_set: ScaleSet) -> RolloutStatus | None:
        """rollingUpgrades/latest in full (policy, last action time, error details); None on 404."""
        operations = self._compute.virtual_machine_scale_set_rolling_upgrades
        try:
            info = await self._call(lambda: operations.get_latest(scale_set.resource_group, scale_set.name))
        except NotFoundError:
            return None
        return rollout_status_from_sdk(info)

    async def rollout_poll(self, scale_set: ScaleSet) -> RolloutPoll:
        """What a rollout view needs, at the same cost whatever the instance count:
        `rollingUpgrades/latest` plus one paged instance list, sent together. The instances carry
        no raw JSON (a view that polls every few seconds never shows it; keeping it costs CPU)."""
        import asyncio

        status, instances = await asyncio.gather(
            self.latest_rollout(scale_set), self.list_instances(scale_set, keep_raw=False)
        )
        return RolloutPoll(status, tuple(instances))

    async def observe_rollout(
        self, tracker: RolloutTracker, scale_set: ScaleSet, now: float | None = None
    ) -> RolloutView:
        """One poll fed to `tracker`; a poll that fails (API error, throttling beyond the retries,
        an unreachable endpoint) keeps the last state, marked stale with the one-line reason."""
        import time

        try:
            poll = await self.rollout_poll(scale_set)
        except FleetError as exc:
            return tracker.observe_failure(time.time() if now is None else now, exc.one_line())
        return tracker.observe(time.time() if now is None else now, poll.status, poll.instances)

    async def start_rolling_upgrade(
        self, scale_set: ScaleSet, on_progress: ProgressCallback | None = None
    ) -> OperationResult:
        """Start (or restart) a rolling upgrade; waits for the operation's end (see the module
        docstring for which request that is)."""
        self._check_writable("starting a rolling upgrade")
        image = image_ref_of(scale_set)
        group, name = scale_set.resource_group, scale_set.name
        if image is not None and image.is_latest:
            rolling = self._compute.virtual_machine_scale_set_rolling_upgrades
            return await self._run_lro(lambda: rolling.begin_start_os_upgrade(group, name), on_progress)
        if scale_set.upgrade_mode.casefold() != "rolling":
            if scale_set.upgrade_mode.casefold() == "manual":
                raise FleetError(
                    f"{name} has the Manual upgrade policy and a pinned image version: Azure starts no rolling upgrade",
                    hint="update the instances (all or the marked ones), or run a guarded rollout",
                )
            raise FleetError(
                f"{name} has the {scale_set.upgrade_mode} upgrade policy: Azure applies model changes to every "
                "instance at once, there is no rolling upgrade to start",
                hint="watch the instances converge in the rollout view",
            )
        operations = self._compute.virtual_machine_scale_sets
        # The generic model update: the policy as it is, so nothing changes but the check.
        body = {"properties": {"upgradePolicy": {"mode": "Rolling"}}}
        return await self._run_lro(lambda: operations.begin_update(group, name, body), on_progress)

    async def cancel_rolling_upgrade(
        self, scale_set: ScaleSet, on_progress: ProgressCallback | None = None
    ) -> OperationResult:
        """Cancel the running rolling upgrade (the batch in flight finishes first). With none
        running ARM answers 409 OperationNotAllowed, raised as FleetError with that code."""
        self._check_writable("cancelling a rolling upgrade")
        rolling = self._compute.virtual_machine_scale_set_rolling_upgrades
        group, name = scale_set.resource_group, scale_set.name
        return await self._run_lro(lambda: rolling.begin_cancel(group, name), on_progress)

    async def update_instances(
        self,
        scale_set: ScaleSet,
        instance_ids: Sequence[str] | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> OperationResult:
        """Bring the given instances (None: every instance) to the latest model:
        update-instances (POST manualupgrade), one operation for all of them."""
        self._check_writable("update")
        if instance_ids is None:
            instance_ids = [i.instance_id for i in await self.list_instances(scale_set, keep_raw=False)]
        if not instance_ids:
            return OperationResult("Succeeded")
        return await self.run_instance_action(scale_set, "update", list(instance_ids), on_progress)
