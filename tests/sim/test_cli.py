"""`vmss-tui sim` in the foreground: prints where it is, serves, stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from tests.support.sim_sdk import FIXED_TOKEN

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


def test_sim_prints_the_demo_key_and_a_working_ssh_command() -> None:
    if shutil.which("ssh") is None:
        pytest.skip("the OpenSSH client (ssh) is not installed")
    process, lines = _start("--speed", "20")
    try:
        key_path = Path(lines["ssh demo key"].split()[0])
        assert key_path.is_file() and stat.S_IMODE(key_path.stat().st_mode) == 0o600
        assert "public keys only" in lines["ssh"]
        example = next(k for k in lines if k.startswith("e.g. ssh "))
        command = re.fullmatch(r"e\.g\. (ssh -i (\S+) -p (\d+) (azureuser)@(\S+))\s+\((\S+) instance (\d+)\)", example)
        assert command is not None, example
        assert command[2] == str(key_path)
        argv = command[1].split()
        # The printed command as a person would run it, isolated from this machine's ssh config and agent.
        argv[1:1] = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
                     "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]
        result = subprocess.run([*argv, "echo", "$HOSTNAME"], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        scale_set, instance_id = command[6], int(command[7])
        digits = "".join("0123456789abcdefghijklmnopqrstuvwxyz"[instance_id // 36**i % 36] for i in reversed(range(6)))
        assert result.stdout.strip() == scale_set + digits  # the instance's computer name
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0 and "Traceback" not in stderr
    assert not key_path.exists() and not key_path.parent.exists()  # removed on stop


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
