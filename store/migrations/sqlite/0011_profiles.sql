-- A user's profile (lives on shard(user_id), beside the account). A user
-- without a row has set nothing: the login name is shown, no about text, no
-- avatar. `avatar` is the re-encoded image (never what was uploaded); it
-- comes last so that reading the other columns leaves its pages alone.
CREATE TABLE user_profiles (
    user_id      INTEGER PRIMARY KEY,
    display_name TEXT,
    about        TEXT    NOT NULL DEFAULT '',
    avatar_tag   TEXT,
    avatar_type  TEXT,
    updated_at   INTEGER NOT NULL,
    avatar       BLOB
);

-- `sync_profiles`: who changed since a time.
CREATE INDEX user_profiles_updated ON user_profiles (updated_at);
