"""Command palette (ctrl+p) providers: jump to any scale set or instance, run any action.

Mutating actions are not offered at all in a read-only session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from vmss_tui.ui.actions import INSTANCE_ACTION_SPECS, SCALE_SET_ACTION_SPECS
from vmss_tui.ui.render import pluralize

if TYPE_CHECKING:
    from vmss_tui.ui.app import VmssConsoleApp

MAX_INSTANCE_HITS = 200  # the palette shows a screenful; do not build 50,000 hits per key


class _ConsoleProvider(Provider):
    @property
    def console(self) -> VmssConsoleApp:
        return self.app  # type: ignore[return-value]


class JumpCommands(_ConsoleProvider):
    """Every scale set, and every instance whose scale set has been loaded."""

    def _targets(self) -> Iterator[tuple[str, Callable[[], None], str]]:
        app = self.console
        views = sorted(app.views.values(), key=lambda v: (v.scale_set.resource_group, v.scale_set.name))
        for view in views:
            s = view.scale_set
            yield (
                f"scale set {s.resource_group}/{s.name}",
                partial(app.jump_to_scale_set, s.id),
                f"{s.capacity} instances · {s.sku} · {s.upgrade_mode}",
            )
        for view in views:
            for instance in view.instances or ():
                yield (
                    f"instance {view.scale_set.name}/{instance.instance_id} {instance.computer_name or ''}".rstrip(),
                    partial(app.jump_to_instance, view.scale_set.id, instance.id),
                    f"{instance.power_state} · {view.scale_set.resource_group}",
                )

    async def discover(self) -> Hits:
        for text, command, help_text in self._targets():
            if text.startswith("scale set"):
                yield DiscoveryHit(text, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        instance_hits = 0
        for text, command, help_text in self._targets():
            score = matcher.match(text)
            if score <= 0:
                continue
            if text.startswith("instance"):
                instance_hits += 1
                if instance_hits > MAX_INSTANCE_HITS:
                    continue
            yield Hit(score, matcher.highlight(text), command, text=text, help=help_text)


class ActionCommands(_ConsoleProvider):
    """Views, refresh, help, details, subscriptions, and (unless read-only) every action."""

    def _commands(self) -> Iterator[tuple[str, Callable[[], None], str]]:
        app = self.console
        yield "view: scale sets", partial(app.show_view, "vmss"), ":vmss"
        yield "view: instances", partial(app.show_view, "inst"), ":inst"
        yield "view: NAT mappings", partial(app.show_view, "nat"), ":nat"
        yield "view: disks", partial(app.show_view, "disk"), ":disk"
        yield "refresh now", app.action_refresh_now, "ctrl+r"
        yield "help: keys of the focused pane", app.action_help, "?"
        yield "details: JSON as ARM returned it", partial(app.action_details, "json"), "y"
        yield "details: describe", partial(app.action_details, "describe"), "d"
        yield "switch subscription", partial(app.switch_subscription, None), ":sub"
        yield "clear marks", app.clear_marks, "instances"
        yield "ssh to the selected instance", app.ssh_to_cursor, "s"
        yield "quit", partial(app.exit, 0), ":q"
        if app.read_only:
            return
        view = app.selected_view()
        if view is None:
            return
        targets = app.target_instances()
        which = f"{len(targets)} marked" if view.marks else "the cursor's"
        for action_id, spec in INSTANCE_ACTION_SPECS.items():
            if not targets:
                break
            yield (
                f"{spec.label.lower()}: {pluralize(len(targets), 'instance')} of {view.scale_set.name}",
                partial(app.request_instance_action, action_id),
                f"{which} · asks first",
            )
        for action_id, spec in SCALE_SET_ACTION_SPECS.items():
            yield (
                f"{spec.label.lower()}: scale set {view.scale_set.name}",
                partial(app.request_scale_set_action, action_id),
                "asks first",
            )

    async def discover(self) -> Hits:
        for text, command, help_text in self._commands():
            yield DiscoveryHit(text, command, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, command, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, text=text, help=help_text)
