"""The command line's lazy commands (jobdeck.cli.COMMANDS): ``jobdeck --help`` lists
every command with its own short help without importing it, and each name leads to
its command. What a start-up imports: tests/unit/test_lazy_imports.py."""

from __future__ import annotations

import importlib

import click
import pytest
from click.testing import CliRunner

from jobdeck.cli import COMMANDS, main


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_listed_help_is_the_commands_own(name: str) -> None:
    module, attribute, listed = COMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert command.help is not None
    # click's short help is made from the first paragraph.
    assert listed == " ".join(command.help.partition("\n\n")[0].split())


def test_help_lists_every_command_with_its_short_help() -> None:
    ctx = click.Context(main, info_name="jobdeck", terminal_width=80)
    expected = click.Group(
        commands={name: main.get_command(ctx, name) for name in COMMANDS}  # imports them
    )
    formatter = ctx.make_formatter()
    expected.format_commands(ctx, formatter)
    listing = formatter.getvalue()

    result = CliRunner().invoke(main, ["--help"], terminal_width=80)

    assert result.exit_code == 0, result.output
    assert listing.startswith("Commands:\n")
    assert result.output.endswith(listing)
    for name in COMMANDS:
        assert f"\n  {name} " in listing


def test_every_command_runs_by_its_name() -> None:
    for name in COMMANDS:
        result = CliRunner().invoke(main, [name, "--help"], prog_name="jobdeck")
        assert result.exit_code == 0, (name, result.output)
        assert result.output.startswith(f"Usage: jobdeck {name} ")


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["nope"])
    assert result.exit_code == 2
    assert "No such command 'nope'" in result.output
