"""The PostgreSQL store refuses a server older than its schema needs, saying so, instead
of failing on a migration's syntax (no server needed: libpq's version number)."""

from __future__ import annotations

import pytest

from jobdeck.errors import StoreError
from jobdeck.store.postgres.database import require_server


def test_a_server_older_than_14_is_refused_with_its_version() -> None:
    with pytest.raises(StoreError, match=r"needs PostgreSQL 14 or newer; this server is 13\.12"):
        require_server(130012)


@pytest.mark.parametrize("version", [140000, 150004, 170002])
def test_14_and_later_are_accepted(version: int) -> None:
    require_server(version)
