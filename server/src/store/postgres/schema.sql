-- tollgate's own tables (prefixed tollgate_, keyed by jti and user id, no foreign keys
-- into anything else). Version 1.
CREATE TABLE tollgate_meta (
    key text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO tollgate_meta (key, value) VALUES ('clock_floor_ms', 0);

CREATE TABLE tollgate_users (
    id bigint PRIMARY KEY,
    username text NOT NULL UNIQUE,
    email text NOT NULL,
    -- The whole record (serde JSON of store::User), the columns above its indexes.
    record text NOT NULL
);
CREATE INDEX tollgate_users_email ON tollgate_users (email) WHERE email <> '';

CREATE TABLE tollgate_families (
    id text PRIMARY KEY,
    user_id bigint NOT NULL,
    created_at_ms bigint NOT NULL,
    expires_at bigint NOT NULL,
    revoked_at bigint,
    login text,
    last_refresh text
);
CREATE INDEX tollgate_families_expiry ON tollgate_families (expires_at);
CREATE INDEX tollgate_families_user ON tollgate_families (user_id);

CREATE TABLE tollgate_tokens (
    jti text PRIMARY KEY,
    user_id bigint NOT NULL,
    kind text NOT NULL,
    family text NOT NULL,
    created_at_ms bigint NOT NULL,
    expires_at bigint NOT NULL,
    token_sha256 text NOT NULL
);
CREATE INDEX tollgate_tokens_user ON tollgate_tokens (user_id);
CREATE INDEX tollgate_tokens_family ON tollgate_tokens (family);
CREATE INDEX tollgate_tokens_expiry ON tollgate_tokens (expires_at);

CREATE TABLE tollgate_blacklist (
    jti text PRIMARY KEY,
    blacklisted_at bigint NOT NULL,
    reason text NOT NULL,
    expires_at bigint NOT NULL,
    successor text
);
CREATE INDEX tollgate_blacklist_expiry ON tollgate_blacklist (expires_at);
