-- jobdeck PostgreSQL schema, version 2: cron schedules and their executions
-- (docs/cron.md; the contract is ScheduleStore in store/base.py).
--
-- Both tables carry a change-feed `seq` taken from jobdeck_seq under the feed lock,
-- like jobs (queries.sql, "feed_lock"), so one feed orders jobs, schedules and
-- executions together.

CREATE TABLE jobdeck_cron_jobs (
    id                    bigserial PRIMARY KEY,
    -- the definition (domain.schedule.CronDefinition)
    name                  text NOT NULL,
    cron_expression       text NOT NULL,
    job_type              text NOT NULL,
    configuration         jsonb NOT NULL DEFAULT '{}',
    description           text,
    timezone              text NOT NULL DEFAULT 'UTC',
    plugin_id             text,
    store_id              text,
    is_active             boolean NOT NULL DEFAULT true,
    max_runs              integer,
    max_failures          integer,
    timeout_seconds       integer NOT NULL DEFAULT 300,
    misfire_policy        text NOT NULL DEFAULT 'fire_once'
                            CHECK (misfire_policy IN ('skip', 'fire_once', 'catch_up')),
    misfire_grace_seconds integer NOT NULL DEFAULT 60,
    overlap_policy        text NOT NULL DEFAULT 'skip' CHECK (overlap_policy IN ('skip', 'allow')),
    tags                  text[] NOT NULL DEFAULT '{}',
    priority              smallint NOT NULL DEFAULT 1,
    max_retries           integer NOT NULL DEFAULT 0,
    show_notification     boolean NOT NULL DEFAULT false,
    -- the state (domain.schedule.CronJob)
    created_by            text NOT NULL,
    declared_by           text,  -- the plugin whose code declares it (docs/cron.md)
    -- Deactivated because its declaration left the plugin's code (upsert_declared), so a
    -- later declaration brings it back; a user's deactivation leaves it false.
    retired               boolean NOT NULL DEFAULT false,
    is_paused             boolean NOT NULL DEFAULT false,
    next_run_at           timestamptz,
    last_run_at           timestamptz,
    last_status           text CHECK (last_status IN
                            ('running', 'success', 'failed', 'timeout', 'skipped', 'cancelled')),
    last_error            text,
    run_count             bigint NOT NULL DEFAULT 0,
    success_count         bigint NOT NULL DEFAULT 0,
    failure_count         bigint NOT NULL DEFAULT 0,
    consecutive_failures  integer NOT NULL DEFAULT 0,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    seq                   bigint NOT NULL
);

-- Names are unique per (plugin_id, store_id, name), a NULL plugin or store counting as
-- one value (as in the SQLite schema). The statements' ON CONFLICT clauses name exactly
-- these expressions; name first, so find_cron_jobs(name) uses it too.
CREATE UNIQUE INDEX jobdeck_cron_jobs_name
    ON jobdeck_cron_jobs (name, (coalesce(plugin_id, '')), (coalesce(store_id, '')));
-- What due_cron_jobs and next_cron_at read: only schedules the scheduler fires.
CREATE INDEX jobdeck_cron_jobs_due ON jobdeck_cron_jobs (next_run_at)
    WHERE is_active AND NOT is_paused;
CREATE INDEX jobdeck_cron_jobs_seq ON jobdeck_cron_jobs (seq);
CREATE INDEX jobdeck_cron_jobs_declared ON jobdeck_cron_jobs (declared_by)
    WHERE declared_by IS NOT NULL;

-- No foreign keys: an execution outlives its job (job cleanup leaves job_id pointing
-- nowhere, docs/cron.md), and delete_cron_job deletes a schedule's executions itself.
CREATE TABLE jobdeck_cron_executions (
    id                bigserial PRIMARY KEY,
    cron_job_id       bigint NOT NULL,
    scheduled_for     timestamptz NOT NULL,
    status            text NOT NULL CHECK (status IN
                        ('running', 'success', 'failed', 'timeout', 'skipped', 'cancelled')),
    triggered_by      text NOT NULL CHECK (triggered_by IN ('scheduler', 'manual', 'api')),
    started_at        timestamptz,
    completed_at      timestamptz,
    duration_ms       bigint,
    result            jsonb,
    error_message     text,
    triggered_by_user text,
    server_instance   text,
    job_id            text,
    seq               bigint NOT NULL
);

-- Each tick fires once, however many schedulers run (docs/cron.md); manual runs are not
-- keyed by time.
CREATE UNIQUE INDEX jobdeck_cron_executions_tick ON jobdeck_cron_executions
    (cron_job_id, scheduled_for) WHERE triggered_by = 'scheduler';
-- One execution per job: how the jobs trigger finds a job's execution, and what makes a
-- retried run_now insert nothing twice (job_ids are chosen before the first try).
CREATE UNIQUE INDEX jobdeck_cron_executions_job ON jobdeck_cron_executions (job_id);
-- list_executions: a schedule's runs, newest first.
CREATE INDEX jobdeck_cron_executions_page ON jobdeck_cron_executions
    (cron_job_id, scheduled_for DESC, id DESC);
-- fire's overlap check: whether a run of the schedule is still going.
CREATE INDEX jobdeck_cron_executions_running ON jobdeck_cron_executions (cron_job_id)
    WHERE status = 'running';
CREATE INDEX jobdeck_cron_executions_seq ON jobdeck_cron_executions (seq);
CREATE INDEX jobdeck_cron_executions_finished ON jobdeck_cron_executions (completed_at)
    WHERE status <> 'running';

-- An execution changes in the same transaction as its job (docs/cron.md): this trigger
-- mirrors a cron job's status change into its execution, and a run's end into the
-- schedule's state and counters.
--
-- The WHEN clause keeps every other job write at the cost of two comparisons: jobs
-- without cron_job_id, and writes that keep the status (progress, lease extensions,
-- history lines), never enter the function. Every status change of a cron job is
-- mirrored, even one that keeps the execution `running` (a claim, a retry): the
-- execution then takes the job's seq, so a follower sees both at the same point.
--
-- Every statement that changes a job's status holds the feed lock (queries.sql,
-- "feed_lock"), and the job row carries that transaction's seq (NEW.seq): the
-- execution and the schedule take the same seq, so they are ordered with the job in
-- commit order. The feed lock is also taken before any row lock, so the row locks
-- taken here (execution, then schedule) cannot deadlock with another feed writer.
--
-- Mapping (ScheduleStore docstring): running, cancelling or pending again (a retry)
-- → running; completed → success; failed → failed, or timeout when the error is the
-- one runtime/executor.py and fail_timed_out_tracked write ("Job timed out after N
-- seconds"); cancelled → cancelled. A failure is failed or timeout; cancelled is
-- neither a success nor a failure.
--
-- The schedule, when a run ends (the same rules as SQLite's jobs_mirror_execution,
-- value for value; the conformance suite compares them):
-- * last_error: the job's error_message on a failure, cleared by a success, kept by a
--   cancel.
-- * Reaching max_failures consecutive failures pauses an unpaused schedule (next_run_at
--   NULL, as set_paused does) and says why in last_error. max_failures NULL (or 0)
--   never pauses; a schedule already paused (by hand) keeps its pause state.
-- * updated_at stays: it moves on the writes of users and of fire only, so a run
--   ending never spoils a scheduler's compare-and-set (fire compares it).
-- * duration_ms: completed_at - started_at rounded to the nearest millisecond (half
--   up), never negative.
CREATE FUNCTION jobdeck_cron_mirror() RETURNS trigger LANGUAGE plpgsql AS $$
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
        seq = NEW.seq
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
        seq = NEW.seq
    WHERE c.id = old_exe.cron_job_id;
    PERFORM pg_notify('jobdeck_cron', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER jobdeck_jobs_cron_mirror
    AFTER UPDATE ON jobdeck_jobs
    FOR EACH ROW
    WHEN (NEW.cron_job_id IS NOT NULL AND OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION jobdeck_cron_mirror();
