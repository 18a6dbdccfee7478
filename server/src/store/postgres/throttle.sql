-- Version 3: login throttles shared by every replica (users/throttle.rs has the rules:
-- Django REST framework's SimpleRateThrottle, a sliding log of allowed requests per key).
--
-- UNLOGGED: throttle state is not worth a WAL write per login; after a crash of
-- PostgreSQL these tables come back empty, which forgets recent attempts (as a restart of
-- a sled-backed server does) and nothing else.
CREATE UNLOGGED TABLE tollgate_throttle_keys (
    -- The first 16 bytes of SHA-256("<scope>\0<key>"): usernames and addresses are
    -- neither stored nor bounded by what a client sends.
    key bytea PRIMARY KEY,
    -- Entries of the key in tollgate_throttle_log.
    entries bigint NOT NULL,
    -- The newest entry plus the period: the whole log has expired by then (the flush of
    -- expired tokens deletes such keys).
    expires_ms bigint NOT NULL
);
CREATE INDEX tollgate_throttle_keys_expiry ON tollgate_throttle_keys (expires_ms);

-- A key's allowed requests in arrival order (`seq`), which is DRF's list order: with
-- clocks that disagree (replicas) or step back, the oldest entry is the first to arrive.
CREATE UNLOGGED TABLE tollgate_throttle_log (
    key bytea NOT NULL,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    at_ms bigint NOT NULL
);
CREATE INDEX tollgate_throttle_log_key ON tollgate_throttle_log (key, seq);

-- One request for `t_key` at `now_ms`: recorded and 0 if the rate (`max_count` per
-- `period_ms`) allows it, else not recorded and the wait in whole seconds (at least 1),
-- as throttle.rs's `Throttle::check`. Concurrent calls for one key queue on its row.
CREATE FUNCTION tollgate_throttle(
    t_key bytea, now_ms bigint, max_count bigint, period_ms bigint
) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    removed bigint;
    first_live bigint;
    oldest bigint;
    remaining numeric;
    available numeric;
BEGIN
    INSERT INTO tollgate_throttle_keys (key, entries, expires_ms) VALUES (t_key, 0, 0)
    ON CONFLICT (key) DO NOTHING;
    SELECT entries INTO STRICT n FROM tollgate_throttle_keys WHERE key = t_key FOR UPDATE;
    -- DRF drops entries from the oldest end while the oldest has expired.
    SELECT min(seq) INTO first_live FROM tollgate_throttle_log
    WHERE key = t_key AND at_ms > now_ms - period_ms;
    DELETE FROM tollgate_throttle_log
    WHERE key = t_key AND (first_live IS NULL OR seq < first_live);
    GET DIAGNOSTICS removed = ROW_COUNT;
    n := n - removed;
    IF n >= max_count THEN
        UPDATE tollgate_throttle_keys SET entries = n WHERE key = t_key;
        SELECT at_ms INTO oldest FROM tollgate_throttle_log WHERE key = t_key
        ORDER BY seq LIMIT 1;
        remaining := period_ms - (now_ms - oldest);
        available := GREATEST(max_count - n + 1, 1);
        RETURN GREATEST(ceil(remaining / (available * 1000)), 1);
    END IF;
    INSERT INTO tollgate_throttle_log (key, at_ms) VALUES (t_key, now_ms);
    UPDATE tollgate_throttle_keys
    SET entries = n + 1, expires_ms = GREATEST(expires_ms, now_ms + period_ms)
    WHERE key = t_key;
    RETURN 0;
END $$;
