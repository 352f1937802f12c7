-- jobdeck SQLite schema, version 5: the progress rate's window (docs/progress.md).
--
-- A JSON array of [microseconds since the epoch, progress] samples, oldest first,
-- kept by jobdeck.domain.progress.advance_window on every progress update and
-- cleared when the job (re)starts. NULL: no update since the start.

ALTER TABLE jobs ADD COLUMN progress_window TEXT;
