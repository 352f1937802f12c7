"""Services: what handlers reach the outside world through (docs/builtin-types.md).

The deck owns one and every worker hands it to each attempt, so a handler finds
it at ``self.services``; nothing here is global. Tests build their own with a frozen
clock and an ``environ`` of their choosing.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobdeck.clock import Clock
from jobdeck.config import Settings
from jobdeck.domain.job import parse_statuses
from jobdeck.errors import DuplicateJobType, PermanentFailure
from jobdeck.handlers.builtin.cleanup import BUILTIN_CLEANUP_TARGETS, check_cleanup_statuses
from jobdeck.handlers.builtin.egress_guard import EgressGuard
from jobdeck.store.base import Store

# httpx is imported when first used: it was an eighth of a worker's start-up (docs/internals.md)
if TYPE_CHECKING:
    import httpx

    from jobdeck.handlers.builtin.egress import GuardedTransport
    from jobdeck.handlers.builtin.mailer import SmtpConfig
    from jobdeck.handlers.builtin.querydb import QueryDatabase
    from jobdeck.tokens import Principal

CleanupTarget = Callable[[datetime, Sequence[str]], Awaitable[int]]
"""A plugin's cleanup target: ``(before, statuses)`` → how many rows it removed."""


ApiTransports = Callable[["Principal"], "httpx.AsyncBaseTransport"]
"""``api_call``'s way into this process's application: a transport that reaches it as
the given principal (jobdeck.api.in_process; docs/builtin-types.md, "Identity")."""


class Services:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        store: Callable[[], Awaitable[Store]],
        *,
        environ: Mapping[str, str] | None = None,
        identities: Callable[[str], Awaitable[Principal]] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._store = store  # opens the store lazily, like the deck's own verbs
        self.environ = os.environ if environ is None else environ
        self.egress = EgressGuard.from_setting(settings.egress_allow)
        self.template_dirs: list[Path] = []  # added by plugins; searched before the default
        self._cleanup_targets: dict[str, CleanupTarget] = {}
        self._identities = identities
        self._http: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, GuardedTransport] = (
            weakref.WeakKeyDictionary()
        )
        self._tls_context: ssl.SSLContext | None = None
        self._closing: set[asyncio.Task[None]] = set()
        self._api: ApiTransports | None = None

    # --- outbound HTTP (always through the egress guard) ----------------------

    def http_transport(self) -> GuardedTransport:
        """The guarded transport of this event loop, shared by every attempt (callers do
        not close it). Sharing keeps connections alive between webhooks to one host
        name and builds the TLS context once: a new transport per request cost more CPU
        than the request (bench/webhook.py). A changed ``egress`` gets a new one."""
        loop = asyncio.get_running_loop()
        current = self._http.get(loop)
        if current is None or current.guard is not self.egress:
            from jobdeck.handlers.builtin.egress import GuardedTransport

            if current is not None:
                closing = loop.create_task(current.aclose())
                self._closing.add(closing)
                closing.add_done_callback(self._closing.discard)
            current = GuardedTransport(self.egress, verify=self._tls())
            self._http[loop] = current
        return current

    def _tls(self) -> ssl.SSLContext:
        if self._tls_context is None:
            import httpx

            self._tls_context = httpx.create_ssl_context()
        return self._tls_context

    async def aclose(self) -> None:
        """Close this loop's shared connections (the deck does when it closes)."""
        current = self._http.pop(asyncio.get_running_loop(), None)
        if current is not None:
            await current.aclose()

    def http_client(self, **options: Any) -> httpx.AsyncClient:
        from jobdeck.handlers.builtin.egress import guarded_client

        return guarded_client(self.egress, **options)

    # --- operator-chosen peers ------------------------------------------------

    @property
    def smtp(self) -> SmtpConfig:
        from jobdeck.handlers.builtin.mailer import SmtpConfig

        if not self.settings.smtp_url:
            raise PermanentFailure("email: no SMTP server is configured (JOBDECK_SMTP_URL)")
        return SmtpConfig.parse(self.settings.smtp_url)

    def query_database(self) -> QueryDatabase:
        from jobdeck.handlers.builtin.querydb import QueryDatabase

        url = self.settings.query_database_url
        if not url:
            raise PermanentFailure(
                "database_query: no query database is configured (JOBDECK_QUERY_DATABASE_URL)"
            )
        return QueryDatabase(url)

    def secret(self, name: str) -> str | None:
        """``{{secret:NAME}}``: the variable JOBDECK_SECRET_NAME, read when a job runs."""
        return self.environ.get(f"JOBDECK_SECRET_{name}")

    def add_template_dir(self, path: str | Path) -> None:
        folder = Path(path)
        if folder not in self.template_dirs:
            self.template_dirs.append(folder)

    # --- this application, as a job's creator (api_call) -------------------------

    async def principal_for(self, created_by: str) -> Principal:
        """The creator as it stands now (a revoked token: CreatorUnavailable)."""
        if self._identities is None:
            raise PermanentFailure("api_call: no token store to look the job's creator up in")
        return await self._identities(created_by)

    def serve_api_calls(self, transports: ApiTransports) -> None:
        """Set the application ``api_call`` reaches (``jobdeck serve``, ``jobdeck worker``
        and ``jobdeck.api.attach_api_calls`` do)."""
        self._api = transports

    def api_transport(self, principal: Principal) -> httpx.AsyncBaseTransport:
        if self._api is None:
            raise PermanentFailure(
                "api_call: this process serves no jobdeck application"
                " (see jobdeck.api.attach_api_calls)"
            )
        return self._api(principal)

    # --- the job store, through its verbs only ------------------------------------

    async def cron_name(self, cron_job_id: int | None) -> str | None:
        if cron_job_id is None:
            return None
        cron_job = await (await self._store()).get_cron_job(cron_job_id)
        return cron_job.definition.name if cron_job is not None else None

    def add_cleanup_target(self, name: str, target: CleanupTarget) -> None:
        if name in BUILTIN_CLEANUP_TARGETS or name in self._cleanup_targets:
            raise DuplicateJobType(f"cleanup target {name!r} is already registered")
        self._cleanup_targets[name] = target

    def cleanup_targets(self) -> list[str]:
        return [*BUILTIN_CLEANUP_TARGETS, *sorted(self._cleanup_targets)]

    async def cleanup(self, target: str, before: datetime, statuses: Sequence[str]) -> int:
        """Remove ``target``'s rows older than ``before``; how many were removed."""
        custom = self._cleanup_targets.get(target)
        if custom is not None:
            return int(await custom(before, statuses))
        store = await self._store()
        check_cleanup_statuses(target, statuses)
        if target == "jobs":
            return await store.cleanup(before, list(parse_statuses(list(statuses), "statuses")))
        if target == "job_history":
            return await store.prune_history(before)
        if target == "cron_executions":
            return await store.cleanup_executions(before)
        raise PermanentFailure(f"cleanup: unknown target {target!r}")
