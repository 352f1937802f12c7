"""Job types → handler classes. Registering a type twice is an error, not an override."""

from __future__ import annotations

from jobdeck.errors import DuplicateJobType, UnknownJobType, ValidationError
from jobdeck.handlers.base import BaseJobHandler


class Registry:
    def __init__(self) -> None:
        self._handlers: dict[str, type[BaseJobHandler]] = {}

    def register(self, job_type: str, handler_class: type[BaseJobHandler]) -> None:
        if not isinstance(job_type, str) or not job_type.strip():
            raise ValidationError("job type must be a non-empty string")
        if not (isinstance(handler_class, type) and issubclass(handler_class, BaseJobHandler)):
            raise ValidationError(f"handler for {job_type!r} must subclass BaseJobHandler")
        if job_type in self._handlers:
            raise DuplicateJobType(f"job type {job_type!r} is already registered")
        self._handlers[job_type] = handler_class

    def get(self, job_type: str) -> type[BaseJobHandler]:
        try:
            return self._handlers[job_type]
        except KeyError:
            raise UnknownJobType(
                f"unknown job type {job_type!r}: register a handler for it first"
            ) from None

    def admin_only(self, job_type: str) -> bool:
        """Whether only admin tokens may create jobs of this type (declared by the
        handler's ``admin_only``); False for an unknown type."""
        handler = self._handlers.get(job_type)
        return handler is not None and handler.admin_only

    def types(self) -> list[str]:
        return sorted(self._handlers)

    def __contains__(self, job_type: object) -> bool:
        return job_type in self._handlers
