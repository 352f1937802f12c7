-- Every SQL statement of the PostgreSQL store, as `-- name: xyz` blocks.
-- Loaded once by jobdeck.store.postgres.queries; parameters use psycopg's %(name)s.
-- `-- fragment: xyz` blocks are the pieces every job write shares; a statement
-- includes one as `{xyz}`, replaced at load time (so the server sees, and each
-- connection prepares, the whole statement as before).
--
-- How a job write works (see PostgresStore._write):
--   <verb statement>                 -- one statement in autocommit: one round trip
-- The verb statement is a single conditional UPDATE/INSERT (the WHERE clause is the
-- transition check and the fence) whose CTEs also write the history rows, prune
-- history to the limit and take the change-feed number (registered: see
-- feed_horizon). Listeners are woken after the commit by coalesced NOTIFYs (notify).
-- Zero rows back means the transition was refused; nothing changed.
--
-- History stays within history_limit without counting rows on every write: a job's
-- history_count is an upper bound of its history events (stored rows and derived ones:
-- derived_events), capped at the limit (keep + 1).
-- Only a job at the cap pays for the `pruned` CTE, which deletes the rows older than
-- the newest `keep` (all CTEs see the snapshot before this statement's own insert,
-- so keep = limit - 1 old rows plus the new one make the limit).
--
-- A job's insert stores no `created` event, and a worker's attempt neither its `started`
-- nor its `completed`: the job row holds their reserved ids, and reads derive them from
-- it (derived_events).

-- fragment: feed_seq
-- The statement's change-feed number, taken once (MATERIALIZED) and registered for
-- the feed horizon (jobdeck_feed_seq, migration 0007; see feed_horizon): every row the
-- statement writes gets the same seq.
s AS MATERIALIZED (SELECT jobdeck_feed_seq() AS seq)

-- fragment: worker_seq
-- feed_seq for a worker's claims and completions, which also commit without waiting
-- for the WAL flush (synchronous_commit off, for this transaction only). Waiting was
-- most of a busy worker's idle time between statements. A crash of the server can
-- undo the last of them (up to about three wal_writer_delay): a claim undone leaves the
-- job pending (claimed again by the same worker, it is the same attempt, which the run
-- under way keeps unless told it lost the job: Worker._claim); a completion undone
-- leaves it running until its lease expires, and it is run again, as at-least-once
-- allows. Every other write still waits for the flush, and so makes every earlier
-- commit durable with its own.
-- Readers make what they read durable before handing it out (durable), so no seq or
-- history id that anyone read is handed out again after a crash. docs/postgres.md,
-- "Commits that do not wait for the disk".
s AS MATERIALIZED (
    SELECT jobdeck_feed_seq() AS seq, set_config('synchronous_commit', 'off', true) AS _sync
)

-- fragment: follower_key
-- The follower lock's advisory key (notify, listen_jobs): 0x4A46 ("JF") in the top
-- 16 bits, another range than the feed's registrations (migration 0007).
(19014 :: bigint << 48)

-- fragment: fenced
-- A write of a worker's attempt (%(fenced)s): only while that attempt still holds the job.
(NOT %(fenced)s::boolean OR (j.attempt = %(attempt)s::int AND j.locked_by = %(worker)s::text))

-- fragment: changed_rows
-- The statement's result: the rows it wrote (the caller announces them: notify).
SELECT upd.* FROM upd

-- fragment: next_history_count
-- history_count after this write adds one history row (an upper bound, capped).
least(j.history_count + 1, %(keep)s::int + 1)

-- fragment: prune_to_limit
-- Reads `upd` (the rows this statement wrote and added one history row to): a job at
-- the cap loses its rows older than the newest `keep`. A statement that also stores an
-- ended attempt's `started` row (store_started) may leave limit + 1 rows: reads take
-- the newest `limit` events (get_history), and the job's next row prunes again.
pruned AS (
    DELETE FROM jobdeck_history h
    USING (SELECT u.id AS job_pk,
                  (SELECT hh.id FROM jobdeck_history hh WHERE hh.job_pk = u.id
                   ORDER BY hh.job_pk DESC, hh.id DESC OFFSET %(keep)s::int LIMIT 1) AS cutoff
           FROM upd u WHERE u.history_count >= %(keep)s::int + 1) c
    WHERE h.job_pk = c.job_pk AND h.id <= c.cutoff
)

-- fragment: claim_pending
-- Reads `s`: takes up to %(limit)s pending queued jobs due at %(now)s, in claim order,
-- for %(worker)s; the rows written are `claimed`.
-- Why this is atomic: the `picked` subquery locks each row it returns (FOR UPDATE) and
-- SKIPs rows another transaction has locked instead of waiting for them, so two
-- claimers never pick the same row; the UPDATE runs in the same statement and the row
-- locks last until COMMIT, after which the rows are 'running' and no longer match. A row
-- that another claimer committed while we scanned is re-checked against the WHERE
-- clause after locking (READ COMMITTED re-evaluation) and dropped.
-- The UPDATE finds the picked rows by primary key (`= ANY` of an array): joined to
-- `picked` instead, the session's generic plan guesses hundreds of picked rows once
-- the table has statistics and hashes the whole table for each claim (17 ms at 20,000
-- jobs; docs/postgres.md). tests/integration/test_postgres_plans.py.
-- The attempt's `started` event is not stored: its history id is reserved here, and
-- the worker kept beside it (derived_events).
picked AS (
    SELECT id FROM jobdeck_jobs
    WHERE status = 'pending' AND mode = 'queued' AND run_at <= %(now)s
    ORDER BY priority DESC, run_at, id
    LIMIT %(limit)s::int
    FOR UPDATE SKIP LOCKED
),
claimed AS (
    UPDATE jobdeck_jobs j
    SET status = 'running', attempt = j.attempt + 1, locked_by = %(worker)s::text,
        lease_expires_at = %(lease)s, started_at = %(now)s, progress_at = %(now)s,
        rate = NULL, eta_seconds = NULL, progress_window = NULL, updated_at = %(now)s,
        seq = jobdeck_row_seq(j.seq, s.seq), history_count = {next_history_count},
        started_event = nextval('jobdeck_history_id_seq'), started_by = %(worker)s::text,
        text_indexed = true  -- a new version in every index anyway (migration 0011)
    FROM s
    WHERE j.id = ANY (ARRAY(SELECT id FROM picked))
    RETURNING j.*
)

-- fragment: complete_fenced
-- Reads `s`: completes each attempt of %(job_ids)s/%(attempts)s/%(workers)s that still
-- holds its job, with its result in %(results)s (one JSON array, in the same order:
-- the client encodes it in one call, not one jsonb parameter per result; a JSON null
-- is stored as SQL NULL, as every other result None is); the rows written are `done`.
-- The `completed` event is not stored: its history id is reserved (derived_events).
f AS (
    SELECT f.job_id, f.attempt, f.worker,
           nullif(%(results)s::jsonb -> (f.ord - 1)::int, 'null'::jsonb) AS result
    FROM unnest(%(job_ids)s::text[], %(attempts)s::int[], %(workers)s::text[])
         WITH ORDINALITY AS f(job_id, attempt, worker, ord)
),
done AS (
    UPDATE jobdeck_jobs j
    SET status = 'completed', progress = 100, result = f.result, eta_seconds = 0,
        completed_at = %(now)s, updated_at = %(now)s, locked_by = NULL, lease_expires_at = NULL,
        seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count},
        completed_event = nextval('jobdeck_history_id_seq')
    FROM f, s
    WHERE j.job_id = f.job_id AND j.attempt = f.attempt AND j.locked_by = f.worker
      AND j.status IN ('running', 'cancelling')
    RETURNING j.job_id, j.attempt
)

-- fragment: derived_events
-- The events of job row `j` that are not stored: its `created` and its worker's
-- attempt's `started` and `completed`, as history rows (id, kind, message, data,
-- created_at) with the values the insert, the claim and complete_fenced stored until
-- schema version 12 (their %(now)s is the row's created_at, started_at and
-- completed_at; the claim's locked_by is started_by), under the ids they reserved, so
-- they sort among the stored rows where those rows would.
-- Why each event is shown exactly while it is not stored:
-- * `created`: every insert reserves created_event (insert_new_jobs, insert_job,
--   take_feed_seq), and the row keeps it for as long as it lives. It is a job's oldest
--   event, so it is the first a job at its history limit no longer shows: reads take
--   the newest `limit` events (get_history).
-- * `started`: the claim reserves started_event and makes the row running; it stays
--   shown (started_shown) through every write that leaves the row running or
--   cancelling (progress, logs, heartbeats, cancel), and after complete_fenced or
--   complete (completed is final: only failed and cancelled jobs are retried,
--   domain/states.py). Every other statement that ends an attempt (fail, retry_later,
--   mark_cancelled, release, rescue_expired: to pending, failed or cancelled) stores
--   the row under the reserved id in the same statement (store_started), and the event
--   is no longer shown. started_event left on a pending, failed or cancelled row is
--   stale, and hidden; only a claim makes such a row running again (tracked jobs,
--   which `start` runs and fail_timed_out_tracked ends, never have one), and it
--   replaces it.
-- * `completed`: complete_fenced sets completed_event with the status, which is final,
--   so it is never stale where shown. `complete` stores its own row and sets none.
-- A job with none (written before version 12) keeps its stored rows. prune_history
-- hides them by age (floor_before); delete_job and cleanup delete them with the row.
SELECT j.created_event AS id, 'created'::text AS kind, NULL::text AS message,
       NULL::jsonb AS data, j.created_at
FROM j WHERE {created_shown}
UNION ALL
SELECT j.started_event, 'started', NULL,
       jsonb_build_object('attempt', j.attempt, 'worker', j.started_by), j.started_at
FROM j WHERE {started_shown}
UNION ALL
SELECT j.completed_event, 'completed', NULL, NULL, j.completed_at
FROM j WHERE {completed_shown}

-- fragment: created_shown
-- Whether row `j` shows its `created` event (derived_events).
(j.created_event IS NOT NULL
 AND (j.created_at >= {floor_before} OR j.created_event > {floor_upto}))

-- fragment: started_shown
-- Whether row `j` shows its attempt's `started` event (derived_events).
(j.started_event IS NOT NULL AND j.status IN ('running', 'cancelling', 'completed')
 AND (j.started_at >= {floor_before} OR j.started_event > {floor_upto}))

-- fragment: completed_shown
-- Whether row `j` shows its attempt's `completed` event (derived_events).
(j.completed_event IS NOT NULL AND j.status = 'completed'
 AND (j.completed_at >= {floor_before} OR j.completed_event > {floor_upto}))

-- fragment: floor_before
-- The history floor (migration 0012): a derived event older than prune_history's bound
-- (floor_before) is gone as its stored rows are, if its id was reserved by then
-- (floor_upto, the history ids handed out when it pruned); one reserved later (a
-- clock behind, a cleanup of 0 days) stays, as a row SQLite stores after its DELETE
-- does. An id reserved before by a write still under way is hidden, uncounted (the
-- prune's snapshot does not see it). One pair, not one per prune: a prune whose bound
-- is lower than the one before also hides the events reserved between them that are
-- older than the higher bound, which SQLite keeps (only with times that far behind).
-- The pair relies on the history sequence handing out ids one at a time (CACHE 1,
-- migration 0012). One row, read once per statement.
(SELECT hf.before FROM jobdeck_history_floor hf)

-- fragment: floor_upto
-- See floor_before.
(SELECT hf.upto FROM jobdeck_history_floor hf)

-- fragment: store_started
-- Reads `ended`: the rows whose attempt this statement ended, other than by completing
-- it (id, attempt: the attempt that ended, started_event, started_by, started_at). The
-- attempt's `started` event is no longer shown (derived_events), so it is stored now,
-- under the id its claim reserved. Rows without one (tracked jobs, attempts claimed
-- before schema version 12) stored theirs already; one older than the history floor
-- was pruned by age.
started AS (
    INSERT INTO jobdeck_history (id, job_pk, kind, message, data, created_at)
    SELECT e.started_event, e.id, 'started', NULL,
           jsonb_build_object('attempt', e.attempt, 'worker', e.started_by), e.started_at
    FROM ended e
    WHERE e.started_event IS NOT NULL
      AND (e.started_at >= {floor_before} OR e.started_event > {floor_upto})
)

-- fragment: new_job_input
-- The jobs of %(jobs)s (one JSON array, rows.job_entry) as typed columns `t.*`, with
-- `ord`, their position in the array. `created_at`: the job's own `now`, when jobs of
-- several callers go together (PostgresStore.insert_jobs); else NULL: %(now)s.
ROWS FROM (jsonb_to_recordset(%(jobs)s::jsonb) AS (
    job_id text, name text, type text, mode text, priority smallint, description text,
    payload jsonb, metadata jsonb, icon_svg text, source text, plugin_id text,
    store_id text, user_id text, created_by text, show_notification boolean,
    run_at timestamptz, max_retries integer, timeout integer, retry_delays jsonb,
    cron_job_id bigint, created_at timestamptz
)) WITH ORDINALITY AS t(job_id, name, type, mode, priority, description, payload,
                        metadata, icon_svg, source, plugin_id, store_id, user_id,
                        created_by, show_notification, run_at, max_retries, timeout,
                        retry_delays, cron_job_id, created_at, ord)

-- fragment: new_job_columns
-- The columns a new job is written with, in the order insert_new_jobs, insert_job and
-- copy_jobs give them (rows.copy_row: the same order, after the id).
job_id, name, type, mode, status, priority, description, payload, metadata, icon_svg,
source, plugin_id, store_id, user_id, created_by, show_notification, run_at, attempt,
max_retries, timeout, retry_delays, cron_job_id, created_at, updated_at, seq, history_count

-- fragment: insert_new_jobs
-- Reads `input` (rows of new_job_input) and `s`: inserts them pending, in the caller's
-- order (ids increase in it), each with the id of its `created` event (derived_events).
-- Already present job_ids are skipped (see insert_jobs). copy_jobs writes the same
-- columns by COPY.
ins AS (
    INSERT INTO jobdeck_jobs ({new_job_columns}, created_event)
    SELECT i.job_id, i.name, i.type, i.mode, 'pending', i.priority, i.description, i.payload,
           i.metadata, i.icon_svg, i.source, i.plugin_id, i.store_id, i.user_id, i.created_by,
           i.show_notification, coalesce(i.run_at, i.created_at, %(now)s), 0, i.max_retries,
           i.timeout, i.retry_delays, i.cron_job_id, coalesce(i.created_at, %(now)s),
           coalesce(i.created_at, %(now)s), s.seq, 1, nextval('jobdeck_history_id_seq')
    FROM input i, s
    ORDER BY i.ord
    ON CONFLICT (job_id) DO NOTHING
    RETURNING *
)

-- fragment: job_filter
-- The optional filters of list_jobs, count_jobs and count_by_status. The text test
-- repeats jobdeck_jobs_text's expression and predicate word for word (migration 0011)
-- so the planner takes its candidates from that index, and from jobdeck_jobs_unindexed
-- the rows not in it yet (every row is in one of the two), then tests each column
-- exactly: a job just enqueued is found as one indexed long ago is.
(%(statuses)s::text[] IS NULL OR status = ANY(%(statuses)s::text[]))
  AND (%(type)s::text IS NULL OR type = %(type)s::text)
  AND (%(source)s::text IS NULL OR source = %(source)s::text)
  AND (%(store_id)s::text IS NULL OR store_id = %(store_id)s::text)
  AND (%(plugin_id)s::text IS NULL OR plugin_id = %(plugin_id)s::text)
  AND (%(mode)s::text IS NULL OR mode = %(mode)s::text)
  AND (%(q)s::text IS NULL
       OR (((text_indexed
             AND (name || E'\n' || coalesce(description, '') || E'\n' || type) ILIKE %(q)s::text)
            OR NOT text_indexed)
           AND (name ILIKE %(q)s::text OR description ILIKE %(q)s::text
                OR type ILIKE %(q)s::text)))

-- name: session
-- Run once per new pooled connection. The statements are prepared once per
-- connection, and apart from the list queries (see custom_plans) their parameters
-- never change the best plan: they are keys, times and small limits. Planning each execution ("custom plans", the
-- default for the first five runs and whenever the planner hesitates) would only cost
-- time: about half of a verb's server time, measured.
SET TIME ZONE 'UTC'; SET plan_cache_mode = force_generic_plan

-- name: custom_plans
-- For list_jobs/count_jobs/count_by_status only (PostgresStore._search): their
-- optional filters need the planner to see the actual values to use an index.
SET LOCAL plan_cache_mode = force_custom_plan

-- name: begin
BEGIN

-- name: commit
COMMIT

-- name: rollback
ROLLBACK

-- name: feed_horizon
-- The change feed without a feed lock (migration 0007 holds the functions).
--
-- The guarantee: a follower that has read seq n never later finds a newly committed
-- record with seq <= n; nothing committed is skipped; `since` resumes. A bare sequence
-- does not give it (nextval order is not commit order). Until version 6 every feed
-- write took one advisory lock first and held it to COMMIT, so seqs committed one at a
-- time: every claim, completion and enqueue in the cluster waited for every other,
-- including for its WAL flush (a convoy: docs/postgres.md).
--
-- Now writers never wait for one another. A writing statement takes its seq with
-- jobdeck_feed_seq(), which *registers* it with transaction-level advisory locks
-- (visible to every session at once, gone when the transaction ends, however):
--   w1  lb := the sequence's last value;  w2  lock K(lb) shared;
--   w3  s := nextval();                   w4  lock S(s) (R(s) for a revocation).
-- A follower (this statement, then changes_since/last_seq in the same pipeline):
--   f1  v := the sequence's last value;   f2  read the registrations (pg_locks);
--   f3  horizon h := min(v, each backend's bound: s - 1 for each S/R it holds, or its
--       newest lb while a K has no S yet);  f4  read records with seq <= h, in a NEW
--       statement (its snapshot is taken after f2).
-- Why no record with seq <= h can appear after f4. Take a transaction T with seq s <= h
-- that commits. If T committed before f4's snapshot, f4 sees it. Otherwise T was still
-- in flight at f2 (a transaction becomes visible before it releases its locks), so:
-- had T done w2 before f2, f2 saw K or S and h < s; had it not, w3 came after f2, after
-- f1, so s > v >= h. Both contradict s <= h. (Aborted transactions leave nothing.)
-- A crash ends every registration and every transaction in flight. A seq a follower
-- read is durable: nextval's WAL record precedes the commit record of the write that
-- took it, and the follower makes every commit it saw durable before handing the
-- records out (durable: worker writes do not wait for the flush themselves, see
-- worker_seq). So the sequence never hands out a seq anyone read again; a seq of a
-- worker write that a crash undid, read by no one, may come back.
--
-- The late path. A transaction that stays open (a client stalled between statement and
-- COMMIT, a long row-lock wait) would hold h for every follower. After %(late)s it is
-- passed over: f3 first notes its seqs in jobdeck_feed_late (committed with this
-- statement's transaction, before the caller reads past them), then leaves its bound
-- out. When it ends, jobdeck_feed_restamp (run by the next follower that finds one,
-- PostgresStore._horizon) gives every row still carrying a late seq a new registered
-- seq: the record arrives then, above everything read so far. A late transaction's
-- rows may be read at their old seq by a follower that had not passed that seq yet,
-- and again at the new one: latest state, twice, which followers accept.
--
-- Revocations are never passed over (R): docs/feed.md needs every record above a
-- committed revocation's seq to be read after it, which a late revocation, restamped
-- after other records were read above it, would break. A revocation is one statement
-- in autocommit, so it holds h only for its own duration.
--
-- The horizon is left in the session setting jobdeck.horizon for the statement that
-- follows it in the pipeline (a pipeline cannot pass a value between statements).
-- Costs: a writer takes two advisory locks that nobody waits for (lock-table entries
-- only); a follower reads pg_locks once per page.
SELECT h.horizon, h.held, h.restamps,
       set_config('jobdeck.horizon', h.horizon::text, false) AS _set
FROM jobdeck_feed_horizon(%(late)s::interval) h

-- name: durable
-- A reader's last statement before it hands out what it read (a feed page, last_seq,
-- a job's history): every commit its read saw is then on disk. A worker's claims and
-- completions commit without waiting for the flush (worker_seq), and a crash may undo
-- those still in memory, after which their seqs and history ids could be handed out
-- again: a follower resuming after one it read would skip the new record. This
-- statement runs after the read (pipelined with it: Database._durable_rows), so
-- everything the read saw is in the WAL before its start; when the WAL is not flushed
-- that far, it writes a transactional message (no table, any wal_level), which gives
-- its transaction a WAL record of its own, so its commit waits for the flush through
-- it, like any other write's. With synchronous standbys named, it always writes: its
-- commit then also waits until they have everything the read saw (a worker's commits
-- did not wait for them either), which the local flush position cannot tell. Its
-- commit waits whatever the session's synchronous_commit: off or local (set for the
-- database or the role) become on for this transaction; stronger settings stay.
SELECT pg_logical_emit_message(true, 'jobdeck', '') AS flushed,
       set_config('synchronous_commit',
                  CASE WHEN current_setting('synchronous_commit') IN ('off', 'local')
                       THEN 'on' ELSE current_setting('synchronous_commit') END,
                  true) AS _sync
WHERE pg_current_wal_flush_lsn() < pg_current_wal_insert_lsn()
   OR current_setting('synchronous_standby_names') <> ''

-- name: feed_restamp
-- The late path's second half (feed_horizon): see jobdeck_feed_restamp, migration 0007.
SELECT jobdeck_feed_restamp() AS seq

-- name: notify
-- Wake-ups, sent after the writes they announce have committed (Notifier in
-- database.py), coalesced: one of this (in autocommit) per burst of writes per process,
-- not one NOTIFY per write. A NOTIFY is no longer part of the write transactions: at
-- COMMIT, a notifying transaction takes a database-wide lock (so that notifications
-- queue in commit order) and holds it through its WAL flush, which serializes every
-- notifying commit as the feed lock did. This transaction has nothing to make
-- durable, so it commits without waiting for the flush (synchronous_commit off): the
-- lock is held for microseconds. Payloads are empty (listeners only wake up).
-- jobdeck_jobs goes only while a process follows the feed: each one holds the follower
-- lock shared (listen_jobs), so taking it exclusively succeeds only when none does, and
-- is then given back at once with this transaction. Every NOTIFY costs a transaction in
-- every listening backend, whatever its channels, and with only workers running these
-- were most of a drain's commits (docs/postgres.md, "Wake-ups"). None is missed: this
-- runs after the write committed, and a follower takes the lock after its LISTEN and
-- before it reads the feed, so it either hears this NOTIFY or reads the write. Two
-- processes trying at once make one of them notify for nothing.
SELECT pg_notify(c, '') FROM unnest(%(channels)s::text[]) AS c
WHERE CASE WHEN c = 'jobdeck_jobs'
           THEN NOT pg_try_advisory_xact_lock({follower_key})
           ELSE true END

-- name: async_commit
-- The notifying connection's session setting (notify).
SET synchronous_commit TO off

-- name: listen_jobs
-- The channels of jobdeck.store.postgres.listener, one entry each: a process
-- listens to those it was opened for. A feed follower also holds the follower lock
-- (shared, for as long as its connection lives), without which nobody sends
-- jobdeck_jobs (notify).
LISTEN jobdeck_jobs; SELECT pg_advisory_lock_shared({follower_key})

-- name: listen_enqueue
LISTEN jobdeck_enqueue

-- name: listen_cron
LISTEN jobdeck_cron

-- name: listen_cancel
LISTEN jobdeck_cancel

-- name: followers
-- How many sessions of this database follow the feed (hold the follower lock): what
-- decides whether notify sends jobdeck_jobs. An advisory lock on a bigint key shows in
-- pg_locks as its two halves, with objsubid 1.
SELECT count(*) AS n FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1
  AND ((classid :: bigint << 32) | objid :: bigint) = {follower_key}
  AND database = (SELECT oid FROM pg_database WHERE datname = current_database())

-- name: ping
SELECT 1

-- name: schema_lock
SELECT pg_advisory_xact_lock(7452019283746502)

-- name: schema_table
CREATE TABLE IF NOT EXISTS jobdeck_schema_version (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)

-- name: schema_current
SELECT coalesce(max(version), 0) AS version FROM jobdeck_schema_version

-- name: schema_record
INSERT INTO jobdeck_schema_version (version) VALUES (%(version)s)

-- name: insert_jobs
-- A few new jobs, in one statement: one round trip (PostgresStore.insert_jobs; from
-- COPY_FROM jobs on, copy_jobs instead). They arrive as one JSON array of objects:
-- one parameter encoded by the C JSON encoder costs the client a fraction of what
-- nineteen typed arrays dumped element by element do. ON CONFLICT DO NOTHING makes a
-- retried insert idempotent: job_ids are chosen by the caller before the first try, so
-- a retry after an ambiguous failure (commit sent, answer lost) inserts nothing twice
-- and the rows are then read back by job_id. Only what the server chose comes back
-- (rows.new_row_job builds the rest): sending and decoding the whole row was a quarter
-- of a single enqueue's CPU, client and server (measured).
WITH {feed_seq},
input AS (SELECT * FROM {new_job_input}),
{insert_new_jobs}
SELECT ins.job_id, ins.id, ins.seq FROM ins

-- name: insert_job
-- One new job (PostgresStore.insert_jobs; several: insert_jobs above): insert_jobs'
-- statement with each column a typed parameter, in rows.copy_row's order less the id
-- and the seq, instead of one JSON array the server turns into rows (and the client
-- encodes with json.dumps). Measured interleaved, one job per call: wall 731-937 µs
-- against 1,010-1,270, the server's CPU about a quarter less and the client's a sixth.
-- As insert_new_jobs, with its `created` event's id. Idempotent as copy_jobs is, not
-- by ON CONFLICT: a retry of a job already written fails on the job_id index, and the
-- row is read back by job_id. ON CONFLICT's speculative insertion (a look at the index
-- first, then a confirmation) cost a single enqueue about a twentieth of its wall time
-- (measured interleaved: median 444 against 422 µs per statement).
WITH {feed_seq},
ins AS (
    INSERT INTO jobdeck_jobs ({new_job_columns}, created_event)
    SELECT %s::text, %s::text, %s::text, %s::text, %s::text, %s::smallint, %s::text,
           %s::jsonb, %s::jsonb, %s::text, %s::text, %s::text, %s::text, %s::text, %s::text,
           %s::boolean, %s::timestamptz, %s::int, %s::int, %s::int, %s::jsonb, %s::bigint,
           %s::timestamptz, %s::timestamptz, s.seq, %s::int, nextval('jobdeck_history_id_seq')
    FROM s
    RETURNING id, seq
)
SELECT ins.id, ins.seq FROM ins

-- name: copy_jobs
-- Many new jobs (PostgresStore.insert_jobs, from COPY_FROM jobs on), in one transaction:
-- take_feed_seq, then this COPY (binary) of the rows as insert_new_jobs writes them,
-- every one carrying that seq, an id take_feed_seq took from the jobs' sequence and
-- one from the history's for its `created` event (derived_events).
-- For a thousand jobs the server spends about a quarter less than on insert_jobs'
-- JSON array (parsing it was a fifth of its time) or on COPY into a
-- staging table and INSERT … SELECT from it (measured: 23–27 ms against 30–37 ms), and
-- the client about half; and knowing the ids, the client makes the rows and builds the
-- Jobs while the server writes the rows already sent. The columns are
-- new_job_columns, with the values insert_new_jobs gives them (rows.copy_row).
-- Idempotent without ON CONFLICT: the rows of one transaction are all there or none
-- is, so a retry after a commit whose answer was lost fails on the job_id index as a
-- whole, and the rows are read back by job_id.
COPY jobdeck_jobs (id, {new_job_columns}, created_event) FROM STDIN (FORMAT BINARY)

-- name: take_feed_seq
-- Before copy_jobs: the transaction's seq, registered like the feed_seq fragment's
-- (feed_horizon) until the transaction ends; %(n)s ids for its jobs from the sequence
-- that numbers them, and as many for their `created` events from the history's, each in
-- increasing order (the order the jobs were given in).
WITH {feed_seq},
ids AS MATERIALIZED (
    SELECT n, nextval('jobdeck_jobs_id_seq') AS id, nextval('jobdeck_history_id_seq') AS event
    FROM generate_series(1, %(n)s::int) n
)
SELECT s.seq, ARRAY(SELECT ids.id FROM ids ORDER BY ids.n) AS ids,
       ARRAY(SELECT ids.event FROM ids ORDER BY ids.n) AS events
FROM s

-- name: jobs_by_ids
SELECT j.* FROM jobdeck_jobs j WHERE j.job_id = ANY(%(job_ids)s::text[])

-- name: get_job
SELECT * FROM jobdeck_jobs WHERE job_id = %(job_id)s::text

-- name: list_jobs
SELECT * FROM jobdeck_jobs
WHERE {job_filter}
ORDER BY id DESC
LIMIT %(limit)s::bigint OFFSET %(offset)s::bigint

-- name: list_jobs_sorted
-- list_jobs in another order (domain.listing.JOB_SORT_KEYS), then id the same way.
-- Planned for the actual values (custom_plans), so the CASEs that do not apply fold
-- away and the sort is on one column.
SELECT * FROM jobdeck_jobs
WHERE {job_filter}
ORDER BY
    CASE WHEN %(sort)s::text = 'updated_at' AND NOT %(desc)s THEN updated_at END,
    CASE WHEN %(sort)s::text = 'updated_at' AND %(desc)s THEN updated_at END DESC,
    CASE WHEN %(sort)s::text = 'priority' AND NOT %(desc)s THEN priority END,
    CASE WHEN %(sort)s::text = 'priority' AND %(desc)s THEN priority END DESC,
    CASE WHEN %(sort)s::text = 'name' AND NOT %(desc)s THEN name COLLATE "C" END,
    CASE WHEN %(sort)s::text = 'name' AND %(desc)s THEN name COLLATE "C" END DESC,
    CASE WHEN %(sort)s::text = 'status' AND NOT %(desc)s THEN status COLLATE "C" END,
    CASE WHEN %(sort)s::text = 'status' AND %(desc)s THEN status COLLATE "C" END DESC,
    CASE WHEN %(sort)s::text = 'progress' AND NOT %(desc)s THEN progress END,
    CASE WHEN %(sort)s::text = 'progress' AND %(desc)s THEN progress END DESC,
    CASE WHEN NOT %(desc)s THEN id END,
    CASE WHEN %(desc)s THEN id END DESC
LIMIT %(limit)s::bigint OFFSET %(offset)s::bigint

-- name: finished_per_minute
SELECT date_trunc('minute', completed_at) AS minute, status, count(*) AS n
FROM jobdeck_jobs
WHERE completed_at >= %(since)s AND {job_filter}
GROUP BY 1, 2

-- name: history_after
-- The first %(limit)s events after %(after)s, among the newest %(history_limit)s (the
-- events get_history can return). Only a job at the cap can have more (history_count
-- bounds its events, stored or derived, from above: claims and completions count theirs
-- too, and store_started adds none): `low`, the oldest id of the newest, is then read
-- through that many entries of jobdeck_history_job backwards; below the cap it is 0, at
-- no cost. The stored rows after it are read forwards through the same index.
WITH {history_job},
derived AS MATERIALIZED ({derived_events}),
low AS MATERIALIZED (
    SELECT CASE WHEN j.history_count < %(history_limit)s::int THEN 0 ELSE coalesce((
        SELECT e.id FROM (
            (SELECT h.id FROM jobdeck_history h WHERE h.job_pk = j.id
             ORDER BY h.job_pk DESC, h.id DESC LIMIT %(history_limit)s::int)
            UNION ALL
            SELECT d.id FROM derived d) e
        ORDER BY e.id DESC OFFSET %(history_limit)s::int - 1 LIMIT 1), 0) END AS id
    FROM j
),
events AS (
    (SELECT h.id, h.kind, h.message, h.data, h.created_at
     FROM jobdeck_history h
     WHERE h.job_pk = (SELECT id FROM j)
       AND h.id > %(after)s::bigint AND h.id >= (SELECT id FROM low)
     ORDER BY h.job_pk, h.id
     LIMIT %(limit)s::int)
    UNION ALL
    SELECT * FROM derived d
    WHERE d.id > %(after)s::bigint AND d.id >= (SELECT id FROM low)
)
SELECT e.id, j.job_id, e.kind, e.message, e.data, e.created_at
FROM events e, j
ORDER BY e.id
LIMIT %(limit)s::int

-- name: record_worker
INSERT INTO jobdeck_workers AS w
    (worker_id, host, pid, concurrency, running, started_at, last_seen_at)
VALUES (%(worker_id)s, %(host)s, %(pid)s, %(concurrency)s, %(running)s::text[],
        %(started_at)s, %(last_seen_at)s)
ON CONFLICT (worker_id) DO UPDATE SET
    host = excluded.host, pid = excluded.pid, concurrency = excluded.concurrency,
    running = excluded.running, started_at = excluded.started_at,
    last_seen_at = excluded.last_seen_at

-- name: list_workers
SELECT * FROM jobdeck_workers WHERE last_seen_at >= %(since)s ORDER BY worker_id COLLATE "C"

-- name: remove_workers
DELETE FROM jobdeck_workers
WHERE worker_id = ANY(%(ids)s::text[]) OR last_seen_at < %(before)s

-- name: count_jobs
SELECT count(*) AS n FROM jobdeck_jobs
WHERE {job_filter}

-- name: count_by_status
SELECT status, count(*) AS n FROM jobdeck_jobs
WHERE {job_filter}
GROUP BY status

-- name: start
WITH {feed_seq},
upd AS (
    UPDATE jobdeck_jobs j
    SET status = 'running', started_at = %(now)s, progress_at = %(now)s, updated_at = %(now)s,
        progress_window = NULL,
        seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count},
        text_indexed = true  -- as claim_pending's (migration 0011)
    FROM s
    WHERE j.job_id = %(job_id)s::text AND j.status = ANY(%(allowed)s::text[])
      AND j.mode = 'tracked'  -- queued jobs are started by a worker's claim
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'started', NULL, NULL, %(now)s FROM upd
),
{prune_to_limit}
{changed_rows}

-- name: update_progress
-- rate/eta: jobdeck_progress_window/jobdeck_window_rate (migration 5) and jobdeck_eta
-- (migration 1) mirror domain.progress.estimate (docs/progress.md). In SET, column names
-- are the row before this update; the sub-SELECT computes the new window once.
WITH {feed_seq},
upd AS (
    UPDATE jobdeck_jobs j
    SET progress = %(progress)s::float8,
        metadata = j.metadata || coalesce(%(metadata)s::jsonb, '{}'::jsonb),
        progress_message = coalesce(%(message)s::text, j.progress_message),
        (progress_window, rate, eta_seconds) = (
            SELECT w.win, w.rate, jobdeck_eta(w.rate, %(progress)s::float8)
            FROM (SELECT v.win, jobdeck_window_rate(v.win) AS rate
                  FROM (SELECT jobdeck_progress_window(
                      j.progress_window, %(progress)s::float8, %(now)s) AS win) v) w),
        progress_at = %(now)s, updated_at = %(now)s, seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = CASE WHEN %(message)s::text IS NULL THEN j.history_count
                             ELSE {next_history_count} END
    FROM s
    WHERE j.job_id = %(job_id)s::text AND j.status = ANY(%(allowed)s::text[])
      AND {fenced}
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'progress', %(message)s::text, jsonb_build_object('progress', progress), %(now)s
    FROM upd WHERE %(message)s::text IS NOT NULL
),
-- Not the prune_to_limit fragment: only an update with a message adds a history
-- row, and a job at the cap that adds none must keep all of its rows.
pruned AS (
    DELETE FROM jobdeck_history h
    USING (SELECT u.id AS job_pk,
                  (SELECT hh.id FROM jobdeck_history hh WHERE hh.job_pk = u.id
                   ORDER BY hh.job_pk DESC, hh.id DESC OFFSET %(keep)s::int LIMIT 1) AS cutoff
           FROM upd u
           WHERE %(message)s::text IS NOT NULL AND u.history_count >= %(keep)s::int + 1) c
    WHERE h.job_pk = c.job_pk AND h.id <= c.cutoff
)
{changed_rows}

-- name: complete
WITH {feed_seq},
upd AS (
    UPDATE jobdeck_jobs j
    SET status = 'completed', progress = 100, result = %(result)s::jsonb, eta_seconds = 0,
        completed_at = %(now)s, updated_at = %(now)s, locked_by = NULL, lease_expires_at = NULL,
        seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count}
    FROM s
    WHERE j.job_id = %(job_id)s::text AND j.status = ANY(%(allowed)s::text[])
      AND {fenced}
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'completed', NULL, NULL, %(now)s FROM upd
),
{prune_to_limit}
{changed_rows}

-- name: fail
WITH {feed_seq},
upd AS (
    UPDATE jobdeck_jobs j
    SET status = 'failed', error_message = %(error)s::text, eta_seconds = NULL,
        completed_at = %(now)s, updated_at = %(now)s, locked_by = NULL, lease_expires_at = NULL,
        seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count}
    FROM s
    WHERE j.job_id = %(job_id)s::text AND j.status = ANY(%(allowed)s::text[])
      AND {fenced}
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'error', %(error)s::text, NULL, %(now)s FROM upd
),
ended AS (SELECT * FROM upd),
{store_started},
{prune_to_limit}
{changed_rows}

-- name: cancel
-- domain.states.cancel_target: a running queued job is asked to stop (cancelling, its
-- worker ends it); anything else stops at once.
WITH {feed_seq},
upd AS (
    UPDATE jobdeck_jobs j
    SET status = CASE WHEN j.status = 'running' AND j.mode = 'queued'
                      THEN 'cancelling' ELSE 'cancelled' END,
        completed_at = CASE WHEN j.status = 'running' AND j.mode = 'queued'
                            THEN j.completed_at ELSE %(now)s END,
        locked_by = CASE WHEN j.status = 'running' AND j.mode = 'queued'
                         THEN j.locked_by END,
        lease_expires_at = CASE WHEN j.status = 'running' AND j.mode = 'queued'
                                THEN j.lease_expires_at END,
        eta_seconds = NULL, updated_at = %(now)s, seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count}
    FROM s
    WHERE j.job_id = %(job_id)s::text AND j.status = ANY(%(allowed)s::text[])
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, status, NULL, NULL, %(now)s FROM upd
),
{prune_to_limit}
{changed_rows}

-- name: retry
WITH {feed_seq},
upd AS (
    UPDATE jobdeck_jobs j
    SET status = 'pending', run_at = %(now)s, error_message = NULL, result = NULL,
        completed_at = NULL, locked_by = NULL, lease_expires_at = NULL, progress = 0,
        progress_message = NULL, progress_at = NULL, rate = NULL, eta_seconds = NULL,
        updated_at = %(now)s, seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count}
    FROM s
    WHERE j.job_id = %(job_id)s::text AND j.status = ANY(%(allowed)s::text[])
      AND j.mode = 'queued'
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'retry', 'Retry requested', %(data)s::jsonb, %(now)s FROM upd
),
{prune_to_limit}
SELECT upd.* FROM upd

-- name: delete_job
WITH del AS (
    DELETE FROM jobdeck_jobs
    WHERE job_id = %(job_id)s::text AND status = ANY(%(allowed)s::text[])
    RETURNING id
),
hist AS (DELETE FROM jobdeck_history WHERE job_pk IN (SELECT id FROM del))
SELECT id FROM del

-- name: claim
-- Stores no history row (derived_events), so it prunes none: a job's stored rows grow
-- only in the statements that insert them, each of which prunes (prune_to_limit).
WITH {worker_seq},
{claim_pending}
SELECT claimed.* FROM claimed ORDER BY claimed.priority DESC, claimed.run_at, claimed.id

-- name: heartbeat
-- A lease extension changes nothing a follower can see (lease_expires_at is internal),
-- so it takes no feed number.
UPDATE jobdeck_jobs j
SET lease_expires_at = %(lease)s
FROM unnest(%(job_ids)s::text[], %(attempts)s::int[]) AS f(job_id, attempt)
WHERE j.job_id = f.job_id AND j.attempt = f.attempt AND j.locked_by = %(worker)s::text
  AND j.status IN ('running', 'cancelling')
RETURNING j.job_id, j.status

-- name: complete_many
-- Stores no history row, so it prunes none (as claim).
WITH {worker_seq},
{complete_fenced}
-- Which attempts were completed, not their rows: the worker only counts them.
SELECT done.job_id, done.attempt FROM done

-- name: complete_and_claim
-- A busy worker's finished attempts ride with its next claim (Worker._claim):
-- complete_many and claim in one statement, so one seq, one commit and one round trip
-- instead of two. The two sets of rows are disjoint (a completion writes running rows,
-- the claim picks pending ones), so no row is written twice. The first row
-- (`_claimed` false) answers for the completions: `_done_ids`/`_done_attempts`, the
-- attempts completed (NULL: none), and NULL job columns. The claimed rows follow, in
-- claim order.
-- Lock order: PostgreSQL runs data-modifying CTEs as their results are first read,
-- so with `done` first in the final SELECT the completed rows are locked (in
-- _lock_order, as a heartbeat does) before the claim locks any pending row. That is
-- how the executor behaves, not a documented promise. Were the claim run first, the
-- statement could hold a pending row while waiting for a running one and deadlock
-- with a heartbeat of a job rescued and claimed meanwhile; PostgreSQL would then
-- roll one of them back, and both are retried (database.py, Database._run).
-- The completions may wait for a row lock (a heartbeat, a cancel); the claim then
-- waits with them. No history row is stored, so none is pruned (as claim).
WITH {worker_seq},
{complete_fenced},
{claim_pending}
SELECT false AS _claimed, d.ids AS _done_ids, d.attempts AS _done_attempts,
       (NULL::jobdeck_jobs).*
FROM (SELECT array_agg(done.job_id) AS ids, array_agg(done.attempt) AS attempts FROM done) d
UNION ALL
SELECT true, NULL, NULL, claimed.* FROM claimed
ORDER BY _claimed, priority DESC, run_at, id

-- name: retry_later
WITH {feed_seq},
upd AS (
    UPDATE jobdeck_jobs j
    SET status = 'pending', run_at = %(run_at)s, error_message = %(error)s::text,
        locked_by = NULL, lease_expires_at = NULL, progress = 0, progress_at = NULL,
        rate = NULL, eta_seconds = NULL, updated_at = %(now)s,
        seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count}
    FROM s
    WHERE j.job_id = %(job_id)s::text AND j.status = ANY(%(allowed)s::text[])
      AND j.attempt = %(attempt)s::int AND j.locked_by = %(worker)s::text
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'retry', %(error)s::text, %(data)s::jsonb, %(now)s FROM upd
),
ended AS (SELECT * FROM upd),
{store_started},
{prune_to_limit}
SELECT upd.* FROM upd

-- name: mark_cancelled
WITH {feed_seq},
upd AS (
    UPDATE jobdeck_jobs j
    SET status = 'cancelled', completed_at = %(now)s, locked_by = NULL, lease_expires_at = NULL,
        eta_seconds = NULL, updated_at = %(now)s, seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count}
    FROM s
    WHERE j.job_id = %(job_id)s::text AND j.status = ANY(%(allowed)s::text[])
      AND j.attempt = %(attempt)s::int AND j.locked_by = %(worker)s::text
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'cancelled', NULL, NULL, %(now)s FROM upd
),
ended AS (SELECT * FROM upd),
{store_started},
{prune_to_limit}
{changed_rows}

-- name: release
-- Graceful shutdown: the attempt did not run to an outcome, so it is not counted.
WITH {feed_seq},
f AS (
    SELECT * FROM unnest(%(job_ids)s::text[], %(attempts)s::int[], %(workers)s::text[])
        AS f(job_id, attempt, worker)
),
upd AS (
    UPDATE jobdeck_jobs j
    SET status = CASE WHEN j.status = 'cancelling' THEN 'cancelled' ELSE 'pending' END,
        attempt = CASE WHEN j.status = 'cancelling' THEN j.attempt ELSE j.attempt - 1 END,
        run_at = CASE WHEN j.status = 'cancelling' THEN j.run_at ELSE %(now)s END,
        completed_at = CASE WHEN j.status = 'cancelling' THEN %(now)s ELSE j.completed_at END,
        progress = CASE WHEN j.status = 'cancelling' THEN j.progress ELSE 0 END,
        progress_at = NULL, rate = NULL, eta_seconds = NULL,
        locked_by = NULL, lease_expires_at = NULL, updated_at = %(now)s,
        seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count}
    FROM f, s
    WHERE j.job_id = f.job_id AND j.attempt = f.attempt AND j.locked_by = f.worker
      AND j.status = ANY(%(allowed)s::text[])
    RETURNING j.*, f.attempt AS released
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'released', NULL, NULL, %(now)s FROM upd
),
-- A row going back to pending has its attempt taken back: the one that ended is f's.
ended AS (SELECT id, released AS attempt, started_event, started_by, started_at FROM upd),
{store_started},
{prune_to_limit}
SELECT upd.* FROM upd

-- name: rescue_expired
-- Only leases that have run out: a live worker's heartbeat keeps its rows out of here,
-- and a row being heartbeated right now is locked, so it is skipped, not waited for.
WITH {feed_seq},
picked AS (
    SELECT id FROM jobdeck_jobs
    WHERE status IN ('running', 'cancelling') AND mode = 'queued'
      AND lease_expires_at < %(now)s  -- a lease is valid up to and including its end
    ORDER BY id
    FOR UPDATE SKIP LOCKED
),
upd AS (
    UPDATE jobdeck_jobs j
    SET status = CASE WHEN j.status = 'cancelling' THEN 'cancelled'
                      WHEN j.attempt <= j.max_retries THEN 'pending' ELSE 'failed' END,
        run_at = CASE WHEN j.status = 'running' AND j.attempt <= j.max_retries
                      THEN %(now)s ELSE j.run_at END,
        error_message = CASE WHEN j.status = 'running' AND j.attempt > j.max_retries
                             THEN 'Worker lost: lease expired' ELSE j.error_message END,
        completed_at = CASE WHEN j.status = 'running' AND j.attempt <= j.max_retries
                            THEN j.completed_at ELSE %(now)s END,
        progress = CASE WHEN j.status = 'running' AND j.attempt <= j.max_retries
                        THEN 0 ELSE j.progress END,
        progress_at = NULL, rate = NULL,
        locked_by = NULL, lease_expires_at = NULL, eta_seconds = NULL, updated_at = %(now)s,
        seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count}
    FROM s
    -- By key alone: `picked` already locked and rechecked them (a status recheck here
    -- made the plan read jobdeck_jobs_status too)
    WHERE j.id = ANY (ARRAY(SELECT id FROM picked))
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'rescued', 'Worker lost: lease expired',
           jsonb_build_object('attempt', attempt, 'status', status), %(now)s
    FROM upd
),
ended AS (SELECT * FROM upd),
{store_started},
{prune_to_limit}
SELECT upd.* FROM upd ORDER BY upd.id

-- name: fail_timed_out_tracked
WITH {feed_seq},
picked AS (
    SELECT id FROM jobdeck_jobs
    WHERE status = 'running' AND mode = 'tracked' AND timeout > 0
      AND started_at + timeout * interval '1 second' < %(now)s
    ORDER BY id
    FOR UPDATE SKIP LOCKED
),
upd AS (
    UPDATE jobdeck_jobs j
    SET status = 'failed', error_message = 'Job timed out after ' || j.timeout || ' seconds',
        completed_at = %(now)s, locked_by = NULL, lease_expires_at = NULL, eta_seconds = NULL,
        updated_at = %(now)s, seq = jobdeck_row_seq(j.seq, s.seq),
        history_count = {next_history_count}
    FROM s
    WHERE j.id = ANY (ARRAY(SELECT id FROM picked)) AND j.status = 'running'
    RETURNING j.*
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, 'timeout', error_message, NULL, %(now)s FROM upd
),
{prune_to_limit}
{changed_rows} ORDER BY upd.id

-- name: cleanup
WITH del AS (
    DELETE FROM jobdeck_jobs
    WHERE status = ANY(%(statuses)s::text[]) AND completed_at < %(before)s
    RETURNING id
),
hist AS (DELETE FROM jobdeck_history WHERE job_pk IN (SELECT id FROM del))
SELECT count(*) AS n FROM del

-- name: prune_history
-- The events older than %(before)s: the stored rows (found by the BRIN index on
-- created_at) are deleted, and the derived ones (derived_events) hidden by raising the
-- history floor, which they are shown above: no job row is written (rewriting each
-- one that holds a reserved id wrote every index of the table and held its lock, 11
-- times the time of the DELETE at 100,000 jobs). Counted as SQLite counts the rows it
-- deletes: the derived events shown until now and older than the bound, found by a
-- scan of the jobs table (read only: no index holds created_at or started_at, and one
-- would be written by every insert or claim for this occasional cleanup). Two prunes at
-- once may both count a derived event (floor_before says what one pair of bound and id
-- hides). An attempt that ends while a prune runs may store its `started` row older
-- than the bound (it read the floor before); the next prune deletes it. No feed seq, as
-- for the rows deleted: nothing in the feed changes.
WITH del AS (DELETE FROM jobdeck_history WHERE created_at < %(before)s RETURNING 1),
hidden AS (
    SELECT count(*) FILTER (WHERE {created_shown} AND j.created_at < %(before)s)
           + count(*) FILTER (WHERE {started_shown} AND j.started_at < %(before)s)
           + count(*) FILTER (WHERE {completed_shown} AND j.completed_at < %(before)s) AS n
    FROM jobdeck_jobs j
    WHERE (j.created_event IS NOT NULL AND j.created_at < %(before)s)
       OR (j.started_event IS NOT NULL AND j.started_at < %(before)s)
       OR (j.completed_event IS NOT NULL AND j.completed_at < %(before)s)
),
raised AS (
    UPDATE jobdeck_history_floor
    SET before = greatest(before, %(before)s::timestamptz),
        -- The last id handed out (none yet: the sequence's first value less one).
        upto = greatest(upto, (SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END
                               FROM jobdeck_history_id_seq))
)
SELECT (SELECT count(*) FROM del) + (SELECT n FROM hidden) AS n

-- name: next_run_at
-- When an idle worker should look again. min(run_at) over every pending job would read
-- all of the claim index (it is ordered by priority first); one probe per priority
-- (%(priorities)s: domain.job.Priority) reads its first entry in run_at order.
SELECT min(n.run_at) AS run_at
FROM unnest(%(priorities)s::int[]) AS p(priority),
LATERAL (SELECT j.run_at FROM jobdeck_jobs j
         WHERE j.status = 'pending' AND j.mode = 'queued' AND j.priority = p.priority
         ORDER BY j.priority DESC, j.run_at LIMIT 1) n

-- name: add_history
WITH {feed_seq},
upd AS (
    UPDATE jobdeck_jobs j
    SET seq = jobdeck_row_seq(j.seq, s.seq), history_count = {next_history_count}
    FROM s
    WHERE j.job_id = %(job_id)s::text
    RETURNING j.id, j.seq, j.history_count
),
hist AS (
    INSERT INTO jobdeck_history (job_pk, kind, message, data, created_at)
    SELECT id, %(kind)s::text, %(message)s::text, %(data)s::jsonb, %(now)s FROM upd
),
{prune_to_limit}
SELECT upd.id FROM upd

-- name: index_text
-- A maintenance pass (migration 0011): of the next %(limit)s rows not in the trigram
-- index yet after id %(after)s (the last row the pass before read, 0: from the first),
-- those created before %(before)s that no claim can take by %(due_by)s (NULL: all)
-- join it. The others are left to their claim, which writes every index of the row
-- anyway: a young job is usually claimed soon, and a due one is what claimers want
-- next, so locking it here would make them skip it for a later one (they SKIP LOCKED
-- rows), breaking the claim order, and write it once more before its claim. %(due_by)s
-- is the pass's clock plus the settling time: the clock of a claimer on another host
-- may be ahead. Resuming after the last row read keeps a due backlog at the front from
-- hiding the rows behind it (a pass would read the same due rows every time); the
-- caller starts from the first row again when a pass reads fewer than %(limit)s.
-- None are read when the first row after %(after)s is young (ids follow creation
-- closely enough, so the rows after it are young too): every process's maintenance
-- runs this every second, while a queue kept busy holds thousands of young rows.
-- Only the rows written are locked; rows another transaction holds are skipped, not
-- waited for. No feed seq: nothing a reader sees changes. docs/postgres.md, "The
-- trigram index after the insert".
WITH first AS (
    SELECT created_at FROM jobdeck_jobs
    WHERE NOT text_indexed AND id > %(after)s::bigint
    ORDER BY id LIMIT 1
),
batch AS (
    SELECT id FROM jobdeck_jobs
    WHERE NOT text_indexed AND id > %(after)s::bigint
      AND (%(before)s::timestamptz IS NULL OR (SELECT created_at FROM first) < %(before)s)
    ORDER BY id
    LIMIT %(limit)s::int
),
picked AS (
    SELECT id FROM jobdeck_jobs
    WHERE id = ANY (ARRAY(SELECT id FROM batch))
      AND NOT text_indexed
      AND (%(before)s::timestamptz IS NULL
           OR (created_at < %(before)s
               AND NOT (status = 'pending' AND mode = 'queued'
                        AND run_at <= %(due_by)s::timestamptz)))
    FOR UPDATE SKIP LOCKED
),
upd AS (
    UPDATE jobdeck_jobs j SET text_indexed = true
    WHERE j.id = ANY (ARRAY(SELECT id FROM picked))
    RETURNING 1
)
SELECT (SELECT count(*) FROM upd) AS n, count(*) AS read, max(id) AS last FROM batch

-- fragment: history_job
-- The job whose history is read (get_history, history_after), by its key: `j`.
j AS MATERIALIZED (
    SELECT id, job_id, status, attempt, history_count, created_event, created_at,
           started_event, started_by, started_at, completed_event, completed_at
    FROM jobdeck_jobs WHERE job_id = %(job_id)s::text
)

-- name: get_history
-- The newest `limit` events, returned oldest first, and at most %(history_limit)s: the
-- stored rows and the derived ones (derived_events) together may be a few more
-- (prune_to_limit). The stored rows are read backwards through jobdeck_history_job, no
-- more of them than are returned (the job's key is a value for the plan: a subquery).
WITH {history_job},
n AS (SELECT least(%(limit)s::int, %(history_limit)s::int) AS n),
events AS (
    (SELECT h.id, h.kind, h.message, h.data, h.created_at
     FROM jobdeck_history h
     WHERE h.job_pk = (SELECT id FROM j)
     ORDER BY h.job_pk DESC, h.id DESC
     LIMIT (SELECT n FROM n))
    UNION ALL
    {derived_events}
)
SELECT e.id, j.job_id, e.kind, e.message, e.data, e.created_at
FROM (SELECT * FROM events ORDER BY id DESC LIMIT (SELECT n FROM n)) e, j
ORDER BY e.id

-- name: changes_since
-- One statement, so one snapshot for jobs, executions, schedules and revocations.
-- Records are ordered by seq, then jobs, executions, schedules (a job's execution and
-- schedule take its seq in the jobs trigger), revocations (a seq of their own), then id. About `limit` records: the page is cut
-- at `cut`, the seq of the limit-th record of all three tables together, and takes
-- every record with seq <= cut, so a group sharing one seq is never split and a
-- follower resuming after the page's last seq never skips a record.
-- Why every record up to `cut` is read: a table's first `limit` records reach at
-- least `cut` (the limit-th record of the union is no later than the limit-th of any
-- one table). Jobs, the busy table, are read once (`page`) and completed at the edge;
-- the cron and token tables are small and read again by range. Their records travel
-- as jsonb (`_record`) beside the job columns (NULL for them), so one result holds all.
-- Nothing above the feed horizon is read: feed_horizon, run just before in the same
-- pipeline, left it in jobdeck.horizon (`hz`); the page is cut there at the latest.
WITH hz AS MATERIALIZED (SELECT current_setting('jobdeck.horizon')::bigint AS seq),
page AS MATERIALIZED (
    SELECT * FROM jobdeck_jobs
    WHERE seq > %(seq)s::bigint AND seq <= (SELECT seq FROM hz) ORDER BY seq, id
    LIMIT %(limit)s::int
),
exe_seqs AS (
    SELECT seq FROM jobdeck_cron_executions
    WHERE seq > %(seq)s::bigint AND seq <= (SELECT seq FROM hz) ORDER BY seq
    LIMIT %(limit)s::int
),
cron_seqs AS (
    SELECT seq FROM jobdeck_cron_jobs
    WHERE seq > %(seq)s::bigint AND seq <= (SELECT seq FROM hz) ORDER BY seq
    LIMIT %(limit)s::int
),
revoked_seqs AS (
    SELECT revoked_seq AS seq FROM jobdeck_tokens
    WHERE revoked_seq > %(seq)s::bigint AND revoked_seq <= (SELECT seq FROM hz)
    ORDER BY revoked_seq LIMIT %(limit)s::int
),
cut AS MATERIALIZED (
    SELECT coalesce(
        (SELECT seq FROM (SELECT seq FROM page UNION ALL SELECT seq FROM exe_seqs
                          UNION ALL SELECT seq FROM cron_seqs
                          UNION ALL SELECT seq FROM revoked_seqs) a
         ORDER BY seq OFFSET %(limit)s::int - 1 LIMIT 1),
        (SELECT seq FROM hz)) AS seq
),
-- A full job page ending at `cut`: the jobs sharing that seq past its last row.
edge AS (
    SELECT seq, id FROM page
    WHERE (SELECT count(*) FROM page) >= %(limit)s::int
    ORDER BY seq DESC, id DESC LIMIT 1
)
SELECT * FROM (
    SELECT p.seq AS _seq, 0 AS _kind, p.id AS _id, NULL::jsonb AS _record, p.*
    FROM page p WHERE p.seq <= (SELECT seq FROM cut)
    UNION ALL
    SELECT j.seq, 0, j.id, NULL::jsonb, j.*
    FROM jobdeck_jobs j JOIN edge ON j.seq = edge.seq AND j.id > edge.id
    WHERE edge.seq <= (SELECT seq FROM cut)
    UNION ALL
    SELECT x.seq, 1, x.id, to_jsonb(x), (NULL::jobdeck_jobs).*
    FROM jobdeck_cron_executions x
    WHERE x.seq > %(seq)s::bigint AND x.seq <= (SELECT seq FROM cut)
    UNION ALL
    SELECT c.seq, 2, c.id, to_jsonb(c), (NULL::jobdeck_jobs).*
    FROM jobdeck_cron_jobs c
    WHERE c.seq > %(seq)s::bigint AND c.seq <= (SELECT seq FROM cut)
    UNION ALL
    SELECT t.revoked_seq, 3, t.id, jsonb_build_object('id', t.id, 'name', t.name),
           (NULL::jobdeck_jobs).*
    FROM jobdeck_tokens t
    WHERE t.revoked_seq > %(seq)s::bigint AND t.revoked_seq <= (SELECT seq FROM cut)
) feed
ORDER BY _seq, _kind, _id

-- name: last_seq
-- The newest committed number at or below the feed horizon (feed_horizon, run just
-- before in the same pipeline), never the sequence's own value: a follower starting
-- there must not skip a number still in flight below it.
WITH hz AS MATERIALIZED (SELECT current_setting('jobdeck.horizon')::bigint AS seq)
SELECT greatest(
    coalesce((SELECT max(seq) FROM jobdeck_jobs WHERE seq <= (SELECT seq FROM hz)), 0),
    (SELECT max(seq) FROM jobdeck_cron_executions WHERE seq <= (SELECT seq FROM hz)),
    (SELECT max(seq) FROM jobdeck_cron_jobs WHERE seq <= (SELECT seq FROM hz)),
    (SELECT max(revoked_seq) FROM jobdeck_tokens WHERE revoked_seq <= (SELECT seq FROM hz))
) AS seq

-- name: create_token
INSERT INTO jobdeck_tokens (name, token_hash, scopes, plugin, store, created_at)
VALUES (%(name)s, %(token_hash)s, %(scopes)s::text[], %(plugin)s, %(store)s, %(now)s)
RETURNING *

-- name: token_by_hash
SELECT * FROM jobdeck_tokens WHERE token_hash = %(token_hash)s AND revoked_at IS NULL

-- name: list_tokens
SELECT * FROM jobdeck_tokens ORDER BY id

-- name: revoke_token
-- A record of the change feed (docs/feed.md, "Revocations"): its seq is registered as
-- a revocation's (R), which the feed horizon never passes over (feed_horizon), so a
-- follower reads it before any record with a higher seq. Its grants (login codes,
-- tickets, sessions) end with it.
WITH s AS MATERIALIZED (SELECT jobdeck_feed_seq(revocation => true) AS seq),
upd AS (
    UPDATE jobdeck_tokens t SET revoked_at = %(now)s, revoked_seq = s.seq
    FROM s
    WHERE t.name = %(name)s AND t.revoked_at IS NULL
    RETURNING t.id, t.revoked_seq
),
ended AS (
    DELETE FROM jobdeck_grants g USING upd WHERE g.token_id = upd.id
)
SELECT upd.id FROM upd

-- name: touch_token
-- Never backwards (processes' clocks differ a little).
UPDATE jobdeck_tokens SET last_used_at = %(now)s
WHERE id = %(token_id)s AND (last_used_at IS NULL OR last_used_at < %(now)s)

-- name: purge_grants
DELETE FROM jobdeck_grants WHERE expires_at <= %(now)s

-- name: create_grant
INSERT INTO jobdeck_grants (kind, secret_hash, token_id, expires_at)
VALUES (%(kind)s, %(secret_hash)s, %(token_id)s, %(expires_at)s)

-- name: consume_grant
-- The row lock and READ COMMITTED re-check of `used_at IS NULL` make two concurrent
-- uses of a single-use grant resolve to exactly one winner.
WITH g AS (
    UPDATE jobdeck_grants g SET used_at = %(now)s
    FROM jobdeck_tokens t
    WHERE g.kind = %(kind)s AND g.secret_hash = %(secret_hash)s AND g.used_at IS NULL
      AND g.expires_at > %(now)s AND t.id = g.token_id AND t.revoked_at IS NULL
    RETURNING g.token_id
)
SELECT t.* FROM jobdeck_tokens t JOIN g ON t.id = g.token_id

-- name: peek_grant
SELECT t.* FROM jobdeck_grants g JOIN jobdeck_tokens t ON t.id = g.token_id
WHERE g.kind = %(kind)s AND g.secret_hash = %(secret_hash)s AND g.used_at IS NULL
  AND g.expires_at > %(now)s AND t.revoked_at IS NULL

-- ===================================================================================
-- Cron schedules and their executions (ScheduleStore in store/base.py; the tables and
-- the jobs trigger that mirrors a job into its execution are in migration 0002).
--
-- Every statement that gives a schedule or an execution a seq takes it as a job write
-- does (fragment feed_seq, registered), so the feed's guarantee covers them; the jobs
-- trigger gives them the job's seq. Writers of one schedule row wait for each other's
-- row lock only. Lock order: the jobs trigger locks an execution, then its schedule;
-- fire locks the schedule, then inserts executions (new rows); delete_cron_job locks
-- the schedule first, then deletes its executions: the one cycle possible (a schedule
-- deleted while one of its runs ends) is a deadlock PostgreSQL breaks, and the
-- rolled-back verb is retried (Database._run). After the commit the caller NOTIFYs
-- jobdeck_jobs (the feed) and jobdeck_cron (schedulers re-read their next fire time;
-- listener.py turns it into the "cron" signal).

-- fragment: cron_definition_columns
-- The columns of a CronDefinition (rows.definition_json gives them as one JSON object).
name, cron_expression, job_type, configuration, description, timezone, plugin_id, store_id,
is_active, max_runs, max_failures, timeout_seconds, misfire_policy, misfire_grace_seconds,
overlap_policy, tags, priority, max_retries, show_notification

-- fragment: cron_definition_values
-- The same columns of `d`, a definition (jsonb_populate_record of the JSON object).
d.name, d.cron_expression, d.job_type, d.configuration, d.description, d.timezone,
d.plugin_id, d.store_id, d.is_active, d.max_runs, d.max_failures, d.timeout_seconds,
d.misfire_policy, d.misfire_grace_seconds, d.overlap_policy, d.tags, d.priority,
d.max_retries, d.show_notification

-- fragment: cron_definition_set
-- A new definition `excluded` replaces the stored one, except is_active (an upsert of
-- declared schedules keeps it; update_cron_job sets it itself).
name = excluded.name, cron_expression = excluded.cron_expression,
job_type = excluded.job_type, configuration = excluded.configuration,
description = excluded.description, timezone = excluded.timezone,
plugin_id = excluded.plugin_id, store_id = excluded.store_id,
max_runs = excluded.max_runs, max_failures = excluded.max_failures,
timeout_seconds = excluded.timeout_seconds, misfire_policy = excluded.misfire_policy,
misfire_grace_seconds = excluded.misfire_grace_seconds,
overlap_policy = excluded.overlap_policy, tags = excluded.tags,
priority = excluded.priority, max_retries = excluded.max_retries,
show_notification = excluded.show_notification

-- fragment: cron_definition_row
-- Every column of a stored definition `c` but is_active, to compare with a new one.
c.name, c.cron_expression, c.job_type, c.configuration, c.description, c.timezone,
c.plugin_id, c.store_id, c.max_runs, c.max_failures, c.timeout_seconds, c.misfire_policy,
c.misfire_grace_seconds, c.overlap_policy, c.tags, c.priority, c.max_retries,
c.show_notification

-- fragment: cron_definition_row_excluded
-- The same columns of the new definition `excluded`.
excluded.name, excluded.cron_expression, excluded.job_type, excluded.configuration,
excluded.description, excluded.timezone, excluded.plugin_id, excluded.store_id,
excluded.max_runs, excluded.max_failures, excluded.timeout_seconds, excluded.misfire_policy,
excluded.misfire_grace_seconds, excluded.overlap_policy, excluded.tags, excluded.priority,
excluded.max_retries, excluded.show_notification

-- fragment: cron_touched
-- updated_at of a write to schedule `c` (a user's, or fire): now, or one microsecond
-- after the stored value when now is not later, so that it changes on every such write
-- (fire compares it). The jobs trigger never moves it.
greatest(%(now)s::timestamptz, c.updated_at + interval '1 microsecond')

-- fragment: same_name_key
-- Schedule `c` holds the name key of definition `d` (NULL plugin or store = one value,
-- as in the unique index jobdeck_cron_jobs_name).
c.name = d.name AND coalesce(c.plugin_id, '') = coalesce(d.plugin_id, '')
  AND coalesce(c.store_id, '') = coalesce(d.store_id, '')

-- fragment: cron_filter
-- The filters of list_cron_jobs and count_cron_jobs (domain.schedule.CronFilter).
(%(status)s::text IS NULL
   OR (%(status)s::text = 'active' AND is_active AND NOT is_paused)
   OR (%(status)s::text = 'paused' AND is_active AND is_paused)
   OR (%(status)s::text = 'inactive' AND NOT is_active))
  AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s::text)
  AND (%(plugin_id)s::text IS NULL OR plugin_id = %(plugin_id)s::text)
  AND (%(store_id)s::text IS NULL OR store_id = %(store_id)s::text)
  AND (%(q)s::text IS NULL OR name ILIKE %(q)s::text OR description ILIKE %(q)s::text)
  AND tags @> %(tags)s::text[]

-- name: insert_cron_job
-- ON CONFLICT DO NOTHING on the name key: no row back means the name is taken, and
-- the caller reads the schedule holding it (CronJobExists).
WITH {feed_seq}
INSERT INTO jobdeck_cron_jobs AS c ({cron_definition_columns}, created_by, declared_by,
                                    next_run_at, created_at, updated_at, seq)
SELECT {cron_definition_values}, %(created_by)s::text, %(declared_by)s::text,
       %(next_run_at)s::timestamptz, %(now)s, %(now)s, s.seq
FROM jsonb_populate_record(NULL::jobdeck_cron_jobs, %(definition)s::jsonb) d, s
ON CONFLICT DO NOTHING
RETURNING c.*

-- name: get_cron_job
SELECT * FROM jobdeck_cron_jobs WHERE id = %(id)s::bigint

-- name: find_cron_jobs
SELECT * FROM jobdeck_cron_jobs WHERE name = %(name)s::text ORDER BY id

-- name: cron_job_by_key
SELECT c.* FROM jobdeck_cron_jobs c,
    (SELECT %(name)s::text AS name, %(plugin_id)s::text AS plugin_id,
            %(store_id)s::text AS store_id) d
WHERE {same_name_key}

-- name: list_cron_jobs
-- NULLs last in either direction, then id in the same direction. Names sort by code
-- point (COLLATE "C"), as SQLite's BINARY does, so both backends agree.
SELECT * FROM jobdeck_cron_jobs
WHERE {cron_filter}
ORDER BY
    CASE WHEN %(sort)s::text = 'name' AND NOT %(desc)s::boolean THEN name END COLLATE "C" ASC,
    CASE WHEN %(sort)s::text = 'name' AND %(desc)s::boolean THEN name END COLLATE "C" DESC,
    CASE WHEN %(sort)s::text = 'next_run_at' AND NOT %(desc)s::boolean THEN next_run_at END
        ASC NULLS LAST,
    CASE WHEN %(sort)s::text = 'next_run_at' AND %(desc)s::boolean THEN next_run_at END
        DESC NULLS LAST,
    CASE WHEN %(sort)s::text = 'last_run_at' AND NOT %(desc)s::boolean THEN last_run_at END
        ASC NULLS LAST,
    CASE WHEN %(sort)s::text = 'last_run_at' AND %(desc)s::boolean THEN last_run_at END
        DESC NULLS LAST,
    CASE WHEN %(sort)s::text = 'created_at' AND NOT %(desc)s::boolean THEN created_at END
        ASC NULLS LAST,
    CASE WHEN %(sort)s::text = 'created_at' AND %(desc)s::boolean THEN created_at END
        DESC NULLS LAST,
    CASE WHEN %(desc)s::boolean THEN id END DESC,
    id ASC
LIMIT %(limit)s::bigint OFFSET %(offset)s::bigint

-- name: count_cron_jobs
SELECT count(*) AS n FROM jobdeck_cron_jobs WHERE {cron_filter}

-- name: update_cron_job
-- `excluded` names the new definition, as ON CONFLICT names its proposed row, so
-- cron_definition_set serves this and upsert_declared alike. A name clash raises a
-- unique violation (the caller reads the holder for CronJobExists). next_run_at is
-- decided here, from the row as it is (`c.` reads the old values): NULL when paused or
-- made inactive; %(next_run_at)s (the next fire time after now) when the expression,
-- timezone or activity changed, or none is stored; else the stored one (a due tick
-- survives an edit of the description). Activating a retired schedule makes it an
-- ordinary one.
WITH {feed_seq}
UPDATE jobdeck_cron_jobs c
SET {cron_definition_set}, is_active = excluded.is_active,
    retired = c.retired AND NOT excluded.is_active,
    next_run_at = CASE
        WHEN c.is_paused OR NOT excluded.is_active THEN NULL
        WHEN c.cron_expression IS DISTINCT FROM excluded.cron_expression
             OR c.timezone IS DISTINCT FROM excluded.timezone
             OR c.is_active IS DISTINCT FROM excluded.is_active
             OR c.next_run_at IS NULL THEN %(next_run_at)s::timestamptz
        ELSE c.next_run_at END,
    updated_at = {cron_touched}, seq = jobdeck_row_seq(c.seq, s.seq)
FROM jsonb_populate_record(NULL::jobdeck_cron_jobs, %(definition)s::jsonb) excluded, s
WHERE c.id = %(id)s::bigint
RETURNING c.*

-- name: set_paused
-- Resuming also forgets the failures that paused it (max_failures counts afresh).
WITH {feed_seq}
UPDATE jobdeck_cron_jobs c
SET is_paused = %(paused)s::boolean, next_run_at = %(next_run_at)s::timestamptz,
    consecutive_failures = CASE WHEN %(paused)s::boolean THEN c.consecutive_failures
                                ELSE 0 END,
    updated_at = {cron_touched}, seq = jobdeck_row_seq(c.seq, s.seq)
FROM s
WHERE c.id = %(id)s::bigint
RETURNING c.*

-- name: cron_row_lock
-- delete_cron_job's first statement: the schedule's row lock, so a fire or an edit in
-- flight finishes first, and the delete (a new statement, a new snapshot) sees the
-- executions it wrote.
SELECT id FROM jobdeck_cron_jobs WHERE id = %(id)s::bigint FOR UPDATE

-- name: declare_lock
-- upsert_declared's first statement: one plugin's declarations are written one process
-- at a time (not a cluster-wide lock: only that plugin's upserts wait).
SELECT pg_advisory_xact_lock(7452019, hashtext(%(plugin)s::text))

-- name: delete_cron_job
-- The schedule and its executions; its jobs stay (their cron_job_id then points
-- nowhere, and the jobs trigger finds no execution to mirror).
WITH del AS (DELETE FROM jobdeck_cron_jobs WHERE id = %(id)s::bigint RETURNING id),
exe AS (DELETE FROM jobdeck_cron_executions WHERE cron_job_id IN (SELECT id FROM del))
SELECT id FROM del

-- name: due_cron_jobs
SELECT * FROM jobdeck_cron_jobs
WHERE is_active AND NOT is_paused AND next_run_at <= %(now)s
ORDER BY next_run_at, id
LIMIT %(limit)s::int

-- name: next_cron_at
SELECT min(next_run_at) AS next_run_at FROM jobdeck_cron_jobs
WHERE is_active AND NOT is_paused

-- name: fire_lock
-- The first half of fire (PostgresStore.fire): the compare-and-set. The row comes back, locked, only while the schedule is active,
-- unpaused and still as this scheduler read it: the same next_run_at and updated_at
-- (every user write and every fire moves updated_at; the jobs trigger does not). A
-- scheduler that lost the race, one whose read predates an edit (its job would carry
-- the old definition), or a retry of a fire whose COMMIT landed but whose answer was
-- lost, gets no row and records nothing. `_running`: whether a run is still going (the
-- overlap policy).
SELECT c.*, EXISTS (SELECT 1 FROM jobdeck_cron_executions e
                    WHERE e.cron_job_id = c.id AND e.status = 'running') AS _running
FROM jobdeck_cron_jobs c
WHERE c.id = %(id)s::bigint AND c.is_active AND NOT c.is_paused
  AND c.next_run_at = %(expected)s::timestamptz
  AND c.updated_at = %(updated_at)s::timestamptz
FOR UPDATE OF c

-- name: fire
-- The second half of fire, in the same transaction: what domain.schedule.decide made
-- of the due ticks. %(ticks)s: objects (scheduled_for, job_id) in order, job_id NULL for a
-- tick recorded as skipped. An execution whose key (cron_job_id, scheduled_for) already
-- exists is not inserted again, and neither is its job (`input` keeps only the jobs of
-- inserted executions); the jobs go in as insert_jobs puts them. last_run_at moves only
-- when a tick created a run (not when every tick was skipped).
WITH {feed_seq},
ticks AS (
    SELECT * FROM ROWS FROM (jsonb_to_recordset(%(ticks)s::jsonb)
                             AS (scheduled_for timestamptz, job_id text))
        WITH ORDINALITY AS t(scheduled_for, job_id, ord)
),
exe AS (
    INSERT INTO jobdeck_cron_executions (
        cron_job_id, scheduled_for, status, triggered_by, started_at, completed_at,
        duration_ms, server_instance, job_id, seq)
    SELECT %(id)s::bigint, t.scheduled_for,
           CASE WHEN t.job_id IS NULL THEN 'skipped' ELSE 'running' END, 'scheduler',
           %(now)s, CASE WHEN t.job_id IS NULL THEN %(now)s END,
           CASE WHEN t.job_id IS NULL THEN 0 END, %(server_instance)s::text, t.job_id, s.seq
    FROM ticks t, s
    ORDER BY t.ord
    ON CONFLICT DO NOTHING
    RETURNING *
),
input AS (SELECT * FROM {new_job_input} WHERE t.job_id IN (SELECT job_id FROM exe)),
{insert_new_jobs},
cron AS (
    UPDATE jobdeck_cron_jobs c
    SET next_run_at = %(next_run_at)s::timestamptz,
        is_active = c.is_active AND NOT %(reached)s::boolean,
        last_run_at = CASE WHEN EXISTS (SELECT 1 FROM exe WHERE exe.job_id IS NOT NULL)
                           THEN %(now)s ELSE c.last_run_at END,
        run_count = c.run_count + (SELECT count(*) FROM exe WHERE exe.job_id IS NOT NULL),
        updated_at = {cron_touched}, seq = jobdeck_row_seq(c.seq, s.seq)
    FROM s
    WHERE c.id = %(id)s::bigint
    RETURNING c.id
)
SELECT exe.* FROM exe ORDER BY exe.scheduled_for, exe.id

-- name: run_now
-- A manual run: its execution and its job, whatever the schedule's state or overlap
-- policy. A retry after a lost answer inserts nothing (the execution's job_id is
-- unique and chosen before the first try); the caller then reads it by job_id.
WITH {feed_seq},
cron AS (SELECT id FROM jobdeck_cron_jobs WHERE id = %(id)s::bigint),
exe AS (
    INSERT INTO jobdeck_cron_executions (
        cron_job_id, scheduled_for, status, triggered_by, triggered_by_user, started_at,
        server_instance, job_id, seq)
    SELECT cron.id, %(now)s, 'running', %(triggered_by)s::text, %(user)s::text, %(now)s,
           %(server_instance)s::text, %(job_id)s::text, s.seq
    FROM cron, s
    ON CONFLICT DO NOTHING
    RETURNING *
),
input AS (SELECT * FROM {new_job_input} WHERE t.job_id IN (SELECT job_id FROM exe)),
{insert_new_jobs}
SELECT exe.* FROM exe

-- name: execution_by_job
SELECT * FROM jobdeck_cron_executions WHERE job_id = %(job_id)s::text

-- name: get_execution
SELECT * FROM jobdeck_cron_executions WHERE id = %(id)s::bigint

-- name: list_executions
SELECT * FROM jobdeck_cron_executions
WHERE cron_job_id = %(id)s::bigint
ORDER BY scheduled_for DESC, id DESC
LIMIT %(limit)s::bigint OFFSET %(offset)s::bigint

-- name: count_executions
SELECT count(*) AS n FROM jobdeck_cron_executions WHERE cron_job_id = %(id)s::bigint

-- name: cleanup_executions
-- It deletes finished executions only, writes no seq, and locks nothing but the rows
-- it deletes.
WITH del AS (
    DELETE FROM jobdeck_cron_executions
    WHERE status <> 'running' AND completed_at < %(before)s
    RETURNING 1
)
SELECT count(*) AS n FROM del

-- name: upsert_declared
-- A plugin's code-declared schedules (docs/cron.md, "Code-defined schedules"), in one statement. Concurrent calls
-- from several processes serialize on the plugin's lock (declare_lock), and the ON
-- CONFLICT on the name
-- key would make a racing second insert an update anyway: one row per name. An
-- existing schedule takes the new definition only when this plugin declared it and
-- the definition changed (the DO UPDATE's WHERE: an unchanged declaration writes
-- nothing, so a restart does not touch every schedule); declarations that wrote
-- nothing come back with `_written` false, and a name held by a schedule this plugin
-- did not declare makes the caller report the holder (CronJobExists) and roll back.
-- is_active and is_paused stay, unless the schedule was retired: then it takes the
-- declared activity and next fire time (none while paused), and is written even if its
-- definition did not change. Otherwise next_run_at changes only with the expression or
-- timezone, and never on a paused or inactive schedule. `gone`: this plugin's active
-- declared schedules missing from the declarations are deactivated and marked retired
-- (never deleted: their history stays; a user's deactivation is not a retirement).
WITH {feed_seq},
d AS (
    SELECT * FROM jsonb_populate_recordset(NULL::jobdeck_cron_jobs, %(declared)s::jsonb)
        WITH ORDINALITY
),
up AS (
    INSERT INTO jobdeck_cron_jobs AS c ({cron_definition_columns}, created_by, declared_by,
                                        next_run_at, created_at, updated_at, seq)
    SELECT {cron_definition_values}, 'plugin:' || %(plugin)s::text, %(plugin)s::text,
           d.next_run_at, %(now)s, %(now)s, s.seq
    FROM d, s
    ORDER BY d.ordinality
    ON CONFLICT (name, (coalesce(plugin_id, '')), (coalesce(store_id, '')))
    DO UPDATE SET {cron_definition_set},
        is_active = CASE WHEN c.retired THEN excluded.is_active ELSE c.is_active END,
        retired = false,
        next_run_at = CASE
            WHEN c.is_paused THEN c.next_run_at
            WHEN c.retired THEN excluded.next_run_at
            WHEN NOT c.is_active THEN c.next_run_at
            WHEN c.cron_expression IS DISTINCT FROM excluded.cron_expression
                 OR c.timezone IS DISTINCT FROM excluded.timezone THEN excluded.next_run_at
            ELSE c.next_run_at END,
        updated_at = {cron_touched}, seq = jobdeck_row_seq(c.seq, excluded.seq)
    WHERE c.declared_by = %(plugin)s::text
      AND (c.retired
           OR ({cron_definition_row}) IS DISTINCT FROM ({cron_definition_row_excluded}))
    RETURNING c.*
),
gone AS (
    UPDATE jobdeck_cron_jobs c
    SET is_active = false, retired = true, next_run_at = NULL, updated_at = {cron_touched},
        seq = jobdeck_row_seq(c.seq, s.seq)
    FROM s
    WHERE c.declared_by = %(plugin)s::text AND c.is_active
      AND NOT EXISTS (SELECT 1 FROM d WHERE {same_name_key})
    RETURNING c.id
)
SELECT c.*, true AS _written FROM up c
UNION ALL
-- The declarations that wrote nothing, as they stand: unchanged ones of this plugin,
-- or a name held otherwise (the statement's snapshot is their current state).
SELECT c.*, false FROM jobdeck_cron_jobs c, d
WHERE {same_name_key} AND c.id NOT IN (SELECT id FROM up)
