"""The config file: where it lives, what it holds, and one clear line per problem."""

from __future__ import annotations

from pathlib import Path

from vmss_tui.config import (
    Config,
    RefreshSettings,
    default_config_path,
    load_config,
    parse_config,
    unknown_binding_problems,
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_path_honours_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert default_config_path() == tmp_path / "vmss-tui" / "config.toml"


def test_missing_file_gives_defaults_without_problems(tmp_path):
    config = load_config(tmp_path / "absent.toml")
    assert config == Config()
    assert config.refresh == RefreshSettings()


def test_a_full_file_is_read(tmp_path):
    path = write(tmp_path, """
subscription = "1111-2222"
theme = "nord"

[keys]
"instances.restart" = "R"
"nav.down" = ["n", "down"]

[refresh]
instances = 3
scale_sets = 45.5
nat = 60

[ssh]
user = "ops"
port = 2222
identity_file = "~/.ssh/id_ed25519"
jump_host = "bastion.example.com"
connect_timeout = 5
""")
    config = load_config(path)
    assert config.problems == ()
    assert config.subscription == "1111-2222" and config.theme == "nord"
    assert dict(config.keys) == {"instances.restart": "R", "nav.down": "n,down"}
    assert config.refresh == RefreshSettings(instances=3.0, scale_sets=45.5, nat=60.0)
    assert (config.ssh.user, config.ssh.port, config.ssh.jump_host) == ("ops", 2222, "bastion.example.com")
    assert config.ssh.identity_file == "~/.ssh/id_ed25519"
    assert dict(config.ssh.extra) == {"connect_timeout": 5}
    assert config.path == path


def test_malformed_toml_names_the_line_and_falls_back_to_defaults(tmp_path):
    path = write(tmp_path, '[keys]\n"app.help" = "h"\nthis is not toml\n')
    config = load_config(path)
    assert config.keys == {} and config.refresh == RefreshSettings()
    (problem,) = config.problems
    assert f"{path} line 3:" in problem
    assert "default settings" in problem


def test_unterminated_string_at_the_end_is_reported(tmp_path):
    config = parse_config('theme = "nord', Path("c.toml"))
    (problem,) = config.problems
    assert problem.startswith("c.toml line 1:") or "end of the file" in problem


def test_bad_values_are_named_with_their_line_and_the_rest_is_kept(tmp_path):
    path = write(tmp_path, """
theme = 7
[refresh]
instances = "fast"
scale_sets = 0.1
nat = 20
colour = 1
[keys]
"app.help" = ""
"app.filter" = "not a key"
"app.command" = "ctrl+k"
[ssh]
port = 70000
user = "ops"
""")
    config = load_config(path)
    text = "\n".join(config.problems)
    assert f"{path} line 2: theme must be" in text
    assert f"{path} line 4: refresh.instances must be a number of seconds" in text and "'fast'" in text
    assert f"{path} line 5: refresh.scale_sets" in text
    assert f"{path} line 7: unknown refresh setting 'colour'" in text
    assert f"{path} line 9:" in text and "'app.help'" in text
    assert f"{path} line 10: 'not a key' is not a key name" in text
    assert f"{path} line 13: ssh.port must be 1-65535" in text
    # what was good is used
    assert config.refresh.nat == 20.0 and config.refresh.instances == RefreshSettings().instances
    assert dict(config.keys) == {"app.command": "ctrl+k"}
    assert config.ssh.user == "ops" and config.ssh.port == 22
    assert len(config.problems) == 7


def test_unknown_top_level_setting(tmp_path):
    config = load_config(write(tmp_path, 'subscripton = "x"\n'))
    (problem,) = config.problems
    assert "line 1: unknown setting 'subscripton'" in problem


def test_unknown_binding_ids_are_dropped_with_a_suggestion(tmp_path):
    path = write(tmp_path, '[keys]\n"instances.restrat" = "R"\n"app.help" = "f1"\n')
    config, problems = unknown_binding_problems(load_config(path), {"instances.restart", "app.help"})
    assert dict(config.keys) == {"app.help": "f1"}
    (problem,) = problems
    assert f"{path} line 2: unknown binding id 'instances.restrat'" in problem
    assert "did you mean 'instances.restart'" in problem


def test_not_utf8(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b'theme = "ok"\n\xff\xfe\n')
    (problem,) = load_config(path).problems
    assert "line 2: not valid UTF-8" in problem
