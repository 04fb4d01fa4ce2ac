-- Full-text search over messages (GET /search): an FTS5 index of each stored,
-- not deleted message's text, its rowid the message id (ids grow with time,
-- so rowid order is newest first). Kept by triggers in the transaction that
-- writes the message: an edit replaces the indexed text, a delete removes
-- it, at once. `ё` is indexed as `е` (Russian writes either); the tokenizer
-- folds case and Latin diacritics.
CREATE VIRTUAL TABLE message_search USING fts5(
    text,
    chat_id UNINDEXED,
    seq UNINDEXED,
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

INSERT INTO message_search (rowid, text, chat_id, seq)
SELECT id, replace(replace(text, 'ё', 'е'), 'Ё', 'Е'), chat_id, seq
FROM messages WHERE deleted = 0;

-- Ids are unique by construction; should two messages ever share one, the
-- newer takes the index entry rather than failing its write (a writer's
-- batch statement says OR FAIL, which a trigger's own OR clause cannot
-- override, hence the delete first).
CREATE TRIGGER message_search_insert AFTER INSERT ON messages
WHEN NEW.deleted = 0
BEGIN
    DELETE FROM message_search WHERE rowid = NEW.id;
    INSERT INTO message_search (rowid, text, chat_id, seq)
    VALUES (NEW.id, replace(replace(NEW.text, 'ё', 'е'), 'Ё', 'Е'), NEW.chat_id, NEW.seq);
END;

CREATE TRIGGER message_search_update AFTER UPDATE OF text, deleted ON messages
BEGIN
    DELETE FROM message_search WHERE rowid = OLD.id;
    INSERT INTO message_search (rowid, text, chat_id, seq)
    SELECT NEW.id, replace(replace(NEW.text, 'ё', 'е'), 'Ё', 'Е'), NEW.chat_id, NEW.seq
    WHERE NEW.deleted = 0;
END;

CREATE TRIGGER message_search_delete AFTER DELETE ON messages
BEGIN
    DELETE FROM message_search WHERE rowid = OLD.id;
END;
