"""Text from outside the program is text, never markup.

Markup-looking strings go in through every way outside text reaches the screen (the config
file, a `:` command typed, ARM error messages of refreshes and of operations, resource names, a
command-line argument, SSH server banners and errors, the path of the config file) and come
out through notifications, titles, tables, tab labels, dialogs, details and status lines. Each
time the console must not crash and the text must be on the screen exactly as typed: a string
that Rich would parse (`[b]` vanishing, `[/x]` raising) fails the check, since the screen is
read back from the console's own screenshot.
"""

from __future__ import annotations

import html
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.support.console import (
    UI_SIM_SPEED,
    make_app,
    move_to_instance,
    record_notifications,
    select_scale_set,
    wait_loaded,
    wait_until,
)
from tests.support.ssh import settings_for, sshd_fixture  # noqa: F401 (a fixture)
from tests.support.sshd import ThrowawaySshd, free_port
from vmss_tui.config import load_config

CLOSING = "[/x]"  # Rich raises MarkupError on a closing tag that closes nothing
TOKENS = ("[/x]", "[b]", "[red]x[/red]", "[parameters('vmName')]", "[@click=app.quit]")
TEXT = " ".join(TOKENS)
# ARM names cannot hold "/", so names carry the tokens that do not need one.
NAME_TOKENS = ("[b]", "[parameters('vmName')]", "[@click=app.quit]")
SIZE = (200, 60)
LOAD_LIMIT = 90.0

_LINE = re.compile(r'<text class="[^"]*" x="([0-9.]+)" y="[0-9.]+" textLength="[0-9.]+" '
                   r'clip-path="url\(#[^)]*-line-(\d+)\)">(.*?)</text>', re.S)


def screen_text(app: Any) -> str:
    """The screen as characters, from the console's own SVG screenshot (what a person sees)."""
    svg = app.export_screenshot()
    rows: dict[int, dict[int, str]] = {}
    for x, line, content in _LINE.findall(svg):
        text = html.unescape(content).replace("\xa0", " ")
        column = round(float(x) / 12.2)  # Rich's SVG cell width at its default font size
        row = rows.setdefault(int(line), {})
        for offset, char in enumerate(text.rstrip("\n")):
            row[column + offset] = char
    return "\n".join("".join(row.get(c, " ") for c in range(max(row, default=-1) + 1)).rstrip()
                     for _, row in sorted(rows.items()))


@asynccontextmanager
async def loaded_console(sim: Any, *, size: tuple[int, int] = SIZE, scale_set: str | None = None,
                         notes: list[tuple[str, dict[str, Any]]] | None = None,
                         **options: Any) -> AsyncIterator[tuple[Any, Any]]:
    """tests.support.console.loaded_console with notifications and tooltips on the screen
    (Textual's run_test leaves both out unless asked)."""
    app = make_app(sim, **options)
    if notes is not None:
        record_notifications(app, notes)
    async with app.run_test(size=size, notifications=True, tooltips=True) as pilot:
        # a loaded machine (several test runs at once) can take a while for the first load
        await wait_until(pilot, lambda: app.store.loaded_once, "the scale sets", limit=LOAD_LIMIT)
        await wait_loaded(pilot, app)
        if scale_set is not None:
            await select_scale_set(pilot, app, scale_set)
        yield app, pilot


def assert_on_screen(app: Any, *tokens: str) -> None:
    text = screen_text(app)
    missing = [t for t in tokens if t not in text]
    assert not missing, f"not on the screen as typed: {missing}\n{text}"


async def assert_still_answers(pilot: Any, app: Any) -> None:
    """The console did not crash: it is running and a key still does what it says."""
    assert app.is_running and app.return_code in (None, 0)
    before = app.fleet_screen.view
    target = "inst" if before != "inst" else "vmss"
    await pilot.press("2" if target == "inst" else "1")
    await wait_until(pilot, lambda: app.fleet_screen.view == target, "a view change")


# ---------------------------------------------------------------- config file


@pytest.mark.parametrize(("line", "expected"), [
    ('theme = "[/x]"\n', ["'[/x]'"]),
    ('[keys]\n"[red]x[/red]" = "x"\n', ["'[red]x[/red]'"]),
    ('[keys]\n"[@click=app.quit]" = "k"\n', ["'[@click=app.quit]'"]),
    ('[keys]\n"app.help" = "[b]"\n', ["'[b]'"]),
    ('[ssh]\njump_host = "[parameters(\'vmName\')]"\n', ["\"[parameters('vmName')]\":"]),
    ('[ssh]\njump_host = "ops@[/x]"\n', ["'ops@[/x]'"]),
    ('"[b]x" = 1\n', ["'[b]x'"]),
], ids=["theme", "binding-id", "binding-id-click", "key", "jump-host", "jump-host-closing", "setting"])
async def test_config_values_in_notifications(line: str, expected: list[str], start_simulator: Any,
                                              tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(line, encoding="utf-8")
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    notes: list[tuple[str, dict[str, Any]]] = []
    async with loaded_console(sim, size=SIZE, notes=notes, config=load_config(path)) as (app, pilot):
        await wait_until(pilot, lambda: expected[0] in screen_text(app), "the config warning")
        assert_on_screen(app, *expected)
        await assert_still_answers(pilot, app)


async def test_the_config_path_in_the_help_screen(start_simulator: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The help screen names the config file: a folder called `[b][/x]` is a folder name."""
    home = tmp_path / "cfg[b][/x]"
    (home / "vmss-tui").mkdir(parents=True)
    (home / "vmss-tui" / "config.toml").write_text('theme = "textual-dark"\n', encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=SIZE, config=load_config()) as (app, pilot):
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: app.screen is not app.fleet_screen, "the help screen")
        assert_on_screen(app, "cfg[b][/x]")
        await pilot.press("escape")
        await assert_still_answers(pilot, app)


# ---------------------------------------------------------------- typed input


async def test_a_command_typed_at_the_colon_prompt(start_simulator: Any) -> None:
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=SIZE) as (app, pilot):
        for token in TOKENS:  # an unknown command is quoted in the warning
            await pilot.press("colon", *token, "enter")
            await wait_until(pilot, lambda word=f":{token}": word in screen_text(app), f"the warning about :{token}")
        await pilot.press("colon", *"vmss [red]x[/red]", "enter")  # a command's argument
        await wait_until(pilot, lambda: "[red]x[/red]" in screen_text(app), "the answer to :vmss [red]x[/red]")
        await assert_still_answers(pilot, app)


async def test_a_filter_typed(start_simulator: Any) -> None:
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=SIZE) as (app, pilot):
        await pilot.press("slash", *"[/x](", "enter")
        await pilot.pause(0.2)
        await pilot.press("slash", *"[b]", "escape")
        await pilot.pause(0.2)
        await assert_still_answers(pilot, app)


# ---------------------------------------------------------------- ARM errors


async def test_an_arm_error_of_a_refresh(start_simulator: Any) -> None:
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=SIZE) as (app, pilot):
        sim.add_fault(r"/providers/Microsoft\.Compute/virtualMachineScaleSets$", 409, count=None,
                      code="[b]Conflict", message=TEXT)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: "[b]Conflict" in screen_text(app), "the refresh failure")
        assert_on_screen(app, "[b]Conflict", *TOKENS)  # the toast and the status line
        sim.faults.clear()
        await assert_still_answers(pilot, app)


async def test_an_arm_error_of_an_operation(start_simulator: Any) -> None:
    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    sim.fail_action("restart", code="[red]Failed[/red]", message=TEXT)
    async with loaded_console(sim, size=SIZE, scale_set="vmss-web") as (app, pilot):
        await move_to_instance(pilot, app, "1")
        await pilot.press("r", "tab", "enter")
        await wait_until(pilot, lambda: "[red]Failed[/red]" in screen_text(app), "the failed operation")
        assert_on_screen(app, "[red]Failed[/red]", *TOKENS)
        await assert_still_answers(pilot, app)


# ---------------------------------------------------------------- resource names


def markup_topology() -> Any:
    from vmss_tui.sim.topology import default_topology

    topology = default_topology()
    for spec in topology.scale_sets:
        if spec.name == "vmss-api":  # behind lb-web: it has NAT mappings and SSH servers
            spec.name = "api[parameters('vmName')]"
        elif spec.name == "vmss-data":
            spec.name = "data[b][@click=app.quit]"
    return topology


async def test_resource_names_in_tables_titles_dialogs_and_details(start_simulator: Any) -> None:
    sim = await start_simulator(topology=markup_topology(), speed=UI_SIM_SPEED, ssh=False)
    async with loaded_console(sim, size=SIZE) as (app, pilot):
        assert_on_screen(app, "api[parameters('vmName')]", "data[b][@click=app.quit]")  # the scale set table
        await select_scale_set(pilot, app, "api[parameters('vmName')]")
        assert_on_screen(app, "Instances of api[parameters('vmName')]", "NAT mappings of api[parameters('vmName')]")
        await move_to_instance(pilot, app, "1")
        # a dialog naming the scale set (delete asks for the name to be typed)
        await pilot.press("ctrl+d")
        await wait_until(pilot, lambda: app.screen is not app.fleet_screen, "the delete dialog")
        assert_on_screen(app, "api[parameters('vmName')]")
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen is app.fleet_screen, "the dialog closed")
        # details: the description and the JSON
        for key in ("d", "y"):
            await pilot.press(key)
            await wait_until(pilot, lambda: app.screen is not app.fleet_screen, "the details screen")
            assert_on_screen(app, "api[parameters('vmName')]")
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.fleet_screen, "back from details")
        await select_scale_set(pilot, app, "data[b][@click=app.quit]")
        assert_on_screen(app, "Instances of data[b][@click=app.quit]", "data[b][@click=app.quit] is not behind")
        for key in ("d", "y"):  # details of the scale set itself, from its own pane
            await pilot.press("1")
            await wait_until(pilot, lambda: app.fleet_screen.view == "vmss", "the scale set view")
            await pilot.press(key)
            await wait_until(pilot, lambda: app.screen is not app.fleet_screen, "the details screen")
            title = screen_text(app).splitlines()[0]
            assert "data[b][@click=app.quit]" in title, title
            await pilot.press("escape")
            await wait_until(pilot, lambda: app.screen is app.fleet_screen, "back from details")
        # the command palette lists scale sets by name
        await pilot.press("ctrl+p", *"data[b]")
        await pilot.pause(0.5)
        assert_on_screen(app, "data[b][@click=app.quit]")
        await pilot.press("escape")
        await pilot.pause(0.2)
        await assert_still_answers(pilot, app)


async def test_resource_names_in_ssh_tab_labels(start_simulator: Any) -> None:
    sim = await start_simulator(topology=markup_topology(), speed=UI_SIM_SPEED)
    async with loaded_console(sim, size=SIZE, scale_set="api[parameters('vmName')]") as (app, pilot):
        await move_to_instance(pilot, app, "1")
        await pilot.press("s")
        await wait_until(pilot, lambda: "api[parameters('vmName')]/1" in screen_text(app), "the SSH tab")
        assert_on_screen(app, "api[parameters('vmName')]/1")
        assert app.is_running


# ---------------------------------------------------------------- command-line arguments


async def test_an_ssh_target_that_does_not_exist(start_simulator: Any) -> None:
    """What `vmss-tui ssh NAME ID` hands the console (the entry point refuses names that ARM
    could not have, see the next test; the console must cope anyway)."""
    from vmss_tui.ui.app import VmssConsoleApp

    sim = await start_simulator(speed=UI_SIM_SPEED, ssh=False)
    plain = make_app(sim)
    app = VmssConsoleApp(plain.settings, config=plain.config, ssh_target=(CLOSING + "[b]", "[red]1[/red]", None))
    async with app.run_test(size=SIZE, notifications=True, tooltips=True) as pilot:
        notes = record_notifications(app)
        await wait_until(pilot, lambda: app.store.loaded_once, "the scale sets", limit=LOAD_LIMIT)
        await wait_loaded(pilot, app)
        await wait_until(pilot, lambda: any(CLOSING in text for text, _ in notes), "the not-found notice")
        assert_on_screen(app, CLOSING + "[b]")
        await assert_still_answers(pilot, app)


def test_an_ssh_argument_on_the_command_line_in_a_terminal(tmp_path: Path) -> None:
    """`vmss-tui ssh '[/x]' 1 --demo` in a PTY: one line that quotes the argument as typed."""
    from tests.support.pty_console import PtyProcess, child_env

    child = PtyProcess([sys.executable, "-m", "vmss_tui", "ssh", CLOSING, "1", "--demo"], child_env(tmp_path))
    try:
        assert child.wait_exit(60) == 2
        screen = child.screen()
        assert "vmss-tui: SCALE_SET '[/x]' is not a scale set name" in screen
        assert "Traceback" not in screen and "MarkupError" not in screen
    finally:
        child.close()


# ---------------------------------------------------------------- SSH banners and errors


async def test_ssh_banner_user_and_failure_in_the_session_pane(sshd: ThrowawaySshd, tmp_path: Path) -> None:
    """A real OpenSSH server whose version banner carries markup (VersionAddendum), a user name
    that does too, and the authentication failure that quotes both."""
    from textual.app import App, ComposeResult

    from vmss_tui.domain.ssh_target import SshTarget
    from vmss_tui.ui.ssh_pane import SshSessionPane

    await sshd.stop()
    sshd.extra_config.append("VersionAddendum [/x][b]")
    await sshd.start()
    user = "[red]x[/red]"
    target = SshTarget(host="127.0.0.1", port=sshd.port, username=user, label="[b]web/0",
                       scale_set="[b]web", instance_id="0")

    class PaneApp(App[None]):
        def compose(self) -> ComposeResult:
            yield SshSessionPane(target, settings_for(sshd, tmp_path, probe_timeout=2.0), "allowed from [b]*",
                                 id="pane")

    app = PaneApp()
    async with app.run_test(size=(160, 20), notifications=True) as pilot:
        pane = app.query_one(SshSessionPane)
        await wait_until(pilot, lambda: pane.state in ("failed", "disconnected") or "Unknown host key" in screen_text(app),
                         "the host key question or the failure", limit=30)
        if "Unknown host key" in screen_text(app):
            await pilot.press("y")
        await wait_until(pilot, lambda: pane.state in ("failed", "disconnected"), "the failure", limit=30)
        assert_on_screen(app, f"{user}@127.0.0.1:{sshd.port}", "[/x][b]", "allowed from [b]*")
        assert "authentication failed" in (pane.reason or "")


async def test_a_jump_host_in_the_session_pane(tmp_path: Path) -> None:
    """A jump host spec as the pane shows it ("via ..."), and the failure to reach it."""
    from textual.app import App, ComposeResult

    from vmss_tui.domain.ssh_target import JumpHost, SshTarget
    from vmss_tui.ssh.settings import SshSettings
    from vmss_tui.ui.ssh_pane import SshSessionPane

    port = free_port()
    target = SshTarget(host="10.0.0.4", port=22, username="[b]ops", label="[b]web/0", scale_set="[b]web",
                       instance_id="0", jump=JumpHost(host="127.0.0.1", port=port, user="[/x]"))
    settings = SshSettings(known_hosts=tmp_path / "known_hosts", use_agent=False, use_default_keys=False,
                           connect_timeout=3.0, probe_timeout=1.0)

    class PaneApp(App[None]):
        def compose(self) -> ComposeResult:
            yield SshSessionPane(target, settings, None, id="pane")

    app = PaneApp()
    async with app.run_test(size=(160, 20), notifications=True) as pilot:
        pane = app.query_one(SshSessionPane)
        await wait_until(pilot, lambda: pane.state in ("failed", "disconnected"), "the failure", limit=30)
        assert_on_screen(app, "[b]ops@10.0.0.4", f"via [/x]@127.0.0.1:{port}")


def test_the_secret_dialog_and_host_key_dialogs_show_names_as_typed() -> None:
    """The dialogs' words carry user, host and key names from outside; composed as plain text."""
    import asyncio

    from textual.app import App

    from vmss_tui.ssh.known_hosts import HostKeyCheck, HostKeyStatus
    from vmss_tui.ui.ssh_dialogs import HostKeyDialog, ReplaceHostKeyDialog, SecretDialog

    check = HostKeyCheck(host="[/x]host", port=2222, status=HostKeyStatus.CHANGED, key_type="[b]ed25519",
                         fingerprint="SHA256:[red]x[/red]", known_fingerprints=("SHA256:[@click=app.quit]",))

    async def run() -> None:
        for dialog, expected in (
            (SecretDialog("Password for [/x]@host", "Password for jump host [b]ops@[red]x[/red]:22"),
             ["Password for [/x]@host", "[b]ops@[red]x[/red]:22"]),
            (HostKeyDialog(check), ["[[/x]host]:2222", "[b]ed25519", "SHA256:[red]x[/red]"]),
            (ReplaceHostKeyDialog(check), ["[[/x]host]:2222", "SHA256:[@click=app.quit]"]),
        ):
            app = App[None]()
            async with app.run_test(size=(120, 30)) as pilot:
                await app.push_screen(dialog)
                await pilot.pause(0.1)
                assert_on_screen(app, *expected)

    asyncio.run(run())


def test_screen_text_reads_markup_as_the_screen_shows_it() -> None:
    """The check itself: text given as markup is read back without its tags, so a string that
    had been parsed would be caught."""
    import asyncio

    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Shown(App[None]):
        def compose(self) -> ComposeResult:
            yield Static("parsed [b]bold[/b]", id="markup")
            yield Static("kept [b]bold[/b]", markup=False, id="plain")

    async def run() -> str:
        app = Shown()
        async with app.run_test(size=(60, 5)):
            return screen_text(app)

    text = asyncio.run(run())
    assert "parsed bold" in text and "kept [b]bold[/b]" in text

