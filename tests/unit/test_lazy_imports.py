"""Start-up imports: what waits until used (docs/internals.md, "Imports that wait until
used") is not imported by a worker's start-up, nor by ``jobdeck --help``, in a fresh
interpreter."""

import json
import subprocess
import sys
from pathlib import Path

TEST_PLUGINS = Path(__file__).resolve().parents[1] / "fixtures" / "plugins"

# Each waits for its first use: an HTTP job (webhook, api_call), a database_query job's
# query database (on a SQLite deck), an email template, a schedule's description, and
# the first api_call job a worker runs (the API application, jobdeck.cli.running); a
# schedule parsed (croniter, dateutil: jobdeck.cron_inputs.parse) or the scheduler
# run (deck.run_scheduler); an email job (smtplib, the mailer); the other commands of
# the command line (jobdeck.cli.COMMANDS), and with them rich.
CLI_COMMANDS = (
    "jobdeck.cli.admin",
    "jobdeck.cli.cron",
    "jobdeck.cli.cron_output",
    "jobdeck.cli.enqueue",
    "jobdeck.cli.jobs",
    "jobdeck.cli.output",
    "jobdeck.cli.scheduler",
    "jobdeck.cli.token",
    "jobdeck.cli.watch",
)
WAITING = (
    "httpx",
    "psycopg",
    "jinja2",
    "cron_descriptor",
    "fastapi",
    "jobdeck.api",
    "croniter",
    "dateutil",
    "jobdeck.domain.cron",
    "jobdeck.runtime.scheduler",
    "smtplib",
    "jobdeck.handlers.builtin.mailer",
    "rich",
    *CLI_COMMANDS,
)

START_UP = """
import asyncio, json, sys
import jobdeck, jobdeck.cli, jobdeck.cli.worker, jobdeck.cli.serve, jobdeck.tokens
from jobdeck import JobDeck
from jobdeck.cli.common import open_deck
from jobdeck.cli.running import serve_api_calls
from jobdeck.config import Settings
from jobdeck.handlers.builtin import register_builtins
from jobdeck.handlers.registry import Registry

database, plugins, waiting = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])


def imported():
    return sorted(
        name
        for name in sys.modules
        if any(name == w or name.startswith(w + ".") for w in waiting)
    )


deck = JobDeck("sqlite:///:memory:")
assert "webhook" in deck.job_types() and "api_call" in deck.job_types()
register_builtins(Registry())
found = {"imports": imported()}


async def worker_start() -> None:
    # What `jobdeck worker` does before it runs jobs (cli/worker.py).
    settings = Settings.from_env(database_url=database, plugins_dir=plugins)
    async with open_deck(settings, plugins=True) as (deck, manager):
        serve_api_calls(deck, manager)
        assert "test:record" in deck.job_types()
        found["worker start-up"] = imported()


asyncio.run(worker_start())
print(json.dumps(found))
"""


def test_start_up_imports_nothing_that_waits_until_used(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            START_UP,
            f"sqlite:///{tmp_path / 'jobdeck.db'}",
            str(TEST_PLUGINS),
            json.dumps(WAITING),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"imports": [], "worker start-up": []}


HELP = """
import contextlib, json, sys
from jobdeck.cli import main

waiting = json.loads(sys.argv[1])
with contextlib.redirect_stdout(sys.stderr), contextlib.suppress(SystemExit):
    main(["--help"])
print(json.dumps(sorted(
    name for name in sys.modules if any(name == w or name.startswith(w + ".") for w in waiting)
)))
"""


def test_help_imports_no_command() -> None:
    """`jobdeck --help` lists the commands from jobdeck.cli.COMMANDS (what it lists:
    tests/e2e/test_cli_lazy.py) without importing them, nor what they need."""
    waiting = (*WAITING, "jobdeck.cli.worker", "jobdeck.cli.serve", "jobdeck.cli.running")
    done = subprocess.run(
        [sys.executable, "-c", HELP, json.dumps(waiting)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "worker" in done.stderr  # the help, listing the commands
    assert json.loads(done.stdout) == []
