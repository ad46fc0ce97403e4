"""The README's promises: the config example it shows loads cleanly, and .ci/run runs exactly the
test command the README gives."""

from __future__ import annotations

import re
from pathlib import Path

from vmss_tui.config import load_config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_config_example_loads_without_problems(tmp_path: Path) -> None:
    block = re.search(r"```toml\n(.*?)```", README, re.S)
    assert block, "the README shows no config example"
    path = tmp_path / "config.toml"
    path.write_text(block.group(1), encoding="utf-8")
    config = load_config(path)
    assert config.problems == ()
    assert config.keys["instances.restart"] == "R"
    assert config.ssh.jump_host == "me@bastion.example.com:22"


def test_ci_runs_the_readme_test_command() -> None:
    try_it = README.split("## Try it", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.*?)\n```", try_it, re.S)
    assert len(commands) == 2, commands
    demo, tests = commands
    assert "vmss-tui --demo" in demo and demo.startswith("pip install ")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()
