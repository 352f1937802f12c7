"""The named statements of ``queries.sql`` and the numbered migrations, loaded once at
import by the loader every backend shares (``jobdeck/store/named_queries.py``:
``-- name:`` blocks, ``-- fragment:`` pieces — the CTEs and expressions every job write
shares — spliced in as ``{xyz}``, strict about unknown and unused fragments)."""

from __future__ import annotations

from jobdeck.store.named_queries import load_migrations, load_queries

Q = load_queries(__package__)
MIGRATIONS = load_migrations(__package__)
