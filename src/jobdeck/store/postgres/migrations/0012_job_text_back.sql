-- jobdeck PostgreSQL schema, version 12: the text search index back on the jobs table.
--
-- Version 9 moved the trigrams to jobdeck_job_text so that claims and completions
-- would stop re-indexing them. But a search reaches its jobs from there one primary
-- key lookup at a time: with 100,000 jobs, a term a quarter of them match took the
-- jobs page's search from 47 ms to 137 ms at p95, over the UI's 100 ms target
-- (bench/ui_api.py). On the jobs table, the GIN index yields a bitmap of the matching
-- rows read in page order. The cost it puts on every claim and completion is the
-- price of that (docs/postgres.md).
DROP TRIGGER jobdeck_jobs_text_insert ON jobdeck_jobs;
DROP TRIGGER jobdeck_jobs_text_delete ON jobdeck_jobs;
DROP FUNCTION jobdeck_job_text_insert();
DROP FUNCTION jobdeck_job_text_delete();
DROP TABLE jobdeck_job_text;

CREATE INDEX jobdeck_jobs_text ON jobdeck_jobs
    USING gin ((name || E'\n' || coalesce(description, '') || E'\n' || type) gin_trgm_ops);
