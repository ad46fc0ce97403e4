"""The TCP probe against real sockets: listening (with the SSH banner), refused, timed out."""

from __future__ import annotations

import asyncio

from tests.support.ssh import full_backlog_port_fixture  # noqa: F401 (a fixture)
from tests.support.sshd import free_port
from vmss_tui.ssh.probe import ProbeState, probe_tcp


async def test_listening_port_reports_the_ssh_banner() -> None:
    async def banner(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-Probe_Test\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(banner, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await probe_tcp("127.0.0.1", port, 2.0)
    assert result.state is ProbeState.LISTENING
    assert result.banner == "SSH-2.0-Probe_Test"
    assert result.label.startswith("listening (SSH-2.0-Probe_Test, ")


async def test_silent_listener_is_still_listening() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        result = await probe_tcp("127.0.0.1", port, 2.0, banner_within=0.1)
    assert result.state is ProbeState.LISTENING and result.banner is None


async def test_closed_port_is_refused() -> None:
    result = await probe_tcp("127.0.0.1", free_port(), 2.0)
    assert result.state is ProbeState.REFUSED
    assert result.label == "refused"


async def test_dropped_syn_times_out(full_backlog_port: int) -> None:
    result = await probe_tcp("127.0.0.1", full_backlog_port, connect_within=0.3)
    assert result.state is ProbeState.TIMED_OUT
    assert 0.25 <= result.elapsed < 2.0
    assert result.label.startswith("timed out after")
