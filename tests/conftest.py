"""Shared fixtures: a simulator per test and a Fleet (the real async SDK clients) connected to it.

Function-scoped on purpose: pytest-asyncio gives each test its own event loop, and a
simulator or SDK client must live in the loop that uses it.

    async def test_x(simulator, fleet): ...             # default topology, speed 50
    async def test_y(start_simulator, open_fleet):      # custom topology / settings
        sim = await start_simulator(topology=my_topology(), speed=100)
        fleet = await open_fleet(sim, read_only=True)
    def test_z(threaded_simulator): ...                  # its own thread + loop (for sync code, the CLI)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest

from vmss_tui.azure.fleet import ConnectionSettings, Fleet

SIM_SPEED = 50  # simulated seconds per real second: a 19 s power-off takes 0.4 s
POLL_INTERVAL = 0.05  # LRO poll interval for tests (loopback)


@pytest.fixture(autouse=True)
def isolated_config(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads the config file of the person running the tests: the default config
    location is an empty directory (a test may still point XDG_CONFIG_HOME or VMSS_TUI_CONFIG
    elsewhere)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    # Nor its state (guarded rollout journals) or data (known_hosts, .rdp files).
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
    monkeypatch.delenv("VMSS_TUI_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def simulator_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The bearer token of every simulator a test makes, also in $VMSS_TUI_ARM_TOKEN, where the
    console looks for a loopback endpoint's token when it was given none. A simulator still
    refuses every other token (tests/sim/test_arm.py proves it)."""
    import secrets

    token = f"test-{secrets.token_urlsafe(24)}"
    monkeypatch.setattr("vmss_tui.sim.simulator.new_bearer_token", lambda: token)
    monkeypatch.setenv("VMSS_TUI_ARM_TOKEN", token)
    return token


@pytest.fixture
async def start_simulator() -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """A factory: `await start_simulator(topology=..., speed=..., **kwargs)`; all stopped at the end."""
    from vmss_tui.sim import Simulator, classic_topology

    started: list[Any] = []

    async def start(**kwargs: Any) -> Any:
        kwargs.setdefault("speed", SIM_SPEED)
        kwargs.setdefault("topology", classic_topology())  # the fleet the tests are written against
        sim = Simulator(**kwargs)
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in reversed(started):
        await sim.stop()


@pytest.fixture
async def simulator(start_simulator: Callable[..., Awaitable[Any]]) -> Any:
    """`vmss_tui.sim.Simulator(speed=50)` on the classic topology (the NAT cases; the demo adds
    Flexible, rollouts and disks, which their own tests ask for), started in this test's loop."""
    return await start_simulator()


@pytest.fixture
async def open_fleet() -> AsyncIterator[Callable[..., Awaitable[Fleet]]]:
    """A factory: `await open_fleet(sim, read_only=..., polling_interval=...)`; all closed at the end."""
    opened: list[Fleet] = []

    async def open_(sim: Any, **settings: Any) -> Fleet:
        settings.setdefault("polling_interval", POLL_INTERVAL)
        settings.setdefault("bearer_token", sim.bearer_token)  # the only token a simulator accepts
        fleet = await Fleet.open(
            ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id, **settings)
        )
        opened.append(fleet)
        return fleet

    yield open_
    for fleet in reversed(opened):
        await fleet.close()


@pytest.fixture
async def fleet(simulator: Any, open_fleet: Callable[..., Awaitable[Fleet]]) -> Fleet:
    """A Fleet on `simulator`'s subscription (not read-only)."""
    return await open_fleet(simulator)


@pytest.fixture
def threaded_simulator() -> Iterator[Any]:
    """A default-topology simulator on its own thread and loop (as `--demo` runs it)."""
    from vmss_tui.sim import Simulator, classic_topology

    sim = Simulator(classic_topology(), speed=SIM_SPEED, ssh=False).start_in_thread()
    try:
        yield sim
    finally:
        sim.stop_thread()
