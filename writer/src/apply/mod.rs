//! Turning one batch of commands into store mutations and effect records. The
//! rules themselves are in `chat_core::rules`; this module applies them to the
//! writer's state and records what changed.

use std::collections::{HashMap, HashSet};

use chat_core::model::{
    Ban, Chat, ChatKind, ForwardedFrom, LastMessage, Member, MemberChange, Message, Reaction, Role,
};
use chat_core::ports::{ClientKey, Mutation, Store};
use chat_core::rules::{self, Limits};
use chat_core::wire::{Command, CommandRecord, EffectRecord, Event, Outcome, RECORD_VERSION};
use chat_core::{ChatId, Code, MessageId, Rejection, StoreError, UserId, direct_chat_id, now_ms};

use crate::state::{ChatState, States};

mod members;

/// Collects the mutations and effects of one batch.
pub struct Batch<'a> {
    store: &'a dyn Store,
    states: &'a mut States,
    limits: &'a Limits,
    /// Store changes, applied in one transaction.
    pub mutations: Vec<Mutation>,
    /// Effect records to produce after the transaction, with their key.
    pub effects: Vec<(ChatId, EffectRecord)>,
    /// Chats whose counters changed (one `ChatCounters` each at the end).
    touched: Vec<ChatId>,
    touched_set: HashSet<ChatId>,
    /// Sends by idempotency key: those stored before this batch (looked up
    /// at its start) and this batch's own, so a repeat dedupes.
    sent: HashMap<(ChatId, UserId, String), Message>,
    /// The keys of `sent` that this batch itself sent.
    sent_here: HashSet<(ChatId, UserId, String)>,
    /// Messages written or changed in this batch (newer than the store).
    overlay: HashMap<(ChatId, u64), Message>,
    /// Reactions added (true) or removed in this batch, per message, in
    /// order (newer than the store).
    reacted: HashMap<(ChatId, u64), Vec<ReactionChange>>,
    /// When the command being handled was accepted (for the effects it
    /// adds ahead of its own).
    accepted_at: i64,
}

type Handled = Result<(Outcome, Option<Event>), Rejection>;

/// What a `send` command carries besides its chat.
struct Sent {
    message_id: MessageId,
    client_msg_id: String,
    text: String,
    reply_to_seq: Option<u64>,
    forwarded_from: Option<ForwardedFrom>,
    mentions: Vec<UserId>,
}

/// A reaction added (true) or removed by a user in this batch.
type ReactionChange = (UserId, String, bool);

fn ok_chat(chat: &Chat, duplicate: bool) -> Outcome {
    Outcome::Ok {
        message: None,
        chat: Some(chat.clone()),
        duplicate,
    }
}

fn ok_message(m: &Message, duplicate: bool) -> Outcome {
    Outcome::Ok {
        message: Some(m.clone()),
        chat: None,
        duplicate,
    }
}

/// One reaction added (`add`) or taken back by a user (`by_viewer`: the
/// one `list` is seen by) applied to a message's reactions.
fn apply_reaction(list: &mut Vec<Reaction>, emoji: &str, add: bool, by_viewer: bool) {
    match list.iter().position(|r| r.emoji == emoji) {
        Some(i) => {
            let r = &mut list[i];
            r.count = if add {
                r.count + 1
            } else {
                r.count.saturating_sub(1)
            };
            if by_viewer {
                r.mine = add;
            }
            if r.count == 0 {
                list.remove(i);
            }
        }
        None if add => list.push(Reaction {
            emoji: emoji.to_string(),
            count: 1,
            mine: by_viewer,
        }),
        None => {}
    }
}

fn not_found() -> Rejection {
    Rejection::new(Code::ChatNotFound, "no such chat")
}

impl<'a> Batch<'a> {
    /// An empty batch over the writer's state.
    pub fn new(store: &'a dyn Store, states: &'a mut States, limits: &'a Limits) -> Self {
        Batch {
            store,
            states,
            limits,
            mutations: Vec::new(),
            effects: Vec::new(),
            touched: Vec::new(),
            touched_set: HashSet::new(),
            sent: HashMap::new(),
            sent_here: HashSet::new(),
            overlay: HashMap::new(),
            reacted: HashMap::new(),
            accepted_at: 0,
        }
    }

    /// Looks up, in one query per shard, the idempotency keys of every send in
    /// the batch: a key already stored answers with the original message.
    pub async fn prefetch_duplicates(
        &mut self,
        commands: &[CommandRecord],
    ) -> Result<(), StoreError> {
        let keys: Vec<ClientKey> = commands
            .iter()
            .filter_map(|c| match &c.cmd {
                Command::Send {
                    chat_id,
                    client_msg_id,
                    ..
                } => Some((*chat_id, c.actor, client_msg_id.clone())),
                _ => None,
            })
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        for m in self.store.messages_by_client_ids(&keys).await? {
            self.sent
                .insert((m.chat_id, m.sender_id, m.client_msg_id.clone()), m);
        }
        Ok(())
    }

    /// Chats this batch changed; their states are dropped if the batch fails.
    pub fn touched(&self) -> &[ChatId] {
        &self.touched
    }

    fn touch(&mut self, chat: ChatId) {
        if self.touched_set.insert(chat) {
            self.touched.push(chat);
        }
    }

    /// Applies one command. A store failure aborts the whole batch.
    pub async fn handle(&mut self, rec: CommandRecord) -> Result<(), StoreError> {
        let chat_id = rec.cmd.chat_id();
        self.accepted_at = rec.accepted_at;
        let result = match rec.cmd.clone() {
            Command::CreateChat {
                chat_id,
                kind,
                title,
                members,
            } => {
                self.create_chat(rec.actor, chat_id, kind, title, members)
                    .await?
            }
            Command::Send {
                chat_id,
                message_id,
                client_msg_id,
                text,
                reply_to_seq,
                forwarded_from,
                mentions,
            } => {
                let sent = Sent {
                    message_id,
                    client_msg_id,
                    text,
                    reply_to_seq,
                    forwarded_from,
                    mentions,
                };
                self.send(rec.actor, chat_id, sent).await?
            }
            Command::Edit { chat_id, seq, text } => {
                self.edit(rec.actor, chat_id, seq, text).await?
            }
            Command::Delete { chat_id, seq } => self.delete(rec.actor, chat_id, seq).await?,
            Command::React {
                chat_id,
                seq,
                emoji,
                remove,
            } => self.react(rec.actor, chat_id, seq, emoji, !remove).await?,
            Command::Pin {
                chat_id,
                seq,
                unpin,
            } => self.pin(rec.actor, chat_id, seq, !unpin).await?,
            Command::AddMember {
                chat_id,
                user_id,
                role,
            } => self.add_member(rec.actor, chat_id, user_id, role).await?,
            Command::RemoveMember {
                chat_id,
                user_id,
                ban,
            } => self.remove_member(rec.actor, chat_id, user_id, ban).await?,
            Command::Unban { chat_id, user_id } => self.unban(rec.actor, chat_id, user_id).await?,
            Command::SetHistory { chat_id, history } => {
                self.set_history(rec.actor, chat_id, history).await?
            }
            Command::Block {
                chat_id,
                user_id,
                blocked,
            } => self.block(rec.actor, chat_id, user_id, blocked).await?,
            Command::SetRole {
                chat_id,
                user_id,
                role,
            } => self.set_role(rec.actor, chat_id, user_id, role).await?,
            Command::Read { chat_id, seq } => self.read(rec.actor, chat_id, seq).await?,
        };
        // A direct chat's id follows from its two users': whoever is not one
        // of them is answered as for no chat, whatever else was wrong, so
        // that no answer says whether two users talk.
        let result = match result {
            Err(_)
                if self.states.peek(chat_id).is_some_and(|st| {
                    st.chat.kind == ChatKind::Direct && !st.members.contains_key(&rec.actor)
                }) =>
            {
                Err(not_found())
            }
            r => r,
        };
        let (outcome, event) = match result {
            Ok((o, e)) => (o, e),
            Err(r) => {
                crate::metrics::REJECTED
                    .with_label_values(&[r.code.as_str()])
                    .inc();
                (Outcome::Rejected(r), None)
            }
        };
        // Membership and role changes join the chat's change stream (messages are
        // found there by their own pts), so a client that resumes gets them.
        let recorded = match &event {
            Some(Event::MemberAdded {
                user_id, role, pts, ..
            }) => Some((
                *pts,
                MemberChange::Added {
                    user_id: *user_id,
                    role: *role,
                },
            )),
            Some(Event::MemberRemoved { user_id, pts, .. }) => {
                Some((*pts, MemberChange::Removed { user_id: *user_id }))
            }
            Some(Event::RoleChanged {
                user_id, role, pts, ..
            }) => Some((
                *pts,
                MemberChange::RoleChanged {
                    user_id: *user_id,
                    role: *role,
                },
            )),
            _ => None,
        };
        if let Some((pts, change)) = recorded {
            self.mutations.push(Mutation::RecordChange {
                chat_id,
                pts,
                change,
            });
        }
        let chat = if event.is_some() {
            self.states.peek(chat_id).map(|s| s.chat.clone())
        } else {
            None
        };
        if event.is_none() && rec.reply_to.is_none() {
            return Ok(());
        }
        self.effects.push((
            chat_id,
            EffectRecord {
                v: RECORD_VERSION,
                accepted_at: rec.accepted_at,
                event,
                chat,
                reply_to: rec.reply_to,
                outcome,
            },
        ));
        Ok(())
    }

    /// Ends the batch: one counters update per changed chat.
    pub fn finish(mut self) -> (Vec<Mutation>, Vec<(ChatId, EffectRecord)>) {
        // One cursor update per (user, chat): the highest seq of the batch. They go
        // last, after any membership row the batch creates.
        let mut cursors: HashMap<(UserId, ChatId), u64> = HashMap::new();
        let mut order = Vec::new();
        self.mutations.retain(|m| match m {
            Mutation::AdvanceCursor {
                user_id,
                chat_id,
                seq,
            } => {
                let e = cursors.entry((*user_id, *chat_id)).or_insert_with(|| {
                    order.push((*user_id, *chat_id));
                    0
                });
                *e = (*e).max(*seq);
                false
            }
            _ => true,
        });
        for (user_id, chat_id) in order {
            self.mutations.push(Mutation::AdvanceCursor {
                user_id,
                chat_id,
                seq: cursors[&(user_id, chat_id)],
            });
        }
        for chat in std::mem::take(&mut self.touched) {
            if let Some(st) = self.states.peek(chat) {
                self.mutations.push(Mutation::ChatCounters {
                    chat_id: chat,
                    last_seq: st.chat.last_seq,
                    last_pts: st.chat.last_pts,
                    member_count: st.chat.member_count,
                    last_message: st.chat.last_message.clone(),
                });
            }
        }
        (self.mutations, self.effects)
    }

    async fn state(&mut self, chat: ChatId) -> Result<Option<&mut ChatState>, StoreError> {
        self.states.get(self.store, chat).await
    }

    async fn message(&mut self, chat: ChatId, seq: u64) -> Result<Option<Message>, StoreError> {
        if let Some(m) = self.overlay.get(&(chat, seq)) {
            return Ok(Some(m.clone()));
        }
        self.store.message(chat, seq).await
    }

    async fn send(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        sent: Sent,
    ) -> Result<Handled, StoreError> {
        let Sent {
            message_id,
            client_msg_id,
            text,
            reply_to_seq,
            forwarded_from,
            mentions,
        } = sent;
        let key = (chat_id, actor, client_msg_id.clone());
        if let Some(m) = self.sent.get(&key).cloned() {
            if self.sent_here.contains(&key) {
                // Its event is in this batch already.
                return Ok(Ok((ok_message(&m, true), None)));
            }
            // Stored by an earlier batch whose effects may never have been
            // produced (a writer killed between its commit and producing
            // them): produce the message again. Gateways drop what they
            // delivered (by seq), and the chat's summary travels with it, so
            // the cache catches up too. The sender's cursor (on the user's
            // shard, maybe never written) is advanced again.
            if self.state(chat_id).await?.is_none() {
                return Ok(Err(not_found()));
            }
            self.mutations.push(Mutation::AdvanceCursor {
                user_id: actor,
                chat_id,
                seq: m.seq,
            });
            return Ok(Ok((
                ok_message(&m, true),
                Some(Event::Message { message: m }),
            )));
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        if let Err(r) = rules::can_post(st.members.get(&actor).copied()) {
            return Ok(Err(r));
        }
        if let Err(r) = rules::check_not_blocked(
            st.blocked_by.iter().filter(|u| **u != actor).count(),
            "this user blocked you",
        ) {
            return Ok(Err(r));
        }
        let last_seq = st.chat.last_seq;
        if let Err(r) = self
            .limits
            .check_text(&text)
            .and(self.limits.check_client_msg_id(&client_msg_id))
        {
            return Ok(Err(r));
        }
        if let Some(r) = reply_to_seq
            && (r == 0 || r > last_seq)
        {
            return Ok(Err(Rejection::new(
                Code::MessageNotFound,
                "the message replied to does not exist",
            )));
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        // Members who left this direct chat get it back with this message.
        if !st.hidden.is_empty() {
            let hidden: Vec<UserId> = st.hidden.drain().collect();
            let before = st.chat.clone();
            self.show(&before, hidden, self.accepted_at);
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        st.chat.last_seq += 1;
        st.chat.last_pts += 1;
        // Mentions count for members only (not the author), as they are now.
        let mut mentioned: Vec<UserId> = Vec::new();
        for u in mentions {
            if u != actor && st.members.contains_key(&u) && !mentioned.contains(&u) {
                mentioned.push(u);
            }
        }
        mentioned.truncate(rules::MAX_MENTIONS);
        let msg = Message {
            id: message_id,
            chat_id,
            seq: st.chat.last_seq,
            sender_id: actor,
            client_msg_id,
            text,
            reply_to_seq,
            forwarded_from,
            created_at: now_ms(),
            edited_at: None,
            deleted: false,
            pts: st.chat.last_pts,
            reactions: Vec::new(),
            mentions: mentioned,
        };
        st.chat.last_message = Some(LastMessage::of(&msg));
        self.mutations.push(Mutation::InsertMessage(msg.clone()));
        for u in &msg.mentions {
            self.mutations.push(Mutation::PutMention {
                user_id: *u,
                chat_id,
                seq: msg.seq,
            });
        }
        // The sender has read everything up to their own message.
        self.mutations.push(Mutation::AdvanceCursor {
            user_id: actor,
            chat_id,
            seq: msg.seq,
        });
        self.sent.insert(key.clone(), msg.clone());
        self.sent_here.insert(key);
        self.overlay.insert((chat_id, msg.seq), msg.clone());
        self.touch(chat_id);
        crate::metrics::MESSAGES.inc();
        Ok(Ok((
            ok_message(&msg, false),
            Some(Event::Message { message: msg }),
        )))
    }

    async fn edit(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        seq: u64,
        text: String,
    ) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        let role = st.members.get(&actor).copied();
        if let Err(r) = rules::can_read(role) {
            return Ok(Err(r));
        }
        // A blocked user does not reach the blocker by rewriting old
        // messages either.
        if let Err(r) = rules::check_not_blocked(
            st.blocked_by.iter().filter(|u| **u != actor).count(),
            "this user blocked you",
        ) {
            return Ok(Err(r));
        }
        let Some(mut msg) = self.message(chat_id, seq).await? else {
            return Ok(Err(Rejection::new(
                Code::MessageNotFound,
                "no such message",
            )));
        };
        if let Err(r) =
            rules::can_edit(role, msg.sender_id == actor).and(self.limits.check_text(&text))
        {
            return Ok(Err(r));
        }
        if msg.deleted {
            return Ok(Err(Rejection::new(
                Code::MessageDeleted,
                "the message was deleted",
            )));
        }
        if msg.text == text {
            // Already so. When an earlier batch made this edit, its event may
            // never have been produced (see `send`): produce it again.
            let event = match msg.edited_at {
                Some(edited_at) if !self.overlay.contains_key(&(chat_id, seq)) => {
                    Some(Event::Edited {
                        chat_id,
                        seq,
                        text: msg.text.clone(),
                        edited_at,
                        pts: msg.pts,
                    })
                }
                _ => None,
            };
            return Ok(Ok((ok_message(&msg, true), event)));
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        st.chat.last_pts += 1;
        let pts = st.chat.last_pts;
        let edited_at = now_ms();
        msg.text = text.clone();
        msg.edited_at = Some(edited_at);
        msg.pts = pts;
        if st.chat.last_message.as_ref().is_some_and(|l| l.seq == seq) {
            st.chat.last_message = Some(LastMessage::of(&msg));
        }
        self.mutations.push(Mutation::EditMessage {
            chat_id,
            seq,
            text: text.clone(),
            edited_at,
            pts,
        });
        self.overlay.insert((chat_id, seq), msg.clone());
        self.touch(chat_id);
        Ok(Ok((
            ok_message(&msg, false),
            Some(Event::Edited {
                chat_id,
                seq,
                text,
                edited_at,
                pts,
            }),
        )))
    }

    async fn delete(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        seq: u64,
    ) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        let role = st.members.get(&actor).copied();
        if let Err(r) = rules::can_read(role) {
            return Ok(Err(r));
        }
        let Some(mut msg) = self.message(chat_id, seq).await? else {
            return Ok(Err(Rejection::new(
                Code::MessageNotFound,
                "no such message",
            )));
        };
        if let Err(r) = rules::can_delete(role, msg.sender_id == actor) {
            return Ok(Err(r));
        }
        if msg.deleted {
            // Already deleted; produced again unless this batch deleted it
            // (see `send`).
            let event = (!self.overlay.contains_key(&(chat_id, seq))).then_some(Event::Deleted {
                chat_id,
                seq,
                pts: msg.pts,
            });
            return Ok(Ok((ok_message(&msg, true), event)));
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        st.chat.last_pts += 1;
        let pts = st.chat.last_pts;
        msg.text.clear();
        msg.deleted = true;
        msg.pts = pts;
        if st.chat.last_message.as_ref().is_some_and(|l| l.seq == seq) {
            st.chat.last_message = Some(LastMessage::of(&msg));
        }
        // A deleted message is no longer pinned (the deletion tells it).
        let unpinned = st.chat.pins.contains(&seq).then(|| {
            st.chat.pins.retain(|p| *p != seq);
            st.chat.pins.clone()
        });
        self.mutations
            .push(Mutation::DeleteMessage { chat_id, seq, pts });
        if let Some(pins) = unpinned {
            self.mutations.push(Mutation::SetPins { chat_id, pins });
        }
        self.overlay.insert((chat_id, seq), msg.clone());
        self.touch(chat_id);
        Ok(Ok((
            ok_message(&msg, false),
            Some(Event::Deleted { chat_id, seq, pts }),
        )))
    }

    /// The reactions to a message as `viewer` sees them: the store's, and
    /// this batch's changes on top.
    async fn reactions(
        &mut self,
        chat: ChatId,
        seq: u64,
        viewer: UserId,
    ) -> Result<Vec<Reaction>, StoreError> {
        let mut list: Vec<Reaction> = self
            .store
            .reactions(chat, seq, seq, viewer)
            .await?
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        for (user, emoji, added) in self.reacted.get(&(chat, seq)).into_iter().flatten() {
            apply_reaction(&mut list, emoji, *added, *user == viewer);
        }
        Ok(list)
    }

    /// Adds (`add`) or takes back the actor's reaction to a message. A
    /// repeat changes nothing and is no error.
    async fn react(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        seq: u64,
        emoji: String,
        add: bool,
    ) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        let role = st.members.get(&actor).copied();
        if let Err(r) = rules::can_post(role).and(rules::check_emoji(&emoji)) {
            return Ok(Err(r));
        }
        if let Err(r) = rules::check_not_blocked(
            st.blocked_by.iter().filter(|u| **u != actor).count(),
            "this user blocked you",
        ) {
            return Ok(Err(r));
        }
        let mut msg = match self.live_message(chat_id, seq).await? {
            Ok(m) => m,
            Err(r) => return Ok(Err(r)),
        };
        let mut reactions = self.reactions(chat_id, seq, actor).await?;
        let mine = reactions.iter().any(|r| r.mine && r.emoji == emoji);
        if mine == add {
            msg.reactions = reactions;
            return Ok(Ok((ok_message(&msg, true), None)));
        }
        if add {
            if reactions.iter().filter(|r| r.mine).count() >= rules::MAX_REACTIONS_PER_USER {
                return Ok(Err(Rejection::new(
                    Code::QuotaExceeded,
                    format!(
                        "at most {} reactions of yours on a message: take one back first",
                        rules::MAX_REACTIONS_PER_USER
                    ),
                )));
            }
            if !reactions.iter().any(|r| r.emoji == emoji)
                && reactions.len() >= rules::MAX_EMOJI_PER_MESSAGE
            {
                return Ok(Err(Rejection::new(
                    Code::QuotaExceeded,
                    format!(
                        "at most {} different reactions on a message",
                        rules::MAX_EMOJI_PER_MESSAGE
                    ),
                )));
            }
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        st.chat.last_pts += 1;
        let pts = st.chat.last_pts;
        msg.pts = pts;
        self.mutations.push(Mutation::React {
            chat_id,
            seq,
            user_id: actor,
            emoji: emoji.clone(),
            add,
            pts,
        });
        self.overlay.insert((chat_id, seq), msg.clone());
        self.reacted
            .entry((chat_id, seq))
            .or_default()
            .push((actor, emoji.clone(), add));
        self.touch(chat_id);
        apply_reaction(&mut reactions, &emoji, add, true);
        msg.reactions = reactions;
        Ok(Ok((
            ok_message(&msg, false),
            Some(Event::Reaction {
                chat_id,
                seq,
                user_id: actor,
                emoji,
                added: add,
                pts,
            }),
        )))
    }

    /// Pins (`pin`) or unpins a message. A repeat changes nothing and is no
    /// error; a pin that is already there moves to the front.
    async fn pin(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        seq: u64,
        pin: bool,
    ) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        if let Err(r) = rules::can_pin(st.chat.kind, st.members.get(&actor).copied()) {
            return Ok(Err(r));
        }
        let pinned = st.chat.pins.contains(&seq);
        if pinned == pin {
            let chat = st.chat.clone();
            return Ok(Ok((ok_chat(&chat, true), None)));
        }
        if pin && let Err(r) = self.live_message(chat_id, seq).await? {
            return Ok(Err(r));
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        if pin && st.chat.pins.len() >= rules::MAX_PINS {
            return Ok(Err(Rejection::new(
                Code::QuotaExceeded,
                format!(
                    "at most {} pinned messages in a chat: unpin one first",
                    rules::MAX_PINS
                ),
            )));
        }
        if pin {
            st.chat.pins.insert(0, seq);
        } else {
            st.chat.pins.retain(|p| *p != seq);
        }
        st.chat.last_pts += 1;
        let pts = st.chat.last_pts;
        let pins = st.chat.pins.clone();
        let chat = st.chat.clone();
        self.mutations.push(Mutation::SetPins {
            chat_id,
            pins: pins.clone(),
        });
        self.touch(chat_id);
        Ok(Ok((
            ok_chat(&chat, false),
            Some(Event::Pinned {
                chat_id,
                seq,
                pinned: pin,
                user_id: actor,
                pins,
                pts,
            }),
        )))
    }

    /// A message that exists and is not deleted, or why not.
    async fn live_message(
        &mut self,
        chat_id: ChatId,
        seq: u64,
    ) -> Result<Result<Message, Rejection>, StoreError> {
        Ok(match self.message(chat_id, seq).await? {
            None => Err(Rejection::new(Code::MessageNotFound, "no such message")),
            Some(m) if m.deleted => Err(Rejection::new(
                Code::MessageDeleted,
                "the message was deleted",
            )),
            Some(m) => Ok(m),
        })
    }

    async fn read(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        seq: u64,
    ) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        if let Err(r) = rules::can_read(st.members.get(&actor).copied()) {
            return Ok(Err(r));
        }
        let seq = seq.min(st.chat.last_seq);
        self.mutations.push(Mutation::AdvanceCursor {
            user_id: actor,
            chat_id,
            seq,
        });
        Ok(Ok((
            Outcome::Ok {
                message: None,
                chat: None,
                duplicate: false,
            },
            Some(Event::Read {
                chat_id,
                user_id: actor,
                seq,
            }),
        )))
    }
}
