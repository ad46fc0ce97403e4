"""Command palette (ctrl+p) providers: jump to any scale set or instance, run any action.

They act on the fleet screen the palette was opened over (and offer nothing over any other
screen). Mutating actions are not offered at all in a read-only session.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from rich.text import Text
from textual.command import DiscoveryHit, Hit, Hits, Provider

from vmss_tui.ui.actions import INSTANCE_ACTION_SPECS, SCALE_SET_ACTION_SPECS
from vmss_tui.ui.format import pluralize
from vmss_tui.ui.screens.fleet import FleetScreen

MAX_INSTANCE_HITS = 200  # the palette shows a screenful; do not build 50,000 hits per key

Entry = tuple[str, Callable[[], None], str]


class _FleetProvider(Provider):
    @property
    def fleet_screen(self) -> FleetScreen | None:
        return self.screen if isinstance(self.screen, FleetScreen) else None

    def _entries(self) -> Iterator[Entry]:
        return iter(())

    async def discover(self) -> Hits:
        for text, command, help_text in self._entries():
            if self._discoverable(text):
                yield DiscoveryHit(Text(text), command, help=help_text)

    def _discoverable(self, text: str) -> bool:
        return True

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        instance_hits = 0
        for text, command, help_text in self._entries():
            score = matcher.match(text)
            if score <= 0:
                continue
            if text.startswith("instance"):
                instance_hits += 1
                if instance_hits > MAX_INSTANCE_HITS:
                    continue
            yield Hit(score, matcher.highlight(text), command, text=text, help=help_text)


class JumpCommands(_FleetProvider):
    """Every scale set, and every instance whose scale set has been loaded."""

    def _entries(self) -> Iterator[Entry]:
        screen = self.fleet_screen
        if screen is None:
            return
        entries = screen.store.ordered()
        for entry in entries:
            s = entry.scale_set
            yield (
                f"scale set {s.resource_group}/{s.name}",
                partial(screen.jump_to_scale_set, s.id),
                f"{s.capacity} instances · {s.sku} · {s.upgrade_mode}",
            )
        for entry in entries:
            for instance in entry.instances or ():
                yield (
                    f"instance {entry.scale_set.name}/{instance.instance_id} {instance.computer_name or ''}".rstrip(),
                    partial(screen.jump_to_instance, entry.scale_set.id, instance.id),
                    f"{instance.power_state} · {entry.scale_set.resource_group}",
                )

    def _discoverable(self, text: str) -> bool:
        return text.startswith("scale set")


class ActionCommands(_FleetProvider):
    """Views, refresh, help, details, subscriptions, and (unless read-only) every action."""

    def _entries(self) -> Iterator[Entry]:
        screen = self.fleet_screen
        if screen is None:
            return
        app = self.app
        yield "view: scale sets", partial(screen.show_view, "vmss"), ":vmss"
        yield "view: instances", partial(screen.show_view, "inst"), ":inst"
        yield "view: NAT mappings", partial(screen.show_view, "nat"), ":nat"
        yield "view: disks", partial(screen.show_view, "disk"), ":disk"
        yield "refresh now", screen.action_refresh_now, "ctrl+r"
        yield "help: keys of the focused pane", screen.action_help, "?"
        yield "details: JSON as ARM returned it", partial(screen.action_details, "json"), "y"
        yield "details: describe", partial(screen.action_details, "describe"), "d"
        yield "switch subscription", partial(screen.run_command, "sub"), ":sub"
        yield "clear marks", screen.store.clear_marks, "instances"
        yield "ssh to the selected instance", screen.ssh_to_cursor, "s"
        yield "quit", partial(app.run_action, "quit"), ":q"
        if screen.read_only:
            return
        entry = screen.store.selected()
        if entry is None:
            return
        targets = screen.store.target_instances()
        which = f"{len(targets)} marked" if entry.marks else "the cursor's"
        for action_id, spec in INSTANCE_ACTION_SPECS.items():
            if not targets:
                break
            yield (
                f"{spec.label.lower()}: {pluralize(len(targets), 'instance')} of {entry.scale_set.name}",
                partial(screen.actions.request_instance_action, action_id),
                f"{which} · asks first",
            )
        for action_id, spec in SCALE_SET_ACTION_SPECS.items():
            yield (
                f"{spec.label.lower()}: scale set {entry.scale_set.name}",
                partial(screen.actions.request_scale_set_action, action_id, entry.scale_set.id),
                "asks first",
            )
