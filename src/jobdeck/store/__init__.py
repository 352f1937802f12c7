"""Job stores: one protocol, one implementation per database."""

from __future__ import annotations

from collections.abc import Collection

from jobdeck.store.base import Store, Token


async def open_store(
    database_url: str,
    *,
    history_limit: int = 500,
    commit_watch_seconds: float | None = None,
    listen: Collection[str] | None = None,
) -> Store:
    """Open (and migrate) the store a URL names: ``sqlite:///path`` or ``postgresql://…``.
    ``commit_watch_seconds``: SQLite's look for other processes' commits (None: default).
    ``listen``: the signals to hear from other processes on PostgreSQL (None: all; SQLite
    hears every commit anyway)."""
    from jobdeck.errors import ValidationError

    if database_url.startswith("sqlite:"):
        from jobdeck.store.sqlite.store import SQLiteStore

        store: Store = SQLiteStore(
            database_url, history_limit=history_limit, commit_watch_seconds=commit_watch_seconds
        )
    elif database_url.startswith(("postgresql:", "postgres:")):
        from jobdeck.store.postgres.store import PostgresStore

        store = PostgresStore(
            database_url, history_limit=history_limit, listen=True if listen is None else listen
        )
    else:
        raise ValidationError(
            f"unsupported database URL {database_url!r}: use sqlite:///path or postgresql://…"
        )
    await store.open()
    return store


__all__ = ["Store", "Token", "open_store"]
