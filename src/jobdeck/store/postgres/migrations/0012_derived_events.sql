-- jobdeck PostgreSQL schema, version 12: a job keeps its `created` event and its
-- worker's attempt's `started` and `completed` events in its row instead of as history
-- rows.
--
-- The `created` row was about a sixth of a bulk enqueue's server time, and the other two
-- were written by every claim and every completion of a drain, about a twentieth of it
-- (docs/postgres.md, "What one job costs"). Now an insert reserves the `created` event's
-- history id (created_event), the claim the `started` event's (started_event) and keeps
-- the attempt's worker (started_by: locked_by is cleared when the attempt ends), and a
-- worker's completion the `completed` event's (completed_event). Reads merge them with
-- the stored rows while the row shows them; an attempt that ends otherwise stores its
-- `started` row then, under the reserved id (queries.sql, derived_events). No index:
-- they are read only from the job's own row. NULL derives nothing, so the jobs already
-- there keep their stored history as it is, and adding the columns rewrites nothing.
ALTER TABLE jobdeck_jobs
    ADD COLUMN created_event bigint,
    ADD COLUMN started_event bigint,
    ADD COLUMN started_by text,
    ADD COLUMN completed_event bigint;

-- Retention by age (prune_history) hides the derived events older than its bound by
-- raising this one row's floor instead of writing every job row that holds one
-- (queries.sql, floor_before).
CREATE TABLE jobdeck_history_floor (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    before timestamptz NOT NULL DEFAULT '-infinity',
    upto bigint NOT NULL DEFAULT 0
);
INSERT INTO jobdeck_history_floor DEFAULT VALUES;
-- The floor's id is the sequence's last value: with ids cached per session, ids not yet
-- used could lie below it.
ALTER SEQUENCE jobdeck_history_id_seq CACHE 1;
