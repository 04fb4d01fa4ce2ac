-- The shard ring every process must route by, as the first process to start
-- recorded it (one row, the same on every shard): a process configured with
-- another ring refuses to start (see `check_ring` in store/src/mysql.rs).
CREATE TABLE IF NOT EXISTS ring_state (
    id          INT    NOT NULL PRIMARY KEY,
    ring        TEXT   NOT NULL,
    recorded_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
