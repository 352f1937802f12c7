-- jobdeck PostgreSQL schema, version 4: what the web UI's pages read (docs/ui.md).

-- Workers alive (store/base.py, PresenceStore): each worker replaces its row every
-- heartbeat; the row goes when the worker stops, or once it is long out of date.
-- Outside the change feed: no seq, no feed lock.
CREATE TABLE jobdeck_workers (
    worker_id    text PRIMARY KEY,
    host         text NOT NULL,
    pid          integer NOT NULL,
    concurrency  integer NOT NULL,
    running      text[] NOT NULL DEFAULT '{}',  -- job_ids
    started_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL
);

-- The job list's store and plugin filters (every page of a bound token). Status has
-- jobdeck_jobs_status since version 1; type and source have none (a page scans newest
-- first and stops at its end; docs/ui.md, "Lists at 100,000 jobs").
CREATE INDEX jobdeck_jobs_store ON jobdeck_jobs (store_id, id) WHERE store_id IS NOT NULL;
CREATE INDEX jobdeck_jobs_plugin ON jobdeck_jobs (plugin_id, id) WHERE plugin_id IS NOT NULL;

-- Jobs finished per minute (the overview's chart), from the index alone where the
-- visibility map allows. Partial, so an enqueue never writes to it.
CREATE INDEX jobdeck_jobs_finished_status ON jobdeck_jobs (completed_at, status)
    WHERE completed_at IS NOT NULL;

-- Text search: trigrams of name, description and type in one expression, which the
-- job filter's text test repeats word for word (queries.sql, job_filter) to take its
-- candidates from this index before testing each column exactly. pg_trgm ships with
-- PostgreSQL and is a trusted extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE INDEX jobdeck_jobs_text ON jobdeck_jobs
    USING gin ((name || E'\n' || coalesce(description, '') || E'\n' || type) gin_trgm_ops);
