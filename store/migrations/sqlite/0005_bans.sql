-- Users barred from a group (lives on shard(chat_id)): removed, and not added
-- again until an admin lifts the ban.
CREATE TABLE chat_bans (
    chat_id   INTEGER NOT NULL,
    user_id   INTEGER NOT NULL,
    banned_by INTEGER NOT NULL,
    banned_at INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
