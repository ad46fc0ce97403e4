"""A TCP probe of an SSH endpoint: listening, refused, timed out or unreachable.

It tells an operator why a connection would fail before any SSH is attempted: "refused" means the
packet got there and nothing listens (or a firewall rejects), "timed out" usually means an NSG or
a route drops it. When the port answers, the SSH banner is read briefly and shown.
"""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass


class ProbeState(enum.StrEnum):
    LISTENING = "listening"
    REFUSED = "refused"
    TIMED_OUT = "timed out"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class ProbeResult:
    host: str
    port: int
    state: ProbeState
    elapsed: float  # seconds
    banner: str | None = None  # e.g. "SSH-2.0-OpenSSH_9.6p1", when the server sent one
    detail: str | None = None  # the OS error, for unreachable

    @property
    def label(self) -> str:
        """One line: `listening (SSH-2.0-OpenSSH_9.6, 3 ms)`, `refused`, `timed out after 3 s`."""
        if self.state is ProbeState.LISTENING:
            extra = f"{self.banner}, " if self.banner else ""
            return f"listening ({extra}{self.elapsed * 1000:.0f} ms)"
        if self.state is ProbeState.TIMED_OUT:
            return f"timed out after {self.elapsed:.2g} s"
        if self.state is ProbeState.UNREACHABLE:
            return f"unreachable ({self.detail})" if self.detail else "unreachable"
        return "refused"



async def probe_tcp(host: str, port: int, connect_within: float = 3.0, banner_within: float = 1.0) -> ProbeResult:
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_within)
    except TimeoutError:
        return ProbeResult(host, port, ProbeState.TIMED_OUT, time.monotonic() - started)
    except ConnectionRefusedError:
        return ProbeResult(host, port, ProbeState.REFUSED, time.monotonic() - started)
    except OSError as exc:
        # host/network unreachable, no route, address not available ...
        return ProbeResult(
            host, port, ProbeState.UNREACHABLE, time.monotonic() - started, detail=exc.strerror or str(exc)
        )
    elapsed = time.monotonic() - started
    banner = None
    try:
        line = await asyncio.wait_for(reader.readline(), banner_within)
        text = line.decode("ascii", errors="replace").strip()
        if text.startswith("SSH-"):
            banner = text[:80]
    except (TimeoutError, OSError):
        pass
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        except (TimeoutError, OSError):
            pass
    return ProbeResult(host, port, ProbeState.LISTENING, elapsed, banner=banner)
