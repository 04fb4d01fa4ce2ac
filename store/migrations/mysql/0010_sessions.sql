-- Login sessions (live on shard(user_id)): what a refresh token is checked
-- against. Only a hash of the token's secret is kept; `generation` counts the
-- rotations, so that a rotated token presented again is recognised.
-- `revoked_at` is 0 while the session lives.
CREATE TABLE IF NOT EXISTS sessions (
    user_id     BIGINT       NOT NULL,
    id          BIGINT       NOT NULL,
    generation  BIGINT       NOT NULL,
    secret_hash VARCHAR(64)  NOT NULL,
    device      VARCHAR(128) NOT NULL,
    created_at  BIGINT       NOT NULL,
    used_at     BIGINT       NOT NULL,
    expires_at  BIGINT       NOT NULL,
    revoked_at  BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
