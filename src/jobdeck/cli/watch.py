"""``jobdeck watch JOB_ID``: a live progress bar until the job ends.

It follows the deck's change feed from the job's own sequence number, so no
update between reading the job and subscribing is lost, and nothing polls.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.progress import BarColumn, Progress, TaskID, TextColumn

from jobdeck.cli.common import global_options, open_deck, run, settings_from, setup_logging
from jobdeck.cli.output import console, status_text
from jobdeck.domain.job import Job, Status
from jobdeck.errors import JobNotFound


def eta_text(job: Job) -> str:
    if job.status.terminal or job.eta_seconds is None:
        return ""
    seconds = round(job.eta_seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"ETA {hours}:{minutes:02d}:{seconds:02d}" if hours else f"ETA {minutes}:{seconds:02d}"


def elapsed_text(job: Job) -> str:
    """How long the job has been running (or ran), from its own timestamps."""
    if job.started_at is None:
        return ""
    end = job.completed_at or datetime.now(UTC)
    seconds = max(0, round((end - job.started_at).total_seconds()))
    return f"{seconds // 60}:{seconds % 60:02d}"


def show(progress: Progress, task: TaskID, job: Job) -> None:
    progress.update(
        task,
        completed=job.progress,
        status=status_text(job),
        message=job.progress_message or "",
        eta=eta_text(job),
        elapsed=elapsed_text(job),
    )


def outcome_line(job: Job) -> str:
    if job.status is Status.COMPLETED:
        return f"Job {job.job_id} completed." + (f" Result: {job.result!r}" if job.result else "")
    if job.status is Status.FAILED:
        return f"Job {job.job_id} failed: {job.error_message or 'no error message'}"
    return f"Job {job.job_id} was cancelled."


@click.command()
@global_options
@click.argument("job_id")
@click.pass_context
def watch(ctx: click.Context, job_id: str) -> None:
    """Show a job's live progress until it ends; exit 0 when it completed, 1 otherwise."""
    setup_logging(ctx)

    async def main() -> Job:
        async with open_deck(settings_from(ctx)) as (deck, _):
            # Followed from the feed's own position, read first: a Job's seq may be of
            # a worker's write that a crash of PostgreSQL undoes (docs/feed.md).
            since = await deck.last_seq()
            handle = await deck.get_job(job_id)
            if handle is None:
                raise JobNotFound(f"no job with id {job_id}")
            job = handle.snapshot
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TextColumn("{task.fields[status]}"),
                TextColumn("{task.fields[elapsed]}"),
                TextColumn("{task.fields[eta]}"),
                TextColumn("{task.fields[message]}"),
            )
            with Progress(*columns, console=console(stderr=True)) as progress:
                task = progress.add_task(
                    job.name, total=100, status="", message="", eta="", elapsed=""
                )
                show(progress, task, job)
                if job.status.terminal:
                    return job
                async for change in deck.subscribe(since=since):
                    if change.job is None or change.job.job_id != job_id:
                        continue
                    job = change.job
                    show(progress, task, job)
                    if job.status.terminal:
                        return job
            return job

    job = run(main())
    click.echo(outcome_line(job))
    ctx.exit(0 if job.status is Status.COMPLETED else 1)
