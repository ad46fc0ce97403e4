"""What workers post back to the event loop: the only way fetched data reaches a handler."""

from __future__ import annotations

from collections.abc import Sequence

from textual.message import Message

from vmss_tui.domain.models import OperationResult
from vmss_tui.ui.poller import TrackReport


class TrackReported(Message):
    """A refresh track's worker finished (or handed over part of its result)."""

    def __init__(self, report: TrackReport) -> None:
        super().__init__()
        self.report = report


class ActionProgress(Message):
    """A new status of an action's long-running operation (as ARM's polls say)."""

    def __init__(self, action_id: int, status: str) -> None:
        super().__init__()
        self.action_id = action_id
        self.status = status


class ActionDone(Message):
    def __init__(self, action_id: int, result: OperationResult | None, error: str | None) -> None:
        super().__init__()
        self.action_id = action_id
        self.result = result
        self.error = error


class SubscriptionsListed(Message):
    def __init__(self, subscriptions: Sequence[tuple[str, str]] | None, error: str | None) -> None:
        super().__init__()
        self.subscriptions = list(subscriptions or ())
        self.error = error
