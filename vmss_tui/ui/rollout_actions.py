"""What the rollout view's keys do: start or cancel Azure's rolling upgrade, update or reimage
instances, and start, pause, resume or abort a guarded rollout. Every write asks first (Cancel is
the default) and goes through the console's action flow (`host.start_action`), or, for a guarded
rollout, runs in a worker of the app; none is offered or sent in a read-only session.

The console's guarded rollouts live here too (`guarded_rollouts(app)`): they outlive the tab that
started them, and the app asks them what a quit would leave running.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING, Any

from textual.app import App

from vmss_tui.domain.actions import REIMAGE, UPDATE
from vmss_tui.domain.model_change import image_ref_of, rolling_batch_size
from vmss_tui.domain.models import Instance
from vmss_tui.ui.actions import INSTANCE_ACTION_SPECS, operation_label
from vmss_tui.ui.dialogs import ConfirmActionScreen
from vmss_tui.ui.format import pluralize, summarize_ids
from vmss_tui.ui.rollout_dialogs import GuardedRolloutScreen
from vmss_tui.workflows.guarded_rollout import (
    COMPLETED,
    STOPPED,
    GuardedPlan,
    GuardedRollout,
    Journal,
    SshCheck,
    close_journal,
    resume_guarded_rollout,
    rollout_targets,
    start_guarded_rollout,
)

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.ui.rollout_view import RolloutView

GUARDED_POLL = 5.0  # seconds between a guarded rollout's instance lists while a batch is checked


class GuardedRollouts:
    """The guarded rollouts of one console, by scale set id: they run in workers of the app and
    outlive the tab that started them."""

    def __init__(self, app: App[Any]) -> None:
        self._app = weakref.ref(app)
        self.by_scale_set: dict[str, GuardedRollout] = {}

    def get(self, scale_set_id: str) -> GuardedRollout | None:
        return self.by_scale_set.get(scale_set_id.casefold())

    def start(self, rollout: GuardedRollout, owned_fleet: Fleet | None = None) -> None:
        app = self._app()
        if app is None:
            return
        self.by_scale_set[rollout.scale_set.id.casefold()] = rollout
        rollout.subscribe(self._tell)

        async def run() -> None:
            try:
                await rollout.run()
            finally:
                if owned_fleet is not None:
                    await owned_fleet.close()

        app.run_worker(run(), group=f"guarded-{rollout.scale_set.name}", exit_on_error=False)

    def _tell(self, progress: Any, record: dict[str, Any] | None) -> None:
        """The decisions worth a notification, wherever the person is in the console."""
        app = self._app()
        if app is None or record is None:
            return
        kind = record.get("kind")
        name = progress.scale_set
        if kind == STOPPED:
            app.notify(f"Guarded rollout of {name} stopped: {record.get('reason')}", title="Guarded rollout",
                       severity="error", timeout=30)
        elif kind == COMPLETED:
            app.notify(f"Guarded rollout of {name} completed: {record.get('reason')}", title="Guarded rollout",
                       timeout=10)
        elif kind == "failed":
            app.notify(f"Guarded rollout of {name} failed: {record.get('reason')}", title="Guarded rollout",
                       severity="error", timeout=30)
        elif kind == "instance-failed":
            app.notify(f"{name}/{record.get('instance_id')} failed its gate: {record.get('reason')}",
                       title="Guarded rollout", severity="warning", timeout=15)

    def leaves_running(self) -> list[str]:
        return [text for rollout in self.by_scale_set.values() if (text := rollout.leaves_running())]


_REGISTRIES: weakref.WeakKeyDictionary[App[Any], GuardedRollouts] = weakref.WeakKeyDictionary()


def guarded_rollouts(app: App[Any]) -> GuardedRollouts:
    registry = _REGISTRIES.get(app)
    if registry is None:
        registry = _REGISTRIES[app] = GuardedRollouts(app)
    return registry


class RolloutActions:
    """The keys of one rollout view."""

    def __init__(self, view: RolloutView) -> None:
        self.view = view
        self.host = view.host

    def _targets(self, *, outdated_if_none: bool) -> list[Instance]:
        ordered = list(self.view.instances.values())
        if self.view.marks:
            return [i for i in ordered if i.instance_id in self.view.marks]
        if outdated_if_none:
            ids = set(rollout_targets(ordered))
            return [i for i in ordered if i.instance_id in ids]
        cursor = self.view.instances.get(self.view.table.cursor_key or "")
        return [cursor] if cursor is not None else []

    def _ready(self) -> bool:
        if self.host.read_only:
            self.host.notify("Read-only session: rollout actions are disabled (started with --read-only)",
                             severity="warning")
            return False
        if self.host.fleet is None:
            self.host.notify("Not connected yet", severity="warning")
            return False
        return True

    def _run(self, label: str, call: Any, *, pending: str = "", instances: list[Instance] | None = None,
             scale_set_pending: str = "") -> None:
        scale_set = self.view.scale_set

        async def operation(progress: Any) -> Any:
            return await call(await self.view.fleet(), progress)

        self.host.start_action(label, scale_set, operation, pending=pending,
                               instance_keys=frozenset(i.id for i in instances or ()),
                               scale_set_pending=scale_set_pending)
        self.view.marks.clear()
        self.view.poll_soon()

    def _confirm(self, title: str, summary: str, items: list[str], label: str, then: Any, *,
                 destructive: bool = False, type_name: bool = False) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()
            else:
                self.host.notify(f"Cancelled: {title.rstrip('?')}", timeout=3)

        self.host.push_screen(ConfirmActionScreen(title, summary, items, label, destructive=destructive,
                                                  type_to_confirm=self.view.scale_set.name if type_name else None), answered)

    # ------------------------------------------------------------------ the keys
    def start(self) -> None:
        """Rolling (or an image at `latest`): Azure's rolling upgrade. Manual: the guarded rollout."""
        if not self._ready():
            return
        scale_set = self.view.scale_set
        mode = (scale_set.upgrade_mode or "").casefold()
        image = image_ref_of(scale_set)
        latest_image = image is not None and image.is_latest
        if mode == "manual" and not latest_image:
            self.guarded()
            return
        if mode == "automatic" and not latest_image:
            self.host.notify(f"{scale_set.name} has the Automatic policy: Azure applies a model change to every "
                             "instance at once; there is no rollout to start (watch them converge here)", timeout=10)
            return
        behind = rollout_targets(list(self.view.instances.values()))
        if not behind and not latest_image:
            self.host.notify(f"Every instance of {scale_set.name} runs the latest model: nothing to roll out "
                             "(change the model with M first)", severity="warning", timeout=8)
            return
        what = ("an OS rolling upgrade to the newest image version" if latest_image
                else f"a rolling upgrade of the {pluralize(len(behind), 'instance')} not on the latest model")
        summary = (f"Azure starts {what} of {scale_set.name}, in batches of {rolling_batch_size(scale_set)} "
                   "by its rolling upgrade policy, and stops by itself when its unhealthy thresholds are passed.")
        self._confirm(f"Start a rolling upgrade of {scale_set.name}?", summary, [f"{i:>5}" for i in behind],
                      "Start rolling upgrade",
                      lambda: self._run(f"Rolling upgrade of {scale_set.name}",
                                        lambda fleet, p: fleet.start_rolling_upgrade(scale_set, on_progress=p),
                                        scale_set_pending="starting a rolling upgrade…"))

    def update(self) -> None:
        """update-instances (manual upgrade) of the marked instances, else of every outdated one."""
        if not self._ready():
            return
        targets = self._targets(outdated_if_none=True)
        if not targets:
            self.host.notify("Every instance runs the latest model; mark instances to update them anyway",
                             severity="warning", timeout=6)
            return
        spec = INSTANCE_ACTION_SPECS[UPDATE]
        ids = [i.instance_id for i in targets]
        scale_set = self.view.scale_set
        which = "marked" if self.view.marks else "not on the latest model"
        self._confirm(f"Update {pluralize(len(ids), 'instance')} of {scale_set.name}?",
                      f"update-instances ({which}): {spec.effect} All of them at once, in one operation: "
                      "a guarded rollout (S) does it in batches with a health gate.",
                      [f"{i.instance_id:>5}  {i.power_state:<12} {i.provisioning_state}" for i in targets],
                      f"Update {pluralize(len(ids), 'instance')}",
                      lambda: self._run(operation_label(spec, scale_set, ids),
                                        lambda fleet, p: fleet.update_instances(scale_set, ids, on_progress=p),
                                        pending=spec.pending, instances=targets))

    def reimage(self) -> None:
        if not self._ready():
            return
        targets = self._targets(outdated_if_none=False)
        if not targets:
            self.host.notify("No instance: move to one, or mark some with space", severity="warning")
            return
        spec = INSTANCE_ACTION_SPECS[REIMAGE]
        ids = [i.instance_id for i in targets]
        scale_set = self.view.scale_set
        self._confirm(f"Reimage {pluralize(len(ids), 'instance')} of {scale_set.name}?",
                      f"Reimage: {spec.effect}", [f"{i:>5}" for i in ids], f"Reimage {pluralize(len(ids), 'instance')}",
                      lambda: self._run(operation_label(spec, scale_set, ids),
                                        lambda fleet, p: fleet.run_instance_action(scale_set, REIMAGE, ids,
                                                                                   on_progress=p),
                                        pending=spec.pending, instances=targets),
                      destructive=True, type_name=True)

    def cancel(self) -> None:
        if not self._ready():
            return
        status = self.view.tracker.view.status
        scale_set = self.view.scale_set
        left = status.pending if status is not None else 0
        self._confirm(f"Cancel the rolling upgrade of {scale_set.name}?",
                      f"The batch in flight finishes; no further batch starts. {pluralize(left, 'instance')} "
                      "stay on the old model until a new rollout.", [], "Cancel the rollout",
                      lambda: self._run(f"Cancel of the rolling upgrade of {scale_set.name}",
                                        lambda fleet, p: fleet.cancel_rolling_upgrade(scale_set, on_progress=p)),
                      destructive=True)

    def guarded(self) -> None:
        if not self._ready():
            return
        scale_set = self.view.scale_set
        if (scale_set.upgrade_mode or "").casefold() != "manual":
            self.host.notify(f"{scale_set.name} has the {scale_set.upgrade_mode} policy: Azure rolls model changes "
                             "out itself; a guarded rollout is for Manual scale sets", severity="warning", timeout=8)
            return
        ids = [i.instance_id for i in self._targets(outdated_if_none=True)]
        why = f"{pluralize(len(ids), 'marked instance')}" if self.view.marks else \
            f"{pluralize(len(ids), 'instance')} not on the latest model"
        if not ids:
            self.host.notify("Every instance runs the latest model: nothing to roll out (change the model with M, "
                             "or mark instances)", severity="warning", timeout=8)
            return

        def planned(plan: GuardedPlan | None) -> None:
            if plan is None:
                self.host.notify(f"Cancelled: guarded rollout of {scale_set.name}", timeout=3)
                return
            self.view.marks.clear()
            self.view.app.run_worker(self._launch(plan, None), exit_on_error=False)

        self.host.push_screen(GuardedRolloutScreen(scale_set, ids, why=why), planned)

    async def _launch(self, plan: GuardedPlan, journal: Journal | None) -> None:
        fleet = self.host.fleet
        if fleet is None:
            return
        scale_set = self.view.scale_set
        owned = None
        if fleet.subscription_id.casefold() != scale_set.subscription_id.casefold():
            fleet = owned = await fleet.with_subscription(scale_set.subscription_id)
        check = None
        if plan.check_command:
            from vmss_tui.ssh.settings import SshSettings

            settings = SshSettings.from_config(self.host.config.ssh,
                                               identity_file=getattr(self.host, "ssh_identity_file", None))
            check = SshCheck(fleet, scale_set, settings, plan.check_command,
                             trust_updated_host_keys=plan.trust_updated_host_keys)
        try:
            if journal is None:
                rollout = await start_guarded_rollout(fleet, scale_set, plan, directory=self.view.journal_directory,
                                                      check=check, poll_interval=GUARDED_POLL)
            else:
                rollout = await resume_guarded_rollout(fleet, scale_set, journal, plan, check=check,
                                                       poll_interval=GUARDED_POLL)
        except OSError as exc:
            self.host.notify(f"Cannot write the guarded rollout journal: {exc}", severity="error")
            if owned is not None:
                await owned.close()
            return
        self.view.journal = self.view.journal_summary = None
        guarded_rollouts(self.view.app).start(rollout, owned)
        rollout.subscribe(self.view.guarded_changed)
        self.host.notify(f"Guarded rollout of {scale_set.name} started: {plan.describe()}", timeout=8)
        self.view.render_view()
        self.view.poll_soon()

    def pause(self) -> None:
        guarded = self.view.guarded_rollout
        if guarded is not None and guarded.pause():
            self.host.notify(f"Guarded rollout of {self.view.scale_set.name}: pausing after the batch in flight",
                             timeout=5)
        self.view.render_view()

    def resume(self) -> None:
        guarded = self.view.guarded_rollout
        if guarded is not None and guarded.progress.active:
            guarded.resume()
            self.view.render_view()
            return
        journal, summary = self.view.journal_in_view()
        if summary is None or journal is None or not self._ready():
            return
        if not summary.resumable:
            self.host.notify(summary.headline(), severity="warning")
            return

        def planned(plan: GuardedPlan | None) -> None:
            if plan is not None:
                self.view.app.run_worker(self._launch(plan, journal), exit_on_error=False)

        screen = GuardedRolloutScreen(self.view.scale_set, summary.remaining, why="", resume=summary)
        self.host.push_screen(screen, planned)

    def abort(self) -> None:
        guarded = self.view.guarded_rollout
        if guarded is None or not guarded.progress.active:
            return
        flying = guarded.progress.in_flight
        left = (f"The update of {summarize_ids(list(flying))} continues in Azure (it cannot be called back). "
                if flying else "")
        self._confirm(f"Abort the guarded rollout of {self.view.scale_set.name}?",
                      f"{left}No further batch starts. The journal keeps where it stopped: r resumes it later.",
                      [], "Abort the rollout", lambda: (guarded.abort(), self.view.render_view()), destructive=True)

    def forget(self) -> None:
        journal, _ = self.view.journal_in_view()
        if journal is None:
            return
        registry = guarded_rollouts(self.view.app)
        guarded = registry.get(self.view.scale_set.id)
        if guarded is not None and guarded.journal is journal:
            del registry.by_scale_set[self.view.scale_set.id.casefold()]

        async def put_away() -> None:
            await close_journal(journal)

        self.view.app.run_worker(put_away(), exit_on_error=False)
        self.view.journal = self.view.journal_summary = None
        self.host.notify(f"Put away the journal {journal.path}", timeout=5)
        self.view.render_view()
