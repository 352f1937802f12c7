-- jobdeck PostgreSQL schema, version 5: the progress rate's window (docs/progress.md).
--
-- progress_window: a JSON array of [microseconds since the epoch, progress] samples,
-- oldest first, kept on every progress update and cleared when the job (re)starts.
-- NULL: no update since the start.
--
-- The functions below mirror jobdeck.domain.progress (advance_window, window_rate,
-- eta_of) step for step, so both backends give the same numbers for the same
-- updates: times are exact integers, progress travels through JSON as the shortest
-- decimal that round-trips, and the arithmetic is float8 in the same order.
-- A change to either side changes both (tests/contract/test_store_progress.py).

ALTER TABLE jobdeck_jobs ADD COLUMN progress_window jsonb;

CREATE FUNCTION jobdeck_progress_window(samples jsonb, progress float8, now timestamptz)
RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    now_us bigint := (extract(epoch FROM now) * 1000000)::bigint;
    kept jsonb := '[]'::jsonb;
    sample jsonb;
    n int;
    first int := 0;
BEGIN
    -- Samples from a later clock than now (another host's) are dropped.
    FOR sample IN SELECT value FROM jsonb_array_elements(coalesce(samples, '[]'::jsonb)) LOOP
        IF (sample->>0)::bigint <= now_us THEN
            kept := kept || jsonb_build_array(sample);
        END IF;
    END LOOP;
    n := jsonb_array_length(kept);
    -- Progress that went back starts a new series.
    IF n > 0 AND progress < (kept->(n - 1)->>1)::float8 THEN
        kept := '[]'::jsonb;
        n := 0;
    END IF;
    -- Closer than 0.5 s to the sample before the newest: replace the newest.
    IF n >= 2 AND now_us - (kept->(n - 2)->>0)::bigint < 500000 THEN
        kept := kept - (n - 1);
    END IF;
    kept := kept || jsonb_build_array(jsonb_build_array(now_us, progress));
    n := jsonb_array_length(kept);
    -- Older than 10 s: dropped, but the newest of them stays when it is the only
    -- other sample.
    WHILE first < n - 1 AND (kept->first->>0)::bigint < now_us - 10000000 LOOP
        first := first + 1;
    END LOOP;
    IF first = n - 1 AND first > 0 THEN
        first := first - 1;
    END IF;
    RETURN (SELECT jsonb_agg(e.value ORDER BY e.ord)
            FROM jsonb_array_elements(kept) WITH ORDINALITY AS e(value, ord)
            WHERE e.ord > first);
END
$$;

CREATE FUNCTION jobdeck_window_rate(samples jsonb)
RETURNS float8 LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN samples IS NULL OR jsonb_array_length(samples) < 2
             OR (samples->-1->>0)::bigint <= (samples->0->>0)::bigint THEN NULL
        ELSE ((samples->-1->>1)::float8 - (samples->0->>1)::float8)
             / (((samples->-1->>0)::bigint - (samples->0->>0)::bigint)::float8 / 1000000::float8)
    END
$$;

-- The moving average this window replaces.
DROP FUNCTION jobdeck_rate(float8, float8, timestamptz, float8, timestamptz);
