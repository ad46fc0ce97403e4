"""`vmss-tui serve` in a process of its own, for the serve tests (no tests here)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import aiohttp

WAIT = 60.0  # seconds: a console starts in ~1-2 s on an idle machine, far slower under load


async def stop_group(process: asyncio.subprocess.Process, how: signal.Signals) -> None:
    """Signal the process group (the browser's helpers, the server's consoles); then kill what is left."""
    with suppress(ProcessLookupError):
        os.killpg(process.pid, how)
    try:
        await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()


async def wait_for(predicate: Callable[[], bool], what: str, limit: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await asyncio.sleep(0.05)


async def wait_async(predicate: Callable[[], Any], what: str, limit: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while True:
        with suppress(aiohttp.ClientError, OSError):
            if await predicate():
                return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await asyncio.sleep(0.1)


def serve_argv(*extra: str) -> list[str]:
    return [sys.executable, "-m", "vmss_tui", "serve", *extra]


@asynccontextmanager
async def served(*extra: str) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """`vmss-tui serve --port 0 ...` running; yields its URL (from the line it prints) and itself."""
    argv = serve_argv("--port", "0", *extra)
    process = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                                   start_new_session=True)
    drain: asyncio.Task[bytes] | None = None
    try:
        assert process.stdout is not None
        first = (await asyncio.wait_for(process.stdout.readline(), WAIT)).decode(errors="replace")
        match = re.search(r"serving the console on (http://\S+)", first)
        assert match, f"unexpected first line {first!r}"
        # What the server prints later (a console's complaints) is read, so its pipe never fills.
        drain = asyncio.create_task(process.stdout.read())
        yield match.group(1), process
    finally:
        await stop_group(process, signal.SIGINT)  # as Ctrl-C: the server stops every tab's console
        if drain is not None:
            await drain
