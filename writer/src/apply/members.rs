//! Chat creation and membership commands: who may join, leave and hold which role.

use super::*;

impl Batch<'_> {
    pub(super) async fn create_chat(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        kind: ChatKind,
        title: String,
        others: Vec<UserId>,
    ) -> Result<Handled, StoreError> {
        if let Some(st) = self.state(chat_id).await? {
            // A retried create (or the direct chat that already exists).
            if !st.members.contains_key(&actor) {
                return Ok(Err(Rejection::new(
                    Code::Forbidden,
                    "that chat id is taken",
                )));
            }
            // Its effects may never have been produced, nor its user-side rows
            // written (a writer killed after the chat's shard committed): both
            // again, for the members it named that still are.
            let chat = st.chat.clone();
            let members: Vec<Member> = std::iter::once(actor)
                .chain(others)
                .filter_map(|u| st.members.get(&u).map(|r| (u, *r)))
                .collect::<std::collections::BTreeMap<_, _>>()
                .into_iter()
                .map(|(user_id, role)| Member { user_id, role })
                .collect();
            for m in &members {
                self.mutations.push(Mutation::PutMembership {
                    user_id: m.user_id,
                    chat_id,
                    role: m.role,
                });
            }
            // Opening a direct chat one had left brings it back to one's
            // list, read up to where it is (its row was made again above).
            if let Some(st) = self.state(chat_id).await?
                && st.hidden.remove(&actor)
            {
                st.chat.last_pts += 1;
                let last_seq = st.chat.last_seq;
                self.mutations.push(Mutation::RemoveHidden {
                    chat_id,
                    user_id: actor,
                });
                self.mutations.push(Mutation::AdvanceCursor {
                    user_id: actor,
                    chat_id,
                    seq: last_seq,
                });
                self.touch(chat_id);
            }
            return Ok(Ok((
                ok_chat(&chat, true),
                Some(Event::ChatCreated { chat, members }),
            )));
        }
        let mut ids: Vec<UserId> = others.into_iter().filter(|u| *u != actor).collect();
        ids.sort();
        ids.dedup();
        match kind {
            ChatKind::Direct => {
                if ids.len() != 1 || direct_chat_id(actor, ids[0]) != chat_id {
                    return Ok(Err(Rejection::new(
                        Code::InvalidMembers,
                        "a direct chat has exactly one other member",
                    )));
                }
            }
            ChatKind::Group => {
                if let Err(r) = self.limits.check_title(&title) {
                    return Ok(Err(r));
                }
                if ids.len() > self.limits.max_initial_members {
                    return Ok(Err(Rejection::new(
                        Code::InvalidMembers,
                        "too many initial members",
                    )));
                }
            }
        }
        let found = self.store.users(&ids).await?;
        if found.len() != ids.len() {
            return Ok(Err(Rejection::new(
                Code::UserNotFound,
                "a member does not exist",
            )));
        }
        let blockers = self.store.blockers(actor, &ids).await?;
        let what = match kind {
            ChatKind::Direct => "this user blocked you",
            ChatKind::Group => "a user you named does not accept adds from you",
        };
        if let Err(r) = rules::check_not_blocked(blockers.len(), what) {
            return Ok(Err(r));
        }
        let mut members = vec![Member {
            user_id: actor,
            role: if kind == ChatKind::Group {
                Role::Admin
            } else {
                Role::Member
            },
        }];
        members.extend(ids.iter().map(|u| Member {
            user_id: *u,
            role: Role::Member,
        }));
        let chat = Chat {
            id: chat_id,
            kind,
            title: if kind == ChatKind::Group {
                title.trim().to_string()
            } else {
                String::new()
            },
            created_by: actor,
            created_at: now_ms(),
            last_seq: 0,
            last_pts: 0,
            member_count: members.len() as u32,
            last_message: None,
            pins: Vec::new(),
        };
        self.mutations.push(Mutation::InsertChat(chat.clone()));
        for m in &members {
            self.mutations.push(Mutation::PutMember {
                chat_id,
                member: *m,
            });
            self.mutations.push(Mutation::PutMembership {
                user_id: m.user_id,
                chat_id,
                role: m.role,
            });
        }
        // A direct chat opened by someone who blocked the other keeps the
        // block (the other's block of the opener refused it above).
        let blocked_by = match kind {
            ChatKind::Direct => self
                .store
                .blockers(ids[0], &[actor])
                .await?
                .into_iter()
                .collect(),
            ChatKind::Group => Default::default(),
        };
        self.states.insert(ChatState {
            chat: chat.clone(),
            members: members.iter().map(|m| (m.user_id, m.role)).collect(),
            banned: Default::default(),
            blocked_by,
            hidden: Default::default(),
        });
        self.touch(chat_id);
        Ok(Ok((
            ok_chat(&chat, false),
            Some(Event::ChatCreated { chat, members }),
        )))
    }

    pub(super) async fn add_member(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        user: UserId,
        role: Role,
    ) -> Result<Handled, StoreError> {
        let limits = self.limits;
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        if let Err(r) = rules::can_add_member(st.chat.kind, st.members.get(&actor).copied(), role) {
            return Ok(Err(r));
        }
        if let Err(r) = rules::check_not_banned(st.banned.contains(&user)) {
            return Ok(Err(r));
        }
        if !st.members.contains_key(&user)
            && let Err(r) = limits.check_group_room(st.members.len())
        {
            return Ok(Err(r));
        }
        if st.members.get(&user) == Some(&role) {
            let chat = st.chat.clone();
            return self.found_applied(chat, user, Some(role)).await;
        }
        if st.members.contains_key(&user) {
            return Ok(Err(Rejection::new(
                Code::AlreadyMember,
                "already a member; change the role instead",
            )));
        }
        if self.store.users(&[user]).await?.is_empty() {
            return Ok(Err(Rejection::new(Code::UserNotFound, "no such user")));
        }
        let blockers = self.store.blockers(actor, &[user]).await?;
        if let Err(r) =
            rules::check_not_blocked(blockers.len(), "this user does not accept adds from you")
        {
            return Ok(Err(r));
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        let joined_seq = st.chat.last_seq;
        st.chat.last_pts += 1;
        st.chat.member_count += 1;
        st.members.insert(user, role);
        let pts = st.chat.last_pts;
        let chat = st.chat.clone();
        // Where they joined: with history from the join, what they read
        // starts after it.
        self.mutations.push(Mutation::PutJoin {
            chat_id,
            user_id: user,
            joined_seq,
        });
        self.mutations.push(Mutation::PutMember {
            chat_id,
            member: Member {
                user_id: user,
                role,
            },
        });
        self.mutations.push(Mutation::PutMembership {
            user_id: user,
            chat_id,
            role,
        });
        self.touch(chat_id);
        Ok(Ok((
            ok_chat(&chat, false),
            Some(Event::MemberAdded {
                chat,
                user_id: user,
                role,
                pts,
            }),
        )))
    }

    pub(super) async fn remove_member(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        user: UserId,
        ban: bool,
    ) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        if st.chat.kind == ChatKind::Direct && actor == user && !ban {
            return self.hide(actor, chat_id).await;
        }
        let target = st.members.get(&user).copied();
        let actor_role = st.members.get(&actor).copied();
        if target.is_none() && (actor == user || actor_role.is_some_and(Role::is_staff)) {
            // Maybe removed by this very command, in a batch whose effects
            // were never produced: if so, answered and produced again (the
            // ban with it: writing it twice is harmless).
            let chat = st.chat.clone();
            let kind = chat.kind;
            let creator = chat.created_by;
            if let found @ Ok((_, Some(_))) = self.found_applied(chat, user, None).await? {
                if ban && actor != user {
                    // Gone already: banned as the plain member they are
                    // taken for now (never the creator), by whoever may.
                    let g = rules::Governance {
                        target_is_creator: user == creator,
                        last_admin: false,
                    };
                    if let Err(r) = rules::can_ban(kind, actor_role, Some(Role::Member), false, g) {
                        return Ok(Err(r));
                    }
                    self.ban(actor, chat_id, user).await?;
                }
                return Ok(found);
            }
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        let admins = st.members.values().filter(|r| **r == Role::Admin).count();
        let g = rules::Governance {
            target_is_creator: user == st.chat.created_by,
            last_admin: target == Some(Role::Admin) && admins == 1 && st.members.len() > 1,
        };
        let allowed = if ban {
            rules::can_ban(st.chat.kind, actor_role, target, actor == user, g)
        } else {
            rules::can_remove_member(st.chat.kind, actor_role, target, actor == user, g)
        };
        if let Err(r) = allowed {
            return Ok(Err(r));
        }
        st.chat.last_pts += 1;
        st.chat.member_count = st.chat.member_count.saturating_sub(1);
        st.members.remove(&user);
        let pts = st.chat.last_pts;
        let chat = st.chat.clone();
        self.mutations.push(Mutation::RemoveMember {
            chat_id,
            user_id: user,
        });
        self.mutations.push(Mutation::RemoveMembership {
            user_id: user,
            chat_id,
        });
        if ban {
            self.ban(actor, chat_id, user).await?;
        }
        self.touch(chat_id);
        Ok(Ok((
            ok_chat(&chat, false),
            Some(Event::MemberRemoved {
                chat_id,
                user_id: user,
                pts,
            }),
        )))
    }

    /// A member leaves a direct chat: out of their list (their user-side
    /// row goes), their connections stop following it; both stay members,
    /// so the other may still write — which brings it back (see `show`).
    async fn hide(&mut self, actor: UserId, chat_id: ChatId) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        if !st.members.contains_key(&actor) {
            return Ok(Err(not_found()));
        }
        // Left already (or this very command, retried): the same answer, its
        // effect produced again.
        let again = !st.hidden.insert(actor);
        if !again {
            // A change of the chat's rows: a migration copying it sees it moved.
            st.chat.last_pts += 1;
        }
        let chat = st.chat.clone();
        if !again {
            self.mutations.push(Mutation::PutHidden {
                chat_id,
                user_id: actor,
            });
            self.touch(chat_id);
        }
        self.mutations.push(Mutation::RemoveMembership {
            user_id: actor,
            chat_id,
        });
        Ok(Ok((
            ok_chat(&chat, again),
            Some(Event::ChatHidden {
                chat_id,
                user_id: actor,
            }),
        )))
    }

    /// Brings a direct chat back to the lists of the members who left it,
    /// before a message of `chat` (as it is before the message): their row
    /// again, read up to here (only what follows is unread), and an effect
    /// ahead of the message's so their connections follow the chat first.
    pub(super) fn show(&mut self, chat: &Chat, hidden: Vec<UserId>, accepted_at: i64) {
        for user in hidden {
            self.mutations.push(Mutation::RemoveHidden {
                chat_id: chat.id,
                user_id: user,
            });
            self.mutations.push(Mutation::PutMembership {
                user_id: user,
                chat_id: chat.id,
                role: Role::Member,
            });
            self.mutations.push(Mutation::AdvanceCursor {
                user_id: user,
                chat_id: chat.id,
                seq: chat.last_seq,
            });
            self.effects.push((
                chat.id,
                EffectRecord {
                    v: RECORD_VERSION,
                    accepted_at,
                    event: Some(Event::ChatShown {
                        chat: chat.clone(),
                        user_id: user,
                    }),
                    chat: None,
                    reply_to: None,
                    outcome: Outcome::Ok {
                        message: None,
                        chat: None,
                        duplicate: false,
                    },
                },
            ));
        }
    }

    /// Records a ban (the caller checked who may): a change of the chat
    /// like any other (a migration copying it sees it moved).
    async fn ban(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<(), StoreError> {
        if let Some(st) = self.state(chat_id).await? {
            st.banned.insert(user);
            st.chat.last_pts += 1;
        }
        self.touch(chat_id);
        self.mutations.push(Mutation::PutBan {
            chat_id,
            ban: Ban {
                user_id: user,
                banned_by: actor,
                banned_at: now_ms(),
            },
        });
        Ok(())
    }

    pub(super) async fn set_history(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        history: chat_core::model::HistoryVisibility,
    ) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        if let Err(r) = rules::can_change_settings(st.chat.kind, st.members.get(&actor).copied()) {
            return Ok(Err(r));
        }
        // A change of the chat (a migration copying it sees it moved).
        st.chat.last_pts += 1;
        let chat = st.chat.clone();
        self.mutations.push(Mutation::PutChatSettings {
            chat_id,
            settings: chat_core::model::ChatSettings { history },
        });
        self.touch(chat_id);
        Ok(Ok((ok_chat(&chat, false), None)))
    }

    pub(super) async fn unban(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        user: UserId,
    ) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        if let Err(r) = rules::can_unban(st.chat.kind, st.members.get(&actor).copied()) {
            return Ok(Err(r));
        }
        if st.banned.remove(&user) {
            // A change of the chat like any other (a migration copying the
            // chat sees it moved).
            st.chat.last_pts += 1;
            self.mutations.push(Mutation::RemoveBan {
                chat_id,
                user_id: user,
            });
            self.touch(chat_id);
        }
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        Ok(Ok((ok_chat(&st.chat, false), None)))
    }

    pub(super) async fn block(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        user: UserId,
        blocked: bool,
    ) -> Result<Handled, StoreError> {
        if user == actor || direct_chat_id(actor, user) != chat_id {
            return Ok(Err(Rejection::new(
                Code::Forbidden,
                "block another user, by their direct chat",
            )));
        }
        if self.store.users(&[user]).await?.is_empty() {
            return Ok(Err(Rejection::new(Code::UserNotFound, "no such user")));
        }
        // The direct chat's state (if the chat exists) is loaded before the
        // change, then changed with it: later sends in this batch see it.
        if let Some(st) = self.state(chat_id).await? {
            if blocked {
                st.blocked_by.insert(actor);
            } else {
                st.blocked_by.remove(&actor);
            }
            // Dropped with the batch if it fails (reloaded from the store).
            self.touch(chat_id);
        }
        self.mutations.push(if blocked {
            Mutation::PutBlock {
                user_id: actor,
                blocked_id: user,
                at: now_ms(),
            }
        } else {
            Mutation::RemoveBlock {
                user_id: actor,
                blocked_id: user,
            }
        });
        Ok(Ok((
            Outcome::Ok {
                message: None,
                chat: None,
                duplicate: false,
            },
            None,
        )))
    }

    pub(super) async fn set_role(
        &mut self,
        actor: UserId,
        chat_id: ChatId,
        user: UserId,
        role: Role,
    ) -> Result<Handled, StoreError> {
        let Some(st) = self.state(chat_id).await? else {
            return Ok(Err(not_found()));
        };
        let target = st.members.get(&user).copied();
        if let Err(r) = rules::can_set_role(
            st.chat.kind,
            st.members.get(&actor).copied(),
            target,
            actor == user,
            user == st.chat.created_by,
        ) {
            return Ok(Err(r));
        }
        if target == Some(role) {
            let chat = st.chat.clone();
            return self.found_applied(chat, user, Some(role)).await;
        }
        st.chat.last_pts += 1;
        st.members.insert(user, role);
        let pts = st.chat.last_pts;
        let chat = st.chat.clone();
        self.mutations.push(Mutation::PutMember {
            chat_id,
            member: Member {
                user_id: user,
                role,
            },
        });
        self.mutations.push(Mutation::PutMembership {
            user_id: user,
            chat_id,
            role,
        });
        self.touch(chat_id);
        Ok(Ok((
            ok_chat(&chat, false),
            Some(Event::RoleChanged {
                chat_id,
                user_id: user,
                role,
                pts,
            }),
        )))
    }

    /// A membership command whose change the chat already holds (`role`:
    /// the user's role, `None` for not a member): answered as a duplicate,
    /// with the latest recorded change about the user produced again when it
    /// is the one the chat holds, and the user-side row written again (a
    /// removal: only when one is recorded). A writer killed after the chat's
    /// shard committed wrote neither; consumers drop what they had (by pts).
    async fn found_applied(
        &mut self,
        chat: Chat,
        user: UserId,
        role: Option<Role>,
    ) -> Result<Handled, StoreError> {
        let chat_id = chat.id;
        let event = match (self.store.last_member_change(chat_id, user).await?, role) {
            (Some((pts, MemberChange::Added { role: r, .. })), Some(role)) if r == role => {
                Some(Event::MemberAdded {
                    chat: chat.clone(),
                    user_id: user,
                    role,
                    pts,
                })
            }
            (Some((pts, MemberChange::RoleChanged { role: r, .. })), Some(role)) if r == role => {
                Some(Event::RoleChanged {
                    chat_id,
                    user_id: user,
                    role,
                    pts,
                })
            }
            (Some((pts, MemberChange::Removed { .. })), None) => Some(Event::MemberRemoved {
                chat_id,
                user_id: user,
                pts,
            }),
            _ => None,
        };
        match role {
            Some(role) => self.mutations.push(Mutation::PutMembership {
                user_id: user,
                chat_id,
                role,
            }),
            None if event.is_some() => self.mutations.push(Mutation::RemoveMembership {
                user_id: user,
                chat_id,
            }),
            None => {}
        }
        Ok(Ok((ok_chat(&chat, true), event)))
    }
}
