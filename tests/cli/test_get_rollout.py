"""`vmss-tui get rollout`: JSON for scripts, a summary for people, one line for mistakes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vmss_tui.azure.fleet import ConnectionSettings, Fleet
from vmss_tui.cli import entry as cli
from vmss_tui.sim import (
    InstanceStateSpec,
    RollingPolicySpec,
    ScaleSetSpec,
    Simulator,
    SubnetSpec,
    Topology,
    VnetSpec,
)

REPO = Path(__file__).resolve().parents[2]
REQUIRED = {"scale_set", "resource_group", "upgrade_mode", "status", "successful", "failed", "in_progress", "pending",
            "error_code", "error_message", "started_at", "instances"}
INSTANCE_KEYS = {"instance_id", "state", "latest_model", "provisioning_state", "power_state", "health"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def conn(sim: Any) -> list[str]:
    return ["--arm-endpoint", sim.endpoint, "--subscription", sim.subscription_id]


@pytest.fixture
def faulted_simulator() -> Iterator[Any]:
    """A Rolling scale set whose rolling upgrade has ended Faulted (2 of 3 instances unhealthy)."""
    spec = ScaleSetSpec(
        "vmss-sick", "rg-sick", capacity=3, upgrade_mode="Rolling", health_probe=True, vnet="v", subnet="s",
        image=("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "latest"),
        rolling_policy=RollingPolicySpec(max_unhealthy_instance_percent=20),
        instance_states={0: InstanceStateSpec(latest_model=False, health="unhealthy"),
                         1: InstanceStateSpec(latest_model=False, health="unhealthy"),
                         2: InstanceStateSpec(latest_model=False, health="healthy")},
    )
    topology = Topology(scale_sets=[spec], vnets=[VnetSpec("v", "rg-sick", "10.9.0.0/16", [SubnetSpec("s", "10.9.0.0/24")])])
    sim = Simulator(topology, speed=500, ssh=False).start_in_thread()
    try:
        async def fault() -> None:
            settings = ConnectionSettings(arm_endpoint=sim.endpoint, subscription_id=sim.subscription_id,
                                          polling_interval=0.02)
            async with await Fleet.open(settings) as fleet:
                result = await fleet.start_rolling_upgrade(await fleet.get_scale_set("rg-sick", "vmss-sick"))
                assert result.status == "Failed", result

        asyncio.run(fault())
        yield sim
    finally:
        sim.stop_thread()


def test_no_rollout_ever_ran(capsys, threaded_simulator) -> None:
    code, out, err = run(capsys, "get", "rollout", "--scale-set", "vmss-web", "-o", "json", *conn(threaded_simulator))
    assert code == 0, err
    document = json.loads(out)
    assert REQUIRED <= set(document)
    assert (document["scale_set"], document["resource_group"], document["upgrade_mode"]) == (
        "vmss-web", "rg-web-prod", "Rolling")
    assert document["status"] is None and document["error_code"] is None and document["started_at"] is None
    assert (document["successful"], document["failed"], document["in_progress"], document["pending"]) == (0, 0, 0, 0)
    rows = document["instances"]
    assert all(set(r) >= INSTANCE_KEYS for r in rows)
    assert [(r["instance_id"], r["state"], r["latest_model"]) for r in rows] == [
        ("1", "done", True), ("2", "pending", False), ("4", "pending", False), ("5", "done", True),
        ("6", "done", True), ("7", "done", True)]
    assert {r["provisioning_state"] for r in rows} == {"Succeeded"}
    assert [r["power_state"] for r in rows][-2:] == ["running", "deallocated"]


def test_a_faulted_rollout_in_json_and_as_a_table(capsys, faulted_simulator) -> None:
    code, out, err = run(capsys, "get", "rollout", "--scale-set", "vmss-sick", "-g", "rg-sick", "-o", "json",
                         *conn(faulted_simulator))
    assert code == 0, err
    document = json.loads(out)
    assert document["status"] == "Faulted"
    assert document["error_code"] == "MaxUnhealthyInstancePercentExceededInRollingUpgrade"
    assert "67% of instances are in an unhealthy state" in document["error_message"]
    assert document["started_at"] and document["pending"] == 3
    assert [(r["instance_id"], r["health"], r["state"]) for r in document["instances"]] == [
        ("0", "unhealthy", "pending"), ("1", "unhealthy", "pending"), ("2", "healthy", "pending")]

    code, out, err = run(capsys, "get", "rollout", "--scale-set", "vmss-sick", *conn(faulted_simulator))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "scale set:  vmss-sick (rg-sick, Rolling policy)"
    assert lines[1] == "status:     Faulted"
    assert lines[2] == "progress:   0 successful, 0 failed, 0 in progress, 3 pending"
    assert any(line.startswith("error:      MaxUnhealthyInstancePercentExceededInRollingUpgrade: ") for line in lines)
    header = next(line for line in lines if line.startswith("INSTANCE_ID"))
    assert header.split() == ["INSTANCE_ID", "STATE", "LATEST_MODEL", "PROVISIONING_STATE", "POWER_STATE", "HEALTH"]
    assert lines[-1].split() == ["2", "pending", "no", "Succeeded", "running", "healthy"]


def test_mistakes_are_one_line(capsys, threaded_simulator) -> None:
    code, out, err = run(capsys, "get", "rollout", *conn(threaded_simulator))
    assert (code, out) == (2, "")
    assert err.strip() == "vmss-tui: get rollout needs --scale-set NAME (and -g RG where the name is in several groups)"
    code, out, err = run(capsys, "get", "rollout", "--scale-set", "vmss-nope", *conn(threaded_simulator))
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vmss-tui: ") and "vmss-nope" in lines[0]
    assert "Traceback" not in err


def test_get_rollout_never_imports_textual() -> None:
    probe = ("import sys, vmss_tui.cli.get_rollout, vmss_tui.cli.get; "
             "print(sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.')))")
    found = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
