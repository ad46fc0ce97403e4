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


class FixedTokenCredential:
    """An async token credential that always returns the same token."""

    def __init__(self, token: str) -> None:
        self._token = token

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, int(time.time()) + 3600)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> FixedTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class BearerOverHttpPolicy(SansIOHTTPPolicy):  # type: ignore[type-arg]
    """Sets the Authorization header without azure-core's https check (loopback only)."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def on_request(self, request: PipelineRequest) -> None:  # type: ignore[type-arg]
        request.http_request.headers["Authorization"] = self._header


def auth_headers(sim: Any) -> dict[str, str]:
    """The Authorization header the simulator accepts (its own bearer token)."""
    return {"Authorization": f"Bearer {sim.bearer_token}"}


def client_kwargs(endpoint: str, token: str, **extra: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "base_url": endpoint,
        "authentication_policy": BearerOverHttpPolicy(token),
        "polling_interval": 0.02,
    }
    kwargs.update(extra)
    return kwargs


@asynccontextmanager
async def sdk_clients(sim: Any, **extra: Any):  # type: ignore[no-untyped-def]
    """(compute, network) async clients for `sim`; extra kwargs go to both constructors."""
    credential = FixedTokenCredential(sim.bearer_token)
    subscription = extra.pop("subscription_id", sim.subscription_id)
    compute = ComputeManagementClient(credential, subscription, **client_kwargs(sim.endpoint, sim.bearer_token, **extra))
    network = NetworkManagementClient(credential, subscription, **client_kwargs(sim.endpoint, sim.bearer_token, **extra))
    try:
        yield compute, network
    finally:
        await compute.close()
        await network.close()
