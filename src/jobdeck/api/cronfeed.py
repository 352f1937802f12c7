"""The ``cron`` WebSocket topic (docs/feed.md): schedule and execution records of the
change feed as ``cron_update`` / ``execution_update`` messages.

Unlike a job, such a record cannot be encoded from itself alone: an execution's JSON
carries its job, and who may see it depends on its schedule's binding. So these
records are encoded here, with lookups, before they reach the hub's board (see
``Hub._follow``); each is encoded once for every socket, like a job update.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from jobdeck.api.cron_schemas import cron_job_json, execution_json
from jobdeck.api.frames import text_frame
from jobdeck.domain.feed import Change
from jobdeck.domain.job import Job
from jobdeck.domain.schedule import CronJob, Execution
from jobdeck.errors import CronJobNotFound, JobdeckError
from jobdeck.tokens import Owned, Principal

log = logging.getLogger("jobdeck.ws")

OWNERS_KEPT = 10_000  # schedules whose binding is remembered (a few dozen bytes each)


@dataclass(eq=False)
class CronEntry:
    """A schedule's or an execution's latest state on the board, encoded."""

    seq: int
    key: str  # "cron:{id}" or "execution:{id}": one entry per record
    owner: Owned | None  # the schedule (an execution's: its schedule's); None: unknown
    text: str
    _frame: bytes | None = None

    @property
    def frame(self) -> bytes:
        if self._frame is None:
            self._frame = text_frame(self.text.encode())  # once, for every socket
        return self._frame

    def visible_to(self, principal: Principal) -> bool:
        """A bound token sees only its own schedules; an unknown owner (the schedule
        was deleted meanwhile) only unbound tokens."""
        if self.owner is None:
            return not principal.bound
        return principal.sees(self.owner)


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)


class CronFeed:
    """Encodes the cron records of a feed batch; remembers each schedule's binding."""

    def __init__(self, deck: Any) -> None:
        self.deck = deck
        self._owners: dict[int, CronJob] = {}

    def _remember(self, cron: CronJob) -> None:
        self._owners.pop(cron.id, None)
        self._owners[cron.id] = cron
        if len(self._owners) > OWNERS_KEPT:
            self._owners.pop(next(iter(self._owners)))

    async def entries(self, changes: Sequence[Change]) -> dict[int, CronEntry]:
        """Entries for the schedule and execution records among ``changes``, by their
        index there. Their jobs are taken from ``changes`` when there (the same
        transaction), else read from the store."""
        jobs: dict[str, Job] | None = None
        for change in changes:
            if isinstance(change.record, CronJob):
                self._remember(change.record)
        out: dict[int, CronEntry] = {}
        for index, change in enumerate(changes):
            record = change.record
            if isinstance(record, CronJob):
                message = {
                    "type": "cron_update",
                    "seq": change.seq,
                    "cron_job": cron_job_json(record, self.deck.crons),
                }
                out[index] = CronEntry(change.seq, f"cron:{record.id}", record, _dump(message))
            elif isinstance(record, Execution):
                if jobs is None:
                    jobs = {c.record.job_id: c.record for c in changes if isinstance(c.record, Job)}
                job = jobs.get(record.job_id or "") or await self._job(record.job_id)
                owner = await self._owner(record.cron_job_id)
                if job is not None and owner is not None and _binding(job) != _binding(owner):
                    # One frame serves every socket that sees the schedule; a job left
                    # under another binding (the schedule was moved) is not theirs to see.
                    job = None
                message = {
                    "type": "execution_update",
                    "seq": change.seq,
                    "execution": execution_json(record, job),
                }
                out[index] = CronEntry(change.seq, f"execution:{record.id}", owner, _dump(message))
        return out

    async def _job(self, job_id: str | None) -> Any:
        if job_id is None:
            return None
        try:
            return await self.deck.get_job(job_id)
        except JobdeckError as exc:  # the update still goes out, its job shown as unknown
            log.warning("cron topic: could not read job %s: %s", job_id, exc)
            return None

    async def _owner(self, cron_job_id: int) -> CronJob | None:
        owner = self._owners.get(cron_job_id)
        if owner is not None:
            return owner
        try:
            found: CronJob = await self.deck.crons.get(cron_job_id)
        except CronJobNotFound:
            return None
        except JobdeckError as exc:  # fail closed: unbound tokens only
            log.warning("cron topic: could not read cron job %s: %s", cron_job_id, exc)
            return None
        self._remember(found)
        return found


def _binding(item: Job | CronJob) -> tuple[str | None, str | None]:
    return item.plugin_id, item.store_id
