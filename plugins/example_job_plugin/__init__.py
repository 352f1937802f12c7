"""Example plugin: the plugin API of jobdeck in one small file.

When ``jobdeck serve`` is up, its ``init`` action:

* drives a *tracked* job itself: custom icon, progress with metadata, completion;
* drives a second tracked job into the failure path;
* schedules a *queued* job run by a worker through the handler registered below.

It declares a cron schedule in code, ``example-daily-summary`` (every day at 02:00
UTC; ``jobdeck cron run example-daily-summary`` runs it now), which counts the jobs
by status.

It also adds an HTTP route, ``GET /api/example_job_plugin/jobs`` (authenticated like
every API route), listing the jobs it created.

Copy this folder into your plugins folder (``JOBDECK_PLUGINS_DIR``, default
``./plugins``) and rename it to start your own plugin.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jobdeck import BaseJobHandler

NAME = "example_job_plugin"
IMPORT_TYPE = f"plugin:{NAME}:import"
STEP_SECONDS = 0.3  # slow enough to watch the progress bars move

# A custom icon (validated server-side against an allowlist of SVG shapes).
BACKUP_ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" viewBox="0 0 24 24" '
    'fill="none" stroke="currentColor" stroke-width="2">'
    '<path d="M21 16V8a2 2 0 0 0-1-1.73l-7-4a2 2 0 0 0-2 0l-7 4A2 2 0 0 0 3 8v8a2 2 0 0 0 '
    '1 1.73l7 4a2 2 0 0 0 2 0l7-4A2 2 0 0 0 21 16z"/></svg>'
)


class ExampleImportJob(BaseJobHandler):
    """A queued job's handler: a worker calls ``execute`` and stores what it returns."""

    async def execute(self) -> dict[str, Any]:
        source = self.job.payload.get("source", "demo-api")
        items = int(self.job.payload.get("items", 5))
        self.log(f"Starting import from {source}")
        await self.update_progress(10, "Fetching data...")
        for done in range(1, items + 1):
            await asyncio.sleep(STEP_SECONDS)
            await self.update_progress(10 + 90 * done / items, f"Imported item {done}/{items}")
        return {"total": items, "successful": items, "failed": 0}


async def backup_demo(hooks: Any) -> None:
    """A tracked job: the plugin starts it, reports progress with metadata, completes it."""
    job = await hooks.create_job(
        name="Backup Database",
        type="backup",
        description="Creating full database backup",
        icon_svg=BACKUP_ICON,
        metadata={"backupType": "full", "compression": True},
    )
    await job.start()
    try:
        for percent in range(0, 101, 10):
            await asyncio.sleep(STEP_SECONDS)
            await job.update_progress(
                percent, {"currentTable": f"table_{percent}", "bytesProcessed": percent * 1024}
            )
    except asyncio.CancelledError:
        # The server is stopping: a job our code drives is ended by our code.
        await job.fail("The server stopped before the backup finished")
        raise
    await job.complete({"backupFile": "/backups/db.sql.gz", "fileSize": "125MB"})


async def sync_demo(hooks: Any) -> None:
    """A tracked job that fails: its error message is kept and sent to every subscriber."""
    job = await hooks.create_job(name="Sync Remote Data", type="sync")
    await job.start()
    try:
        await job.update_progress(30, message="Contacting the remote API")
        await asyncio.sleep(STEP_SECONDS)
        raise TimeoutError("API timeout")
    except Exception as exc:
        await job.fail(str(exc))


async def on_init(hooks: Any) -> None:
    await hooks.schedule_job(IMPORT_TYPE, {"source": "demo-api", "items": 5})
    await asyncio.gather(backup_demo(hooks), sync_demo(hooks))


def setup(hooks: Any) -> None:
    hooks.register_job_type(IMPORT_TYPE, ExampleImportJob)

    async def daily_summary(handler: BaseJobHandler) -> dict[str, int]:
        """A scheduled function runs as a job: it may report progress and log."""
        counts: dict[str, int] = await hooks.deck.count_by_status()
        handler.log(f"{sum(counts.values())} jobs in the store")
        await handler.update_progress(100, "Counted")
        return counts

    hooks.scheduler.call(daily_summary, "example-daily-summary").daily_at("02:00")
    hooks.add_action("init", lambda: on_init(hooks))

    async def recent_jobs() -> dict[str, Any]:
        jobs = await hooks.get_jobs(source=NAME, limit=20)
        return {
            "jobs": [{"name": j.name, "status": j.status, "progress": j.progress} for j in jobs]
        }

    hooks.add_route(f"/api/{NAME}/jobs", recent_jobs)
