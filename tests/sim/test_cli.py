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
import urllib.error
import urllib.request
from pathlib import Path

import pytest

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
        if line.startswith("building the simulated fleet"):
            continue
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
        token = lines["token"].split()[0]
        assert lines["use it"] == f"VMSS_TUI_ARM_TOKEN={token} vmss-tui --arm-endpoint {endpoint} --subscription {subscription}"
        assert f"VMSS_TUI_ARM_TOKEN={token}" in lines["or"]
        url = f"{endpoint}/subscriptions/{subscription}/providers/Microsoft.Compute/virtualMachineScaleSets?api-version=2026-04-01"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert len(json.load(response)["value"]) == 8
        # Any other token, the console's fixed local one included, is refused.
        for other in ("x", "vmss-tui-local-simulator", token + "x"):
            request = urllib.request.Request(url, headers={"Authorization": f"Bearer {other}"})
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=5)
            assert info.value.code == 401
            assert json.load(info.value)["error"]["code"] == "InvalidAuthenticationToken"
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


BAD_ARGUMENTS = [
    (["--speed", "0"], "--speed"),
    (["--speed", "-2"], "--speed"),
    (["--speed", "nan"], "--speed"),
    (["--speed", "inf"], "--speed"),
    (["--speed", "fast"], "--speed"),
    (["--latency", "-1"], "--latency"),
    (["--latency", "nan"], "--latency"),
    (["--latency", "1e400"], "--latency"),
    (["--port", "-1"], "--port"),
    (["--port", "65536"], "--port"),
    (["--port", "http"], "--port"),
    (["--instances", "1001"], "--instances"),
    (["--instances", "-1"], "--instances"),
    (["--instances", "10000000"], "--instances"),
    (["--scale-sets", "0"], "--scale-sets"),
    (["--scale-sets", "2501"], "--scale-sets"),
    (["--subscriptions", "0"], "--subscriptions"),
    (["--subscriptions", "1001"], "--subscriptions"),
    (["--throttle-after", "0"], "--throttle-after"),
    (["--throttle-after", "1.5"], "--throttle-after"),
    (["--throttle-after", "5", "--retry-after", "-1"], "--retry-after"),
    (["--retry-after", "3"], "--retry-after"),
    (["--page-size", "0"], "--page-size"),
    (["--page-size", "5000"], "--page-size"),
    (["--topology", "huge"], "--topology"),
    (["--topology", "demo", "--instances", "10"], "--topology"),
    (["--bogus"], "--bogus"),
]


@pytest.mark.parametrize(("argv", "names"), BAD_ARGUMENTS, ids=[" ".join(a) for a, _ in BAD_ARGUMENTS])
def test_sim_usage_errors_are_one_line(argv: list[str], names: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("vmss-tui sim: ") and names in err[0], err
    assert "Traceback" not in captured.err and captured.out == ""


def test_sim_verbose_logs_each_request_without_the_token() -> None:
    process, lines = _start("--no-ssh", "--verbose")
    try:
        token = lines["token"].split()[0]
        url = f"{lines['endpoint']}/subscriptions/{lines['subscription']}?api-version=2022-12-01&secret=1"
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"}),
                                    timeout=5) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(url.replace("/subscriptions/", "/nope/"), timeout=5)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    assert process.returncode == 0
    logged = [line for line in stderr.splitlines() if "vmss_tui.sim.requests" in line]
    assert re.search(rf"GET /subscriptions/{lines['subscription']} 200 \d+\.\d ms$", logged[0]), logged
    assert re.search(r"GET /nope/\S+ 401 \d+\.\d ms$", logged[1]), logged
    assert token not in stderr and "secret=1" not in stderr


def test_ctrl_c_stops_the_simulator_while_a_large_fleet_is_built() -> None:
    process = subprocess.Popen([sys.executable, "-c", RUN, "--scale-sets", "2500", "--instances", "1000", "--no-ssh"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("building the simulated fleet")
        process.send_signal(signal.SIGINT)  # inside the build (it takes seconds), or serving: either way it stops
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0 and "stopped" in stderr and "Traceback" not in stderr
