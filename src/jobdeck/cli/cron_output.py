"""How cron schedules and their executions look on a terminal (rich) and in ``--json``
output (the fields of the API's CronJob and Execution: docs/api-cron.md, docs/cron.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.console import Group
from rich.json import JSON
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from jobdeck.cli.output import plain, when
from jobdeck.crons import Crons
from jobdeck.domain.schedule import CronJob, Execution, ExecutionStatus
from jobdeck.errors import JobdeckError

EXECUTION_STYLE = {
    ExecutionStatus.RUNNING: "blue",
    ExecutionStatus.SUCCESS: "green",
    ExecutionStatus.FAILED: "red",
    ExecutionStatus.TIMEOUT: "red",
    ExecutionStatus.SKIPPED: "yellow",
    ExecutionStatus.CANCELLED: "magenta",
}
STATE_STYLE = {"active": "green", "paused": "yellow", "inactive": "dim"}


def state(cron_job: CronJob) -> str:
    """active, paused or inactive (the list filter's words)."""
    if not cron_job.definition.is_active:
        return "inactive"
    return "paused" if cron_job.is_paused else "active"


def description(crons: Crons, cron_job: CronJob) -> str:
    try:
        return crons.describe(cron_job)
    except JobdeckError as exc:  # stored before a rule changed: show why, do not fail
        return f"(invalid: {exc.message})"


def next_runs(crons: Crons, cron_job: CronJob) -> list[datetime]:
    try:
        return crons.next_runs(cron_job)
    except JobdeckError:
        return []


def cron_dict(crons: Crons, cron_job: CronJob) -> dict[str, Any]:
    """The API's CronJob JSON: every definition field, the state and the counters."""
    data: dict[str, Any] = {"id": cron_job.id}
    definition = cron_job.definition
    for f in dataclasses.fields(definition):
        data[f.name] = plain(getattr(definition, f.name))
    for f in dataclasses.fields(cron_job):
        if f.name not in ("id", "definition", "seq"):
            data[f.name] = plain(getattr(cron_job, f.name))
    data["description_human"] = description(crons, cron_job)
    data["next_runs"] = plain(next_runs(crons, cron_job))
    return data


def execution_dict(execution: Execution) -> dict[str, Any]:
    return {
        f.name: plain(getattr(execution, f.name))
        for f in dataclasses.fields(execution)
        if f.name != "seq"
    }


def execution_status(status: ExecutionStatus | None) -> str:
    if status is None:
        return "-"
    style = EXECUTION_STYLE.get(status, "white")
    return f"[{style}]{status.value}[/{style}]"


def state_text(cron_job: CronJob) -> str:
    word = state(cron_job)
    return f"[{STATE_STYLE[word]}]{word}[/{STATE_STYLE[word]}]"


def expression_text(cron_job: CronJob) -> str:
    d = cron_job.definition
    return d.cron_expression if d.timezone == "UTC" else f"{d.cron_expression} ({d.timezone})"


def duration(execution: Execution) -> str:
    if execution.duration_ms is None:
        return "-"
    if execution.duration_ms < 1000:
        return f"{execution.duration_ms} ms"
    return f"{execution.duration_ms / 1000:.1f} s"


def crons_table(crons: Crons, cron_jobs: Sequence[CronJob]) -> Table:
    table = Table(header_style="bold")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("expression", overflow="fold")
    table.add_column("schedule", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("next run (UTC)", no_wrap=True)
    table.add_column("last status", no_wrap=True)
    table.add_column("runs", justify="right", no_wrap=True)
    for cron_job in cron_jobs:
        table.add_row(
            str(cron_job.id),
            escape(cron_job.name),
            escape(expression_text(cron_job)),
            escape(description(crons, cron_job)),
            escape(cron_job.definition.job_type),
            state_text(cron_job),
            when(cron_job.next_run_at),
            execution_status(cron_job.last_status),
            str(cron_job.run_count),
        )
    return table


def executions_table(executions: Sequence[Execution], title: str | None = None) -> Table:
    table = Table(header_style="bold", title=title, title_justify="left")
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("scheduled for (UTC)", no_wrap=True)
    table.add_column("by", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("job id", no_wrap=True)
    table.add_column("error", overflow="fold")
    for execution in executions:
        by = execution.triggered_by.value
        if execution.triggered_by_user:
            by = f"{by} ({execution.triggered_by_user})"
        table.add_row(
            str(execution.id),
            when(execution.scheduled_for),
            escape(by),
            execution_status(execution.status),
            duration(execution),
            execution.job_id or "-",
            escape(execution.error_message or ""),
        )
    return table


def page_summary(count: int, total: int, first: int, what: str) -> str:
    if count == 0:
        return f"No {what} on this page ({total} in total)."
    return f"Showing {first + 1}-{first + count} of {total} {what}."


# The header of `cron show`, in this order; configuration gets a panel of its own.
DETAIL_FIELDS = (
    "id", "name", "description", "cron_expression", "timezone", "job_type", "plugin_id",
    "store_id", "is_active", "is_paused", "priority", "max_retries", "max_runs",
    "max_failures", "timeout_seconds", "misfire_policy", "misfire_grace_seconds",
    "overlap_policy", "show_notification", "tags", "next_run_at", "last_run_at",
    "last_status", "last_error", "run_count", "success_count", "failure_count",
    "consecutive_failures", "created_by", "declared_by", "created_at", "updated_at",
)  # fmt: skip


def cron_detail(crons: Crons, cron_job: CronJob, executions: Sequence[Execution]) -> Group:
    data = cron_dict(crons, cron_job)
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column(overflow="fold")
    fields.add_row("schedule", escape(data["description_human"]))
    fields.add_row("state", state_text(cron_job))
    for name in DETAIL_FIELDS:
        value = data[name]
        if name == "last_status":
            shown = execution_status(cron_job.last_status)
        elif isinstance(value, list):
            shown = escape(", ".join(str(v) for v in value) or "-")
        else:
            shown = escape("-" if value is None else str(value))
        fields.add_row(name, shown)
    title = f"cron job {cron_job.id}: {cron_job.name}"
    parts: list[Any] = [Panel(fields, title=escape(title), title_align="left", expand=False)]
    parts.append(
        Panel(
            JSON.from_data(data["configuration"], default=str),
            title="configuration",
            title_align="left",
            expand=False,
        )
    )
    runs = Table(header_style="bold", title="next runs", title_justify="left")
    runs.add_column("UTC", no_wrap=True)
    runs.add_column(escape(cron_job.definition.timezone), no_wrap=True)
    zone = _zone(cron_job.definition.timezone)
    for at in next_runs(crons, cron_job):
        local = at.astimezone(zone) if zone is not None else at
        runs.add_row(when(at), local.strftime("%Y-%m-%d %H:%M:%S %Z"))
    if not runs.row_count:
        runs.add_row("none (paused or inactive)", "")
    parts.append(runs)
    parts.append(executions_table(executions, title="last executions"))
    return Group(*parts)


def _zone(name: str) -> Any:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
