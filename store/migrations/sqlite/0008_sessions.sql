-- Login sessions (live on shard(user_id)): what a refresh token is checked
-- against. Only a hash of the token's secret is kept; `generation` counts the
-- rotations, so that a rotated token presented again is recognised.
-- `revoked_at` is 0 while the session lives.
CREATE TABLE sessions (
    user_id     INTEGER NOT NULL,
    id          INTEGER NOT NULL,
    generation  INTEGER NOT NULL,
    secret_hash TEXT    NOT NULL,
    device      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    used_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;
