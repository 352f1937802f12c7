"""``jobdeck cron …`` and ``jobdeck scheduler``: the real console script, in subprocesses,
on a SQLite file in tmp_path (and on PostgreSQL where a test takes ``database_url``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cli import Cli, free_port, one_error_line, wait_for, write_plugins

EVERY_SECOND = "* * * * * *"
NEVER_SOON = "0 0 1 1 *"  # once a year: nothing fires during a test


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    runner = Cli(tmp_path)
    yield runner
    for process in runner.processes:
        if process.poll() is None:
            process.kill()
            process.communicate()


def add(cli: Cli, name: str, *more: str, expression: str = NEVER_SOON) -> dict[str, Any]:
    created: dict[str, Any] = cli.json(
        "cron", "add", "--name", name, "--cron", expression, "--type", "test:noop", *more
    )
    return created


def executions(cli: Cli, ref: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cli.json("cron", "history", ref)["executions"]
    return found


def successes(cli: Cli, ref: str, count: int) -> list[dict[str, Any]] | None:
    done = [e for e in executions(cli, ref) if e["status"] == "success"]
    return done if len(done) >= count else None


# --- help ---------------------------------------------------------------------------

SUBCOMMANDS = ("list", "add", "show", "pause", "resume", "run", "delete", "history")


def test_help_lists_scheduler_and_cron_and_every_subcommand(cli: Cli) -> None:
    listing = cli("--help").stdout
    assert "scheduler" in listing and "cron" in listing
    cron_help = cli("cron", "--help").stdout
    for sub in SUBCOMMANDS:
        assert f"  {sub} " in cron_help, sub
        help_text = cli("cron", sub, "--help").stdout
        assert "--database-url" in help_text and "--debug" in help_text, sub
    scheduler_help = cli("scheduler", "--help").stdout
    assert "--database-url" in scheduler_help and "SIGTERM" in scheduler_help
    assert "--no-scheduler" in cli("serve", "--help").stdout


# --- definitions ----------------------------------------------------------------------


def test_add_list_show_on_every_backend(tmp_path: Path, database_url: str) -> None:
    """``database_url``: SQLite, and PostgreSQL when the server is there (tests/conftest.py)."""
    cli = Cli(tmp_path)
    cli.env["JOBDECK_DATABASE_URL"] = database_url
    created = add(
        cli,
        "nightly report",
        "--config", '{"report": "sales", "days": 7}',
        "--timezone", "Europe/Berlin",
        "--description", "Sales of the week",
        "--plugin", "reports",
        "--store", "store-1",
        "--max-runs", "10",
        "--max-failures", "3",
        "--timeout", "60",
        "--misfire-policy", "catch_up",
        "--overlap-policy", "allow",
        "--priority", "high",
        "--max-retries", "2",
        "--tag", "sales",
        "--tag", "weekly",
        expression="30 2 * * 1-5",
    )  # fmt: skip
    assert created["name"] == "nightly report"
    assert created["cron_expression"] == "30 2 * * 1-5"
    assert created["job_type"] == "test:noop"
    assert created["configuration"] == {"report": "sales", "days": 7}
    assert created["timezone"] == "Europe/Berlin"
    assert (created["plugin_id"], created["store_id"]) == ("reports", "store-1")
    assert (created["max_runs"], created["max_failures"]) == (10, 3)
    assert created["timeout_seconds"] == 60
    assert created["misfire_policy"] == "catch_up"
    assert created["overlap_policy"] == "allow"
    assert created["priority"] == "high"
    assert created["max_retries"] == 2
    assert created["tags"] == ["sales", "weekly"]
    assert created["created_by"] == "local"
    assert created["is_active"] is True and created["is_paused"] is False
    assert created["next_run_at"] == created["next_runs"][0]
    assert len(created["next_runs"]) == 5
    assert "02:30" in created["description_human"] or "2:30" in created["description_human"]

    listed = cli.json("cron", "list")
    assert listed["total"] == 1
    assert [c["id"] for c in listed["cron_jobs"]] == [created["id"]]

    table = cli("cron", "list").stdout
    for shown in (
        str(created["id"]),
        "nightly report",
        "30 2 * * 1-5",
        "Europe/Berlin",
        created["next_run_at"][:10],
        "active",
        "Showing 1-1 of 1",
    ):
        assert shown in table, shown

    by_name = cli.json("cron", "show", "nightly report")
    by_id = cli.json("cron", "show", str(created["id"]))
    assert by_name == by_id
    assert by_name["next_runs"] == created["next_runs"]
    assert by_name["executions"] == []
    detail = cli("cron", "show", "nightly report").stdout
    assert "next runs" in detail and "last executions" in detail and "Sales of the week" in detail
    assert created["next_runs"][4][:10] in detail


def test_add_inactive_has_no_next_run(cli: Cli) -> None:
    created = add(cli, "dormant", "--inactive")
    assert created["is_active"] is False
    assert created["next_run_at"] is None and created["next_runs"] == []
    assert cli.json("cron", "list", "--status", "inactive")["total"] == 1
    assert cli.json("cron", "list", "--status", "active")["total"] == 0
    assert "inactive" in cli("cron", "list").stdout


def test_list_filters_search_and_pages(cli: Cli) -> None:
    for name in ("alpha", "beta", "gamma"):
        add(cli, name, "--description", f"the {name} job")
    assert cli.json("cron", "list", "--search", "BET")["total"] == 1
    page = cli.json("cron", "list", "--sort-by", "name", "--asc", "--limit", "2", "--page", "2")
    assert page["total"] == 3
    assert [c["name"] for c in page["cron_jobs"]] == ["gamma"]
    assert "No cron jobs on this page" in cli("cron", "list", "--page", "5").stdout


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--cron", "61 * * * *"], "cron_expression"),
        (["--cron", "* * *"], "cron_expression"),
        (["--cron", "0 0 L * *"], "cron_expression"),
        (["--timezone", "Mars/Olympus_Mons"], "Mars/Olympus_Mons"),
        (["--type", "no:such:type"], "no:such:type"),
        (["--config", "[1, 2]"], "configuration"),
        (["--max-runs", "0"], "max_runs"),
        (["--timeout", "-5"], "timeout_seconds"),
    ],
)
def test_a_bad_definition_is_one_line_naming_the_problem(
    cli: Cli, args: list[str], named: str
) -> None:
    base = {"--name": "bad", "--cron": "*/5 * * * *", "--type": "test:noop"}
    for option, value in zip(args[::2], args[1::2], strict=True):
        base[option] = value
    flat = [part for pair in base.items() for part in pair]
    done = cli("cron", "add", *flat, check=False)
    assert done.returncode == 1, done.stderr
    assert named in one_error_line(done.stderr)
    assert cli.json("cron", "list")["total"] == 0


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["--config", "{not json"], "--config"),
        (["--misfire-policy", "sometimes"], "--misfire-policy"),
        (["--overlap-policy", "never"], "--overlap-policy"),
        (["--priority", "asap"], "--priority"),
        (["--max-runs", "ten"], "--max-runs"),
    ],
)
def test_usage_errors_name_the_option(cli: Cli, args: list[str], option: str) -> None:
    done = cli(
        "cron",
        "add",
        "--name",
        "x",
        "--cron",
        "* * * * *",
        "--type",
        "test:noop",
        *args,
        check=False,
    )
    assert done.returncode == 2
    assert option in done.stderr
    assert "Traceback" not in done.stderr


def test_a_missing_required_option_is_a_usage_error(cli: Cli) -> None:
    done = cli("cron", "add", "--name", "x", "--type", "test:noop", check=False)
    assert done.returncode == 2
    assert "--cron" in done.stderr


def test_debug_shows_the_traceback(cli: Cli) -> None:
    done = cli(
        "--debug", "cron", "add", "--name", "x", "--cron", "bad", "--type", "test:noop", check=False
    )
    assert done.returncode != 0
    assert "Traceback" in done.stderr


def test_a_taken_name_is_an_error_naming_the_schedule(cli: Cli) -> None:
    first = add(cli, "daily")
    done = cli(
        "cron", "add", "--name", "daily", "--cron", "@daily", "--type", "test:noop", check=False
    )
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "'daily' already exists" in line and f"id {first['id']}" in line
    # Another plugin may use the same name.
    assert add(cli, "daily", "--plugin", "other")["id"] != first["id"]


# --- references -----------------------------------------------------------------------


def test_names_resolve_and_an_ambiguous_one_lists_the_matches(cli: Cli) -> None:
    one = add(cli, "sync", "--plugin", "shop-a")
    two = add(cli, "sync", "--plugin", "shop-b", "--store", "s2")
    unique = add(cli, "unique")

    assert cli.json("cron", "show", "unique")["id"] == unique["id"]
    for verb in ("show", "pause", "resume", "run", "history", "delete"):
        done = cli("cron", verb, "sync", check=False)
        assert done.returncode == 1, verb
        line = one_error_line(done.stderr)
        assert "2 cron jobs are named 'sync'" in line, verb
        assert f"id {one['id']} (plugin shop-a, store -)" in line
        assert f"id {two['id']} (plugin shop-b, store s2)" in line
    # The id picks one of them.
    assert cli.json("cron", "show", str(two["id"]))["plugin_id"] == "shop-b"

    for verb in ("show", "pause", "run", "history", "delete"):
        done = cli("cron", verb, "nothing-here", check=False)
        assert done.returncode == 1
        assert "no cron job named 'nothing-here'" in one_error_line(done.stderr)
        missing = cli("cron", verb, "9999", check=False)
        assert missing.returncode == 1
        assert "9999" in one_error_line(missing.stderr)


def test_pause_resume_delete(cli: Cli) -> None:
    created = add(cli, "hourly", expression="@hourly")
    paused = cli("cron", "pause", "hourly")
    assert f"Paused cron job {created['id']} 'hourly'" in paused.stdout
    shown = cli.json("cron", "show", "hourly")
    assert shown["is_paused"] is True
    assert shown["next_run_at"] is None and shown["next_runs"] == []
    assert cli.json("cron", "list", "--status", "paused")["total"] == 1
    assert "paused" in cli("cron", "list").stdout

    resumed = cli("cron", "resume", str(created["id"]))
    assert "Resumed" in resumed.stdout and "next run" in resumed.stdout
    shown = cli.json("cron", "show", "hourly")
    assert shown["is_paused"] is False
    assert shown["next_run_at"] is not None and len(shown["next_runs"]) == 5

    assert "Deleted cron job" in cli("cron", "delete", "hourly").stdout
    assert cli.json("cron", "list")["total"] == 0
    gone = cli("cron", "show", str(created["id"]), check=False)
    assert gone.returncode == 1


# --- running --------------------------------------------------------------------------


def test_run_now_then_a_worker_runs_it_and_history_shows_it(cli: Cli) -> None:
    created = add(cli, "report", "--config", '{"k": 1}')
    ran = cli("cron", "run", "report").stdout.strip()
    assert ran.startswith("Execution ") and "(manual)" in ran
    job_id = ran.rsplit(" ", 1)[-1]
    assert len(job_id) == 36

    as_json = cli.json("cron", "run", "report")
    assert as_json["triggered_by"] == "manual" and as_json["status"] == "running"
    assert as_json["cron_job_id"] == created["id"]
    job = cli.json("jobs", "show", job_id)
    assert job["status"] == "pending" and job["cron_job_id"] == created["id"]
    assert job["payload"] == {"k": 1}
    assert job["name"] == "report"

    worker = cli.start("worker")
    done = wait_for(lambda: successes(cli, "report", 2), "both manual runs to succeed")
    assert cli.stop(worker)[0] == 0
    assert {e["job_id"] for e in done} == {job_id, as_json["job_id"]}
    for execution in done:
        assert execution["triggered_by"] == "manual"
        assert execution["duration_ms"] is not None and execution["duration_ms"] >= 0
        assert execution["completed_at"] is not None
    assert cli.json("jobs", "show", job_id)["status"] == "completed"

    table = cli("cron", "history", "report").stdout
    assert job_id in table and "success" in table and "manual" in table
    assert "Showing 1-2 of 2 executions" in table
    shown = cli.json("cron", "show", "report")
    assert shown["last_status"] == "success"
    assert shown["run_count"] == 0  # manual runs do not count toward max_runs
    assert len(shown["executions"]) == 2
    assert job_id in cli("cron", "show", "report").stdout
    assert "success" in cli("cron", "list").stdout


def test_a_scheduler_process_fires_every_second_and_stops_on_sigterm(cli: Cli) -> None:
    add(cli, "ticker", "--overlap-policy", "allow", expression=EVERY_SECOND)
    scheduler = cli.start("scheduler")
    worker = cli.start("worker")
    done = wait_for(lambda: successes(cli, "ticker", 3), "three scheduled runs")
    code, err = cli.stop(scheduler)
    assert code == 0, err
    assert "jobdeck scheduler on" in err and "Traceback" not in err
    assert cli.stop(worker)[0] == 0
    assert {e["triggered_by"] for e in done} == {"scheduler"}
    ticks = sorted(e["scheduled_for"] for e in done)
    assert len(set(ticks)) == len(ticks)
    shown = cli.json("cron", "show", "ticker")
    assert shown["run_count"] >= 3 and shown["last_run_at"] is not None


def test_serve_runs_the_scheduler_unless_told_not_to(cli: Cli) -> None:
    add(cli, "ticker", "--overlap-policy", "allow", expression=EVERY_SECOND)
    quiet = cli.start("serve", "--no-scheduler", "--port", str(free_port()))
    wait_for(lambda: "scheduler: off" in (cli.cwd / "err-0.txt").read_text(), "serve to start")
    # The server's worker runs a job enqueued now; meanwhile nothing fires the ticks.
    job_id = cli.enqueue("test:noop")
    assert cli("watch", job_id).returncode == 0
    assert executions(cli, "ticker") == []
    assert cli.stop(quiet)[0] == 0

    server = cli.start("serve", "--port", str(free_port()))
    wait_for(lambda: successes(cli, "ticker", 2), "the server's scheduler and worker")
    code, err = cli.stop(server)
    assert code == 0, err
    assert "scheduler: on" in err


CODE_PLUGIN = {
    "clock.py": """
        def tick():
            return {"tick": True}

        def setup(hooks):
            hooks.scheduler.call(tick, "tick").cron("* * * * * *").allow_overlapping()
    """,
}


def test_two_servers_starting_at_once_declare_one_code_defined_schedule_and_fire_it(
    cli: Cli, tmp_path: Path
) -> None:
    cli.env["JOBDECK_PLUGINS_DIR"] = str(write_plugins(tmp_path / "plugins", CODE_PLUGIN))
    # Both load the plugin and upsert its schedule at the same moment; a scheduler
    # process declares it too.
    servers = [cli.start("serve", "--port", str(free_port())) for _ in range(2)]
    scheduler = cli.start("scheduler")

    def declared() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = cli.json("cron", "list", "--plugin", "clock")["cron_jobs"]
        return found

    listed = wait_for(declared, "the plugin's schedule")
    done = wait_for(lambda: successes(cli, "tick", 2), "runs of the code-defined schedule")
    for process in (*servers, scheduler):
        code, err = cli.stop(process)
        assert code == 0, err
    assert len(declared()) == 1  # declared three times at once: one schedule
    assert listed[0]["job_type"] == "plugin:clock:cron:tick"
    assert listed[0]["created_by"] == "plugin:clock"
    job = cli.json("jobs", "show", done[0]["job_id"])
    assert job["result"] == {"tick": True}
    assert job["source"] == "clock"
