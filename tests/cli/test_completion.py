"""`vmss-tui completion bash|zsh`: the script, loaded into a real bash and a real interactive zsh,
completes sub-commands, flags (`sim`'s own too), choices and file names; and `vmss-tui get`
still imports nothing of completion."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vmss_tui.cli.completion import completion_script, run_completion

pytest.importorskip("shtab", reason="shtab is not installed (pip install shtab)")

WAIT = 30.0


def bash_complete(script: Path, *words: str, cwd: Path | None = None) -> list[str]:
    """What bash offers for `vmss-tui WORDS...` (the last word being completed), through the
    completion function the script registers, as bash would call it on Tab."""
    program = f"""
source {script}
function=$(complete -p vmss-tui | sed -E 's/.* -F ([^ ]+) .*/\\1/')
COMP_WORDS=(vmss-tui {" ".join(f"'{w}'" for w in words)})
COMP_CWORD={len(words)}
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
"$function" vmss-tui "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                          timeout=WAIT, cwd=cwd)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture
def bash_script(tmp_path: Path) -> Path:
    if shutil.which("bash") is None:
        pytest.skip("no bash here")
    path = tmp_path / "vmss-tui.bash"
    path.write_text(completion_script("bash"))
    return path


def test_bash_completes_commands_flags_choices_and_files(bash_script: Path, tmp_path: Path) -> None:
    assert {"get", "ssh", "sim"} <= set(bash_complete(bash_script, ""))
    assert bash_complete(bash_script, "g") == ["get"]
    assert "--read-only" in bash_complete(bash_script, "--re")
    from vmss_tui.cli.get import GET_KINDS

    assert set(bash_complete(bash_script, "get", "")) >= set(GET_KINDS)
    assert sorted(bash_complete(bash_script, "get", "scale-sets", "-o", "")) == ["json", "table"]
    # `sim` parses its own flags; the script knows them all the same
    assert bash_complete(bash_script, "sim", "--topo") == ["--topology"]
    from vmss_tui.sim.cli import build_parser as sim_parser

    topologies = next(a.choices for a in sim_parser()._actions if "--topology" in a.option_strings)  # noqa: SLF001
    assert sorted(bash_complete(bash_script, "sim", "--topology", "")) == sorted(topologies)
    # a path flag completes file names
    (tmp_path / "id_demo_key").write_text("not a key")
    assert "id_demo_key" in bash_complete(bash_script, "--identity-file", "id_", cwd=tmp_path)


def test_zsh_completes_in_an_interactive_shell(tmp_path: Path) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("no zsh here (Debian: apt-get install zsh; .ci/run installs it where apt works)")
    functions = tmp_path / "functions"
    functions.mkdir()
    (functions / "_vmss-tui").write_text(completion_script("zsh"))
    (tmp_path / "vmss-tui").write_text("#!/bin/sh\n")  # a command of that name for zsh to complete
    (tmp_path / "vmss-tui").chmod(0o755)
    assert {"get", "ssh", "sim"} <= set(zsh_complete(tmp_path, functions, "vmss-tui "))
    assert "--read-only" in zsh_complete(tmp_path, functions, "vmss-tui --re")
    assert {"json", "table"} <= set(zsh_complete(tmp_path, functions, "vmss-tui get scale-sets -o "))
    assert "--topology" in zsh_complete(tmp_path, functions, "vmss-tui sim --top")


def zsh_complete(home: Path, functions: Path, line: str) -> list[str]:
    """Type `line` and Tab into an interactive zsh (in a pseudo-terminal, as a person would) whose
    completion system loads the script from `fpath`; every candidate the completion adds is
    written to a file as well (a `compadd` wrapper), which is what this returns once the completion
    system says it is done (`comppostfuncs`)."""
    import pty

    found = home / f"found-{time.monotonic_ns()}"
    setup = (
        f"fpath=({functions} $fpath); path=({home} $path); autoload -U compinit; compinit -u -D; "
        "compadd() { local -a __found; builtin compadd -O __found \"$@\"; "
        f"(( $#__found )) && print -rl -- $__found >> {found}; builtin compadd \"$@\" }}; "
        f"vmss_done() {{ print -r -- done > {found}.done }}; comppostfuncs=(vmss_done); "
        "bindkey '^I' complete-word; "
        f"print -r -- ready > {found}.ready\n"
    )
    leader, follower = pty.openpty()
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "TERM": "xterm", "ZDOTDIR": str(home)}
    shell = subprocess.Popen(["zsh", "-f", "-i"], stdin=follower, stdout=follower, stderr=follower, env=env,
                             cwd=home, start_new_session=True)
    os.close(follower)
    try:
        os.write(leader, setup.encode())
        wait_for_file(Path(f"{found}.ready"), leader)
        os.write(leader, line.encode() + b"\t")
        wait_for_file(Path(f"{found}.done"), leader)  # the completion system has finished
        return found.read_text().split() if found.exists() else []
    finally:
        shell.kill()
        shell.wait()
        os.close(leader)


def wait_for_file(path: Path, leader: int) -> None:
    """Until `path` has content, reading the shell's output meanwhile (so it never blocks on a full pty)."""
    import select

    deadline = time.monotonic() + WAIT
    while not (path.exists() and path.stat().st_size):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for zsh to write {path.name}")
        ready, _, _ = select.select([leader], [], [], 0.05)
        if ready:
            try:
                os.read(leader, 65536)
            except OSError:
                pass


def test_an_unknown_shell_is_one_line_and_exit_2() -> None:
    done = subprocess.run([sys.executable, "-m", "vmss_tui", "completion", "fish"], capture_output=True, text=True,
                          timeout=WAIT)
    if "invalid choice: 'completion'" in done.stderr:
        pytest.skip("this vmss-tui has no `completion` sub-command in its entry point yet")
    assert done.returncode == 2
    assert done.stdout == ""
    line = done.stderr.strip()
    assert "\n" not in line and "fish" in line and "bash" in line and "zsh" in line, line


def test_the_script_is_printed_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    assert run_completion(argparse.Namespace(shell="zsh")) == 0
    out = capsys.readouterr().out
    assert out.startswith("#compdef vmss-tui")
    assert "--all-subscriptions" in out or "--read-only" in out


def test_get_imports_nothing_of_completion() -> None:
    """The reason for shtab: a static script, nothing hooked into the start of every command."""
    probe = ("import sys\nfrom vmss_tui.cli.entry import main\ncode = main(['get', '--help'])\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in ('shtab', 'argcomplete')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=WAIT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
