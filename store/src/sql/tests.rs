//! The statements each dialect sends, pinned: they were tuned on real
//! databases (bounded shapes, `OR FAIL` on SQLite's batches, `UPDATE … JOIN`
//! derived tables on MariaDB), and building them once for both must not change
//! them.

use chat_core::model::Message;
use chat_core::{ChatId, MessageId, UserId};

use super::exec::{bind_counters, bind_cursor, update_rows};
use super::{MESSAGE_COLUMNS, Statements};
use crate::dialect::Dialect;
use crate::runs::CounterRow;

const CHAT_VALUES: &str = "chats (id, kind, title, created_by, created_at, last_seq, last_pts, \
                           member_count, last_message, pins) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const MESSAGE_ROW: &str = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";

fn message(seq: u64) -> Message {
    Message {
        id: MessageId(seq),
        chat_id: ChatId(1),
        seq,
        sender_id: UserId(2),
        client_msg_id: format!("k{seq}"),
        text: "hi".into(),
        reply_to_seq: None,
        forwarded_from: None,
        created_at: 1,
        edited_at: None,
        deleted: false,
        pts: seq,
        reactions: Vec::new(),
        mentions: Vec::new(),
    }
}

fn counters(chat: u64) -> CounterRow {
    CounterRow {
        chat_id: ChatId(chat),
        last_seq: 1,
        last_pts: 1,
        member_count: 2,
        last_message: None,
    }
}

/// Every statement of `D` whose text the dialect shapes, two rows where
/// statements take rows.
fn statements<D: Dialect>() -> Vec<String>
where
    i64: super::Bind<D>,
    Option<i64>: super::Bind<D>,
    String: super::Bind<D>,
    Option<String>: super::Bind<D>,
    Option<Vec<u8>>: super::Bind<D>,
{
    let sql = Statements::of::<D>();
    let (a, b) = (message(1), message(2));
    let cursors = [(UserId(1), ChatId(2), 3), (UserId(4), ChatId(5), 6)];
    let [keys_head, keys_tail] = &sql.client_keys;
    vec![
        sql.insert_chat.as_str().to_string(),
        sql.put_member.as_str().to_string(),
        sql.put_membership.as_str().to_string(),
        sql.record_change.as_str().to_string(),
        sql.insert_rows::<D>(&[&a, &b]).into_string(),
        update_rows::<D, _>(&D::ADVANCE_CURSORS, &cursors, bind_cursor).into_string(),
        update_rows::<D, _>(
            &D::UPDATE_COUNTERS,
            &[counters(1), counters(2)],
            bind_counters,
        )
        .into_string(),
        format!("{keys_head}(?, ?, ?), (?, ?, ?){keys_tail}"),
    ]
}

#[test]
fn sqlite_statements_are_the_tuned_ones() {
    let expected = [
        format!("INSERT INTO {CHAT_VALUES} ON CONFLICT DO NOTHING"),
        "INSERT INTO members (chat_id, user_id, role) VALUES (?, ?, ?) \
         ON CONFLICT (chat_id, user_id) DO UPDATE SET role = excluded.role"
            .into(),
        "INSERT INTO memberships (user_id, chat_id, role, read_seq) VALUES (?, ?, ?, 0) \
         ON CONFLICT (user_id, chat_id) DO UPDATE SET role = excluded.role"
            .into(),
        "INSERT INTO chat_changes (chat_id, pts, event, user_id) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"
            .into(),
        format!(
            "INSERT OR FAIL INTO messages ({MESSAGE_COLUMNS}) \
             VALUES {MESSAGE_ROW}, {MESSAGE_ROW} ON CONFLICT DO NOTHING"
        ),
        "UPDATE OR FAIL memberships SET read_seq = MAX(read_seq, v.column3) \
         FROM (VALUES (?, ?, ?), (?, ?, ?)) AS v \
         WHERE memberships.user_id = v.column1 AND memberships.chat_id = v.column2"
            .into(),
        "UPDATE OR FAIL chats SET last_seq = v.column2, last_pts = v.column3, \
         member_count = v.column4, last_message = v.column5 \
         FROM (VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)) AS v \
         WHERE chats.id = v.column1 AND chats.last_pts < v.column3"
            .into(),
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM (VALUES (?, ?, ?), (?, ?, ?)) AS k \
             CROSS JOIN messages ON messages.chat_id = k.column1 \
             AND messages.sender_id = k.column2 AND messages.client_msg_id = k.column3"
        ),
    ];
    assert_eq!(statements::<sqlx::Sqlite>(), expected);
}

#[cfg(feature = "mysql")]
#[test]
fn mysql_statements_are_the_tuned_ones() {
    let expected = [
        format!("INSERT IGNORE INTO {CHAT_VALUES}"),
        "INSERT INTO members (chat_id, user_id, role) VALUES (?, ?, ?) \
         ON DUPLICATE KEY UPDATE role = VALUES(role)"
            .into(),
        "INSERT INTO memberships (user_id, chat_id, role, read_seq) VALUES (?, ?, ?, 0) \
         ON DUPLICATE KEY UPDATE role = VALUES(role)"
            .into(),
        "INSERT IGNORE INTO chat_changes (chat_id, pts, event, user_id) VALUES (?, ?, ?, ?)".into(),
        format!(
            "INSERT IGNORE INTO messages ({MESSAGE_COLUMNS}) VALUES {MESSAGE_ROW}, {MESSAGE_ROW}"
        ),
        "UPDATE memberships m JOIN (SELECT ? AS u, ? AS c, ? AS s UNION ALL SELECT ?, ?, ?) v \
         ON m.user_id = v.u AND m.chat_id = v.c SET m.read_seq = GREATEST(m.read_seq, v.s)"
            .into(),
        "UPDATE chats c JOIN (SELECT ? AS id, ? AS ls, ? AS lp, ? AS mc, ? AS lm \
         UNION ALL SELECT ?, ?, ?, ?, ?) v ON c.id = v.id SET c.last_seq = v.ls, \
         c.member_count = v.mc, c.last_message = v.lm, c.last_pts = v.lp WHERE c.last_pts < v.lp"
            .into(),
        format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages \
             WHERE (chat_id, sender_id, client_msg_id) IN ((?, ?, ?), (?, ?, ?))"
        ),
    ];
    assert_eq!(statements::<sqlx::MySql>(), expected);
}

#[test]
fn multi_row_statements_come_in_a_few_sizes() {
    use std::collections::BTreeSet;
    let sizes: BTreeSet<usize> = (1..=super::CHUNK)
        .map(|n| {
            let rows: Vec<usize> = (0..n).collect();
            let padded: Vec<&usize> = super::padded(&rows).collect();
            // The rows themselves first, then only the last one again.
            assert!(padded.iter().take(n).copied().eq(rows.iter()));
            assert!(padded[n..].iter().all(|r| **r == n - 1));
            padded.len()
        })
        .collect();
    assert_eq!(
        sizes.into_iter().collect::<Vec<_>>(),
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 500]
    );
    assert_eq!(super::padded::<u8>(&[]).count(), 0);
}
