"""Scale sets of every subscription through Azure Resource Graph: one paged `resources` query
instead of one list call per subscription.

A mixin of `Fleet`. Resource Graph is eventually consistent (it lags ARM by up to a minute), so
what it gives is marked: each ScaleSet has `source = SOURCE_RESOURCE_GRAPH`. Use it for the
fleet-wide list and counts; the selected scale set's live panes read ARM.

azure-mgmt-resourcegraph loads on the first query only (about 0.1 s of imports here, beside
~0.5 s for azure.mgmt.compute.aio), and its client lives for one listing: the Fleet's own clients
stay as they are.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from vmss_tui.domain.models import SOURCE_RESOURCE_GRAPH, ScaleSet

if TYPE_CHECKING:
    from vmss_tui.domain.models import Throttling

SCALE_SETS_QUERY = "Resources | where type =~ 'microsoft.compute/virtualmachinescalesets'"
PAGE_SIZE = 1000  # Resource Graph's largest page ($top)
SUBSCRIPTIONS_PER_QUERY = 1000  # how many subscription ids one request may carry


@dataclass(frozen=True, slots=True)
class SubscriptionCounts:
    subscription_id: str
    scale_sets: int
    capacity: int  # instances the models ask for (sku.capacity), summed


@dataclass(frozen=True, slots=True)
class GraphListing:
    """Scale sets across subscriptions, as Resource Graph had them at `fetched_at`."""

    scale_sets: tuple[ScaleSet, ...]
    subscription_ids: tuple[str, ...]  # the subscriptions the query covered
    total_records: int  # what Resource Graph said it matched
    pages: int  # requests sent to Resource Graph
    truncated: bool  # Resource Graph cut the result (resultTruncated) with no page to follow
    fetched_at: float  # time.time() when the last page arrived
    source: str = SOURCE_RESOURCE_GRAPH

    @property
    def capacity(self) -> int:
        return sum(s.capacity for s in self.scale_sets)

    def by_subscription(self) -> tuple[SubscriptionCounts, ...]:
        """Counts per subscription, every covered subscription listed (zero where it has none)."""
        sets: Counter[str] = Counter()
        capacity: Counter[str] = Counter()
        for scale_set in self.scale_sets:
            key = scale_set.subscription_id.casefold()
            sets[key] += 1
            capacity[key] += scale_set.capacity
        seen = dict.fromkeys([*self.subscription_ids, *(s.subscription_id for s in self.scale_sets)])
        return tuple(SubscriptionCounts(sub, sets[sub.casefold()], capacity[sub.casefold()]) for sub in seen)

    def count_by(self, field: str) -> dict[str, int]:
        """How many scale sets have each value of `field` (e.g. "orchestration_mode", "upgrade_mode",
        "provisioning_state", "location")."""
        return dict(Counter(str(getattr(s, field)) for s in self.scale_sets))


def scale_set_from_graph_row(row: dict[str, Any]) -> ScaleSet:
    """A Resource Graph row (the resource JSON plus resourceGroup, subscriptionId, tenantId; `type`
    lower-cased) as a ScaleSet marked as coming from Resource Graph."""
    from vmss_tui.azure.convert import JsonView, scale_set_from_sdk

    return replace(scale_set_from_sdk(JsonView(row)), source=SOURCE_RESOURCE_GRAPH)


class GraphCalls:
    """Fleet methods that read Azure Resource Graph."""

    if TYPE_CHECKING:
        _shared: Any
        throttling: Throttling

        def _client_kwargs(self) -> dict[str, Any]: ...
        async def _call(self, make: Any) -> Any: ...
        async def list_subscriptions(self) -> list[tuple[str, str]]: ...

    async def list_scale_sets_everywhere(
        self, subscription_ids: Sequence[str] | None = None, *, page_size: int = PAGE_SIZE
    ) -> GraphListing:
        """Scale sets of the given subscriptions (None: every subscription the credential can
        list) through Resource Graph: one POST per page of up to `page_size` rows (1,000 at
        most), following `$skipToken`. Sorted by subscription, resource group and name."""
        from azure.mgmt.resourcegraph.aio import ResourceGraphClient

        if subscription_ids is None:
            subscription_ids = [sub for sub, _ in await self.list_subscriptions()]
        subscriptions = list(dict.fromkeys(subscription_ids))
        top = max(1, min(PAGE_SIZE, page_size))
        rows: list[ScaleSet] = []
        total = pages = 0
        truncated = False
        # Resource Graph answers at the Resource Manager endpoint, with the same credential and hooks.
        async with ResourceGraphClient(self._shared.credential, **self._client_kwargs()) as client:
            for start in range(0, len(subscriptions), SUBSCRIPTIONS_PER_QUERY):
                chunk = subscriptions[start : start + SUBSCRIPTIONS_PER_QUERY]
                skip_token: str | None = None
                while True:
                    options: dict[str, Any] = {"$top": top, "resultFormat": "objectArray"}
                    if skip_token:
                        options["$skipToken"] = skip_token
                    request = {"subscriptions": chunk, "query": SCALE_SETS_QUERY, "options": options}
                    response = await self._call(lambda request=request: client.resources(request))
                    pages += 1
                    data = response.data if isinstance(response.data, list) else []
                    rows.extend(scale_set_from_graph_row(row) for row in data if isinstance(row, dict))
                    if skip_token is None:
                        total += int(response.total_records or 0)
                    skip_token = response.skip_token or None
                    if not skip_token:
                        truncated = truncated or str(response.result_truncated).casefold() == "true"
                        break
        rows.sort(key=lambda s: (s.subscription_id.casefold(), s.resource_group.casefold(), s.name.casefold()))
        return GraphListing(
            scale_sets=tuple(rows),
            subscription_ids=tuple(subscriptions),
            total_records=total,
            pages=pages,
            truncated=truncated,
            fetched_at=time.time(),
        )
