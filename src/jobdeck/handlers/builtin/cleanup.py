"""``cleanup``: remove old rows of a target through the store's verbs, never raw
SQL (docs/builtin-types.md). Admin-only."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from jobdeck.errors import ValidationError
from jobdeck.handlers.builtin.common import BuiltinHandler

BUILTIN_CLEANUP_TARGETS = ("jobs", "cron_executions", "job_history")


def check_cleanup_statuses(target: str, statuses: object, field: str = "statuses") -> None:
    """Statuses choose among the jobs target's rows (a plugin's target receives them
    too); the other built-in targets have none. The one check, when a cleanup job or
    schedule is created and when it runs (``Services.cleanup``)."""
    if statuses and target in BUILTIN_CLEANUP_TARGETS and target != "jobs":
        raise ValidationError(f"{field}: not used by the {target} target (only by jobs)")


if TYPE_CHECKING:
    from jobdeck.handlers.services import Services


class CleanupHandler(BuiltinHandler):
    admin_only = True
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["target"],
        "properties": {
            "target": {
                "type": "string",
                "pattern": "^[A-Za-z0-9_:.-]{1,100}$",
                "description": "must be jobs, cron_executions, job_history or a plugin's target",
            },
            "older_than_days": {"type": "number", "minimum": 0, "maximum": 36_500},
            "statuses": {
                "type": "array",
                "items": {"enum": ["completed", "failed", "cancelled"]},
                "uniqueItems": True,
            },
        },
    }

    @classmethod
    def check_more(cls, config: Mapping[str, Any], services: Services | None) -> None:
        target = config["target"]
        if services is not None and target not in services.cleanup_targets():
            known = ", ".join(services.cleanup_targets())
            raise ValidationError(f"payload.target: unknown target {target!r} (known: {known})")
        check_cleanup_statuses(target, config.get("statuses"), "payload.statuses")

    async def run(self, config: dict[str, Any]) -> Any:
        days = config.get("older_than_days", 30)
        before = self.services.clock.now() - timedelta(days=days)
        statuses = list(config.get("statuses") or [])
        removed = await self.services.cleanup(config["target"], before, statuses)
        self.log(f"cleanup: removed {removed} from {config['target']}")
        return {"target": config["target"], "removed": removed, "before": before.isoformat()}
