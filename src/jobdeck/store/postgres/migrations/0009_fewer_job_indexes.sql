-- jobdeck PostgreSQL schema, version 9: two indexes fewer on the jobs table.
--
-- Every claim and completion is a non-HOT update (it changes status and seq), so it
-- inserts an entry into each index of the row's new version: each index the table can
-- do without makes every job cheaper (docs/postgres.md).
--
-- jobdeck_jobs_lease (lease_expires_at of running queued jobs) served rescue_expired
-- only. Running jobs are few (at most the workers' total concurrency), and
-- jobdeck_jobs_status (status, id) finds them; without the lease index a heartbeat,
-- which changes nothing else indexed, can be a HOT update.
DROP INDEX jobdeck_jobs_lease;

-- jobdeck_jobs_finished (completed_at of finished jobs) served cleanup, and
-- jobdeck_jobs_finished_status (completed_at, status, of every row with a completed_at)
-- serves it as well: cleanup's `completed_at < $before` implies the latter's predicate.
DROP INDEX jobdeck_jobs_finished;
