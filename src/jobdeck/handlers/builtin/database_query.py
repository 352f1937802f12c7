"""``database_query``: one SQL statement on the query database (docs/builtin-types.md).
Admin-only; template variables are replaced in
``parameters`` only, never in the statement's text."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from jobdeck.errors import PermanentFailure, ValidationError
from jobdeck.handlers.builtin.common import BuiltinHandler
from jobdeck.handlers.builtin.querydb import QueryTimeout, placeholders

if TYPE_CHECKING:
    from jobdeck.handlers.services import Services

# SQL errors that a retry cannot mend (the statement or its data is wrong). psycopg is
# imported when a job runs, not with jobdeck: every ``jobdeck`` command on SQLite
# started ~70 ms slower for it.
_PERMANENT_SQLITE = (sqlite3.ProgrammingError, sqlite3.IntegrityError, sqlite3.DataError)


class DatabaseQueryHandler(BuiltinHandler):
    admin_only = True
    templated_fields = ("parameters",)
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["query"],
        "properties": {
            "query": {"type": "string", "minLength": 1, "maxLength": 100_000},
            "parameters": {
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "additionalProperties": {"type": ["string", "number", "boolean", "null"]},
            },
            "timeout": {"type": "integer", "minimum": 1, "maximum": 3_600_000},
        },
    }

    @classmethod
    def check_more(cls, config: Mapping[str, Any], services: Services | None) -> None:
        given = config.get("parameters") or {}
        for name in placeholders(config["query"]):
            if name not in given:
                raise ValidationError(f"payload.parameters: no value for :{name}")

    async def run(self, config: dict[str, Any]) -> Any:
        import psycopg

        permanent = (
            *_PERMANENT_SQLITE,
            psycopg.ProgrammingError,
            psycopg.IntegrityError,
            psycopg.DataError,
        )
        database = self.services.query_database()
        timeout = config.get("timeout", 30_000)
        try:
            result = await database.run(config["query"], config.get("parameters") or {}, timeout)
        except QueryTimeout as exc:
            raise RuntimeError(f"database_query: {exc}") from None
        except permanent as exc:
            raise PermanentFailure(f"database_query: {exc}") from None
        except sqlite3.OperationalError as exc:
            if "syntax error" in str(exc) or "no such" in str(exc):
                raise PermanentFailure(f"database_query: {exc}") from None
            raise RuntimeError(f"database_query: {exc}") from None
        except psycopg.Error as exc:
            raise RuntimeError(f"database_query: {exc}") from None
        return {"rowcount": result.rowcount, "rows": result.rows, "truncated": result.truncated}
