"""API tokens, scopes and short-lived grants (docs/security.md).

Secrets are random, shown once, and stored only as SHA-256 hashes: a token is
high-entropy, so a fast hash is enough (no password stretching needed) and lets
the store look it up by hash. Grants (login codes, WebSocket tickets, UI
sessions) are secrets of the same kind tied to a token, so revoking the token
ends them all.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from jobdeck.domain.job import LOCAL_CREATOR
from jobdeck.errors import PermanentFailure, StoreError, ValidationError
from jobdeck.handlers.builtin import BUILTIN_TYPES, references_secret
from jobdeck.handlers.registry import Registry
from jobdeck.store.base import Store, Token

log = logging.getLogger("jobdeck.tokens")

SCOPES = ("admin", "jobs:read", "jobs:write", "cron:read", "cron:write")
TOKEN_PREFIX = "jdk_"
ENV_ADMIN_NAME = "env-admin"  # the row mirroring JOBDECK_ADMIN_TOKEN
FIRST_ADMIN_NAME = "admin"

LOGIN_CODE_TTL = timedelta(minutes=10)
TICKET_TTL = timedelta(seconds=60)
SESSION_TTL = timedelta(days=7)

# What a job or schedule created by a plugin hook acts with (``api_call``): bound to
# that plugin, every scope below admin (docs/builtin-types.md, "Identity").
PLUGIN_SCOPES = ("jobs:write", "cron:write")

# The built-in types whose handler declares ``admin_only`` (derived, not declared
# here: with a registry at hand, ask ``Registry.admin_only``, which sees plugins too).
ADMIN_ONLY_TYPES = frozenset(t for t, handler in BUILTIN_TYPES.items() if handler.admin_only)


def new_secret(prefix: str = TOKEN_PREFIX) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    # surrogatepass: a malformed secret from a client hashes (to nothing stored)
    # instead of raising.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def parse_scopes(raw: Iterable[str]) -> tuple[str, ...]:
    """Scopes from CLI/API input (repeated or comma-separated); unknown ones are an error."""
    scopes: list[str] = []
    for item in raw:
        for part in str(item).split(","):
            scope = part.strip()
            if not scope:
                continue
            if scope not in SCOPES:
                raise ValidationError(f"scope must be one of {', '.join(SCOPES)}, not {scope!r}")
            if scope not in scopes:
                scopes.append(scope)
    if not scopes:
        raise ValidationError("scope: give at least one scope")
    return tuple(scopes)


def grants(scopes: Iterable[str], needed: str) -> bool:
    """admin implies every scope; a ``:write`` scope implies its ``:read``."""
    held = set(scopes)
    if "admin" in held or needed in held:
        return True
    area, _, kind = needed.partition(":")
    return kind == "read" and f"{area}:write" in held


class Owned(Protocol):
    """Anything with the fields a binding restricts (Job, CronJob, ...)."""

    @property
    def plugin_id(self) -> str | None: ...

    @property
    def store_id(self) -> str | None: ...


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name, scopes and bindings."""

    token_id: int | None
    name: str
    scopes: tuple[str, ...]
    plugin: str | None = None
    store: str | None = None

    @classmethod
    def of(cls, token: Token) -> Principal:
        return cls(token.id, token.name, tuple(token.scopes), token.plugin, token.store)

    @classmethod
    def local(cls) -> Principal:
        """The local operator (CLI, Python API): admin."""
        return cls(None, LOCAL_CREATOR, ("admin",))

    @classmethod
    def for_plugin(cls, plugin: str) -> Principal:
        """A plugin acting through its hooks: bound to that plugin, no admin."""
        return cls(None, f"plugin:{plugin}", PLUGIN_SCOPES, plugin=plugin)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    @property
    def bound(self) -> bool:
        return self.plugin is not None or self.store is not None

    def can(self, scope: str) -> bool:
        return grants(self.scopes, scope)

    def sees(self, item: Owned) -> bool:
        """A bound token only sees items of its plugin and/or store."""
        if self.plugin is not None and item.plugin_id != self.plugin:
            return False
        return not (self.store is not None and item.store_id != self.store)

    @property
    def created_by(self) -> str:
        """The ``created_by`` of what this caller creates (docs/api.md): the token's id and
        name (the name alone may be reused once the token is revoked); ``plugin:{name}``
        and ``local`` for the principals of plugins and of the local operator."""
        if self.token_id is None:
            return self.name
        return f"token:{self.token_id}:{self.name}"

    def refusal(
        self, job_type: Any, configuration: Any, registry: Registry | None = None
    ) -> str | None:
        """Why this caller may not create a job or schedule of ``job_type`` with
        ``configuration`` (an admin-only type, or a ``{{secret:NAME}}`` reference: docs/security.md,
        docs/builtin-types.md), or None. The one rule every API path that creates asks."""
        if self.is_admin:
            return None
        if isinstance(job_type, str) and not self.may_schedule(job_type, registry):
            return f"type {job_type!r} needs an admin token"
        if configuration is not None and references_secret(configuration):
            return "referencing a secret ({{secret:NAME}}) needs an admin token"
        return None

    def may_schedule(self, job_type: str, registry: Registry | None = None) -> bool:
        """Admin-only types are declared by their handler (``admin_only``); without a
        registry the built-in types are consulted."""
        if self.is_admin:
            return True
        if registry is not None:
            return not registry.admin_only(job_type)
        return job_type not in ADMIN_ONLY_TYPES

    def binding_conflict(
        self, store_id: Any, plugin_id: Any, *, fields: tuple[str, str] = ("storeId", "pluginId")
    ) -> str | None:
        """Why the requested store/plugin contradicts the binding, or None; ``fields``
        names them as the caller's API spells them."""
        if self.store is not None and store_id not in (None, self.store):
            return f"{fields[0]}: this token is bound to store {self.store!r}"
        if self.plugin is not None and plugin_id not in (None, self.plugin):
            return f"{fields[1]}: this token is bound to plugin {self.plugin!r}"
        return None


class CreatorUnavailable(PermanentFailure):
    """A job's creator can no longer act (token revoked or gone): a retry cannot help."""


TOUCH_EVERY = timedelta(minutes=1)  # last_used_at precision: one write a minute at most


class Tokens:
    """Token verbs over the deck's store; the deck owns one (``deck.tokens``), so the
    API and the CLI never reach into the store for them."""

    def __init__(self, store: Callable[[], Awaitable[Store]], now: Callable[[], datetime]) -> None:
        self._store = store  # opens the store lazily, like the deck's own verbs
        self._now = now  # the deck's clock at call time (tests swap it)

    async def create_token(
        self,
        name: str,
        scopes: Sequence[str],
        *,
        plugin: str | None = None,
        store_id: str | None = None,
    ) -> tuple[Token, str]:
        """A new token and its secret (the only time the secret exists in clear)."""
        if not name or not name.strip():
            raise ValidationError("name: a token needs a name")
        checked = parse_scopes(scopes)
        secret = new_secret()
        store = await self._store()
        token = await store.create_token(
            name.strip(),
            hash_secret(secret),
            checked,
            plugin or None,
            store_id or None,
            self._now(),
        )
        return token, secret

    async def list_tokens(self) -> list[Token]:
        """Every token, revoked ones included (``revoked_at`` set)."""
        return await (await self._store()).list_tokens()

    async def revoke_token(self, name: str) -> bool:
        """False when no unrevoked token has that name."""
        return await (await self._store()).revoke_token(name, self._now())

    async def principal_for(self, created_by: str) -> Principal:
        """Who ``created_by`` is now, looked up when an ``api_call`` job runs
        (docs/builtin-types.md, "Identity"): the token as it stands (CreatorUnavailable
        once revoked or gone), a plugin's principal, or the local operator."""
        if created_by == LOCAL_CREATOR:
            return Principal.local()
        kind, _, rest = created_by.partition(":")
        if kind == "plugin" and rest:
            return Principal.for_plugin(rest)
        token_id, _, name = rest.partition(":")
        if kind != "token" or not token_id.isdigit() or not name:
            raise CreatorUnavailable(f"the job's creator {created_by!r} cannot act")
        found = [t for t in await self.list_tokens() if t.id == int(token_id)]
        if not found or found[0].name != name:
            raise CreatorUnavailable(f"the token {name!r} that created the job no longer exists")
        if found[0].revoked_at is not None:
            raise CreatorUnavailable(f"the token {name!r} that created the job was revoked")
        return Principal.of(found[0])

    async def authenticate(self, secret: str | None) -> Token | None:
        """The unrevoked token behind a bearer secret, or None."""
        if not secret or len(secret) > 512:
            return None
        return await self._used(await (await self._store()).token_by_hash(hash_secret(secret)))

    async def sync_env_admin(self, admin_token: str | None) -> None:
        """Mirror JOBDECK_ADMIN_TOKEN as a stored admin token (hash only).

        Keeping it as a row means every path (REST, tickets, sessions, revocation
        sweeps) treats it like any other token; a changed or removed variable revokes
        the old row on the next start.
        """
        store, now = await self._store(), self._now()
        wanted = hash_secret(admin_token) if admin_token else None
        if wanted is not None:
            current = await store.token_by_hash(wanted)
            if current is not None:
                return
        active = [t for t in await store.list_tokens() if t.revoked_at is None]
        if any(t.name == ENV_ADMIN_NAME for t in active):
            await store.revoke_token(ENV_ADMIN_NAME, now)
        if wanted is not None:
            # Another process may create it at the same moment: the unique name settles it.
            with contextlib.suppress(ValidationError):
                await store.create_token(ENV_ADMIN_NAME, wanted, ("admin",), None, None, now)

    async def bootstrap_admin(self) -> tuple[Token, str] | None:
        """On first run (no unrevoked token at all) create an admin token: it and its
        secret, or None."""
        if any(t.revoked_at is None for t in await self.list_tokens()):
            return None
        try:
            return await self.create_token(FIRST_ADMIN_NAME, ("admin",))
        except ValidationError:
            return None  # another process won the race; it prints the token

    async def issue_grant(self, kind: str, token_id: int, ttl: timedelta) -> str:
        """A single-use (login, ticket) or session secret tied to a token."""
        secret = secrets.token_urlsafe(32)
        store = await self._store()
        await store.create_grant(kind, hash_secret(secret), token_id, self._now() + ttl)
        return secret

    async def redeem_grant(self, kind: str, secret: str | None, *, consume: bool) -> Token | None:
        if not secret or len(secret) > 512:
            return None
        store = await self._store()
        return await self._used(
            await store.use_grant(kind, hash_secret(secret), self._now(), consume)
        )

    async def _used(self, token: Token | None) -> Token | None:
        """Keep ``last_used_at`` current to the minute: a write per request would make
        every read a write."""
        if token is None:
            return None
        now = self._now()
        if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
            try:
                await (await self._store()).touch_token(token.id, now)
            except StoreError as exc:  # bookkeeping: never the reason a request fails
                log.warning("could not record the use of token %r: %s", token.name, exc)
                return token
            token = replace(token, last_used_at=now)
        return token
