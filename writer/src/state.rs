//! What the writer keeps in memory per chat it owns: counters and members. It is
//! the authority for them while it owns the chat's partition; on a rebalance or a
//! failed batch the entries are dropped and reloaded from the store.

use std::collections::{HashMap, HashSet};

use chat_core::model::{Chat, Role};
use chat_core::ports::Store;
use chat_core::{ChatId, StoreError, UserId};

/// One chat's authoritative state.
#[derive(Clone, Debug)]
pub struct ChatState {
    /// The chat row: counters, last message, kind.
    pub chat: Chat,
    /// Member → role.
    pub members: HashMap<UserId, Role>,
    /// Users banned from the chat.
    pub banned: HashSet<UserId>,
    /// A direct chat's members who blocked the other.
    pub blocked_by: HashSet<UserId>,
    /// A direct chat's members who left it (out of their list until the
    /// other writes).
    pub hidden: HashSet<UserId>,
}

/// Chat states, bounded: between batches, past `cap` entries an arbitrary tenth
/// is dropped (they reload from the store on next use). Never during a batch: a
/// chat changed by the batch must keep its in-memory counters until the commit.
pub struct States {
    map: HashMap<ChatId, ChatState>,
    cap: usize,
}

impl States {
    /// An empty set holding at most `cap` chats.
    pub fn new(cap: usize) -> Self {
        States {
            map: HashMap::new(),
            cap: cap.max(16),
        }
    }

    /// The state of `chat`, loaded from the store when absent; `None` if the chat
    /// does not exist.
    pub async fn get(
        &mut self,
        store: &dyn Store,
        chat: ChatId,
    ) -> Result<Option<&mut ChatState>, StoreError> {
        if !self.map.contains_key(&chat) {
            let Some(c) = store.chats(&[chat]).await?.into_iter().next() else {
                return Ok(None);
            };
            let members: HashMap<UserId, Role> = store
                .members(chat)
                .await?
                .into_iter()
                .map(|m| (m.user_id, m.role))
                .collect();
            let mut banned = HashSet::new();
            let mut blocked_by = HashSet::new();
            let mut hidden = HashSet::new();
            if c.kind == chat_core::model::ChatKind::Group {
                banned = store
                    .bans(chat)
                    .await?
                    .into_iter()
                    .map(|b| b.user_id)
                    .collect();
            } else {
                let pair: Vec<UserId> = members.keys().copied().collect();
                for (i, u) in pair.iter().enumerate() {
                    let others: Vec<UserId> =
                        pair[..i].iter().chain(&pair[i + 1..]).copied().collect();
                    blocked_by.extend(store.blockers(*u, &others).await?);
                }
                hidden = store.hidden(chat).await?.into_iter().collect();
            }
            self.insert(ChatState {
                chat: c,
                members,
                banned,
                blocked_by,
                hidden,
            });
        }
        Ok(self.map.get_mut(&chat))
    }

    /// Adds a state (a chat just created, or loaded).
    pub fn insert(&mut self, st: ChatState) {
        self.map.insert(st.chat.id, st);
    }

    /// The state of `chat` if in memory.
    pub fn peek(&self, chat: ChatId) -> Option<&ChatState> {
        self.map.get(&chat)
    }

    /// Drops entries beyond the bound; call between batches only.
    pub fn trim(&mut self) {
        if self.map.len() > self.cap {
            let excess = self.map.len() - self.cap + self.cap / 10;
            let victims: Vec<ChatId> = self.map.keys().take(excess).copied().collect();
            for v in victims {
                self.map.remove(&v);
            }
        }
    }

    /// Forgets one chat.
    pub fn forget(&mut self, chat: ChatId) {
        self.map.remove(&chat);
    }

    /// Forgets everything (partitions revoked).
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Chats in memory.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no chat is in memory.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
