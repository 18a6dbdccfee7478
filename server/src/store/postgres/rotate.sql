-- Version 2: a rotation in one round trip, and the reuse interval on the database's clock.
--
-- Each function is one statement for the client: sent alone (autocommit), it is its own
-- transaction, committed (synchronous_commit = on) before the client reads its answer.
-- Inside, every statement takes a fresh snapshot (READ COMMITTED), and the lock order is
-- the one of tokens.rs: the token being rotated FOR UPDATE, its user FOR SHARE, its
-- family FOR UPDATE (a token never seen has no row to lock first: its user, then the
-- token as it is adopted, then its family).

-- The database's clock in Unix ms: the one clock every replica shares. Tests that travel
-- in time shift it with tollgate_meta's 'clock_offset_ms' (no such row: no shift).
CREATE FUNCTION tollgate_clock_ms() RETURNS bigint LANGUAGE sql VOLATILE AS $$
    SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint
        + COALESCE((SELECT value FROM tollgate_meta WHERE key = 'clock_offset_ms'), 0)
$$;

-- When the row was written, on the database's clock: the reuse interval counts from it,
-- so every replica measures it alike. Rows written before version 2 have none (and no
-- successor of theirs is handed out again: a replay, the safe side).
ALTER TABLE tollgate_tokens ADD COLUMN db_created_ms bigint;
ALTER TABLE tollgate_tokens ALTER COLUMN db_created_ms SET DEFAULT tollgate_clock_ms();

-- Records a token with its family (created with `seen` as its login, or extended: later
-- expiry, `seen` as its last refresh); a known token is left as it is. Whether it was new.
CREATE FUNCTION tollgate_record_token(
    t_jti text, t_user bigint, t_kind text, t_family text, t_created bigint,
    t_expires bigint, t_sha text, t_seen text
) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tollgate_tokens (jti, user_id, kind, family, created_at_ms, expires_at, token_sha256)
    VALUES (t_jti, t_user, t_kind, t_family, t_created, t_expires, t_sha)
    ON CONFLICT (jti) DO NOTHING;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO tollgate_families (id, user_id, created_at_ms, expires_at, login)
    VALUES (t_family, t_user, t_created, t_expires, t_seen)
    ON CONFLICT (id) DO UPDATE SET
        expires_at = GREATEST(tollgate_families.expires_at, EXCLUDED.expires_at),
        last_refresh = COALESCE(EXCLUDED.login, tollgate_families.last_refresh);
    RETURN true;
END $$;

-- Rotates `o_*` into `n_*` (store::Store::rotate); `django`: beside a Django site.
-- `outcome`: 'done', 'no_active_user', 'user_revoked', 'family_revoked' or
-- 'blacklisted:<reason>'; `added`: tokens recorded (an adopted old one, the new one);
-- `blacklisted`: entries added. The whole refresh is this one statement: the caller
-- reads nothing before it.
CREATE FUNCTION tollgate_rotate(
    o_jti text, o_user bigint, o_kind text, o_family text, o_created bigint,
    o_expires bigint, o_sha text,
    n_jti text, n_kind text, n_created bigint, n_expires bigint, n_sha text,
    blacklist_old boolean, require_active boolean, now_s bigint, seen text, django boolean,
    OUT outcome text, OUT added integer, OUT blacklisted integer
) LANGUAGE plpgsql AS $$
DECLARE
    known tollgate_tokens%ROWTYPE;
    stored boolean;
    reason text;
    owner jsonb;
    active boolean;
    revoked bigint;
BEGIN
    added := 0;
    blacklisted := 0;
    -- Concurrent rotations of one token queue here, on its row; the first to commit
    -- wins and the others then see its blacklist entry.
    SELECT * INTO known FROM tollgate_tokens WHERE jti = o_jti FOR UPDATE;
    stored := FOUND;
    IF NOT stored THEN
        -- Never seen (a Simple JWT site's token): adopted below unless refused first.
        known.jti := o_jti;
        known.user_id := o_user;
        known.family := o_family;
        known.created_at_ms := o_created;
        known.expires_at := o_expires;
    ELSIF django THEN
        -- Beside Django (django.sql): Django's OutstandingToken row locked too, so a
        -- blacklisting by Django in progress is waited for, then seen with its own.
        PERFORM 1 FROM token_blacklist_outstandingtoken WHERE jti = known.jti FOR UPDATE;
    END IF;
    -- FOR SHARE: a revocation stamping the user is waited for, then seen.
    SELECT u.record::jsonb INTO owner FROM tollgate_users u WHERE u.id = known.user_id FOR SHARE;
    active := owner IS NOT NULL
        AND (NOT require_active OR COALESCE((owner ->> 'is_active')::boolean, false));
    IF django THEN
        SELECT b.reason INTO reason FROM tollgate_django_blacklist b WHERE b.jti = known.jti LIMIT 1;
    ELSE
        SELECT b.reason INTO reason FROM tollgate_blacklist b WHERE b.jti = known.jti;
    END IF;
    IF FOUND THEN
        -- A rotated-out token's answer (the reuse interval) is its user's too.
        IF reason = 'rotated' AND NOT active THEN
            outcome := 'no_active_user';
        ELSE
            outcome := 'blacklisted:' || reason;
        END IF;
        RETURN;
    END IF;
    IF NOT active THEN
        outcome := 'no_active_user';
        RETURN;
    END IF;
    IF known.created_at_ms < COALESCE((owner ->> 'refresh_revoked_before_ms')::bigint, 0) THEN
        outcome := 'user_revoked';
        RETURN;
    END IF;
    IF NOT stored THEN
        -- Adopted now (user first, then the token: no lock of the token to hold before).
        -- A concurrent rotation adopting it too waits here for that one's commit, then
        -- finds it rotated.
        IF tollgate_record_token(o_jti, o_user, o_kind, o_family, o_created, o_expires, o_sha, NULL) THEN
            added := 1;
        END IF;
        SELECT * INTO STRICT known FROM tollgate_tokens WHERE jti = o_jti FOR UPDATE;
        IF django THEN
            PERFORM 1 FROM token_blacklist_outstandingtoken WHERE jti = known.jti FOR UPDATE;
            SELECT b.reason INTO reason FROM tollgate_django_blacklist b WHERE b.jti = known.jti LIMIT 1;
        ELSE
            SELECT b.reason INTO reason FROM tollgate_blacklist b WHERE b.jti = known.jti;
        END IF;
        IF FOUND THEN
            outcome := 'blacklisted:' || reason;
            RETURN;
        END IF;
    END IF;
    SELECT f.revoked_at INTO revoked FROM tollgate_families f WHERE f.id = known.family FOR UPDATE;
    IF revoked IS NOT NULL THEN
        outcome := 'family_revoked';
        RETURN;
    END IF;
    IF blacklist_old THEN
        INSERT INTO tollgate_blacklist (jti, blacklisted_at, reason, expires_at, successor)
        VALUES (known.jti, now_s, 'rotated', known.expires_at, n_jti);
        blacklisted := 1;
    END IF;
    IF tollgate_record_token(n_jti, known.user_id, n_kind, known.family, n_created, n_expires, n_sha, seen) THEN
        added := added + 1;
    END IF;
    outcome := 'done';
END $$;
