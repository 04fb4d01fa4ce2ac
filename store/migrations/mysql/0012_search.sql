-- Full-text search over messages (GET /search), on shard(chat_id) with its
-- messages: a copy of each stored, not deleted message's text under a
-- FULLTEXT index, in a case-insensitive collation (messages.text compares
-- bytes). Kept by triggers in the transaction that writes the message (and
-- by the copies and deletes of resharding): an edit replaces the text, a
-- delete removes it, at once. `ё` is stored as `е` (Russian writes either).
-- Words shorter than the server's innodb_ft_min_token_size (deploy/local
-- sets 2) and stopwords (deploy/local turns them off) are not indexed.
CREATE TABLE IF NOT EXISTS message_search (
    id      BIGINT NOT NULL PRIMARY KEY,
    chat_id BIGINT NOT NULL,
    seq     BIGINT NOT NULL,
    text    TEXT   NOT NULL,
    KEY message_search_chat (chat_id, id),
    FULLTEXT KEY message_search_text (text)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;

INSERT IGNORE INTO message_search (id, chat_id, seq, text)
SELECT id, chat_id, seq, REPLACE(REPLACE(text, 'ё', 'е'), 'Ё', 'Е')
FROM messages WHERE deleted = 0;

DROP TRIGGER IF EXISTS message_search_insert;
CREATE TRIGGER message_search_insert AFTER INSERT ON messages FOR EACH ROW
INSERT IGNORE INTO message_search (id, chat_id, seq, text)
SELECT NEW.id, NEW.chat_id, NEW.seq, REPLACE(REPLACE(NEW.text, 'ё', 'е'), 'Ё', 'Е')
FROM DUAL WHERE NEW.deleted = 0;

DROP TRIGGER IF EXISTS message_search_update;
CREATE TRIGGER message_search_update AFTER UPDATE ON messages FOR EACH ROW
BEGIN
    DELETE FROM message_search WHERE id = OLD.id;
    IF NEW.deleted = 0 THEN
        INSERT INTO message_search (id, chat_id, seq, text)
        VALUES (NEW.id, NEW.chat_id, NEW.seq, REPLACE(REPLACE(NEW.text, 'ё', 'е'), 'Ё', 'Е'));
    END IF;
END;

DROP TRIGGER IF EXISTS message_search_delete;
CREATE TRIGGER message_search_delete AFTER DELETE ON messages FOR EACH ROW
DELETE FROM message_search WHERE id = OLD.id;
