"""Run Command and Custom Script results in both shapes Azure answers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vmss_tui.domain.run_command import extension_statuses, parse_run_command_result, split_streams

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "arm" / "specification" / "compute" / "resource-manager"
WINDOWS_VM = FIXTURES / "Microsoft.Compute/ComputeRP/stable/2025-04-01/examples/runCommandExamples/VirtualMachineRunCommand.json"
WINDOWS_VMSS_VM = (FIXTURES / "Microsoft.Compute/Compute/Compute/examples/2026-04-01/runCommandExamples/"
                   "VirtualMachineScaleSetVMRunCommand.json")

# Recorded Linux answers (RunShellScript). The first is `az vm run-command invoke ... --scripts "id derekadmin"`
# as a user posted it; the second is the Custom Script extension's failed status in Microsoft's
# custom-script-linux troubleshooting page (`ech` for `echo`).
LINUX_OK = {
    "code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
    "message": "Enable succeeded: \n[stdout]\nuid=1000(derekadmin) gid=1000(derekadmin) groups=1000(derekadmin),4(adm)"
               "\n\n[stderr]\n",
}
LINUX_CURL = {
    "code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded", "time": None,
    "message": "Enable succeeded: \n[stdout]\n\n[stderr]\n  % Total    % Received % Xferd\n\r100 1022k  100 1022k\n",
}
LINUX_FAILED = {
    "code": "ProvisioningState/failed/0", "level": "Error", "displayStatus": "Provisioning failed", "time": None,
    "message": "Enable failed: failed to execute command: command terminated with exit status=127\n[stdout]\n\n"
               "[stderr]\n/bin/sh: 1: ech: not found\n",
}


def test_linux_packed_streams() -> None:
    result = parse_run_command_result([LINUX_OK])
    assert result.shape == "linux" and result.succeeded and result.exit_code == 0
    assert result.headline == "Enable succeeded:"
    assert result.stdout == "uid=1000(derekadmin) gid=1000(derekadmin) groups=1000(derekadmin),4(adm)\n"
    assert result.stderr == ""
    assert result.codes == ("ProvisioningState/succeeded",)
    curl = parse_run_command_result([LINUX_CURL])
    assert curl.stdout == "" and curl.stderr.startswith("  % Total") and curl.stderr.endswith("1022k\n")


def test_linux_failed_script_keeps_its_exit_status_and_stderr() -> None:
    result = parse_run_command_result([LINUX_FAILED])
    assert not result.succeeded
    assert result.exit_code == 127
    assert result.stdout == "" and result.stderr == "/bin/sh: 1: ech: not found\n"
    assert result.headline.startswith("Enable failed: failed to execute command")


@pytest.mark.parametrize("path", [WINDOWS_VM, WINDOWS_VMSS_VM], ids=["vm", "vmss-vm"])
def test_windows_shape_from_the_spec_examples(path: Path) -> None:
    statuses = json.loads(path.read_text())["responses"]["200"]["body"]["value"]
    result = parse_run_command_result(statuses)
    assert result.shape == "windows" and result.succeeded
    assert result.stdout in ("This is a sample script with parameters value1 value2", "Hello World!")
    assert result.stderr == ""
    assert result.exit_code is None  # Windows' statuses do not carry it


def test_windows_failed_stream_and_empty_result() -> None:
    result = parse_run_command_result([
        {"code": "ComponentStatus/StdOut/succeeded", "message": "partial"},
        {"code": "ComponentStatus/StdErr/failed", "message": "Access denied"},
    ])
    assert not result.succeeded and (result.stdout, result.stderr) == ("partial", "Access denied")
    empty = parse_run_command_result([])
    assert (empty.shape, empty.succeeded, empty.stdout) == ("empty", False, "")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Enable succeeded: \n[stdout]\nhello\nworld\n\n[stderr]\noh no\n", ("Enable succeeded:", "hello\nworld\n", "oh no\n")),
        ("Enable succeeded: \n[stdout]\njust stdout\n", ("Enable succeeded:", "just stdout\n", None)),
        ("Enable succeeded: \n[stderr]\nuh oh\n", ("Enable succeeded:", None, "uh oh\n")),
        ("[stdout]\n[stderr]\nonly error", ("", "", "only error")),
        ("[stdout]\n\n[stderr]\n", ("", "", "")),
        ("Provisioning succeeded", ("Provisioning succeeded", None, None)),
        # A stream that prints the marker itself: stdout runs to the last stderr marker.
        ("Enable succeeded: \n[stdout]\na\n[stderr]\nb\n\n[stderr]\nc", ("Enable succeeded:", "a\n[stderr]\nb\n", "c")),
    ],
)
def test_split_streams(message: str, expected: tuple[str, str | None, str | None]) -> None:
    assert split_streams(message) == expected


def test_long_streams_may_be_truncated() -> None:
    long = {"code": "ProvisioningState/succeeded", "message": "Enable succeeded: \n[stdout]\n" + "x" * 4096 + "\n[stderr]\n"}
    assert parse_run_command_result([long]).may_be_truncated
    assert not parse_run_command_result([LINUX_OK]).may_be_truncated


def test_extension_statuses_of_an_instance_view() -> None:
    view = {
        "extensions": [
            {"name": "CustomScript", "type": "Microsoft.Azure.Extensions.CustomScript", "typeHandlerVersion": "2.1.10",
             "statuses": [LINUX_FAILED]},
            {"name": "HealthExtension", "type": "Microsoft.ManagedServices.ApplicationHealthLinux",
             "statuses": [{"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
                           "message": "Application health configuration enabled"}]},
            {"name": "Pending", "statuses": [{"code": "ProvisioningState/transitioning"}]},
            {"name": "NoStatus"},
            "not an object",
        ],
    }
    found = extension_statuses(view)
    assert [(s.name, s.state, s.succeeded) for s in found] == [
        ("CustomScript", "failed", False), ("HealthExtension", "succeeded", True), ("Pending", "transitioning", None),
        ("NoStatus", None, None)]
    script = found[0]
    assert (script.exit_code, script.stdout, script.stderr) == (127, "", "/bin/sh: 1: ech: not found\n")
    assert (script.type, script.version, script.level) == ("Microsoft.Azure.Extensions.CustomScript", "2.1.10", "Error")
    assert found[1].stdout is None and found[1].message == "Application health configuration enabled"
    assert extension_statuses(None) == [] and extension_statuses({"extensions": None}) == []
