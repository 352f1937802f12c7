"""Settings, frozen, read from ``JOBDECK_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from jobdeck.errors import ValidationError

DEFAULT_DATABASE_URL = "sqlite:///./jobdeck.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    plugins_dir: str = "./plugins"
    host: str = "127.0.0.1"
    port: int = 8000
    smtp_url: str | None = None
    query_database_url: str | None = None
    egress_allow: str = ""
    admin_token: str | None = None
    templates_dir: str = "./templates"
    # Runtime timings, seconds (docs/lifecycle.md).
    lease_seconds: float = 30.0
    heartbeat_seconds: float = 10.0
    cancel_grace_seconds: float = 10.0
    shutdown_grace_seconds: float = 25.0
    maintenance_seconds: float = 1.0
    poll_seconds: float = 0.5
    # SQLite: how often a process looks for other processes' commits (PRAGMA
    # data_version), which wakes its workers and WebSocket clients; `jobdeck scheduler`
    # needs less (docs/cron.md).
    commit_watch_seconds: float = 0.002
    concurrency: int = 10
    tracked_timeout_seconds: int = 300
    queued_timeout_seconds: int = 300
    history_limit: int = 500
    retention_days: int | None = None

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get("JOBDECK_" + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw, f.type)
        return cls(**values).with_(**overrides)


def _convert(name: str, raw: str, kind: Any) -> Any:
    text = str(kind)
    try:
        if "float" in text:
            return float(raw)
        if "int" in text:
            return int(raw)
    except ValueError as exc:
        raise ValidationError(f"JOBDECK_{name.upper()}: not a number: {raw!r}") from exc
    return raw
