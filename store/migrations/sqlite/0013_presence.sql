-- Who may see a user's presence (online, last seen): `everyone`,
-- `contacts` or `nobody`; NULL is the default (everyone). Set alone, it
-- makes a profile row with `updated_at` 0: no profile change to sync.
ALTER TABLE user_profiles ADD COLUMN presence TEXT;
