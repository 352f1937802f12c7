-- jobdeck PostgreSQL schema, version 9: the text search index leaves the jobs table.
--
-- Version 4 indexed the trigrams of name, description and type in a GIN index on
-- jobdeck_jobs. Every claim and completion changes indexed columns (status, seq), so
-- none is a HOT update and each one inserted the row's trigrams into that index again:
-- about a quarter of a drain's server time (docs/postgres.md), for text that never changes
-- after the insert. The text now lives in its own narrow table, written once when a
-- job is inserted and removed with it; the job filter takes its candidates from there
-- (queries.sql, job_filter). docs/ui.md, "Lists at 100,000 jobs".

CREATE TABLE jobdeck_job_text (
    job_pk bigint PRIMARY KEY,  -- jobdeck_jobs.id
    body   text NOT NULL        -- name, description and type, one per line
);

-- Statement-level triggers with transition tables: one INSERT … SELECT per statement,
-- whichever statement inserts jobs (enqueue, a schedule's fire) or deletes them (a
-- delete, cleanup), so no writer can forget the text.
CREATE FUNCTION jobdeck_job_text_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO jobdeck_job_text (job_pk, body)
    SELECT n.id, n.name || E'\n' || coalesce(n.description, '') || E'\n' || n.type
    FROM new_jobs n;
    RETURN NULL;
END
$$;

CREATE FUNCTION jobdeck_job_text_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM jobdeck_job_text t USING old_jobs o WHERE t.job_pk = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER jobdeck_jobs_text_insert AFTER INSERT ON jobdeck_jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_job_text_insert();

CREATE TRIGGER jobdeck_jobs_text_delete AFTER DELETE ON jobdeck_jobs
    REFERENCING OLD TABLE AS old_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION jobdeck_job_text_delete();

INSERT INTO jobdeck_job_text (job_pk, body)
SELECT id, name || E'\n' || coalesce(description, '') || E'\n' || type FROM jobdeck_jobs;

CREATE INDEX jobdeck_job_text_trgm ON jobdeck_job_text USING gin (body gin_trgm_ops);
DROP INDEX jobdeck_jobs_text;
