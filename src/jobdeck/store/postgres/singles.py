"""Single-job inserts of one process that arrive together go to the server together.

An insert of one job is one statement in autocommit (queries.sql, insert_jobs): one
round trip, one commit and its WAL flush, one feed registration, one wake-up to
announce. Under many concurrent callers (an API process taking requests, a plugin
fanning out) that fixed part is most of each insert's cost, on the client and on the
server. So while :data:`IN_FLIGHT` single inserts are running, the next callers wait,
and go as one statement as soon as one of those returns: still one round trip for
each job, and the jobs of the group share a transaction and a seq, as any records
written in one transaction do (docs/feed.md). Each job keeps the ``now`` its caller
passed as its created_at. One caller alone never waits.

A group that fails for another reason than the connection (which the store retries,
inserts being idempotent by job_id) is tried again one job at a time, so one caller's
bad job never fails another's. Each job keeps the job_id chosen for the group: should
the failure come after the group's statement committed (on the client, reading its
answer), the job's own try then finds it there instead of writing it twice. A caller
cancelled while it waits leaves the group before it is sent; once sent, its job is
written (as a cancellation that arrives after the statement reached the server may
leave it written anyway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import psycopg

from jobdeck.domain.ids import new_job_ids
from jobdeck.domain.job import Job, NewJob

# Single inserts running at once before the next callers wait to go together. One:
# 16 callers over 2 processes then enqueued as fast as plain INSERTs of a narrow row,
# where 2 reached two thirds of that and 4 a third (bench/enqueue_concurrent.py). A
# caller that finds one running waits for it, at most one statement's time.
IN_FLIGHT = 1
# The largest group one statement takes (the rest go in the next).
MAX_GROUP = 500

# jobs, each one's now, and their job_ids (None: the insert chooses them).
Insert = Callable[
    [Sequence[NewJob], Sequence[datetime], Sequence[str] | None], Awaitable[list[Job]]
]


class _Waiting:
    __slots__ = ("future", "job", "now")

    def __init__(self, job: NewJob, now: datetime, future: asyncio.Future[Job]) -> None:
        self.job = job
        self.now = now
        self.future = future


class Singles:
    """Runs single-job inserts through ``insert`` (jobs, each one's now, their job_ids),
    grouping the callers that arrive while :data:`IN_FLIGHT` of them are running."""

    def __init__(self, insert: Insert) -> None:
        self._insert = insert
        self._running = 0
        self._waiting: list[_Waiting] = []
        self._groups: set[asyncio.Task[None]] = set()

    async def insert(self, job: NewJob, now: datetime) -> Job:
        if self._running < IN_FLIGHT and not self._waiting:
            self._running += 1
            try:
                [inserted] = await self._insert([job], [now], None)
            finally:
                self._running -= 1
                self._next()
            return inserted
        waiting = _Waiting(job, now, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        try:
            return await waiting.future
        except asyncio.CancelledError:
            if waiting in self._waiting:  # not sent yet: its job is not written
                self._waiting.remove(waiting)
            raise

    async def wait(self) -> None:
        """Until every group already sent has its outcome."""
        while self._groups:
            await asyncio.gather(*self._groups, return_exceptions=True)

    def _next(self) -> None:
        """Send the callers waiting, if a place is free."""
        if not self._waiting or self._running >= IN_FLIGHT:
            return
        group, self._waiting = self._waiting[:MAX_GROUP], self._waiting[MAX_GROUP:]
        self._running += 1
        task = asyncio.create_task(self._send(group), name="jobdeck-pg-inserts")
        self._groups.add(task)
        task.add_done_callback(self._groups.discard)

    async def _send(self, group: list[_Waiting]) -> None:
        try:
            # Chosen once for the group and each job's own try below: inserts are
            # idempotent by job_id.
            job_ids = new_job_ids(len(group))
            try:
                inserted = await self._insert(
                    [w.job for w in group], [w.now for w in group], job_ids
                )
            except Exception as exc:
                if len(group) == 1 or _unavailable(exc):
                    for waiting in group:
                        _settle(waiting.future, exc=exc)
                    return
                # One job may have failed the group: each one alone gets its own outcome.
                for waiting, job_id in zip(group, job_ids, strict=True):
                    try:
                        [job] = await self._insert([waiting.job], [waiting.now], [job_id])
                    except Exception as alone:
                        _settle(waiting.future, exc=alone)
                    else:
                        _settle(waiting.future, job)
                return
            for waiting, job in zip(group, inserted, strict=True):
                _settle(waiting.future, job)
        except BaseException as exc:  # cancelled (the store closes): nobody waits forever
            for waiting in group:
                _settle(waiting.future, exc=exc)
            raise
        finally:
            self._running -= 1
            self._next()


def _settle(
    future: asyncio.Future[Job], job: Job | None = None, exc: BaseException | None = None
) -> None:
    if future.done():  # its caller was cancelled meanwhile
        return
    if isinstance(exc, asyncio.CancelledError):
        future.cancel()
    elif exc is not None:
        future.set_exception(exc)
    else:
        assert job is not None
        future.set_result(job)


def _unavailable(exc: BaseException) -> bool:
    """The store gave up on the server (retries exhausted): trying each job again
    would only wait as long once more per job."""
    return isinstance(exc.__cause__, psycopg.OperationalError)
