//! Reads served by the gateway: through the cache, falling back to the store and
//! filling the cache on a miss. A cache failure degrades to the store.

use std::collections::HashSet;
use std::sync::Arc;

use chat_core::chatlist;
use chat_core::model::{Chat, ChatListEntry, Member, Role};
use chat_core::ports::{Cache, Cached, Membership, Store};
use chat_core::{ChatId, Code, UserId};

use crate::error::ApiError;

/// Cached reads.
#[derive(Clone)]
pub struct Reads {
    /// Durable data.
    pub store: Arc<dyn Store>,
    /// Cache in front of it.
    pub cache: Arc<dyn Cache>,
}

impl Reads {
    /// Members of a chat.
    pub async fn members(&self, chat: ChatId) -> Result<Vec<Member>, ApiError> {
        let lease = match self.cache.members(chat).await {
            Ok(Cached::Hit(m)) => return Ok(m),
            Ok(Cached::Miss { lease }) => Some(lease),
            Err(e) => {
                tracing::debug!(error = %e, "cache miss by error");
                None
            }
        };
        let m = self.store.members(chat).await?;
        // Written only if no invalidation came since the lease was taken: a
        // list read before a change never outlives the change's invalidation.
        if let Some(lease) = lease
            && !m.is_empty()
        {
            let _ = self.cache.put_members(chat, lease, &m).await;
        }
        Ok(m)
    }

    /// The role of `user` in `chat`, if a member.
    /// (Recorded on the current request's span.)
    pub async fn role(&self, user: UserId, chat: ChatId) -> Result<Option<Role>, ApiError> {
        let role = self
            .members(chat)
            .await?
            .into_iter()
            .find(|m| m.user_id == user)
            .map(|m| m.role);
        if let Some(r) = role {
            crate::reqid::record_role(r);
        }
        Ok(role)
    }

    /// Chat summaries, in no particular order; missing ids are skipped.
    pub async fn chats(&self, ids: &[ChatId]) -> Result<Vec<Chat>, ApiError> {
        let cached = match self.cache.chats(ids).await {
            Ok(c) => c,
            Err(_) => vec![None; ids.len()],
        };
        let mut out = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for (id, c) in ids.iter().zip(cached) {
            match c {
                Some(c) => out.push(c),
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            for c in self.store.chats(&missing).await? {
                let _ = self.cache.put_chat(&c).await;
                out.push(c);
            }
        }
        Ok(out)
    }

    /// A chat the caller must be a member of: its summary and the caller's role.
    pub async fn authorize(&self, user: UserId, chat: ChatId) -> Result<(Chat, Role), ApiError> {
        let role = self.role(user, chat).await?;
        let found = self.chats(&[chat]).await?.into_iter().next();
        Self::check_member(found, role)
    }

    /// The membership rule on what was read: unknown chat → `chat_not_found`;
    /// existing chat, not a member → `not_member` — but a direct chat one is
    /// not in is answered as unknown: its id follows from the two users', so
    /// telling it apart would say whether two users talk.
    pub fn check_member(chat: Option<Chat>, role: Option<Role>) -> Result<(Chat, Role), ApiError> {
        match (chat, role) {
            (None, _) => Err(ApiError::new(Code::ChatNotFound, "no such chat")),
            (Some(c), None) if c.kind == chat_core::model::ChatKind::Direct => {
                Err(ApiError::new(Code::ChatNotFound, "no such chat"))
            }
            (Some(_), None) => Err(ApiError::new(
                Code::NotMember,
                "you are not a member of this chat",
            )),
            (Some(c), Some(r)) => Ok((c, r)),
        }
    }

    /// A user's memberships.
    pub async fn memberships(&self, user: UserId) -> Result<Vec<Membership>, ApiError> {
        let lease = match self.cache.memberships(user).await {
            Ok(Cached::Hit(m)) => return Ok(m),
            Ok(Cached::Miss { lease }) => Some(lease),
            Err(e) => {
                tracing::debug!(error = %e, "cache miss by error");
                None
            }
        };
        let m = self.store.memberships(user).await?;
        // As for members: never over a newer invalidation.
        if let Some(lease) = lease {
            let _ = self.cache.put_memberships(user, lease, &m).await;
        }
        Ok(m)
    }

    /// The chat list: every chat of the user, newest activity first, with unread counts.
    pub async fn chat_list(&self, user: UserId) -> Result<Vec<ChatListEntry>, ApiError> {
        let ms = self.memberships(user).await?;
        let ids: Vec<ChatId> = ms.iter().map(|m| m.chat_id).collect();
        let chats = self.chats(&ids).await?;
        Ok(chatlist::build(&ms, chats))
    }

    /// The user's read cursor in a chat (0 when unknown).
    pub async fn read_seq(&self, user: UserId, chat: ChatId) -> Result<u64, ApiError> {
        Ok(self.membership(user, chat).await?.map_or(0, |m| m.read_seq))
    }

    /// The ids of the chats the user is in.
    pub async fn chat_ids(&self, user: UserId) -> Result<HashSet<ChatId>, ApiError> {
        Ok(self
            .memberships(user)
            .await?
            .into_iter()
            .map(|m| m.chat_id)
            .collect())
    }

    /// The user's side of their membership of `chat`, if any.
    pub async fn membership(
        &self,
        user: UserId,
        chat: ChatId,
    ) -> Result<Option<Membership>, ApiError> {
        Ok(self
            .memberships(user)
            .await?
            .into_iter()
            .find(|m| m.chat_id == chat))
    }
}
