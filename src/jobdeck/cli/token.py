"""``jobdeck token create|list|revoke`` (README.md; docs/security.md).

``create`` prints the new token alone on the last line, so scripts can take it
with ``| tail -n1``; it exists in clear only in that output.
"""

from __future__ import annotations

import os
from typing import Any

import click

from jobdeck import tokens
from jobdeck.cli.common import run
from jobdeck.config import DEFAULT_DATABASE_URL


def _database_option(fn: Any) -> Any:
    return click.option(
        "--database-url",
        metavar="URL",
        default=lambda: os.environ.get("JOBDECK_DATABASE_URL") or DEFAULT_DATABASE_URL,
        show_default="$JOBDECK_DATABASE_URL or sqlite:///./jobdeck.db",
        help="Database holding the tokens.",
    )(fn)


def _database_url(ctx: click.Context, given: str | None) -> str | None:
    # The main group may have taken --database-url before the subcommand name.
    root = ctx.find_root().meta.get("jobdeck.database_url")
    source = ctx.get_parameter_source("database_url")
    if root and source is not click.core.ParameterSource.COMMANDLINE:
        return str(root)
    return given


async def _with_deck(database_url: str | None, work: Any) -> Any:
    from jobdeck.deck import JobDeck

    deck = JobDeck.from_env(database_url=database_url)
    await deck.open()
    try:
        return await work(deck)
    finally:
        await deck.close()


def _run(database_url: str | None, work: Any) -> Any:
    return run(_with_deck(database_url, work))


@click.group()
def token() -> None:
    """Create, list and revoke API tokens."""


@token.command("create")
@click.option("--name", required=True, help="A unique name for the token.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help=f"Repeat or comma-separate: {', '.join(tokens.SCOPES)}.",
)
@click.option("--plugin", default=None, help="Bind the token to one plugin's jobs.")
@click.option("--store", "store_id", default=None, help="Bind the token to one store's jobs.")
@_database_option
@click.pass_context
def create(
    ctx: click.Context,
    name: str,
    scopes: tuple[str, ...],
    plugin: str | None,
    store_id: str | None,
    database_url: str | None,
) -> None:
    """Create a token; the token itself is printed alone on the last line."""
    try:
        checked = tokens.parse_scopes(scopes)
    except Exception as exc:
        raise click.BadParameter(str(exc), param_hint="--scope") from None

    async def work(deck: Any) -> str:
        _, secret = await deck.tokens.create_token(name, checked, plugin=plugin, store_id=store_id)
        return str(secret)

    secret = _run(_database_url(ctx, database_url), work)
    bound = ", ".join(
        f"{k} {v}" for k, v in (("plugin", plugin), ("store", store_id)) if v is not None
    )
    click.echo(
        f"Created token {name!r} with scopes {', '.join(checked)}"
        + (f", bound to {bound}" if bound else "")
        + ". It is shown only now:",
        err=False,
    )
    click.echo(secret)


@token.command("list")
@_database_option
@click.pass_context
def list_(ctx: click.Context, database_url: str | None) -> None:
    """List tokens (names, scopes, bindings; never the secrets)."""

    async def work(deck: Any) -> list[Any]:
        return list(await deck.tokens.list_tokens())

    found = [t for t in _run(_database_url(ctx, database_url), work) if t.revoked_at is None]
    if not found:
        click.echo("No tokens.")
        return
    rows = [("NAME", "SCOPES", "PLUGIN", "STORE", "CREATED", "LAST USED")]
    for t in found:
        rows.append(
            (
                t.name,
                ",".join(t.scopes),
                t.plugin or "-",
                t.store or "-",
                t.created_at.strftime("%Y-%m-%d %H:%M"),
                t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@token.command("revoke")
@click.argument("name")
@_database_option
@click.pass_context
def revoke(ctx: click.Context, name: str, database_url: str | None) -> None:
    """Revoke the token NAME: it stops working at once (open WebSockets close within seconds)."""

    async def work(deck: Any) -> bool:
        return bool(await deck.tokens.revoke_token(name))

    if not _run(_database_url(ctx, database_url), work):
        raise click.ClickException(f"no active token named {name!r}")
    click.echo(f"Revoked token {name!r}")


__all__ = ["token"]
