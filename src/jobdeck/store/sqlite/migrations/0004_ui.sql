-- jobdeck SQLite schema, version 4: what the web UI's pages read (docs/ui.md).

-- Workers alive (store/base.py, PresenceStore): each worker replaces its row every
-- heartbeat; the row goes when the worker stops, or once it is long out of date.
CREATE TABLE workers (
    worker_id    TEXT    PRIMARY KEY,
    host         TEXT    NOT NULL,
    pid          INTEGER NOT NULL,
    concurrency  INTEGER NOT NULL,
    running      TEXT    NOT NULL DEFAULT '[]',  -- JSON array of job_ids
    started_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The job list's filters (listing.py): each index ends with id, so a filtered page is
-- read in list order and a filtered count from the index alone. The store and plugin
-- indexes are what every page of a bound token uses. Type and source have none: a
-- page of them scans newest first and stops at the page's end; their counts scan
-- the table (docs/ui.md, "Lists at 100,000 jobs").
CREATE INDEX jobs_status ON jobs (status, id);
CREATE INDEX jobs_store ON jobs (store_id, id) WHERE store_id IS NOT NULL;
CREATE INDEX jobs_plugin ON jobs (plugin_id, id) WHERE plugin_id IS NOT NULL;

-- Jobs finished per minute (the overview's chart): read from the index alone. Partial,
-- so an enqueue (completed_at NULL) never writes to it.
CREATE INDEX jobs_finished ON jobs (completed_at, status) WHERE completed_at IS NOT NULL;

-- Text search: trigrams of name, description and type (substring matches, any case),
-- kept by triggers. Those columns never change after the insert, so progress writes
-- never touch the index.
CREATE VIRTUAL TABLE jobs_text USING fts5(
    name, description, type, content = 'jobs', content_rowid = 'id', tokenize = 'trigram'
);

CREATE TRIGGER jobs_text_insert AFTER INSERT ON jobs BEGIN
    INSERT INTO jobs_text (rowid, name, description, type)
    VALUES (new.id, new.name, new.description, new.type);
END;

CREATE TRIGGER jobs_text_delete AFTER DELETE ON jobs BEGIN
    INSERT INTO jobs_text (jobs_text, rowid, name, description, type)
    VALUES ('delete', old.id, old.name, old.description, old.type);
END;

CREATE TRIGGER jobs_text_update AFTER UPDATE OF name, description, type ON jobs BEGIN
    INSERT INTO jobs_text (jobs_text, rowid, name, description, type)
    VALUES ('delete', old.id, old.name, old.description, old.type);
    INSERT INTO jobs_text (rowid, name, description, type)
    VALUES (new.id, new.name, new.description, new.type);
END;

INSERT INTO jobs_text (jobs_text) VALUES ('rebuild');
