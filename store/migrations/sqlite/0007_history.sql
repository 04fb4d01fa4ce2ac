-- A group's settings (lives on shard(chat_id)); no row: the defaults.
CREATE TABLE chat_settings (
    chat_id           INTEGER PRIMARY KEY,
    history_from_join INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Where members were added (the chat's last seq then; lives on
-- shard(chat_id)): with history_from_join, what they may read starts after it.
CREATE TABLE member_joins (
    chat_id    INTEGER NOT NULL,
    user_id    INTEGER NOT NULL,
    joined_seq INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
