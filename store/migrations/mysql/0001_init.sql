-- Schema of one MySQL/MariaDB shard. Every shard has every table; the ring
-- decides which rows each holds. Ids are BIGINT (u64 bit-cast to i64).

CREATE TABLE IF NOT EXISTS users (
    id            BIGINT       NOT NULL PRIMARY KEY,
    name          VARCHAR(64)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at    BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- login name → user, on shard(name)
CREATE TABLE IF NOT EXISTS user_names (
    name_key VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id  BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS chats (
    id           BIGINT       NOT NULL PRIMARY KEY,
    kind         VARCHAR(16)  NOT NULL,
    title        VARCHAR(512) NOT NULL,
    created_by   BIGINT       NOT NULL,
    created_at   BIGINT       NOT NULL,
    last_seq     BIGINT       NOT NULL DEFAULT 0,
    last_pts     BIGINT       NOT NULL DEFAULT 0,
    member_count BIGINT       NOT NULL DEFAULT 0,
    last_message TEXT         NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS members (
    chat_id BIGINT      NOT NULL,
    user_id BIGINT      NOT NULL,
    role    VARCHAR(16) NOT NULL,
    PRIMARY KEY (chat_id, user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS memberships (
    user_id  BIGINT      NOT NULL,
    chat_id  BIGINT      NOT NULL,
    role     VARCHAR(16) NOT NULL,
    read_seq BIGINT      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, chat_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE IF NOT EXISTS messages (
    chat_id       BIGINT      NOT NULL,
    seq           BIGINT      NOT NULL,
    id            BIGINT      NOT NULL,
    sender_id     BIGINT      NOT NULL,
    client_msg_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    text          TEXT        NOT NULL,
    reply_to_seq  BIGINT      NULL,
    fwd_chat_id   BIGINT      NULL,
    fwd_seq       BIGINT      NULL,
    fwd_sender_id BIGINT      NULL,
    created_at    BIGINT      NOT NULL,
    edited_at     BIGINT      NULL,
    deleted       BIGINT      NOT NULL DEFAULT 0,
    pts           BIGINT      NOT NULL,
    PRIMARY KEY (chat_id, seq),
    UNIQUE KEY messages_client_msg_id (chat_id, sender_id, client_msg_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
