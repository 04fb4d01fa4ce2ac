//! Delivering events to a connection: seq order, duplicates dropped, gaps and
//! resumes refilled from the store.

use chat_core::model::{Chat, MemberChange};

use crate::service::attach_reactions;

use super::*;

/// How a `presence_visibility` frame starts (serde writes `type` first).
const PRESENCE_VISIBILITY: &[u8] = br#"{"type":"presence_visibility""#;

impl<S: WsSink> Conn<S> {
    pub(super) async fn deliver(&mut self, push: Push) -> Result<(), Stop> {
        match push {
            Push::Message {
                chat_id,
                seq,
                accepted_at,
                json,
            } => {
                let Some(sub) = self.subs.get(&chat_id) else {
                    return Ok(());
                };
                let delivered = sub.delivered;
                if seq <= delivered {
                    metrics::DUPLICATES_DROPPED.inc();
                    return Ok(());
                }
                if seq > delivered + 1 {
                    // Events were lost, maybe this user's removal: check
                    // before sending anything from the store.
                    metrics::GAPS_FILLED.inc();
                    self.recheck_memberships(Some(chat_id)).await?;
                    if !self.subs.contains_key(&chat_id) {
                        return Ok(());
                    }
                    self.replay(chat_id, delivered, Some(seq - 1)).await?;
                }
                self.write(json).await?;
                if let Some(sub) = self.subs.get_mut(&chat_id) {
                    sub.delivered = sub.delivered.max(seq);
                }
                if accepted_at > 0 {
                    let ms = (now_ms() - accepted_at).max(0);
                    metrics::E2E_SECONDS.observe(ms as f64 / 1000.0);
                }
                Ok(())
            }
            Push::ChatEvent { chat_id, seq, json } => match self.subs.get(&chat_id) {
                Some(sub) if seq == 0 || seq > sub.floor => self.write(json).await,
                _ => Ok(()),
            },
            Push::Joined {
                chat_id,
                last_seq,
                json,
            } => {
                if !self.subs.contains_key(&chat_id) {
                    // A join may arrive late (produced again after a writer
                    // restart, replayed by fanout) after the removal that
                    // followed it: the store decides. A failed read follows
                    // the chat; the periodic membership check bounds that.
                    match self.st.deps.store.memberships(self.user).await {
                        Ok(list) if !list.iter().any(|m| m.chat_id == chat_id) => {
                            // Its removal's `Left` may still come: keep
                            // `left_seen` as it is.
                            metrics::STALE_JOINS_IGNORED.inc();
                            return Ok(());
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "membership check of a join failed; following the chat");
                        }
                    }
                    if self
                        .st
                        .hub
                        .subscribe(&chat_channel(chat_id), self.id, &self.txq)
                        .await
                        .is_err()
                    {
                        return Err(Stop::Gone);
                    }
                    // Added now: with history from the join, nothing up to
                    // here is theirs to read.
                    let floor = match self.st.service.history_floor(self.user, chat_id).await {
                        Ok(f) => f,
                        Err(e) => {
                            tracing::warn!(error = %e.message, "history setting read failed; following from the join");
                            last_seq
                        }
                    };
                    self.subs.insert(
                        chat_id,
                        ChatSub {
                            delivered: last_seq,
                            floor,
                        },
                    );
                    self.left_seen.remove(&chat_id);
                    self.write(json).await?;
                    // Messages published before the subscription took hold
                    // (the join and the chat's next message travel on two
                    // channels) are stored already: send them now.
                    return self.replay(chat_id, last_seq, None).await;
                }
                self.left_seen.remove(&chat_id);
                self.write(json).await
            }
            Push::MemberLeft {
                chat_id,
                user_id,
                json,
            } => {
                if !self.subs.contains_key(&chat_id) {
                    return Ok(());
                }
                self.write(json).await?;
                if user_id == self.user {
                    // In order with the chat's messages: none published after
                    // the removal reaches this connection.
                    self.left_seen.insert(chat_id);
                    self.stop_following(chat_id).await;
                }
                Ok(())
            }
            Push::Left { chat_id, json } => {
                if !self.left_seen.remove(&chat_id) {
                    self.write(json).await?;
                }
                self.stop_following(chat_id).await;
                Ok(())
            }
            Push::UserEvent { json } => {
                if json.starts_with(PRESENCE_VISIBILITY)
                    && let Ok(ServerFrame::PresenceVisibility { visibility }) =
                        serde_json::from_slice(&json)
                {
                    self.st.presence.visibility(self.user, visibility);
                }
                self.write(json).await
            }
            Push::Revoked { session } => {
                if session.is_some_and(|s| s != self.session) {
                    return Ok(());
                }
                self.end_revoked().await
            }
            Push::Resync => {
                // Events were lost while pub/sub was away: maybe this
                // session's end, maybe removals.
                let who = crate::auth::Verified {
                    user: self.user,
                    exp: 0,
                    session: self.session,
                };
                if self.session != 0
                    && let Err(e) = self.st.service.check_session(&who).await
                    && e.code == Code::SessionRevoked
                {
                    return self.end_revoked().await;
                }
                self.recheck_memberships(None).await?;
                // A change of presence visibility may have been lost too.
                match self.st.deps.store.presence_visibility(self.user).await {
                    Ok(v) => self.st.presence.visibility(self.user, v),
                    Err(e) => tracing::debug!(error = %e, "presence visibility not re-read"),
                }
                let chats: Vec<(ChatId, u64)> =
                    self.subs.iter().map(|(c, s)| (*c, s.delivered)).collect();
                for (chat, delivered) in chats {
                    self.replay(chat, delivered, None).await?;
                }
                Ok(())
            }
        }
    }

    /// Tells the client its session ended; the connection then closes (4001).
    async fn end_revoked(&mut self) -> Result<(), Stop> {
        self.write(error_frame(
            Code::SessionRevoked,
            "this session was logged out; log in again",
            None,
        ))
        .await?;
        Err(Stop::Revoked)
    }

    /// Checks against the store that the user is still a member of the chats
    /// this connection follows (`only`: of that one), and stops following
    /// those they are not, delivering the recorded removal first. The
    /// removal's pub/sub events may have been lost (a Redis blip, a full
    /// inbox): this bounds how long that goes unnoticed. A failed read
    /// leaves things as they are until the next check.
    pub(super) async fn recheck_memberships(&mut self, only: Option<ChatId>) -> Result<(), Stop> {
        let store = self.st.deps.store.clone();
        let member_of: std::collections::HashSet<ChatId> = match store.memberships(self.user).await
        {
            Ok(list) => list.into_iter().map(|m| m.chat_id).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "membership check failed; next time");
                return Ok(());
            }
        };
        let gone: Vec<ChatId> = self
            .subs
            .keys()
            .filter(|c| only.is_none_or(|o| o == **c) && !member_of.contains(*c))
            .copied()
            .collect();
        for chat in gone {
            metrics::REMOVALS_FOUND.inc();
            if let Ok(Some((pts, change @ MemberChange::Removed { .. }))) =
                store.last_member_change(chat, self.user).await
                && let Some(frame) = member_frame(chat, pts, change, None)
            {
                self.write(frame).await?;
            }
            self.left_seen.insert(chat);
            self.stop_following(chat).await;
        }
        Ok(())
    }

    /// Stops following a chat (the user is no longer a member).
    pub(super) async fn stop_following(&mut self, chat: ChatId) {
        if self.subs.remove(&chat).is_some() {
            self.st.hub.unsubscribe(&chat_channel(chat), self.id).await;
        }
    }

    /// Sends the stored messages with `after < seq <= upto` (or up to the newest)
    /// and advances the chat's delivered mark.
    pub(super) async fn replay(
        &mut self,
        chat: ChatId,
        after: u64,
        upto: Option<u64>,
    ) -> Result<(), Stop> {
        let mut from = after;
        loop {
            if upto.is_some_and(|u| from >= u) {
                return Ok(());
            }
            let page = match self
                .st
                .deps
                .store
                .messages(
                    chat,
                    HistoryPage::After {
                        after: from,
                        limit: REPLAY_PAGE,
                    },
                )
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "history read failed during replay");
                    return self
                        .unavailable("history is unavailable; resubscribe with since_seq")
                        .await;
                }
            };
            if page.is_empty() {
                return Ok(());
            }
            let mut page = page;
            let user = self.user;
            let store = self.st.deps.store.clone();
            if let Err(e) = attach_reactions(store.as_ref(), chat, user, page.iter_mut()).await {
                tracing::warn!(error = %e, "reactions read failed during replay");
                return self
                    .unavailable("history is unavailable; resubscribe with since_seq")
                    .await;
            }
            for m in page {
                if upto.is_some_and(|u| m.seq > u) {
                    return Ok(());
                }
                let seq = m.seq;
                self.write(message_frame(m)).await?;
                from = seq;
                if let Some(sub) = self.subs.get_mut(&chat) {
                    sub.delivered = sub.delivered.max(seq);
                }
            }
        }
    }

    /// Sends the chat's changes after `pts`: messages the client already holds
    /// (`seq <= held`) in their current state, and the recorded membership
    /// changes, rendered as the frames clients know.
    pub(super) async fn replay_changes(
        &mut self,
        chat: ChatId,
        mut pts: u64,
        held: u64,
    ) -> Result<(), Stop> {
        let floor = self.subs.get(&chat).map_or(0, |s| s.floor);
        // A `member_added` frame carries the chat as it is now: read once.
        let mut summary: Option<Chat> = None;
        loop {
            let page = match self
                .st
                .deps
                .store
                .changes_since(chat, pts, REPLAY_PAGE)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "change stream read failed during resume");
                    return self
                        .unavailable("changes are unavailable; resubscribe with since_pts")
                        .await;
                }
            };
            let full = page.len() as u32 == REPLAY_PAGE;
            let mut page = page;
            let shown = page.iter_mut().filter_map(|c| match c {
                Change::Message(m) if m.seq <= held && m.seq > floor => Some(m),
                _ => None,
            });
            let store = self.st.deps.store.clone();
            if let Err(e) = attach_reactions(store.as_ref(), chat, self.user, shown).await {
                tracing::warn!(error = %e, "reactions read failed during resume");
                return self
                    .unavailable("changes are unavailable; resubscribe with since_pts")
                    .await;
            }
            for change in page {
                pts = change.pts();
                match change {
                    Change::Message(m) if m.seq <= held && m.seq > floor => {
                        self.write(message_frame(m)).await?;
                    }
                    Change::Message(_) => {}
                    Change::Member { pts, change } => {
                        if summary.is_none() && matches!(change, MemberChange::Added { .. }) {
                            match self.st.service.chat_summary(chat).await {
                                Ok(found) => summary = found,
                                Err(e) => {
                                    tracing::warn!(error = %e.message, "chat read failed during resume");
                                    return self
                                        .unavailable(
                                            "changes are unavailable; resubscribe with since_pts",
                                        )
                                        .await;
                                }
                            }
                        }
                        if let Some(frame) = member_frame(chat, pts, change, summary.as_ref()) {
                            self.write(frame).await?;
                        }
                    }
                }
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Tells the client a store read failed and how to resume.
    async fn unavailable(&mut self, how: &'static str) -> Result<(), Stop> {
        self.write(error_frame(Code::Unavailable, how, None)).await
    }
}

/// A recorded membership change as the event frame clients receive; `None`
/// for an addition to a chat that no longer exists.
fn member_frame(
    chat_id: ChatId,
    pts: u64,
    change: MemberChange,
    chat: Option<&Chat>,
) -> Option<Bytes> {
    let event = match change {
        MemberChange::Added { user_id, role } => Event::MemberAdded {
            chat: chat?.clone(),
            user_id,
            role,
            pts,
        },
        MemberChange::Removed { user_id } => Event::MemberRemoved {
            chat_id,
            user_id,
            pts,
        },
        MemberChange::RoleChanged { user_id, role } => Event::RoleChanged {
            chat_id,
            user_id,
            role,
            pts,
        },
    };
    serde_json::to_vec(&event).ok().map(Bytes::from)
}

/// A stored message as the `message` event frame.
fn message_frame(message: chat_core::model::Message) -> Bytes {
    serde_json::to_vec(&Event::Message { message })
        .map(Bytes::from)
        .unwrap_or_default()
}
