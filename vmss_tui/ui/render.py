"""What the console shows, as plain data: table rows, status text, descriptions.

Pure functions of domain objects (no widgets, no I/O), so that a refresh can compare what it
would show with what is shown, and tests can read them. A cell is `(text, style)`: tuples
compare cheaply and exactly, which Rich `Text` does not (its equality ignores the base style).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vmss_tui.domain.arm_ids import instance_sort_key
from vmss_tui.domain.models import (
    FRONTEND_PRIVATE,
    FRONTEND_UNALLOCATED,
    KIND_POOL,
    POWER_DEALLOCATED,
    POWER_DEALLOCATING,
    POWER_RUNNING,
    POWER_STARTING,
    POWER_STOPPED,
    POWER_STOPPING,
    DataDiskModel,
    DiskInfo,
    Instance,
    InstanceNic,
    NatMapping,
    NatResolution,
    ScaleSet,
    Throttling,
)

Cell = tuple[str, str]  # (text, Rich style)

# Styles: where a person should look first.
BAD = "bold red"
WARN = "yellow"
GOOD = "green"
DIM = "dim"
MARKED = "bold magenta"
PENDING = "bold yellow"  # an action of this session is running on the row
PENDING_ROW = "yellow"
PLAIN = ""

MARK_SYMBOL = "●"


@dataclass(frozen=True, slots=True)
class RowData:
    key: str  # resource id (or a composite for NAT rows): stable across refreshes
    cells: tuple[Cell, ...]  # one per column of the table's full column set
    search: str  # what `/` matches against

    @staticmethod
    def of(key: str, cells: Sequence[Cell]) -> RowData:
        return RowData(key, tuple(cells), " ".join(text for text, _ in cells))


# --------------------------------------------------------------------------- scale sets

@dataclass(frozen=True, slots=True)
class InstanceCounts:
    total: int
    outdated: int
    not_running: int
    failed: int


def count_instances(instances: Sequence[Instance]) -> InstanceCounts:
    return InstanceCounts(
        total=len(instances),
        outdated=sum(1 for i in instances if i.latest_model is False),
        not_running=sum(1 for i in instances if i.power_state != POWER_RUNNING),
        failed=sum(1 for i in instances if i.provisioning_state.casefold() == "failed"),
    )


def provisioning_style(state: str) -> str:
    folded = state.casefold()
    if folded == "failed":
        return BAD
    if folded in ("succeeded", ""):
        return PLAIN
    return WARN  # Creating, Updating, Deleting, Migrating ...


def short_sku(sku: str) -> str:
    return sku.removeprefix("Standard_")


def scale_set_cells(
    scale_set: ScaleSet,
    counts: InstanceCounts | None,
    open_ports: Sequence[int] | None,
    pending: str | None = None,
) -> tuple[Cell, ...]:
    """Columns: rg, name, capacity, sku, upgrade, outdated, not running, provisioning, nsg.

    `pending`: what an action of this session is doing to the scale set ("scaling 3 → 5…"),
    shown instead of the provisioning state until its operation ends."""
    if counts is None:
        outdated: Cell = ("·", DIM)
        down: Cell = ("·", DIM)
    else:
        outdated = (str(counts.outdated), WARN if counts.outdated else DIM)
        down = (str(counts.not_running), BAD if counts.not_running else DIM)
    if open_ports:
        names = ",".join({22: "SSH", 3389: "RDP"}.get(p, str(p)) for p in open_ports)
        nsg: Cell = (f"⚠ {names} open", BAD)
    elif open_ports is None:
        nsg = ("", PLAIN)
    else:
        nsg = ("ok", DIM)
    if pending:
        provisioning: Cell = (pending, PENDING)
    else:
        provisioning = (scale_set.provisioning_state, provisioning_style(scale_set.provisioning_state))
    return (
        (scale_set.resource_group, DIM),
        (scale_set.name, PENDING if pending else "bold"),
        (str(scale_set.capacity), PLAIN),
        (scale_set.sku, PLAIN),
        (scale_set.upgrade_mode, PLAIN),
        outdated,
        down,
        provisioning,
        nsg,
    )


def scale_set_sort_key(scale_set: ScaleSet) -> tuple[str, str]:
    return (scale_set.resource_group.casefold(), scale_set.name.casefold())


# --------------------------------------------------------------------------- instances

POWER_LABELS = {
    POWER_RUNNING: ("running", GOOD),
    POWER_STARTING: ("starting", WARN),
    POWER_STOPPING: ("stopping", WARN),
    POWER_STOPPED: ("stopped", BAD),
    POWER_DEALLOCATING: ("deallocating", WARN),
    POWER_DEALLOCATED: ("deallocated", BAD),
}


def power_cell(power_state: str) -> Cell:
    return POWER_LABELS.get(power_state, (power_state or "unknown", WARN))


def latest_cell(latest: bool | None) -> Cell:
    if latest is None:
        return ("?", DIM)
    return ("yes", DIM) if latest else ("no", "bold yellow")


def ssh_mapping_for(
    resolution: NatResolution | None, instance_id: str, port: int = 22
) -> NatMapping | None:
    if resolution is None:
        return None
    candidates = [
        m for m in resolution.mappings
        if m.instance_id == instance_id and m.backend_port == port and m.protocol.casefold() in ("tcp", "all", "*")
    ]
    # A public, allocated frontend first: that is the one a person can reach.
    candidates.sort(key=lambda m: (m.frontend_ip is None, m.frontend_state != "public"))
    return candidates[0] if candidates else None


def ssh_endpoint_cell(resolution: NatResolution | None, instance_id: str, port: int = 22) -> Cell:
    """`ip:port`, coloured by the NSG verdict, or why there is no endpoint."""
    if resolution is None:
        return ("…", DIM)
    mapping = ssh_mapping_for(resolution, instance_id, port)
    if mapping is None:
        others = sorted((m for m in resolution.mappings if m.instance_id == instance_id), key=nat_sort_key)
        if others:
            other = others[0]
            where = other.endpoint or "IP not allocated"
            name = {3389: "RDP"}.get(other.backend_port, f"port {other.backend_port}")
            return (f"no NAT to {port} ({name}: {where})", DIM)
        if resolution.notes:
            # The notes are sentences ("no load balancer: vmss-data is not ..."); the pane and
            # the description show them whole, the cell their head.
            return (resolution.notes[0].split(":", 1)[0], DIM)
        return (f"no NAT to port {port}", DIM)
    if mapping.frontend_state == FRONTEND_UNALLOCATED or mapping.frontend_ip is None:
        return (f"IP not allocated (:{mapping.frontend_port})", WARN)
    text = f"{mapping.frontend_ip}:{mapping.frontend_port}"
    if mapping.frontend_state == FRONTEND_PRIVATE:
        text = f"private {text}"
    verdict = mapping.nsg
    if verdict is None or verdict.allowed is None:
        return (text, PLAIN)
    if verdict.allowed:
        return (text, GOOD)
    return (f"{text} blocked", BAD)


def instance_cells(
    instance: Instance,
    *,
    marked: bool,
    private_ip: str | None,
    resolution: NatResolution | None,
    ssh_port: int = 22,
    pending: str | None = None,
) -> tuple[Cell, ...]:
    """Columns: mark, id, computer name, power, provisioning, latest, zone, health, private ip, ssh.

    `pending`: what an action of this session is doing to the instance ("restarting…"), shown
    in the provisioning cell, and the row's id and name in the pending colour, until its
    operation ends. The power cell keeps showing what ARM says (running -> starting -> running)."""
    id_style = MARKED if marked else (PENDING if pending else "bold")
    health = instance.health or ""
    # A guest that is not running reports no health: "unknown" then says nothing new (the power
    # cell is already red), so it is dim rather than yellow.
    quiet = health in ("", "healthy") or (health == "unknown" and instance.power_state != POWER_RUNNING)
    health_style = BAD if health == "unhealthy" else (DIM if quiet else WARN)
    if pending:
        provisioning: Cell = (pending, PENDING)
    else:
        provisioning = (instance.provisioning_state, provisioning_style(instance.provisioning_state))
    return (
        (MARK_SYMBOL if marked else " ", MARKED),
        (instance.instance_id, id_style),
        (instance.computer_name or instance.name, MARKED if marked else (PENDING_ROW if pending else PLAIN)),
        power_cell(instance.power_state),
        provisioning,
        latest_cell(instance.latest_model),
        (instance.zone or "-", DIM),
        (health or "-", health_style),
        (private_ip or "…" if resolution is None else private_ip or "-", PLAIN),
        ssh_endpoint_cell(resolution, instance.instance_id, ssh_port),
    )


def sort_instances(instances: Iterable[Instance]) -> list[Instance]:
    return sorted(instances, key=lambda i: instance_sort_key(i.instance_id))


def private_ips(nics: Sequence[InstanceNic] | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for nic in nics or ():
        ip = nic.primary_private_ip
        if ip and (nic.primary or nic.instance_id not in result):
            result[nic.instance_id] = ip
    return result


# --------------------------------------------------------------------------- NAT

def nat_key(mapping: NatMapping) -> str:
    return f"{mapping.instance_id}/{mapping.protocol}/{mapping.backend_port}/{mapping.load_balancer}/{mapping.rule}"


def nat_sort_key(mapping: NatMapping) -> tuple[Any, ...]:
    return (instance_sort_key(mapping.instance_id), mapping.backend_port, mapping.protocol, mapping.rule)


def nsg_cell(mapping: NatMapping) -> Cell:
    verdict = mapping.nsg
    if verdict is None:
        return ("-", DIM)
    if verdict.allowed is None:
        return (verdict.label, WARN)
    if not verdict.allowed:
        return (verdict.label, BAD)
    return (verdict.label, BAD if verdict.open_to_any else GOOD)


def nat_cells(mapping: NatMapping) -> tuple[Cell, ...]:
    """Columns: instance, protocol, backend, frontend, nsg, load balancer, rule, kind."""
    if mapping.frontend_ip is None or mapping.frontend_state == FRONTEND_UNALLOCATED:
        frontend: Cell = (f"(not allocated):{mapping.frontend_port}", WARN)
    else:
        text = f"{mapping.frontend_ip}:{mapping.frontend_port}"
        frontend = (f"{text} (private)" if mapping.frontend_state == FRONTEND_PRIVATE else text, "bold")
    return (
        (mapping.instance_id, "bold"),
        (mapping.protocol.upper(), PLAIN),
        (str(mapping.backend_port), PLAIN),
        frontend,
        nsg_cell(mapping),
        (mapping.load_balancer, PLAIN),
        (mapping.rule, DIM),
        ("pool" if mapping.kind == KIND_POOL else "rule v2", DIM),
    )


# --------------------------------------------------------------------------- disks

def _size(size_gb: int | None) -> str:
    return f"{size_gb} GiB" if size_gb is not None else "-"


def model_disk_cells(disk: DataDiskModel) -> tuple[Cell, ...]:
    """Columns: lun, size, sku, caching, create option, name."""
    return (
        (str(disk.lun), "bold"),
        (_size(disk.size_gb), PLAIN),
        (disk.sku or "-", PLAIN),
        (disk.caching or "None", PLAIN),
        (disk.create_option, DIM),
        (disk.name or "-", DIM),
    )


def shorten(text: str, limit: int) -> str:
    """Keep both ends of a long generated name (`vmss_0_OsDisk_1_3273…2783`)."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    return text[: limit - tail - 1] + "…" + text[-tail:]


def instance_disk_cells(disk: DiskInfo) -> tuple[Cell, ...]:
    """Columns: slot (OS / LUN n), size, sku, caching, state, name."""
    state = disk.state or "-"
    state_style = BAD if "fail" in state.casefold() else PLAIN
    return (
        ("OS" if disk.is_os_disk or disk.lun is None else f"LUN {disk.lun}", "bold"),
        (_size(disk.size_gb), PLAIN),
        (disk.sku or "-", PLAIN),
        (disk.caching or "None", PLAIN),
        (state, state_style),
        (shorten(disk.name, 36), DIM),
    )


def instance_disks(instance: Instance) -> list[DiskInfo]:
    disks = [instance.os_disk] if instance.os_disk is not None else []
    disks.extend(sorted(instance.data_disks, key=lambda d: d.lun if d.lun is not None else -1))
    return disks


# --------------------------------------------------------------------------- status line

def format_age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def format_duration(seconds: float) -> str:
    """How long an operation took: `1.4s` under ten seconds, then as `format_age`."""
    seconds = max(0.0, seconds)
    if seconds < 9.95:
        return f"{seconds:.1f}s"
    return format_age(round(seconds))


def format_clock(epoch: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(epoch))


def throttling_text(throttling: Throttling | None) -> str | None:
    """The tightest headroom the last response reported, e.g. `reads left 11998 · HighCostGet3Min 159`."""
    if throttling is None:
        return None
    parts: list[str] = []
    if throttling.remaining_subscription_reads is not None:
        parts.append(f"reads left {throttling.remaining_subscription_reads}")
    if throttling.remaining_resource:
        policy, remaining = min(throttling.remaining_resource, key=lambda item: item[1])
        parts.append(f"{policy.rsplit('/', 1)[-1]} {remaining}")
    return " · ".join(parts) if parts else None


def throttling_is_low(throttling: Throttling | None) -> bool:
    """Headroom so low that polling should slow down before ARM starts refusing."""
    if throttling is None:
        return False
    if throttling.remaining_subscription_reads is not None and throttling.remaining_subscription_reads < 100:
        return True
    return any(remaining < 20 for _, remaining in throttling.remaining_resource)


# --------------------------------------------------------------------------- details

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
            instance.latest_model, "unknown")),
        ("Health", instance.health),
        ("Zone", instance.zone),
        ("VM size", instance.vm_size),
        ("Private IP", private_ip),
    ])
    out += ["", "How to reach it"]
    mapping = ssh_mapping_for(resolution, instance.instance_id, ssh_port)
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


def pluralize(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def summarize_ids(ids: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def counts_by_scale_set(cache: Mapping[str, Sequence[Instance]]) -> dict[str, InstanceCounts]:
    return {key: count_instances(instances) for key, instances in cache.items()}
