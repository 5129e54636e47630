"""Every command says what each option does and shows an example (``--help``)."""

from __future__ import annotations

import argparse

import pytest

from resonance.cli import build_parser


def commands(parser: argparse.ArgumentParser, prefix: str = "resonance"):
    """(name, parser) of every command and sub-command, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix} {name}", sub
                yield from commands(sub, f"{prefix} {name}")


ALL = list(commands(build_parser()))


def test_the_walk_finds_the_commands() -> None:
    names = {n for n, _ in ALL}
    assert {"resonance sink", "resonance broker", "resonance db migrate"} <= names
    assert len(ALL) > 30


@pytest.mark.parametrize("name,parser", ALL, ids=[n for n, _ in ALL])
def test_every_option_has_help(name: str, parser: argparse.ArgumentParser) -> None:
    missing = [
        "/".join(a.option_strings) or a.dest
        for a in parser._actions
        if not isinstance(a, argparse._SubParsersAction | argparse._HelpAction)
        and not (a.help and a.help.strip())
    ]
    assert missing == [], f"{name}: no help text for {missing}"


@pytest.mark.parametrize("name,parser", ALL, ids=[n for n, _ in ALL])
def test_every_command_has_an_example(name: str, parser: argparse.ArgumentParser) -> None:
    has_sub = any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
    epilog = parser.epilog or ""
    assert "example" in epilog.lower(), f"{name}: no examples in its --help epilog"
    assert name in epilog or (has_sub and "resonance" in epilog), (
        f"{name}: the examples do not show the command itself"
    )


def test_a_command_imports_only_its_own_module() -> None:
    """``resonance worker`` (started once per demo worker) skips the other commands' imports."""
    import subprocess
    import sys

    code = (
        "import sys; from resonance.cli import build_parser; p = build_parser('worker'); "
        "p.parse_args(['worker']); "
        "print(sorted(m for m in sys.modules if m.startswith('resonance.commands.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['resonance.commands.examples', 'resonance.commands.worker']"
