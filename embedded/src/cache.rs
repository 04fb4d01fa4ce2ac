//! An in-process cache with the same contract as the Redis one: every entry can
//! be rebuilt from the store, so when a map reaches its bound an arbitrary tenth
//! of it is dropped (bounded memory; a dropped entry is just a miss).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

use async_trait::async_trait;
use chat_core::model::{Chat, Member};
use chat_core::ports::{Cache, MemberList, Membership, member_entry_replaces};
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

impl MemCache {
    /// Writes a member-list entry (a list, or a marker) unless the current
    /// one is newer.
    fn put_member_entry(&self, chat: ChatId, version: u64, list: Option<&[Member]>) {
        let mut members = lock(&self.members);
        let current = members.map.get(&chat).map(|(v, l)| (*v, l.is_some()));
        if member_entry_replaces(version, list.is_some(), current) {
            members.insert(chat, (version, list.map(<[Member]>::to_vec)));
        }
    }
}

/// The in-process [`Cache`].
pub struct MemCache {
    memberships: Mutex<Bounded<UserId, Vec<Membership>>>,
    chats: Mutex<Bounded<ChatId, Chat>>,
    members: Mutex<Bounded<ChatId, MemberEntry>>,
}

/// A member list's version and the list, or `None` for an invalidation
/// marker.
type MemberEntry = (u64, Option<Vec<Member>>);

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
    async fn memberships(&self, user: UserId) -> Result<Option<Vec<Membership>>, CacheError> {
        Ok(lock(&self.memberships).map.get(&user).cloned())
    }

    async fn put_memberships(&self, user: UserId, list: &[Membership]) -> Result<(), CacheError> {
        lock(&self.memberships).insert(user, list.to_vec());
        Ok(())
    }

    async fn invalidate_memberships(&self, user: UserId) -> Result<(), CacheError> {
        lock(&self.memberships).map.remove(&user);
        Ok(())
    }

    async fn advance_cursor(&self, user: UserId, chat: ChatId, seq: u64) -> Result<(), CacheError> {
        if let Some(list) = lock(&self.memberships).map.get_mut(&user)
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

    async fn members(&self, chat: ChatId) -> Result<Option<Vec<Member>>, CacheError> {
        Ok(lock(&self.members)
            .map
            .get(&chat)
            .and_then(|(_, list)| list.clone()))
    }

    async fn put_members(&self, chat: ChatId, list: &MemberList) -> Result<(), CacheError> {
        self.put_member_entry(chat, list.version, Some(&list.members));
        Ok(())
    }

    async fn invalidate_members(&self, chat: ChatId, version: u64) -> Result<(), CacheError> {
        self.put_member_entry(chat, version, None);
        Ok(())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_and_cursor_forward_only() {
        let c = MemCache::new(20);
        for u in 0..100 {
            c.put_memberships(UserId(u), &[]).await.unwrap();
        }
        assert!(lock(&c.memberships).map.len() <= 20);
        let m = Membership {
            chat_id: ChatId(1),
            role: chat_core::model::Role::Member,
            read_seq: 5,
        };
        c.put_memberships(UserId(1000), &[m]).await.unwrap();
        c.advance_cursor(UserId(1000), ChatId(1), 3).await.unwrap();
        assert_eq!(
            c.memberships(UserId(1000)).await.unwrap().unwrap()[0].read_seq,
            5
        );
        c.advance_cursor(UserId(1000), ChatId(1), 9).await.unwrap();
        assert_eq!(
            c.memberships(UserId(1000)).await.unwrap().unwrap()[0].read_seq,
            9
        );
    }
}
