"""From a key to an ARM operation: the dialog that says what will happen, the worker that runs
the operation, and what the console shows while it runs and when it ends.

The fleet screen owns one `ActionFlow` and hands it the intents; the flow asks through dialogs
(Cancel is the default), runs the operation in a worker, records it in the store (rows then read
`restarting…`) and has the scale set watched until a little after the end.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from vmss_tui.domain.actions import scale_in_victims
from vmss_tui.domain.models import Instance, OperationResult, ScaleSet
from vmss_tui.ui.actions import (
    INSTANCE_ACTION_SPECS,
    SCALE_SET_ACTION_SPECS,
    already_text,
    instance_action_summary,
    instance_action_title,
    is_no_op,
    operation_label,
    pending_on_scale_set,
    scale_effect,
)
from vmss_tui.ui.dialogs import ConfirmActionScreen, ScaleScreen
from vmss_tui.ui.format import pluralize
from vmss_tui.ui.reports import ActionDone, ActionProgress

if TYPE_CHECKING:
    from textual.screen import Screen

    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.ui.store import FleetStore

Progress = Callable[[str], Awaitable[None]]
OperationCall = Callable[[Progress], Awaitable[OperationResult]]


class ActionHost(Protocol):
    """What the flow needs from the screen that hosts it."""

    store: FleetStore
    read_only: bool

    @property
    def fleet(self) -> Fleet | None: ...

    def push_screen(self, screen: Screen[Any], callback: Callable[[Any], None]) -> Any: ...

    def notify(self, message: str, **kwargs: Any) -> None: ...

    def run_worker(self, work: Any, **kwargs: Any) -> Any: ...

    def post_message(self, message: Any) -> bool: ...

    def watch_scale_set(self, scale_set_id: str) -> None: ...

    def request_refresh(self, *tracks: str) -> None: ...

    def one_line(self, error: BaseException) -> str: ...


class ActionFlow:
    def __init__(self, host: ActionHost) -> None:
        self.host = host

    def _refuse_read_only(self, what: str) -> bool:
        if self.host.read_only:
            self.host.notify(f"Read-only session: {what} is disabled (started with --read-only)",
                             severity="warning")
            return True
        return False

    # ------------------------------------------------------------------ instance actions
    def request_instance_action(self, action: str) -> None:
        host = self.host
        spec = INSTANCE_ACTION_SPECS.get(action)
        if spec is None or self._refuse_read_only(spec.label if spec else action):
            return
        entry = host.store.selected()
        chosen = host.store.target_instances()
        if entry is None or not chosen or host.fleet is None:
            host.notify("No instance selected: move to one, or mark some with space", severity="warning")
            return
        skipped = [i for i in chosen if is_no_op(spec, i)]
        targets = [i for i in chosen if not is_no_op(spec, i)]
        if not targets:
            host.notify(f"{already_text(spec, skipped)}: nothing to do", severity="warning")
            return
        scale_set = entry.scale_set
        items = [
            f"{i.instance_id:>5}  {(i.computer_name or i.name):<18} {i.power_state:<12} "
            f"{'latest model' if i.latest_model else 'outdated' if i.latest_model is False else ''}"
            for i in targets
        ]
        ids = [i.instance_id for i in targets]
        screen = ConfirmActionScreen(
            instance_action_title(spec, scale_set, targets),
            instance_action_summary(spec, scale_set, targets, skipped),
            items,
            f"{spec.label} {pluralize(len(targets), 'instance')}",
            destructive=spec.destructive,
            type_to_confirm=scale_set.name if spec.type_name else None,
        )
        label = operation_label(spec, scale_set, ids)
        keys = frozenset(i.id for i in targets)

        def confirmed(ok: bool | None) -> None:
            fleet = host.fleet
            if not ok or fleet is None:
                host.notify(f"Cancelled: {label}", timeout=3)
                return
            host.store.clear_marks()
            self.start(
                label, scale_set,
                lambda progress: fleet.run_instance_action(scale_set, action, ids, on_progress=progress),
                pending=spec.pending, instance_keys=keys, scale_set_pending=pending_on_scale_set(spec, len(ids)),
            )

        host.push_screen(screen, confirmed)

    # ------------------------------------------------------------------ scale-set actions
    def request_scale_set_action(self, action: str, scale_set_id: str | None) -> None:
        host = self.host
        spec = SCALE_SET_ACTION_SPECS[action]
        if self._refuse_read_only(spec.label):
            return
        entry = host.store.entries.get(scale_set_id) if scale_set_id else None
        if entry is None or host.fleet is None:
            host.notify("No scale set selected", severity="warning")
            return
        scale_set = entry.scale_set
        if action == "scale":
            self._request_scale(entry.scale_set, entry.instances)
            return
        instances = entry.instances or []
        affected = [i for i in instances if i.power_state not in spec.no_op_states]
        items = [f"{i.instance_id:>5}  {(i.computer_name or i.name):<18} {i.power_state}" for i in instances]
        if entry.instances is None:
            count_text = f"all {scale_set.capacity} instances (list not loaded yet)"
        else:
            count_text = (f"all {len(instances)} instances ({len(affected)} not already "
                          f"{'/'.join(spec.no_op_states)})")
        summary = (f"{spec.label}: {count_text} of {scale_set.name} (resource group {scale_set.resource_group}): "
                   f"{spec.effect}")
        label = f"{spec.label} of {scale_set.name}"

        def confirmed(ok: bool | None) -> None:
            fleet = host.fleet
            if not ok or fleet is None:
                host.notify(f"Cancelled: {label}", timeout=3)
                return
            call = fleet.start_all if action == "start_all" else fleet.power_off_all
            self.start(
                label, scale_set, lambda progress: call(scale_set, on_progress=progress),
                pending=spec.pending, instance_keys=frozenset(i.id for i in affected),
                scale_set_pending=f"{spec.pending.removesuffix('…')} all…",
            )

        host.push_screen(
            ConfirmActionScreen(f"{label}?", summary, items, spec.label, destructive=action == "stop_all"),
            confirmed,
        )

    def _request_scale(self, scale_set: ScaleSet, instances: list[Instance] | None) -> None:
        """Scale to N: the dialog reads the capacity fresh; a scale-in is then confirmed like a
        delete (the name typed, Cancel the default), naming the instances Azure removes."""
        host = self.host
        fleet = host.fleet
        assert fleet is not None
        dialog = ScaleScreen(scale_set, lambda: fleet.get_scale_set(scale_set.resource_group, scale_set.name))

        def scaled(target: int | None) -> None:
            fresh = dialog.scale_set
            if target is None or host.fleet is None:
                host.notify(f"Cancelled: scale {scale_set.name}", timeout=3)
                return
            label = f"Scale of {fresh.name} from {fresh.capacity} to {target}"
            pending = f"scaling {fresh.capacity} → {target}…"
            if target >= fresh.capacity:
                self._scale(fresh, target, label, pending, frozenset())
                return
            victims = scale_in_victims(fresh, instances, target) if instances is not None else None
            shown = victims if victims is not None else (instances or [])
            items = [f"{i.instance_id:>5}  {(i.computer_name or i.name):<18} {i.power_state}" for i in shown]
            summary = scale_effect(fresh, target, victims)
            if victims is None:
                summary += " The instances now:"

            def confirmed(ok: bool | None) -> None:
                if not ok:
                    host.notify(f"Cancelled: {label}", timeout=3)
                    return
                keys = frozenset(i.id for i in victims or ())
                self._scale(fresh, target, label, pending, keys)

            host.push_screen(ConfirmActionScreen(
                f"Scale in {fresh.name} from {fresh.capacity} to {target}?", summary, items,
                f"Scale in to {target}", destructive=True, type_to_confirm=fresh.name), confirmed)

        host.push_screen(dialog, scaled)

    def _scale(self, scale_set: ScaleSet, target: int, label: str, pending: str, keys: frozenset[str]) -> None:
        fleet = self.host.fleet
        if fleet is None:
            return
        self.start(label, scale_set, lambda progress: fleet.scale_to(scale_set, target, on_progress=progress),
                   pending="deleting…" if keys else "", instance_keys=keys, scale_set_pending=pending)

    # ------------------------------------------------------------------ running one
    def start(
        self,
        label: str,
        scale_set: ScaleSet,
        call: OperationCall,
        *,
        pending: str = "",
        instance_keys: frozenset[str] = frozenset(),
        scale_set_pending: str = "",
    ) -> None:
        host = self.host
        if host.read_only:  # never reached through the UI; a last guard that sends nothing
            return
        run = host.store.begin_action(label, scale_set.id, pending=pending, instance_keys=instance_keys,
                                      scale_set_pending=scale_set_pending)
        host.notify(f"{label}: submitted", timeout=3)
        host.run_worker(self._run(run.id, call), group=f"action-{run.id}", exit_on_error=False)
        host.watch_scale_set(scale_set.id)

    async def _run(self, action_id: int, call: OperationCall) -> None:
        host = self.host

        async def progress(status: str) -> None:
            host.post_message(ActionProgress(action_id, status))

        try:
            result = await call(progress)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - one line in a notification and the status line
            host.post_message(ActionDone(action_id, None, host.one_line(error)))
            return
        host.post_message(ActionDone(action_id, result, None))

    def progress(self, message: ActionProgress) -> None:
        self.host.store.action_progress(message.action_id, message.status)

    def done(self, message: ActionDone) -> None:
        host = self.host
        run = host.store.finish_action(message.action_id, message.result, message.error)
        if run is None or run.outcome is None:
            return
        if run.succeeded:
            host.notify(run.outcome, severity="information", timeout=8)
        else:
            # Long enough to read the ARM message; it stays on the status line after that.
            host.notify(run.outcome, title="Operation failed", severity="error", timeout=60)
        # Keep watching a while: a restarted guest boots after its operation has ended.
        host.watch_scale_set(run.scale_set_id)
        host.request_refresh("scale_sets", "instances", "nat")
