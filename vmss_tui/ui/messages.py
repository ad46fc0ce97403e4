"""Messages workers post to the app: the only way fetched data reaches a widget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from textual.message import Message

from vmss_tui.domain.models import Instance, NatResolution, OperationResult, ScaleSet

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet


class FleetReady(Message):
    def __init__(self, fleet: Fleet, token: int) -> None:
        super().__init__()
        self.fleet = fleet
        self.token = token


class ScaleSetsLoaded(Message):
    def __init__(
        self, token: int, scale_sets: Sequence[ScaleSet], open_ports: Mapping[str, tuple[int, ...] | None]
    ) -> None:
        super().__init__()
        self.token = token
        self.scale_sets = list(scale_sets)
        self.open_ports = dict(open_ports)  # scale set id -> ports open to any source (None: unknown)


class InstancesLoaded(Message):
    """Instances of one scale set (from the selected-scale-set refresh or a count refresh)."""

    def __init__(self, scale_set_id: str, instances: Sequence[Instance], fetched_at: float) -> None:
        super().__init__()
        self.scale_set_id = scale_set_id
        self.instances = list(instances)
        self.fetched_at = fetched_at


class NatLoaded(Message):
    def __init__(self, scale_set_id: str, resolution: NatResolution, private_ips: Mapping[str, str]) -> None:
        super().__init__()
        self.scale_set_id = scale_set_id
        self.resolution = resolution
        self.private_ips = dict(private_ips)


class TrackDone(Message):
    """A refresh track finished: `error` None on success."""

    def __init__(self, track: str, token: int, error: str | None = None, throttled: bool = False) -> None:
        super().__init__()
        self.track = track
        self.token = token
        self.error = error
        self.throttled = throttled


class OperationProgress(Message):
    def __init__(self, op_id: int, status: str) -> None:
        super().__init__()
        self.op_id = op_id
        self.status = status


class OperationDone(Message):
    def __init__(self, op_id: int, result: OperationResult | None, error: str | None) -> None:
        super().__init__()
        self.op_id = op_id
        self.result = result
        self.error = error


class SubscriptionsListed(Message):
    def __init__(self, subscriptions: Sequence[tuple[str, str]] | None, error: str | None) -> None:
        super().__init__()
        self.subscriptions = list(subscriptions or ())
        self.error = error
