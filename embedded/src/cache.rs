//! An in-process cache with the same contract as the Redis one: every entry can
//! be rebuilt from the store, so when a map reaches its bound an arbitrary tenth
//! of it is dropped (bounded memory; a dropped entry is just a miss).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use async_trait::async_trait;
use chat_core::model::{Chat, Member};
use chat_core::ports::{Cache, Cached, Membership, new_lease};
use chat_core::{CacheError, ChatId, UserId};

/// A bounded map that evicts a slice of its entries when full.
struct Bounded<K, V> {
    map: HashMap<K, V>,
    cap: usize,
}

impl<K: Eq + Hash + Clone, V> Bounded<K, V> {
    fn new(cap: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            cap: cap.max(16),
        }
    }

    fn insert(&mut self, k: K, v: V) {
        if self.map.len() >= self.cap && !self.map.contains_key(&k) {
            let drop_n = self.cap / 10 + 1;
            let victims: Vec<K> = self.map.keys().take(drop_n).cloned().collect();
            for v in victims {
                self.map.remove(&v);
            }
        }
        self.map.insert(k, v);
    }
}

/// An entry that holds a value, or the lease of a reader filling it.
#[derive(Clone)]
enum Entry<T> {
    Value(T),
    Lease(u64),
}

/// The lookup rule of [`Cached`] on one map: a value is a hit; otherwise a
/// new lease replaces whatever lease was there.
fn look_up<K: Eq + Hash + Clone, T: Clone>(map: &mut Bounded<K, Entry<T>>, k: K) -> Cached<T> {
    if let Some(Entry::Value(v)) = map.map.get(&k) {
        return Cached::Hit(v.clone());
    }
    let lease = new_lease();
    map.insert(k, Entry::Lease(lease));
    Cached::Miss { lease }
}

/// A fill, written only over its own lease.
fn fill<K: Eq + Hash + Clone, T>(map: &mut Bounded<K, Entry<T>>, k: K, lease: u64, v: T) {
    if let Some(e) = map.map.get_mut(&k)
        && matches!(e, Entry::Lease(l) if *l == lease)
    {
        *e = Entry::Value(v);
    }
}

/// The in-process [`Cache`].
pub struct MemCache {
    memberships: Mutex<Bounded<UserId, Entry<Vec<Membership>>>>,
    chats: Mutex<Bounded<ChatId, Chat>>,
    members: Mutex<Bounded<ChatId, Entry<Vec<Member>>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemCache {
    /// A cache holding at most `max_entries` entries per kind (users' membership
    /// lists, chat summaries, member lists).
    pub fn new(max_entries: usize) -> Self {
        MemCache {
            memberships: Mutex::new(Bounded::new(max_entries)),
            chats: Mutex::new(Bounded::new(max_entries)),
            members: Mutex::new(Bounded::new(max_entries)),
        }
    }
}

#[async_trait]
impl Cache for MemCache {
    async fn memberships(&self, user: UserId) -> Result<Cached<Vec<Membership>>, CacheError> {
        Ok(look_up(&mut lock(&self.memberships), user))
    }

    async fn put_memberships(
        &self,
        user: UserId,
        lease: u64,
        list: &[Membership],
    ) -> Result<(), CacheError> {
        fill(&mut lock(&self.memberships), user, lease, list.to_vec());
        Ok(())
    }

    async fn invalidate_memberships(&self, user: UserId) -> Result<(), CacheError> {
        lock(&self.memberships).map.remove(&user);
        Ok(())
    }

    async fn advance_cursor(&self, user: UserId, chat: ChatId, seq: u64) -> Result<(), CacheError> {
        if let Some(Entry::Value(list)) = lock(&self.memberships).map.get_mut(&user)
            && let Some(m) = list.iter_mut().find(|m| m.chat_id == chat)
        {
            m.read_seq = m.read_seq.max(seq);
        }
        Ok(())
    }

    async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Option<Chat>>, CacheError> {
        let chats = lock(&self.chats);
        Ok(ids.iter().map(|id| chats.map.get(id).cloned()).collect())
    }

    async fn put_chat(&self, chat: &Chat) -> Result<(), CacheError> {
        let mut chats = lock(&self.chats);
        match chats.map.get(&chat.id) {
            Some(old) if old.last_pts > chat.last_pts => {}
            _ => chats.insert(chat.id, chat.clone()),
        }
        Ok(())
    }

    async fn members(&self, chat: ChatId) -> Result<Cached<Vec<Member>>, CacheError> {
        Ok(look_up(&mut lock(&self.members), chat))
    }

    async fn put_members(
        &self,
        chat: ChatId,
        lease: u64,
        members: &[Member],
    ) -> Result<(), CacheError> {
        fill(&mut lock(&self.members), chat, lease, members.to_vec());
        Ok(())
    }

    async fn invalidate_members(&self, chat: ChatId) -> Result<(), CacheError> {
        lock(&self.members).map.remove(&chat);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `u`'s memberships, filling them with `list` on a miss.
    async fn read_or_fill(c: &MemCache, u: UserId, list: &[Membership]) -> Vec<Membership> {
        match c.memberships(u).await.unwrap() {
            Cached::Hit(v) => v,
            Cached::Miss { lease } => {
                c.put_memberships(u, lease, list).await.unwrap();
                list.to_vec()
            }
        }
    }

    #[tokio::test]
    async fn bounded_and_cursor_forward_only() {
        let c = MemCache::new(20);
        for u in 0..100 {
            read_or_fill(&c, UserId(u), &[]).await;
        }
        assert!(lock(&c.memberships).map.len() <= 20);
        let m = Membership {
            chat_id: ChatId(1),
            role: chat_core::model::Role::Member,
            read_seq: 5,
            muted_until: None,
            mentions: Vec::new(),
        };
        read_or_fill(&c, UserId(1000), &[m]).await;
        c.advance_cursor(UserId(1000), ChatId(1), 3).await.unwrap();
        assert_eq!(read_or_fill(&c, UserId(1000), &[]).await[0].read_seq, 5);
        c.advance_cursor(UserId(1000), ChatId(1), 9).await.unwrap();
        assert_eq!(read_or_fill(&c, UserId(1000), &[]).await[0].read_seq, 9);
    }
}
