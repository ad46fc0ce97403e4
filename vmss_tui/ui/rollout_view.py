"""The live rollout view of one scale set, in a tab of its own (`u` on a scale set, or
`vmss-tui rollout SCALE_SET`): ARM's rollout status by its own name, the progress as a segmented
bar, every instance with its rollout state and the batch in flight, elapsed time, rate and ETA,
the timeline, the policy in force and ARM's error in full; and the keys that start, cancel,
update, reimage, and run or steer a guarded rollout.

One poll is `Fleet.rollout_poll` (rollingUpgrades/latest plus one paged instance list) through a
track of the view, fed to a `RolloutTracker`; a failed poll keeps the last state, marked stale.
The view polls while its tab shows, and while something rolls even when it does not, so the
timeline misses no batch; several views (one per scale set) poll side by side.

Guarded rollouts outlive their tabs: they are the console's (`guarded_rollouts(app)`), run in
workers of the app, and a view shows the one of its scale set when there is one.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static, TextArea

from vmss_tui.domain.models import Instance, ScaleSet
from vmss_tui.domain.rollout import RolloutTracker
from vmss_tui.ui import intents
from vmss_tui.ui.errors import one_line
from vmss_tui.ui.panes.base import Line
from vmss_tui.ui.panes.cells import Column, RowData
from vmss_tui.ui.panes.table import LiveTable
from vmss_tui.ui.poller import FetchContext, Track
from vmss_tui.ui.rollout_actions import RolloutActions, guarded_rollouts
from vmss_tui.ui.rollout_render import (
    error_text,
    guarded_line,
    instance_cells,
    policy_line,
    progress_bar,
    rollout_counts,
    status_line,
    timeline,
    timeline_text,
    timing_line,
)
from vmss_tui.workflows.guarded_rollout import (
    COMPLETED,
    GuardedRollout,
    Journal,
    JournalSummary,
    latest_journal,
)

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.azure.rollouts import RolloutPoll
    from vmss_tui.ui.panes.base import PaneHost

ROLLOUT_REFRESH = 2.0  # seconds between polls while something rolls
IDLE_REFRESH = 10.0  # ... and while nothing does
INSTANCES_PER_BASE_INTERVAL = 500  # bigger scale sets poll less often (each page is a read)
TIMELINE_KEPT = 300
NARROW_BELOW = 110  # columns: the timeline goes under the table


class RolloutTable(LiveTable):
    """The instances as the rollout sees them; the rollout keys live here (read-only hides the
    mutating ones, as in every pane)."""

    HELP_SECTION = "Rollout"
    COLUMNS = (
        Column("mark", " "),
        Column("id", "ID"),
        Column("state", "Rollout"),
        Column("batch", "Batch"),
        Column("latest", "Latest"),
        Column("prov", "Provisioning", "State"),
        Column("power", "Power"),
        Column("health", "Health"),
        Column("note", "Note"),
    )
    MUTATING_ACTIONS = frozenset({"start", "update", "guarded", "cancel", "reimage", "pause", "resume", "abort"})
    BINDINGS = [
        Binding("space", "toggle_mark", "Mark", id="rollout.mark"),
        Binding("S", "start", "Start", id="rollout.start"),
        Binding("U", "update", "Update", id="rollout.update"),
        Binding("B", "guarded", "Guarded rollout", show=False, id="rollout.guarded"),  # S does it on Manual
        Binding("C", "cancel", "Cancel rollout", id="rollout.cancel"),
        Binding("I", "reimage", "Reimage", show=False, id="rollout.reimage"),
        Binding("p", "pause", "Pause", id="rollout.pause"),
        Binding("r", "resume", "Resume", id="rollout.resume"),
        Binding("A", "abort", "Abort", id="rollout.abort"),
        Binding("F", "forget", "Forget journal", show=False, id="rollout.forget"),
        Binding("escape", "back", "Fleet", show=False, id="rollout.back"),
    ]

    def __init__(self, view: RolloutView) -> None:
        super().__init__(id="rollout-instances")
        self.rollout = view

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if super().check_action(action, parameters) is False:
            return False
        return self.rollout.offers(action)

    def action_toggle_mark(self) -> None:
        self.rollout.toggle_mark(self.cursor_key)
        self.action_cursor_down()

    def action_back(self) -> None:
        self.post_message(intents.ShowView("vmss"))

    # The view does what the keys ask.
    def action_start(self) -> None:
        self.rollout.actions.start()

    def action_update(self) -> None:
        self.rollout.actions.update()

    def action_guarded(self) -> None:
        self.rollout.actions.guarded()

    def action_cancel(self) -> None:
        self.rollout.actions.cancel()

    def action_reimage(self) -> None:
        self.rollout.actions.reimage()

    def action_pause(self) -> None:
        self.rollout.actions.pause()

    def action_resume(self) -> None:
        self.rollout.actions.resume()

    def action_abort(self) -> None:
        self.rollout.actions.abort()

    def action_forget(self) -> None:
        self.rollout.actions.forget()


class PollFailed(Message):
    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class GuardedChanged(Message):
    pass


class JournalRead(Message):
    def __init__(self, journal: Journal | None, summary: JournalSummary | None) -> None:
        super().__init__()
        self.journal = journal
        self.summary = summary


def quit_blockers(app: App[Any]) -> list[str]:
    """What quitting leaves of the guarded rollouts whose tab is closed (an open rollout tab says
    its own through `RolloutView.quit_blocker`)."""
    shown = {view.scale_set.id.casefold() for screen in app.screen_stack for view in screen.query(RolloutView)}
    return [text for key, rollout in guarded_rollouts(app).by_scale_set.items()
            if key not in shown and (text := rollout.leaves_running())]


# ---------------------------------------------------------------------- the view


class RolloutView(Vertical):
    """See the module docstring."""

    HELP_SECTION = "Rollout"
    DEFAULT_CSS = """
    RolloutView { height: 1fr; }
    RolloutView .rollout-line { height: 1; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    RolloutView #rollout-guarded { height: auto; max-height: 2; padding: 0 1; }
    RolloutView #rollout-body { height: 1fr; }
    RolloutView #rollout-timeline { width: 1fr; min-width: 40; height: 1fr; border-left: solid $panel-lighten-2;
        padding: 0 1; }
    RolloutView #rollout-body.-narrow { layout: vertical; }
    RolloutView #rollout-body.-narrow #rollout-timeline { width: 1fr; height: 2fr; border-left: none;
        border-top: solid $panel-lighten-2; }
    RolloutView #rollout-error { height: 5; border: round $error; display: none; }
    RolloutView #rollout-error.-shown { display: block; }
    """

    def __init__(self, host: PaneHost, scale_set: ScaleSet, *, journal_directory: Path | None = None) -> None:
        super().__init__(classes="pane")
        self.host = host
        self.scale_set = scale_set
        self.journal_directory = journal_directory
        self.tracker = RolloutTracker()
        self.instances: dict[str, Instance] = {}
        self.marks: set[str] = set()
        self.polls = 0  # polls answered (or failed) so far
        self.track_name = f"rollout:{scale_set.id.casefold()}"
        self.journal: Journal | None = None  # one left from before (when no guarded rollout runs here)
        self.journal_summary: JournalSummary | None = None
        self._sibling: Fleet | None = None  # for a scale set of another subscription
        self._offers: dict[str, bool] = {}
        self._rows: dict[str, tuple[tuple[Any, ...], RowData]] = {}  # instance id -> (what made it, row)
        self._stale_render = False  # polled while its tab was not in front
        self._summary_of: tuple[tuple[int, int] | None, JournalSummary | None] = (None, None)
        self._shown_events: tuple[int, float] = (0, 0.0)
        self.status = Line(classes="rollout-line", id="rollout-status")
        self.bar = Line(classes="rollout-line", id="rollout-bar")
        self.timing = Line(classes="rollout-line", id="rollout-timing")
        self.policy = Line(classes="rollout-line", id="rollout-policy")
        self.guarded_text = Static(id="rollout-guarded")
        self.table = RolloutTable(self)
        self.events = Static(id="rollout-events")
        self.error = TextArea("", read_only=True, soft_wrap=True, id="rollout-error", show_line_numbers=False)
        self.body = Horizontal(id="rollout-body")
        self.actions = RolloutActions(self)

    def compose(self) -> ComposeResult:
        yield self.status
        yield self.bar
        yield self.timing
        yield self.policy
        yield self.guarded_text
        with self.body:
            yield self.table
            with VerticalScroll(id="rollout-timeline", can_focus=False):
                yield self.events
        yield self.error

    # ------------------------------------------------------------------ lifecycle
    def on_mount(self) -> None:
        self.border_title = Content.from_markup("Rollout of [b]$name[/] [dim]($group · $mode)[/]",
                                                name=self.scale_set.name, group=self.scale_set.resource_group,
                                                mode=self.scale_set.orchestration_mode)
        poller = self.host.poller
        poller.register(Track(self.track_name, ROLLOUT_REFRESH, self._fetch, self._apply, visible=self._worth_polling,
                              label=f"rollout of {self.scale_set.name}"))
        poller.request_now(self.track_name)
        guarded = self.guarded_rollout
        if guarded is not None:
            guarded.subscribe(self.guarded_changed)
        self.run_worker(self._read_journal, thread=True, group="rollout-journal", exit_on_error=False)
        self.render_view()
        self.app.call_later(poller.tick)

    def on_unmount(self) -> None:
        self.host.poller.unregister(self.track_name)
        guarded = self.guarded_rollout
        if guarded is not None:
            guarded.unsubscribe(self.guarded_changed)
        if self._sibling is not None:
            sibling, self._sibling = self._sibling, None
            self.app.run_worker(sibling.close(), exit_on_error=False)

    def focus_default(self) -> None:
        """Its tab came to the front: the keys go to the table; what was polled meanwhile shows."""
        if self._stale_render:
            self.render_view()
        self.table.focus()

    def on_resize(self) -> None:
        narrow = self.size.width < NARROW_BELOW
        self.body.set_class(narrow, "-narrow")
        self.table.set_narrow(narrow)
        # Inline: the app's stylesheet sizes every pane's table (`.pane LiveTable`) and wins over DEFAULT_CSS.
        self.table.styles.width = "1fr" if narrow else "2fr"
        self.table.styles.height = "3fr" if narrow else "1fr"

    def quit_blocker(self) -> str | None:
        guarded = self.guarded_rollout
        return guarded.leaves_running() if guarded is not None else None

    @property
    def guarded_rollout(self) -> GuardedRollout | None:
        return guarded_rollouts(self.app).get(self.scale_set.id) if self.is_attached else None

    # ------------------------------------------------------------------ the poll
    def _worth_polling(self) -> bool:
        return self.is_mounted and (self._shown() or self._rolling())

    def _rolling(self) -> bool:
        view = self.tracker.view
        guarded = self.guarded_rollout
        return bool(
            (view.status is not None and view.status.is_running) or view.current_batch is not None
            or (guarded is not None and guarded.progress.active)
            or self.scale_set.id in self.host.store.watched(self.host.clock())
        )

    async def fleet(self) -> Fleet:
        """The Fleet of the scale set's subscription (the console's, or a sibling of it)."""
        fleet = self.host.fleet
        assert fleet is not None
        if fleet.subscription_id.casefold() == self.scale_set.subscription_id.casefold():
            return fleet
        if self._sibling is None:
            self._sibling = await fleet.with_subscription(self.scale_set.subscription_id)
        return self._sibling

    def _fetch(self, context: FetchContext) -> Any:
        scale_set = self.scale_set

        async def poll() -> RolloutPoll:
            try:
                return await (await self.fleet()).rollout_poll(scale_set)
            except Exception as error:
                self.post_message(PollFailed(one_line(error)))
                raise  # the poller backs off (longer when throttled)

        return poll()

    def _apply(self, poll: RolloutPoll) -> None:
        self.polls += 1
        self.instances = {i.instance_id: i for i in poll.instances}
        self.marks &= set(self.instances)
        self.tracker.observe(self.host.clock(), poll.status, poll.instances)
        factor = max(1.0, len(poll.instances) / INSTANCES_PER_BASE_INTERVAL)
        self.host.poller.set_interval(self.track_name, (ROLLOUT_REFRESH if self._rolling() else IDLE_REFRESH) * factor)
        self.render_view(only_if_shown=True)

    @on(PollFailed)
    def _poll_failed(self, message: PollFailed) -> None:
        self.polls += 1
        self.tracker.observe_failure(self.host.clock(), message.reason)
        self.render_view()

    def poll_soon(self) -> None:
        """Something was asked of Azure: poll now, and at the rolling pace from now on."""
        self.host.poller.set_interval(self.track_name, ROLLOUT_REFRESH)
        self.host.poller.request_now(self.track_name)
        self.app.call_later(self.host.poller.tick)

    # ------------------------------------------------------------------ the journal
    def _read_journal(self) -> None:
        journal = latest_journal(self.scale_set.id, self.journal_directory)
        summary = None
        if journal is not None:
            try:
                summary = journal.summary()
            except ValueError:
                journal = None
        self.post_message(JournalRead(journal, summary))

    @on(JournalRead)
    def _journal_read(self, message: JournalRead) -> None:
        if message.summary is not None and message.summary.state not in (COMPLETED, "closed") and self.guarded_rollout is None:
            self.journal, self.journal_summary = message.journal, message.summary
        self.render_view()

    # ------------------------------------------------------------------ guarded rollout events
    def guarded_changed(self, progress: Any, record: Any) -> None:
        if self.is_attached:
            self.post_message(GuardedChanged())

    @on(GuardedChanged)
    def _render_guarded(self) -> None:
        self.render_view(only_if_shown=True)
        if self._rolling():
            self.host.poller.due_within(self.track_name, ROLLOUT_REFRESH)

    # ------------------------------------------------------------------ rendering
    def _shown(self) -> bool:
        tab = self.parent
        return tab is not None and tab.display

    def render_view(self, *, only_if_shown: bool = False) -> None:
        """Everything from the tracker, the guarded rollout and the journal. A poll of a view
        whose tab is not in front only marks it for later (its tab coming to the front renders it)."""
        if not self.is_mounted:
            return
        if only_if_shown and not self._shown():
            self._stale_render = True
            return
        self._stale_render = False
        entry = self.host.store.entries.get(self.scale_set.id)
        if entry is not None:
            self.scale_set = entry.scale_set  # the model as last listed (after a change)
        now = self.host.clock()
        view = self.tracker.view
        guarded = self.guarded_rollout
        progress = guarded.progress if guarded is not None else None
        self.status.set(status_line(self.scale_set, view, guarded=progress is not None))
        width = max(10, min(60, self.size.width - 70)) if self.size.width else 30
        self.bar.set(progress_bar(rollout_counts(view, progress), width))
        self.timing.set(timing_line(view, progress, now))
        self.policy.set(policy_line(self.scale_set, view.status))
        line = guarded_line(progress, self.journal_in_view()[1], time.time())
        self.guarded_text.display = line is not None
        if line is not None:
            self.guarded_text.update(line)
        records = guarded.journal.records if guarded is not None else (self.journal.records if self.journal else [])
        self._render_rows(view, progress, records)
        events = timeline(view, records, TIMELINE_KEPT)
        stamp = (len(events), events[-1][0] if events else 0.0)
        if stamp != self._shown_events or not events:
            self._shown_events = stamp
            self.events.update(timeline_text(events))
            self.call_after_refresh(self.query_one("#rollout-timeline", VerticalScroll).scroll_end, animate=False)
        error = error_text(view.status)
        self.error.set_class(error is not None, "-shown")
        if error is not None and self.error.text != error:
            self.error.load_text(error)
        self._refresh_offers()

    def _render_rows(self, view: Any, progress: Any, records: list[dict[str, Any]]) -> None:
        batch_of: dict[str, int] = {}
        for record in records:
            if record.get("kind") == "batch-started":
                for instance_id in record.get("instance_ids") or ():
                    batch_of[str(instance_id)] = int(record.get("batch") or 0)
        gates = {g.instance_id: g for g in progress.current} if progress is not None else {}
        failed = dict(progress.failed) if progress is not None else {}
        current = set(view.current_batch.instance_ids) if view.current_batch is not None else set()
        if progress is not None:
            current = set(progress.in_flight)
        rows = []
        cache = self._rows
        kept: dict[str, tuple[tuple[Any, ...], RowData]] = {}
        for row in view.instances:
            instance_id = row.instance_id
            gate = gates.get(instance_id)
            gate_state = gate.state if gate is not None else ("failed" if instance_id in failed else None)
            reason = gate.reason if gate is not None else failed.get(instance_id)
            batch = batch_of.get(instance_id, row.batch) if records else row.batch
            inputs = (row, instance_id in self.marks, instance_id in current, batch, gate_state, reason)
            cached = cache.get(instance_id)
            # Most rows do not change from one poll to the next: their cells are not built again.
            if cached is not None and cached[0] == inputs:
                data = cached[1]
            else:
                data = RowData.of(instance_id, instance_cells(row, marked=inputs[1], current=inputs[2], batch=batch,
                                                              gate_state=gate_state, gate_reason=reason))
            kept[instance_id] = (inputs, data)
            rows.append(data)
        self._rows = kept
        self.table.set_rows(rows)
        marked = f" · {len(self.marks)} marked" if self.marks else ""
        stale = " · stale" if view.stale else ""
        self.border_subtitle = f"{len(view.instances)} instances{marked}{stale}"

    def journal_in_view(self) -> tuple[Journal | None, JournalSummary | None]:
        """The journal `r` resumes and `F` puts away: the one read at opening, or that of a guarded
        rollout of this session that has ended."""
        guarded = self.guarded_rollout
        if guarded is not None and not guarded.progress.active:
            journal = guarded.journal
            key = (id(journal), len(journal.records))
            if self._summary_of[0] != key:  # read again only when it grew
                try:
                    self._summary_of = (key, journal.summary())
                except ValueError:
                    self._summary_of = (key, None)
            return (journal, self._summary_of[1]) if self._summary_of[1] is not None else (None, None)
        return self.journal, self.journal_summary

    # ------------------------------------------------------------------ what the keys may do now
    def offers(self, action: str) -> bool:
        """Whether a key applies now (its footer entry shows): from the state as it is, not as it
        was last rendered."""
        return self._current_offers().get(action, True)

    def _current_offers(self) -> dict[str, bool]:
        status = self.tracker.view.status
        guarded = self.guarded_rollout
        progress = guarded.progress if guarded is not None else None
        active = progress is not None and progress.active
        manual = (self.scale_set.upgrade_mode or "").casefold() == "manual"
        _, summary = self.journal_in_view()
        return {
            "start": not active and not (status is not None and status.is_running),
            "update": not active,
            "guarded": manual and not active,
            "cancel": status is not None and status.is_running,
            "reimage": not active,
            "pause": active and progress is not None and progress.state in ("running", "waiting"),
            "resume": (active and progress is not None and progress.state in ("paused", "pausing"))
                      or (not active and summary is not None and summary.resumable),
            "abort": active,
            "forget": not active and summary is not None,
        }

    def _refresh_offers(self) -> None:
        offers = self._current_offers()
        if offers != self._offers:
            self._offers = offers
            self.table.refresh_bindings()

    # ------------------------------------------------------------------ marks
    def toggle_mark(self, instance_id: str | None) -> None:
        if instance_id is None:
            return
        self.marks ^= {instance_id}
        self.render_view()


# ---------------------------------------------------------------------- opening views


def open_rollout_view(host: PaneHost, scale_set: ScaleSet) -> None:
    """The rollout tab of `scale_set`: opened, or brought to the front when open."""
    host.open_tab(f"rollout {scale_set.id}", f"⟳ {scale_set.name}", RolloutView(host, scale_set))


class RolloutOnStart:
    """`vmss-tui rollout SCALE_SET [-g RG]`: the console opens in that scale set's rollout view as
    soon as the scale sets are listed (call `fleet_changed(host)` on every store change)."""

    def __init__(self, target: tuple[str, str | None] | None) -> None:
        self.target = target
        self.done = target is None

    def fleet_changed(self, host: PaneHost) -> None:
        if self.done or self.target is None or not host.store.loaded_once:
            return
        self.done = True
        name, group = self.target
        matches = host.store.find_scale_set(name, group)
        if not matches:
            host.notify(f"Scale set {name} not found" + (f" in {group}" if group else ""), severity="error")
        elif len(matches) > 1:
            groups = ", ".join(e.scale_set.resource_group for e in matches)
            host.notify(f"{name} exists in several resource groups ({groups}): pass -g", severity="error")
        else:
            open_rollout_view(host, matches[0].scale_set)


def announce_unfinished_rollouts(app: App[Any], directory: Path | None = None) -> None:
    """At start: say which guarded rollouts stopped before they were done (from their journals)."""
    from vmss_tui.workflows.guarded_rollout import unfinished_journals

    def read() -> None:
        try:
            summaries = unfinished_journals(directory)
        except OSError:
            return
        for summary in summaries:
            hint = " Press u on it to see the journal and r to resume." if summary.resumable else ""
            app.call_from_thread(app.notify, f"{summary.headline()[0].upper()}{summary.headline()[1:]}.{hint}",
                                 title="Guarded rollout", severity="warning", timeout=20)

    app.run_worker(read, thread=True, group="rollout-journals", exit_on_error=False)
