"""What every built-in type shares: its configuration checked at creation (schema
and template variables), resolved once when the attempt starts, secrets handed to
the attempt for scrubbing (docs/builtin-types.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from jobdeck.errors import PermanentFailure, ValidationError
from jobdeck.handlers.base import BaseJobHandler
from jobdeck.handlers.builtin import templating

if TYPE_CHECKING:
    from jobdeck.handlers.services import Services

# A response or result body is cut to this many characters before it is stored.
BODY_LIMIT = 16 * 1024


class BuiltinHandler(BaseJobHandler):
    templated_fields: ClassVar[tuple[str, ...] | None] = None
    """Top-level fields whose strings get template variables; None: every field."""

    @classmethod
    def check_config(cls, config: dict[str, Any], services: Services | None = None) -> None:
        super().check_config(config, services)
        templating.check(config, cls.templated_fields)
        cls.check_more(config, services)

    @classmethod
    def check_more(cls, config: Mapping[str, Any], services: Services | None) -> None:
        """Rules a JSON schema says badly (exclusive fields and the like)."""

    async def execute(self) -> Any:
        job = self.job
        try:  # checked at creation; again here for jobs that reached the store otherwise
            type(self).check_config(job.payload, self.services)
        except ValidationError as exc:
            raise PermanentFailure(exc.message) from None
        known = templating.values(
            self.services.clock.now(), job.job_id, await self.services.cron_name(job.cron_job_id)
        )
        config = templating.resolve(job.payload, known, self._secret, self.templated_fields)
        return await self.run(config)

    def _secret(self, name: str) -> str | None:
        value = self.services.secret(name)
        if value is not None:
            self.context.redact(value)
        return value

    async def run(self, config: dict[str, Any]) -> Any:
        raise NotImplementedError


def capped(text: str, limit: int = BODY_LIMIT) -> tuple[str, bool]:
    """``text`` cut to ``limit`` characters, and whether it was cut."""
    return (text[:limit], True) if len(text) > limit else (text, False)
