-- Users barred from a group (lives on shard(chat_id)): removed, and not added
-- again until an admin lifts the ban.
CREATE TABLE IF NOT EXISTS chat_bans (
    chat_id   BIGINT NOT NULL,
    user_id   BIGINT NOT NULL,
    banned_by BIGINT NOT NULL,
    banned_at BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
