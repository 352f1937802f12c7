-- jobdeck SQLite schema, version 8: a count of the writes that wake workers
-- (store/base.py wakes_workers: a running job asked to stop, or ended by someone other
-- than its worker). Another process's commit watcher (watch.py) fires "cancel" only
-- when this count moved, not on every commit: a worker's own heartbeats and
-- completions then no longer bring its next heartbeat forward.

CREATE TABLE worker_wakes (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    count INTEGER NOT NULL
);
INSERT INTO worker_wakes (id, count) VALUES (1, 0);
