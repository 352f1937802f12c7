-- jobdeck PostgreSQL schema, version 7: the change feed without a feed lock.
--
-- Until version 6 every feed write took one cluster-wide advisory lock (the "feed
-- lock") before its seq and held it to COMMIT, so seqs committed one at a time. Now a
-- writer takes its seq with a plain nextval() and *registers* it while it is in
-- flight; followers read only below a horizon under which every seq is final, and a
-- writer that stays in flight too long is passed over and given a new seq after it
-- commits ("late"). The design and its correctness argument: queries.sql,
-- "feed_horizon"; docs/feed.md.
--
-- Registrations are transaction-level advisory locks on int8 keys (objsubid 1 in
-- pg_locks), in three ranges: the high 16 bits name the kind, the low 48 bits carry
-- a seq (2^48 seqs: 89 years at 100,000 writes/s). A lock is visible to every
-- session the moment it is granted (no snapshot), and it goes when its transaction
-- ends, however it ends (commit, rollback, lost connection, crash).
--   0x4A4B… (K, 19019) shared:    a lower bound of the seq this writer is about to take
--   0x4A53… (S, 19027) exclusive: the seq a writer took (a job or schedule write)
--   0x4A52… (R, 19026) exclusive: the seq a revocation took; never passed over
-- Nothing ever waits for these locks: K is only taken shared, S and R keys are unique.

-- Seqs of passed-over transactions (noted by a follower before it read past them).
-- A follower gives the rows still carrying such a seq a new one once its transaction
-- has ended (jobdeck_feed_restamp).
CREATE TABLE jobdeck_feed_late (
    seq      bigint PRIMARY KEY,
    noted_at timestamptz NOT NULL DEFAULT now()
);

-- A feed write's seq, registered: K(lower bound), then nextval, then S (or R).
-- Called once per writing statement (queries.sql, fragment feed_seq).
CREATE FUNCTION jobdeck_feed_seq(revocation boolean DEFAULT false) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    lb bigint;
    s bigint;
BEGIN
    -- The last seq handed out so far (nextval's on-page value; not yet called: none).
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO lb
    FROM jobdeck_seq;
    PERFORM pg_advisory_xact_lock_shared((19019 :: bigint << 48) + lb);  -- K
    s := nextval('jobdeck_seq');  -- > lb: the sequence only grows
    PERFORM pg_advisory_xact_lock(  -- R or S
        ((CASE WHEN revocation THEN 19026 ELSE 19027 END) :: bigint << 48) + s);
    RETURN s;
END
$$;

-- The in-flight registrations of this database, one row per backend: `bound`, the
-- highest seq below every seq that backend holds or may still take; `seqs`, the seqs it
-- took (S and R); `complete`, whether each K it holds is followed by its S/R (every K is,
-- within one call of jobdeck_feed_seq: with as many of each, every seq is known, else
-- the newest K bounds the one to come); whether it holds a revocation's; when its
-- transaction began (NULL when this role may not see it: then it is never late).
CREATE FUNCTION jobdeck_feed_inflight()
RETURNS TABLE (pid integer, bound bigint, seqs bigint[], complete boolean,
               revocation boolean, xact_start timestamptz)
LANGUAGE sql VOLATILE AS $$
    WITH reg AS (
        SELECT l.pid, (l.classid :: bigint >> 16) AS kind,
               ((l.classid :: bigint & 65535) << 32) | l.objid :: bigint AS v
        FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.objsubid = 1
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND (l.classid :: bigint >> 16) IN (19019, 19027, 19026)  -- 0x4A4B, 0x4A53, 0x4A52
    ),
    per AS (
        SELECT r.pid,
               count(*) FILTER (WHERE kind = 19019) AS ks,
               max(v) FILTER (WHERE kind = 19019) AS kmax,
               count(*) FILTER (WHERE kind <> 19019) AS ss,
               array_agg(v ORDER BY v) FILTER (WHERE kind <> 19019) AS seqs,
               coalesce(bool_or(kind = 19026), false) AS revocation
        FROM reg r GROUP BY r.pid
    )
    SELECT p.pid, least(p.seqs[1] - 1, CASE WHEN p.ks > p.ss THEN p.kmax END), p.seqs,
           p.ks <= p.ss, p.revocation, a.xact_start
    FROM per p LEFT JOIN LATERAL pg_stat_get_activity(p.pid) a ON true
$$;

-- The feed horizon: every seq at or below it is final (committed, or never to be), so
-- a follower may read up to it and never later find a new record below what it read.
-- Backends in flight for longer than `late_after` (never a revocation's) are passed
-- over: their seqs are noted in jobdeck_feed_late first, in this transaction, which
-- commits before the caller reads past them. `held`: a registration holds the horizon
-- below the sequence (ask again after `late_after`); `restamps`: late seqs whose
-- transactions have ended, waiting for jobdeck_feed_restamp.
CREATE FUNCTION jobdeck_feed_horizon(late_after interval,
                                     OUT horizon bigint, OUT held boolean,
                                     OUT restamps integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v bigint;
    cutoff timestamptz := clock_timestamp() - late_after;
    late_seqs bigint[];
    live_seqs bigint[];
BEGIN
    -- First the sequence, then the registrations: the order the argument needs.
    SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END INTO v
    FROM jobdeck_seq;
    WITH f AS MATERIALIZED (  -- pg_locks read once
        SELECT i.*, (i.complete AND NOT i.revocation AND i.seqs IS NOT NULL
                     AND i.xact_start < cutoff) AS late
        FROM jobdeck_feed_inflight() i
    )
    SELECT least(v, (SELECT min(f.bound) FROM f WHERE NOT f.late)),
           (SELECT array_agg(s) FROM f, unnest(f.seqs) s WHERE f.late),
           (SELECT array_agg(s) FROM f, unnest(f.seqs) s)
    INTO horizon, late_seqs, live_seqs;
    held := horizon < v;
    IF late_seqs IS NOT NULL THEN
        INSERT INTO jobdeck_feed_late (seq) SELECT unnest(late_seqs) ON CONFLICT DO NOTHING;
    END IF;
    SELECT count(*) INTO restamps FROM jobdeck_feed_late l
    WHERE NOT (l.seq = ANY (coalesce(live_seqs, '{}')));
END
$$;

-- Gives the rows of passed-over transactions that have ended a new seq (a registered
-- feed write like any other, so it is ordered like one): every row still carrying a
-- late seq, in the four tables of the feed. Rows another transaction holds locked are
-- skipped, not waited for (a heartbeat, say); their late seq stays noted for the next
-- call. Late seqs whose rows are all gone (rolled back, or written again since, with a
-- seq of their own) are forgotten. Returns the new seq, or NULL when nothing moved.
CREATE FUNCTION jobdeck_feed_restamp() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    late record;
    s bigint;
    live bigint[];
    moved integer;
BEGIN
    SELECT array_agg(x) INTO live FROM jobdeck_feed_inflight() i, unnest(i.seqs) x;
    FOR late IN
        SELECT l.seq FROM jobdeck_feed_late l
        WHERE NOT (l.seq = ANY (coalesce(live, '{}')))
        ORDER BY l.seq
        FOR UPDATE SKIP LOCKED
    LOOP
        IF s IS NULL THEN
            s := jobdeck_feed_seq(false);
        END IF;
        moved := 0;
        UPDATE jobdeck_jobs j SET seq = s
        WHERE j.id IN (SELECT id FROM jobdeck_jobs WHERE seq = late.seq FOR UPDATE SKIP LOCKED);
        UPDATE jobdeck_cron_executions e SET seq = s
        WHERE e.id IN (SELECT id FROM jobdeck_cron_executions WHERE seq = late.seq
                       FOR UPDATE SKIP LOCKED);
        UPDATE jobdeck_cron_jobs c SET seq = s
        WHERE c.id IN (SELECT id FROM jobdeck_cron_jobs WHERE seq = late.seq
                       FOR UPDATE SKIP LOCKED);
        UPDATE jobdeck_tokens t SET revoked_seq = s
        WHERE t.id IN (SELECT id FROM jobdeck_tokens WHERE revoked_seq = late.seq
                       FOR UPDATE SKIP LOCKED);
        IF NOT EXISTS (SELECT 1 FROM jobdeck_jobs WHERE seq = late.seq)
           AND NOT EXISTS (SELECT 1 FROM jobdeck_cron_executions WHERE seq = late.seq)
           AND NOT EXISTS (SELECT 1 FROM jobdeck_cron_jobs WHERE seq = late.seq)
           AND NOT EXISTS (SELECT 1 FROM jobdeck_tokens WHERE revoked_seq = late.seq) THEN
            DELETE FROM jobdeck_feed_late WHERE seq = late.seq;
        END IF;
    END LOOP;
    RETURN s;
END
$$;
