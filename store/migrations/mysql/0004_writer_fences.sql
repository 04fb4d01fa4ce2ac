-- Fencing of writers (one owner per commands partition): the epoch of the
-- partition's current owner. Raised when a writer takes the partition; every
-- batch checks it (a locking read) in its own transaction.
CREATE TABLE IF NOT EXISTS writer_fences (
    topic VARCHAR(249) NOT NULL,
    part  INT          NOT NULL,
    epoch BIGINT       NOT NULL,
    PRIMARY KEY (topic, part)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
