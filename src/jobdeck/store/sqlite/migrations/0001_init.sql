-- jobdeck SQLite schema, version 1.
--
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC): exact round
-- trips of Python datetimes, numeric comparison, compact sortable indexes.
-- JSON columns hold text produced by json.dumps.

CREATE TABLE jobs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so ids only increase
    job_id            TEXT    NOT NULL UNIQUE,
    name              TEXT    NOT NULL,
    description       TEXT,
    type              TEXT    NOT NULL,
    mode              TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    priority          INTEGER NOT NULL,
    progress          REAL    NOT NULL DEFAULT 0,
    progress_message  TEXT,
    progress_at       INTEGER,            -- time of the last progress write (for the rate)
    payload           TEXT    NOT NULL DEFAULT '{}',
    metadata          TEXT    NOT NULL DEFAULT '{}',
    result            TEXT,
    error_message     TEXT,
    icon_svg          TEXT,
    source            TEXT,
    plugin_id         TEXT,
    store_id          TEXT,
    user_id           TEXT,
    show_notification INTEGER NOT NULL DEFAULT 1,
    run_at            INTEGER NOT NULL,
    attempt           INTEGER NOT NULL DEFAULT 0,
    max_retries       INTEGER NOT NULL DEFAULT 3,
    timeout           INTEGER NOT NULL DEFAULT 300,
    retry_delays      TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    started_at        INTEGER,
    completed_at      INTEGER,
    cron_job_id       INTEGER,
    locked_by         TEXT,               -- non-null exactly while running/cancelling
    lease_expires_at  INTEGER,
    seq               INTEGER NOT NULL,
    eta_seconds       REAL,
    rate              REAL,
    -- Upper bound of this job's history rows (history pruned by age only lowers the
    -- real count); exceeding history_limit triggers an exact recount and a prune.
    history_count     INTEGER NOT NULL DEFAULT 0
);

-- The claim: pending queued jobs in claim order. Partial, so it only holds the queue.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, id)
    WHERE status = 'pending' AND mode = 'queued';
-- The change feed.
CREATE INDEX jobs_seq ON jobs (seq);
-- rescue_expired: leases of jobs held by workers.
CREATE INDEX jobs_lease ON jobs (lease_expires_at)
    WHERE status IN ('running', 'cancelling');
-- fail_timed_out_tracked: the (few) running tracked jobs.
CREATE INDEX jobs_tracked_running ON jobs (started_at)
    WHERE status = 'running' AND mode = 'tracked';
-- cleanup: terminal jobs by age.
CREATE INDEX jobs_completed ON jobs (completed_at)
    WHERE completed_at IS NOT NULL;

CREATE TABLE job_history (
    id         INTEGER PRIMARY KEY,
    job_id     INTEGER NOT NULL,        -- jobs.id (deleted explicitly with its job)
    kind       TEXT    NOT NULL,
    message    TEXT,
    data       TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX job_history_job ON job_history (job_id, id);
CREATE INDEX job_history_created ON job_history (created_at);

-- One row: the change-feed sequence. Bumped once by every write transaction.
CREATE TABLE seq_counter (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO seq_counter (id, value) VALUES (1, 0);

CREATE TABLE tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT    NOT NULL,
    token_hash   TEXT    NOT NULL UNIQUE,
    scopes       TEXT    NOT NULL,
    plugin       TEXT,
    store        TEXT,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
-- Names are unique among unrevoked tokens; a revoked name may be reused.
CREATE UNIQUE INDEX tokens_live_name ON tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE grants (
    kind        TEXT    NOT NULL,
    secret_hash TEXT    NOT NULL,
    token_id    INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    PRIMARY KEY (kind, secret_hash)
);
CREATE INDEX grants_token ON grants (token_id);
