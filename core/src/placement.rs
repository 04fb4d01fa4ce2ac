//! Where data lives: every row the store keeps belongs to a chat, a user or a
//! login name, and a sharded store keeps it on that key's shard (DESIGN §5).
//! This module says which key each write and each account lookup is placed by;
//! `shard-router` says which shard a key is on.

use crate::id::{ChatId, UserId};
use crate::ports::Mutation;

/// The key a row is placed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placement<'a> {
    /// A chat and what belongs to it: the chat row, its members, messages,
    /// counters and change stream.
    Chat(ChatId),
    /// A user and what is theirs: the account, their memberships (the chat
    /// list) and read cursors.
    User(UserId),
    /// A login name, mapping to its user: in canonical form ([`name_key`]).
    Name(&'a str),
}

/// The canonical form of a login name: names are unique regardless of case.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

impl Mutation {
    /// The key this mutation's row is placed by: a sharded store applies it on
    /// that key's shard.
    pub fn placement(&self) -> Placement<'static> {
        match self {
            Mutation::InsertChat(c) => Placement::Chat(c.id),
            Mutation::InsertMessage(m) => Placement::Chat(m.chat_id),
            Mutation::PutMember { chat_id, .. }
            | Mutation::RemoveMember { chat_id, .. }
            | Mutation::PutBan { chat_id, .. }
            | Mutation::RemoveBan { chat_id, .. }
            | Mutation::PutChatSettings { chat_id, .. }
            | Mutation::PutJoin { chat_id, .. }
            | Mutation::PutHidden { chat_id, .. }
            | Mutation::RemoveHidden { chat_id, .. }
            | Mutation::EditMessage { chat_id, .. }
            | Mutation::React { chat_id, .. }
            | Mutation::SetPins { chat_id, .. }
            | Mutation::DeleteMessage { chat_id, .. }
            | Mutation::ChatCounters { chat_id, .. }
            | Mutation::RecordChange { chat_id, .. } => Placement::Chat(*chat_id),
            Mutation::PutMembership { user_id, .. }
            | Mutation::SetMute { user_id, .. }
            | Mutation::PutMention { user_id, .. }
            | Mutation::RemoveMembership { user_id, .. }
            | Mutation::PutBlock { user_id, .. }
            | Mutation::RemoveBlock { user_id, .. }
            | Mutation::RotateSession { user_id, .. }
            | Mutation::RevokeSessions { user_id, .. }
            | Mutation::PurgeSessions { user_id, .. }
            | Mutation::SetPasswordHash { user_id, .. }
            | Mutation::SetProfile { user_id, .. }
            | Mutation::SetAvatar { user_id, .. }
            | Mutation::SetPresenceVisibility { user_id, .. }
            | Mutation::AdvanceCursor { user_id, .. } => Placement::User(*user_id),
            Mutation::PutSession(s) => Placement::User(s.user_id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MessageId;
    use crate::model::{Chat, ChatKind, Member, Message, Role};

    const CHAT: ChatId = ChatId(7);
    const USER: UserId = UserId(9);

    /// One mutation of every kind, each naming both a chat and a user (when it
    /// has both) so that the test sees which one it is placed by.
    fn every_mutation() -> Vec<Mutation> {
        let chat = Chat {
            id: CHAT,
            kind: ChatKind::Group,
            title: "t".into(),
            created_by: USER,
            created_at: 1,
            last_seq: 0,
            last_pts: 0,
            member_count: 1,
            last_message: None,
            pins: Vec::new(),
        };
        let message = Message {
            id: MessageId(1),
            chat_id: CHAT,
            seq: 1,
            sender_id: USER,
            client_msg_id: "k".into(),
            text: "hi".into(),
            reply_to_seq: None,
            forwarded_from: None,
            created_at: 1,
            edited_at: None,
            deleted: false,
            pts: 1,
            reactions: Vec::new(),
            mentions: Vec::new(),
        };
        vec![
            Mutation::InsertChat(chat),
            Mutation::PutMember {
                chat_id: CHAT,
                member: Member {
                    user_id: USER,
                    role: Role::Member,
                },
            },
            Mutation::RemoveMember {
                chat_id: CHAT,
                user_id: USER,
            },
            Mutation::PutBan {
                chat_id: CHAT,
                ban: crate::model::Ban {
                    user_id: USER,
                    banned_by: USER,
                    banned_at: 1,
                },
            },
            Mutation::RemoveBan {
                chat_id: CHAT,
                user_id: USER,
            },
            Mutation::PutChatSettings {
                chat_id: CHAT,
                settings: Default::default(),
            },
            Mutation::PutJoin {
                chat_id: CHAT,
                user_id: USER,
                joined_seq: 1,
            },
            Mutation::PutHidden {
                chat_id: CHAT,
                user_id: USER,
            },
            Mutation::RemoveHidden {
                chat_id: CHAT,
                user_id: USER,
            },
            Mutation::PutBlock {
                user_id: USER,
                blocked_id: UserId(CHAT.0),
                at: 1,
            },
            Mutation::RemoveBlock {
                user_id: USER,
                blocked_id: UserId(CHAT.0),
            },
            Mutation::PutSession(crate::model::SessionRecord {
                user_id: USER,
                id: CHAT.0,
                generation: 0,
                secret_hash: "h".into(),
                device: String::new(),
                created_at: 1,
                used_at: 1,
                expires_at: 2,
                revoked_at: None,
            }),
            Mutation::RotateSession {
                user_id: USER,
                session_id: CHAT.0,
                generation: 0,
                secret_hash: "h2".into(),
                used_at: 2,
                expires_at: 3,
            },
            Mutation::RevokeSessions {
                user_id: USER,
                session_id: Some(CHAT.0),
                at: 3,
            },
            Mutation::PurgeSessions {
                user_id: USER,
                before: 4,
            },
            Mutation::SetPasswordHash {
                user_id: USER,
                password_hash: "!h".into(),
            },
            Mutation::SetProfile {
                user_id: USER,
                patch: crate::model::ProfilePatch::default(),
                at: 5,
            },
            Mutation::SetAvatar {
                user_id: USER,
                avatar: None,
                at: 6,
            },
            Mutation::SetPresenceVisibility {
                user_id: USER,
                visibility: crate::presence::Visibility::Nobody,
            },
            Mutation::PutMembership {
                user_id: USER,
                chat_id: CHAT,
                role: Role::Member,
            },
            Mutation::RemoveMembership {
                user_id: USER,
                chat_id: CHAT,
            },
            Mutation::SetMute {
                user_id: USER,
                chat_id: CHAT,
                until: None,
            },
            Mutation::PutMention {
                user_id: USER,
                chat_id: CHAT,
                seq: 1,
            },
            Mutation::InsertMessage(message),
            Mutation::EditMessage {
                chat_id: CHAT,
                seq: 1,
                text: "edited".into(),
                edited_at: 2,
                pts: 2,
            },
            Mutation::React {
                chat_id: CHAT,
                seq: 1,
                user_id: USER,
                emoji: "👍".into(),
                add: true,
                pts: 3,
            },
            Mutation::SetPins {
                chat_id: CHAT,
                pins: vec![1],
            },
            Mutation::DeleteMessage {
                chat_id: CHAT,
                seq: 1,
                pts: 3,
            },
            Mutation::ChatCounters {
                chat_id: CHAT,
                last_seq: 1,
                last_pts: 3,
                member_count: 1,
                last_message: None,
            },
            Mutation::RecordChange {
                chat_id: CHAT,
                pts: 4,
                change: crate::model::MemberChange::Removed { user_id: USER },
            },
            Mutation::AdvanceCursor {
                user_id: USER,
                chat_id: CHAT,
                seq: 1,
            },
        ]
    }

    #[test]
    fn chat_rows_go_by_chat_and_user_rows_by_user() {
        for m in every_mutation() {
            // The match names every kind: a new mutation must be placed here too.
            let expected = match &m {
                Mutation::InsertChat(_)
                | Mutation::PutMember { .. }
                | Mutation::RemoveMember { .. }
                | Mutation::PutBan { .. }
                | Mutation::RemoveBan { .. }
                | Mutation::PutChatSettings { .. }
                | Mutation::PutJoin { .. }
                | Mutation::PutHidden { .. }
                | Mutation::RemoveHidden { .. }
                | Mutation::InsertMessage(_)
                | Mutation::EditMessage { .. }
                | Mutation::React { .. }
                | Mutation::SetPins { .. }
                | Mutation::DeleteMessage { .. }
                | Mutation::ChatCounters { .. }
                | Mutation::RecordChange { .. } => Placement::Chat(CHAT),
                Mutation::PutMembership { .. }
                | Mutation::RemoveMembership { .. }
                | Mutation::SetMute { .. }
                | Mutation::PutMention { .. }
                | Mutation::PutBlock { .. }
                | Mutation::RemoveBlock { .. }
                | Mutation::PutSession(_)
                | Mutation::RotateSession { .. }
                | Mutation::RevokeSessions { .. }
                | Mutation::PurgeSessions { .. }
                | Mutation::SetPasswordHash { .. }
                | Mutation::SetProfile { .. }
                | Mutation::SetAvatar { .. }
                | Mutation::SetPresenceVisibility { .. }
                | Mutation::AdvanceCursor { .. } => Placement::User(USER),
            };
            assert_eq!(m.placement(), expected, "{m:?}");
        }
    }

    #[test]
    fn the_two_sides_of_a_membership_are_placed_apart() {
        // Adding a member writes the chat side on the chat's shard and the
        // user side on the user's (DESIGN §5): the writer retries both.
        let all = every_mutation();
        let chat_side = all
            .iter()
            .find(|m| matches!(m, Mutation::PutMember { .. }))
            .unwrap();
        let user_side = all
            .iter()
            .find(|m| matches!(m, Mutation::PutMembership { .. }))
            .unwrap();
        assert_eq!(chat_side.placement(), Placement::Chat(CHAT));
        assert_eq!(user_side.placement(), Placement::User(USER));
    }

    #[test]
    fn names_are_placed_by_their_canonical_form() {
        assert_eq!(name_key("Alice"), "alice");
        assert_eq!(
            Placement::Name(&name_key("ALICE")),
            Placement::Name(&name_key("alice"))
        );
        assert_ne!(Placement::Name("alice"), Placement::Name("bob"));
    }
}
