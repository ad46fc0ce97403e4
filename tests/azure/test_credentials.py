"""Credentials, endpoints, subscription defaults and error translation (no network)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError

from vmss_tui.azure.credentials import (
    LOCAL_TOKEN,
    LocalTokenCredential,
    cli_default_subscription,
    credential_scopes_for,
    is_loopback,
)
from vmss_tui.azure.errors import AuthError, EndpointError, FleetError, translate
from vmss_tui.azure.fleet import ConnectionSettings, Fleet


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [("http://127.0.0.1:8080", True), ("http://127.5.6.7", True), ("http://localhost:1", True),
     ("http://[::1]:9000", True), ("https://management.azure.com", False), ("http://10.0.0.1", False),
     ("", False), (None, False)],
)
def test_loopback_detection(endpoint: str | None, expected: bool) -> None:
    assert is_loopback(endpoint) is expected


def test_credential_scope_follows_the_endpoint() -> None:
    assert credential_scopes_for("https://management.chinacloudapi.cn") == ["https://management.chinacloudapi.cn/.default"]


async def test_local_token_credential() -> None:
    token = await LocalTokenCredential().get_token("https://management.azure.com/.default")
    assert token.token == LOCAL_TOKEN and token.expires_on > 0


def write_profile(directory: Path, subscriptions: list[dict]) -> None:
    text = json.dumps({"installationId": "x", "subscriptions": subscriptions})
    (directory / "azureProfile.json").write_text("\ufeff" + text, encoding="utf-8")  # the CLI writes a BOM


def test_cli_default_subscription(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path))
    assert cli_default_subscription() is None  # no profile
    write_profile(tmp_path, [{"id": "aaa", "isDefault": False}, {"id": "bbb", "isDefault": True}])
    assert cli_default_subscription() == "bbb"
    (tmp_path / "azureProfile.json").write_text("{not json", encoding="utf-8")
    assert cli_default_subscription() is None


async def test_open_uses_the_cli_default_for_azure_without_sending_anything(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    write_profile(tmp_path, [{"id": "11111111-2222-3333-4444-555555555555", "isDefault": True}])
    fleet = await Fleet.open(ConnectionSettings())
    try:
        assert (fleet.subscription_id, fleet.subscription_source) == ("11111111-2222-3333-4444-555555555555", "cli-default")
        assert fleet.arm_calls == 0 and fleet.polling_interval == 5.0 and not fleet.loopback
    finally:
        await fleet.close()
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "99999999-2222-3333-4444-555555555555")
    async with await Fleet.open(ConnectionSettings()) as fleet:
        assert (fleet.subscription_id, fleet.subscription_source) == ("99999999-2222-3333-4444-555555555555", "explicit")


@pytest.mark.parametrize("endpoint", ["http://management.example.com", "ftp://x", "nonsense"])
async def test_open_refuses_unsafe_or_bad_endpoints(endpoint: str) -> None:
    with pytest.raises(FleetError) as refused:
        await Fleet.open(ConnectionSettings(arm_endpoint=endpoint, subscription_id="s"))
    assert "\n" not in refused.value.one_line()


def test_translation_of_sdk_errors() -> None:
    no_login = translate(ClientAuthenticationError("DefaultAzureCredential failed\nAttempted credentials: ..."))
    assert isinstance(no_login, AuthError) and "az login" in no_login.one_line()
    unreachable = translate(ServiceRequestError("Cannot connect"), endpoint="https://arm.example")
    assert isinstance(unreachable, EndpointError) and "reachable" in unreachable.one_line()
    generic = translate(HttpResponseError("weird"))
    assert isinstance(generic, FleetError) and "\n" not in generic.one_line()
    assert isinstance(translate(TimeoutError()), EndpointError)
    unexpected = translate(RuntimeError("x\ny"))
    assert "RuntimeError" in unexpected.one_line() and "\n" not in unexpected.one_line()


class RecordingArm:
    """A loopback HTTP server that answers every list with an empty page and keeps each
    request's Authorization header: what the Fleet really sends on the wire."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []
        self.endpoint = ""

    async def __aenter__(self) -> RecordingArm:
        from aiohttp import web

        async def answer(request: web.Request) -> web.Response:
            self.authorizations.append(request.headers.get("Authorization"))
            return web.json_response({"value": []})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._runner.cleanup()


async def test_loopback_bearer_token_from_settings_then_environment_then_fixed(monkeypatch) -> None:
    from vmss_tui.azure.credentials import LOOPBACK_TOKEN_ENV

    async with RecordingArm() as arm:
        monkeypatch.setenv(LOOPBACK_TOKEN_ENV, "token-from-env")
        settings = ConnectionSettings(arm_endpoint=arm.endpoint, subscription_id="sub", bearer_token="given-token")
        async with await Fleet.open(settings) as fleet:
            assert await fleet.list_scale_sets() == []
        async with await Fleet.open(ConnectionSettings(arm_endpoint=arm.endpoint, subscription_id="sub")) as fleet:
            await fleet.list_scale_sets()
        monkeypatch.delenv(LOOPBACK_TOKEN_ENV)
        async with await Fleet.open(ConnectionSettings(arm_endpoint=arm.endpoint, subscription_id="sub")) as fleet:
            await fleet.list_scale_sets()
    assert arm.authorizations == ["Bearer given-token", "Bearer token-from-env", f"Bearer {LOCAL_TOKEN}"]


def test_the_bearer_token_is_not_in_the_settings_repr() -> None:
    settings = ConnectionSettings(arm_endpoint="http://127.0.0.1:1", bearer_token="s3cret-value")
    assert "s3cret-value" not in repr(settings) and "s3cret-value" not in str(settings)
