"""BaseJobHandler: what plugin code subclasses to run queued jobs (docs/lifecycle.md; README.md).

A handler sees its job and a small context, never a store::

    class MyImportJob(BaseJobHandler):
        retry_delays = (5, 30)      # seconds; the last one repeats
        timeout = 600               # seconds; 0 = none

        async def execute(self):    # or a plain `def execute(self)`, run in a thread
            await self.update_progress(10, "Fetching data...")
            self.log("Starting import")
            return {"total": 0}     # the job's result

``update_progress`` works from both kinds of handler: in an ``async def execute`` it
returns an awaitable (``await self.update_progress(...)``); in a plain ``def execute``
(running in a worker thread) it writes before returning, so call it without
``await``. ``log`` never blocks and keeps lines in order. ``check_cancelled`` raises
:class:`JobCancelled` once the job is being cancelled (or its attempt has ended).

``config_schema`` (a JSON schema) is checked against the payload when a job is
created, so a bad configuration is refused then rather than failing later;
``admin_only`` types may be created by admin tokens only (docs/security.md). Outside
services (settings, the guarded HTTP client, the query database …) reach a handler
through ``self.services`` (see docs/builtin-types.md).
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Awaitable, Coroutine, Generator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from jobdeck.domain.job import Job
from jobdeck.domain.progress import clamp_progress, split_progress_args
from jobdeck.domain.values import METADATA_LIMIT, check_json
from jobdeck.errors import JobCancelled

if TYPE_CHECKING:
    from jobdeck.handlers.services import Services


class HandlerContext(Protocol):
    """What the runtime gives a handler for one attempt."""

    @property
    def job(self) -> Job: ...

    @property
    def cancel_requested(self) -> bool: ...

    @property
    def services(self) -> Services: ...

    def redact(self, value: str) -> None:
        """Scrub ``value`` (a resolved secret) from everything this attempt stores."""

    def on_loop_thread(self) -> bool:
        """True when called from the event loop that runs the attempt."""

    async def update_progress(
        self, progress: float, metadata: dict[str, Any] | None, message: str | None
    ) -> None:
        """Write progress; raises JobCancelled when the job is being cancelled."""

    def run_blocking(self, write: Coroutine[Any, Any, None]) -> None:
        """Run ``write`` on the attempt's loop from another thread and wait for it."""

    def log(self, message: str) -> None:
        """Append a ``log`` history line without blocking; lines keep their order."""


class _Done:
    """An already finished awaitable: what a sync handler's update_progress returns."""

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # makes this a generator


_DONE = _Done()
_ANY_OBJECT = {"type": "object"}


class BaseJobHandler:
    """Subclass and define ``execute`` (async or sync); its return value is the result."""

    retry_delays: ClassVar[Sequence[float] | None] = None
    """Backoff in seconds after attempt 1, 2, …; the last repeats. None: the default."""

    timeout: ClassVar[int | None] = None
    """Seconds an attempt may run (0 = no limit). None: the configured default."""

    config_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    """JSON schema of the payload, checked when a job of this type is created."""

    admin_only: ClassVar[bool] = False
    """Only admin tokens may create jobs of this type (docs/security.md)."""

    def __init__(self, context: HandlerContext) -> None:
        self.context = context

    @property
    def job(self) -> Job:
        return self.context.job

    @property
    def services(self) -> Services:
        return self.context.services

    @classmethod
    def check_config(cls, config: dict[str, Any], services: Services | None = None) -> None:
        """ValidationError naming the field when ``config`` breaks ``config_schema``
        (``services``: for checks against what is configured, when at hand)."""
        if cls.config_schema == _ANY_OBJECT:
            return  # the payload is already known to be an object
        from jobdeck.handlers.schema import check_schema

        check_schema(cls.config_schema, config, "payload")

    def execute(self) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define execute()")

    def update_progress(
        self,
        progress: float,
        metadata_or_message: Mapping[str, Any] | str | None = None,
        message: str | None = None,
    ) -> Awaitable[None]:
        """Report progress 0–100 with optional metadata (merged) and/or a message.

        Await it in async handlers; in sync handlers it has already written when it
        returns. Raises JobCancelled when the job is being cancelled.
        """
        value = clamp_progress(progress)
        metadata, text = split_progress_args(metadata_or_message, message)
        if metadata is not None:
            check_json(metadata, "metadata", METADATA_LIMIT)
        self.check_cancelled()
        write = self.context.update_progress(value, metadata, text)
        if self.context.on_loop_thread():
            return write
        self.context.run_blocking(write)
        return _DONE

    def log(self, message: object) -> None:
        """Add a line to the job's history, streamed to subscribers."""
        self.context.log(str(message))

    def check_cancelled(self) -> None:
        """Raise JobCancelled when the job is being cancelled: call it between steps."""
        if self.context.cancel_requested:
            raise JobCancelled()


# Asked once per attempt; inspect's answer costs a noticeable part of a no-op job's stay
# in the executor, and a class's execute does not change.
_ASYNC: weakref.WeakKeyDictionary[type[BaseJobHandler], bool] = weakref.WeakKeyDictionary()


def is_async_handler(handler_class: type[BaseJobHandler]) -> bool:
    answer = _ASYNC.get(handler_class)
    if answer is None:
        answer = _ASYNC[handler_class] = inspect.iscoroutinefunction(handler_class.execute)
    return answer
