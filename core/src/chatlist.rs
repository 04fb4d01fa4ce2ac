//! Building a user's chat list from memberships and chat summaries.

use std::collections::HashMap;

use crate::id::ChatId;
use crate::model::{Chat, ChatListEntry};
use crate::ports::Membership;

/// Joins memberships with chat summaries, newest activity first. Chats without a
/// summary are skipped. Unread is `last_seq - read_seq`, never negative.
pub fn build(memberships: &[Membership], chats: Vec<Chat>) -> Vec<ChatListEntry> {
    let now = crate::model::now_ms();
    let mut by_id: HashMap<ChatId, Chat> = chats.into_iter().map(|c| (c.id, c)).collect();
    let mut out: Vec<ChatListEntry> = memberships
        .iter()
        .filter_map(|m| {
            let chat = by_id.remove(&m.chat_id)?;
            Some(ChatListEntry {
                unread: chat.last_seq.saturating_sub(m.read_seq),
                mentions: m.unread_mentions(),
                read_seq: m.read_seq,
                role: m.role,
                muted_until: m.muted_at(now),
                chat,
            })
        })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse((activity(&e.chat), e.chat.id)));
    out
}

/// When a chat last changed, for ordering: its last message, else its creation.
pub fn activity(c: &Chat) -> i64 {
    c.last_message.as_ref().map_or(c.created_at, |m| m.at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::UserId;
    use crate::model::{ChatKind, LastMessage, Role};

    fn chat(id: u64, at: i64, last_seq: u64) -> Chat {
        Chat {
            id: ChatId(id),
            kind: ChatKind::Group,
            title: "t".into(),
            created_by: UserId(1),
            created_at: 0,
            last_seq,
            last_pts: last_seq,
            member_count: 2,
            last_message: (at > 0).then(|| LastMessage {
                seq: last_seq,
                sender_id: UserId(1),
                preview: "x".into(),
                at,
                deleted: false,
            }),
            pins: Vec::new(),
        }
    }

    #[test]
    fn orders_by_activity_and_counts_unread() {
        let ms = [
            Membership {
                chat_id: ChatId(1),
                role: Role::Member,
                read_seq: 3,
                muted_until: None,
                mentions: Vec::new(),
            },
            Membership {
                chat_id: ChatId(2),
                role: Role::Admin,
                read_seq: 9,
                muted_until: None,
                mentions: Vec::new(),
            },
            Membership {
                chat_id: ChatId(3),
                role: Role::Member,
                read_seq: 0,
                muted_until: None,
                mentions: Vec::new(),
            },
        ];
        let list = build(&ms, vec![chat(1, 10, 5), chat(2, 20, 7), chat(3, 0, 0)]);
        let ids: Vec<u64> = list.iter().map(|e| e.chat.id.0).collect();
        assert_eq!(ids, vec![2, 1, 3]);
        assert_eq!(list[1].unread, 2);
        assert_eq!(list[0].unread, 0, "a cursor past last_seq is not negative");
    }
}
