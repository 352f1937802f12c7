"""How jobs look on a terminal (rich) and in ``--json`` output."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from rich.console import Console, Group
from rich.json import JSON
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from jobdeck.domain.job import HistoryEvent, Job, Priority

STATUS_STYLE = {
    "pending": "cyan",
    "running": "blue",
    "cancelling": "yellow",
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
}


def plain(value: Any) -> Any:
    """A JSON-ready copy: enums by name, datetimes in ISO 8601."""
    if isinstance(value, Priority):
        return value.label
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def job_dict(job: Job) -> dict[str, Any]:
    return {f.name: plain(getattr(job, f.name)) for f in dataclasses.fields(job)}


def event_dict(event: HistoryEvent) -> dict[str, Any]:
    return {f.name: plain(getattr(event, f.name)) for f in dataclasses.fields(event)}


def to_json(value: Any) -> str:
    return json.dumps(plain(value), indent=2, sort_keys=False, default=str)


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def status_text(job: Job) -> str:
    style = STATUS_STYLE.get(job.status.value, "white")
    return f"[{style}]{job.status.value}[/{style}]"


def jobs_table(jobs: Sequence[Job]) -> Table:
    table = Table(show_lines=False, header_style="bold")
    table.add_column("job id", no_wrap=True)
    table.add_column("name", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("priority", no_wrap=True)
    table.add_column("progress", justify="right", no_wrap=True)
    table.add_column("source", overflow="fold")
    table.add_column("created (UTC)", no_wrap=True)
    for job in jobs:
        table.add_row(
            job.job_id,
            escape(job.name),
            escape(job.type),
            status_text(job),
            job.priority.label,
            f"{job.progress:.0f}%",
            escape(job.source or "-"),
            when(job.created_at),
        )
    return table


def page_summary(count: int, total: int, offset: int) -> str:
    if count == 0:
        return f"No jobs on this page ({total} in total)."
    return f"Showing {offset + 1}-{offset + count} of {total} jobs."


# Fields shown in the header table of `jobs show`; the JSON ones get panels below.
DETAIL_FIELDS = (
    "job_id", "id", "name", "description", "type", "mode", "status", "priority",
    "progress", "progress_message", "error_message", "source", "plugin_id", "store_id",
    "user_id", "created_by", "show_notification", "attempt", "max_retries", "timeout",
    "retry_delays", "run_at", "created_at", "updated_at", "started_at", "completed_at",
    "cron_job_id", "locked_by", "lease_expires_at", "eta_seconds", "rate", "seq",
)  # fmt: skip


def job_detail(job: Job, history: Sequence[HistoryEvent]) -> Group:
    fields = Table.grid(padding=(0, 2))
    fields.add_column(style="bold", no_wrap=True)
    fields.add_column(overflow="fold")
    for name in DETAIL_FIELDS:
        value = getattr(job, name)
        if name == "status":
            shown = status_text(job)
        elif isinstance(value, datetime):
            shown = value.isoformat()
        elif name == "priority":
            shown = job.priority.label
        else:
            shown = escape("-" if value is None else str(value))
        fields.add_row(name, shown)
    parts: list[Any] = [Panel(fields, title=escape(job.name), title_align="left", expand=False)]
    for title in ("payload", "metadata", "result"):
        data = JSON.from_data(plain(getattr(job, title)), default=str)
        parts.append(Panel(data, title=title, title_align="left", expand=False))
    if job.icon_svg:
        parts.append(
            Panel(escape(job.icon_svg), title="icon_svg", title_align="left", expand=False)
        )
    events = Table(header_style="bold", title="history", title_justify="left")
    events.add_column("time (UTC)", no_wrap=True)
    events.add_column("event", no_wrap=True)
    events.add_column("message", overflow="fold")
    for event in history:
        events.add_row(when(event.created_at), event.kind, escape(event.message or ""))
    parts.append(events)
    return Group(*parts)


def console(stderr: bool = False) -> Console:
    # Wide enough that a job id is never cut when output goes to a pipe or a file.
    return Console(stderr=stderr, width=None if _is_tty(stderr) else 160)


def _is_tty(stderr: bool) -> bool:
    stream = sys.stderr if stderr else sys.stdout
    return stream.isatty()
