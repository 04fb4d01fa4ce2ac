-- Whom a message mentions: on the message (a JSON array of user ids, NULL
-- when none), and on each mentioned member's side, for the chat list's
-- count of unread mentions.
ALTER TABLE messages ADD COLUMN mentions TEXT;
CREATE TABLE mentions (
    user_id INTEGER NOT NULL,
    chat_id INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    PRIMARY KEY (user_id, chat_id, seq)
) WITHOUT ROWID;
