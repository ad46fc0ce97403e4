"""Fixtures of the SSH tests: the guest lab (loop devices as Azure data disks in a private mount
namespace) and a real OpenSSH server whose sessions live in that lab."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.ssh.guest_lab import GuestLab, guest_lab_fixture  # noqa: F401 (a fixture)
from tests.support.sshd import SshdUnavailable, ThrowawaySshd


@pytest.fixture(name="lab_sshd")
async def lab_sshd_fixture(guest_lab: GuestLab, tmp_path: Path) -> AsyncIterator[ThrowawaySshd]:
    """A real sshd whose sessions see the lab's disks, links and fstab (sessions run as the user
    running the tests: root, since the lab needs it)."""
    server = ThrowawaySshd(tmp_path / "sshd")
    if server._sshd is not None:  # the helper's sshd binary, started inside the lab's namespace
        server._sshd = await asyncio.to_thread(guest_lab.sshd_wrapper)
    try:
        await server.start()
    except SshdUnavailable as exc:
        pytest.skip(f"real OpenSSH server unavailable: {exc}")
    yield server
    await server.stop()
