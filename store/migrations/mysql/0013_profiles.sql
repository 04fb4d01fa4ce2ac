-- A user's profile (lives on shard(user_id), beside the account). A user
-- without a row has set nothing: the login name is shown, no about text, no
-- avatar. `avatar` is the re-encoded image (never what was uploaded); InnoDB
-- keeps it off the row's page, so reading the other columns leaves it alone.
CREATE TABLE IF NOT EXISTS user_profiles (
    user_id      BIGINT        NOT NULL PRIMARY KEY,
    display_name VARCHAR(64)   NULL,
    about        VARCHAR(2000) NOT NULL DEFAULT '',
    avatar_tag   VARCHAR(64)   NULL,
    avatar_type  VARCHAR(32)   NULL,
    updated_at   BIGINT        NOT NULL,
    avatar       MEDIUMBLOB    NULL,
    -- `sync_profiles`: who changed since a time.
    KEY user_profiles_updated (updated_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
