-- jobdeck PostgreSQL schema, version 1.
-- Applied by PostgresStore.open() inside one transaction under a
-- pg_advisory_xact_lock, so several processes starting at once migrate once.

-- The change-feed counter. Values are only taken under the feed lock (see
-- queries.sql, "feed_lock"), so they commit in increasing order.
CREATE SEQUENCE jobdeck_seq;

CREATE TABLE jobdeck_jobs (
    id                bigserial PRIMARY KEY,
    job_id            text NOT NULL UNIQUE,
    name              text NOT NULL,
    type              text NOT NULL,
    mode              text NOT NULL CHECK (mode IN ('tracked', 'queued')),
    status            text NOT NULL CHECK (status IN
                        ('pending', 'running', 'cancelling', 'completed', 'failed', 'cancelled')),
    priority          smallint NOT NULL DEFAULT 1,
    description       text,
    progress          double precision NOT NULL DEFAULT 0,
    progress_message  text,
    -- time of the last progress value: the start of the next rate sample
    progress_at       timestamptz,
    payload           jsonb NOT NULL DEFAULT '{}',
    metadata          jsonb NOT NULL DEFAULT '{}',
    result            jsonb,
    error_message     text,
    icon_svg          text,
    source            text,
    plugin_id         text,
    store_id          text,
    user_id           text,
    show_notification boolean NOT NULL DEFAULT true,
    run_at            timestamptz NOT NULL,
    attempt           integer NOT NULL DEFAULT 0,
    max_retries       integer NOT NULL DEFAULT 3,
    timeout           integer NOT NULL DEFAULT 300,
    retry_delays      jsonb,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    started_at        timestamptz,
    completed_at      timestamptz,
    cron_job_id       bigint,
    locked_by         text,
    lease_expires_at  timestamptz,
    seq               bigint NOT NULL,
    -- upper bound of this job's history rows, capped at the history limit (queries.sql)
    history_count     integer NOT NULL DEFAULT 0,
    eta_seconds       double precision,
    rate              double precision
);

-- A queue table: every job is updated a few times and then rarely touched. Vacuum it
-- early so dead entries do not pile up in the claim index (each dead entry costs every
-- claim a visit until it is cleaned).
ALTER TABLE jobdeck_jobs SET (autovacuum_vacuum_scale_factor = 0.02,
                              autovacuum_analyze_scale_factor = 0.02,
                              autovacuum_vacuum_cost_delay = 0);

-- The claim reads this index in claim order and nothing else: only claimable rows are in it.
CREATE INDEX jobdeck_jobs_claim ON jobdeck_jobs (priority DESC, run_at, id)
    WHERE status = 'pending' AND mode = 'queued';
CREATE INDEX jobdeck_jobs_seq ON jobdeck_jobs (seq);
CREATE INDEX jobdeck_jobs_lease ON jobdeck_jobs (lease_expires_at)
    WHERE status IN ('running', 'cancelling') AND mode = 'queued';
CREATE INDEX jobdeck_jobs_tracked_running ON jobdeck_jobs (started_at)
    WHERE status = 'running' AND mode = 'tracked';
CREATE INDEX jobdeck_jobs_finished ON jobdeck_jobs (completed_at)
    WHERE status IN ('completed', 'failed', 'cancelled');
-- Lists filtered by status, newest first (the UI's "failed jobs" on a big table).
CREATE INDEX jobdeck_jobs_status ON jobdeck_jobs (status, id);

-- No foreign key: deleting a job deletes its history explicitly in the same
-- statement, and skipping the FK check keeps every history insert cheap.
CREATE TABLE jobdeck_history (
    id         bigserial PRIMARY KEY,
    job_pk     bigint NOT NULL,
    kind       text NOT NULL,
    message    text,
    data       jsonb,
    created_at timestamptz NOT NULL
);
CREATE INDEX jobdeck_history_job ON jobdeck_history (job_pk, id);
-- created_at grows with id, so a BRIN index serves prune_history's range delete at
-- almost no cost per insert (three history rows per job: created, started, completed).
CREATE INDEX jobdeck_history_created ON jobdeck_history USING brin (created_at);

CREATE TABLE jobdeck_tokens (
    id           bigserial PRIMARY KEY,
    name         text NOT NULL,
    token_hash   text NOT NULL UNIQUE,
    scopes       text[] NOT NULL,
    plugin       text,
    store        text,
    created_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
-- Names are unique among live tokens; a revoked name may be reused.
CREATE UNIQUE INDEX jobdeck_tokens_live_name ON jobdeck_tokens (name) WHERE revoked_at IS NULL;

CREATE TABLE jobdeck_grants (
    id          bigserial PRIMARY KEY,
    kind        text NOT NULL,
    secret_hash text NOT NULL,
    token_id    bigint NOT NULL REFERENCES jobdeck_tokens (id) ON DELETE CASCADE,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    UNIQUE (kind, secret_hash)
);

-- Rate and ETA of a progress update: the same arithmetic, in the same order, as
-- jobdeck.domain.progress.estimate, so both backends give the same numbers.
CREATE FUNCTION jobdeck_rate(prev_rate float8, prev_progress float8, prev_at timestamptz,
                             progress float8, now timestamptz)
RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN prev_at IS NULL OR progress < prev_progress THEN NULL
        WHEN now <= prev_at THEN prev_rate
        WHEN prev_rate IS NULL
            THEN (progress - prev_progress) / extract(epoch FROM now - prev_at)::float8
        ELSE 0.3::float8 * ((progress - prev_progress) / extract(epoch FROM now - prev_at)::float8)
             + (1 - 0.3::float8) * prev_rate
    END
$$;

CREATE FUNCTION jobdeck_eta(rate float8, progress float8)
RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN rate IS NULL OR rate <= 0 THEN NULL
                ELSE greatest(0::float8, (100 - progress) / rate) END
$$;
