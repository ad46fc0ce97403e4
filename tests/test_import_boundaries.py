"""The layer rules, proven at run time: import every module of a layer in a fresh interpreter and
look at what ended up in sys.modules (a static grep misses transitive leaks)."""

from __future__ import annotations

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
