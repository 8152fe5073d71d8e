"""Every command and subcommand answers -h and --help."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from localeval.cli import cli


def _paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            found += _paths(cmd, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _paths(cli)


def test_expected_commands_attached() -> None:
    assert {
        "recipes",
        "hw",
        "serve",
        "cost",
        "plan",
        "bench",
        "report",
        "eval",
        "run",
        "doctor",
    } <= set(cli.commands)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "localeval")
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(path: tuple[str, ...], flag: str) -> None:
    result = CliRunner().invoke(cli, [*path, flag], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ")
