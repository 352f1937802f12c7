"""History rows of the SQLite store, kept within ``history_limit`` per job.

Every UPDATE that adds history also adds 1 to the job's ``history_count``, an upper
bound of its rows (pruning by age only lowers the real count). Only when that bound
passes the limit is the job recounted and its oldest rows dropped: the common case
costs nothing beyond the insert.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

from jobdeck.store.sqlite.queries import Q
from jobdeck.store.sqlite.rows import Row, dumps


def append(
    conn: sqlite3.Connection,
    limit: int,
    rows: Sequence[Row],
    kind: str,
    message: str | None,
    data: str | None,
    at: int,
    *,
    data_of: Callable[[Row], str | None] | None = None,
    message_of: Callable[[Row], str | None] | None = None,
) -> None:
    """One history row per job row (as returned by the UPDATE that counted it)."""
    # One statement for the batch: executemany would be one step (one GIL hand-over)
    # per row.
    items = [
        [
            row["id"],
            message if message_of is None else message_of(row),
            data if data_of is None else data_of(row),
        ]
        for row in rows
    ]
    conn.execute(Q["insert_history_many"], {"rows": dumps(items), "kind": kind, "at": at})
    for row in rows:
        if row["history_count"] > limit:
            _bound(conn, limit, row["id"])


def _bound(conn: sqlite3.Connection, limit: int, rowid: int) -> None:
    actual = int(conn.execute(Q["history_count"], (rowid,)).fetchone()[0])
    if actual > limit:
        conn.execute(Q["history_drop_oldest"], (rowid, actual - limit))
        actual = limit
    conn.execute(Q["set_history_count"], (actual, rowid))
