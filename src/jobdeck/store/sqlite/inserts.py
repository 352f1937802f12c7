"""The one path that inserts jobs (``insert_jobs``, and the jobs a cron run creates), so
every new job looks the same: status pending, history ``created``, the writer's seq.

:class:`NewRows` does the encoding that needs no lock (ids, JSON, timestamps) before
the write transaction, :meth:`NewRows.write` the inserts inside it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime
from itertools import chain
from typing import Any

from jobdeck.domain.ids import new_job_ids
from jobdeck.domain.job import Job, NewJob, inserted_job
from jobdeck.domain.jsontext import object_text
from jobdeck.store.sqlite.queries import Q, repeated_values
from jobdeck.store.sqlite.rows import as_read, dumps, insert_row, to_ts, ts_at

MULTI_ROW = 50  # rows per multi-row INSERT (jobs: up to 24 parameters a row)


class NewRows:
    """``jobs`` ready to insert at ``now``; ``job_ids`` given, or new UUIDv7s."""

    __slots__ = ("at", "created", "job_ids", "jobs", "metadatas", "payloads", "run_ats", "times")

    def __init__(
        self, jobs: Sequence[NewJob], now: datetime, job_ids: Sequence[str] | None = None
    ) -> None:
        self.jobs = jobs
        self.at = at = to_ts(now)
        self.created = created = ts_at(at)
        self.job_ids = list(job_ids) if job_ids is not None else new_job_ids(len(jobs))
        self.payloads = [object_text(new.payload, new.payload_json, dumps) for new in jobs]
        self.metadatas = [object_text(new.metadata, new.metadata_json, dumps) for new in jobs]
        # Most jobs run at once: their run_at is ``now`` itself, converted once here.
        self.run_ats = [
            at if new.run_at is None or new.run_at is now else to_ts(new.run_at) for new in jobs
        ]
        self.times = [
            created if new.run_at is None or new.run_at is now else as_read(new.run_at)
            for new in jobs
        ]

    def write(self, conn: sqlite3.Connection, seq: int) -> list[Job]:
        """Insert them (inside a Tx whose seq is ``seq``) with their ``created`` history;
        the Jobs as they now read, in order. At most once per transaction: the history
        insert finds the new jobs as the rows carrying ``seq``."""
        if not self.jobs:
            return []
        jobs, job_ids = self.jobs, self.job_ids
        # Ids assigned here, under the write lock, so the rows go in as a few
        # multi-row INSERTs with no per-row round trip to learn them.
        first = int(conn.execute(Q["last_job_id"]).fetchone()[0]) + 1
        rows = [
            insert_row(
                new,
                first + i,
                job_ids[i],
                self.payloads[i],
                self.metadatas[i],
                self.run_ats[i],
                self.at,
                seq,
            )
            for i, new in enumerate(jobs)
        ]
        for query in ("insert_job_bare", "insert_job"):
            _insert_rows(conn, query, [row for name, row in rows if name == query])
        conn.execute(Q["insert_created_history"], {"seq": seq, "at": self.at})
        return [
            inserted_job(new, first + i, job_ids[i], seq, self.times[i], self.created)
            for i, new in enumerate(jobs)
        ]


def _insert_rows(conn: sqlite3.Connection, query: str, rows: Sequence[tuple[Any, ...]]) -> None:
    whole = len(rows) - len(rows) % MULTI_ROW
    if whole:
        conn.executemany(
            repeated_values(query, MULTI_ROW),
            [
                tuple(chain.from_iterable(rows[i : i + MULTI_ROW]))
                for i in range(0, whole, MULTI_ROW)
            ],
        )
    if whole < len(rows):
        conn.executemany(Q[query], rows[whole:])
