//! A batch of mutations as the runs both stores apply: consecutive mutations of
//! one kind that commute (message inserts, cursor advances, counter updates:
//! what a batch of sends is made of) become one run, written as one statement
//! per chunk; every other mutation stays on its own, in order.
//!
//! Cursor and counter runs hold one row per key (the highest seq; the newest
//! counters), because an `UPDATE … FROM`/`UPDATE … JOIN` changes each row at
//! most once, with any one of several matching rows.

use std::collections::HashMap;

use chat_core::model::Message;
use chat_core::ports::Mutation;
use chat_core::{ChatId, UserId};

/// A chat's counters as they are written (`last_message` as JSON).
pub(crate) struct CounterRow {
    pub chat_id: ChatId,
    pub last_seq: u64,
    pub last_pts: u64,
    pub member_count: u32,
    pub last_message: Option<String>,
}

/// One step of applying a batch.
pub(crate) enum Run<'a> {
    /// New messages (rows already stored must be the same messages).
    Messages(Vec<&'a Message>),
    /// `(user, chat, seq)`: read cursors to move forward, one per key.
    Cursors(Vec<(UserId, ChatId, u64)>),
    /// Counters to store where newer than the stored ones, one per chat.
    Counters(Vec<CounterRow>),
    /// Any other mutation.
    One(&'a Mutation),
}

/// One mutation as a run sees it.
enum Item<'a> {
    Message(&'a Message),
    Cursor((UserId, ChatId, u64)),
    Counters(CounterRow),
    Other(&'a Mutation),
}

impl<'a> Item<'a> {
    fn of(m: &'a Mutation) -> Item<'a> {
        match m {
            Mutation::InsertMessage(msg) => Item::Message(msg),
            &Mutation::AdvanceCursor {
                user_id,
                chat_id,
                seq,
            } => Item::Cursor((user_id, chat_id, seq)),
            Mutation::ChatCounters {
                chat_id,
                last_seq,
                last_pts,
                member_count,
                last_message,
            } => Item::Counters(CounterRow {
                chat_id: *chat_id,
                last_seq: *last_seq,
                last_pts: *last_pts,
                member_count: *member_count,
                last_message: last_message
                    .as_ref()
                    .map(|l| serde_json::to_string(l).unwrap_or_default()),
            }),
            m => Item::Other(m),
        }
    }
}

/// Splits `batch` into runs, keeping the order between them.
pub(crate) fn runs<'a>(batch: impl IntoIterator<Item = &'a Mutation>) -> Vec<Run<'a>> {
    let mut out = Vec::new();
    let mut open: Option<Run<'a>> = None;
    // Where each key is in the open cursor or counter run.
    let mut cursor_at: HashMap<(UserId, ChatId), usize> = HashMap::new();
    let mut counter_at: HashMap<ChatId, usize> = HashMap::new();
    for m in batch {
        match (Item::of(m), &mut open) {
            (Item::Message(msg), Some(Run::Messages(run))) => run.push(msg),
            (Item::Cursor(row @ (u, c, seq)), Some(Run::Cursors(run))) => {
                match cursor_at.get(&(u, c)) {
                    Some(&i) => run[i].2 = run[i].2.max(seq),
                    None => {
                        cursor_at.insert((u, c), run.len());
                        run.push(row);
                    }
                }
            }
            (Item::Counters(row), Some(Run::Counters(run))) => match counter_at.get(&row.chat_id) {
                Some(&i) if run[i].last_pts < row.last_pts => run[i] = row,
                Some(_) => {}
                None => {
                    counter_at.insert(row.chat_id, run.len());
                    run.push(row);
                }
            },
            // Another kind: the open run ends, this mutation starts the next.
            (item, _) => {
                out.extend(open.take());
                cursor_at.clear();
                counter_at.clear();
                open = Some(match item {
                    Item::Message(msg) => Run::Messages(vec![msg]),
                    Item::Cursor(row) => {
                        cursor_at.insert((row.0, row.1), 0);
                        Run::Cursors(vec![row])
                    }
                    Item::Counters(row) => {
                        counter_at.insert(row.chat_id, 0);
                        Run::Counters(vec![row])
                    }
                    Item::Other(m) => Run::One(m),
                });
            }
        }
    }
    out.extend(open);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(u: u64, c: u64, seq: u64) -> Mutation {
        Mutation::AdvanceCursor {
            user_id: UserId(u),
            chat_id: ChatId(c),
            seq,
        }
    }

    fn counters(c: u64, pts: u64) -> Mutation {
        Mutation::ChatCounters {
            chat_id: ChatId(c),
            last_seq: pts,
            last_pts: pts,
            member_count: 2,
            last_message: None,
        }
    }

    #[test]
    fn runs_keep_order_and_one_row_per_key() {
        let other = Mutation::RemoveMembership {
            user_id: UserId(1),
            chat_id: ChatId(7),
        };
        let batch = vec![
            cursor(1, 7, 5),
            cursor(2, 7, 3),
            cursor(1, 7, 4),
            counters(7, 9),
            counters(8, 2),
            counters(7, 6),
            other.clone(),
            cursor(1, 7, 1),
        ];
        let runs = runs(&batch);
        assert_eq!(runs.len(), 4);
        let Run::Cursors(c) = &runs[0] else {
            panic!("cursors first")
        };
        assert_eq!(
            c,
            &vec![(UserId(1), ChatId(7), 5), (UserId(2), ChatId(7), 3)]
        );
        let Run::Counters(k) = &runs[1] else {
            panic!("then counters")
        };
        let k: Vec<(ChatId, u64)> = k.iter().map(|r| (r.chat_id, r.last_pts)).collect();
        assert_eq!(k, vec![(ChatId(7), 9), (ChatId(8), 2)]);
        assert!(matches!(runs[2], Run::One(m) if *m == other));
        // After another mutation a key starts a new run: the order between
        // runs is kept (a cursor after a membership change must follow it).
        let Run::Cursors(c) = &runs[3] else {
            panic!("a new cursor run")
        };
        assert_eq!(c, &vec![(UserId(1), ChatId(7), 1)]);
    }
}
