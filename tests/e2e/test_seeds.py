"""The Python examples of both seed documents, as they would be written with jobdeck."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from jobdeck import BaseJobHandler, JobDeck, Settings, Status

BACKUP_ICON = """
<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2">
  <path d="M21 16V8a2 2 0 0 0-1-1.73l-7-4a2 2 0 0 0-2 0l-7 4A2 2 0 0 0 3 8v8a2 2 0 0 0 1 1.73l7 4a2 2 0 0 0 2 0l7-4A2 2 0 0 0 21 16z"/>
</svg>
"""  # noqa: E501


@pytest.fixture
async def deck(tmp_path: Path) -> AsyncIterator[JobDeck]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'jobdeck.db'}",
        poll_seconds=0.05,
        heartbeat_seconds=0.2,
    )
    async with JobDeck(settings=settings) as deck:
        yield deck


# --- seed 1: tracked jobs driven by plugin code ---------------------------------


async def test_seed1_basic_example(deck: JobDeck) -> None:
    job = await deck.create_job(
        name="Import Products",
        description="Importing products from external API",
        type="import",
        source="my-plugin-name",
        metadata={"apiUrl": "https://api.example.com"},
    )
    await job.start()
    await job.update_progress(50)
    await job.complete({"importedCount": 100})

    assert job.status == Status.COMPLETED
    assert job.progress == 100
    assert job.result == {"importedCount": 100}
    assert job.started_at is not None and job.completed_at is not None


async def test_seed1_backup_example_with_icon_and_metadata(deck: JobDeck) -> None:
    job = await deck.create_job(
        name="Backup Database",
        description="Creating full database backup",
        type="backup",
        source="backup-plugin",
        icon_svg=BACKUP_ICON,
        metadata={"backupType": "full", "compression": True},
    )
    await job.start()
    for i in range(0, 101, 10):
        await job.update_progress(i, {"currentTable": f"table_{i}", "bytesProcessed": i * 1024})
    await job.complete({"backupFile": "/backups/db-2025-11-22.sql.gz", "fileSize": "125MB"})

    assert job.icon_svg is not None and "<path" in job.icon_svg
    assert job.metadata == {
        "backupType": "full",
        "compression": True,
        "currentTable": "table_100",
        "bytesProcessed": 102400,
    }
    assert job.result["fileSize"] == "125MB"


async def test_seed1_error_handling_example(deck: JobDeck) -> None:
    job = None
    try:
        job = await deck.create_job(name="Sync Remote Data", type="sync", source="sync-plugin")
        await job.start()
        await job.update_progress(30)
        raise RuntimeError("API timeout")
    except RuntimeError as error:
        assert job is not None
        await job.fail(str(error))

    assert job.status == Status.FAILED
    assert job.error_message == "API timeout"
    assert job.progress == 30


async def test_seed1_listing_and_cleanup(deck: JobDeck) -> None:
    job = await deck.create_job(name="Export Users", type="export", source="admin-ui")
    await job.start()
    running = await deck.get_jobs(status="running", type="export", limit=50)
    assert [j.job_id for j in running] == [job.job_id]
    assert await deck.cleanup_old_jobs(30) == 0


# --- seed 2: queued jobs run by workers -----------------------------------------


class MyImportJob(BaseJobHandler):
    async def execute(self) -> dict[str, Any]:
        source = self.job.payload["source"]
        filters = self.job.payload["filters"]

        self.log(f"Starting import from {source}")
        await self.update_progress(10, "Fetching data...")

        items = await self.fetch_data_from_api(source, filters)
        await self.update_progress(50, f"Processing {len(items)} items...")

        results = {"total": len(items), "successful": 0, "failed": 0}
        for i, item in enumerate(items):
            try:
                await self.import_item(item)
                results["successful"] += 1
                progress = 50 + (i / len(items)) * 45
                await self.update_progress(
                    round(progress), f"Importing: {item['name']} ({i + 1}/{len(items)})"
                )
            except ValueError as error:
                results["failed"] += 1
                self.log(f"Failed to import {item['name']}: {error}")

        await self.update_progress(100, "Import completed")
        return results

    async def fetch_data_from_api(self, source: str, filters: dict[str, Any]) -> list[dict]:
        return [{"name": f"{filters['category']}-{n}"} for n in range(4)]

    async def import_item(self, item: dict[str, Any]) -> None:
        if item["name"].endswith("-2"):
            raise ValueError("duplicate SKU")


async def test_seed2_custom_handler_scheduled_and_polled(deck: JobDeck) -> None:
    deck.register_job_type("plugin:my-plugin:import", MyImportJob)
    job = await deck.schedule_job(
        type="plugin:my-plugin:import",
        payload={
            "source": "external-api",
            "importType": "products",
            "filters": {"category": "electronics"},
        },
        priority="normal",
        max_retries=3,
        store_id="store-uuid",
        user_id="user-uuid",
        metadata={"pluginId": "your-plugin-uuid", "pluginName": "My Amazing Plugin"},
    )
    assert job.job_id

    stop = asyncio.Event()
    worker = asyncio.create_task(deck.run_worker(concurrency=2, stop=stop))
    try:
        # Poll for progress, as the seed does (with a deadline instead of forever).
        async with asyncio.timeout(5):
            while True:
                status = await deck.get_job(job.job_id)
                assert status is not None
                if status.status in (Status.COMPLETED, Status.FAILED):
                    break
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await worker

    assert status.status == Status.COMPLETED
    assert status.result == {"total": 4, "successful": 3, "failed": 1}
    assert status.progress == 100
    assert status.progress_message == "Import completed"
    assert status.metadata["pluginName"] == "My Amazing Plugin"
    history = [(e.kind, e.message) for e in await deck.get_history(job.job_id)]
    assert ("log", "Starting import from external-api") in history
    assert ("log", "Failed to import electronics-2: duplicate SKU") in history
    assert ("progress", "Fetching data...") in history
    # Log lines and progress messages keep the order the handler wrote them in.
    messages = [message for kind, message in history if kind in ("log", "progress")]
    assert messages.index("Starting import from external-api") < messages.index("Fetching data...")


async def test_seed2_progress_tracking_from_a_sync_handler(deck: JobDeck) -> None:
    class Report(BaseJobHandler):
        def execute(self) -> dict[str, int]:
            self.update_progress(0, "Starting...")
            self.update_progress(25, "Fetching data...")
            self.update_progress(50, "Processing items...")
            self.update_progress(75, "Finalizing...")
            self.update_progress(100, "Completed!")
            return {"rows": 3}

    deck.register_job_type("plugin:analytics:daily-report", Report)
    job = await deck.schedule_job("plugin:analytics:daily-report", priority="high")
    assert await deck.drain() == 1
    await job.refresh()
    assert job.status == Status.COMPLETED
    assert job.result == {"rows": 3}
    messages = [e.message for e in await deck.get_history(job.job_id) if e.kind == "progress"]
    assert messages == [
        "Starting...",
        "Fetching data...",
        "Processing items...",
        "Finalizing...",
        "Completed!",
    ]


async def test_seed2_failures_are_retried(deck: JobDeck) -> None:
    class Flaky(BaseJobHandler):
        retry_delays = (0,)  # retry at once, for the test

        async def execute(self) -> str:
            if self.job.attempt < 3:
                raise ConnectionError("supplier API down")
            return "synced"

    deck.register_job_type("plugin:inventory-sync:full", Flaky)
    job = await deck.schedule_job(
        "plugin:inventory-sync:full", {"storeId": "s", "syncType": "full"}, max_retries=3
    )
    assert await deck.drain() == 3
    await job.refresh()
    assert job.status == Status.COMPLETED
    assert job.attempt == 3
    assert job.result == "synced"
