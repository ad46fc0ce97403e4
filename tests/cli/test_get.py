"""`vmss-tui get` and the entry point's dispatch and error handling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from vmss_tui import cli
from vmss_tui.azure.fleet import ConnectionSettings

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def conn(sim: Any) -> list[str]:
    return ["--arm-endpoint", sim.endpoint, "--subscription", sim.subscription_id]


def assert_one_error_line(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vmss-tui: ")
    assert "Traceback" not in err


def test_global_options_before_or_after_the_sub_command(capsys, threaded_simulator) -> None:
    code_after, after, _ = run(capsys, "get", "scale-sets", "-o", "json", *conn(threaded_simulator))
    code_before, before, _ = run(capsys, *conn(threaded_simulator), "get", "scale-sets", "-o", "json")
    mixed_code, mixed, _ = run(capsys, "--arm-endpoint", threaded_simulator.endpoint, "get", "scale-sets",
                               "--subscription", threaded_simulator.subscription_id, "-o", "json", "--read-only")
    assert code_after == code_before == mixed_code == 0
    assert json.loads(after) == json.loads(before) == json.loads(mixed)


def test_scale_sets_json_keys_and_values(capsys, threaded_simulator) -> None:
    code, out, err = run(capsys, "get", "scale-sets", "-o", "json", *conn(threaded_simulator))
    assert code == 0, err
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["vmss-batch", "vmss-data", "vmss-internal", "vmss-pending", "vmss-api",
                                         "vmss-web"]
    required = {"name", "resource_group", "location", "sku", "capacity", "upgrade_mode", "orchestration_mode",
                "provisioning_state"}
    assert all(required <= set(r) for r in rows)
    web = rows[-1]
    assert (web["resource_group"], web["capacity"], web["upgrade_mode"]) == ("rg-web-prod", 6, "Rolling")
    assert all(not isinstance(v, dict | list) for r in rows for v in r.values())  # flat


def test_instances_json(capsys, threaded_simulator) -> None:
    code, out, err = run(capsys, "get", "instances", "--scale-set", "vmss-web", "-o", "json", *conn(threaded_simulator))
    assert code == 0, err
    rows = json.loads(out)
    required = {"scale_set", "resource_group", "instance_id", "name", "computer_name", "power_state",
                "provisioning_state", "latest_model", "zone"}
    assert all(required <= set(r) for r in rows)
    assert [(r["instance_id"], r["power_state"], r["latest_model"]) for r in rows] == [
        ("1", "running", True), ("2", "running", False), ("4", "running", False), ("5", "stopped", True),
        ("6", "running", True), ("7", "deallocated", True)]
    code, out, _ = run(capsys, "get", "instances", "-o", "json", *conn(threaded_simulator))
    assert code == 0 and len(json.loads(out)) == 6 + 3 + 3 + 2 + 2 + 2


def test_nat_json_with_nsg_verdicts(capsys, threaded_simulator) -> None:
    code, out, err = run(capsys, "get", "nat", "-o", "json", "-g", "rg-web-prod", "--scale-set", "vmss-web",
                         *conn(threaded_simulator))
    assert code == 0, err
    rows = json.loads(out)
    required = {"scale_set", "resource_group", "instance_id", "protocol", "backend_port", "frontend_ip",
                "frontend_port", "load_balancer", "rule", "kind", "frontend_state", "nsg_allowed", "nsg_rule",
                "nsg_sources", "nsg_open_to_any"}
    assert all(required <= set(r) for r in rows)
    ssh = {r["instance_id"]: r for r in rows if r["backend_port"] == 22}
    assert ssh["6"]["frontend_port"] == 50000 and ssh["7"]["frontend_port"] == 50003
    assert (ssh["1"]["nsg_allowed"], ssh["1"]["nsg_rule"], ssh["1"]["nsg_open_to_any"], ssh["1"]["nsg_sources"]) == (
        True, "allow-ssh-anywhere", True, ["*"])
    assert ssh["1"]["frontend_ip"].startswith(threaded_simulator.public_ip_prefix)
    rdp = [r for r in rows if r["backend_port"] == 3389]
    assert {(r["nsg_allowed"], r["nsg_rule"]) for r in rdp} == {(False, "DenyAllInBound")}


def test_nat_of_every_scale_set_with_notes(capsys, threaded_simulator) -> None:
    code, out, err = run(capsys, "get", "nat", "-o", "json", *conn(threaded_simulator))
    assert code == 0
    rows = json.loads(out)
    assert {r["scale_set"] for r in rows} == {"vmss-web", "vmss-api", "vmss-batch", "vmss-internal", "vmss-pending"}
    pending = [r for r in rows if r["scale_set"] == "vmss-pending"]
    assert {(r["frontend_state"], r["frontend_ip"]) for r in pending} == {("unallocated", None)}
    assert {r["kind"] for r in rows if r["scale_set"] == "vmss-batch"} == {"rule-v2"}
    assert "vmss-data: no load balancer" in err  # notes go to stderr with JSON


def test_table_output_is_aligned(capsys, threaded_simulator) -> None:
    code, out, _ = run(capsys, "get", "nat", *conn(threaded_simulator))
    assert code == 0
    lines = [line for line in out.splitlines() if line and not line.startswith("note:")]
    header = lines[0]
    assert header.split() == ["SCALE_SET", "INSTANCE_ID", "PROTOCOL", "BACKEND_PORT", "FRONTEND_IP", "FRONTEND_PORT",
                              "FRONTEND_STATE", "LOAD_BALANCER", "RULE", "KIND", "NSG_VERDICT"]
    starts = [header.index(name) for name in ("INSTANCE_ID", "BACKEND_PORT", "LOAD_BALANCER", "KIND")]
    for line in lines[1:]:
        for start in starts:
            assert line[start - 2 : start] == "  " and line[start] != " ", line
    assert any("unallocated" in line and " - " in line for line in lines)
    assert any(line.startswith("note: vmss-data: no load balancer") for line in out.splitlines())
    code, out, _ = run(capsys, "get", "scale-sets", *conn(threaded_simulator))
    assert out.splitlines()[0].split()[:3] == ["NAME", "RESOURCE_GROUP", "LOCATION"]


def test_environment_supplies_endpoint_and_subscription(capsys, threaded_simulator, monkeypatch) -> None:
    monkeypatch.setenv("VMSS_TUI_ARM_ENDPOINT", threaded_simulator.endpoint)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", threaded_simulator.subscription_id)
    code, out, _ = run(capsys, "get", "scale-sets", "-o", "json")
    assert code == 0 and len(json.loads(out)) == 6
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")  # none given: every listable subscription
    code, out, _ = run(capsys, "get", "scale-sets", "-o", "json")
    assert code == 0 and {r["subscription_id"] for r in json.loads(out)} == {threaded_simulator.subscription_id}


def test_config_subscription_comes_after_flag_and_environment(capsys, threaded_simulator, monkeypatch,
                                                              tmp_path) -> None:
    config_dir = tmp_path / "vmss-tui"
    config_dir.mkdir()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))  # the default location, as users have it
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    endpoint = ["--arm-endpoint", threaded_simulator.endpoint]
    unknown = "00000000-1111-2222-3333-444444444444"
    (config_dir / "config.toml").write_text(f'subscription = "{unknown}"\n')
    code, _, err = run(capsys, "get", "scale-sets", *endpoint)  # neither flag nor env: the config's
    assert code == 1 and "SubscriptionNotFound" in err and unknown in err
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", threaded_simulator.subscription_id)  # env beats config
    assert run(capsys, "get", "scale-sets", "-o", "json", *endpoint)[0] == 0
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", unknown)  # flag beats env and config
    code, out, _ = run(capsys, "get", "scale-sets", "-o", "json", *conn(threaded_simulator))
    assert code == 0 and len(json.loads(out)) == 6
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID")
    (config_dir / "config.toml").write_text(f'subscription = "{threaded_simulator.subscription_id}"\n')
    code, out, err = run(capsys, "get", "scale-sets", "-o", "json", *endpoint)
    assert code == 0 and err == ""
    assert {r["subscription_id"] for r in json.loads(out)} == {threaded_simulator.subscription_id}


def test_malformed_config_warns_and_get_goes_on(capsys, threaded_simulator, monkeypatch, tmp_path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "x"\nsubscription = 42\n')
    monkeypatch.setenv("VMSS_TUI_CONFIG", str(path))
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    code, out, err = run(capsys, "get", "scale-sets", "-o", "json", "--arm-endpoint", threaded_simulator.endpoint)
    assert code == 0 and len(json.loads(out)) == 6  # the only subscription listed
    (warning,) = err.strip().splitlines()
    assert warning.startswith("vmss-tui: warning: ") and "line 2" in warning and "subscription" in warning


def test_unknown_scale_set_is_one_line(capsys, threaded_simulator) -> None:
    code, out, err = run(capsys, "get", "instances", "--scale-set", "vmss-nope", *conn(threaded_simulator))
    assert code == 1 and out == ""
    assert_one_error_line(err)
    assert "vmss-nope" in err and "(" in err


def test_unknown_subscription_is_one_line(capsys, threaded_simulator) -> None:
    code, _, err = run(capsys, "get", "scale-sets", "--arm-endpoint", threaded_simulator.endpoint,
                       "--subscription", "00000000-1111-2222-3333-444444444444")
    assert code == 1
    assert_one_error_line(err)
    assert "SubscriptionNotFound" in err and "--subscription" in err


def test_forbidden_is_one_line(capsys, threaded_simulator) -> None:
    scope = f"/subscriptions/{threaded_simulator.subscription_id}/resourceGroups/rg-web-prod"
    threaded_simulator.forbidden.add(scope)
    try:
        code, _, err = run(capsys, "get", "scale-sets", "-g", "rg-web-prod", *conn(threaded_simulator))
    finally:
        threaded_simulator.forbidden.discard(scope)
    assert code == 1
    assert_one_error_line(err)
    assert "AuthorizationFailed" in err and "role" in err


def test_unreachable_endpoint_is_one_line(capsys) -> None:
    code, _, err = run(capsys, "get", "scale-sets", "--arm-endpoint", "http://127.0.0.1:9", "--subscription", "s")
    assert code == 1
    assert_one_error_line(err)
    assert "reachable" in err and "Connection refused" in err and "ssl:default" not in err


@pytest.mark.parametrize(
    "argv",
    [["get"], ["get", "vms"], ["get", "nat", "-o", "yaml"], ["--bogus"], ["get", "nat", "--arm-endpoint"],
     ["ssh", "vmss-web"], ["--demo", "--arm-endpoint", "http://127.0.0.1:1", "get", "nat"],
     ["get", "nat", "--demo", "--subscription", "s"]],
)
def test_usage_errors_are_one_line_with_exit_2(capsys, argv: list[str]) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert_one_error_line(err)


def test_help_exits_zero(capsys) -> None:
    code, out, _ = run(capsys, "get", "--help")
    assert code == 0 and "--scale-set" in out and "--arm-endpoint" in out


def test_last_resort_errors_and_interrupts(capsys, monkeypatch) -> None:
    def boom(argv: list[str]) -> int:
        raise ValueError("bad\nthing")

    monkeypatch.setattr(cli, "_dispatch", boom)
    code, _, err = run(capsys, "get", "nat")
    assert code == 1
    assert_one_error_line(err)
    assert "ValueError" in err

    def interrupted(argv: list[str]) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_dispatch", interrupted)
    code, _, err = run(capsys)
    assert code == 130
    assert_one_error_line(err)


def test_demo_get_starts_and_stops_a_simulator(capsys) -> None:
    code, out, err = run(capsys, "--demo", "get", "instances", "--scale-set", "vmss-batch", "-o", "json")
    assert code == 0, err
    assert [r["instance_id"] for r in json.loads(out)] == ["0", "1", "2"]


def test_console_and_ssh_dispatch_to_the_ui(capsys, monkeypatch, threaded_simulator) -> None:
    calls: list[tuple[ConnectionSettings, Any]] = []

    def run_console(settings: ConnectionSettings, *, ssh_target=None) -> int:
        calls.append((settings, ssh_target))
        return 0

    fake = types.ModuleType("vmss_tui.ui.app")
    fake.run_console = run_console  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vmss_tui.ui.app", fake)
    assert run(capsys, "--read-only", *conn(threaded_simulator))[0] == 0
    assert run(capsys, "ssh", "vmss-web", "4", "-g", "rg-web-prod", *conn(threaded_simulator))[0] == 0
    (console_settings, no_target), (ssh_settings, target) = calls
    assert no_target is None and console_settings.read_only is True
    assert console_settings.arm_endpoint == threaded_simulator.endpoint
    assert target == ("vmss-web", "4", "rg-web-prod") and ssh_settings.read_only is False


def test_demo_hands_the_simulators_ssh_key_to_a_console_that_takes_one(capsys, monkeypatch) -> None:
    seen: list[tuple[str, bool, str | None]] = []

    def run_console(settings: ConnectionSettings, *, ssh_target=None, ssh_identity_file=None) -> int:
        key = Path(ssh_identity_file) if ssh_identity_file else None
        seen.append((str(ssh_identity_file), bool(key and key.is_file()), settings.arm_endpoint))
        return 0

    def old_run_console(settings: ConnectionSettings, *, ssh_target=None) -> int:  # no way to take a key
        seen.append(("no key", False, settings.arm_endpoint))
        return 0

    fake = types.ModuleType("vmss_tui.ui.app")
    monkeypatch.setitem(sys.modules, "vmss_tui.ui.app", fake)
    fake.run_console = run_console  # type: ignore[attr-defined]
    assert run(capsys, "--demo")[0] == 0
    fake.run_console = old_run_console  # type: ignore[attr-defined]
    assert run(capsys, "--demo", "ssh", "vmss-web", "1")[0] == 0
    (key, existed, endpoint), (nothing, _, _) = seen
    assert existed and key.endswith("id_ed25519") and endpoint.startswith("http://127.0.0.1:")
    assert not Path(key).exists()  # the demo stopped and took its key with it
    assert nothing == "no key"


def test_console_missing_is_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vmss_tui.ui.app", None)  # import of it fails
    code, _, err = run(capsys, "--arm-endpoint", "http://127.0.0.1:9", "--subscription", "s")
    assert code == 1
    assert_one_error_line(err)


def test_sim_sub_command_gets_the_rest_of_the_line(capsys, monkeypatch) -> None:
    received: list[list[str]] = []
    fake = types.ModuleType("vmss_tui.sim.cli")
    fake.main = lambda argv: received.append(list(argv)) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vmss_tui.sim.cli", fake)
    assert run(capsys, "sim", "--port", "0", "--scale-sets", "5")[0] == 0
    assert run(capsys, "--read-only", "sim", "--help")[0] == 0
    assert received == [["--port", "0", "--scale-sets", "5"], ["--help"]]


def test_get_in_a_fresh_interpreter_never_imports_textual(threaded_simulator) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vmss_tui", "get", "nat", "-o", "json", *conn(threaded_simulator)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "vmss_tui.azure.fleet" in imported and "azure.mgmt.compute" in imported  # the trace is real
    assert not {name for name in imported if name == "textual" or name.startswith("textual.")}


def test_get_reading_the_config_file_never_imports_textual(threaded_simulator, tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'subscription = "{threaded_simulator.subscription_id}"\n')
    env = {**os.environ, "PYTHONPATH": str(REPO), "VMSS_TUI_CONFIG": str(config)}
    env.pop("AZURE_SUBSCRIPTION_ID", None)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "vmss_tui", "get", "scale-sets", "-o", "json",
         "--arm-endpoint", threaded_simulator.endpoint],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert {r["subscription_id"] for r in json.loads(result.stdout)} == {threaded_simulator.subscription_id}
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "vmss_tui.config" in imported
    assert not {name for name in imported if name == "textual" or name.startswith("textual.")}
