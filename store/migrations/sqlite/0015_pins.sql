-- A chat's pinned messages: a JSON array of seqs, the latest pinned first;
-- NULL when none.
ALTER TABLE chats ADD COLUMN pins TEXT;
