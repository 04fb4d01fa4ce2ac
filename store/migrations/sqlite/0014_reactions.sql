-- Reactions to messages (with the chat's other rows): one row per user and
-- emoji; `pts` is the change that added it (its order of first use).
CREATE TABLE reactions (
    chat_id INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    emoji   TEXT    NOT NULL,
    pts     INTEGER NOT NULL,
    PRIMARY KEY (chat_id, seq, user_id, emoji)
) WITHOUT ROWID;
