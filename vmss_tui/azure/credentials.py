"""Credentials and subscription defaults.

Real endpoints: `azure.identity.aio.DefaultAzureCredential` (az login, environment, managed and
workload identity). Loopback endpoints (the simulator): a bearer token sent by our own
authentication policy, because azure-core's bearer policy refuses plain http. That token is the
one the caller was given (`ConnectionSettings.bearer_token`), else `$VMSS_TUI_ARM_TOKEN`, else a
fixed local one.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import AccessToken, AccessTokenInfo
from azure.core.pipeline import PipelineRequest
from azure.core.pipeline.policies import SansIOHTTPPolicy

# The SDK logs credential-chain failures as warnings; with no logging configured Python would
# print them (many lines) on stderr. A NullHandler keeps them out of the terminal while an app
# that configures logging still receives them.
logging.getLogger("azure").addHandler(logging.NullHandler())

PUBLIC_ARM_ENDPOINT = "https://management.azure.com"
# Not a secret: the fallback for a local endpoint that was given no token of its own.
LOCAL_TOKEN = "vmss-tui-local-simulator"
LOOPBACK_TOKEN_ENV = "VMSS_TUI_ARM_TOKEN"


def loopback_token(bearer_token: str | None = None) -> str:
    """The bearer token for a loopback endpoint: the one given, else $VMSS_TUI_ARM_TOKEN, else
    the fixed local token."""
    if bearer_token:
        return bearer_token
    return os.environ.get(LOOPBACK_TOKEN_ENV) or LOCAL_TOKEN


def normalize_endpoint(endpoint: str | None) -> str:
    return (endpoint or PUBLIC_ARM_ENDPOINT).strip().rstrip("/")


def is_loopback(endpoint: str | None) -> bool:
    """True for http(s)://localhost, 127.0.0.0/8 and [::1] endpoints."""
    if not endpoint:
        return False
    host = urlsplit(endpoint).hostname or ""
    if host.casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def credential_scopes_for(endpoint: str) -> list[str]:
    """The token audience for an ARM endpoint (public and sovereign clouds use the endpoint's origin)."""
    parts = urlsplit(endpoint)
    return [f"{parts.scheme}://{parts.netloc}/.default"]


class LocalTokenCredential:
    """An async token credential that hands out one given token, for the local simulator only."""

    def __init__(self, token: str = LOCAL_TOKEN) -> None:
        self._value = token

    def __repr__(self) -> str:
        return "LocalTokenCredential(<token>)"

    def _token(self) -> AccessToken:
        return AccessToken(self._value, int(time.time()) + 24 * 3600)

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return self._token()

    async def get_token_info(self, *scopes: str, options: Any = None) -> AccessTokenInfo:
        token = self._token()
        return AccessTokenInfo(token.token, token.expires_on)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> LocalTokenCredential:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class LoopbackBearerPolicy(SansIOHTTPPolicy):
    """Sets `Authorization: Bearer <token>` without azure-core's https check.

    Used only when the endpoint is a loopback address, where there is no network to protect.
    """

    def __init__(self, token: str = LOCAL_TOKEN) -> None:
        self._header = f"Bearer {token}"

    def __repr__(self) -> str:
        return "LoopbackBearerPolicy(<token>)"

    def on_request(self, request: PipelineRequest) -> None:
        request.http_request.headers["Authorization"] = self._header


def make_credential(endpoint: str, bearer_token: str | None = None) -> Any:
    """The credential for `endpoint`; the caller closes it. `bearer_token` counts only for a
    loopback endpoint (see `loopback_token`)."""
    if is_loopback(endpoint):
        return LocalTokenCredential(loopback_token(bearer_token))
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()


def azure_cli_config_dir() -> Path:
    configured = os.environ.get("AZURE_CONFIG_DIR")
    return Path(configured) if configured else Path.home() / ".azure"


def cli_default_subscription() -> str | None:
    """The Azure CLI's default subscription (`az account set`), from azureProfile.json, if any."""
    path = azure_cli_config_dir() / "azureProfile.json"
    try:
        text = path.read_text(encoding="utf-8-sig")  # the CLI writes a BOM
        profile = json.loads(text)
    except (OSError, ValueError):
        return None
    for subscription in profile.get("subscriptions") or ():
        if isinstance(subscription, dict) and subscription.get("isDefault") and subscription.get("id"):
            return str(subscription["id"])
    return None
