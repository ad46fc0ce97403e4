"""What every fleet pane is: a bordered box around its table(s) that renders itself from the
store, declares the store topics it shows and the refresh tracks it needs.

The screen that hosts panes gives each one a `PaneHost` (attributes down); a pane asks for
things by posting intents (messages up) and never imports the app or a screen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Protocol

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Static

from vmss_tui.ui.details import describe_instance, raw_json

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Any

    from textual.screen import Screen
    from textual.widget import Widget

    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.config import Config
    from vmss_tui.domain.models import Instance, OperationResult, ScaleSet
    from vmss_tui.ui.poller import Poller, Track
    from vmss_tui.ui.store import FleetStore

DETAILS_NONE = (None, "", "")


class PaneHost(Protocol):
    """What a pane may read from the screen that shows it."""

    store: FleetStore
    poller: Poller
    config: Config
    read_only: bool
    ssh_identity_file: str | None  # the key SSH tries first (the demo's, or -i): guest reads use it too

    def clock(self) -> float: ...

    def pane_visible(self, view: str) -> bool:
        """Whether the pane of `view` is on screen now (refreshes skip what is not)."""
        ...

    def showing_instances(self) -> bool:
        """Whether any pane that shows the selected scale set's instances is on screen."""
        ...

    def selected_first(self) -> bool:
        """The selected scale set's first instance list is on its way and on screen: other
        tracks wait for it (the table a person looks at comes first)."""
        ...

    @property
    def fleet(self) -> Fleet | None: ...

    def push_screen(self, screen: Screen[Any], callback: Callable[[Any], None] | None = None) -> Any:
        """A dialog over the fleet screen; `callback` gets what it was dismissed with."""
        ...

    def start_action(
        self,
        label: str,
        scale_set: ScaleSet,
        call: Callable[[Callable[[str], Awaitable[None]]], Awaitable[OperationResult]],
        *,
        pending: str = "",
        instance_keys: frozenset[str] = frozenset(),
        scale_set_pending: str = "",
    ) -> None:
        """Run an ARM operation the person confirmed: shown while it runs, its scale set watched,
        the outcome notified (never in a read-only session)."""
        ...

    def open_tab(self, key: str, label: str, widget: Widget) -> None:
        """Show `widget` in a tab of its own beside the fleet (or the tab already open under `key`)."""
        ...

    def notify(self, message: str, **kwargs: Any) -> None: ...


class FleetPane(Vertical):
    """A pane of the fleet screen (see the module docstring)."""

    VIEW: ClassVar[str] = ""  # the view it belongs to: vmss | inst | nat | disk
    TITLE: ClassVar[str] = ""
    TOPICS: ClassVar[frozenset[str]] = frozenset()  # store topics that make it render

    def __init__(self, host: PaneHost, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self.host = host

    def set_titles(self, title: Text | object, subtitle: Text | str = "") -> None:
        """The border's title and subtitle, repainted only when they changed (a repaint of a
        bordered pane costs its whole area, and the status is refreshed several times a second)."""
        key = (repr(title), repr(subtitle))
        if key == getattr(self, "_titles_shown", None):
            return
        self._titles_shown = key
        self.border_title = title  # type: ignore[assignment]
        self.border_subtitle = subtitle  # type: ignore[assignment]

    def show(self) -> None:
        """Render from the store (called when one of TOPICS changed)."""

    def tracks(self) -> list[Track]:
        """The refresh tracks this pane needs, registered once by its screen."""
        return []

    def details(self) -> tuple[str | None, str, str]:
        """`(subject, JSON as ARM returned it, description)` of what is under the cursor."""
        return DETAILS_NONE

    def instance_details(self, instance: Instance | None) -> tuple[str | None, str, str]:
        """`details()` of an instance of the selected scale set (the instances and NAT panes')."""
        entry = self.host.store.selected()
        if entry is None or instance is None:
            return DETAILS_NONE
        return (f"instance {instance.scale_set}/{instance.instance_id}", raw_json(instance),
                describe_instance(instance, entry.scale_set, entry.nat,
                                  entry.private_ips.get(instance.instance_id), self.host.config.ssh.port))


class Line(Static):
    """A one-line text that repaints only when its text changed (the cursor moves many times a
    second; an update of a one-line widget needs no new layout)."""

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text(text), id=id, classes=classes)
        self._shown: object = (text, (), "")

    def set(self, text: Text | str, *, layout: bool = False) -> None:
        content = text if isinstance(text, Text) else Text(text)
        shown = (content.plain, tuple(content.spans), str(content.style))
        if shown == self._shown:
            return
        self._shown = shown
        self.update(content, layout=layout)
