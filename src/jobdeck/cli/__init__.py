"""The ``jobdeck`` command line (README.md).

Runtime errors end as one line on stderr and exit code 1 (the traceback only with
``--debug``); usage errors are click's (they name the bad option, exit code 2).
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

import click

from jobdeck.cli.admin import backup, cleanup, migrate
from jobdeck.cli.common import debug_enabled, global_options
from jobdeck.cli.cron import cron
from jobdeck.cli.enqueue import enqueue
from jobdeck.cli.jobs import jobs
from jobdeck.cli.scheduler import scheduler
from jobdeck.cli.serve import serve
from jobdeck.cli.watch import watch
from jobdeck.cli.worker import worker
from jobdeck.errors import JobdeckError

logger = logging.getLogger("jobdeck.cli")


class JobdeckGroup(click.Group):
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


for command in (serve, worker, scheduler, enqueue, jobs, cron, watch, cleanup, migrate, backup):
    main.add_command(command)


def _add_optional(module: str, name: str) -> None:
    # Command groups other parts of jobdeck provide (tokens: the API); absent until
    # they exist, and never a reason for the whole CLI to fail.
    try:
        group = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            logger.warning("jobdeck %s is unavailable: %s", name, exc)
        return
    except Exception as exc:
        logger.warning("jobdeck %s is unavailable: %s", name, exc)
        return
    main.add_command(group)


_add_optional("jobdeck.cli.token", "token")

__all__ = ["main"]
