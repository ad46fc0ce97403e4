"""The request log (`vmss_tui.logsetup`): a real Fleet against the simulator writes it, secrets never."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from vmss_tui.azure.errors import NotFoundError
from vmss_tui.azure.fleet import ConnectionSettings, Fleet, loggable_url
from vmss_tui.logsetup import LogSetupError, configure_logging, redact

TOKEN = "per-run-simulator-token-7f3a9c"


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """Whatever configure_logging changes (root handlers, levels) is put back after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = ("vmss_tui", "asyncssh", "azure")
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


async def test_each_arm_request_is_logged_without_the_token(
    restored_logging: None, tmp_path: Path, start_simulator
) -> None:
    path = tmp_path / "vmss-tui.log"
    configure_logging(path, verbose=True)
    sim = await start_simulator(ssh=False)
    token = getattr(sim, "bearer_token", None) or TOKEN  # the simulator's own, where it insists on one
    settings = ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id, bearer_token=token)
    async with await Fleet.open(settings) as fleet:
        web = await fleet.get_scale_set("rg-web-prod", "vmss-web")
        await fleet.list_instances(web)
        with pytest.raises(NotFoundError):
            await fleet.get_scale_set("rg-web-prod", "vmss-nope")
        calls = fleet.arm_calls
    logging.getLogger("asyncssh").info("auth with password=hunter2 and passphrase: correct-horse")
    logging.getLogger("vmss_tui.ssh").warning("sent %s to %s", f"Authorization: Bearer {token}", "host")
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text(encoding="utf-8")

    requests = re.findall(r"ARM (GET|POST|PUT|PATCH|DELETE) (\S+) -> (\d{3}) in (\d+) ms \(x-ms-request-id ([\w-]+)\)", text)
    assert len(requests) == calls == 3  # every request the session sent, one line each
    assert [(method, status) for method, _, status, _, _ in requests] == [("GET", "200"), ("GET", "200"), ("GET", "404")]
    assert requests[1][1].endswith("/virtualMachineScaleSets/vmss-web/virtualMachines?api-version=2026-04-01&$expand=instanceView")
    assert all(request_id != "-" for *_, request_id in requests)
    assert "Traceback (most recent call last)" in text and "ResourceNotFoundError" in text  # the 404, at DEBUG
    assert "azure.core.pipeline.policies.http_logging_policy" in text  # azure-core's own log with -v
    assert token not in text and TOKEN not in text and "hunter2" not in text and "correct-horse" not in text
    assert "password=<redacted>" in text and "Authorization: Bearer <redacted>" in text


def test_without_a_log_file_nothing_reaches_the_terminal(restored_logging: None, capfd) -> None:
    configure_logging(None, verbose=False)
    logging.getLogger("vmss_tui.azure").error("a failure the console shows in its own way")
    logging.getLogger("azure.identity").warning("credential chain noise")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


def test_reconfiguring_replaces_the_earlier_file(restored_logging: None, tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    configure_logging(first, verbose=False)
    configure_logging(second, verbose=False)
    logging.getLogger("vmss_tui.azure").info("only in the second")
    logging.getLogger("vmss_tui.azure").debug("not without -v")
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert "only in the second" not in first.read_text() and "only in the second" in second.read_text()
    assert "not without -v" not in second.read_text()
    assert second.stat().st_mode & 0o077 == 0  # readable by its owner only


def test_an_unwritable_log_file_is_one_line(restored_logging: None, tmp_path: Path) -> None:
    with pytest.raises(LogSetupError) as failed:
        configure_logging(tmp_path / "missing-dir" / "x.log", verbose=False)
    assert str(failed.value).startswith("--log-file ") and "\n" not in str(failed.value)


@pytest.mark.parametrize(
    ("text", "kept", "secret"),
    [
        ("{'Authorization': 'Bearer abc.def.ghi'}", "'Authorization': ", "abc.def.ghi"),
        ('"adminPassword": "two words"', '"adminPassword": ', "two words"),
        ("client_secret=s3cr3t&tenant=t", "&tenant=t", "s3cr3t"),
        ("https://x.blob.core.windows.net/c/b?sv=2020&sig=AbC%2Bd", "sv=2020&sig=", "AbC%2Bd"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln here", "token ", "eyJhbGciOiJIUzI1NiJ9"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----", "", "b3Blbn"),
    ],
)
def test_redaction_patterns(text: str, kept: str, secret: str) -> None:
    redacted = redact(text)
    assert secret not in redacted and kept in redacted and "<redacted>" in redacted


def test_logged_urls_keep_only_well_known_query_values() -> None:
    url = "http://127.0.0.1:1/subscriptions/s/x?api-version=2026-04-01&$filter=a%20eq%20b&sig=SECRET&$skiptoken=abc"
    assert loggable_url(url) == "/subscriptions/s/x?api-version=2026-04-01&$filter=a eq b&sig=…&$skiptoken=…"
