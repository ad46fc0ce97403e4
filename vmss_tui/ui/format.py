"""Words and numbers as the console prints them: ages, durations, clock times, counts, lists."""

from __future__ import annotations

import time
from collections.abc import Sequence

from vmss_tui.domain.models import Throttling


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


def pluralize(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def summarize_ids(ids: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def shorten(text: str, limit: int) -> str:
    """Keep both ends of a long generated name (`vmss_0_OsDisk_1_3273…2783`)."""
    if len(text) <= limit:
        return text
    tail = limit // 3
    return text[: limit - tail - 1] + "…" + text[-tail:]
