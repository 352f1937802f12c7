"""API tokens and short-lived grants (docs/security.md) in the SQLite store: hashes only."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from jobdeck.errors import ValidationError
from jobdeck.store.base import Token
from jobdeck.store.sqlite.connection import Database, Tx
from jobdeck.store.sqlite.queries import Q
from jobdeck.store.sqlite.rows import dumps, fetch, fetch_one, to_token, to_ts


class TokenVerbs:
    _db: Database

    # --- tokens and grants ------------------------------------------------
    async def create_token(
        self,
        name: str,
        token_hash: str,
        scopes: Sequence[str],
        plugin: str | None,
        store: str | None,
        now: datetime,
    ) -> Token:
        params = (name, token_hash, dumps(list(scopes)), plugin, store, to_ts(now))

        def run(conn: sqlite3.Connection) -> Token:
            with Tx(conn):
                try:
                    row = fetch(conn.execute(Q["insert_token"], params))[0]
                except sqlite3.IntegrityError as exc:
                    if "token_hash" in str(exc):
                        raise ValidationError("a token with this secret already exists") from exc
                    raise ValidationError(f"a token named {name!r} already exists") from exc
                return to_token(row)

        return await self._db.run(run)

    async def token_by_hash(self, token_hash: str) -> Token | None:
        def run(conn: sqlite3.Connection) -> Token | None:
            row = fetch_one(conn.execute(Q["token_by_hash"], (token_hash,)))
            return None if row is None else to_token(row)

        return await self._db.run(run)

    async def list_tokens(self) -> list[Token]:
        rows = await self._db.run(lambda c: fetch(c.execute(Q["list_tokens"])))
        return [to_token(row) for row in rows]

    async def revoke_token(self, name: str, now: datetime) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            with Tx(conn) as t:
                params = {"now": to_ts(now), "name": name, "seq": t.seq()}
                revoked = conn.execute(Q["revoke_token"], params).fetchall()
                for (token_id,) in revoked:
                    conn.execute(Q["end_grants_of_token"], (token_id,))
                return bool(revoked)

        return await self._db.run(run)

    async def touch_token(self, token_id: int, now: datetime) -> None:
        def run(conn: sqlite3.Connection) -> None:
            with Tx(conn):
                conn.execute(Q["touch_token"], {"now": to_ts(now), "token_id": token_id})

        await self._db.run(run)

    async def purge_grants(self, now: datetime) -> int:
        def run(conn: sqlite3.Connection) -> int:
            with Tx(conn):
                return conn.execute(Q["purge_grants"], (to_ts(now),)).rowcount

        return await self._db.run(run)

    async def create_grant(
        self, kind: str, secret_hash: str, token_id: int, expires_at: datetime
    ) -> None:
        params = (kind, secret_hash, token_id, to_ts(expires_at))

        def run(conn: sqlite3.Connection) -> None:
            with Tx(conn):
                try:
                    conn.execute(Q["insert_grant"], params)
                except sqlite3.IntegrityError as exc:
                    raise ValidationError("this grant already exists") from exc

        await self._db.run(run)

    async def use_grant(
        self, kind: str, secret_hash: str, now: datetime, consume: bool
    ) -> Token | None:
        params = {"kind": kind, "secret_hash": secret_hash, "now": to_ts(now)}

        def run(conn: sqlite3.Connection) -> Token | None:
            if consume:
                with Tx(conn):
                    rows = conn.execute(Q["use_grant"], params).fetchall()
            else:
                rows = conn.execute(Q["peek_grant"], params).fetchall()
            if not rows:
                return None
            token = fetch_one(conn.execute(Q["token_by_id"], (rows[0][0],)))
            return None if token is None else to_token(token)

        return await self._db.run(run)
