"""A process's LISTEN channels are named from the store's signals (events/signals.py)."""

from __future__ import annotations

import pytest

from jobdeck.errors import ValidationError
from jobdeck.store.postgres.store import PostgresStore

URL = "postgresql://postgres@127.0.0.1:1/nowhere"  # never connected: refused before


@pytest.mark.parametrize("listen", [("enqueued",), "cancel", ("enqueue", "jobs", "crons")])
def test_unknown_or_loose_names_are_refused(listen: object) -> None:
    with pytest.raises(ValidationError, match="listen: names among jobs, enqueue, cron, cancel"):
        PostgresStore(URL, listen=listen)  # type: ignore[arg-type]


@pytest.mark.parametrize("listen", [True, False, (), ("enqueue", "cancel")])
def test_known_names_are_taken(listen: object) -> None:
    PostgresStore(URL, listen=listen)  # type: ignore[arg-type]
