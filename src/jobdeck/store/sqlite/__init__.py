"""The SQLite store: one file, WAL, one writer thread per store."""

from __future__ import annotations

from jobdeck.store.sqlite.store import SQLiteStore

__all__ = ["SQLiteStore"]
