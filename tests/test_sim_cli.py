"""`vmss-tui sim` in the foreground: prints where it is, serves, stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request

from sim_sdk_helpers import FIXED_TOKEN

from vmss_tui.sim.cli import main

RUN = "import sys; from vmss_tui.sim.cli import main; sys.exit(main(sys.argv[1:]))"


def _start(*args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    process = subprocess.Popen([sys.executable, "-c", RUN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None
    lines: dict[str, str] = {}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith("Ctrl-C"):
            return process, lines
        if line.startswith("vmss-tui simulator listening on "):
            lines["endpoint"] = line.rsplit(" ", 1)[1].strip()
            continue
        key, _, value = line.partition(":")
        lines[key.strip()] = value.strip()
    process.kill()
    raise AssertionError(f"the simulator did not start: {lines} {process.stderr.read() if process.stderr else ''}")


def test_sim_runs_in_foreground_and_stops_on_ctrl_c() -> None:
    process, lines = _start("--speed", "20", "--no-ssh")
    try:
        endpoint = lines["endpoint"]
        assert endpoint.startswith("http://127.0.0.1:")
        subscription = lines["subscription"]
        assert f"--arm-endpoint {endpoint} --subscription {subscription}" in lines["use it"]
        request = urllib.request.Request(
            f"{endpoint}/subscriptions/{subscription}/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=2026-04-01",
            headers={"Authorization": f"Bearer {FIXED_TOKEN}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert len(json.load(response)["value"]) == 6
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    assert "Traceback" not in stderr
    assert "stopped" in stderr


def test_sim_large_fleet_option() -> None:
    process, lines = _start("--scale-sets", "5", "--instances", "40", "--no-ssh")
    try:
        assert lines["fleet"].startswith("5 scale sets, 48 instances")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0 and "Traceback" not in stderr


def test_sim_usage_errors_are_one_line(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--speed", "0"]) == 2
    assert main(["--bogus"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("vmss-tui sim: ") for line in err)
