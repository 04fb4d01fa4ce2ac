-- Whom a message mentions: on the message (a JSON array of user ids, NULL
-- when none), and on each mentioned member's side (on shard(user_id)), for
-- the chat list's count of unread mentions.
ALTER TABLE messages ADD COLUMN IF NOT EXISTS mentions TEXT NULL;
CREATE TABLE IF NOT EXISTS mentions (
    user_id BIGINT NOT NULL,
    chat_id BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    PRIMARY KEY (user_id, chat_id, seq)
) ENGINE = InnoDB;
