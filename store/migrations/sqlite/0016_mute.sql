-- Until when (Unix ms) a user muted a chat; NULL when not muted.
ALTER TABLE memberships ADD COLUMN muted_until INTEGER;
