"""Many subscriptions and Azure Resource Graph on the simulator, through the real async SDK
(azure-mgmt-resourcegraph): the scale set list across 200 subscriptions, paged, its lag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.resourcegraph.aio import ResourceGraphClient
from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

from tests.support.sim_sdk import FixedTokenCredential, auth_headers, client_kwargs, sdk_clients
from vmss_tui.sim import ManualClock, Simulator, Topology, subscription_id_for

SCALE_SETS = "Resources | where type =~ 'microsoft.compute/virtualmachinescalesets'"


@pytest.fixture
async def fleet() -> AsyncIterator[Simulator]:
    sim = Simulator(subscriptions=200, speed=100, ssh=False)
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def graph_client(sim: Simulator) -> ResourceGraphClient:
    kwargs = client_kwargs(sim.endpoint, sim.bearer_token)
    return ResourceGraphClient(FixedTokenCredential(sim.bearer_token), **kwargs)


async def query_all(client: ResourceGraphClient, query: str, subscriptions: list[str], top: int) -> tuple[list[Any], int]:
    """Every row of `query`, following $skipToken; (rows, requests made)."""
    rows: list[Any] = []
    token = None
    requests = 0
    while True:
        options = QueryRequestOptions(top=top, skip_token=token, result_format="objectArray")
        result = await client.resources(QueryRequest(subscriptions=subscriptions, query=query, options=options))
        requests += 1
        rows.extend(result.data)
        assert result.count == len(result.data) and result.result_truncated == "false"
        token = result.skip_token
        if not token:
            return rows, requests


async def test_subscriptions_are_listed_with_paging(fleet: Simulator) -> None:
    assert len(fleet.subscription_ids) == 200 and fleet.subscription_ids[1] == subscription_id_for(1)
    seen: list[str] = []
    async with aiohttp.ClientSession(headers=auth_headers(fleet)) as session:
        url = f"{fleet.endpoint}/subscriptions?api-version=2022-12-01"
        while url:
            async with session.get(url) as response:
                body = await response.json()
            assert body["count"] == {"type": "Total", "value": 200}
            seen += [s["subscriptionId"] for s in body["value"]]
            url = body.get("nextLink")
    assert seen == fleet.subscription_ids
    # Each subscription is served on its own path.
    async with sdk_clients(fleet, subscription_id=fleet.subscription_ids[150]) as (compute, _):
        names = [s.name async for s in compute.virtual_machine_scale_sets.list_all()]
    assert names == ["vmss-team-150", "vmss-team-150-flex"]


async def test_resource_graph_lists_every_scale_set_in_one_paged_query(fleet: Simulator) -> None:
    expected = sum(len(w.scale_sets) for w in fleet.worlds)
    client = await graph_client(fleet)
    try:
        before = fleet.request_count
        rows, requests = await query_all(client, SCALE_SETS, fleet.subscription_ids, top=1000)
        assert len(rows) == expected and requests == 1 and fleet.request_count - before == 1
        rows_paged, requests = await query_all(client, SCALE_SETS, fleet.subscription_ids, top=100)
        assert [r["id"] for r in rows_paged] == [r["id"] for r in rows] and requests == -(-expected // 100)
        row = next(r for r in rows if r["name"] == "vmss-web")
        assert row["type"] == "microsoft.compute/virtualmachinescalesets"  # lower-cased, as Resource Graph does
        assert row["resourceGroup"] == "rg-web-prod" and row["subscriptionId"] == fleet.subscription_id
        assert row["sku"]["capacity"] == 6 and row["properties"]["orchestrationMode"] == "Uniform"
        assert {"tenantId", "location", "tags", "zones", "managedBy"} <= set(row)
        # Only the subscriptions asked for; a filter and a projection.
        some = fleet.subscription_ids[10:13]
        result = await client.resources(QueryRequest(
            subscriptions=some, query=f"{SCALE_SETS} | where subscriptionId in ('{some[0]}', '{some[2]}') "
                                      f"| project id, name, capacity = sku.capacity | order by name asc"))
        assert [r["name"] for r in result.data] == ["vmss-team-010", "vmss-team-012", "vmss-team-012-flex"]
        assert result.total_records == 3
        assert set(result.data[0]) == {"id", "name", "capacity"} and result.data[0]["capacity"] == 2
        # Rows without an id cannot be paged: truncated, and said so.
        result = await client.resources(QueryRequest(
            subscriptions=fleet.subscription_ids, query=f"{SCALE_SETS} | project name",
            options=QueryRequestOptions(top=5)))
        assert result.count == 5 and result.result_truncated == "true" and result.skip_token is None
        # Flexible scale sets and their VMs, with power state.
        result = await client.resources(QueryRequest(
            subscriptions=fleet.subscription_ids[:10],
            query="Resources | where type =~ 'microsoft.compute/virtualmachines' "
                  "| extend powerState = properties.extended.instanceView.powerState.code "
                  "| summarize count() by powerState"))
        flexible_vms = sum(len(w.virtual_machines) for w in fleet.worlds[:10])
        assert flexible_vms == 10  # the demo's vmss-flex (3) and vm-tools; subscriptions 3, 6 and 9: two each
        assert [(r["powerState"], r["count_"]) for r in result.data] == [("PowerState/running", flexible_vms)]
    finally:
        await client.close()


async def test_an_unknown_query_gets_resource_graphs_error(fleet: Simulator) -> None:
    client = await graph_client(fleet)
    try:
        with pytest.raises(HttpResponseError) as info:
            await client.resources(QueryRequest(subscriptions=fleet.subscription_ids[:1],
                                                query="Resources | mv-expand properties"))
        assert info.value.status_code == 400 and info.value.error.code == "BadRequest"
        assert [d.code for d in info.value.error.details] == ["InvalidQuery", "ParserFailure"]
    finally:
        await client.close()


async def test_resource_graph_lags_arm() -> None:
    sim = Simulator(Topology(), subscriptions={subscription_id_for(0): None}, clock=ManualClock(), ssh=False,
                    graph_lag=60)
    await sim.start()
    try:
        client = await graph_client(sim)
        try:
            async def capacity() -> int:
                result = await client.resources(QueryRequest(subscriptions=sim.subscription_ids, query=SCALE_SETS))
                return result.data[0]["sku"]["capacity"]

            assert await capacity() == 2
            async with sdk_clients(sim) as (compute, _):
                await compute.virtual_machine_scale_sets.begin_update("rg-team-000", "vmss-team-000", {"sku": {"capacity": 4}})
                assert (await compute.virtual_machine_scale_sets.get("rg-team-000", "vmss-team-000")).sku.capacity == 4
            sim.advance(30)
            assert await capacity() == 2  # Resource Graph has not seen it yet
            sim.advance(31)
            assert await capacity() == 4
        finally:
            await client.close()
    finally:
        await sim.stop()
