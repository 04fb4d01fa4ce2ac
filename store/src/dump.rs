//! A deployment's data as JSON Lines, for `chat export` and `chat import`:
//! the same file from a standalone SQLite database or from the MySQL shards,
//! and into either.
//!
//! The first line is a header (`{"format":"chat-export","version":1,…}`),
//! then one line per row, `{"table":"messages","chat_id":…,…}` (every
//! column by name; ids as the signed 64-bit integers the databases hold),
//! and last `{"end":{"rows":N}}`, so that a cut file is refused. Tables come
//! users first, then each chat's tables; rows in key order, read a page at a
//! time (memory stays flat whatever the size) — from the shards, one shard
//! after the other within each table. What is specific to one
//! deployment stays out: writer fences, the ring's records, and MySQL's
//! `user_names` (derived from `users`). An import writes a new SQLite file,
//! which becomes the standalone database or is copied into the shards the
//! way `chat shards import` copies one.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use sqlx::{Executor, IntoArguments};

use chat_core::StoreError;

use crate::dialect::Dialect;
use crate::rows::Columns;
use crate::sql::{Bind, SqlStore, unavailable};

/// The header's `format`.
pub const FORMAT: &str = "chat-export";
/// The header's `version`.
pub const VERSION: u64 = 1;
/// Rows per page read, and per transaction written.
const PAGE: i64 = 1000;
/// Rows per import transaction.
pub const IMPORT_BATCH: usize = PAGE as usize;

/// A column's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Int,
    NullInt,
    Text,
    NullText,
    /// Bytes, as base64 (standard alphabet, padded) or `null`.
    NullBlob,
}

use Kind::*;

/// Which key places a table's rows (the ring's owner of that chat or user).
#[derive(Clone, Copy, Debug)]
pub enum Owner {
    /// The chat in this column.
    Chat(&'static str),
    /// The user in this column.
    User(&'static str),
}

/// A table as exported: its columns (the key first) and its owner column.
#[derive(Debug)]
pub struct Table {
    /// Its name, in both schemas.
    pub name: &'static str,
    cols: &'static [(&'static str, Kind)],
    /// How many of the first columns are the primary key.
    key: usize,
    /// What places its rows.
    pub owner: Owner,
}

/// Every table exported, in order.
pub static TABLES: &[Table] = &[
    Table {
        name: "users",
        cols: &[
            ("id", Int),
            ("name", Text),
            ("password_hash", Text),
            ("created_at", Int),
        ],
        key: 1,
        owner: Owner::User("id"),
    },
    Table {
        name: "user_profiles",
        cols: &[
            ("user_id", Int),
            ("display_name", NullText),
            ("about", Text),
            ("avatar_tag", NullText),
            ("avatar_type", NullText),
            ("updated_at", Int),
            ("avatar", NullBlob),
            ("presence", NullText),
        ],
        key: 1,
        owner: Owner::User("user_id"),
    },
    Table {
        name: "user_blocks",
        cols: &[("user_id", Int), ("blocked_id", Int), ("created_at", Int)],
        key: 2,
        owner: Owner::User("user_id"),
    },
    Table {
        name: "sessions",
        cols: &[
            ("user_id", Int),
            ("id", Int),
            ("generation", Int),
            ("secret_hash", Text),
            ("device", Text),
            ("created_at", Int),
            ("used_at", Int),
            ("expires_at", Int),
            ("revoked_at", Int),
        ],
        key: 2,
        owner: Owner::User("user_id"),
    },
    Table {
        name: "memberships",
        cols: &[
            ("user_id", Int),
            ("chat_id", Int),
            ("role", Text),
            ("read_seq", Int),
            ("muted_until", NullInt),
        ],
        key: 2,
        owner: Owner::User("user_id"),
    },
    Table {
        name: "chats",
        cols: &[
            ("id", Int),
            ("kind", Text),
            ("title", Text),
            ("created_by", Int),
            ("created_at", Int),
            ("last_seq", Int),
            ("last_pts", Int),
            ("member_count", Int),
            ("last_message", NullText),
            ("pins", NullText),
        ],
        key: 1,
        owner: Owner::Chat("id"),
    },
    Table {
        name: "chat_settings",
        cols: &[("chat_id", Int), ("history_from_join", Int)],
        key: 1,
        owner: Owner::Chat("chat_id"),
    },
    Table {
        name: "members",
        cols: &[("chat_id", Int), ("user_id", Int), ("role", Text)],
        key: 2,
        owner: Owner::Chat("chat_id"),
    },
    Table {
        name: "member_joins",
        cols: &[("chat_id", Int), ("user_id", Int), ("joined_seq", Int)],
        key: 2,
        owner: Owner::Chat("chat_id"),
    },
    Table {
        name: "chat_bans",
        cols: &[
            ("chat_id", Int),
            ("user_id", Int),
            ("banned_by", Int),
            ("banned_at", Int),
        ],
        key: 2,
        owner: Owner::Chat("chat_id"),
    },
    Table {
        name: "chat_hidden",
        cols: &[("chat_id", Int), ("user_id", Int)],
        key: 2,
        owner: Owner::Chat("chat_id"),
    },
    Table {
        name: "chat_changes",
        cols: &[
            ("chat_id", Int),
            ("pts", Int),
            ("event", Text),
            ("user_id", NullInt),
        ],
        key: 2,
        owner: Owner::Chat("chat_id"),
    },
    Table {
        name: "messages",
        cols: &[
            ("chat_id", Int),
            ("seq", Int),
            ("id", Int),
            ("sender_id", Int),
            ("client_msg_id", Text),
            ("text", Text),
            ("reply_to_seq", NullInt),
            ("fwd_chat_id", NullInt),
            ("fwd_seq", NullInt),
            ("fwd_sender_id", NullInt),
            ("created_at", Int),
            ("edited_at", NullInt),
            ("deleted", Int),
            ("pts", Int),
            ("mentions", NullText),
        ],
        key: 2,
        owner: Owner::Chat("chat_id"),
    },
    Table {
        name: "mentions",
        cols: &[("user_id", Int), ("chat_id", Int), ("seq", Int)],
        key: 3,
        owner: Owner::User("user_id"),
    },
    Table {
        name: "reactions",
        cols: &[
            ("chat_id", Int),
            ("seq", Int),
            ("user_id", Int),
            ("emoji", Text),
            ("pts", Int),
        ],
        key: 4,
        owner: Owner::Chat("chat_id"),
    },
];

/// The table named `name`.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

impl Table {
    /// The owner column's value in `row`.
    pub fn owner_of(&self, row: &Map<String, Value>) -> i64 {
        let col = match self.owner {
            Owner::Chat(c) | Owner::User(c) => c,
        };
        row.get(col).and_then(Value::as_i64).unwrap_or(0)
    }

    /// Checks a row read from a file: exactly this table's columns, each of
    /// its type (`what` names the line in errors).
    pub fn check(&self, row: &Map<String, Value>, what: &str) -> Result<(), String> {
        for (name, kind) in self.cols {
            // A nullable column a file lacks (one written before the column
            // was added) is imported as null.
            let v = match row.get(*name) {
                Some(v) => v,
                None if matches!(kind, NullInt | NullText | NullBlob) => &Value::Null,
                None => return Err(format!("{what}: {}.{name} is missing", self.name)),
            };
            let ok = match kind {
                Int => v.is_i64(),
                NullInt => v.is_i64() || v.is_null(),
                Text => v.is_string(),
                NullText => v.is_string() || v.is_null(),
                NullBlob => v.is_null() || v.as_str().is_some_and(|s| BASE64.decode(s).is_ok()),
            };
            if !ok {
                return Err(format!("{what}: {}.{name} is not {kind:?}: {v}", self.name));
            }
        }
        if let Some(extra) = row
            .keys()
            .find(|k| *k != "table" && !self.cols.iter().any(|(c, _)| c == k))
        {
            return Err(format!("{what}: {} has no column {extra:?}", self.name));
        }
        Ok(())
    }

    fn columns(&self) -> String {
        self.cols
            .iter()
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl<D: Dialect> SqlStore<D>
where
    for<'c> &'c mut D::Connection: Executor<'c, Database = D>,
    D::Arguments: IntoArguments<D>,
    D::Row: Columns,
    i64: Bind<D>,
    Option<i64>: Bind<D>,
    String: Bind<D>,
    Option<String>: Bind<D>,
    Option<Vec<u8>>: Bind<D>,
{
    /// Every row of `t` whose owner `keep` accepts, a page at a time, in key
    /// order, each given to `out` as a line's object (with `table`); the
    /// rows given.
    pub async fn export_table(
        &self,
        t: &Table,
        keep: &(dyn Fn(i64) -> bool + Sync),
        out: &mut (dyn FnMut(Map<String, Value>) -> Result<(), StoreError> + Send),
    ) -> Result<u64, StoreError> {
        // Pages follow the key's leading integer columns; a key that goes on
        // with text (a reaction's emoji) has few rows per integer prefix, and
        // a page never ends inside one (the prefix is read again whole).
        let all: Vec<&str> = t.cols[..t.key].iter().map(|(c, _)| *c).collect();
        let keys: Vec<&str> = t.cols[..t.key]
            .iter()
            .take_while(|(_, k)| matches!(k, Int))
            .map(|(c, _)| *c)
            .collect();
        let whole_key = keys.len() == all.len();
        let order = all.join(", ");
        let after = (0..keys.len())
            .map(|i| {
                let mut terms: Vec<String> = keys[..i].iter().map(|k| format!("{k} = ?")).collect();
                terms.push(format!("{} > ?", keys[i]));
                format!("({})", terms.join(" AND "))
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        let mut last: Option<Vec<i64>> = None;
        let mut given = 0;
        loop {
            let sql = match last {
                None => format!(
                    "SELECT {} FROM {} ORDER BY {order} LIMIT {PAGE}",
                    t.columns(),
                    t.name
                ),
                Some(_) => format!(
                    "SELECT {} FROM {} WHERE {after} ORDER BY {order} LIMIT {PAGE}",
                    t.columns(),
                    t.name
                ),
            };
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            if let Some(l) = &last {
                for i in 0..l.len() {
                    for v in &l[..=i] {
                        q = q.bind(*v);
                    }
                }
            }
            let rows = q
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable("export"))?;
            let n = rows.len();
            let prefix = |r: &D::Row| -> Result<Vec<i64>, StoreError> {
                keys.iter().map(|k| r.int(k)).collect()
            };
            // A full page without the whole key stops before its last prefix.
            let mut upto = n;
            if !whole_key && n == PAGE as usize {
                let tail = prefix(&rows[n - 1])?;
                while upto > 0 && prefix(&rows[upto - 1])? == tail {
                    upto -= 1;
                }
                if upto == 0 {
                    return Err(StoreError::Corrupt(format!(
                        "{}: more than {PAGE} rows share a key prefix",
                        t.name
                    )));
                }
            }
            for r in &rows[..upto] {
                let mut obj = Map::new();
                obj.insert("table".into(), t.name.into());
                for (c, kind) in t.cols {
                    let v = match kind {
                        Int => Value::from(r.int(c)?),
                        NullInt => r.opt_int(c)?.map_or(Value::Null, Value::from),
                        Text => Value::from(r.text(c)?),
                        NullText => r.opt_text(c)?.map_or(Value::Null, Value::from),
                        NullBlob => r
                            .opt_blob(c)?
                            .map_or(Value::Null, |b| Value::from(BASE64.encode(b))),
                    };
                    obj.insert((*c).to_string(), v);
                }
                last = Some(prefix(r)?);
                if keep(t.owner_of(&obj)) {
                    out(obj)?;
                    given += 1;
                }
            }
            if n < PAGE as usize {
                return Ok(given);
            }
        }
    }
}

impl SqlStore<sqlx::Sqlite> {
    /// Whether the database holds no user and no chat.
    pub async fn is_empty(&self) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM chats)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable("import"))?;
        Ok(n == 0)
    }

    /// Writes checked rows (see [`Table::check`]) in one transaction; a
    /// user's `name_key` is derived from its name.
    pub async fn import_rows(
        &self,
        rows: &[(&'static Table, Map<String, Value>)],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable("import"))?;
        for (t, row) in rows {
            let mut cols = t.columns();
            let mut marks = vec!["?"; t.cols.len()];
            if t.name == "users" {
                cols.push_str(", name_key");
                marks.push("?");
            }
            let sql = format!(
                "INSERT INTO {} ({cols}) VALUES ({})",
                t.name,
                marks.join(", ")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (c, kind) in t.cols {
                let v = row.get(*c).unwrap_or(&Value::Null);
                q = match kind {
                    Int | NullInt => q.bind(v.as_i64()),
                    Text | NullText => q.bind(v.as_str().map(str::to_string)),
                    NullBlob => q.bind(v.as_str().and_then(|s| BASE64.decode(s).ok())),
                };
            }
            if t.name == "users" {
                q = q.bind(chat_core::name_key(row["name"].as_str().unwrap_or("")));
            }
            q.execute(&mut *tx)
                .await
                .map_err(|e| StoreError::Conflict(format!("importing a row of {}: {e}", t.name)))?;
        }
        tx.commit().await.map_err(unavailable("import"))
    }
}

/// The header line's object.
pub fn header(source: &str) -> Value {
    serde_json::json!({
        "format": FORMAT,
        "version": VERSION,
        "exported_at": chat_core::now_ms(),
        "source": source,
        "tables": TABLES.iter().map(|t| t.name).collect::<Vec<_>>(),
    })
}

/// Checks a header line.
pub fn check_header(v: &Value) -> Result<(), String> {
    if v["format"] != FORMAT {
        return Err(format!(
            "line 1 is not a chat export header (format {:?})",
            v["format"]
        ));
    }
    match v["version"].as_u64() {
        Some(VERSION) => Ok(()),
        other => Err(format!(
            "export version {other:?}; this binary reads version {VERSION}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_checked_against_their_table() {
        let t = table("chat_changes").unwrap();
        let ok: Map<String, Value> = serde_json::from_str(
            r#"{"table":"chat_changes","chat_id":1,"pts":2,"event":"{}","user_id":null}"#,
        )
        .unwrap();
        assert!(t.check(&ok, "line 2").is_ok());
        assert_eq!(t.owner_of(&ok), 1);
        let mut bad = ok.clone();
        bad.insert("pts".into(), "2".into());
        assert!(
            t.check(&bad, "line 2")
                .unwrap_err()
                .contains("chat_changes.pts")
        );
        let mut bad = ok.clone();
        bad.remove("event");
        assert!(t.check(&bad, "line 2").unwrap_err().contains("missing"));
        // A nullable column added after the file was written reads as null.
        let mut older = ok.clone();
        older.remove("user_id");
        assert!(t.check(&older, "line 2").is_ok());
        let mut bad = ok;
        bad.insert("evil".into(), 1.into());
        assert!(t.check(&bad, "line 2").unwrap_err().contains("no column"));
        assert!(table("writer_fences").is_none());
    }

    #[test]
    fn a_header_of_another_format_or_version_is_refused() {
        assert!(check_header(&header("sqlite")).is_ok());
        assert!(check_header(&serde_json::json!({"format": "x"})).is_err());
        let mut h = header("sqlite");
        h["version"] = 2.into();
        assert!(check_header(&h).unwrap_err().contains("version"));
    }
}
