-- Until when (Unix ms) a user muted a chat; NULL when not muted.
ALTER TABLE memberships ADD COLUMN IF NOT EXISTS muted_until BIGINT NULL;
