"""Real async Azure SDK clients pointed at a simulator, for the simulator's own tests.

The data layer has its own way of doing this; this copy keeps the simulator tests
independent of it (the contract says the simulator shares no code with its clients).
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager
from typing import Any

from azure.core.credentials import AccessToken
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.network.aio import NetworkManagementClient

FIXED_TOKEN = "simulator-test-token"


class FixedTokenCredential:
    """An async token credential that always returns the same token."""

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(FIXED_TOKEN, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> FixedTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class BearerOverHttpPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Sets the Authorization header without azure-core's https check (loopback only)."""

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        request.http_request.headers["Authorization"] = f"Bearer {FIXED_TOKEN}"


def client_kwargs(endpoint: str, **extra: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "base_url": endpoint,
        "authentication_policy": BearerOverHttpPolicy(),
        "polling_interval": 0.02,
    }
    kwargs.update(extra)
    return kwargs


@asynccontextmanager
async def sdk_clients(sim: Any, **extra: Any):  # type: ignore[no-untyped-def]
    """(compute, network) async clients for `sim`; extra kwargs go to both constructors."""
    credential = FixedTokenCredential()
    compute = ComputeManagementClient(credential, sim.subscription_id, **client_kwargs(sim.endpoint, **extra))
    network = NetworkManagementClient(credential, sim.subscription_id, **client_kwargs(sim.endpoint, **extra))
    try:
        yield compute, network
    finally:
        await compute.close()
        await network.close()
