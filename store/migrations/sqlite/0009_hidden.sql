-- Members who left a direct chat (lives on shard(chat_id)): the chat is out of
-- their list (their `memberships` row is gone) until the other member writes.
CREATE TABLE chat_hidden (
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;
