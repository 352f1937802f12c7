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


@pytest.mark.parametrize(
    ("listen", "heard"),
    [
        (True, ["jobs", "enqueue", "cron", "cancel"]),
        (False, None),
        ((), None),
        (("cancel", "enqueue"), ["enqueue", "cancel"]),
    ],
)
def test_known_names_choose_the_channels_listened_to(
    listen: object, heard: list[str] | None
) -> None:
    listener = PostgresStore(URL, listen=listen)._listener  # type: ignore[arg-type]
    assert (listener and listener._listen) == heard  # no channel: no listener connection
