"""Bad input gets one clear line: what was wrong, where it came from (flag, environment variable,
config line) and what is allowed; nothing the user had is lost (the config file is untouched).

One table per source. A flag or environment case runs the real entry point (`vmss_tui.cli.main`)
and expects exit 2 with exactly one line on stderr; a config case reads a real file and expects
one problem naming its line (the console shows these as notifications and goes on with the
defaults); a few cases need a simulator to show that the hint of an ARM error names the place
the value came from.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from tests.support.sshd import free_port
from vmss_tui.cli import entry as cli
from vmss_tui.config import (
    NAMED_KEYS,
    Config,
    binding_clash_problems,
    key_problem,
    load_config,
    parse_config,
)

KEPT_CONFIG = '# the user\'s own file: never rewritten\ntheme = "nord"\n[refresh]\ninstances = 7\n'
FORBIDDEN = ("Traceback", "unexpected error", "please report")


@pytest.fixture(autouse=True)
def users_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file of the user's at the default place; every case checks it is untouched."""
    home = tmp_path / "xdg"
    (home / "vmss-tui").mkdir(parents=True)
    path = home / "vmss-tui" / "config.toml"
    path.write_text(KEPT_CONFIG, encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    for name in ("VMSS_TUI_ARM_ENDPOINT", "AZURE_SUBSCRIPTION_ID", "TEXTUAL_LOG", "VMSS_TUI_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    yield path
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before, "the config file was changed"


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("vmss-tui: "), err
    for word in FORBIDDEN:
        assert word not in err, err
    return lines[0]


def key_files(tmp_path: Path) -> dict[str, Path]:
    key = asyncssh.generate_private_key("ssh-ed25519")
    private = tmp_path / "id_test"
    key.write_private_key(str(private))
    private.chmod(0o600)
    public = tmp_path / "id_test.pub"
    key.write_public_key(str(public))
    text = tmp_path / "notes.txt"
    text.write_text("not a key\n")
    return {"private": private, "public": public, "text": text, "dir": tmp_path}


# ---------------------------------------------------------------- flags and environment variables

# (id, argv, environment, fragments the one line must contain); "{tmp}" is the test's folder.
FLAG_CASES: list[tuple[str, list[str], dict[str, str], list[str]]] = [
    ("endpoint-scheme", ["get", "scale-sets", "--arm-endpoint", "htp://x"], {},
     ["--arm-endpoint 'htp://x'", "not https://", "allowed: https://host[:port]"]),
    ("endpoint-ipv6", ["--arm-endpoint", "http://[::1", "get", "nat"], {},
     ["--arm-endpoint 'http://[::1'", "not a URL", "allowed:"]),
    ("endpoint-no-scheme", ["get", "nat", "--arm-endpoint", "management.azure.com"], {},
     ["--arm-endpoint 'management.azure.com'", "no https://"]),
    ("endpoint-plain-http-remote", ["get", "nat", "--arm-endpoint", "http://management.azure.com"], {},
     ["--arm-endpoint", "plain http", "use https://"]),
    ("endpoint-password", ["get", "nat", "--arm-endpoint", "https://me:hunter2@example.com"], {},
     ["--arm-endpoint 'https://***@example.com'", "user name or password"]),
    ("endpoint-port-range", ["get", "nat", "--arm-endpoint", "https://example.com:99999"], {},
     ["--arm-endpoint 'https://example.com:99999'", "not a URL", "Port out of range"]),
    ("endpoint-port-zero", ["get", "nat", "--arm-endpoint", "https://example.com:0"], {},
     ["--arm-endpoint", "port 0"]),
    ("endpoint-path", ["get", "nat", "--arm-endpoint", "https://example.com/subscriptions/x"], {},
     ["--arm-endpoint", "has a path (/subscriptions/x)"]),
    ("endpoint-query", ["get", "nat", "--arm-endpoint", "https://example.com/?api-version=1"], {},
     ["--arm-endpoint", "query or fragment"]),
    ("endpoint-space", ["get", "nat", "--arm-endpoint", "https://exa mple.com"], {},
     ["--arm-endpoint 'https://exa mple.com'", "space"]),
    ("endpoint-console", ["--arm-endpoint", "ftp://example.com"], {},
     ["--arm-endpoint 'ftp://example.com'", "not https://"]),
    ("subscription-slash", ["get", "nat", "--arm-endpoint", "http://127.0.0.1:9", "--subscription", "a/b"], {},
     ["--subscription", "'a/b' is not a subscription id", "00000000-0000-0000-0000-000000000000"]),
    ("subscription-space", ["get", "nat", "--subscription", "my sub"], {},
     ["--subscription", "'my sub' is not a subscription id"]),
    ("identity-missing", ["-i", "{tmp}/nope", "--demo"], {},
     ["-i '{tmp}/nope': no such file", "SSH private key"]),
    ("identity-directory", ["ssh", "web", "0", "-i", "{tmp}"], {},
     ["-i '{tmp}': is a directory"]),
    ("identity-public", ["ssh", "web", "0", "--identity-file", "{tmp}/id_test.pub"], {},
     ["-i '{tmp}/id_test.pub': is a public key: give the private key ({tmp}/id_test)"]),
    ("identity-not-a-key", ["-i", "{tmp}/notes.txt"], {},
     ["-i '{tmp}/notes.txt': is not an SSH private key"]),
    ("log-file-no-directory", ["get", "nat", "--log-file", "{tmp}/missing/dir/app.log"], {},
     ["--log-file {tmp}/missing/dir/app.log: cannot write it (No such file or directory)"]),
    ("log-file-directory", ["--log-file", "{tmp}", "get", "nat"], {},
     ["--log-file {tmp}: cannot write it (Is a directory)"]),
    ("log-file-empty", ["get", "nat", "--log-file", ""], {}, ["--log-file '' is not a file name"]),
    ("verbose-console-without-log", ["-v"], {}, ["-v:", "add --log-file PATH"]),
    ("ssh-markup-name", ["ssh", "[/x]", "1", "--demo"], {},
     ["SCALE_SET '[/x]' is not a scale set name", "allowed: letters, digits"]),
    ("ssh-instance-space", ["ssh", "web", "1 2"], {}, ["INSTANCE_ID '1 2' is not an instance id"]),
    ("ssh-group", ["ssh", "web", "1", "-g", "rg/../x"], {}, ["-g 'rg/../x' is not a resource group name"]),
    ("ssh-control-character", ["ssh", "web\x1b[2J", "1"], {}, ["SCALE_SET 'web\\x1b[2J'"]),
    ("demo-and-endpoint", ["--demo", "--arm-endpoint", "http://127.0.0.1:1", "get", "nat"], {},
     ["--demo and --arm-endpoint cannot be combined"]),
    ("demo-and-subscription", ["get", "nat", "--demo", "--subscription", "s"], {}, ["drop --subscription"]),
    ("unknown-kind", ["get", "vms"], {}, ["invalid choice: 'vms'", "--help"]),
    ("unknown-output", ["get", "nat", "-o", "yaml"], {}, ["invalid choice: 'yaml'"]),
    ("unknown-flag", ["--bogus"], {}, ["unrecognized arguments: --bogus"]),
    ("flag-without-value", ["get", "nat", "--arm-endpoint"], {}, ["expected one argument"]),
    # environment variables
    ("env-endpoint", ["get", "nat"], {"VMSS_TUI_ARM_ENDPOINT": "htp://x"},
     ["VMSS_TUI_ARM_ENDPOINT (environment) 'htp://x'", "not https://"]),
    ("env-endpoint-console", [], {"VMSS_TUI_ARM_ENDPOINT": "https://[::1"},
     ["VMSS_TUI_ARM_ENDPOINT (environment)", "not a URL"]),
    ("env-subscription", ["get", "nat"], {"AZURE_SUBSCRIPTION_ID": "x y"},
     ["AZURE_SUBSCRIPTION_ID (environment)", "'x y' is not a subscription id"]),
    ("env-token", ["get", "nat", "--arm-endpoint", "http://127.0.0.1:9"], {"VMSS_TUI_ARM_TOKEN": "s3cr3t with space"},
     ["VMSS_TUI_ARM_TOKEN (environment)", "the value is not shown"]),
    ("env-textual-log", ["--arm-endpoint", "http://127.0.0.1:9"], {"TEXTUAL_LOG": "{tmp}/missing/textual.log"},
     ["TEXTUAL_LOG (environment) '{tmp}/missing/textual.log': cannot write it", "unset it"]),
]


@pytest.mark.parametrize(("argv", "environment", "fragments"), [c[1:] for c in FLAG_CASES],
                         ids=[c[0] for c in FLAG_CASES])
def test_a_bad_flag_or_variable_is_one_line_naming_it(
    argv: list[str], environment: dict[str, str], fragments: list[str], tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_files(tmp_path)
    started: list[Any] = []
    monkeypatch.setattr(cli, "_start_demo", lambda *args: started.append(args))  # nothing may get that far
    for name, value in environment.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    code = cli.main([word.format(tmp=tmp_path) for word in argv])
    out, err = capsys.readouterr()
    line = one_line(err)
    assert code == 2 and out == "" and not started, (code, err)
    for fragment in fragments:
        assert fragment.format(tmp=tmp_path) in line, line
    assert "s3cr3t" not in err  # a token is never echoed


def test_a_good_identity_file_passes_and_reaches_the_console(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    import sys
    import types

    keys = key_files(tmp_path)
    seen: list[str | None] = []
    fake = types.ModuleType("vmss_tui.cli.console")
    fake.run_console = lambda settings, *, ssh_target=None, ssh_identity_file=None: seen.append(ssh_identity_file) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "vmss_tui.cli.console", fake)
    endpoint = ["--arm-endpoint", "http://127.0.0.1:9", "--subscription", "s"]
    assert cli.main(["-i", str(keys["private"]), *endpoint]) == 0
    assert cli.main(["ssh", "vmss-web", "vmss-flex_0a1b2c3d", "-g", "rg-web(prod)", *endpoint,
                     "--identity-file", str(keys["private"])]) == 0
    assert seen == [str(keys["private"])] * 2
    assert capsys.readouterr().err == ""


# ---------------------------------------------------------------- config file lines

# (id, file text, line of the problem, fragments the problem must contain)
CONFIG_CASES: list[tuple[str, str, int, list[str]]] = [
    ("key-return", '[keys]\n"instances.restart" = "Return"\n', 2,
     ["'Return' is not a key name (did you mean 'enter'?)", "for 'instances.restart'", "allowed:"]),
    ("key-shift-letter", '[keys]\n"instances.restart" = "shift+r"\n', 2, ["'shift+r' never arrives", "write 'R'"]),
    ("key-ctrl-capital", '[keys]\n\n"app.refresh" = "ctrl+R"\n', 3, ["'ctrl+R' never arrives", "'ctrl+r'"]),
    ("key-f25", '[keys]\n"app.help" = "f25"\n', 2, ["'f25' is not a key name"]),
    ("key-modifier", '[keys]\n"app.help" = "cmd+h"\n', 2, ["write 'super' for 'cmd'"]),
    ("key-empty-part", '[keys]\n"nav.down" = "j,,down"\n', 2, ["an empty key"]),
    ("key-esc", '[keys]\n"app.back" = ["esc", "q"]\n', 2, ["'esc' is not a key name (did you mean 'escape'?)"]),
    ("key-markup", '[keys]\n"app.help" = "[/x]"\n', 2, ["'[/x]' is not a key name"]),
    ("key-number", '[keys]\n"app.help" = 5\n', 2, ["must be a string such as"]),
    ("ssh-port", '[ssh]\nport = 0\n', 2, ["ssh.port must be 1-65535, not 0"]),
    ("ssh-user", '[ssh]\nuser = "bad user"\n', 2, ["ssh.user 'bad user' is not a user name"]),
    ("ssh-jump-markup", '[ssh]\njump_host = "[/x]"\n', 2, ["jump host '[/x]'", "not a host name"]),
    ("ssh-jump-port", '[ssh]\njump_host = "ops@bastion:99999"\n', 2, ["port must be 1-65535"]),
    ("ssh-jump-shape", '[ssh]\njump_host = "a@b@c"\n', 2, ["is not of the form user@host:port"]),
    ("ssh-timeout", '[ssh]\nconnect_timeout = -1\n', 2, ["ssh.connect_timeout must be a number of seconds"]),
    ("ssh-timeout-nan", '[ssh]\nprobe_timeout = nan\n', 2, ["ssh.probe_timeout must be a number", "nan"]),
    ("ssh-agent", '[ssh]\nuse_agent = "yes"\n', 2, ["ssh.use_agent must be true or false"]),
    ("ssh-typo", '[ssh]\nconect_timeout = 5\n', 2, ["unknown ssh setting 'conect_timeout'",
                                                    "did you mean 'connect_timeout'?"]),
    ("ssh-identity-control", '[ssh]\nidentity_file = "a\\u0007b"\n', 2, ["ssh.identity_file has control characters"]),
    ("refresh-zero", '[refresh]\ninstances = 0\n', 2, ["refresh.instances must be a number of seconds from 1 to 3600"]),
    ("refresh-unknown", '[refresh]\nnsg = 5\n', 2, ["unknown refresh setting 'nsg'"]),
    ("subscription-shape", 'subscription = "a/b"\n', 1, ["'a/b' is not a subscription id"]),
    ("theme-type", 'theme = 7\n', 1, ["theme must be a theme name"]),
    ("top-level-typo", 'subscripton = "x"\n', 1, ["unknown setting 'subscripton'", "did you mean 'subscription'?"]),
    ("toml-syntax", '[keys]\n"app.help" = "h"\nthis is not toml\n', 3, ["default settings"]),
]


@pytest.mark.parametrize(("text", "line", "fragments"), [c[1:] for c in CONFIG_CASES],
                         ids=[c[0] for c in CONFIG_CASES])
def test_a_bad_config_line_is_one_problem_naming_it(text: str, line: int, fragments: list[str],
                                                     tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    before = path.read_bytes()
    config = load_config(path)
    (problem,) = config.problems
    assert problem.startswith(f"{path} line {line}: "), problem
    assert "\n" not in problem
    for fragment in fragments:
        assert fragment in problem, problem
    assert path.read_bytes() == before


def test_what_a_bad_config_line_does_not_spoil_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('theme = "nord"\n[keys]\n"app.help" = "f1"\n"app.refresh" = "Return"\n'
                    '[ssh]\nuser = "ops"\njump_host = "[/x]"\nconnect_timeout = 4\n', encoding="utf-8")
    config = load_config(path)
    assert len(config.problems) == 2
    assert config.theme == "nord" and dict(config.keys) == {"app.help": "f1"}
    assert config.ssh.user == "ops" and config.ssh.jump_host is None
    assert dict(config.ssh.extra) == {"connect_timeout": 4}
    assert config.where["keys.app.help"] == f"{path} line 3"


def test_a_config_file_named_by_the_environment_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VMSS_TUI_CONFIG", str(tmp_path / "typo.toml"))
    (problem,) = load_config().problems
    assert problem == f"VMSS_TUI_CONFIG={tmp_path / 'typo.toml'} (environment): no such file; using the default settings"
    monkeypatch.setenv("VMSS_TUI_CONFIG", str(tmp_path))
    (problem,) = load_config().problems
    assert problem.startswith(f"VMSS_TUI_CONFIG={tmp_path} (environment): cannot be read (Is a directory)")


def test_a_key_bound_to_two_actions_of_one_pane_is_named(tmp_path: Path) -> None:
    from vmss_tui.ui.app import FleetScreen, VmssConsoleApp
    from vmss_tui.ui.panes.instances import InstanceTable

    path = tmp_path / "config.toml"
    path.write_text('[keys]\n"instances.restart" = "j"\n"instances.start" = "x"\n"instances.stop" = "x"\n'
                    '"app.refresh" = "f5"\n', encoding="utf-8")
    config = load_config(path)
    from vmss_tui.config import bindings_of

    owners = {"Instances": bindings_of([InstanceTable, FleetScreen, VmssConsoleApp])}
    problems = binding_clash_problems(config, owners)
    assert len(problems) == 2, problems
    text = "\n".join(problems)
    assert f"{path} line 2: key 'j' is bound to 'instances.restart' and 'nav.down' (in Instances)" in text
    assert f"{path} line 3, {path} line 4: key 'x' is bound to 'instances.start' and 'instances.stop'" in text
    assert binding_clash_problems(Config(), owners) == ()  # the program's own defaults are not the config's


def test_the_key_name_table_is_textuals() -> None:
    """config.py may not import Textual, so it keeps its own table of key names: it must be
    exactly the names the installed Textual reports."""
    from textual.keys import Keys, _character_to_key

    textual_named = {k.value for k in Keys if "+" not in k.value and not k.value.startswith("<")}
    textual_named -= {"return", "ctrl-at"}  # enum aliases Textual never reports as a key name
    textual_named |= {_character_to_key(c) for c in string.punctuation + " "}
    assert textual_named == set(NAMED_KEYS)
    for name in NAMED_KEYS:
        assert key_problem(name) is None and key_problem(f"ctrl+{name}") is None


# ---------------------------------------------------------------- simulator flags (vmss-tui sim)

SIM_CASES: list[tuple[str, list[str], list[str]]] = [
    ("port", ["--port", "70000"], ["--port '70000' is out of range"]),
    ("speed-nan", ["--speed", "nan"], ["--speed 'nan' is out of range", "finite"]),
    ("latency-negative", ["--latency", "-1"], ["--latency '-1' is out of range"]),
    ("throttle-zero", ["--throttle-after", "0"], ["--throttle-after '0' is out of range"]),
    ("instances-huge", ["--instances", "100000"], ["--instances '100000' is out of range", "1000"]),
    ("retry-alone", ["--retry-after", "5"], ["--retry-after needs --throttle-after"]),
]


@pytest.mark.parametrize(("argv", "fragments"), [c[1:] for c in SIM_CASES], ids=[c[0] for c in SIM_CASES])
def test_a_bad_simulator_flag_is_one_line(argv: list[str], fragments: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["sim", *argv])
    _, err = capsys.readouterr()
    line = err.strip()
    assert code == 2 and "\n" not in line and line.startswith("vmss-tui sim: "), err
    for fragment in fragments:
        assert fragment in line, line


# ---------------------------------------------------------------- hints name the real source


def test_an_unknown_subscription_from_the_config_file_names_its_line(
    threaded_simulator: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    config = tmp_path / "work.toml"
    config.write_text('theme = "nord"\nsubscription = "00000000-1111-2222-3333-444444444444"\n', encoding="utf-8")
    monkeypatch.setenv("VMSS_TUI_CONFIG", str(config))
    code = cli.main(["get", "scale-sets", "--arm-endpoint", threaded_simulator.endpoint])
    line = one_line(capsys.readouterr().err)
    assert code == 1 and "SubscriptionNotFound" in line
    assert f"check the subscription in {config} line 2" in line and "--subscription" not in line


def test_an_unknown_subscription_from_the_environment_names_the_variable(
    threaded_simulator: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-1111-2222-3333-444444444444")
    monkeypatch.setenv("VMSS_TUI_ARM_ENDPOINT", threaded_simulator.endpoint)
    code = cli.main(["get", "scale-sets"])
    line = one_line(capsys.readouterr().err)
    assert code == 1 and "check AZURE_SUBSCRIPTION_ID (environment)" in line


def test_an_unreachable_endpoint_from_the_environment_names_the_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VMSS_TUI_ARM_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    code = cli.main(["get", "scale-sets", "--subscription", "00000000-1111-2222-3333-444444444444"])
    line = one_line(capsys.readouterr().err)
    assert code == 1 and "Connection refused" in line
    assert "check VMSS_TUI_ARM_ENDPOINT (environment) and your network" in line


def test_a_missing_config_file_named_by_the_environment_is_a_warning_and_get_goes_on(
    threaded_simulator: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("VMSS_TUI_CONFIG", str(tmp_path / "typo.toml"))
    code = cli.main(["get", "scale-sets", "-o", "json", "--arm-endpoint", threaded_simulator.endpoint,
                     "--subscription", threaded_simulator.subscription_id])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("[")
    # --subscription was given, so the config file is not read at all: no warning either.
    assert err == ""
    code = cli.main(["get", "scale-sets", "-o", "json", "--arm-endpoint", threaded_simulator.endpoint])
    out, err = capsys.readouterr()
    assert code == 0 and out.startswith("[")
    assert err.strip() == f"vmss-tui: warning: VMSS_TUI_CONFIG={tmp_path / 'typo.toml'} (environment): no such file; using the default settings"


def test_parse_config_never_raises_on_odd_values(tmp_path: Path) -> None:
    for text in ('[ssh]\nport = "22"\n', "ssh = 5\n", "keys = []\n", '[keys]\n"a" = ["x", 1]\n',
                 'subscription = ""\n', '[ssh]\nknown_hosts = 5\n'):
        config = parse_config(text, tmp_path / "c.toml")
        assert len(config.problems) == 1, (text, config.problems)
