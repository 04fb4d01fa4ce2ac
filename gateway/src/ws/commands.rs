//! Frames from the client: parsing, subscriptions with resume, and commands
//! submitted to the log with their answers.

use super::*;
use crate::limits::Action;

impl<S: WsSink> Conn<S> {
    pub(super) async fn on_text(&mut self, text: Utf8Bytes) -> Result<(), Stop> {
        if text.len() > self.st.cfg.max_frame_bytes {
            let f = error_frame(
                Code::TooLarge,
                format!("frame exceeds {} bytes", self.st.cfg.max_frame_bytes),
                None,
            );
            return self.write(f).await;
        }
        let frame = match ClientFrame::parse(text.as_str()) {
            Ok(f) => f,
            Err(e) => {
                let code = e.code();
                metrics::ERRORS.with_label_values(&[code.as_str()]).inc();
                return self.write(error_frame(code, e.to_string(), None)).await;
            }
        };
        match self.on_frame(frame).await {
            Ok(()) => Ok(()),
            Err(Failure::Client(frame)) => self.write(frame).await,
            Err(Failure::Socket(stop)) => Err(stop),
        }
    }

    pub(super) async fn on_frame(&mut self, frame: ClientFrame) -> Result<(), Failure> {
        match frame {
            ClientFrame::Ping => self
                .write(encode(&ServerFrame::Pong))
                .await
                .map_err(Failure::Socket),
            ClientFrame::Typing { chat_id, reference } => {
                let fail = |e| Failure::in_chat(e, reference.clone(), chat_id);
                self.typing_limit
                    .check(self.st.service.limiter.limits(), Action::Typing)
                    .map_err(fail)?;
                let now = std::time::Instant::now();
                if let Some((chat, at)) = self.last_typing
                    && chat == chat_id
                    && now.duration_since(at) < TYPING_REPEAT
                {
                    return Ok(());
                }
                self.st
                    .service
                    .typing(self.user, chat_id)
                    .await
                    .map_err(fail)?;
                self.last_typing = Some((chat_id, now));
                Ok(())
            }
            ClientFrame::GetPresence { chat_id, reference } => {
                let view = self
                    .st
                    .service
                    .chat_presence(self.user, chat_id)
                    .await
                    .map_err(|e| Failure::in_chat(e, reference.clone(), chat_id))?;
                let frame = ServerFrame::PresenceList {
                    chat_id,
                    users: view.users,
                    online: view.online,
                    reference,
                };
                self.write(encode(&frame)).await.map_err(Failure::Socket)
            }
            ClientFrame::SyncProfiles { since } => {
                // Counted with the connection's subscriptions (both come in
                // a burst after a reconnect).
                self.sub_limit
                    .check(self.st.service.limiter.limits(), Action::Subscribe)
                    .map_err(|e| Failure::api(e, None))?;
                let frame = self
                    .st
                    .service
                    .sync_profiles(self.user, since)
                    .await
                    .map_err(|e| Failure::api(e, None))?;
                self.write(encode(&frame)).await.map_err(Failure::Socket)
            }
            ClientFrame::Auth { .. } => Err(Failure::api(
                ApiError::new(Code::BadJson, "already authenticated"),
                None,
            )),
            ClientFrame::Subscribe {
                chat_id,
                since_seq,
                since_pts,
            } => self.subscribe(chat_id, since_seq, since_pts).await,
            ClientFrame::Unsubscribe { chat_id } => {
                if self.subs.remove(&chat_id).is_some() {
                    let hub = self.st.hub.clone();
                    hub.unsubscribe(&chat_channel(chat_id), self.id).await;
                }
                self.write(encode(&ServerFrame::Unsubscribed { chat_id }))
                    .await
                    .map_err(Failure::Socket)
            }
            ClientFrame::Send {
                chat_id,
                client_msg_id,
                text,
                reply_to_seq,
            } => {
                let intent = Intent::Send {
                    chat_id,
                    client_msg_id: client_msg_id.clone(),
                    text,
                    reply_to_seq,
                };
                self.command(intent, Some(client_msg_id), None).await
            }
            ClientFrame::Forward {
                from_chat_id,
                seq,
                to_chat_id,
                client_msg_id,
            } => {
                let intent = Intent::Forward {
                    from_chat_id,
                    seq,
                    to_chat_id,
                    client_msg_id: client_msg_id.clone(),
                };
                self.command(intent, Some(client_msg_id), None).await
            }
            ClientFrame::Edit {
                chat_id,
                seq,
                text,
                reference,
            } => {
                self.command(Intent::Edit { chat_id, seq, text }, None, reference)
                    .await
            }
            ClientFrame::Delete {
                chat_id,
                seq,
                reference,
            } => {
                self.command(Intent::Delete { chat_id, seq }, None, reference)
                    .await
            }
            ClientFrame::Read { chat_id, seq } => {
                self.command(Intent::Read { chat_id, seq }, None, None)
                    .await
            }
            ClientFrame::React {
                chat_id,
                seq,
                emoji,
                remove,
                reference,
            } => {
                let intent = Intent::React {
                    chat_id,
                    seq,
                    emoji,
                    remove,
                };
                self.command(intent, None, reference).await
            }
            ClientFrame::Pin {
                chat_id,
                seq,
                unpin,
                reference,
            } => {
                let intent = Intent::Pin {
                    chat_id,
                    seq,
                    unpin,
                };
                self.command(intent, None, reference).await
            }
        }
    }

    /// Checks an intent with the service and submits its command; errors name
    /// the chat concerned.
    async fn command(
        &mut self,
        intent: Intent,
        client_msg_id: Option<String>,
        reference: Option<String>,
    ) -> Result<(), Failure> {
        let chat_id = intent.chat_id();
        let cmd = match self.st.service.prepare(self.user, intent).await {
            Ok(cmd) => cmd,
            Err(e) => {
                let r = client_msg_id.or(reference);
                return Err(Failure::in_chat(e, r, chat_id));
            }
        };
        self.submit(chat_id, cmd, client_msg_id, reference).await
    }

    pub(super) async fn subscribe(
        &mut self,
        chat: ChatId,
        since: Option<u64>,
        since_pts: Option<u64>,
    ) -> Result<(), Failure> {
        let st = self.st.clone();
        let fail = |e: ApiError| Failure::in_chat(e, None, chat);
        self.sub_limit
            .check(st.service.limiter.limits(), Action::Subscribe)
            .map_err(fail)?;
        st.service
            .check_reader(self.user, chat)
            .await
            .map_err(fail)?;
        // Subscribe first, then read: anything published from now on is queued, and
        // what was published before is in the store (delivered means persisted).
        if !self.subs.contains_key(&chat) {
            st.hub
                .subscribe(&chat_channel(chat), self.id, &self.txq)
                .await
                .map_err(|e| fail(e.into()))?;
        }
        let start = st
            .service
            .subscription_start(self.user, chat)
            .await
            .map_err(fail)?;
        let (last_seq, last_pts, read_seq) = (start.last_seq, start.last_pts, start.read_seq);
        let pins = start.pins;
        // Nothing from before the caller joined, when the group says so.
        let floor = st
            .service
            .history_floor(self.user, chat)
            .await
            .map_err(fail)?;
        let delivered = since.unwrap_or(last_seq).max(floor).min(last_seq);
        let max_replay = st.cfg.max_replay;
        // Changes after since_pts are bounded the same way (each change
        // moved the pts by one).
        let changes_behind = since_pts.map_or(0, |p| last_pts.saturating_sub(p));
        if last_seq - delivered > max_replay || changes_behind > max_replay {
            if !self.subs.contains_key(&chat) {
                st.hub.unsubscribe(&chat_channel(chat), self.id).await;
            }
            return Err(fail(ApiError::new(
                Code::ReplayTooLong,
                format!(
                    "{} messages and {changes_behind} changes behind (at most {max_replay} are replayed): page history over HTTP, then subscribe with since_seq from there (last_seq is {last_seq}, last_pts {last_pts})",
                    last_seq - delivered
                ),
            )));
        }
        self.subs.insert(chat, ChatSub { delivered, floor });
        self.write(encode(&ServerFrame::Subscribed {
            chat_id: chat,
            last_seq,
            last_pts,
            read_seq,
            pins,
        }))
        .await
        .map_err(Failure::Socket)?;
        if let Some(pts) = since_pts {
            // Changes to what the client holds (edits, deletes) and member and role
            // changes made while it was away; newer messages follow by seq.
            self.replay_changes(chat, pts, delivered)
                .await
                .map_err(Failure::Socket)?;
        }
        if since.is_some() || since_pts.is_some() {
            self.replay(chat, delivered, None)
                .await
                .map_err(Failure::Socket)?;
            let upto = self.subs.get(&chat).map_or(delivered, |s| s.delivered);
            self.write(encode(&ServerFrame::Synced {
                chat_id: chat,
                last_seq: upto,
            }))
            .await
            .map_err(Failure::Socket)?;
        }
        Ok(())
    }

    pub(super) async fn submit(
        &mut self,
        chat_id: ChatId,
        cmd: Command,
        client_msg_id: Option<String>,
        reference: Option<String>,
    ) -> Result<(), Failure> {
        let r = client_msg_id.clone().or_else(|| reference.clone());
        if self.replies.len() >= self.st.cfg.max_inflight {
            return Err(Failure::api(
                ApiError::new(
                    Code::TooManyRequests,
                    "too many commands in flight; wait for acks",
                ),
                r,
            ));
        }
        let pending: Pending = self
            .st
            .service
            .submit(self.user, cmd)
            .await
            .map_err(|e| Failure::api(e, r))?;
        self.replies.push(Box::pin(async move {
            match pending.wait().await {
                Ok(Outcome::Ok {
                    message, duplicate, ..
                }) => encode(&ServerFrame::Ack {
                    chat_id,
                    client_msg_id,
                    reference,
                    seq: message.as_ref().map(|m| m.seq),
                    message,
                    duplicate,
                }),
                Ok(Outcome::Rejected(rej)) => {
                    metrics::ERRORS
                        .with_label_values(&[rej.code.as_str()])
                        .inc();
                    encode(&ServerFrame::Rejected {
                        chat_id,
                        client_msg_id,
                        reference,
                        code: rej.code,
                        message: rej.message,
                    })
                }
                Err(e) => api_error_frame(e, client_msg_id.or(reference)),
            }
        }));
        Ok(())
    }
}
