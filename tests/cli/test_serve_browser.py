"""`vmss-tui serve --demo` in a real headless Chromium (Debian's `chromium`), driven over the
DevTools protocol: the page loads, the scale sets appear in the browser's terminal, and a key
typed into the page moves the console's cursor.

What the page shows is read from the browser's own terminal (xterm.js) buffer: a script added
before the page's own hooks the xterm `Terminal` class as textual-serve's bundle defines it, so
the test reads what the browser rendered, not what the server sent. The browser resolves no
name but loopback (`--host-resolver-rules`): the page's web font request never leaves the machine.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support.serving import WAIT, served, stop_group, wait_async, wait_for

pytest.importorskip("textual_serve", reason="textual-serve is not installed (pip install 'vmss-tui[serve]')")

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

# Runs before the page's scripts: every xterm Terminal the page makes is kept in
# window.__vmssTerminals. textual-serve's bundle assigns the class as `exports.Terminal = ...`;
# a setter on Object.prototype sees that assignment and hands back a subclass that records
# its instances (only for the public API class, the one with loadAddon).
HOOK_TERMINALS = """
(() => {
  window.__vmssTerminals = [];
  const kept = new WeakMap();
  Object.defineProperty(Object.prototype, "Terminal", {
    configurable: true,
    get() { return kept.get(this); },
    set(value) {
      if (typeof value === "function" && value.prototype && "loadAddon" in value.prototype) {
        const Recorded = class extends value {
          constructor(...args) { super(...args); window.__vmssTerminals.push(this); }
        };
        kept.set(this, Recorded);
      } else {
        kept.set(this, value);
      }
    },
  });
})();
"""

SCREEN_TEXT = """
(() => {
  const terminal = window.__vmssTerminals[0];
  if (!terminal) return null;
  const buffer = terminal.buffer.active, lines = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
})()
"""


def chromium_path() -> str | None:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


class DevTools:
    """A minimal DevTools-protocol client over one page target's websocket."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self._next = 0
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self.console: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.socket:
            if message.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if "id" in data and data["id"] in self._waiting:
                future = self._waiting.pop(data["id"])
                if "error" in data:
                    future.set_exception(RuntimeError(f"DevTools: {data['error']}"))
                else:
                    future.set_result(data.get("result", {}))
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append(json.dumps(data["params"]["exceptionDetails"])[:500])

    async def call(self, method: str, **params: Any) -> Any:
        self._next += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[self._next] = future
        await self.socket.send_str(json.dumps({"id": self._next, "method": method, "params": params}))
        return await asyncio.wait_for(future, WAIT)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def press(self, key: str, code: str, key_code: int) -> None:
        for kind in ("keyDown", "keyUp"):
            params: dict[str, Any] = {"type": kind, "key": key, "code": code, "windowsVirtualKeyCode": key_code}
            if kind == "keyDown" and len(key) == 1:
                params["text"] = key
            await self.call("Input.dispatchKeyEvent", **params)

    async def close(self) -> None:
        self._reader.cancel()
        with suppress(asyncio.CancelledError):
            await self._reader
        await self.socket.close()


@asynccontextmanager
async def chromium(executable: str, profile: Path) -> AsyncIterator[DevTools]:
    """Headless Chromium with a fresh profile, its first page under DevTools control."""
    errors = profile.parent / "chromium.stderr"
    active = profile / "DevToolsActivePort"  # Chromium writes its port here once it listens
    active.unlink(missing_ok=True)
    with errors.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-extensions", "--disable-sync", "--disable-component-update", "--no-first-run",
            "--no-default-browser-check", "--mute-audio", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={profile}", "--remote-debugging-port=0", "--window-size=1500,1000", "about:blank",
            stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True,
        )
    session: aiohttp.ClientSession | None = None
    tools: DevTools | None = None
    try:
        await wait_for(lambda: active.exists() and len(active.read_text().splitlines()) >= 2
                       or process.returncode is not None, "Chromium's DevTools port")
        if process.returncode is not None:
            error = errors.read_text(errors="replace")
            pytest.skip(f"Chromium could not start here: {' '.join(error.split())[:300]}")
        port = int(active.read_text().splitlines()[0])
        session = aiohttp.ClientSession()
        targets: list[dict[str, Any]] = []

        async def page_target() -> bool:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                targets[:] = [t for t in await response.json() if t.get("type") == "page"]
            return bool(targets)

        await wait_async(page_target, "Chromium's first page")
        socket = await session.ws_connect(targets[0]["webSocketDebuggerUrl"], max_msg_size=0)
        tools = DevTools(socket)
        await tools.call("Runtime.enable")
        await tools.call("Page.enable")
        yield tools
    finally:
        if tools is not None:
            await tools.close()
        if session is not None:
            await session.close()
        await stop_group(process, signal.SIGTERM)


async def screen_text(tools: DevTools) -> str:
    return await tools.evaluate(SCREEN_TEXT) or ""


async def test_the_console_in_a_browser_shows_the_scale_sets_and_takes_keys(tmp_path: Path) -> None:
    executable = chromium_path()
    if executable is None:
        pytest.skip("no Chromium here (Debian: apt-get install chromium; .ci/run installs it where apt works)")
    async with served("--demo") as (url, server), chromium(executable, tmp_path / "profile") as tools:
        await tools.call("Page.addScriptToEvaluateOnNewDocument", source=HOOK_TERMINALS)
        await tools.call("Page.navigate", url=url)
        shown: list[str] = [""]

        async def showing(pattern: str) -> bool:
            shown[0] = await screen_text(tools)
            return re.search(pattern, shown[0]) is not None

        # The page loads and its terminal fills with the console: the demo's scale sets listed
        # (the first one selected: the top bar names it).
        await wait_async(lambda: showing(r"Scale sets \d+"), "the scale-set pane in the page")
        await wait_async(lambda: showing(r"vmss-tui › rg-[\w-]+/vmss-batch"), "the first scale set selected")
        assert server.returncode is None
        for name in ("vmss-batch", "vmss-web", "vmss-api"):
            assert name in shown[0], shown[0]
        rows = [line for line in shown[0].splitlines() if re.search(r"\bvmss-[\w-]+\b.*\b(Uniform|Flexible)\b", line)]
        second = re.search(r"\b(vmss-[\w-]+)\b.*\b(?:Uniform|Flexible)\b", rows[1]).group(1)

        # A key typed into the page moves the cursor: j selects the next scale set.
        await tools.evaluate("window.__vmssTerminals[0].focus()")
        await tools.press("j", "KeyJ", 74)
        await wait_async(lambda: showing(rf"vmss-tui › rg-[\w-]+/{re.escape(second)}\b"),
                         f"the cursor on {second}")
        picture = await tools.call("Page.captureScreenshot", format="png")
        (tmp_path / "console-in-chromium.png").write_bytes(base64.b64decode(picture["data"]))
        assert tools.console == [], tools.console  # no script error in the page


async def test_a_websocket_from_another_sites_page_is_refused() -> None:
    async with served("--demo") as (url, _server), aiohttp.ClientSession() as session:
        ws_url = url.replace("http://", "ws://") + "/ws"
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(ws_url, origin="http://attacker.example")
        assert refused.value.status == 403
        # the page's own origin is let in (the console starts: its first bytes arrive)
        async with session.ws_connect(ws_url + "?width=100&height=30", origin=url) as socket:
            message = await asyncio.wait_for(socket.receive(), WAIT)
            assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT)
