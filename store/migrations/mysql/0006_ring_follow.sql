-- Resharding: the ring state's version as a column (every write checks it
-- under a shared lock, see `check_version` in store/src/sql/exec.rs), the
-- processes following it (a migrator waits for them before deleting old
-- copies), and the migrator's lease (one migrator at a time).
ALTER TABLE ring_state ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
UPDATE ring_state SET version = CAST(JSON_VALUE(ring, '$.version') AS SIGNED);

CREATE TABLE IF NOT EXISTS ring_followers (
    process VARCHAR(255) NOT NULL PRIMARY KEY,
    version BIGINT       NOT NULL,
    seen_at BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS ring_lease (
    id         INT          NOT NULL PRIMARY KEY,
    holder     VARCHAR(255) NOT NULL,
    expires_at BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
