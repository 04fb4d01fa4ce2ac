-- Whom a recorded membership change is about, so that the writer finds the
-- latest change about a member (a command found already applied produces its
-- event again). Rows written before this column have NULL.
ALTER TABLE chat_changes ADD COLUMN user_id INTEGER;
CREATE INDEX chat_changes_user ON chat_changes (chat_id, user_id, pts);
