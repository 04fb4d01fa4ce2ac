-- Users a user blocked (lives on shard(user_id)): the blocked user cannot
-- message them in a direct chat, start one with them, or add them to groups.
CREATE TABLE user_blocks (
    user_id    INTEGER NOT NULL,
    blocked_id INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;
CREATE INDEX user_blocks_blocked ON user_blocks (blocked_id, user_id);
