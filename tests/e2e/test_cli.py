"""The real ``jobdeck`` console script, in subprocesses, on a SQLite file in tmp_path."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
JOBDECK = str(Path(sys.executable).parent / "jobdeck")
TEST_PLUGINS = REPO / "tests" / "fixtures" / "plugins"
DEADLINE = 30.0


class Cli:
    """Runs ``jobdeck`` against one database and plugins folder."""

    def __init__(self, tmp_path: Path, plugins_dir: Path = TEST_PLUGINS) -> None:
        self.cwd = tmp_path
        self.env = {
            **os.environ,
            "JOBDECK_DATABASE_URL": f"sqlite:///{tmp_path / 'jobdeck.db'}",
            "JOBDECK_PLUGINS_DIR": str(plugins_dir),
            "JOBDECK_POLL_SECONDS": "0.1",
            "NO_COLOR": "1",
        }
        self.env.pop("JOBDECK_ADMIN_TOKEN", None)
        self.processes: list[subprocess.Popen[str]] = []

    def __call__(
        self, *args: str, check: bool = True, timeout: float = DEADLINE
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [JOBDECK, *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"jobdeck {' '.join(args)} -> {done.returncode}\n{done.stderr}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """A long-running command; its output goes to files (a full pipe would block it)."""
        number = len(self.processes)
        with (
            (self.cwd / f"out-{number}.txt").open("w") as out,
            (self.cwd / f"err-{number}.txt").open("w") as err,
        ):
            process = subprocess.Popen(
                [JOBDECK, *args], cwd=self.cwd, env=self.env, stdout=out, stderr=err, text=True
            )
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[str], timeout: float = DEADLINE) -> tuple[int, str]:
        """SIGTERM, then the exit code and what it wrote on stderr."""
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=timeout)
        number = self.processes.index(process)
        return code, (self.cwd / f"err-{number}.txt").read_text()

    def enqueue(self, type_: str, payload: dict[str, Any] | None = None, *more: str) -> str:
        out = self("enqueue", type_, "--payload", json.dumps(payload or {}), *more).stdout
        return out.strip().splitlines()[-1]


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    yield runner
    for process in runner.processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


def wait_for(check: Callable[[], Any], what: str, deadline: float = DEADLINE) -> Any:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# --- queued jobs through a worker ------------------------------------------------


def test_enqueue_then_worker_runs_it_and_stops_gracefully(cli: Cli) -> None:
    job_id = cli.enqueue("test:steps", {"steps": 5, "sleep": 0.05}, "--priority", "high")
    assert len(job_id) == 36
    assert cli.json("jobs", "show", job_id)["status"] == "pending"

    worker = cli.start("worker", "--concurrency", "2")
    watched = cli("watch", job_id, timeout=DEADLINE)  # follows the change feed to the end
    assert watched.returncode == 0
    assert "completed" in watched.stdout

    shown = cli.json("jobs", "show", job_id)
    assert shown["status"] == "completed"
    assert shown["progress"] == 100
    assert shown["priority"] == "high"
    assert shown["result"] == {"steps": 5}
    assert shown["source"] == "cli"
    assert "step 5/5" in [e["message"] for e in shown["history"]]

    code, err = cli.stop(worker)
    assert code == 0, err


@pytest.mark.empty_database  # `migrate` makes the schema
def test_the_same_commands_on_every_backend(tmp_path: Path, database_url: str) -> None:
    """``database_url``: SQLite, and PostgreSQL when the server is there (tests/conftest.py)."""
    cli = Cli(tmp_path)
    cli.env["JOBDECK_DATABASE_URL"] = database_url
    try:
        assert "schema version" in cli("migrate").stdout
        job_id = cli.enqueue("test:steps", {"steps": 3, "sleep": 0.05})
        worker = cli.start("worker")
        assert cli("watch", job_id).returncode == 0
        assert cli.stop(worker)[0] == 0
        assert cli.json("jobs", "list", "--status", "completed")["total"] == 1
        time.sleep(0.05)
        assert cli("cleanup", "--days", "0").stdout.strip() == "Deleted 1 old jobs"
    finally:
        for process in cli.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stopping_worker_lets_its_running_job_finish(cli: Cli, signum: int) -> None:
    job_id = cli.enqueue("test:steps", {"steps": 8, "sleep": 0.4})  # runs ~3 s
    worker = cli.start("worker")
    wait_for(lambda: cli.json("jobs", "show", job_id)["status"] == "running", "the job to start")
    worker.send_signal(signum)
    assert worker.wait(timeout=DEADLINE) == 0
    shown = cli.json("jobs", "show", job_id)
    assert shown["status"] == "completed"
    assert shown["attempt"] == 1


def test_serve_without_worker_and_a_separate_worker(cli: Cli) -> None:
    server = cli.start("serve", "--no-worker", "--no-scheduler", "--port", str(free_port()))
    job_id = cli.enqueue("test:noop")
    time.sleep(1.0)
    assert cli.json("jobs", "show", job_id)["status"] == "pending"  # nobody runs it yet
    worker = cli.start("worker", "--concurrency", "1")
    assert cli("watch", job_id).returncode == 0
    assert cli.stop(worker)[0] == 0
    assert cli.stop(server)[0] == 0


def test_watch_exits_1_when_the_job_fails(cli: Cli) -> None:
    job_id = cli.enqueue("test:fail", {"error": "disk full"}, "--max-retries", "0")
    worker = cli.start("worker")
    watched = cli("watch", job_id, check=False)
    assert watched.returncode == 1
    assert "disk full" in watched.stdout
    assert cli.json("jobs", "show", job_id)["error_message"] == "disk full"
    assert cli.stop(worker)[0] == 0


def test_watch_of_a_finished_job_returns_at_once(cli: Cli) -> None:
    job_id = cli.enqueue("test:noop")
    cli("jobs", "cancel", job_id)
    watched = cli("watch", job_id, check=False)
    assert watched.returncode == 1
    assert "cancelled" in watched.stdout


# --- jobs list|show|cancel|retry|delete ------------------------------------------


def test_jobs_list_show_cancel_retry_delete(cli: Cli) -> None:
    first = cli.enqueue("test:noop", {"n": 1})
    second = cli.enqueue("test:record", {"n": 2}, "--delay", "3600")
    third = cli.enqueue("test:noop", {"n": 3}, "--priority", "urgent")

    listing = cli.json("jobs", "list")
    assert listing["total"] == 3
    assert [job["job_id"] for job in listing["jobs"]] == [third, second, first]

    page = cli.json("jobs", "list", "--limit", "1", "--offset", "1")
    assert page["total"] == 3 and [job["job_id"] for job in page["jobs"]] == [second]
    assert cli.json("jobs", "list", "--type", "test:record")["total"] == 1
    assert cli.json("jobs", "list", "--source", "cli")["total"] == 3
    assert cli.json("jobs", "list", "--source", "nobody")["total"] == 0

    table = cli("jobs", "list").stdout
    for job_id in (first, second, third):
        assert job_id in table
    assert "Showing 1-3 of 3 jobs." in table

    detail = cli("jobs", "show", second).stdout
    for text in (second, "test:record", "pending", "payload", "history", "created"):
        assert text in detail

    assert "status: cancelled" in cli("jobs", "cancel", first).stdout
    assert cli.json("jobs", "list", "--status", "cancelled")["total"] == 1
    assert cli.json("jobs", "list", "--status", "cancelled,pending")["total"] == 3
    assert "status: pending" in cli("jobs", "retry", first).stdout
    cli("jobs", "cancel", first)
    assert f"Deleted job {first}" in cli("jobs", "delete", first).stdout
    assert cli.json("jobs", "list")["total"] == 2

    gone = cli("jobs", "show", first, check=False)
    assert gone.returncode == 1
    assert first in one_error_line(gone.stderr)

    busy = cli("jobs", "delete", third, check=False)  # pending: not deletable
    assert busy.returncode == 1
    one_error_line(busy.stderr)

    again = cli("jobs", "retry", third, check=False)  # pending: nothing to retry
    assert again.returncode == 1
    one_error_line(again.stderr)


def test_cleanup_deletes_finished_jobs(cli: Cli) -> None:
    kept = cli.enqueue("test:noop")
    for _ in range(2):
        cli("jobs", "cancel", cli.enqueue("test:noop"))
    assert cli("cleanup", "--days", "30").stdout.strip() == "Deleted 0 old jobs"
    time.sleep(0.05)  # completed_at must be strictly before "0 days ago"
    assert cli("cleanup", "--days", "0").stdout.strip() == "Deleted 2 old jobs"
    assert [job["job_id"] for job in cli.json("jobs", "list")["jobs"]] == [kept]


def test_migrate_reports_the_schema_version(cli: Cli) -> None:
    out = cli("migrate").stdout
    assert "schema version" in out
    assert cli("migrate").stdout == out  # idempotent


def test_database_url_option_on_group_and_command(cli: Cli, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    cli.enqueue("test:noop", None, "--database-url", other)
    assert cli.json("--database-url", other, "jobs", "list")["total"] == 1
    assert cli.json("jobs", "list", "--database-url", other)["total"] == 1
    assert cli.json("jobs", "list")["total"] == 0


# --- errors --------------------------------------------------------------------------


def test_unknown_job_type_is_a_clear_error(cli: Cli) -> None:
    done = cli("enqueue", "no:such:type", check=False)
    assert done.returncode == 1
    assert "no:such:type" in one_error_line(done.stderr)
    assert cli.json("jobs", "list")["total"] == 0


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["enqueue", "test:noop", "--payload", "{not json"], "--payload"),
        (["enqueue", "test:noop", "--payload", "[1, 2]"], "--payload"),
        (["enqueue", "test:noop", "--priority", "asap"], "--priority"),
        (["enqueue", "test:noop", "--delay", "-1"], "--delay"),
        (["jobs", "list", "--limit", "0"], "--limit"),
        (["jobs", "list", "--status", "sleeping"], "--status"),
        (["cleanup", "--days", "many"], "--days"),
        (["worker", "--concurrency", "0"], "--concurrency"),
    ],
)
def test_usage_errors_name_the_option(cli: Cli, args: list[str], option: str) -> None:
    done = cli(*args, check=False)
    assert done.returncode == 2
    assert option in done.stderr
    assert "Traceback" not in done.stderr


def test_runtime_error_is_one_line_and_debug_shows_the_traceback(cli: Cli) -> None:
    done = cli("--database-url", "mysql://nope", "jobs", "list", check=False)
    assert done.returncode == 1
    assert "unsupported database URL" in one_error_line(done.stderr)
    debug = cli("--debug", "--database-url", "mysql://nope", "jobs", "list", check=False)
    assert debug.returncode != 0
    assert "Traceback" in debug.stderr


def test_serve_on_a_busy_port_fails_cleanly(cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = cli("serve", "--port", str(port), check=False)
    assert done.returncode == 1
    assert "could not start" in done.stderr
    assert "Traceback" not in done.stderr


# --- plugins ---------------------------------------------------------------------------


def write_plugins(folder: Path, plugins: dict[str, str]) -> Path:
    for relative, source in plugins.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    return folder


PLUGINS = {
    "good.py": """
        from jobdeck import BaseJobHandler

        class Hello(BaseJobHandler):
            async def execute(self):
                return {"hello": self.job.payload.get("name")}

        def setup(hooks):
            hooks.register_job_type("plugin:good:hello", Hello)
    """,
    "broken.py": """
        def setup(hooks):
            raise RuntimeError("this plugin is broken on purpose")
    """,
    "later/__init__.py": """
        import asyncio

        from .handler import Later

        async def setup(hooks):
            await asyncio.sleep(0)
            hooks.register_job_type("plugin:later:run", Later)

            async def init():
                job = await hooks.create_job(name="Warm-up", type="warmup")
                await job.start()
                await job.update_progress(50, {"step": "half"})
                await job.complete({"warm": True})
                await hooks.schedule_job("plugin:later:run", {"from": "init"})

            hooks.add_action("init", init)
    """,
    "later/handler.py": """
        from jobdeck import BaseJobHandler

        class Later(BaseJobHandler):
            def execute(self):  # a sync handler
                return dict(self.job.payload)
    """,
}


def test_plugins_load_and_a_broken_one_is_skipped_with_its_traceback(
    cli: Cli, tmp_path: Path
) -> None:
    cli.env["JOBDECK_PLUGINS_DIR"] = str(write_plugins(tmp_path / "plugins", PLUGINS))
    done = cli("enqueue", "plugin:good:hello", "--payload", '{"name": "Ada"}')
    assert "Traceback" in done.stderr
    assert "this plugin is broken on purpose" in done.stderr
    assert "broken" in done.stderr
    job_id = done.stdout.strip()
    cli("enqueue", "plugin:later:run")  # registered by an async setup
    worker = cli.start("worker")
    assert cli("watch", job_id).returncode == 0
    assert cli.json("jobs", "show", job_id)["result"] == {"hello": "Ada"}
    assert cli.stop(worker)[0] == 0


def test_serve_runs_init_actions_and_plugin_jobs_get_the_plugin_name(
    cli: Cli, tmp_path: Path
) -> None:
    cli.env["JOBDECK_PLUGINS_DIR"] = str(write_plugins(tmp_path / "plugins", PLUGINS))
    server = cli.start("serve", "--port", str(free_port()))

    def finished() -> list[dict[str, Any]] | None:
        jobs = cli.json("jobs", "list", "--source", "later")["jobs"]
        done = [job for job in jobs if job["status"] == "completed"]
        return jobs if len(jobs) == 2 and len(done) == 2 else None

    jobs = wait_for(finished, "the init action's jobs")
    by_type = {job["type"]: job for job in jobs}
    assert by_type["warmup"]["mode"] == "tracked"
    assert by_type["warmup"]["metadata"] == {"step": "half"}
    assert by_type["plugin:later:run"]["result"] == {"from": "init"}
    code, err = cli.stop(server)
    assert code == 0, err
    assert "this plugin is broken on purpose" in err


def test_the_example_plugin_loads_and_its_jobs_finish(cli: Cli) -> None:
    cli.env["JOBDECK_PLUGINS_DIR"] = str(REPO / "plugins")
    server = cli.start("serve", "--port", str(free_port()))

    def finished() -> dict[str, str] | None:
        jobs = cli.json("jobs", "list", "--source", "example_job_plugin")["jobs"]
        statuses = {job["name"]: job["status"] for job in jobs}
        if len(jobs) == 3 and all(s in ("completed", "failed") for s in statuses.values()):
            return statuses
        return None

    statuses = wait_for(finished, "the example plugin's jobs")
    assert statuses == {
        "Backup Database": "completed",
        "Sync Remote Data": "failed",
        "plugin:example_job_plugin:import": "completed",
    }
    backup = next(
        job
        for job in cli.json("jobs", "list", "--source", "example_job_plugin")["jobs"]
        if job["name"] == "Backup Database"
    )
    assert backup["icon_svg"].startswith("<svg")
    assert backup["metadata"]["currentTable"] == "table_100"
    code, err = cli.stop(server)
    assert code == 0, err
