-- Every SQL statement of the SQLite store, as `-- name: xyz` blocks loaded once by
-- jobdeck.store.sqlite.queries (the job list's statements are put together by
-- listing.py from its `jobs_where_*` pieces). Timestamps are integer microseconds
-- since the epoch (UTC).
-- `:allowed` / `:statuses` are JSON arrays of statuses (from domain.states.ALLOWED_FROM).
-- A fenced write passes `:attempt` and `:worker_id`; an unfenced one passes NULLs.

-- name: connection_setup
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA busy_timeout = 30000;
PRAGMA temp_store = MEMORY;
PRAGMA cache_size = -32000;

-- name: watch_setup
PRAGMA busy_timeout = 0;

-- name: backup_source_setup
-- jobdeck backup (store/sqlite/backup.py): wait for a busy moment to pass.
PRAGMA busy_timeout = 10000;

-- name: backup_finish
-- The copy as one self-contained file (no -wal beside it), then checked.
PRAGMA journal_mode = DELETE;

-- name: backup_check
PRAGMA quick_check;

-- name: backup_summary
SELECT (SELECT count(*) FROM jobs), (SELECT coalesce(max(version), 0) FROM schema_version);

-- name: data_version
PRAGMA data_version;

-- name: worker_wakes
-- How many writes have woken workers (watch.py; schema version 8).
SELECT count FROM worker_wakes WHERE id = 1;

-- name: wake_workers
UPDATE worker_wakes SET count = count + 1 WHERE id = 1;

-- name: begin_immediate
BEGIN IMMEDIATE;

-- name: commit
COMMIT;

-- name: rollback
ROLLBACK;

-- name: create_schema_version
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- name: schema_version
SELECT coalesce(max(version), 0) FROM schema_version;

-- name: record_schema_version
INSERT INTO schema_version (version) VALUES (?);

-- name: next_seq
-- The value a write transaction stamps on every job it writes. Read under the write
-- lock (BEGIN IMMEDIATE) and stored back with set_seq just before COMMIT, only if the
-- transaction changed anything: a claim that found nothing writes no page at all.
SELECT value + 1 FROM seq_counter WHERE id = 1;

-- name: set_seq
UPDATE seq_counter SET value = ? WHERE id = 1;

-- name: last_seq
SELECT value FROM seq_counter WHERE id = 1;

-- name: last_job_id
-- With the write lock held: the highest id ever handed out (AUTOINCREMENT keeps it
-- in sqlite_sequence even after deletes), so bulk inserts can assign ids themselves.
SELECT max(
    coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'jobs'), 0),
    coalesce((SELECT max(id) FROM jobs), 0)
);

-- name: insert_job
INSERT INTO jobs (
    id, job_id, name, description, type, mode, status, priority, payload, metadata,
    icon_svg, source, plugin_id, store_id, user_id, created_by, show_notification, run_at,
    max_retries, timeout, retry_delays, created_at, updated_at, cron_job_id, seq,
    history_count
) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1);

-- name: insert_job_bare
-- insert_job for a job without description, icon, plugin, store, user, retry delays or
-- cron job (most of a bulk enqueue): those columns are left out, so NULL. Binding None
-- is the sqlite3 module's slow path (an adapter lookup that raises and catches an
-- AttributeError, ~0.4 µs each): seven of them were a fifth of a bulk insert's time.
INSERT INTO jobs (
    id, job_id, name, type, mode, status, priority, payload, metadata, source,
    created_by, show_notification, run_at, max_retries, timeout, created_at, updated_at, seq,
    history_count
) VALUES (?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1);

-- name: insert_created_history
-- History ``created`` for every job insert_jobs just wrote, in one statement: they
-- are the rows carrying its transaction's :seq (unique to it, see Tx.seq).
INSERT INTO job_history (job_id, kind, message, data, created_at)
SELECT id, 'created', NULL, NULL, :at FROM jobs WHERE seq = :seq ORDER BY id;

-- name: insert_history_many
-- One statement (one step) for a batch: :rows is a JSON array of [job id, message, data].
INSERT INTO job_history (job_id, kind, message, data, created_at)
SELECT json_extract(value, '$[0]'), :kind, json_extract(value, '$[1]'),
       json_extract(value, '$[2]'), :at
FROM json_each(:rows);

-- name: get_job
SELECT * FROM jobs WHERE job_id = ?;

-- name: job_state
-- Why a conditional update changed nothing: missing job, lost fence or wrong status.
SELECT id, status, mode, attempt, locked_by FROM jobs WHERE job_id = ?;

-- name: json_rows
-- Template, not a statement: queries.json_rows puts a query returning job rows as
-- the subquery below. Its rows come back as ONE value, a JSON array of objects, read in
-- one sqlite3_step: the sqlite3 module releases the GIL around every step, and a busy
-- event loop can make winning it back cost a millisecond per row (rows.fetch_many).
-- REAL columns travel as text with 21 significant digits: json_object prints only 15,
-- and floats must round-trip exactly. Every column to_job reads, plus history_count
-- (history.append); not progress_at.
SELECT json_group_array(json_object(
    'id', id, 'job_id', job_id, 'name', name, 'type', type, 'mode', mode,
    'status', status, 'priority', priority, 'description', description,
    'progress', printf('%!.20e', progress), 'progress_message', progress_message,
    'payload', payload, 'metadata', metadata, 'result', result,
    'error_message', error_message, 'icon_svg', icon_svg, 'source', source,
    'plugin_id', plugin_id, 'store_id', store_id, 'user_id', user_id,
    'created_by', created_by,
    'show_notification', show_notification, 'run_at', run_at, 'attempt', attempt,
    'max_retries', max_retries, 'timeout', timeout, 'retry_delays', retry_delays,
    'created_at', created_at, 'updated_at', updated_at, 'started_at', started_at,
    'completed_at', completed_at, 'cron_job_id', cron_job_id, 'locked_by', locked_by,
    'lease_expires_at', lease_expires_at, 'seq', seq,
    'eta_seconds', CASE WHEN eta_seconds IS NOT NULL THEN printf('%!.20e', eta_seconds) END,
    'rate', CASE WHEN rate IS NOT NULL THEN printf('%!.20e', rate) END,
    'history_count', history_count
)) FROM ({rows})

-- name: start
UPDATE jobs SET
    status = 'running', started_at = :now, updated_at = :now, progress_at = :now,
    progress_window = NULL, seq = :seq, history_count = history_count + 1
WHERE job_id = :job_id AND mode = 'tracked'
  AND status IN (SELECT value FROM json_each(:allowed))
RETURNING *;

-- name: set_progress
-- The row was read under the same write lock; status/attempt make it conditional anyway.
UPDATE jobs SET
    progress = :progress, metadata = :metadata,
    progress_message = coalesce(:message, progress_message),
    progress_at = :now, rate = :rate, eta_seconds = :eta, progress_window = :window,
    updated_at = :now,
    seq = :seq, history_count = history_count + :history
WHERE id = :id AND status = :status AND attempt = :attempt
RETURNING *;

-- name: complete
UPDATE jobs SET
    status = 'completed', progress = 100, result = :result, completed_at = :now,
    updated_at = :now, locked_by = NULL, lease_expires_at = NULL, eta_seconds = 0,
    seq = :seq, history_count = history_count + 1
WHERE job_id = :job_id
  AND status IN (SELECT value FROM json_each(:allowed))
  AND (:attempt IS NULL OR (attempt = :attempt AND locked_by = :worker_id))
RETURNING *;

-- name: complete_many
-- Fenced completes of a whole batch in one statement. :items is a JSON array of
-- [job_id, attempt, worker_id, result as JSON text or null]. No RETURNING (one step
-- per row): the completed rows are read back by written_in_tx.
UPDATE jobs SET
    status = 'completed', progress = 100, result = items.result, completed_at = :now,
    updated_at = :now, locked_by = NULL, lease_expires_at = NULL, eta_seconds = 0,
    seq = :seq, history_count = history_count + 1
FROM (
    SELECT json_extract(value, '$[0]') AS job_id, json_extract(value, '$[1]') AS attempt,
           json_extract(value, '$[2]') AS worker_id, json_extract(value, '$[3]') AS result
    FROM json_each(:items)
) AS items
WHERE jobs.job_id = items.job_id AND jobs.attempt = items.attempt
  AND jobs.locked_by = items.worker_id
  AND jobs.status IN (SELECT value FROM json_each(:allowed));

-- name: written_in_tx
-- The jobs this write transaction changed: its :seq is unique to it (Tx.seq), so no
-- other row carries it.
SELECT * FROM jobs WHERE seq = :seq;

-- name: fail
UPDATE jobs SET
    status = 'failed', error_message = :error, completed_at = :now, updated_at = :now,
    locked_by = NULL, lease_expires_at = NULL, eta_seconds = NULL,
    seq = :seq, history_count = history_count + 1
WHERE job_id = :job_id
  AND status IN (SELECT value FROM json_each(:allowed))
  AND (:attempt IS NULL OR (attempt = :attempt AND locked_by = :worker_id))
RETURNING *;

-- name: cancel
-- :target comes from domain.states.cancel_target for the row read under the lock.
UPDATE jobs SET
    status = :target,
    completed_at = CASE WHEN :target = 'cancelled' THEN :now ELSE completed_at END,
    locked_by = CASE WHEN :target = 'cancelled' THEN NULL ELSE locked_by END,
    lease_expires_at = CASE WHEN :target = 'cancelled' THEN NULL ELSE lease_expires_at END,
    eta_seconds = NULL, updated_at = :now, seq = :seq, history_count = history_count + 1
WHERE id = :id AND status = :status
RETURNING *;

-- name: retry
UPDATE jobs SET
    status = 'pending', run_at = :now, error_message = NULL, result = NULL,
    completed_at = NULL, progress = 0, progress_message = NULL, progress_at = NULL,
    rate = NULL, eta_seconds = NULL, updated_at = :now,
    seq = :seq, history_count = history_count + 1
WHERE job_id = :job_id AND mode = 'queued'
  AND status IN (SELECT value FROM json_each(:allowed))
RETURNING *;

-- name: delete_job
DELETE FROM jobs
WHERE job_id = :job_id AND status IN (SELECT value FROM json_each(:allowed))
RETURNING id;

-- name: delete_history_of_job
DELETE FROM job_history WHERE job_id = ?;

-- name: claim_ready
-- Lock-free look before taking the write lock: idle pollers never serialize on it.
SELECT 1 FROM jobs
WHERE status = 'pending' AND mode = 'queued' AND run_at <= ?
LIMIT 1;

-- name: claim
-- Atomic because SQLite has one writer: this runs inside BEGIN IMMEDIATE, so no other
-- connection can claim (or change) these rows between the SELECT and the UPDATE.
-- The subquery walks the partial index jobs_claim in claim order. No RETURNING (one
-- step per row): the claimed rows are read back by written_in_tx.
UPDATE jobs SET
    status = 'running', attempt = attempt + 1, locked_by = :worker_id,
    lease_expires_at = :lease, started_at = :now, updated_at = :now,
    progress_at = :now, rate = NULL, eta_seconds = NULL, progress_window = NULL,
    seq = :seq, history_count = history_count + 1
WHERE id IN (
    SELECT id FROM jobs
    WHERE status = 'pending' AND mode = 'queued' AND run_at <= :now
    ORDER BY priority DESC, run_at, id
    LIMIT :limit
);

-- name: heartbeat
-- Leases are bookkeeping, not a visible change: no seq bump (see store.heartbeat).
UPDATE jobs SET lease_expires_at = :lease
WHERE job_id = :job_id AND attempt = :attempt AND locked_by = :worker_id
  AND status IN ('running', 'cancelling')
RETURNING status;

-- name: retry_later
UPDATE jobs SET
    status = 'pending', run_at = :run_at, error_message = :error,
    locked_by = NULL, lease_expires_at = NULL, progress = 0, progress_at = NULL,
    rate = NULL, eta_seconds = NULL, updated_at = :now,
    seq = :seq, history_count = history_count + 1
WHERE job_id = :job_id
  AND status IN (SELECT value FROM json_each(:allowed))
  AND attempt = :attempt AND locked_by = :worker_id
RETURNING *;

-- name: mark_cancelled
UPDATE jobs SET
    status = 'cancelled', completed_at = :now, locked_by = NULL, lease_expires_at = NULL,
    eta_seconds = NULL, updated_at = :now, seq = :seq, history_count = history_count + 1
WHERE job_id = :job_id
  AND status IN (SELECT value FROM json_each(:allowed))
  AND attempt = :attempt AND locked_by = :worker_id
RETURNING *;

-- name: release
-- Unfinished attempt given back uncounted: running -> pending, cancelling -> cancelled.
-- (SET expressions all see the row's old values.)
UPDATE jobs SET
    status = CASE status WHEN 'running' THEN 'pending' ELSE 'cancelled' END,
    attempt = CASE status WHEN 'running' THEN attempt - 1 ELSE attempt END,
    run_at = CASE status WHEN 'running' THEN :now ELSE run_at END,
    completed_at = CASE status WHEN 'running' THEN completed_at ELSE :now END,
    progress = CASE status WHEN 'running' THEN 0 ELSE progress END,
    progress_at = NULL, rate = NULL, eta_seconds = NULL,
    locked_by = NULL, lease_expires_at = NULL, updated_at = :now,
    seq = :seq, history_count = history_count + 1
WHERE job_id = :job_id AND attempt = :attempt AND locked_by = :worker_id
  AND status IN (SELECT value FROM json_each(:allowed))
RETURNING *;

-- name: rescue_expired
-- Lease expired (worker died). `attempt <= max_retries` is domain.retry.retries_left.
UPDATE jobs SET
    status = CASE
        WHEN status = 'cancelling' THEN 'cancelled'
        WHEN attempt <= max_retries THEN 'pending'
        ELSE 'failed' END,
    error_message = CASE
        WHEN status = 'running' AND attempt > max_retries THEN :lost
        ELSE error_message END,
    completed_at = CASE
        WHEN status = 'running' AND attempt <= max_retries THEN completed_at
        ELSE :now END,
    run_at = CASE
        WHEN status = 'running' AND attempt <= max_retries THEN :now
        ELSE run_at END,
    progress = CASE
        WHEN status = 'running' AND attempt <= max_retries THEN 0
        ELSE progress END,
    progress_at = NULL, rate = NULL, eta_seconds = NULL,
    locked_by = NULL, lease_expires_at = NULL, updated_at = :now,
    seq = :seq, history_count = history_count + 1
WHERE status IN ('running', 'cancelling') AND mode = 'queued' AND lease_expires_at < :now
RETURNING *;

-- name: fail_timed_out_tracked
UPDATE jobs SET
    status = 'failed',
    error_message = 'Job timed out after ' || timeout || ' seconds',
    completed_at = :now, updated_at = :now, eta_seconds = NULL,
    locked_by = NULL, lease_expires_at = NULL,
    seq = :seq, history_count = history_count + 1
WHERE status = 'running' AND mode = 'tracked' AND timeout > 0
  AND started_at + timeout * 1000000 < :now
RETURNING *;

-- name: any_timed_out_tracked
SELECT 1 FROM jobs
WHERE status = 'running' AND mode = 'tracked' AND timeout > 0
  AND started_at + timeout * 1000000 < ?
LIMIT 1;

-- name: any_expired
SELECT 1 FROM jobs
WHERE status IN ('running', 'cancelling') AND mode = 'queued' AND lease_expires_at < ?
LIMIT 1;

-- name: cleanup_batch
SELECT id FROM jobs
WHERE completed_at < :before AND status IN (SELECT value FROM json_each(:statuses))
LIMIT :batch;

-- name: delete_history_of_jobs
DELETE FROM job_history WHERE job_id IN (SELECT value FROM json_each(?));

-- name: delete_jobs
DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?));

-- name: prune_history
-- One batch; the caller repeats until a batch comes back short.
DELETE FROM job_history
WHERE id IN (SELECT id FROM job_history WHERE created_at < :before LIMIT :batch);

-- name: next_run_at
SELECT min(run_at) FROM jobs WHERE status = 'pending' AND mode = 'queued';

-- name: add_history
UPDATE jobs SET seq = :seq, history_count = history_count + 1
WHERE job_id = :job_id
RETURNING id, history_count;

-- name: history_count
SELECT count(*) FROM job_history WHERE job_id = ?;

-- name: history_drop_oldest
DELETE FROM job_history
WHERE id IN (SELECT id FROM job_history WHERE job_id = ? ORDER BY id LIMIT ?);

-- name: set_history_count
UPDATE jobs SET history_count = ? WHERE id = ?;

-- name: get_history
-- The newest :limit events, returned oldest first.
SELECT * FROM (
    SELECT h.id, j.job_id, h.kind, h.message, h.data, h.created_at
    FROM job_history h JOIN jobs j ON j.id = h.job_id
    WHERE j.job_id = ?
    ORDER BY h.id DESC
    LIMIT ?
) ORDER BY id;

-- name: changes_since
-- Jobs written by one transaction share a seq: a page that ends inside such a group
-- is completed with the rest of it, so following by seq never skips a job. (When
-- the page is not full there is no rest.) One statement reads one snapshot.
WITH page AS (
    SELECT * FROM jobs WHERE seq > :seq ORDER BY seq, id LIMIT :limit
), last AS (
    SELECT seq, id FROM page ORDER BY seq DESC, id DESC LIMIT 1
)
SELECT * FROM page
UNION ALL
SELECT jobs.* FROM jobs JOIN last ON jobs.seq = last.seq AND jobs.id > last.id;

-- name: insert_token
INSERT INTO tokens (name, token_hash, scopes, plugin, store, created_at)
VALUES (?, ?, ?, ?, ?, ?)
RETURNING *;

-- name: token_by_hash
SELECT * FROM tokens WHERE token_hash = ? AND revoked_at IS NULL;

-- name: token_by_id
SELECT * FROM tokens WHERE id = ?;

-- name: list_tokens
SELECT * FROM tokens ORDER BY id;

-- name: revoke_token
-- A record of the change feed at :seq (docs/feed.md, "Revocations"); its grants
-- (login codes, tickets, sessions) end with it.
UPDATE tokens SET revoked_at = :now, revoked_seq = :seq
WHERE name = :name AND revoked_at IS NULL
RETURNING id;

-- name: end_grants_of_token
DELETE FROM grants WHERE token_id = ?;

-- name: revocation_changes_since
-- changes_since for revocations: one token a transaction, so no group to complete.
SELECT id, name, revoked_seq AS seq FROM tokens
WHERE revoked_seq > :seq ORDER BY revoked_seq, id LIMIT :limit;

-- name: touch_token
-- Never backwards (processes' clocks differ a little).
UPDATE tokens SET last_used_at = :now
WHERE id = :token_id AND (last_used_at IS NULL OR last_used_at < :now);

-- name: purge_grants
DELETE FROM grants WHERE expires_at <= ?;

-- name: insert_grant
INSERT INTO grants (kind, secret_hash, token_id, expires_at) VALUES (?, ?, ?, ?);

-- name: use_grant
-- Single use: the used_at IS NULL condition and the write lock make one use win.
UPDATE grants SET used_at = :now
WHERE kind = :kind AND secret_hash = :secret_hash AND used_at IS NULL
  AND expires_at > :now
  AND token_id IN (SELECT id FROM tokens WHERE revoked_at IS NULL)
RETURNING token_id;

-- name: peek_grant
SELECT token_id FROM grants
WHERE kind = :kind AND secret_hash = :secret_hash AND used_at IS NULL
  AND expires_at > :now
  AND token_id IN (SELECT id FROM tokens WHERE revoked_at IS NULL);

-- ---------------------------------------------------------------------------------
-- Cron schedules and executions (store/sqlite/schedules.py). Every write runs inside
-- a Tx (BEGIN IMMEDIATE: the one writer), so a read of a schedule followed by a
-- conditional write of it is atomic: nobody else can write between them. Rows written
-- take the transaction's :seq (Tx.seq), jobs' feed rules.

-- name: begin_read
-- A read transaction: in WAL mode every SELECT until COMMIT sees the snapshot taken
-- by the first one (changes_since reads three tables as of one instant).
BEGIN;

-- fragment: cron_definition_columns
    name, description, cron_expression, timezone, job_type, configuration, plugin_id,
    store_id, is_active, max_runs, max_failures, timeout_seconds, misfire_policy,
    misfire_grace_seconds, overlap_policy, tags, priority, max_retries, show_notification

-- name: insert_cron_job
INSERT INTO cron_jobs (
    {cron_definition_columns},
    created_by, declared_by, next_run_at, created_at, updated_at, seq
) VALUES (
    :name, :description, :cron_expression, :timezone, :job_type, :configuration,
    :plugin_id, :store_id, :is_active, :max_runs, :max_failures, :timeout_seconds,
    :misfire_policy, :misfire_grace_seconds, :overlap_policy, :tags, :priority,
    :max_retries, :show_notification,
    :created_by, :declared_by, :next_run_at, :now, :now, :seq
)
RETURNING *;

-- fragment: cron_definition_set
-- A new definition replaces the stored one, except is_active (each statement sets it).
    name = :name, description = :description, cron_expression = :cron_expression,
    timezone = :timezone, job_type = :job_type, configuration = :configuration,
    plugin_id = :plugin_id, store_id = :store_id,
    max_runs = :max_runs, max_failures = :max_failures, timeout_seconds = :timeout_seconds,
    misfire_policy = :misfire_policy, misfire_grace_seconds = :misfire_grace_seconds,
    overlap_policy = :overlap_policy, tags = :tags, priority = :priority,
    max_retries = :max_retries, show_notification = :show_notification

-- fragment: cron_touched
-- updated_at of a write to a schedule (a user's, or fire): :now, or one microsecond
-- after the stored value when :now is not later, so that it changes on every such write
-- (fire compares it). The jobs trigger never moves it.
max(:now, updated_at + 1)

-- name: update_cron_definition
-- Counters, is_paused and created_* stay; the caller checked the name key under the
-- same write lock (cron_job_by_key), the unique index is the backstop. next_run_at is
-- decided here, from the row as it is (SET expressions read the old values): NULL when
-- paused or made inactive; :next_run_at (the next fire time after now) when the
-- expression, timezone or activity changed, or none is stored; else the stored one (a
-- due tick survives an edit of the description). Activating a retired schedule makes
-- it an ordinary one.
UPDATE cron_jobs SET
    {cron_definition_set},
    is_active = :is_active,
    retired = retired AND NOT :is_active,
    next_run_at = CASE
        WHEN is_paused OR NOT :is_active THEN NULL
        WHEN cron_expression IS NOT :cron_expression OR timezone IS NOT :timezone
             OR is_active IS NOT :is_active OR next_run_at IS NULL THEN :next_run_at
        ELSE next_run_at END,
    updated_at = {cron_touched}, seq = :seq
WHERE id = :id
RETURNING *;

-- name: redeclare_cron_job
-- upsert_declared of a schedule this plugin declared before (the caller skips it when
-- nothing would change). is_active and is_paused stay, unless it was retired: then it
-- takes the declared activity and the given next fire time, unless paused. Otherwise
-- next_run_at changes only with the expression or timezone of an active, unpaused one.
UPDATE cron_jobs SET
    {cron_definition_set},
    is_active = CASE WHEN retired THEN :is_active ELSE is_active END,
    retired = 0,
    next_run_at = CASE
        WHEN is_paused THEN next_run_at
        WHEN retired THEN :next_run_at
        WHEN NOT is_active THEN next_run_at
        WHEN cron_expression IS NOT :cron_expression OR timezone IS NOT :timezone
            THEN :next_run_at
        ELSE next_run_at END,
    updated_at = {cron_touched}, seq = :seq
WHERE id = :id
RETURNING *;

-- name: get_cron_job
SELECT * FROM cron_jobs WHERE id = ?;

-- name: cron_job_by_key
-- The schedule holding a name key, NULLs matching NULLs (the cron_jobs_name_key index).
SELECT * FROM cron_jobs
WHERE name = :name
  AND coalesce(plugin_id, x'') = coalesce(:plugin_id, x'')
  AND coalesce(store_id, x'') = coalesce(:store_id, x'');

-- name: find_cron_jobs
SELECT * FROM cron_jobs WHERE name = ? ORDER BY id;

-- fragment: cron_filter
    (:status IS NULL
     OR (:status = 'active' AND is_active = 1 AND is_paused = 0)
     OR (:status = 'paused' AND is_active = 1 AND is_paused = 1)
     OR (:status = 'inactive' AND is_active = 0))
    AND (:job_type IS NULL OR job_type = :job_type)
    AND (:plugin_id IS NULL OR plugin_id = :plugin_id)
    AND (:store_id IS NULL OR store_id = :store_id)
    AND (:text IS NULL
         OR instr(lower(name), :text) > 0
         OR instr(lower(coalesce(description, '')), :text) > 0)
    AND NOT EXISTS (
        SELECT 1 FROM json_each(:tags) AS wanted
        WHERE wanted.value NOT IN (SELECT value FROM json_each(cron_jobs.tags)))

-- name: list_cron_jobs
-- :sort_by is one of domain.schedule.CRON_SORT_KEYS (checked by the caller); NULLs
-- last in both directions, then id in the same direction.
WITH keyed AS (
    SELECT *, CASE :sort_by
        WHEN 'name' THEN name
        WHEN 'next_run_at' THEN next_run_at
        WHEN 'last_run_at' THEN last_run_at
        ELSE created_at
    END AS sort_key
    FROM cron_jobs
    WHERE {cron_filter}
)
SELECT * FROM keyed
ORDER BY sort_key IS NULL,
         CASE WHEN :descending THEN NULL ELSE sort_key END,
         CASE WHEN :descending THEN sort_key END DESC,
         CASE WHEN :descending THEN NULL ELSE id END,
         id DESC
LIMIT :limit OFFSET :offset;

-- name: count_cron_jobs
SELECT count(*) FROM cron_jobs WHERE {cron_filter};

-- name: set_paused
-- Resuming starts the failure streak over (else one more failure would pause again).
UPDATE cron_jobs SET
    is_paused = :paused, next_run_at = :next_run_at,
    consecutive_failures = CASE WHEN :paused THEN consecutive_failures ELSE 0 END,
    updated_at = {cron_touched}, seq = :seq
WHERE id = :id
RETURNING *;

-- name: delete_executions_of
DELETE FROM cron_executions WHERE cron_job_id = ?;

-- name: delete_cron_job
DELETE FROM cron_jobs WHERE id = ? RETURNING id;

-- name: due_cron_jobs
-- Walks the partial index cron_jobs_due.
SELECT * FROM cron_jobs
WHERE is_active = 1 AND is_paused = 0 AND next_run_at IS NOT NULL AND next_run_at <= :now
ORDER BY next_run_at, id
LIMIT :limit;

-- name: next_cron_at
SELECT min(next_run_at) FROM cron_jobs
WHERE is_active = 1 AND is_paused = 0 AND next_run_at IS NOT NULL;

-- name: fire_claim
-- The compare-and-set of fire: the schedule as this scheduler last saw it due (its
-- next_run_at and updated_at, which every user write and every fire moves). Read
-- under the write lock, and the tick rows and the schedule's new next_run_at are
-- written before COMMIT, so of several schedulers that saw the same tick exactly one
-- finds it here; the others find it moved on and record nothing, and so does a
-- scheduler whose read predates an edit (its job would carry the old definition).
-- (The unique tick index would stop a duplicate run anyway.)
SELECT * FROM cron_jobs
WHERE id = :id AND is_active = 1 AND is_paused = 0 AND next_run_at = :expected
  AND updated_at = :updated_at;

-- name: cron_running
-- A run of this schedule has not ended (overlap policy), via cron_executions_running.
SELECT 1 FROM cron_executions WHERE cron_job_id = ? AND status = 'running' LIMIT 1;

-- name: insert_execution
-- DO NOTHING on the tick key (the partial unique index cron_executions_tick, named by
-- its columns and WHERE): a tick already recorded is skipped, no run, no error.
-- Manual runs never conflict (the index leaves them out).
INSERT INTO cron_executions (
    cron_job_id, scheduled_for, status, triggered_by, triggered_by_user, server_instance,
    started_at, completed_at, job_id, seq
) VALUES (
    :cron_job_id, :scheduled_for, :status, :triggered_by, :triggered_by_user,
    :server_instance, :now, :completed_at, :job_id, :seq
)
ON CONFLICT (cron_job_id, scheduled_for) WHERE triggered_by = 'scheduler' DO NOTHING
RETURNING *;

-- name: fired
-- After a fire: the next tick, the runs it added, and inactive once max_runs is reached.
-- last_run_at moves only when a tick created a run (not when every tick was skipped).
UPDATE cron_jobs SET
    next_run_at = CASE WHEN :exhausted THEN NULL ELSE :next_run_at END,
    is_active = CASE WHEN :exhausted THEN 0 ELSE is_active END,
    last_run_at = CASE WHEN :runs > 0 THEN :now ELSE last_run_at END,
    run_count = run_count + :runs, updated_at = {cron_touched}, seq = :seq
WHERE id = :id;

-- name: list_executions
SELECT * FROM cron_executions WHERE cron_job_id = :id
ORDER BY scheduled_for DESC, id DESC
LIMIT :limit OFFSET :offset;

-- name: count_executions
SELECT count(*) FROM cron_executions WHERE cron_job_id = ?;

-- name: get_execution
SELECT * FROM cron_executions WHERE id = ?;

-- name: cleanup_executions
-- One batch; the caller repeats until a batch comes back short.
DELETE FROM cron_executions
WHERE id IN (SELECT id FROM cron_executions
             WHERE completed_at < :before AND status <> 'running' LIMIT :batch);

-- name: declared_by
SELECT * FROM cron_jobs WHERE declared_by = ?;

-- name: deactivate_cron_jobs
-- A declaration gone from the plugin's code: its schedule stops (retired, so that a
-- later declaration brings it back), its history stays.
UPDATE cron_jobs SET
    is_active = 0, retired = 1, next_run_at = NULL, updated_at = {cron_touched}, seq = :seq
WHERE id IN (SELECT value FROM json_each(:ids));

-- name: cron_changes_since
-- changes_since for schedules; the group completion of changes_since (jobs).
WITH page AS (
    SELECT * FROM cron_jobs WHERE seq > :seq ORDER BY seq, id LIMIT :limit
), last AS (
    SELECT seq, id FROM page ORDER BY seq DESC, id DESC LIMIT 1
)
SELECT * FROM page
UNION ALL
SELECT cron_jobs.* FROM cron_jobs JOIN last ON cron_jobs.seq = last.seq
                                          AND cron_jobs.id > last.id;

-- name: execution_changes_since
WITH page AS (
    SELECT * FROM cron_executions WHERE seq > :seq ORDER BY seq, id LIMIT :limit
), last AS (
    SELECT seq, id FROM page ORDER BY seq DESC, id DESC LIMIT 1
)
SELECT * FROM page
UNION ALL
SELECT cron_executions.* FROM cron_executions
JOIN last ON cron_executions.seq = last.seq AND cron_executions.id > last.id;

-- name: jobs_page
-- The job list (store/sqlite/listing.py puts the statement together): {where} is the
-- filters given, joined by AND (each a jobs_where_* block below), {order} the sort.
-- A statement per combination of filters, not one with optional filters
-- (`:x IS NULL OR col = :x`): SQLite plans a statement once, without the values, and
-- an optional filter can never use an index (docs/ui.md, "Lists at 100,000 jobs").
SELECT * FROM jobs WHERE {where} ORDER BY {order} LIMIT :limit OFFSET :offset;

-- name: jobs_count
SELECT count(*) FROM jobs WHERE {where};

-- name: jobs_count_by_status
SELECT status, count(*) FROM jobs WHERE {where} GROUP BY status;

-- name: finished_per_minute
-- Minutes since the epoch: completed_at is in microseconds.
SELECT completed_at / 60000000 AS minute, status, count(*) AS n
FROM jobs
WHERE completed_at >= :since AND {where}
GROUP BY minute, status;

-- name: history_after
SELECT h.id, j.job_id, h.kind, h.message, h.data, h.created_at
FROM job_history h JOIN jobs j ON j.id = h.job_id
WHERE j.job_id = ? AND h.id > ?
ORDER BY h.id
LIMIT ?;

-- name: record_worker
INSERT INTO workers (worker_id, host, pid, concurrency, running, started_at, last_seen_at)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (worker_id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, concurrency = excluded.concurrency,
    running = excluded.running, started_at = excluded.started_at,
    last_seen_at = excluded.last_seen_at;

-- name: list_workers
SELECT * FROM workers WHERE last_seen_at >= ? ORDER BY worker_id;

-- name: remove_workers
DELETE FROM workers
WHERE worker_id IN (SELECT value FROM json_each(:ids)) OR last_seen_at < :before;

-- name: index_text_next
-- Where the trigram index stands, and the last id of the next batch (maintenance).
SELECT up_to,
       (SELECT max(id) FROM (SELECT id FROM jobs WHERE id > up_to ORDER BY id LIMIT :limit))
FROM jobs_text_state;

-- name: index_text
INSERT INTO jobs_text (rowid, name, description, type)
SELECT id, name, description, type FROM jobs WHERE id > :after AND id <= :up_to;

-- name: index_text_done
UPDATE jobs_text_state SET up_to = :up_to WHERE up_to < :up_to;

-- The jobs_where_* blocks are pieces of a WHERE clause, not statements (no comments
-- inside them: they are spliced into the middle of a line). jobs_where_trigrams takes
-- candidates from the trigram index (a search of 3 characters or more, quoted as an
-- FTS5 phrase), and every job the index does not hold yet; jobs_where_text is the
-- exact test, which always applies.
-- name: jobs_where_all
1
-- name: jobs_where_status
status IN (SELECT value FROM json_each(:statuses))
-- name: jobs_where_type
type = :type
-- name: jobs_where_source
source = :source
-- name: jobs_where_store_id
store_id = :store_id
-- name: jobs_where_plugin_id
plugin_id = :plugin_id
-- name: jobs_where_mode
mode = :mode
-- name: jobs_where_trigrams
(id > (SELECT up_to FROM jobs_text_state) OR id IN (SELECT rowid FROM jobs_text WHERE jobs_text MATCH :trigrams))
-- name: jobs_where_text
(instr(lower(name), :text) > 0 OR instr(lower(coalesce(description, '')), :text) > 0 OR instr(lower(type), :text) > 0)
