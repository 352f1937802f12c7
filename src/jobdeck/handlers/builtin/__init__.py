"""The built-in job types (docs/builtin-types.md), registered in every
deck."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from jobdeck.handlers.base import BaseJobHandler
from jobdeck.handlers.builtin.api_call import ApiCallHandler
from jobdeck.handlers.builtin.cleanup import CleanupHandler
from jobdeck.handlers.builtin.database_query import DatabaseQueryHandler
from jobdeck.handlers.builtin.email import EmailHandler
from jobdeck.handlers.builtin.templating import references_secret
from jobdeck.handlers.builtin.webhook import WebhookHandler
from jobdeck.handlers.registry import Registry

BUILTIN_TYPES: Mapping[str, type[BaseJobHandler]] = MappingProxyType(
    {
        "webhook": WebhookHandler,
        "api_call": ApiCallHandler,
        "email": EmailHandler,
        "database_query": DatabaseQueryHandler,
        "cleanup": CleanupHandler,
    }
)


def register_builtins(registry: Registry) -> None:
    for job_type, handler in BUILTIN_TYPES.items():
        registry.register(job_type, handler)


__all__ = ["BUILTIN_TYPES", "references_secret", "register_builtins"]
