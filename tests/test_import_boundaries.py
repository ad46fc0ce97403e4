"""The layer rules, proven at run time: import every module of a layer in a fresh interpreter and
look at what ended up in sys.modules (a static grep misses transitive leaks)."""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import vmss_tui

PACKAGE_DIR = Path(vmss_tui.__file__).parent

# layer -> top-level module prefixes it must never load (directly or transitively)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "domain": (
        "textual",
        "azure",
        "asyncssh",
        "aiohttp",
        "vmss_tui.azure",
        "vmss_tui.ssh",
        "vmss_tui.sim",
        "vmss_tui.ui",
        "vmss_tui.cli",
    ),
    "azure": ("textual", "asyncssh", "vmss_tui.ssh", "vmss_tui.sim", "vmss_tui.ui", "vmss_tui.cli"),
    "ssh": ("textual", "azure", "vmss_tui.azure", "vmss_tui.sim", "vmss_tui.ui", "vmss_tui.cli"),
    "sim": (
        "textual",
        "azure",
        "vmss_tui.domain",
        "vmss_tui.azure",
        "vmss_tui.ssh",
        "vmss_tui.ui",
        "vmss_tui.cli",
        "vmss_tui.config",
    ),
    "ui": ("vmss_tui.sim", "vmss_tui.cli"),
    # Multi-step jobs over azure + ssh + domain: no screen, no simulator, no entry point.
    "workflows": ("textual", "vmss_tui.sim", "vmss_tui.ui", "vmss_tui.cli"),
    # The entry point sits on top: it may load every layer (the simulator for --demo).
    "cli": (),
}

PROBE = """
import importlib, json, pkgutil, sys
import vmss_tui.{layer} as layer
names = [layer.__name__]
for info in pkgutil.walk_packages(layer.__path__, layer.__name__ + "."):
    names.append(info.name)
for name in names:
    importlib.import_module(name)
print(json.dumps({{"imported": names, "modules": sorted(sys.modules)}}))
"""


def _loaded_modules(layer: str) -> tuple[list[str], list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(layer=layer)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PACKAGE_DIR.parent,
    )
    assert result.returncode == 0, f"importing vmss_tui.{layer} failed:\n{result.stderr}"
    data = json.loads(result.stdout.strip().splitlines()[-1])
    return data["imported"], data["modules"]


def _offenders(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_is_below_it(layer: str) -> None:
    if not (PACKAGE_DIR / layer).is_dir():
        pytest.skip(f"vmss_tui/{layer} does not exist yet")
    imported, modules = _loaded_modules(layer)
    assert imported, f"no module of vmss_tui.{layer} was imported"
    offenders = _offenders(modules, FORBIDDEN[layer])
    assert not offenders, f"vmss_tui.{layer} pulls in {offenders[:10]}"


def test_probe_detects_a_leak() -> None:
    # The checker itself must be able to fail: the ui layer really does load textual.
    if not (PACKAGE_DIR / "ui").is_dir():
        pytest.skip("vmss_tui/ui does not exist yet")
    _, modules = _loaded_modules("ui")
    assert _offenders(modules, ("textual",)), "expected the ui layer to load textual"


def test_every_layer_folder_is_checked() -> None:
    layers = {info.name for info in pkgutil.iter_modules([str(PACKAGE_DIR)]) if info.ispkg}
    assert layers <= set(FORBIDDEN), f"layers without import rules: {layers - set(FORBIDDEN)}"


# ---------------------------------------------------------------------- inside the ui layer
def _imports_of(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every import statement of a file, TYPE_CHECKING ones too."""
    found: list[tuple[str, list[str], int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, [], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names], node.lineno))
    return found


UI_DIR = PACKAGE_DIR / "ui"


def _ui_modules() -> list[Path]:
    return sorted(p for p in UI_DIR.rglob("*.py") if p.name != "app.py" or p.parent != UI_DIR)


def test_no_ui_module_imports_the_app() -> None:
    offenders = [
        f"{path.relative_to(PACKAGE_DIR)}:{line}"
        for path in _ui_modules()
        for module, names, line in _imports_of(path)
        if module == "vmss_tui.ui.app" or (module == "vmss_tui.ui" and "app" in names)
    ]
    assert not offenders, f"import the app (use a Protocol or a message): {offenders}"


def test_panes_import_no_screen_and_the_table_nothing_of_the_panes_above_it() -> None:
    offenders = []
    for path in sorted((UI_DIR / "panes").glob("*.py")):
        for module, _names, line in _imports_of(path):
            if module.startswith("vmss_tui.ui.screens") or (
                path.name in ("table.py", "cells.py") and module.startswith("vmss_tui.ui.")
                and module not in ("vmss_tui.ui.panes.table", "vmss_tui.ui.panes.cells")
            ):
                offenders.append(f"{path.name}:{line} {module}")
    assert not offenders, offenders


def test_the_store_and_the_poller_import_no_textual() -> None:
    for name in ("store.py", "poller.py"):
        textual = [m for m, _, _ in _imports_of(UI_DIR / name) if m == "textual" or m.startswith("textual.")]
        assert not textual, f"ui/{name} imports {textual}"
    probe = ("import sys, vmss_tui.ui.store, vmss_tui.ui.poller; "
             "print(sorted(m for m in sys.modules if m.startswith('textual')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                            cwd=PACKAGE_DIR.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _private_textual_uses(path: Path) -> list[str]:
    uses = []
    for module, names, line in _imports_of(path):
        if module == "textual" or module.startswith("textual."):
            private = [part for part in module.split(".") if part.startswith("_")]
            private += [n for n in names if n.startswith("_")]
            if private:
                uses.append(f"{path.name}:{line} {module} {private}")
    if "_modal_binding_chain" in path.read_text():
        uses.append(f"{path.name}: _modal_binding_chain")
    return uses


def test_nothing_uses_private_textual_names() -> None:
    offenders = [use for path in sorted(PACKAGE_DIR.rglob("*.py")) for use in _private_textual_uses(path)]
    assert not offenders, offenders


def test_the_private_name_check_can_fail(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from textual._compositor import Compositor\nfrom textual.widgets import _data_table\n"
                      "chain = screen._modal_binding_chain\n")
    assert len(_private_textual_uses(sample)) == 3


def test_the_console_starts_without_the_heavy_modules() -> None:
    """The first frame comes before the SDK and asyncssh are loaded (the connect worker imports
    the SDK off the event loop; asyncssh waits for the first SSH session or guest read, and the
    [keys] check, which imports every ui module, runs in a thread after the first frame)."""
    result = subprocess.run([sys.executable, "-c", FIRST_FRAME_PROBE], capture_output=True, text=True,
                            timeout=120, cwd=PACKAGE_DIR.parent)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:1] == ["[]"], f"loaded before the first frame: {result.stdout.strip()}"


# The app's first heartbeat comes right after its first frame: it prints what is loaded then.
FIRST_FRAME_PROBE = '''
import asyncio, sys
from vmss_tui.azure.fleet import ConnectionSettings
from vmss_tui.config import Config
from vmss_tui.ui.app import VmssConsoleApp

def heavy():
    return sorted({".".join(m.split(".")[:2]) if m.startswith("azure.mgmt") else m.split(".")[0]
                   for m in sys.modules if m.startswith(("asyncssh", "azure.mgmt", "aiohttp"))})

class FirstFrame(VmssConsoleApp):
    def _heartbeat(self):
        print(heavy(), flush=True)
        self.exit()

async def main():
    app = FirstFrame(ConnectionSettings(arm_endpoint="http://127.0.0.1:9", subscription_id="s"), config=Config())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(1)

asyncio.run(main())
'''
