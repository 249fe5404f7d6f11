-- Credentials (sealed by the engine's vault; never plaintext), redeemed OAuth states, and what setup
-- discovered at the ERP (for validating a user's environment/company choice).
CREATE TABLE connection_secrets (
    connection_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    -- 'oauth' (access + refresh token) or 'basic' (user name + web service access key).
    kind          TEXT NOT NULL,
    -- XChaCha20-Poly1305 ciphertext bound to connection_id.
    sealed        BLOB NOT NULL,
    -- Bumped on every write; refreshes compare-and-swap on it.
    version       BIGINT NOT NULL,
    -- When the access token expires (not secret), to refresh ahead of time.
    expires_at    TEXT,
    updated_at    TEXT NOT NULL
);

CREATE TABLE oauth_states_used (
    nonce         TEXT PRIMARY KEY,
    connection_id TEXT NOT NULL,
    used_at       TEXT NOT NULL
);

ALTER TABLE connections ADD COLUMN discovery TEXT;
CREATE INDEX connections_by_health_check ON connections (health_checked_at);
