"""The guarded rollout through the console (Pilot): planned in its dialog, stopped at the
operator's threshold, told of after a restart of the console and resumed from its journal;
paused, aborted, and what a quit would leave running."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Button, Input

from tests.support.console import loaded_console, record_notifications, wait_until
from tests.ui.test_rollout import GROUP, confirm, open_view, quick_polls, spec, start, writes  # noqa: F401
from vmss_tui.ui.dialogs import ConfirmActionScreen
from vmss_tui.ui.rollout_dialogs import GuardedRolloutScreen
from vmss_tui.ui.rollout_view import RolloutView, announce_unfinished_rollouts, quit_blockers
from vmss_tui.workflows.guarded_rollout import ABORTED, COMPLETED, PAUSED, STOPPED, WAITING, Journal


def journals(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "state" / "vmss-tui" / "rollouts").glob("*.jsonl"))


async def plan_dialog(pilot: Any, app: Any, key: str, **fields: str) -> GuardedRolloutScreen:
    await pilot.press(key)
    await wait_until(pilot, lambda: isinstance(app.screen, GuardedRolloutScreen), "the guarded rollout dialog")
    dialog = app.screen
    assert isinstance(dialog, GuardedRolloutScreen)
    for name, value in fields.items():
        dialog.query_one(f"#guarded-{name}", Input).value = value
    await pilot.pause()
    return dialog


def progress_of(view: RolloutView) -> Any:
    guarded = view.guarded_rollout
    return guarded.progress if guarded is not None else None


def states(view: RolloutView) -> list[str]:
    return [view.table.get_cell(key, "state").plain for key in view.table.visible_keys]


async def test_guarded_rollout_stops_at_its_threshold_and_resumes_from_its_journal_after_a_restart(
        start_simulator, tmp_path) -> None:
    sim = await start(start_simulator, spec("vmss-man", "Manual", capacity=4))
    sim.inject_unhealthy(GROUP, "vmss-man", [1], after_upgrade=True)  # a bad image on instance 1
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        notes = record_notifications(app)
        view = await open_view(pilot, app, "vmss-man")
        dialog = await plan_dialog(pilot, app, "S", batch="2", max_failed="0", pause="0", health_timeout="1")
        assert "4 instances not on the latest model: 0, 1, 2, 3" in str(dialog.query_one("#dialog-summary").render())
        assert str(dialog.query_one("#guarded-plan").render()) == (
            "Plan: batches of 2 (2 batches) · stop when more than 0 fail · pause 0 s · health within 1 s")
        start_button = dialog.query_one("#confirm", Button)
        assert not start_button.disabled and dialog.query_one("#cancel", Button).variant == "primary"
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: progress_of(view) is not None and progress_of(view).state == STOPPED,
                         "the guarded rollout to stop", limit=60)
        progress = progress_of(view)
        assert progress.message == "1 failed, more than the threshold of 0"
        assert [b["instanceIds"] for b in writes(sim, "/manualupgrade")] == [["0", "1"]]
        await wait_until(pilot, lambda: states(view) == ["done", "failed", "pending", "pending"], "the rows")
        assert view.table.get_cell("1", "note").plain == "health unhealthy after 1 s (the health timeout)"
        await wait_until(pilot, lambda: str(view.guarded_text.render()).startswith(
            "guarded rollout stopped after batch 1 of 2 (1 failed, more than the threshold of 0)"), "the line")
        await wait_until(pilot, lambda: ("Guarded rollout of vmss-man stopped: 1 failed, more than the threshold of 0",
                                         "error") in [(n, kw.get("severity")) for n, kw in notes], "the notification")
        assert "decision: stop (1 failed, more than the threshold of 0)" in str(view.events.render())
        assert len(journals(tmp_path)) == 1

    # A new console: all it has is the journal. (The app tells at its start, before a test can
    # listen: the same call is made again here.)
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        notes = record_notifications(app)
        announce_unfinished_rollouts(app)
        await wait_until(pilot, lambda: any("stopped after batch 1 of 2 at " in n for n, _ in notes), "the notice")
        notice = next(n for n, _ in notes if "stopped after batch 1 of 2" in n)
        assert notice.startswith("A guarded rollout of vmss-man stopped after batch 1 of 2 at ")
        assert notice.endswith("(1 failed, more than the threshold of 0). Press u on it to see the journal and "
                               "r to resume.")
        view = await open_view(pilot, app, "vmss-man")
        await wait_until(pilot, lambda: view.journal_summary is not None, "the journal read")
        shown = str(view.guarded_text.render())
        assert shown.startswith("a guarded rollout of vmss-man stopped after batch 1 of 2 at ")
        assert shown.endswith("r resumes it, F puts the journal away")
        assert "instance 1 failed: health unhealthy after 1 s (the health timeout)" in str(view.events.render())
        assert view.offers("resume") and not view.offers("pause")

        dialog = await plan_dialog(pilot, app, "r")
        assert dialog.resume is not None
        assert dialog.query_one("#guarded-batch", Input).value == "2"
        assert dialog.query_one("#guarded-max_failed", Input).value == "0"
        resume_button = dialog.query_one("#confirm", Button)
        assert resume_button.disabled and str(resume_button.label) == "Resume"
        assert "stop after: 1 already failed; raise it to at least 1 to go on" in str(
            dialog.query_one("#guarded-plan").render())
        dialog.query_one("#guarded-max_failed", Input).value = "1"
        await pilot.pause()
        assert not resume_button.disabled
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: progress_of(view) is not None and progress_of(view).state == COMPLETED,
                         "the resumed rollout to complete", limit=60)
        assert progress_of(view).batch == 2 and progress_of(view).batches_total == 2
        assert [b["instanceIds"] for b in writes(sim, "/manualupgrade")] == [["0", "1"], ["2", "3"]]
        await wait_until(pilot, lambda: states(view) == ["done", "failed", "done", "done"], "the rows")
        assert len(journals(tmp_path)) == 1
        summary = Journal.load(journals(tmp_path)[0]).summary()
        assert summary.state == COMPLETED and summary.passed == ("0", "2", "3")


async def test_pause_abort_and_what_a_quit_leaves(start_simulator, tmp_path) -> None:
    sim = await start(start_simulator, spec("vmss-man", "Manual", capacity=3))
    async with loaded_console(sim, size=(160, 45), heartbeat=0.1) as (app, pilot):
        view = await open_view(pilot, app, "vmss-man")
        await plan_dialog(pilot, app, "S", batch="1", max_failed="0", pause="10m", health_timeout="30")
        await pilot.click("#confirm")
        await wait_until(pilot, lambda: progress_of(view) is not None and progress_of(view).state == WAITING,
                         "the pause after batch 1", limit=60)
        await wait_until(pilot, lambda: "next batch in " in str(view.guarded_text.render()), "the pause shown")
        assert view.offers("pause") and view.offers("abort") and not view.offers("guarded")
        await pilot.press("p")
        await wait_until(pilot, lambda: progress_of(view).state == PAUSED, "paused")
        assert view.offers("resume")
        assert view.quit_blocker() == ("the guarded rollout of vmss-man stops in batch 1 of 3: no further batch "
                                       "starts (resume it from its journal with u, then r)")
        # ctrl+q asks first and says what the quit leaves.
        await pilot.press("ctrl+q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmActionScreen), "the quit dialog")
        assert any("the guarded rollout of vmss-man stops in batch 1 of 3" in item for item in app.screen.items)
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmActionScreen), "back in the console")
        # Its tab closed, the rollout still runs and the quit still says so.
        await pilot.press("ctrl+w")
        await wait_until(pilot, lambda: not list(app.screen_stack[0].query(RolloutView)), "the tab closed")
        assert quit_blockers(app) == ["the guarded rollout of vmss-man stops in batch 1 of 3: no further batch "
                                      "starts (resume it from its journal with u, then r)"]
        view = await open_view(pilot, app, "vmss-man")
        assert progress_of(view).state == PAUSED  # the same rollout, shown again
        await pilot.press("A")
        await confirm(pilot, app)
        await wait_until(pilot, lambda: progress_of(view).state == ABORTED, "aborted")
        assert quit_blockers(app) == [] and view.quit_blocker() is None
        assert [b["instanceIds"] for b in writes(sim, "/manualupgrade")] == [["0"]]
        records = Journal.load(journals(tmp_path)[0]).records
        assert [r["kind"] for r in records if r["kind"] in ("paused", ABORTED)] == ["paused", ABORTED]
