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

if TYPE_CHECKING:
    from vmss_tui.config import Config
    from vmss_tui.ui.poller import Poller, Track
    from vmss_tui.ui.store import FleetStore

DETAILS_NONE = (None, "", "")


class PaneHost(Protocol):
    """What a pane may read from the screen that shows it."""

    store: FleetStore
    poller: Poller
    config: Config
    read_only: bool

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


class FleetPane(Vertical):
    """A pane of the fleet screen (see the module docstring)."""

    VIEW: ClassVar[str] = ""  # the view it belongs to: vmss | inst | nat | disk
    TITLE: ClassVar[str] = ""
    TOPICS: ClassVar[frozenset[str]] = frozenset()  # store topics that make it render

    def __init__(self, host: PaneHost, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="pane")
        self.host = host

    def show(self) -> None:
        """Render from the store (called when one of TOPICS changed)."""

    def tracks(self) -> list[Track]:
        """The refresh tracks this pane needs, registered once by its screen."""
        return []

    def details(self) -> tuple[str | None, str, str]:
        """`(subject, JSON as ARM returned it, description)` of what is under the cursor."""
        return DETAILS_NONE


class Line(Static):
    """A one-line text that repaints only when its text changed (the cursor moves many times a
    second; an update of a one-line widget needs no new layout)."""

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Text(text), id=id, classes=classes)
        self._shown = text

    def set(self, text: Text | str, *, layout: bool = False) -> None:
        content = text if isinstance(text, Text) else Text(text)
        if content.plain == self._shown and not content.spans:
            return
        self._shown = content.plain
        self.update(content, layout=layout)
