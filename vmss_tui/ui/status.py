"""The fleet screen's top bar (where you are, actions running) and status line (subscription,
last refresh, throttling headroom, staleness, the last error), built as Rich Text from the store:
names and error messages come from Azure and are never parsed as markup."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from vmss_tui.domain.models import Instance, Throttling
from vmss_tui.ui.format import format_age, format_clock, throttling_text
from vmss_tui.ui.poller import TrackState
from vmss_tui.ui.store import ActionRun, ScaleSetEntry

VIEWS = ("vmss", "inst", "nat", "disk")
VIEW_TITLES = {"vmss": "Scale sets", "inst": "Instances", "nat": "NAT", "disk": "Disks"}
SEPARATOR = " │ "


def crumbs_text(entry: ScaleSetEntry | None, instance: Instance | None, view: str,
                running: Sequence[ActionRun], now: float) -> Text:
    """`vmss-tui › rg/name › instance 3   ⟳ Restart of … : InProgress 4s` (with every
    subscription listed, `vmss-tui › subscription › rg/name ...`: names repeat across them)."""
    text = Text.assemble(("vmss-tui", "bold"))
    if entry is not None:
        if entry.subscription_label:
            text.append(f" › {entry.subscription_label}")
        text.append(" › ")
        text.append(f"{entry.scale_set.resource_group}/")
        text.append(entry.scale_set.name, style="bold")
        if instance is not None and view in ("inst", "nat", "disk"):
            text.append(f" › instance {instance.instance_id}")
    if running:
        text.append("   ")
        for index, run in enumerate(running):
            if index:
                text.append(" · ")
            text.append(f"⟳ {run.label}: {run.status} {format_age(now - run.started)}", style="bold yellow")
    return text


def viewbar_text(view: str, *, compact: bool) -> Text:
    text = Text()
    for index, name in enumerate(VIEWS, 1):
        label = f"{index} {VIEW_TITLES[name]}"
        if name == view:
            text.append(f" {label} ", style="reverse bold")
        else:
            text.append(f" {index} " if compact else f" {label} ")
    return text


def status_text(
    *,
    read_only: bool,
    subscription_id: str | None,
    wide: bool,
    connected: bool,
    connecting: bool,
    last_refresh: float | None,
    throttling: Throttling | None,
    slowed: bool,
    stale: Sequence[TrackState],
    last_error: str | None,
    last_error_at: float | None,
    now: float,
    tab: tuple[int, int] | None = None,
) -> Text:
    """`tab`: the front tab's place and the number of tabs, when there is more than one (at 80
    columns the tab strip cannot show them all)."""
    parts: list[Text] = []
    if tab is not None:
        parts.append(Text(f"tab {tab[0]}/{tab[1]} [ ]", style="bold"))
    if read_only:
        parts.append(Text(" READ-ONLY ", style="bold reverse"))
    sub = subscription_id or "(resolving subscription)"
    if not wide and len(sub) > 13:
        sub = sub[:8] + "…"
    parts.append(Text.assemble("sub ", (sub, "bold")))
    if not connected:
        parts.append(Text("connecting…" if connecting else "not connected"))
    elif last_refresh is None:
        parts.append(Text("loading…"))
    else:
        parts.append(Text(f"refreshed {format_clock(last_refresh)} ({format_age(now - last_refresh)} ago)"))
    headroom = throttling_text(throttling)
    if headroom:
        part = Text(headroom)
        if slowed:
            part.append(" (slowed)", style="yellow")
        parts.append(part)
    if stale:
        track = max(stale, key=lambda t: t.failures)
        retry = max(0.0, track.next_due - now)
        parts.append(Text.assemble(("throttled" if track.throttled else "stale", "bold red"),
                                   f" retry in {retry:.0f}s"))
    if last_error and last_error_at is not None:
        # Red while data is stale; dim once later refreshes succeeded (still worth reading).
        parts.append(Text(f"last error {format_clock(last_error_at)}: {last_error}", style="red" if stale else "dim"))
    return Text(SEPARATOR).join(parts)
