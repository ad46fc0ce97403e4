"""The guarded rollout's dialog: batch size, the failure threshold, the pause, the health gate.

Every field is checked as it is typed (`workflows.guarded_rollout.plan_from_input`) and the plan
is said in one line before anything starts; Cancel is the default and Esc closes. The same dialog
resumes a rollout from its journal, filled in with what the journal says.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Static

from vmss_tui.domain.models import ScaleSet
from vmss_tui.ui.dialogs import DIALOG_FOCUS_BINDINGS
from vmss_tui.ui.format import summarize_ids
from vmss_tui.workflows.guarded_rollout import GuardedPlan, GuardedPlanError, JournalSummary, plan_from_input

FIELDS = (
    ("batch", "Batch size (instances, or a percentage: 2, 25%)"),
    ("max_failed", "Stop when more than this many fail (0: at the first)"),
    ("pause", "Pause between batches (30, 2m, PT1M)"),
    ("health_timeout", "Health timeout per batch (300, 10m)"),
    ("check_command", "Check command over SSH that must exit 0 (optional)"),
)
DEFAULTS = {"batch": "1", "max_failed": "0", "pause": "30", "health_timeout": "300", "check_command": ""}


class GuardedRolloutScreen(ModalScreen[GuardedPlan | None]):
    """Plan a guarded rollout (or its resumption); dismissed with the plan, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel"), *DIALOG_FOCUS_BINDINGS]
    DEFAULT_CSS = """
    GuardedRolloutScreen #guarded-form { height: auto; max-height: 70vh; }
    GuardedRolloutScreen .field-label { margin-top: 1; color: $text-muted; }
    GuardedRolloutScreen #guarded-plan { margin-top: 1; height: auto; }
    GuardedRolloutScreen #guarded-trust { margin-top: 1; }
    """

    def __init__(
        self,
        scale_set: ScaleSet,
        instance_ids: Sequence[str],
        *,
        why: str,
        resume: JournalSummary | None = None,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.scale_set = scale_set
        self.instance_ids = tuple(instance_ids)
        self.why = why  # "5 instances not on the latest model"
        self.resume = resume
        self.plan: GuardedPlan | None = None
        self.values = dict(DEFAULTS)
        if resume is not None:
            previous = resume.plan
            self.values.update(
                batch=previous.batch.text(), max_failed=previous.max_failed.text(),
                pause=f"{previous.pause_seconds:g}", health_timeout=f"{previous.health_timeout:g}",
                check_command=previous.check_command or "",
            )

    def compose(self) -> ComposeResult:
        name = self.scale_set.name
        title = f"Resume the guarded rollout of {name}" if self.resume else f"Guarded rollout of {name}"
        if self.resume is not None:
            failed = len(self.resume.failed)
            before = f" ({failed} failed before: they count against the threshold)" if failed else ""
            summary = Text(f"{self.resume.headline()}.\nLeft to roll: {summarize_ids(list(self.instance_ids), 12)}"
                           f"{before}.")
        else:
            summary = Text(f"{self.why}: {summarize_ids(list(self.instance_ids), 12)}. One update-instances per "
                           "batch; the next waits until the batch runs the latest model, healthy, and passes the check.")
        with Vertical(id="dialog"):
            yield Label(Text(title), id="dialog-title")
            yield Static(summary, id="dialog-summary")
            with VerticalScroll(id="guarded-form"):
                for field, label in FIELDS:
                    yield Label(label, classes="field-label")
                    yield Input(self.values[field], id=f"guarded-{field}", compact=True)
                trust = self.resume.plan.trust_updated_host_keys if self.resume is not None else True
                yield Checkbox("Trust the new SSH host key of an instance this rollout updated (an OS "
                               "upgrade replaces its disk and key)", trust, id="guarded-trust", compact=True)
                yield Static(id="guarded-plan")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Resume" if self.resume else "Start", id="confirm", variant="warning", disabled=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self._revalidate()
        self.query_one("#guarded-batch", Input).focus()

    def on_resize(self) -> None:
        # The buttons stay on screen at 80x24: the fields scroll instead.
        self.query_one("#guarded-form").styles.max_height = max(4, self.size.height - 15)

    def _revalidate(self) -> None:
        values = {field: self.query_one(f"#guarded-{field}", Input).value for field, _ in FIELDS}
        trust = self.query_one("#guarded-trust", Checkbox).value
        shown = self.query_one("#guarded-plan", Static)
        resume = self.resume
        try:
            self.plan = plan_from_input(
                instance_ids=self.instance_ids, trust_updated_host_keys=trust,
                total_instances=len(resume.plan.instance_ids) if resume else 0,
                already_failed=len(resume.failed) if resume else 0, **values,
            )
        except GuardedPlanError as exc:
            self.plan = None
            shown.update(Text("\n".join(exc.problems), style="red"))
        else:
            shown.update(Text.assemble(("Plan: ", "bold"), self.plan.describe()))
        self.query_one("#confirm", Button).disabled = self.plan is None

    @on(Input.Changed)
    @on(Checkbox.Changed)
    def _changed(self) -> None:
        self._revalidate()

    @on(Input.Submitted)
    def _next_field(self) -> None:
        self.focus_next()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#confirm")
    def _start(self) -> None:
        self._revalidate()
        if self.plan is not None:
            self.dismiss(self.plan)
