-- Fencing of writers (one owner per commands partition): the epoch of the
-- partition's current owner. Raised when a writer takes the partition; every
-- batch checks it in its own transaction.
CREATE TABLE writer_fences (
    topic TEXT    NOT NULL,
    part  INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    PRIMARY KEY (topic, part)
) WITHOUT ROWID;
