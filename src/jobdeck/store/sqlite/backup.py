"""A consistent copy of a SQLite store while it is in use (``jobdeck backup``).

The copy is made with the sqlite3 backup API in ONE step (all pages): one read
transaction, so one snapshot, and writers in other processes go on meanwhile (WAL:
readers and the writer do not block each other). The incremental form (a few pages
per step) restarts whenever another connection writes, so on a busy store it may
never finish. The copy goes to a temporary file beside the target, is switched out
of WAL mode (one self-contained file), checked, synced, and only then renamed over
the target: a failed or interrupted backup never leaves a half-written file at PATH.
See README.md, "Backing up and restoring".
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from jobdeck.errors import StoreError
from jobdeck.store.sqlite.queries import Q


@dataclass(frozen=True)
class BackupReport:
    path: Path
    bytes: int
    jobs: int
    schema_version: int
    seconds: float


def backup(source: str | Path, target: str | Path) -> BackupReport:
    """Copy the store file ``source`` to ``target`` (replaced if it exists)."""
    started = time.monotonic()
    source, target = Path(source), Path(target)
    if not source.is_file():
        raise StoreError(f"no SQLite database at {source}")
    if target.exists() and target.is_dir():
        raise StoreError(f"{target} is a directory: give the backup's file name")
    if target.resolve() == source.resolve():
        raise StoreError("the backup cannot replace the database itself")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        with contextlib.closing(sqlite3.connect(source, isolation_level=None)) as src:
            src.execute(Q["backup_source_setup"])
            partial.unlink(missing_ok=True)
            with contextlib.closing(sqlite3.connect(partial, isolation_level=None)) as dst:
                src.backup(dst, pages=-1)  # every page in one step: one snapshot
                dst.execute(Q["backup_finish"]).fetchall()
                check = dst.execute(Q["backup_check"]).fetchone()[0]
                if check != "ok":
                    raise StoreError(f"the copy failed its integrity check: {check}")
                jobs, version = dst.execute(Q["backup_summary"]).fetchone()
        with partial.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(partial, target)
        _sync_dir(target.parent)
    except sqlite3.Error as exc:
        raise StoreError(f"backup failed: {exc}") from exc
    except OSError as exc:
        where = exc.filename or target
        raise StoreError(f"backup failed: {exc.strerror or exc} ({where})") from exc
    finally:
        partial.unlink(missing_ok=True)
    size = target.stat().st_size
    return BackupReport(target, size, int(jobs), int(version), time.monotonic() - started)


def _sync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
