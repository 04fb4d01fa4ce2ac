-- Members who left a direct chat (lives on shard(chat_id)): the chat is out of
-- their list (their `memberships` row is gone) until the other member writes.
CREATE TABLE IF NOT EXISTS chat_hidden (
    chat_id BIGINT NOT NULL,
    user_id BIGINT NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
