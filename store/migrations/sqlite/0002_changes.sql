-- The chat's change stream for resume: messages are found by their latest
-- change position (pts); other changes (members, roles) are kept as events.
CREATE INDEX messages_pts ON messages (chat_id, pts);

CREATE TABLE chat_changes (
    chat_id INTEGER NOT NULL,
    pts     INTEGER NOT NULL,
    -- the event as delivered to clients (JSON)
    event   TEXT    NOT NULL,
    PRIMARY KEY (chat_id, pts)
) WITHOUT ROWID;
