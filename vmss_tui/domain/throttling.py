"""How close ARM's throttling headroom is to running out (from the last response's headers)."""

from __future__ import annotations

from vmss_tui.domain.models import Throttling

LOW_SUBSCRIPTION_READS = 100
LOW_RESOURCE_REMAINING = 20


def throttling_is_low(throttling: Throttling | None) -> bool:
    """Headroom so low that polling should slow down before ARM starts refusing."""
    if throttling is None:
        return False
    reads = throttling.remaining_subscription_reads
    if reads is not None and reads < LOW_SUBSCRIPTION_READS:
        return True
    return any(remaining < LOW_RESOURCE_REMAINING for _, remaining in throttling.remaining_resource)
