"""Scale sets across subscriptions through Azure Resource Graph."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from vmss_tui.azure.convert import JsonView, scale_set_from_sdk
from vmss_tui.azure.graph import SCALE_SETS_QUERY, GraphListing, SubscriptionCounts, scale_set_from_graph_row
from vmss_tui.domain.models import SOURCE_ARM, SOURCE_RESOURCE_GRAPH

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = (REPO / "tests/fixtures/arm/specification/compute/resource-manager/Microsoft.Compute/Compute/Compute/"
            "examples/2026-04-01/virtualMachineScaleSetExamples")
GRAPH_EXAMPLES = (REPO / "tests/fixtures/arm/specification/resourcegraph/resource-manager/Microsoft.ResourceGraph/"
                  "ResourceGraph/ResourceGraph/examples/2024-04-01")
SUB = "cfbbd179-59d2-4052-aa06-9270a38aa9d6"


def graph_row(resource: dict[str, Any], subscription: str = SUB, group: str = "rg1") -> dict[str, Any]:
    """What Resource Graph returns for an ARM resource: its JSON, `type` lower-cased, plus the
    columns it adds (tenantId, resourceGroup, subscriptionId, kind, managedBy ...)."""
    row = copy.deepcopy(resource)
    name = row["name"] = row["name"].strip("{}")
    row["id"] = f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"
    row["type"] = row["type"].lower()
    row.update(tenantId="72f988bf-86f1-41af-91ab-2d7cd011db47", kind="", resourceGroup=group.lower(),
               subscriptionId=subscription, managedBy="", plan=None, identity=None, zones=row.get("zones"),
               extendedLocation=None)
    return row


def example_scale_sets() -> list[dict[str, Any]]:
    body = json.loads((EXAMPLES / "VirtualMachineScaleSet_ListBySubscription_ByLocation.json").read_text())
    return body["responses"]["200"]["body"]["value"]


def test_the_query_is_the_one_agreed_with_the_simulator() -> None:
    assert SCALE_SETS_QUERY == "Resources | where type =~ 'microsoft.compute/virtualmachinescalesets'"
    # The response shape the client reads (the published example; its rows are other resource types).
    body = json.loads((GRAPH_EXAMPLES / "ResourcesBasicQuery.json").read_text())["responses"]["200"]["body"]
    assert {"totalRecords", "count", "data", "resultTruncated", "facets"} <= set(body)
    assert body["resultTruncated"] == "false" and isinstance(body["data"], list)


def test_a_graph_row_converts_like_the_arm_resource_and_says_where_it_came_from() -> None:
    resource = example_scale_sets()[0]
    row = graph_row(resource)
    from_graph = scale_set_from_graph_row(row)
    arm_resource = {**copy.deepcopy(resource), "id": row["id"], "name": row["name"]}
    from_arm = scale_set_from_sdk(JsonView(arm_resource))
    assert from_graph.source == SOURCE_RESOURCE_GRAPH and from_arm.source == SOURCE_ARM
    assert replace(from_graph, source=SOURCE_ARM) == from_arm
    assert (from_graph.subscription_id, from_graph.resource_group, from_graph.capacity) == (SUB, "rg1", 4)
    assert (from_graph.upgrade_mode, from_graph.sku, from_graph.image) == (
        "Automatic", "Standard_D2s_v3", "azuredatabricks:databricks:databricksworker:3.15.2")


def test_listing_counts_per_subscription_and_by_field() -> None:
    resource = example_scale_sets()[0]
    other = "00000000-0000-0000-0000-0000000000b2"
    empty = "00000000-0000-0000-0000-0000000000c3"
    rows = [
        scale_set_from_graph_row(graph_row({**resource, "name": "a"})),
        scale_set_from_graph_row(graph_row({**resource, "name": "b", "sku": {"name": "Standard_B2s", "capacity": 10}})),
        scale_set_from_graph_row(graph_row({**resource, "name": "c"}, subscription=other)),
    ]
    listing = GraphListing(scale_sets=tuple(rows), subscription_ids=(SUB, other, empty), total_records=3, pages=1,
                           truncated=False, fetched_at=0.0)
    assert listing.source == SOURCE_RESOURCE_GRAPH
    assert listing.capacity == 4 + 10 + 4
    assert listing.by_subscription() == (SubscriptionCounts(SUB, 2, 14), SubscriptionCounts(other, 1, 4),
                                         SubscriptionCounts(empty, 0, 0))
    assert listing.count_by("upgrade_mode") == {"Automatic": 3}
    assert listing.count_by("sku") == {"Standard_D2s_v3": 2, "Standard_B2s": 1}


def test_resource_graph_loads_only_when_asked() -> None:
    probe = ("import sys, vmss_tui.azure.fleet, vmss_tui.azure.graph; "
             "print([m for m in sys.modules if m.startswith('azure.mgmt.resourcegraph')])")
    found = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"



# ---------------------------------------------------------------- against the simulator


async def test_scale_sets_of_many_subscriptions_in_one_paged_query(start_simulator, open_fleet) -> None:
    sim = await start_simulator(subscriptions=12, ssh=False)
    fleet = await open_fleet(sim)
    subscriptions = [sub for sub, _ in await fleet.list_subscriptions()]
    assert len(subscriptions) == 12
    per_subscription = []
    for sub in subscriptions:
        sibling = await fleet.with_subscription(sub)
        try:
            per_subscription.extend(await sibling.list_scale_sets())
        finally:
            await sibling.close()
    before = sim.request_count
    listing = await fleet.list_scale_sets_everywhere()
    assert sim.request_count - before == 1 + listing.pages  # the subscription list, then the query's pages
    assert listing.pages == 1 and not listing.truncated
    assert listing.subscription_ids == tuple(subscriptions)
    assert listing.total_records == len(per_subscription) == len(listing.scale_sets)
    assert all(s.source == SOURCE_RESOURCE_GRAPH for s in listing.scale_sets)
    key = lambda s: s.id.casefold()  # noqa: E731
    arm = {key(s): replace(s, raw=None) for s in per_subscription}
    graph = {key(s): replace(s, raw=None, source=SOURCE_ARM) for s in listing.scale_sets}
    assert graph == arm  # the same scale sets, converted alike
    counts = {c.subscription_id: c for c in listing.by_subscription()}
    assert sum(c.scale_sets for c in counts.values()) == len(arm)
    assert set(counts) == set(subscriptions)


async def test_skip_token_paging_and_chosen_subscriptions(start_simulator, open_fleet) -> None:
    sim = await start_simulator(subscriptions=6, ssh=False)
    fleet = await open_fleet(sim)
    everything = await fleet.list_scale_sets_everywhere(page_size=3)
    assert everything.pages == -(-everything.total_records // 3)
    assert len({s.id for s in everything.scale_sets}) == everything.total_records
    two = list(everything.subscription_ids[:2])
    some = await fleet.list_scale_sets_everywhere(two, page_size=3)
    assert {s.subscription_id for s in some.scale_sets} <= set(two)
    assert some.subscription_ids == tuple(two)


async def test_resource_graph_is_a_read(start_simulator, open_fleet) -> None:
    sim = await start_simulator(subscriptions=2, ssh=False)
    fleet = await open_fleet(sim, read_only=True)
    writes = sim.write_count
    assert (await fleet.list_scale_sets_everywhere()).scale_sets
    assert sim.write_count == writes
