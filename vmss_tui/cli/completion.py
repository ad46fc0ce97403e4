"""`vmss-tui completion bash|zsh`: a shell completion script, made from the parser itself.

shtab writes a static script once (sub-commands, flags, choices such as `get` kinds and output
formats, file names for the path flags), and the shell completes from it without starting
Python. argcomplete, the other way, would run `vmss-tui` on every Tab press and must hook the
entry point of every start (`vmss-tui get` too) before argument parsing; so shtab, which
nothing imports but this sub-command.

    bash:  eval "$(vmss-tui completion bash)"   (in ~/.bashrc)
    zsh:   vmss-tui completion zsh > "${fpath[1]}/_vmss-tui"   (then: autoload -U compinit && compinit)
"""

from __future__ import annotations

import argparse
import sys

PROG = "vmss-tui"
SHELLS = ("bash", "zsh")
# Flags that take a path: the shell completes file names for them.
PATH_FLAGS = frozenset({"--identity-file", "--log-file"})


def configure_completion_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("shell", choices=SHELLS, help="the shell to complete for")


def completion_parser() -> argparse.ArgumentParser:
    """The entry point's parser, with what a static script needs to know that the entry point
    leaves to others: `sim`'s own flags (it parses them itself) and which flags take a path."""
    import shtab

    from vmss_tui.cli.entry import build_parser
    from vmss_tui.sim.cli import build_parser as build_sim_parser

    parser = build_parser()
    for commands in _subcommand_actions(parser):
        if "sim" in commands.choices:
            sim = build_sim_parser()
            sim.prog = f"{PROG} sim"
            commands.choices["sim"] = sim
    for each in _all_parsers(parser):
        for action in each._actions:  # noqa: SLF001 - argparse has no public list of a parser's actions
            if PATH_FLAGS & set(action.option_strings):
                action.complete = shtab.FILE  # type: ignore[attr-defined]
    return parser


def completion_script(shell: str) -> str:
    import shtab

    return str(shtab.complete(completion_parser(), shell=shell))


def run_completion(args: argparse.Namespace) -> int:
    try:
        script = completion_script(args.shell)
    except ImportError as error:
        print(f"{PROG}: completion needs shtab ({error.name or error}): pip install shtab", file=sys.stderr)
        return 1
    sys.stdout.write(script)
    return 0


def _subcommand_actions(parser: argparse.ArgumentParser) -> list[argparse._SubParsersAction]:  # noqa: SLF001
    return [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for commands in _subcommand_actions(parser):
        for child in dict.fromkeys(commands.choices.values()):
            found.extend(_all_parsers(child))
    return found
