"""The typed change feed of the SQLite store: jobs, executions, schedules and token
revocations after a seq, in one order (``Store.changes_since``, docs/feed.md).

Each table is paged on its own (``seq > n ORDER BY seq, id LIMIT limit``, completed
to the end of its last seq group), all in ONE read transaction, so the pages
are one snapshot: a transaction's job, execution and schedule rows share a seq and
are seen together or not at all.

Why the merged page misses nothing: a table whose page is not full gave all its rows
after n. A full page gave at least ``limit`` rows, all at seqs up to its last seq L,
and (with the group completion) every row of its table up to L. So the ``limit``
smallest merged rows lie at or below every full page's L, where every table's rows
are all present: the page ends after the ``limit``-th row, extended to the end of
that row's seq group, and the next page (after that seq) starts where it stopped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from jobdeck.domain.feed import Change, Record, Revocation
from jobdeck.store.sqlite.cron_rows import to_cron_job, to_execution
from jobdeck.store.sqlite.queries import Q
from jobdeck.store.sqlite.rows import Row, fetch, fetch_many, to_job


def _revocation(row: Row) -> Revocation:
    return Revocation(token_id=int(row["id"]), name=str(row["name"]))


# Order among records sharing a seq: jobs, then executions, then schedules, then
# revocations (then id). A revocation has a transaction, so a seq, of its own.
_TABLES: tuple[tuple[str, int, Callable[[Row], Record]], ...] = (
    ("changes_since", 0, to_job),
    ("execution_changes_since", 1, to_execution),
    ("cron_changes_since", 2, to_cron_job),
    ("revocation_changes_since", 3, _revocation),
)


def changes(conn: sqlite3.Connection, seq: int, limit: int) -> list[Change]:
    params = {"seq": seq, "limit": max(1, limit)}
    pages: list[tuple[int, list[Row], Callable[[Row], Record]]] = []
    # (On an error, Database.run rolls the read transaction back.)
    conn.execute(Q["begin_read"])
    for query, rank, convert in _TABLES:
        # Jobs in one step (rows.fetch_many): there may be many; schedules and
        # executions change far less often.
        if rank == 0:
            rows = fetch_many(conn, query, params)
        else:
            rows = fetch(conn.execute(Q[query], params))
        pages.append((rank, rows, convert))
    conn.execute(Q["commit"])
    keyed = sorted(
        (row["seq"], rank, row["id"], row, convert) for rank, rows, convert in pages for row in rows
    )
    # About ``limit``: stop at the first seq boundary at or after it (see above).
    end = len(keyed)
    if end > params["limit"]:
        last = keyed[params["limit"] - 1][0]
        end = params["limit"]
        while end < len(keyed) and keyed[end][0] == last:
            end += 1
    return [Change(seq=s, record=convert(row)) for s, _, _, row, convert in keyed[:end]]
