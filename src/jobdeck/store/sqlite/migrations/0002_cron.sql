-- jobdeck SQLite schema, version 2: cron schedules and their executions (docs/cron.md).
--
-- Same conventions as version 1: timestamps are INTEGER microseconds (UTC), JSON
-- columns hold json.dumps text, every write stamps the writing transaction's feed
-- ``seq`` (Tx.seq) on the rows it touches.

CREATE TABLE cron_jobs (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    -- the definition (domain.schedule.CronDefinition)
    name                  TEXT    NOT NULL,
    description           TEXT,
    cron_expression       TEXT    NOT NULL,
    timezone              TEXT    NOT NULL,
    job_type              TEXT    NOT NULL,
    configuration         TEXT    NOT NULL,     -- JSON object
    plugin_id             TEXT,
    store_id              TEXT,
    is_active             INTEGER NOT NULL,
    max_runs              INTEGER,
    max_failures          INTEGER,
    timeout_seconds       INTEGER NOT NULL,
    misfire_policy        TEXT    NOT NULL,
    misfire_grace_seconds INTEGER NOT NULL,
    overlap_policy        TEXT    NOT NULL,
    tags                  TEXT    NOT NULL,     -- JSON array of strings
    priority              INTEGER NOT NULL,
    max_retries           INTEGER NOT NULL,
    show_notification     INTEGER NOT NULL,
    -- state and counters (domain.schedule.CronJob)
    created_by            TEXT    NOT NULL,
    declared_by           TEXT,                 -- the plugin declaring it in code
    -- 1: deactivated because its declaration left the plugin's code (upsert_declared),
    -- so a later declaration brings it back; a user's deactivation leaves it 0.
    retired               INTEGER NOT NULL DEFAULT 0,
    is_paused             INTEGER NOT NULL DEFAULT 0,
    next_run_at           INTEGER,
    last_run_at           INTEGER,
    last_status           TEXT,
    last_error            TEXT,
    run_count             INTEGER NOT NULL DEFAULT 0,
    success_count         INTEGER NOT NULL DEFAULT 0,
    failure_count         INTEGER NOT NULL DEFAULT 0,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    seq                   INTEGER NOT NULL
);

-- Names are unique per (plugin_id, store_id, name), a NULL plugin or store counting as
-- one value. A UNIQUE constraint treats NULLs as distinct, so the index is over
-- coalesce(…, x''): an empty BLOB, which no TEXT value (not even '') equals. Name
-- first, so find_cron_jobs (by name) uses it too.
CREATE UNIQUE INDEX cron_jobs_name_key
    ON cron_jobs (name, coalesce(plugin_id, x''), coalesce(store_id, x''));
-- due_cron_jobs and next_cron_at: the schedules the scheduler fires, by fire time.
CREATE INDEX cron_jobs_due ON cron_jobs (next_run_at, id)
    WHERE is_active = 1 AND is_paused = 0 AND next_run_at IS NOT NULL;
-- The change feed.
CREATE INDEX cron_jobs_seq ON cron_jobs (seq);
-- upsert_declared: a plugin's own schedules.
CREATE INDEX cron_jobs_declared ON cron_jobs (declared_by) WHERE declared_by IS NOT NULL;

-- One run of a schedule. No foreign key to jobs (an execution outlives its job's
-- cleanup: job_id then points nowhere) nor to cron_jobs (delete_cron_job deletes a
-- schedule's executions itself).
CREATE TABLE cron_executions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    cron_job_id       INTEGER NOT NULL,
    scheduled_for     INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    triggered_by      TEXT    NOT NULL,
    triggered_by_user TEXT,
    server_instance   TEXT,
    started_at        INTEGER,
    completed_at      INTEGER,
    duration_ms       INTEGER,
    result            TEXT,                     -- JSON, copied from the job
    error_message     TEXT,
    job_id            TEXT,                     -- jobs.job_id (the UUID), NULL when skipped
    seq               INTEGER NOT NULL
);

-- Each scheduler tick exactly once (docs/cron.md): whatever the number of schedulers,
-- a second insert of (schedule, tick) conflicts. Manual runs are not keyed by time.
CREATE UNIQUE INDEX cron_executions_tick ON cron_executions (cron_job_id, scheduled_for)
    WHERE triggered_by = 'scheduler';
-- list_executions / count_executions: a schedule's runs, newest first.
CREATE INDEX cron_executions_page ON cron_executions (cron_job_id, scheduled_for, id);
-- fire: is a run of this schedule still going (overlap policy)?
CREATE INDEX cron_executions_running ON cron_executions (cron_job_id)
    WHERE status = 'running';
-- The jobs trigger below: a job's execution by the job's UUID.
CREATE INDEX cron_executions_job ON cron_executions (job_id) WHERE job_id IS NOT NULL;
-- The change feed.
CREATE INDEX cron_executions_seq ON cron_executions (seq);
-- cleanup_executions: terminal runs by age.
CREATE INDEX cron_executions_completed ON cron_executions (completed_at)
    WHERE completed_at IS NOT NULL;

-- An execution mirrors its job IN THE TRANSACTION THAT CHANGES THE JOB (docs/cron.md):
-- whichever verb changes a cron job's status (claim, complete, fail, retry_later,
-- cancel, rescue, release, retry …), this runs inside its UPDATE statement, so the
-- execution and the schedule's counters can never disagree with the job.
--
-- Cheap for other jobs: ``UPDATE OF status`` skips it for writes that leave status
-- alone (progress, heartbeats, history counts), and the WHEN clause for jobs no
-- schedule created, before any of the body runs.
--
-- Feed seq: the rows it writes take NEW.seq, the seq the job's own UPDATE stamps.
-- Every status-changing UPDATE of jobs sets seq = the transaction's Tx.seq (the job
-- itself must reach the feed), so the execution and the schedule join the job's
-- group in changes_since; and since the job row changed, Tx stores that seq back at
-- COMMIT. Queries that find "the rows this transaction changed" by seq
-- (written_in_tx, insert_created_history) read only the jobs table, so the rows
-- written here never leak into them.
--
-- Job status → execution status: pending (a retry), running, cancelling → running;
-- completed → success; failed → timeout when the error is the executor's timeout
-- message ("Job timed out after N seconds", runtime/executor.py and
-- fail_timed_out_tracked), else failed; cancelled → cancelled.
--
-- The schedule changes first, while the execution still says 'running': that is the
-- guard that counts each run's end once (a job reaches a terminal status from a
-- non-terminal one only; a retry brings the execution back to running first).
-- Same rules as PostgreSQL's jobdeck_cron_mirror, value for value (the conformance
-- suite compares them):
-- * last_error: the job's error_message on a failure (failed or timeout), cleared by a
--   success, kept by a cancel.
-- * Reaching max_failures consecutive failures pauses an unpaused schedule (next_run_at
--   NULL, as set_paused does) and says why in last_error. max_failures NULL (or 0)
--   never pauses; a schedule already paused (by hand) keeps its pause state.
-- * updated_at stays: it moves on the writes of users and of fire only, so a run
--   ending never spoils a scheduler's compare-and-set (fire compares it).
-- * duration_ms: completed_at - started_at rounded to the nearest millisecond (half
--   up), never negative.
CREATE TRIGGER jobs_mirror_execution
AFTER UPDATE OF status ON jobs
WHEN NEW.cron_job_id IS NOT NULL AND NEW.status IS NOT OLD.status
BEGIN
    UPDATE cron_jobs SET
        last_status = CASE NEW.status
            WHEN 'completed' THEN 'success'
            WHEN 'cancelled' THEN 'cancelled'
            WHEN 'failed' THEN CASE WHEN NEW.error_message LIKE 'Job timed out after %'
                                    THEN 'timeout' ELSE 'failed' END
        END,
        success_count = success_count + (NEW.status = 'completed'),
        failure_count = failure_count + (NEW.status = 'failed'),
        consecutive_failures = CASE NEW.status
            WHEN 'completed' THEN 0
            WHEN 'failed' THEN consecutive_failures + 1
            ELSE consecutive_failures
        END,
        last_error = CASE
            WHEN NEW.status = 'completed' THEN NULL
            WHEN NEW.status <> 'failed' THEN last_error
            WHEN is_paused = 0 AND max_failures IS NOT NULL AND max_failures > 0
                 AND consecutive_failures + 1 >= max_failures
                THEN 'Paused after ' || (consecutive_failures + 1)
                     || ' consecutive failures' || coalesce(': ' || NEW.error_message, '')
            ELSE NEW.error_message
        END,
        is_paused = CASE
            WHEN NEW.status = 'failed' AND is_paused = 0 AND max_failures IS NOT NULL
                 AND max_failures > 0 AND consecutive_failures + 1 >= max_failures THEN 1
            ELSE is_paused
        END,
        next_run_at = CASE
            WHEN NEW.status = 'failed' AND is_paused = 0 AND max_failures IS NOT NULL
                 AND max_failures > 0 AND consecutive_failures + 1 >= max_failures THEN NULL
            ELSE next_run_at
        END,
        seq = NEW.seq
    WHERE id = NEW.cron_job_id
      AND NEW.status IN ('completed', 'failed', 'cancelled')
      AND EXISTS (SELECT 1 FROM cron_executions
                  WHERE job_id = NEW.job_id AND status = 'running');

    UPDATE cron_executions SET
        status = CASE NEW.status
            WHEN 'completed' THEN 'success'
            WHEN 'cancelled' THEN 'cancelled'
            WHEN 'failed' THEN CASE WHEN NEW.error_message LIKE 'Job timed out after %'
                                    THEN 'timeout' ELSE 'failed' END
            ELSE 'running'
        END,
        result = NEW.result,
        error_message = CASE WHEN NEW.status = 'completed' THEN NULL
                             ELSE NEW.error_message END,
        completed_at = CASE WHEN NEW.status IN ('completed', 'failed', 'cancelled')
                            THEN coalesce(NEW.completed_at, NEW.updated_at) END,
        -- Microseconds to milliseconds, half up: (µs + 500) / 1000 on a non-negative
        -- integer (SQLite's integer division truncates), as PostgreSQL's round().
        duration_ms = CASE WHEN NEW.status IN ('completed', 'failed', 'cancelled')
                           THEN (max(0, coalesce(NEW.completed_at, NEW.updated_at)
                                        - coalesce(started_at,
                                                   coalesce(NEW.completed_at, NEW.updated_at)))
                                 + 500) / 1000 END,
        seq = NEW.seq
    WHERE job_id = NEW.job_id;
END;
