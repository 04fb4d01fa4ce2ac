//! Cache updates that failed, kept to be applied again later, so that
//! deliveries and acknowledgements never wait on the cache.
//!
//! Every update fanout makes is safe to apply late and in any order: a chat
//! summary replaces only an older one (`last_pts`), a cursor only moves
//! forward, an invalidation is idempotent. So the backlog holds at most one update per
//! key, coalesced, and its size is bounded by the keys a Redis outage touches,
//! capped at `max` entries. An update that failed `max_attempts` times, or
//! does not fit, is handed back as a dead letter.

use std::collections::HashMap;

use chat_core::ports::CacheOp;
use chat_core::{ChatId, UserId};

/// What a cache update is about: one entry per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Chat(ChatId),
    Members(ChatId),
    Memberships(UserId),
    Cursor(UserId, ChatId),
}

fn key(op: &CacheOp) -> Key {
    match op {
        CacheOp::PutChat(c) => Key::Chat(c.id),
        CacheOp::InvalidateMembers(c) => Key::Members(*c),
        CacheOp::InvalidateMemberships(u) => Key::Memberships(*u),
        CacheOp::AdvanceCursor(u, c, _) => Key::Cursor(*u, *c),
    }
}

/// A cache update given up on.
#[derive(Debug, PartialEq)]
pub struct DeadLetter {
    /// The update.
    pub op: CacheOp,
    /// How many times it was tried.
    pub attempts: u32,
}

/// Failed cache updates, coalesced per key (see the module doc).
#[derive(Debug)]
pub struct Backlog {
    entries: HashMap<Key, (CacheOp, u32)>,
    max: usize,
    max_attempts: u32,
}

impl Backlog {
    /// An empty backlog of at most `max` entries, each tried at most
    /// `max_attempts` times.
    pub fn new(max: usize, max_attempts: u32) -> Self {
        Backlog {
            entries: HashMap::new(),
            max,
            max_attempts: max_attempts.max(1),
        }
    }

    /// Updates waiting.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Everything waiting, to be tried again (with how often each was tried);
    /// give what fails back to [`Backlog::failed`].
    pub fn take(&mut self) -> Vec<(CacheOp, u32)> {
        self.entries.drain().map(|(_, v)| v).collect()
    }

    /// Takes back updates that failed once more (`tried`: attempts before
    /// this one, 0 for a batch's own). Returns those given up on: tried
    /// `max_attempts` times, or new keys beyond `max`.
    pub fn failed(&mut self, ops: impl IntoIterator<Item = (CacheOp, u32)>) -> Vec<DeadLetter> {
        let mut dead = Vec::new();
        for (op, tried) in ops {
            let attempts = tried + 1;
            if attempts >= self.max_attempts {
                dead.push(DeadLetter { op, attempts });
            } else if let Some(d) = self.insert(op, attempts) {
                dead.push(d);
            }
        }
        dead
    }

    /// Keeps a batch's updates, not tried (the cache failed moments ago), for
    /// the next retry. Returns those that do not fit.
    pub fn defer(&mut self, ops: impl IntoIterator<Item = CacheOp>) -> Vec<DeadLetter> {
        ops.into_iter()
            .filter_map(|op| self.insert(op, 0))
            .collect()
    }

    /// One update in, coalesced with its key's; a new key beyond `max` is
    /// handed back.
    fn insert(&mut self, op: CacheOp, attempts: u32) -> Option<DeadLetter> {
        let k = key(&op);
        let full = self.entries.len() >= self.max;
        match self.entries.get_mut(&k) {
            Some((kept, n)) => {
                *kept = merge(std::mem::replace(kept, op.clone()), op);
                *n = (*n).min(attempts);
                None
            }
            None if full => Some(DeadLetter { op, attempts }),
            None => {
                self.entries.insert(k, (op, attempts));
                None
            }
        }
    }
}

/// Two updates of one key as one: the newer summary, the higher cursor.
fn merge(old: CacheOp, new: CacheOp) -> CacheOp {
    match (old, new) {
        (CacheOp::PutChat(a), CacheOp::PutChat(b)) => {
            CacheOp::PutChat(if a.last_pts >= b.last_pts { a } else { b })
        }
        (CacheOp::AdvanceCursor(u, c, a), CacheOp::AdvanceCursor(_, _, b)) => {
            CacheOp::AdvanceCursor(u, c, a.max(b))
        }
        (_, new) => new,
    }
}

#[cfg(test)]
mod tests {
    use chat_core::model::{Chat, ChatKind};

    use super::*;

    fn chat(id: u64, pts: u64) -> Chat {
        Chat {
            id: ChatId(id),
            kind: ChatKind::Group,
            title: "t".into(),
            created_by: UserId(1),
            created_at: 0,
            last_seq: pts,
            last_pts: pts,
            member_count: 1,
            last_message: None,
            pins: Vec::new(),
        }
    }

    fn sorted(mut ops: Vec<(CacheOp, u32)>) -> Vec<(CacheOp, u32)> {
        ops.sort_by_key(|(op, _)| format!("{op:?}"));
        ops
    }

    #[test]
    fn coalesces_per_key_keeping_the_newest_state() {
        let mut b = Backlog::new(100, 10);
        let dead = b.failed([
            (CacheOp::PutChat(chat(1, 5)), 0),
            (CacheOp::AdvanceCursor(UserId(2), ChatId(1), 4), 0),
            (CacheOp::InvalidateMembers(ChatId(1)), 0),
            (CacheOp::InvalidateMemberships(UserId(2)), 0),
        ]);
        assert!(dead.is_empty());
        let dead = b.failed([
            (CacheOp::PutChat(chat(1, 3)), 0),
            (CacheOp::AdvanceCursor(UserId(2), ChatId(1), 2), 0),
            (CacheOp::InvalidateMembers(ChatId(1)), 0),
            (CacheOp::InvalidateMemberships(UserId(2)), 0),
        ]);
        assert!(dead.is_empty());
        assert_eq!(b.len(), 4, "one entry per key");
        assert_eq!(
            sorted(b.take()),
            sorted(vec![
                (CacheOp::PutChat(chat(1, 5)), 1),
                (CacheOp::AdvanceCursor(UserId(2), ChatId(1), 4), 1),
                (CacheOp::InvalidateMembers(ChatId(1)), 1),
                (CacheOp::InvalidateMemberships(UserId(2)), 1),
            ]),
            "the newer summary, the higher cursor, one invalidation"
        );
        assert!(b.is_empty());
    }

    #[test]
    fn gives_up_after_max_attempts_and_beyond_max_entries() {
        let mut b = Backlog::new(2, 3);
        assert!(b.failed([(CacheOp::PutChat(chat(1, 1)), 0)]).is_empty());
        assert!(b.failed([(CacheOp::PutChat(chat(2, 1)), 0)]).is_empty());
        let over = b.failed([(CacheOp::PutChat(chat(3, 1)), 0)]);
        assert_eq!(
            over,
            vec![DeadLetter {
                op: CacheOp::PutChat(chat(3, 1)),
                attempts: 1
            }],
            "a new key beyond the cap"
        );
        // Two more failures of everything: the third attempt gives up.
        let again = b.take();
        assert!(b.failed(again).is_empty());
        let again = b.take();
        let dead = b.failed(again);
        assert_eq!(dead.len(), 2);
        assert!(dead.iter().all(|d| d.attempts == 3));
        assert!(b.is_empty());
    }
}
