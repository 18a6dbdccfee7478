-- Version 4 (issue #16): the signing-key set, shared by every replica. The private key
-- is sealed (XChaCha20-Poly1305 under the key-encryption key of the configuration, the
-- kid, algorithm and state as associated data): the database alone gives no signing key.
CREATE TABLE tollgate_signing_keys (
    kid text PRIMARY KEY CHECK (length(kid) BETWEEN 1 AND 255),
    algorithm text NOT NULL,
    state text NOT NULL CHECK (state IN ('next', 'current', 'previous', 'retired', 'revoked')),
    created_ms bigint NOT NULL,
    activated_ms bigint,
    deactivated_ms bigint,
    retired_ms bigint,
    sealed bytea NOT NULL
);
-- At most one current key, whatever writes the table.
CREATE UNIQUE INDEX tollgate_signing_keys_one_current
    ON tollgate_signing_keys ((true)) WHERE state = 'current';
