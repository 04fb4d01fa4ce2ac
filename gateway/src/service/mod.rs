//! The gateway's service: every request a client can make, free of any
//! transport. The HTTP handlers (`http/`) and the WebSocket connection (`ws/`)
//! are peers over it: they parse their input, call one method here, and render
//! the answer (a JSON body and status, or a frame).
//!
//! What lives here: authentication of tokens, accounts, reads with their
//! authorization, and the pre-checks that turn a client's [`Intent`] into a log
//! [`Command`] (fast, clear errors; the writer checks again and is the
//! authority). Errors are [`ApiError`]s: a [`chat_core::Code`] and a message.

mod accounts;
mod live;
mod mute;
mod profiles;
mod search;

pub use live::{PresenceSetting, PresenceView};
pub use search::{SearchHit, SearchView};

use std::sync::Arc;

use chat_core::model::{
    Ban, Chat, ChatKind, ChatListEntry, ForwardedFrom, HistoryVisibility, Member, Message, Role,
};
use chat_core::ports::{HistoryPage, Store};
use chat_core::rules::{self, Limits};
use chat_core::wire::{Command, Outcome};
use chat_core::{ChatId, Code, IdGenerator, MessageId, UserId, direct_chat_id, keyed_group_id};
use serde::Serialize;

pub use accounts::{MAX_SESSIONS, Session, SessionView};

use crate::auth::Tokens;
use crate::commands::{Commander, Pending};
use crate::error::ApiError;
use crate::limits::Action;
use crate::reads::Reads;

/// Fills in the reactions to `messages` (of `chat`, in ascending seq) as
/// `viewer` sees them: one read per run of nearby seqs, so that scattered
/// messages (a resume's changes) do not read everything between them.
pub async fn attach_reactions<'m>(
    store: &dyn Store,
    chat: ChatId,
    viewer: UserId,
    messages: impl IntoIterator<Item = &'m mut Message>,
) -> Result<(), chat_core::StoreError> {
    /// Seqs further apart than this are read separately.
    const RUN: u64 = 256;
    let mut messages: Vec<&mut Message> = messages.into_iter().collect();
    let mut i = 0;
    while i < messages.len() {
        let first = messages[i].seq;
        let mut j = i + 1;
        while j < messages.len() && messages[j].seq >= first && messages[j].seq - first < RUN {
            j += 1;
        }
        let run = &mut messages[i..j];
        let last = run.iter().map(|m| m.seq).max().unwrap_or(first);
        for m in run.iter_mut() {
            m.reactions.clear();
        }
        for (seq, r) in store.reactions(chat, first, last, viewer).await? {
            if let Some(m) = run.iter_mut().find(|m| m.seq == seq) {
                m.reactions.push(r);
            }
        }
        i = j;
    }
    Ok(())
}

/// Most ids one `users` lookup may name.
pub const MAX_USER_LOOKUP: usize = 500;

/// Every request a client can make, whatever the transport.
pub struct Service {
    /// Input limits (text length, client id length, title, initial members).
    pub(crate) limits: Limits,
    /// Accounts are written here; history and single messages are read here.
    pub(crate) store: Arc<dyn Store>,
    /// Ids of new users, chats and messages.
    pub(crate) ids: Arc<IdGenerator>,
    /// Token keys.
    pub(crate) tokens: Tokens,
    /// Which login sessions live.
    pub(crate) sessions: std::sync::Arc<crate::sessions::Sessions>,
    /// How long a session lives without a refresh.
    pub(crate) refresh_ttl: std::time::Duration,
    /// Where revocations are published to every gateway.
    pub(crate) pubsub: std::sync::Arc<dyn chat_core::ports::PubSub>,
    /// Cached reads and membership checks.
    pub(crate) reads: Reads,
    /// Command submission and outcomes.
    pub(crate) commander: Commander,
    /// Password hashes computed at once (argon2id takes ~19 MiB and tens of ms
    /// of CPU each): a burst of logins waits here instead of starving the server.
    pub(crate) password_slots: tokio::sync::Semaphore,
    /// Requests waiting for a password slot; beyond [`MAX_PASSWORD_QUEUE`]
    /// a request is refused at once.
    pub(crate) password_queue: std::sync::atomic::AtomicUsize,
    /// Avatar uploads decoded at once (each may take tens of MiB and
    /// tens of ms of CPU).
    pub(crate) image_slots: tokio::sync::Semaphore,
    /// Rate limits.
    pub(crate) limiter: crate::limits::Limiter,
    /// Who is online.
    pub(crate) presence: Arc<dyn chat_core::presence::Presence>,
    /// Groups up to this many members list each member's presence.
    pub(crate) presence_group_limit: u32,
}

/// Most requests waiting for a password slot.
pub const MAX_PASSWORD_QUEUE: usize = 64;
/// Longest wait for a password slot.
pub const PASSWORD_QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A change a client asks of an existing chat; [`Service::prepare`] checks it
/// and turns it into the [`Command`] the writer applies. (Creating a chat is
/// [`Service::create_chat`].)
#[derive(Clone, Debug)]
pub enum Intent {
    /// Post a message.
    Send {
        /// Chat.
        chat_id: ChatId,
        /// The client's idempotency key.
        client_msg_id: String,
        /// Text.
        text: String,
        /// Seq of the message answered.
        reply_to_seq: Option<u64>,
    },
    /// Post a copy of another chat's message.
    Forward {
        /// Chat of the original.
        from_chat_id: ChatId,
        /// Seq of the original.
        seq: u64,
        /// Target chat.
        to_chat_id: ChatId,
        /// The client's idempotency key in the target chat.
        client_msg_id: String,
    },
    /// New text for one's own message.
    Edit {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Text.
        text: String,
    },
    /// Delete a message.
    Delete {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
    },
    /// Add (or take back) a reaction.
    React {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// One emoji.
        emoji: String,
        /// Take it back.
        remove: bool,
    },
    /// Pin (or unpin) a message.
    Pin {
        /// Chat.
        chat_id: ChatId,
        /// Message.
        seq: u64,
        /// Unpin it.
        unpin: bool,
    },
    /// Move the read cursor forward.
    Read {
        /// Chat.
        chat_id: ChatId,
        /// Highest seq read.
        seq: u64,
    },
    /// Add a member to a group.
    AddMember {
        /// Chat.
        chat_id: ChatId,
        /// New member.
        user_id: UserId,
        /// Their role.
        role: Role,
    },
    /// Change a member's role.
    SetRole {
        /// Chat.
        chat_id: ChatId,
        /// Member.
        user_id: UserId,
        /// New role.
        role: Role,
    },
    /// Remove a member (or leave, for oneself).
    RemoveMember {
        /// Chat.
        chat_id: ChatId,
        /// Member.
        user_id: UserId,
        /// Also bar them from being added again.
        ban: bool,
    },
    /// Lift a ban.
    Unban {
        /// Chat.
        chat_id: ChatId,
        /// The banned user.
        user_id: UserId,
    },
}

impl Intent {
    /// The chat the intent changes (the target of a forward).
    pub fn chat_id(&self) -> ChatId {
        match self {
            Intent::Forward { to_chat_id, .. } => *to_chat_id,
            Intent::Send { chat_id, .. }
            | Intent::Edit { chat_id, .. }
            | Intent::Delete { chat_id, .. }
            | Intent::React { chat_id, .. }
            | Intent::Pin { chat_id, .. }
            | Intent::Read { chat_id, .. }
            | Intent::AddMember { chat_id, .. }
            | Intent::SetRole { chat_id, .. }
            | Intent::RemoveMember { chat_id, .. }
            | Intent::Unban { chat_id, .. } => *chat_id,
        }
    }
}

/// A chat as its member sees it (`GET /chats/{id}`).
#[derive(Debug, Serialize)]
pub struct ChatView {
    /// The chat's summary with its last message.
    pub chat: Chat,
    /// The caller's role.
    pub role: Role,
    /// The caller's read cursor.
    pub read_seq: u64,
    /// Messages after the read cursor.
    pub unread: u64,
    /// Unread messages that mention the caller.
    pub mentions: u32,
    /// Until when the caller muted the chat (absent: not muted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub muted_until: Option<i64>,
    /// What the group's new members see of earlier messages.
    pub history: HistoryVisibility,
}

/// A page of history (`GET /chats/{id}/messages`).
#[derive(Debug, Serialize)]
pub struct HistoryView {
    /// Messages in ascending seq.
    pub messages: Vec<Message>,
    /// The chat's newest seq (from the summary; may lag the store briefly).
    pub last_seq: u64,
}

/// A read cursor after a move (`PUT /chats/{id}/read`).
#[derive(Debug, Serialize)]
pub struct CursorView {
    /// Chat.
    pub chat_id: ChatId,
    /// The cursor as stored (never lower than before).
    pub read_seq: u64,
}

/// Where a new subscription starts: the chat's positions as stored, read once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionStart {
    /// Newest seq.
    pub last_seq: u64,
    /// Newest change position.
    pub last_pts: u64,
    /// The caller's read cursor.
    pub read_seq: u64,
    /// The chat's pinned messages.
    pub pins: Vec<u64>,
}

impl Service {
    /// The user, session and expiry of a valid access token whose session
    /// lives.
    pub async fn authenticate(&self, token: &str) -> Result<crate::auth::Verified, ApiError> {
        let v = self.tokens.verify_full(token)?;
        self.sessions.check(&v).await?;
        Ok(v)
    }

    /// `Ok` while the session of a verified token lives.
    pub async fn check_session(&self, v: &crate::auth::Verified) -> Result<(), ApiError> {
        self.sessions.check(v).await
    }

    /// The chat list: every chat of the user, newest activity first.
    pub async fn chat_list(&self, me: UserId) -> Result<Vec<ChatListEntry>, ApiError> {
        self.reads.chat_list(me).await
    }

    /// A chat the caller belongs to, with their role and unread count.
    pub async fn chat(&self, me: UserId, chat: ChatId) -> Result<ChatView, ApiError> {
        let (chat, role) = self.reads.authorize(me, chat).await?;
        self.chat_view(me, chat, role).await
    }

    /// A chat as `me`, a member with `role`, sees it.
    pub(crate) async fn chat_view(
        &self,
        me: UserId,
        chat: Chat,
        role: Role,
    ) -> Result<ChatView, ApiError> {
        let mine = self.reads.membership(me, chat.id).await?;
        let read_seq = mine.as_ref().map_or(0, |m| m.read_seq);
        let mentions = mine.as_ref().map_or(0, |m| m.unread_mentions());
        let muted_until = mine.and_then(|m| m.muted_at(chat_core::now_ms()));
        let settings = self.store.chat_settings(chat.id).await?;
        Ok(ChatView {
            history: settings.history,
            unread: chat.last_seq.saturating_sub(read_seq),
            mentions,
            muted_until,
            chat,
            role,
            read_seq,
        })
    }

    /// The users a text names (`@name`), looked up at once; unknown names
    /// are plain text. The writer keeps those who are members.
    async fn mentioned(&self, text: &str) -> Result<Vec<UserId>, ApiError> {
        let names = rules::mentioned_names(text);
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let found =
            futures_util::future::join_all(names.iter().map(|n| self.store.user_by_name(n))).await;
        let mut ids = Vec::new();
        for r in found {
            if let Some(rec) = r? {
                ids.push(rec.user.id);
            }
        }
        Ok(ids)
    }

    /// Members of a chat the caller belongs to.
    pub async fn members(&self, me: UserId, chat: ChatId) -> Result<Vec<Member>, ApiError> {
        self.reads.authorize(me, chat).await?;
        self.reads.members(chat).await
    }

    /// Sets what a group's new members see of earlier messages (admins).
    pub async fn set_history(
        &self,
        me: UserId,
        chat: ChatId,
        history: HistoryVisibility,
    ) -> Result<Outcome, ApiError> {
        self.reads.authorize(me, chat).await?;
        let cmd = Command::SetHistory {
            chat_id: chat,
            history,
        };
        self.commander.run(me, cmd).await
    }

    /// The highest seq `me` may not read in `chat`: 0, or where they joined
    /// when the group shows new members only what follows.
    pub async fn history_floor(&self, me: UserId, chat: ChatId) -> Result<u64, ApiError> {
        // A direct chat has no setting: no store read on its subscribes and
        // history pages.
        if chat.is_direct()
            || self.store.chat_settings(chat).await?.history != HistoryVisibility::FromJoin
        {
            return Ok(0);
        }
        Ok(self.store.joined_seq(chat, me).await?)
    }

    /// Blocks (or unblocks) `user` for the caller: through the log, keyed by
    /// their direct chat, so the writer orders it with that chat's sends.
    pub async fn block(&self, me: UserId, user: UserId, blocked: bool) -> Result<(), ApiError> {
        if user == me {
            return Err(ApiError::new(Code::Forbidden, "you cannot block yourself"));
        }
        self.limiter.check(Action::Edit, &me.to_string()).await?;
        let cmd = Command::Block {
            chat_id: direct_chat_id(me, user),
            user_id: user,
            blocked,
        };
        self.commander.run(me, cmd).await.map(|_| ())
    }

    /// Users the caller blocked.
    pub async fn blocks(&self, me: UserId) -> Result<Vec<UserId>, ApiError> {
        Ok(self.store.blocks(me).await?)
    }

    /// Users banned from a group; its admins and moderators only.
    pub async fn bans(&self, me: UserId, chat: ChatId) -> Result<Vec<Ban>, ApiError> {
        let (_, role) = self.reads.authorize(me, chat).await?;
        if !role.is_staff() {
            return Err(ApiError::new(
                Code::Forbidden,
                "only admins and moderators see the bans",
            ));
        }
        Ok(self.store.bans(chat).await?)
    }

    /// A page of history of a chat the caller belongs to.
    pub async fn history(
        &self,
        me: UserId,
        chat: ChatId,
        page: HistoryPage,
    ) -> Result<HistoryView, ApiError> {
        self.limiter.check(Action::History, &me.to_string()).await?;
        let (c, _) = self.reads.authorize(me, chat).await?;
        let floor = self.history_floor(me, chat).await?;
        let page = match page {
            HistoryPage::After { after, limit } => HistoryPage::After {
                after: after.max(floor),
                limit,
            },
            p => p,
        };
        let mut messages = self.store.messages(chat, page).await?;
        messages.retain(|m| m.seq > floor);
        attach_reactions(self.store.as_ref(), chat, me, messages.iter_mut()).await?;
        Ok(HistoryView {
            messages,
            last_seq: c.last_seq,
        })
    }

    /// A page of history with `seq` in its middle: up to half of `limit`
    /// before it, it, and the rest after.
    pub async fn history_around(
        &self,
        me: UserId,
        chat: ChatId,
        seq: u64,
        limit: u32,
    ) -> Result<HistoryView, ApiError> {
        self.limiter.check(Action::History, &me.to_string()).await?;
        let (c, _) = self.reads.authorize(me, chat).await?;
        let floor = self.history_floor(me, chat).await?;
        let older = (limit / 2 + 1).min(limit);
        let mut messages = self
            .store
            .messages(
                chat,
                HistoryPage::Before {
                    before: seq.saturating_add(1),
                    limit: older,
                },
            )
            .await?;
        if limit > older {
            messages.extend(
                self.store
                    .messages(
                        chat,
                        HistoryPage::After {
                            after: seq.max(floor),
                            limit: limit - older,
                        },
                    )
                    .await?,
            );
        }
        messages.retain(|m| m.seq > floor);
        attach_reactions(self.store.as_ref(), chat, me, messages.iter_mut()).await?;
        Ok(HistoryView {
            messages,
            last_seq: c.last_seq,
        })
    }

    /// A chat's summary (cache, then store); `None` for an unknown chat.
    pub async fn chat_summary(&self, chat: ChatId) -> Result<Option<Chat>, ApiError> {
        Ok(self.reads.chats(&[chat]).await?.into_iter().next())
    }

    /// Checks that the caller may read a chat, before subscribing to it. Reads
    /// only the members on the way in; the chat itself only to tell an unknown
    /// chat from one the caller is not in.
    pub async fn check_reader(&self, me: UserId, chat: ChatId) -> Result<Role, ApiError> {
        if let Some(role) = self.reads.role(me, chat).await? {
            return Ok(role);
        }
        let found = self.reads.chats(&[chat]).await?.into_iter().next();
        Reads::check_member(found, None).map(|(_, role)| role)
    }

    /// Where a subscription starts, once it is active: the chat's positions as
    /// stored (not cached: anything newer than them now arrives live) and the
    /// caller's read cursor.
    pub async fn subscription_start(
        &self,
        me: UserId,
        chat: ChatId,
    ) -> Result<SubscriptionStart, ApiError> {
        let (last_seq, last_pts, pins) = self
            .store
            .chats(&[chat])
            .await?
            .pop()
            .map_or((0, 0, Vec::new()), |c| (c.last_seq, c.last_pts, c.pins));
        Ok(SubscriptionStart {
            last_seq,
            last_pts,
            read_seq: self.reads.read_seq(me, chat).await?,
            pins,
        })
    }

    /// Checks an intent at the gateway and builds its command.
    pub async fn prepare(&self, me: UserId, intent: Intent) -> Result<Command, ApiError> {
        let limit = match intent {
            Intent::Send { .. } | Intent::Forward { .. } => Some(Action::Send),
            Intent::Edit { .. }
            | Intent::Delete { .. }
            | Intent::React { .. }
            | Intent::Pin { .. } => Some(Action::Edit),
            _ => None,
        };
        if let Some(action) = limit {
            self.limiter.check(action, &me.to_string()).await?;
        }
        Ok(match intent {
            Intent::Send {
                chat_id,
                client_msg_id,
                text,
                reply_to_seq,
            } => {
                self.check_post(me, chat_id, &client_msg_id, &text).await?;
                let mentions = self.mentioned(&text).await?;
                Command::Send {
                    chat_id,
                    message_id: MessageId(self.ids.next()),
                    client_msg_id,
                    text,
                    reply_to_seq,
                    forwarded_from: None,
                    mentions,
                }
            }
            Intent::Forward {
                from_chat_id,
                seq,
                to_chat_id,
                client_msg_id,
            } => {
                self.reads.authorize(me, from_chat_id).await?;
                // A message from before the caller joined is not theirs to
                // read, so not to forward.
                let floor = self.history_floor(me, from_chat_id).await?;
                let orig = self
                    .store
                    .message(from_chat_id, seq)
                    .await?
                    .filter(|m| m.seq > floor)
                    .ok_or_else(|| ApiError::new(Code::MessageNotFound, "no such message"))?;
                if orig.deleted {
                    return Err(ApiError::new(
                        Code::MessageDeleted,
                        "a deleted message cannot be forwarded",
                    ));
                }
                self.check_post(me, to_chat_id, &client_msg_id, &orig.text)
                    .await?;
                // Forwarding a forward points at the original source.
                let forwarded_from = orig.forwarded_from.unwrap_or(ForwardedFrom {
                    chat_id: from_chat_id,
                    seq,
                    sender_id: orig.sender_id,
                });
                Command::Send {
                    chat_id: to_chat_id,
                    message_id: MessageId(self.ids.next()),
                    client_msg_id,
                    text: orig.text,
                    reply_to_seq: None,
                    forwarded_from: Some(forwarded_from),
                    // A forward quotes; it mentions nobody here.
                    mentions: Vec::new(),
                }
            }
            Intent::Edit { chat_id, seq, text } => {
                self.limits.check_text(&text)?;
                self.reads.authorize(me, chat_id).await?;
                Command::Edit { chat_id, seq, text }
            }
            Intent::Delete { chat_id, seq } => {
                self.reads.authorize(me, chat_id).await?;
                Command::Delete { chat_id, seq }
            }
            Intent::Read { chat_id, seq } => {
                self.reads.authorize(me, chat_id).await?;
                Command::Read { chat_id, seq }
            }
            Intent::React {
                chat_id,
                seq,
                emoji,
                remove,
            } => {
                rules::check_emoji(&emoji)?;
                let (_, role) = self.reads.authorize(me, chat_id).await?;
                rules::can_post(Some(role))?;
                // A message from before the caller joined is not theirs to
                // read, so not to react to (the writer does not know joins).
                if seq <= self.history_floor(me, chat_id).await? {
                    return Err(ApiError::new(Code::MessageNotFound, "no such message"));
                }
                Command::React {
                    chat_id,
                    seq,
                    emoji,
                    remove,
                }
            }
            Intent::Pin {
                chat_id,
                seq,
                unpin,
            } => {
                let (chat, role) = self.reads.authorize(me, chat_id).await?;
                rules::can_pin(chat.kind, Some(role))?;
                // Nor is a message from before the caller joined theirs to
                // pin (taking a pin away is).
                if !unpin && seq <= self.history_floor(me, chat_id).await? {
                    return Err(ApiError::new(Code::MessageNotFound, "no such message"));
                }
                Command::Pin {
                    chat_id,
                    seq,
                    unpin,
                }
            }
            Intent::AddMember {
                chat_id,
                user_id,
                role,
            } => {
                self.reads.authorize(me, chat_id).await?;
                self.check_chat_room(user_id).await?;
                Command::AddMember {
                    chat_id,
                    user_id,
                    role,
                }
            }
            Intent::SetRole {
                chat_id,
                user_id,
                role,
            } => {
                self.reads.authorize(me, chat_id).await?;
                Command::SetRole {
                    chat_id,
                    user_id,
                    role,
                }
            }
            Intent::RemoveMember {
                chat_id,
                user_id,
                ban,
            } => {
                self.reads.authorize(me, chat_id).await?;
                Command::RemoveMember {
                    chat_id,
                    user_id,
                    ban,
                }
            }
            Intent::Unban { chat_id, user_id } => {
                self.reads.authorize(me, chat_id).await?;
                Command::Unban { chat_id, user_id }
            }
        })
    }

    /// The chats-per-user quota, before `user` joins one more (checked
    /// here, from the cached memberships: concurrent joins may pass it by a
    /// few).
    async fn check_chat_room(&self, user: UserId) -> Result<(), ApiError> {
        let chats = self.reads.memberships(user).await?.len();
        Ok(self.limits.check_chat_room(chats)?)
    }

    /// A send's checks: the key and text are valid and the caller may post.
    async fn check_post(
        &self,
        me: UserId,
        chat: ChatId,
        client_msg_id: &str,
        text: &str,
    ) -> Result<(), ApiError> {
        self.limits.check_client_msg_id(client_msg_id)?;
        self.limits.check_text(text)?;
        let (_, role) = self.reads.authorize(me, chat).await?;
        rules::can_post(Some(role))?;
        Ok(())
    }

    /// Produces a command; returns once the log accepted it, with a handle on
    /// its outcome.
    pub async fn submit(&self, me: UserId, cmd: Command) -> Result<Pending, ApiError> {
        self.commander.submit(me, cmd).await
    }

    /// Checks, submits and waits for the outcome: a rejection is an error.
    pub async fn execute(&self, me: UserId, intent: Intent) -> Result<Outcome, ApiError> {
        let cmd = self.prepare(me, intent).await?;
        self.commander.run(me, cmd).await
    }

    /// Creates a direct chat (exactly one other member; the same id whoever
    /// asks) or a group, and waits for the outcome.
    pub async fn create_chat(
        &self,
        me: UserId,
        kind: ChatKind,
        title: String,
        members: Vec<UserId>,
        client_chat_id: Option<&str>,
    ) -> Result<Outcome, ApiError> {
        self.limiter
            .check(Action::CreateChat, &me.to_string())
            .await?;
        if kind == ChatKind::Group {
            self.limiter
                .check(Action::GroupsPerDay, &me.to_string())
                .await?;
            self.check_chat_room(me).await?;
        }
        let chat_id = match kind {
            ChatKind::Direct => {
                let mut others = members.iter().filter(|u| **u != me);
                match (others.next(), others.next()) {
                    (Some(other), None) => {
                        let id = direct_chat_id(me, *other);
                        // A new direct chat is one more chat for both (an
                        // existing one is only opened again).
                        if self.reads.chats(&[id]).await?.is_empty() {
                            self.check_chat_room(me).await?;
                            self.check_chat_room(*other).await?;
                        }
                        id
                    }
                    _ => {
                        return Err(ApiError::new(
                            Code::InvalidMembers,
                            "a direct chat needs exactly one other member",
                        ));
                    }
                }
            }
            ChatKind::Group => {
                self.limits.check_title(&title)?;
                if members.len() > self.limits.max_initial_members {
                    return Err(ApiError::new(
                        Code::InvalidMembers,
                        "too many initial members",
                    ));
                }
                match client_chat_id {
                    Some(key) => {
                        check_client_chat_id(key)?;
                        keyed_group_id(me, key)
                    }
                    None => ChatId(self.ids.next()),
                }
            }
        };
        let cmd = Command::CreateChat {
            chat_id,
            kind,
            title,
            members,
        };
        self.commander.run(me, cmd).await
    }

    /// Moves the caller's read cursor and answers it as stored.
    pub async fn read(
        &self,
        me: UserId,
        chat_id: ChatId,
        seq: u64,
    ) -> Result<CursorView, ApiError> {
        self.execute(me, Intent::Read { chat_id, seq }).await?;
        // From the store, not the cache: the cursor just moved there.
        let read_seq = self
            .store
            .memberships(me)
            .await?
            .iter()
            .find(|m| m.chat_id == chat_id)
            .map_or(0, |m| m.read_seq);
        Ok(CursorView { chat_id, read_seq })
    }
}

/// Most bytes of a `client_chat_id`.
const MAX_CLIENT_CHAT_ID: usize = 64;

/// A group creation's idempotency key: 1 to 64 printable ASCII characters.
fn check_client_chat_id(key: &str) -> Result<(), ApiError> {
    if key.is_empty()
        || key.len() > MAX_CLIENT_CHAT_ID
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ApiError::new(
            Code::InvalidClientChatId,
            format!("client_chat_id must be 1 to {MAX_CLIENT_CHAT_ID} printable ASCII characters"),
        ));
    }
    Ok(())
}
