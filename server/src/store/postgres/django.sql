-- Beside a Django site (django_schema = true), version 1: applied after schema.sql, on a
-- database where Django's auth and token_blacklist migrations ran. Django's tables are
-- never altered (no column, index, constraint or trigger is added to them); tollgate only
-- writes rows into them, as Django's own code would. Its own tables stay prefixed
-- tollgate_, keyed by user id or jti, with no foreign key into Django's: `manage.py flush`
-- truncates Django's tables without CASCADE, which a foreign key into them would refuse.

-- Users are auth_user rows: tollgate's own user table gives way to a view of the same
-- shape (id, username, email, record), so the backend's SQL reads and writes users the
-- same way in both modes. What store::User holds beyond auth_user's columns (attributes,
-- revocation stamps) is kept in tollgate_django_users, keyed by auth_user.id.
DROP TABLE tollgate_users;

CREATE TABLE tollgate_django_users (
    user_id bigint PRIMARY KEY,
    -- store::User's fields that auth_user has no column for, as a JSON object.
    extra jsonb NOT NULL
);

-- VOLATILE on purpose: each call reads with a fresh snapshot. A rotation reads its user
-- FOR SHARE through the view below; when it had to wait for a revocation's lock on the
-- auth_user row, PostgreSQL evaluates the row again after that commit, and this call then
-- sees the revocation stamp committed with it.
CREATE FUNCTION tollgate_django_extra(id integer) RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    SELECT COALESCE((SELECT x.extra FROM tollgate_django_users x WHERE x.user_id = $1), '{}'::jsonb)
$$;

CREATE VIEW tollgate_users AS
SELECT u.id,
       u.username::text AS username,
       u.email::text AS email,
       (jsonb_build_object(
           'id', u.id,
           'username', u.username,
           'email', u.email,
           'password', u.password,
           'first_name', u.first_name,
           'last_name', u.last_name,
           'is_active', u.is_active,
           'is_staff', u.is_staff,
           'is_superuser', u.is_superuser,
           'last_login', floor(extract(epoch FROM u.last_login))::bigint,
           'date_joined', floor(extract(epoch FROM u.date_joined))::bigint
       ) || tollgate_django_extra(u.id))::text AS record
FROM auth_user u;

-- Writes through the view: auth_user's columns from the record, the rest into
-- tollgate_django_users. An update always rewrites the auth_user row (a new row version
-- even when nothing of it changed): that is what makes a rotation waiting on it look
-- again. Timestamps are seconds in the record: Django's microseconds are kept unless the
-- value changed.
CREATE FUNCTION tollgate_django_write_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := NEW.record::jsonb;
    o jsonb;
    seq text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO auth_user (id, password, last_login, is_superuser, username, first_name,
                               last_name, email, is_staff, is_active, date_joined)
        VALUES (NEW.id, r->>'password', to_timestamp((r->>'last_login')::double precision),
                COALESCE((r->>'is_superuser')::boolean, false), NEW.username,
                COALESCE(r->>'first_name', ''), COALESCE(r->>'last_name', ''), NEW.email,
                COALESCE((r->>'is_staff')::boolean, false), (r->>'is_active')::boolean,
                to_timestamp((r->>'date_joined')::double precision));
        -- An explicit id (an import) moves Django's sequence past it, as Django's
        -- `sqlsequencereset` would: Django's next user never collides with it.
        seq := pg_get_serial_sequence('auth_user', 'id');
        IF seq IS NOT NULL AND NEW.id > COALESCE(pg_sequence_last_value(seq::regclass), 0) THEN
            PERFORM setval(seq::regclass, NEW.id);
        END IF;
    ELSE
        o := OLD.record::jsonb;
        UPDATE auth_user SET
            password = r->>'password',
            last_login = CASE WHEN r->'last_login' IS DISTINCT FROM o->'last_login'
                THEN to_timestamp((r->>'last_login')::double precision) ELSE last_login END,
            is_superuser = COALESCE((r->>'is_superuser')::boolean, false),
            username = NEW.username,
            first_name = COALESCE(r->>'first_name', ''),
            last_name = COALESCE(r->>'last_name', ''),
            email = NEW.email,
            is_staff = COALESCE((r->>'is_staff')::boolean, false),
            is_active = (r->>'is_active')::boolean,
            date_joined = CASE WHEN r->'date_joined' IS DISTINCT FROM o->'date_joined'
                THEN to_timestamp((r->>'date_joined')::double precision) ELSE date_joined END
        WHERE id = OLD.id;
    END IF;
    INSERT INTO tollgate_django_users (user_id, extra)
    VALUES (NEW.id, r - ARRAY['id', 'username', 'email', 'password', 'first_name', 'last_name',
                              'is_active', 'is_staff', 'is_superuser', 'last_login', 'date_joined'])
    ON CONFLICT (user_id) DO UPDATE SET extra = EXCLUDED.extra;
    RETURN NEW;
END
$$;

CREATE TRIGGER tollgate_users_write INSTEAD OF INSERT OR UPDATE ON tollgate_users
    FOR EACH ROW EXECUTE FUNCTION tollgate_django_write_user();

-- Every token tollgate records is also an OutstandingToken row, in the same transaction
-- (a trigger on tollgate's own table). Its `token` column holds "sha256:" and the hex
-- SHA-256 of the token, not the token: a database dump gives no usable refresh token.
-- user_id is NULL for a user auth_user does not have (Simple JWT's column is nullable);
-- a jti longer than Django's column is not mirrored (no Django site could have issued it).
-- The OutstandingToken id of `jti`, its row written first if missing.
CREATE FUNCTION tollgate_django_outstanding(token_jti text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    found bigint;
BEGIN
    INSERT INTO token_blacklist_outstandingtoken (jti, token, created_at, expires_at, user_id)
    SELECT t.jti, 'sha256:' || t.token_sha256, to_timestamp(t.created_at_ms / 1000.0),
           to_timestamp(t.expires_at), (SELECT u.id FROM auth_user u WHERE u.id = t.user_id)
    FROM tollgate_tokens t WHERE t.jti = token_jti AND length(t.jti) <= 255
    ON CONFLICT (jti) DO NOTHING;
    SELECT o.id INTO found FROM token_blacklist_outstandingtoken o WHERE o.jti = token_jti;
    RETURN found;
END
$$;

CREATE FUNCTION tollgate_django_token_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM tollgate_django_outstanding(NEW.jti);
    RETURN NULL;
END
$$;

CREATE TRIGGER tollgate_tokens_django AFTER INSERT ON tollgate_tokens
    FOR EACH ROW EXECUTE FUNCTION tollgate_django_token_added();

-- Every blacklisting is also a BlacklistedToken row, in the same transaction.
CREATE FUNCTION tollgate_django_blacklisted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO token_blacklist_blacklistedtoken (blacklisted_at, token_id)
    SELECT to_timestamp(NEW.blacklisted_at), o.id
    FROM (SELECT tollgate_django_outstanding(NEW.jti) AS id) o WHERE o.id IS NOT NULL
    ON CONFLICT (token_id) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER tollgate_blacklist_django AFTER INSERT ON tollgate_blacklist
    FOR EACH ROW EXECUTE FUNCTION tollgate_django_blacklisted();

-- tollgate's flush of expired tokens takes their Django rows along (blacklist entry
-- first: Django's foreign key from it is checked at commit). Django's
-- `manage.py flushexpiredtokens` deletes Django's rows only, which tollgate does not need.
CREATE FUNCTION tollgate_django_tokens_flushed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM token_blacklist_blacklistedtoken b
    USING token_blacklist_outstandingtoken o, gone g
    WHERE b.token_id = o.id AND o.jti = g.jti;
    DELETE FROM token_blacklist_outstandingtoken o USING gone g WHERE o.jti = g.jti;
    RETURN NULL;
END
$$;

CREATE TRIGGER tollgate_tokens_django_flushed AFTER DELETE ON tollgate_tokens
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_django_tokens_flushed();

-- The blacklist as both sides wrote it: tollgate's entries, then those Django wrote
-- (its views, its admin) for tokens tollgate did not blacklist itself, as logouts.
CREATE VIEW tollgate_django_blacklist AS
SELECT jti, blacklisted_at, reason, expires_at, successor FROM tollgate_blacklist
UNION ALL
SELECT o.jti::text, floor(extract(epoch FROM b.blacklisted_at))::bigint, 'logout',
       floor(extract(epoch FROM o.expires_at))::bigint, NULL::text
FROM token_blacklist_blacklistedtoken b
JOIN token_blacklist_outstandingtoken o ON o.id = b.token_id
WHERE NOT EXISTS (SELECT 1 FROM tollgate_blacklist t WHERE t.jti = o.jti);
