-- Schema of one shard. Ids are 64-bit and stored as INTEGER (bit-cast to i64).

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL,
    -- lower-cased name: login names are unique regardless of case
    name_key      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE chats (
    id           INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL,
    title        TEXT    NOT NULL,
    created_by   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    -- newest message seq: unread = last_seq - read_seq
    last_seq     INTEGER NOT NULL DEFAULT 0,
    -- newest position in the chat's change stream; guards counter updates
    last_pts     INTEGER NOT NULL DEFAULT 0,
    member_count INTEGER NOT NULL DEFAULT 0,
    -- JSON of the newest message preview (LastMessage), NULL when none
    last_message TEXT
);

-- chat side of a membership (lives on shard(chat_id))
CREATE TABLE members (
    chat_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    role    TEXT    NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) WITHOUT ROWID;

-- user side of a membership, with the read cursor (lives on shard(user_id))
CREATE TABLE memberships (
    user_id  INTEGER NOT NULL,
    chat_id  INTEGER NOT NULL,
    role     TEXT    NOT NULL,
    read_seq INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, chat_id)
) WITHOUT ROWID;

CREATE TABLE messages (
    chat_id        INTEGER NOT NULL,
    seq            INTEGER NOT NULL,
    id             INTEGER NOT NULL,
    sender_id      INTEGER NOT NULL,
    client_msg_id  TEXT    NOT NULL,
    text           TEXT    NOT NULL,
    reply_to_seq   INTEGER,
    fwd_chat_id    INTEGER,
    fwd_seq        INTEGER,
    fwd_sender_id  INTEGER,
    created_at     INTEGER NOT NULL,
    edited_at      INTEGER,
    deleted        INTEGER NOT NULL DEFAULT 0,
    pts            INTEGER NOT NULL,
    -- (chat_id, seq) unique: fences a stale writer
    PRIMARY KEY (chat_id, seq)
) WITHOUT ROWID;

-- exactly once: a retried send finds the original
CREATE UNIQUE INDEX messages_client_msg_id ON messages (chat_id, sender_id, client_msg_id);
