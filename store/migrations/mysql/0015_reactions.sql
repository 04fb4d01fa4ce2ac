-- Reactions to messages (on shard(chat_id)): one row per user and emoji;
-- `pts` is the change that added it (its order of first use). Binary
-- collation: two emoji are the same only byte for byte.
CREATE TABLE IF NOT EXISTS reactions (
    chat_id BIGINT      NOT NULL,
    seq     BIGINT      NOT NULL,
    user_id BIGINT      NOT NULL,
    emoji   VARCHAR(64) NOT NULL,
    pts     BIGINT      NOT NULL,
    PRIMARY KEY (chat_id, seq, user_id, emoji)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
