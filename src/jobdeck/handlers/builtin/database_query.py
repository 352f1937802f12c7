"""``database_query``: one SQL statement on the query database (docs/builtin-types.md).
Admin-only; template variables are replaced in
``parameters`` only, never in the statement's text."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg

from jobdeck.errors import PermanentFailure, ValidationError
from jobdeck.handlers.builtin.common import BuiltinHandler
from jobdeck.handlers.builtin.querydb import QueryTimeout, placeholders

if TYPE_CHECKING:
    from jobdeck.handlers.services import Services

# SQL errors that a retry cannot mend (the statement or its data is wrong).
_PERMANENT = (
    sqlite3.ProgrammingError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
    psycopg.ProgrammingError,
    psycopg.IntegrityError,
    psycopg.DataError,
)


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
        database = self.services.query_database()
        timeout = config.get("timeout", 30_000)
        try:
            result = await database.run(config["query"], config.get("parameters") or {}, timeout)
        except QueryTimeout as exc:
            raise RuntimeError(f"database_query: {exc}") from None
        except _PERMANENT as exc:
            raise PermanentFailure(f"database_query: {exc}") from None
        except sqlite3.OperationalError as exc:
            if "syntax error" in str(exc) or "no such" in str(exc):
                raise PermanentFailure(f"database_query: {exc}") from None
            raise RuntimeError(f"database_query: {exc}") from None
        except psycopg.Error as exc:
            raise RuntimeError(f"database_query: {exc}") from None
        return {"rowcount": result.rowcount, "rows": result.rows, "truncated": result.truncated}
