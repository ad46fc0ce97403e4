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

from tests.support.flexible import VM_NAME, flexible_topology
from vmss_tui.azure.fleet import ConnectionSettings
from vmss_tui.cli import entry as cli

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


def test_instances_carry_what_the_instances_pane_shows(capsys, threaded_simulator) -> None:
    code, out, err = run(capsys, "get", "instances", "-o", "json", *conn(threaded_simulator))
    assert code == 0, err
    rows = json.loads(out)
    assert all({"orchestration_mode", "private_ip", "ssh_endpoint", "ssh_reason", "health", "fault_domain"} <= set(r)
               for r in rows)
    by_key = {(r["scale_set"], r["instance_id"]): r for r in rows}
    code, out, _ = run(capsys, "get", "nat", "-o", "json", *conn(threaded_simulator))
    nat = json.loads(out)
    # The endpoint is the instance's public port-22 mapping, the one `get nat` lists and `s` opens.
    ssh = {(m["scale_set"], m["instance_id"]): f"{m['frontend_ip']}:{m['frontend_port']}"
           for m in nat if m["backend_port"] == 22 and m["frontend_state"] == "public"}
    assert ssh and {k: by_key[k]["ssh_endpoint"] for k in ssh} == ssh
    assert all(by_key[k]["ssh_reason"] is None for k in ssh if by_key[k]["power_state"] == "running")
    stopped, deallocated = by_key[("vmss-web", "5")], by_key[("vmss-web", "7")]
    assert "is stopped" in stopped["ssh_reason"] and "is deallocated" in deallocated["ssh_reason"]
    web6 = by_key[("vmss-web", "6")]
    assert (web6["orchestration_mode"], web6["health"], web6["ssh_endpoint"].rsplit(":", 1)[1]) == (
        "Uniform", "healthy", "50000")
    assert web6["private_ip"].startswith("10.")
    assert all(r["private_ip"] for r in rows)
    no_lb = by_key[("vmss-data", "0")]
    assert no_lb["ssh_endpoint"] is None and "no load balancer" in no_lb["ssh_reason"]
    internal = by_key[("vmss-internal", "0")]
    assert internal["ssh_endpoint"] is None and "internal" in internal["ssh_reason"]
    pending = by_key[("vmss-pending", "0")]
    assert pending["ssh_endpoint"] is None and "mapped: 3389" in pending["ssh_reason"]  # RDP only


def scale_set_id(sim: Any, group: str, name: str) -> str:
    return f"/subscriptions/{sim.subscription_id}/resourceGroups/{group}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}"


def test_one_forbidden_scale_set_never_breaks_the_others(capsys, threaded_simulator) -> None:
    api = scale_set_id(threaded_simulator, "rg-web-prod", "vmss-api")
    threaded_simulator.forbidden.add(api)
    try:
        code, out, err = run(capsys, "get", "instances", "-o", "json", *conn(threaded_simulator))
        nat_code, nat_out, nat_err = run(capsys, "get", "nat", "-o", "json", *conn(threaded_simulator))
        table_code, table_out, table_err = run(capsys, "get", "instances", *conn(threaded_simulator))
    finally:
        threaded_simulator.forbidden.discard(api)
    assert (code, nat_code, table_code) == (3, 3, 3)
    rows = json.loads(out)
    assert "vmss-api" not in {r["scale_set"] for r in rows}
    assert {r["scale_set"] for r in rows} == {"vmss-web", "vmss-batch", "vmss-data", "vmss-internal", "vmss-pending"}
    assert len(rows) == 6 + 3 + 2 + 2 + 2
    (line,) = err.strip().splitlines()
    assert line.startswith("vmss-tui: vmss-api: AuthorizationFailed: ") and line.endswith("(Reader at least))")
    assert "Traceback" not in err
    assert {r["scale_set"] for r in json.loads(nat_out)} == {"vmss-web", "vmss-batch", "vmss-internal", "vmss-pending"}
    assert [x for x in nat_err.splitlines() if "AuthorizationFailed" in x] == [
        x for x in nat_err.splitlines() if x.startswith("vmss-tui: vmss-api: ")]
    assert "vmss-web" in table_out and "vmss-api" not in table_out
    assert table_err.strip().splitlines()[-1].startswith("vmss-tui: vmss-api: AuthorizationFailed")


def test_operation_not_allowed_on_one_scale_set_is_its_own_line(capsys, threaded_simulator) -> None:
    # What Azure answers when a Uniform-only call reaches a Flexible scale set.
    message = "Operation 'VirtualMachineScaleSets.virtualMachines.GET' is not allowed on Virtual Machine Scale Set 'vmss-batch'."
    threaded_simulator.add_fault(r"/virtualMachineScaleSets/vmss-batch/virtualMachines$", 400, method="GET",
                                 code="OperationNotAllowed", message=message, count=None)
    try:
        code, out, err = run(capsys, "get", "instances", "-o", "json", *conn(threaded_simulator))
    finally:
        threaded_simulator.faults.clear()
    assert code == 3
    assert "vmss-batch" not in {r["scale_set"] for r in json.loads(out)} and len(json.loads(out)) == 15
    assert err.strip().splitlines() == [f"vmss-tui: vmss-batch: OperationNotAllowed: {message}"]


def test_every_scale_set_failing_is_a_failure_not_a_partial_result(capsys, threaded_simulator) -> None:
    ids = [scale_set_id(threaded_simulator, "rg-web-prod", n) for n in ("vmss-api", "vmss-web")]
    threaded_simulator.forbidden.update(ids)
    try:
        code, out, err = run(capsys, "get", "instances", "-g", "rg-web-prod", "-o", "json", *conn(threaded_simulator))
    finally:
        threaded_simulator.forbidden.difference_update(ids)
    assert code == 1 and json.loads(out) == []
    lines = err.strip().splitlines()
    assert [line.split(":")[1].strip() for line in lines] == ["vmss-api", "vmss-web"]


def test_exit_status_of_a_partial_result_is_in_the_help(capsys) -> None:
    import argparse

    from vmss_tui.cli.get import EXIT_PARTIAL, configure_get_parser

    parser = argparse.ArgumentParser(prog="vmss-tui get")
    configure_get_parser(parser)
    text = parser.format_help()
    assert EXIT_PARTIAL == 3 and "exit status:" in text and "  3  partial result" in text
    assert parser.parse_args(["nat", "-o", "json"]).output == "json"
    code, out, _ = run(capsys, "get", "--help")
    if "exit status:" not in out:
        pytest.skip("cli/entry.py does not build `get` through configure_get_parser yet")
    assert "  3  partial result" in out


@pytest.fixture
def flexible_simulator(monkeypatch) -> Any:
    from vmss_tui.sim import Simulator

    sim = Simulator(topology=flexible_topology(), speed=50, ssh=False).start_in_thread()
    if getattr(sim, "bearer_token", None):  # a simulator that accepts only its own token
        monkeypatch.setenv("VMSS_TUI_ARM_TOKEN", sim.bearer_token)
    try:
        yield sim
    finally:
        sim.stop_thread()


def test_uniform_and_flexible_side_by_side(capsys, flexible_simulator) -> None:
    code, out, err = run(capsys, "get", "scale-sets", "-o", "json", *conn(flexible_simulator))
    assert code == 0, err
    assert [(r["name"], r["orchestration_mode"]) for r in json.loads(out)] == [
        ("vmss-flex", "Flexible"), ("vmss-uniform", "Uniform")]

    code, out, err = run(capsys, "get", "instances", "-o", "json", *conn(flexible_simulator))
    assert code == 0, err
    rows = json.loads(out)
    flex = [r for r in rows if r["scale_set"] == "vmss-flex"]
    uniform = [r for r in rows if r["scale_set"] == "vmss-uniform"]
    assert len(rows) == len(flex) + len(uniform) == 3 + 2  # the VM of no scale set is nobody's instance
    assert all(set(r) == set(rows[0]) for r in rows)  # one shape for both modes
    assert all(VM_NAME.match(r["instance_id"]) and r["name"] == r["instance_id"] for r in flex)
    assert {r["orchestration_mode"] for r in flex} == {"Flexible"} and {r["latest_model"] for r in flex} == {None}
    assert sorted(r["power_state"] for r in flex) == ["running", "running", "stopped"]
    assert all(r["private_ip"].startswith("10.5.0.") and r["zone"] in ("1", "2", "3") for r in flex)
    assert all(r["ssh_endpoint"] for r in flex)
    assert [r["ssh_reason"] is None for r in flex] == [r["power_state"] == "running" for r in flex]
    assert [(r["instance_id"], r["orchestration_mode"], r["latest_model"]) for r in uniform] == [
        ("0", "Uniform", True), ("1", "Uniform", True)]
    assert all(r["ssh_endpoint"] is None and "no load balancer" in r["ssh_reason"] for r in uniform)

    code, out, err = run(capsys, "get", "nat", "-o", "json", *conn(flexible_simulator))
    assert code == 0, err
    nat = json.loads(out)
    assert {r["scale_set"] for r in nat} == {"vmss-flex"} and {r["kind"] for r in nat} == {"rule-v2"}
    assert {r["instance_id"]: f"{r['frontend_ip']}:{r['frontend_port']}" for r in nat} == {
        r["instance_id"]: r["ssh_endpoint"] for r in flex}
    assert all(50000 <= r["frontend_port"] <= 50099 and r["nsg_open_to_any"] for r in nat)
    assert "vmss-uniform: no load balancer" in err

    code, out, _ = run(capsys, "get", "instances", *conn(flexible_simulator))
    header = out.splitlines()[0].split()
    assert code == 0 and header[:3] == ["SCALE_SET", "RESOURCE_GROUP", "ORCHESTRATION_MODE"]


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

    def run_console(settings: ConnectionSettings, *, ssh_target=None, ssh_identity_file=None) -> int:
        calls.append((settings, ssh_target))
        assert ssh_identity_file is None  # only the demo has a key of its own to hand over
        return 0

    fake = types.ModuleType("vmss_tui.cli.console")
    fake.run_console = run_console  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vmss_tui.cli.console", fake)
    assert run(capsys, "--read-only", *conn(threaded_simulator))[0] == 0
    assert run(capsys, "ssh", "vmss-web", "4", "-g", "rg-web-prod", *conn(threaded_simulator))[0] == 0
    (console_settings, no_target), (ssh_settings, target) = calls
    assert no_target is None and console_settings.read_only is True
    assert console_settings.arm_endpoint == threaded_simulator.endpoint
    assert target == ("vmss-web", "4", "rg-web-prod") and ssh_settings.read_only is False


def test_demo_hands_the_simulators_ssh_key_and_token_to_the_console(capsys, monkeypatch) -> None:
    seen: list[tuple[str, bool, str | None, bool]] = []

    def run_console(settings: ConnectionSettings, *, ssh_target=None, ssh_identity_file=None) -> int:
        key = Path(ssh_identity_file) if ssh_identity_file else None
        seen.append((str(ssh_identity_file), bool(key and key.is_file()), settings.arm_endpoint,
                     bool(settings.bearer_token)))
        return 0

    fake = types.ModuleType("vmss_tui.cli.console")
    monkeypatch.setitem(sys.modules, "vmss_tui.cli.console", fake)
    fake.run_console = run_console  # type: ignore[attr-defined]
    assert run(capsys, "--demo")[0] == 0
    assert run(capsys, "--demo", "ssh", "vmss-web", "1")[0] == 0
    for key, existed, endpoint, has_token in seen:
        assert existed and key.endswith("id_ed25519") and endpoint.startswith("http://127.0.0.1:") and has_token
        assert not Path(key).exists()  # the demo stopped and took its key with it


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
