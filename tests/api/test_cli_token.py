"""``jobdeck token create|list|revoke`` (README.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from click.testing import CliRunner

from jobdeck.cli import main
from jobdeck.deck import JobDeck


def token_works(url: str, secret: str) -> bool:
    async def check() -> bool:
        async with JobDeck(url) as deck:
            return await deck.tokens.authenticate(secret) is not None

    return asyncio.run(check())


def test_create_list_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cli.db"
    runner = CliRunner()
    created = runner.invoke(
        main,
        ["token", "create", "--name", "ci", "--scope", "jobs:write", "--store", "s1",
         "--database-url", url],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("jdk_") and " " not in secret
    assert token_works(url, secret)

    listed = runner.invoke(main, ["token", "list", "--database-url", url])
    assert listed.exit_code == 0 and "ci" in listed.output and "jobs:write" in listed.output
    assert secret not in listed.output

    env = runner.invoke(main, ["token", "list"], env={"JOBDECK_DATABASE_URL": url})
    assert "ci" in env.output

    duplicate = runner.invoke(
        main, ["token", "create", "--name", "ci", "--scope", "admin", "--database-url", url]
    )
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output

    bad_scope = runner.invoke(
        main, ["token", "create", "--name", "x", "--scope", "root", "--database-url", url]
    )
    assert bad_scope.exit_code == 2 and "--scope" in bad_scope.output

    revoked = runner.invoke(main, ["token", "revoke", "ci", "--database-url", url])
    assert revoked.exit_code == 0 and not token_works(url, secret)
    again = runner.invoke(main, ["token", "revoke", "ci", "--database-url", url])
    assert again.exit_code == 1 and "no active token" in again.output
