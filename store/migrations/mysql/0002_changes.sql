-- The chat's change stream for resume: messages are found by their latest
-- change position (pts); other changes (members, roles) are kept as events.
CREATE INDEX messages_pts ON messages (chat_id, pts);

CREATE TABLE IF NOT EXISTS chat_changes (
    chat_id BIGINT NOT NULL,
    pts     BIGINT NOT NULL,
    event   TEXT   NOT NULL,
    PRIMARY KEY (chat_id, pts)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
