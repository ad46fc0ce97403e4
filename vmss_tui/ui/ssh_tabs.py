"""SSH sessions in tabs of the fleet screen: opening one for an instance (once its NAT mappings
are known), the session `vmss-tui ssh SCALE_SET INSTANCE` asks for at start, and tab labels that
follow the session's state."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from rich.text import Text
from textual.content import Content
from textual.widgets import TabbedContent, TabPane

from vmss_tui.domain.models import Instance, ScaleSet

if TYPE_CHECKING:
    from vmss_tui.azure.fleet import Fleet
    from vmss_tui.config import Config
    from vmss_tui.ui.store import FleetStore


class SshHost(Protocol):
    store: FleetStore
    config: Config
    ssh_identity_file: str | None
    read_only: bool

    @property
    def fleet(self) -> Fleet | None: ...

    def push_screen(self, screen: Any, callback: Any = None) -> Any: ...

    def start_action(self, label: str, scale_set: ScaleSet, call: Any, *, pending: str = "",
                     instance_keys: frozenset[str] = frozenset(), scale_set_pending: str = "") -> None: ...

    @property
    def tabs(self) -> TabbedContent: ...

    def notify(self, message: str, **kwargs: Any) -> None: ...

    def jump_to_scale_set(self, scale_set_id: str) -> None: ...

    def jump_to_instance(self, scale_set_id: str, instance_key: str) -> None: ...

    def request_refresh(self, *tracks: str) -> None: ...

    def call_after_refresh(self, callback: Any, *args: Any) -> bool: ...

    def update_tab_bar(self) -> None: ...


class SshTabs:
    def __init__(self, host: SshHost, target: tuple[str, str, str | None] | None) -> None:
        self.host = host
        self.cli_target = target  # (scale set name, instance id, resource group) from `vmss-tui ssh`
        self._cli_target_done = target is None
        self._pending: tuple[str, str] | None = None  # (scale set id, instance key) awaiting NAT
        self._opened = 0
        self._tab_of: dict[str, str] = {}  # instance resource id -> tab id of its latest session

    def open(self, scale_set: ScaleSet, instance: Instance, *, new: bool = False) -> Any:
        """The SSH session to `instance`: its tab if one is open (unless `new`), else a new tab.
        The target (NAT frontend of the configured backend port, or the private IP through the
        configured jump host) comes from the NAT mappings; when they are not loaded yet they are
        fetched and the session opens then."""
        from vmss_tui.ssh.settings import SshSettings, resolve_target
        from vmss_tui.ui.ssh_pane import SshSessionPane

        host = self.host
        existing = self._tab_of.get(instance.id)
        if not new and existing is not None and existing in {p.id for p in host.tabs.query(TabPane)}:
            host.tabs.active = existing
            return None
        entry = host.store.entries.get(scale_set.id)
        if entry is None or entry.nat is None:
            self._pending = (scale_set.id, instance.id)
            if scale_set.id != host.store.selected_id:
                host.jump_to_scale_set(scale_set.id)
            host.request_refresh("nat")
            host.notify(f"Looking up the NAT mapping of {scale_set.name}/{instance.instance_id}…", timeout=3)
            return None
        settings = SshSettings.from_config(host.config.ssh, identity_file=host.ssh_identity_file)
        choice = resolve_target(
            settings, scale_set=scale_set, instance=instance, resolution=entry.nat,
            private_ip=entry.private_ips.get(instance.instance_id),
        )
        if choice.not_running is not None:
            self._offer_start(scale_set, instance, choice.reason or f"instance is {choice.not_running}")
            return None
        if choice.target is None:
            host.notify(choice.reason or f"No way to reach {instance.name} over SSH", severity="warning", timeout=10)
            return None
        if choice.reason:
            host.notify(choice.reason, timeout=8)
        mapping = choice.mapping
        nsg_label = mapping.nsg.label if mapping is not None and mapping.nsg is not None else None
        pane = SshSessionPane(choice.target, settings, nsg_label)
        self._opened += 1
        tab_id = f"ssh-{self._opened}"
        tabs = host.tabs
        tabs.add_pane(TabPane(Content(choice.target.label), pane, id=tab_id))
        self._tab_of[instance.id] = tab_id
        tabs.active = tab_id
        host.update_tab_bar()
        host.call_after_refresh(pane.focus)
        return pane

    def _offer_start(self, scale_set: ScaleSet, instance: Instance, reason: str) -> None:
        """SSH to a stopped or deallocated instance: say so, and offer to start it."""
        from vmss_tui.ui.dialogs import ConfirmActionScreen

        host = self.host
        if host.read_only:
            host.notify(f"{reason} (a read-only session cannot start it)", severity="warning", timeout=10)
            return
        label = f"Start of {scale_set.name} instance {instance.instance_id}"

        def answered(ok: bool | None) -> None:
            fleet = host.fleet
            if not ok or fleet is None:
                host.notify(f"Cancelled: {label}", timeout=3)
                return
            host.start_action(label, scale_set,
                              lambda progress: fleet.run_instance_action(scale_set, "start", [instance.instance_id],
                                                                         on_progress=progress),
                              pending="starting…", instance_keys=frozenset({instance.id}))

        host.push_screen(ConfirmActionScreen(
            f"{scale_set.name}/{instance.instance_id} is {instance.power_state}",
            f"No SSH session: {reason}. Start it? It boots the VM (compute billing resumes); press s again "
            "once it runs.", [], "Start instance"), answered)

    def fleet_changed(self) -> None:
        """The store changed: a session waiting for its NAT mapping, or the one asked for on the
        command line, may open now."""
        self._open_pending()
        self._open_cli_target()

    def _open_pending(self) -> None:
        if self._pending is None:
            return
        scale_set_id, instance_key = self._pending
        entry = self.host.store.entries.get(scale_set_id)
        if entry is None or entry.nat is None or entry.instances is None:
            return
        self._pending = None
        instance = entry.instance(instance_key)
        if instance is not None:
            self.open(entry.scale_set, instance)

    def _open_cli_target(self) -> None:
        host = self.host
        if self._cli_target_done or self.cli_target is None or not host.store.loaded_once:
            return
        name, instance_id, group = self.cli_target
        matches = host.store.find_scale_set(name, group)
        if not matches:
            self._cli_target_done = True
            host.notify(f"Scale set {name} not found" + (f" in {group}" if group else ""), severity="error")
            return
        if len(matches) > 1:
            self._cli_target_done = True
            groups = ", ".join(e.scale_set.resource_group for e in matches)
            host.notify(f"{name} exists in several resource groups ({groups}): pass -g", severity="error")
            return
        entry = matches[0]
        if host.store.selected_id != entry.scale_set.id:
            host.jump_to_scale_set(entry.scale_set.id)
        if entry.instances is None or entry.nat is None:
            return  # being fetched; the store's change calls back here
        self._cli_target_done = True
        instance = entry.instance_by_id(instance_id)
        if instance is None:
            host.notify(f"Instance {instance_id} not found in {name}", severity="error")
            return
        host.jump_to_instance(entry.scale_set.id, instance.id)
        self.open(entry.scale_set, instance)

    def state_changed(self, pane: Any, state: str) -> None:
        """The SSH pane's state in its tab label (`web/3 … · connected`)."""
        tab_pane = pane.parent if pane is not None else None
        if tab_pane is None or not getattr(tab_pane, "id", None):
            return
        try:
            tab = self.host.tabs.get_tab(tab_pane.id)
        except Exception:  # noqa: BLE001 - the tab closed meanwhile
            return
        tab.label = Text(f"{pane.target.label} · {state}")
