-- jobdeck PostgreSQL schema, version 8: a row's seq only grows.
--
-- Since version 7 a writing statement takes its seq when it starts (queries.sql,
-- fragment feed_seq), before the row locks it may wait for. Two writers of one row
-- could then commit in the opposite order to their seqs: the one that took 360 waits
-- for the one that took 371, commits after it, and leaves the row at 360. A follower
-- still reads the row's latest state (the horizon held it below 360 meanwhile), but a
-- client that knows the row at 371 (a REST answer, a returned Job) and waits for
-- anything newer would never hear of it (a concurrent-writer test caught it).
--
-- jobdeck_row_seq(had, taken) is the seq a row takes when a statement holding
-- `taken` writes it: `taken` when that is above the row's seq `had`, else a new
-- registered seq, taken now, after the row lock: above every seq the row has had,
-- since the writer that left `had` took it before committing, and this statement
-- locked the row after that commit (READ COMMITTED re-evaluates SET on the newest row
-- version). It is a SQL function so the planner inlines it: the common path costs
-- one comparison. docs/feed.md, "PostgreSQL: the feed horizon".

CREATE FUNCTION jobdeck_row_seq(had bigint, taken bigint) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    SELECT CASE WHEN had IS NULL OR had < taken THEN taken
                ELSE jobdeck_feed_seq(false) END
$$;

-- The execution and the schedule a job's status change mirrors (migration 0002) take
-- their seq the same way: the job's, unless the row already has a higher one.
CREATE OR REPLACE FUNCTION jobdeck_cron_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    mirrored text;
    old_exe jobdeck_cron_executions%ROWTYPE;
    finished timestamptz;
    failure boolean;
    pausing boolean;
BEGIN
    mirrored := CASE NEW.status
        WHEN 'completed' THEN 'success'
        WHEN 'failed' THEN CASE WHEN NEW.error_message LIKE 'Job timed out after %'
                                THEN 'timeout' ELSE 'failed' END
        WHEN 'cancelled' THEN 'cancelled'
        ELSE 'running' END;

    SELECT * INTO old_exe FROM jobdeck_cron_executions WHERE job_id = NEW.job_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;  -- a job given a cron_job_id by hand, or its schedule was deleted
    END IF;

    finished := CASE WHEN mirrored <> 'running'
                     THEN coalesce(NEW.completed_at, NEW.updated_at) END;
    UPDATE jobdeck_cron_executions e
    SET status = mirrored,
        result = NEW.result,
        error_message = CASE WHEN mirrored = 'success' THEN NULL ELSE NEW.error_message END,
        completed_at = finished,
        duration_ms = CASE WHEN finished IS NOT NULL THEN greatest(0, round(
            extract(epoch FROM finished - coalesce(e.started_at, finished)) * 1000))::bigint END,
        seq = jobdeck_row_seq(e.seq, NEW.seq)
    WHERE e.id = old_exe.id;
    PERFORM pg_notify('jobdeck_jobs', NEW.seq::text);

    IF mirrored = 'running' OR old_exe.status <> 'running' THEN
        RETURN NULL;  -- the run has not ended (or had already ended): the schedule stays
    END IF;
    failure := mirrored IN ('failed', 'timeout');
    -- Reaching max_failures consecutive failures pauses the schedule, saying why.
    SELECT failure AND NOT c.is_paused AND c.max_failures IS NOT NULL AND c.max_failures > 0
           AND c.consecutive_failures + 1 >= c.max_failures
    INTO pausing
    FROM jobdeck_cron_jobs c WHERE c.id = old_exe.cron_job_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    UPDATE jobdeck_cron_jobs c
    SET last_status = mirrored,
        success_count = c.success_count + (mirrored = 'success')::int,
        failure_count = c.failure_count + failure::int,
        consecutive_failures = CASE WHEN mirrored = 'success' THEN 0
                                    WHEN failure THEN c.consecutive_failures + 1
                                    ELSE c.consecutive_failures END,
        is_paused = c.is_paused OR pausing,
        next_run_at = CASE WHEN pausing THEN NULL ELSE c.next_run_at END,
        last_error = CASE
            WHEN pausing THEN 'Paused after ' || (c.consecutive_failures + 1)
                              || ' consecutive failures'
                              || coalesce(': ' || NEW.error_message, '')
            WHEN failure THEN NEW.error_message
            WHEN mirrored = 'success' THEN NULL
            ELSE c.last_error END,
        seq = jobdeck_row_seq(c.seq, NEW.seq)
    WHERE c.id = old_exe.cron_job_id;
    PERFORM pg_notify('jobdeck_cron', '');
    RETURN NULL;
END
$$;
