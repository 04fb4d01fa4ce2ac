-- Users a user blocked (lives on shard(user_id)): the blocked user cannot
-- message them in a direct chat, start one with them, or add them to groups.
CREATE TABLE IF NOT EXISTS user_blocks (
    user_id    BIGINT NOT NULL,
    blocked_id BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, blocked_id),
    KEY user_blocks_blocked (blocked_id, user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
