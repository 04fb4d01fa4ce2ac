-- A group's settings (lives on shard(chat_id)); no row: the defaults.
CREATE TABLE IF NOT EXISTS chat_settings (
    chat_id           BIGINT  NOT NULL PRIMARY KEY,
    history_from_join TINYINT NOT NULL DEFAULT 0
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Where members were added (the chat's last seq then; lives on
-- shard(chat_id)): with history_from_join, what they may read starts after it.
CREATE TABLE IF NOT EXISTS member_joins (
    chat_id    BIGINT NOT NULL,
    user_id    BIGINT NOT NULL,
    joined_seq BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
