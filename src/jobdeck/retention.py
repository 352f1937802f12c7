"""Automatic retention (docs/cron.md): ``JOBDECK_RETENTION_DAYS``, when set, is a
code-defined schedule running the built-in ``cleanup`` type every day, declared like
a plugin's (so it is upserted by name, shows in the schedule list and keeps a run
history). Unset, the schedule is deactivated, never deleted."""

from __future__ import annotations

from typing import Any

from jobdeck.config import Settings

OWNER = "jobdeck"  # declared_by and plugin_id of the schedule
NAME = "jobdeck-retention"


def declarations(settings: Settings) -> list[dict[str, Any]]:
    days = settings.retention_days
    if days is None or days <= 0:
        return []
    return [
        {
            "name": NAME,
            "description": f"JOBDECK_RETENTION_DAYS: deletes finished jobs after {days} days",
            "cron_expression": "17 3 * * *",  # a quiet hour, off the top of the hour
            "job_type": "cleanup",
            "configuration": {"target": "jobs", "older_than_days": days},
            "plugin_id": OWNER,
        }
    ]
