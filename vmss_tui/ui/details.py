"""`y` and `d`: the JSON of a resource as ARM returned it, and a description for people.

The descriptions are plain text built from domain objects (no widgets); the screen shows them
as text, never as markup (names and messages come from Azure).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from vmss_tui.domain.arm_ids import instance_sort_key
from vmss_tui.domain.instances import InstanceCounts, instance_disks
from vmss_tui.domain.models import Instance, NatMapping, NatResolution, ScaleSet
from vmss_tui.domain.ssh_target import ssh_mapping


def ssh_mapping_of(resolution: NatResolution | None, instance: Instance, port: int = 22) -> NatMapping | None:
    """The mapping `s` opens for this instance (domain.ssh_target's one ranking)."""
    return ssh_mapping(resolution, instance.scale_set, instance.instance_id, port)


def nat_sort_key(mapping: NatMapping) -> tuple[Any, ...]:
    return (instance_sort_key(mapping.instance_id), mapping.backend_port, mapping.protocol, mapping.rule)


def _size(size_gb: int | None) -> str:
    return f"{size_gb} GiB" if size_gb is not None else "-"


def raw_json(obj: Any) -> str:
    raw = getattr(obj, "raw", None)
    if raw is None:
        return "{}  // ARM's JSON was not kept for this object"
    if isinstance(raw, str | bytes):
        try:
            raw = json.loads(raw)
        except ValueError:
            return raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    return json.dumps(raw, indent=2, sort_keys=False, default=str)


def _lines(pairs: Iterable[tuple[str, Any]]) -> list[str]:
    rows = [(label, value) for label, value in pairs if value not in (None, "", ())]
    width = max((len(label) for label, _ in rows), default=0)
    return [f"  {label.ljust(width)}  {value}" for label, value in rows]


def describe_scale_set(
    scale_set: ScaleSet,
    counts: InstanceCounts | None,
    open_ports: Sequence[int] | None,
    resolution: NatResolution | None,
    error: str | None = None,
) -> str:
    out = [f"Scale set {scale_set.name}", ""]
    out += _lines([
        ("Resource group", scale_set.resource_group),
        ("Subscription", scale_set.subscription_id),
        ("Location", scale_set.location),
        ("Zones", ", ".join(scale_set.zones)),
        ("SKU", f"{scale_set.sku}" + (f" ({scale_set.tier})" if scale_set.tier else "")),
        ("Capacity", scale_set.capacity),
        ("Orchestration", scale_set.orchestration_mode),
        ("Upgrade policy", scale_set.upgrade_mode),
        ("Provisioning", scale_set.provisioning_state),
        ("OS", scale_set.os_type),
        ("Image", scale_set.image),
        ("Admin user", scale_set.admin_username),
        ("Overprovision", scale_set.overprovision),
    ])
    if scale_set.rolling_policy is not None:
        p = scale_set.rolling_policy
        out += ["", "Rolling upgrade policy"]
        out += _lines([
            ("Max batch", f"{p.max_batch_instance_percent}%"),
            ("Max unhealthy", f"{p.max_unhealthy_instance_percent}%"),
            ("Max unhealthy upgraded", f"{p.max_unhealthy_upgraded_instance_percent}%"),
            ("Pause between batches", p.pause_time_between_batches),
            ("Prioritize unhealthy", p.prioritize_unhealthy_instances),
            ("Max surge", p.max_surge),
        ])
    if error is not None:
        out += ["", "Instances", f"  cannot be listed: {error}"]
    if counts is not None:
        out += ["", "Instances"]
        out += _lines([
            ("Total", counts.total),
            ("Not on latest model", counts.outdated),
            ("Not running", counts.not_running),
            ("Failed", counts.failed),
        ])
    out += ["", "Network"]
    for nic in scale_set.nic_configs:
        out.append(f"  NIC {nic.name}" + (" (primary)" if nic.primary else ""))
        out += ["  " + line for line in _lines([
            ("NSG", _name(nic.nsg_id)),
        ])]
        for ip in nic.ip_configs:
            out.append(f"    ip config {ip.name}: subnet {_name(ip.subnet_id) or '-'}")
            for pool in ip.load_balancer_backend_pool_ids:
                out.append(f"      backend pool {_lb_child(pool)}")
            for pool in ip.load_balancer_nat_pool_ids:
                out.append(f"      NAT pool {_lb_child(pool)}")
    if open_ports:
        names = ", ".join({22: "SSH (22)", 3389: "RDP (3389)"}.get(p, str(p)) for p in open_ports)
        out.append(f"  WARNING: the NSG opens {names} to any source")
    if resolution is not None:
        for note in resolution.notes:
            out.append(f"  NAT: {note}")
        out.append(f"  NAT mappings: {len(resolution.mappings)}")
    if scale_set.data_disks:
        out += ["", "Model data disks"]
        for d in scale_set.data_disks:
            out.append(
                f"  LUN {d.lun}: {_size(d.size_gb)} {d.sku or '-'} caching {d.caching or 'None'} ({d.create_option})"
            )
    if scale_set.tags:
        out += ["", "Tags"]
        out += _lines(list(scale_set.tags))
    return "\n".join(out)


def describe_instance(
    instance: Instance,
    scale_set: ScaleSet | None,
    resolution: NatResolution | None,
    private_ip: str | None,
    ssh_port: int = 22,
) -> str:
    out = [f"Instance {instance.instance_id} of {instance.scale_set}", ""]
    out += _lines([
        ("Name", instance.name),
        ("Computer name", instance.computer_name),
        ("Resource group", instance.resource_group),
        ("Power state", instance.power_state),
        ("Provisioning", instance.provisioning_state),
        ("Status message", instance.status_message),
        ("Latest model", {True: "yes", False: "no: update (u) applies the scale set's model"}.get(
            instance.latest_model, "unknown (ARM does not say for a Flexible VM)")),
        ("Health", instance.health),
        ("Orchestration", instance.orchestration_mode),
        ("Zone", instance.zone),
        ("Fault domain", instance.fault_domain),
        ("VM size", instance.vm_size),
        ("Private IP", private_ip),
    ])
    out += ["", "How to reach it"]
    mapping = ssh_mapping_of(resolution, instance, ssh_port)
    if resolution is None:
        out.append("  NAT mappings not loaded yet")
    elif mapping is None:
        out.append(f"  no NAT mapping to port {ssh_port}" + (f": {'; '.join(resolution.notes)}" if resolution.notes else ""))
    else:
        endpoint = mapping.endpoint or f"(address not allocated):{mapping.frontend_port}"
        user = scale_set.admin_username if scale_set and scale_set.admin_username else "<user>"
        out.append(f"  SSH     {endpoint} via {mapping.load_balancer} / {mapping.rule}")
        if mapping.endpoint:
            out.append(f"  command ssh -p {mapping.frontend_port} {user}@{mapping.frontend_ip}")
        if mapping.nsg is not None:
            verdict = mapping.nsg
            text = verdict.reason or verdict.label
            if verdict.open_to_any:
                text += " (open to any source)"
            out.append(f"  NSG     {text}")
    if resolution is not None:
        others = [m for m in resolution.mappings if m.instance_id == instance.instance_id and m is not mapping]
        for m in sorted(others, key=nat_sort_key):
            out.append(f"  {m.protocol.upper()} {m.backend_port} <- {m.endpoint or '(not allocated)'} "
                       f"({m.load_balancer}/{m.rule}; NSG {m.nsg.label if m.nsg else '-'})")
    disks = instance_disks(instance)
    if disks:
        out += ["", "Disks"]
        for d in disks:
            slot = "OS" if d.is_os_disk or d.lun is None else f"LUN {d.lun}"
            out.append(f"  {slot:<6} {d.name}  {_size(d.size_gb)} {d.sku or '-'} caching {d.caching or 'None'}"
                       + (f"  [{d.state}]" if d.state else ""))
    return "\n".join(out)


def _name(resource_id: str | None) -> str | None:
    return resource_id.rstrip("/").rsplit("/", 1)[-1] if resource_id else None


def _lb_child(resource_id: str) -> str:
    """`lb-web/sshNatPool` from a load balancer child id."""
    parts = resource_id.rstrip("/").split("/")
    try:
        lb = parts[parts.index("loadBalancers") + 1]
    except ValueError:
        return parts[-1]
    return f"{lb}/{parts[-1]}"


class DetailsScreen(Screen[None]):
    """`y`: the JSON as ARM returned it; `d`: a readable description. Esc goes back."""

    BINDINGS = [
        Binding("escape,q", "close", "Back", id="details.close"),
        Binding("y", "show('json')", "JSON", id="details.json"),
        Binding("d", "show('describe')", "Describe", id="details.describe"),
        Binding("j,down", "scroll_down", "Down", show=False, id="details.down"),
        Binding("k,up", "scroll_up", "Up", show=False, id="details.up"),
    ]

    def __init__(self, subject: str, json_text: str, description: str, mode: str = "describe") -> None:
        super().__init__()
        self.subject = subject
        self.json_text = json_text
        self.description = description
        self.mode = mode

    def compose(self) -> ComposeResult:
        # Built with their content: a screen dismissed at once (Enter, Esc) never mounts half-way.
        yield Static(self._title(), id="details-title")
        with VerticalScroll(id="details-body"):
            yield Static(self._content(), id="details-content")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for body in self._body():
            body.focus()

    def _title(self) -> Text:
        what = "JSON as ARM returned it" if self.mode == "json" else "description"
        # The subject is a resource name: text, never markup.
        return Text(f" {self.subject} · {what}   (y JSON · d describe · Esc back)")

    def _content(self) -> Syntax | Text:
        if self.mode == "json":
            return Syntax(self.json_text, "json", theme="ansi_dark", background_color="default", word_wrap=False)
        return Text(self.description)

    def action_show(self, mode: str) -> None:
        self.mode = mode
        for title in self.query("#details-title").results(Static):
            title.update(self._title())
        for content in self.query("#details-content").results(Static):
            content.update(self._content())
        for body in self._body():
            body.scroll_home(animate=False)

    def action_scroll_down(self) -> None:
        for body in self._body():
            body.scroll_down(animate=False)

    def action_scroll_up(self) -> None:
        for body in self._body():
            body.scroll_up(animate=False)

    def _body(self) -> Iterable[VerticalScroll]:
        # Keys can reach the screen before it composed or after it was dismissed (Enter then
        # Esc fast): then there is no body, and the key does nothing.
        return self.query("#details-body").results(VerticalScroll)

    def action_close(self) -> None:
        self.dismiss(None)
