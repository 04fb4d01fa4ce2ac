//! What differs between the SQL databases the store runs on, and nothing else:
//! how an insert keeps a stored row, how an upsert replaces a column, how a
//! statement joins a table of bound rows, how the writer finds messages by
//! idempotency key, and where login names are kept unique. Everything else is
//! one statement builder and executor ([`crate::sql`]).
//!
//! Implemented for sqlx's database types (`Sqlite` in `sqlite.rs`, `MySql` in
//! `mysql.rs`): a third backend is one more implementation and its migrations.

use sqlx::Database;

/// The SQL a database speaks where it is not the SQL every one speaks.
pub trait Dialect: Database {
    /// A single-row `INSERT` that keeps a row already stored under the same key:
    /// the words before the table, and the clause after the values.
    const INSERT_NEW: [&'static str; 2];
    /// The same for a multi-row insert of a writer batch.
    const INSERT_NEW_ROWS: [&'static str; 2];
    /// How rows of bound values are written as a table to join with.
    const ROWS: RowsTable;
    /// Moves read cursors forward from a table of `(user, chat, seq)` rows, one
    /// per key (see [`crate::runs`]).
    const ADVANCE_CURSORS: UpdateFrom;
    /// Stores chat counters from a table of `(chat, last_seq, last_pts,
    /// member_count, last_message)` rows, one per chat, each only where its
    /// `last_pts` is newer than the stored one.
    const UPDATE_COUNTERS: UpdateFrom;
    /// Idempotency keys per lookup statement (three parameters each).
    const CLIENT_KEYS_CHUNK: usize;
    /// Whether a login name is kept unique by a `name_key` column of `users`
    /// (one database) rather than by the `user_names` table (shards: a name
    /// and its user may live on two).
    const NAMES_IN_USERS: bool;
    /// Gives `(topic, part)` a new epoch in `writer_fences`: one more than the
    /// stored one, 1 if none (parameters: topic, part).
    const FENCE_BUMP: &'static str;
    /// Raises `(topic, part)`'s epoch to a given one, keeping a higher one
    /// (parameters: topic, part, epoch).
    const FENCE_RAISE: &'static str;
    /// What follows a `SELECT` in a writer's transaction to lock the rows it
    /// read until the commit: a fence taken meanwhile waits for the batch.
    const LOCKING_READ: &'static str;
    /// Reads `ring_state`'s version (column `version`) under a shared lock
    /// held until the commit (see `check_version`; MySQL shards only).
    const RING_VERSION_READ: &'static str;

    /// The clause after an `INSERT`'s values that replaces `column` of the row
    /// stored under the key `key` (the key's columns, comma-separated).
    fn upsert(key: &str, column: &str) -> String;

    /// The clause after an `INSERT`'s values that updates the row stored
    /// under the key `key` instead; the assignments follow it.
    fn on_conflict_update(key: &str) -> String;

    /// Messages by idempotency key: the text before and after the keys, a list
    /// of `(chat_id, sender_id, client_msg_id)` rows; `columns` are selected.
    fn client_keys_lookup(columns: &str) -> [String; 2];

    /// A search's match condition on `message_search` (one parameter, the
    /// query as [`Dialect::search_query`] writes it) and its id column.
    const SEARCH: [&'static str; 2];

    /// A parsed search in the engine's own syntax, among `chats` (the
    /// statement also filters by them: the engine may narrow by them first).
    fn search_query(q: &chat_core::search::Query, chats: &[chat_core::ChatId]) -> String;

    /// Rows an `INSERT` or `UPDATE` changed.
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

/// How a table of bound rows is written: `open`, then each row as `row[0]`
/// (the first) or `row[1]` (the others), its values, `row_end`; then `close`,
/// which names the table `v`.
pub struct RowsTable {
    /// Before the first row.
    pub open: &'static str,
    /// Before the first row's values, and before every other row's.
    pub row: [&'static str; 2],
    /// After each row's values.
    pub row_end: &'static str,
    /// After the last row.
    pub close: &'static str,
}

/// An `UPDATE` from a table of bound rows (see [`RowsTable`]): `head`, the
/// table, `tail`.
pub struct UpdateFrom {
    /// Before the table.
    pub head: &'static str,
    /// The table's column names, given as aliases in its first row; empty where
    /// the dialect names them itself (SQLite: `column1`, `column2`, …).
    pub columns: &'static [&'static str],
    /// After the table.
    pub tail: &'static str,
}
