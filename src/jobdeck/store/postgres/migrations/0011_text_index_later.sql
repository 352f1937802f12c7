-- jobdeck PostgreSQL schema, version 11: a new job joins the trigram text index at its
-- claim (or start), or through a maintenance pass, not at its insert.
--
-- The trigram index (version 4) was the costliest entry of an enqueue: about a fifth of
-- a bulk COPY's server time, for a job that is usually claimed moments later, when its
-- row is written again in every index anyway (a claim is never a HOT update). Now the
-- index only holds rows marked `text_indexed`, and a new row is not: it goes into a
-- narrow partial index of the rows not indexed yet, an append at its right edge. The
-- claim and `start` set the mark (the row's new version enters the trigram index as it
-- did before); a maintenance pass sets it on rows no claim can take yet, once they are
-- 30 s old (queries.sql, index_text). Every row version is in exactly one of the two
-- indexes, so a search takes its candidates from both and tests each exactly
-- (job_filter): its results do not change, only the rows not indexed yet are read one
-- by one. docs/postgres.md, "The trigram index after the insert".

-- Rows already there are in the trigram index: a constant default keeps them so without
-- rewriting the table; new rows then default to not indexed.
ALTER TABLE jobdeck_jobs ADD COLUMN text_indexed boolean NOT NULL DEFAULT true;
ALTER TABLE jobdeck_jobs ALTER COLUMN text_indexed SET DEFAULT false;

-- The same expression as version 4's, which job_filter repeats word for word.
DROP INDEX jobdeck_jobs_text;
CREATE INDEX jobdeck_jobs_text ON jobdeck_jobs
    USING gin ((name || E'\n' || coalesce(description, '') || E'\n' || type) gin_trgm_ops)
    WHERE text_indexed;

-- The rows a search cannot find through jobdeck_jobs_text, oldest first for index_text.
CREATE INDEX jobdeck_jobs_unindexed ON jobdeck_jobs (id) WHERE NOT text_indexed;

-- The planner reads the statistics of an index's expression only from an index over the
-- whole table: without these, it guessed a search's matches from a default selectivity
-- (a handful), sorted every match of a common term to list the newest 25 instead of
-- walking the primary key backwards, and a page of the UI's search went from under a
-- millisecond to 45 ms at 100,000 jobs (bench/ui_api.py). Expression statistics need
-- PostgreSQL 14.
CREATE STATISTICS jobdeck_jobs_text_stats
    ON ((name || E'\n' || coalesce(description, '') || E'\n' || type)) FROM jobdeck_jobs;

-- Now, not at the next autoanalyze: until then searches would plan on the guess.
ANALYZE jobdeck_jobs;
