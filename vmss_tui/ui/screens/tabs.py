"""The fleet screen's tabs: the fleet, SSH sessions, rollout views and the other views a pane
opens beside it; which one is in front, and what quitting would end in them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual.app import ScreenStackError
from textual.content import Content
from textual.widget import Widget
from textual.widgets import TabbedContent, TabPane

from vmss_tui.ui import intents

if TYPE_CHECKING:
    from vmss_tui.ui.ssh_tabs import SshTabs

FLEET_TAB = "fleet-tab"
FLEET_ONLY_ACTIONS = frozenset({"details", "filter", "back"})


class TabsMixin:
    """Tab handling of FleetScreen, a Screen that has `tabs`, `view`, `ssh`, `show_view()` and
    `render_status()`."""

    tabs: TabbedContent
    view: str
    ssh: SshTabs

    def open_tab(self, key: str, label: str, widget: Widget) -> None:  # type: ignore[misc]
        tab_id = "tab-" + "".join(c if c.isalnum() else "-" for c in key.casefold())
        tabs = self.tabs
        if tab_id in {pane.id for pane in tabs.query(TabPane)}:
            tabs.active = tab_id
            return
        tabs.add_pane(TabPane(Content(label), widget, id=tab_id))
        # The focused table goes out of view with its tab: Textual would move the focus to another
        # widget of the fleet tab, and the tabs would follow the focus straight back there.
        self.set_focus(None)
        tabs.active = tab_id
        self.update_tab_bar()
        self.call_after_refresh(widget.focus)

    def action_next_tab(self) -> None:
        self._cycle_tab(1)

    def action_previous_tab(self) -> None:
        self._cycle_tab(-1)

    def _cycle_tab(self, step: int) -> None:
        tabs = self.tabs
        ids = [pane.id for pane in tabs.query(TabPane) if pane.id]
        if len(ids) <= 1:
            return
        index = ids.index(tabs.active) if tabs.active in ids else 0
        tabs.active = ids[(index + step) % len(ids)]
        if tabs.active == FLEET_TAB:
            self.show_view(self.view)

    def action_close_tab(self) -> None:
        if self.tabs.active and self.tabs.active != FLEET_TAB:
            self.close_tab(self.tabs.active)

    def on_close_tab(self, message: intents.CloseTab) -> None:
        self.close_tab(message.tab_id)

    def close_tab(self, tab_id: str) -> None:
        if tab_id == FLEET_TAB:
            return
        self.tabs.remove_pane(tab_id)
        self.call_after_refresh(self.update_tab_bar)
        self.call_after_refresh(self.show_view, self.view)

    def _focus_tab(self, pane: TabPane) -> None:
        for widget in pane.children:
            focus_default = getattr(widget, "focus_default", None)
            if callable(focus_default):
                focus_default()
            elif widget.focusable:
                widget.focus()
            else:
                continue
            return

    def quit_blockers(self) -> list[str]:
        """What quitting now would end or leave behind (open SSH sessions, a guarded rollout ...):
        every widget in a tab may say, through a `quit_blocker()` method."""
        said = []
        for pane in self.tabs.query(TabPane):
            for widget in pane.children:
                blocker = getattr(widget, "quit_blocker", None)
                text = blocker() if callable(blocker) else None
                if text:
                    said.append(text)
        return said

    def update_tab_bar(self) -> None:
        self.tabs.set_class(len(self.tabs.query(TabPane)) <= 1, "-single")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in FLEET_ONLY_ACTIONS and self.tabs.active not in (FLEET_TAB, ""):
            return False  # about the fleet's panes: nothing to do for a session or a view in front
        if action in ("next_tab", "previous_tab"):
            return len(self.tabs.query(TabPane)) > 1
        if action == "close_tab":
            return self.tabs.active not in (FLEET_TAB, "")
        return True

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == FLEET_TAB:
            self.call_after_refresh(self.show_view, self.view)
        else:
            # Switching to a tab gives it the keys (a connected terminal takes them itself).
            self.call_after_refresh(self._focus_tab, event.pane)
        self.render_status()
        try:
            self.refresh_bindings()
        except ScreenStackError:
            pass  # the app is closing (a tab closed as its screen went away): no footer to update

    def on_ssh_session_pane_state_changed(self, message: Any) -> None:
        self.ssh.state_changed(getattr(message, "pane", None), message.state)

