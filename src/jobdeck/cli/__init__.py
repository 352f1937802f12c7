"""The ``jobdeck`` command line (README.md).

Runtime errors end as one line on stderr and exit code 1 (the traceback only with
``--debug``); usage errors are click's (they name the bad option, exit code 2).
"""

from __future__ import annotations

import importlib
from typing import Any

import click

from jobdeck.cli.common import debug_enabled, global_options
from jobdeck.errors import JobdeckError

# Each command: its module, its name there, and the first paragraph of its help (what
# `jobdeck --help` lists). A command's module is imported only when that command runs,
# so that `jobdeck worker` does not import the cron, watch and rich output machinery of
# the other commands, nor `jobdeck --help` any of them (docs/internals.md, "Imports
# that wait until used"). tests/e2e/test_cli_lazy.py checks the help against each
# command's own.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "backup": (
        "jobdeck.cli.admin",
        "backup",
        "Write a consistent copy of the SQLite store to PATH while it is in use.",
    ),
    "cleanup": (
        "jobdeck.cli.admin",
        "cleanup",
        "Delete finished jobs (completed, failed, cancelled) older than --days, with their"
        " history.",
    ),
    "cron": ("jobdeck.cli.cron", "cron", "List, add, inspect, pause and run cron schedules."),
    "enqueue": (
        "jobdeck.cli.enqueue",
        "enqueue",
        "Schedule a job of a registered TYPE and print its id.",
    ),
    "jobs": ("jobdeck.cli.jobs", "jobs", "List, inspect and change jobs."),
    "migrate": (
        "jobdeck.cli.admin",
        "migrate",
        "Create or upgrade the database schema (every command also does it when needed).",
    ),
    "scheduler": (
        "jobdeck.cli.scheduler",
        "scheduler",
        "Fire cron schedules as queued jobs, until SIGTERM/SIGINT (run workers beside it).",
    ),
    "serve": (
        "jobdeck.cli.serve",
        "serve",
        "Run the HTTP API, a worker, the cron scheduler and the maintenance loop until stopped.",
    ),
    "token": ("jobdeck.cli.token", "token", "Create, list and revoke API tokens."),
    "watch": (
        "jobdeck.cli.watch",
        "watch",
        "Show a job's live progress until it ends; exit 0 when it completed, 1 otherwise.",
    ),
    "worker": (
        "jobdeck.cli.worker",
        "worker",
        "Run queued jobs with the handlers the plugins register, until SIGTERM/SIGINT.",
    ),
}


class JobdeckGroup(click.Group):
    """The command line's group: commands from COMMANDS, imported when they run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, name, _ = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), name)
        self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # click's own listing, of stand-ins that carry each command's help from
        # COMMANDS: listing a command does not import it.
        stand_ins = {name: click.Command(name, help=entry[2]) for name, entry in COMMANDS.items()}
        click.Group(commands={**stand_ins, **self.commands}).format_commands(ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except JobdeckError as exc:
            if debug_enabled(ctx):
                raise
            raise click.ClickException(exc.message) from None
        except Exception as exc:
            if debug_enabled(ctx):
                raise
            raise click.ClickException(f"{type(exc).__name__}: {exc}") from None


@click.group(cls=JobdeckGroup, context_settings={"help_option_names": ["-h", "--help"]})
@global_options
@click.version_option(package_name="jobdeck")
def main() -> None:
    """jobdeck: durable background jobs with live progress."""


__all__ = ["COMMANDS", "main"]
