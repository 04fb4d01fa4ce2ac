//! The contract every [`Store`] implementation must satisfy, as one function that
//! tests call against each implementation (SQLite here; MySQL shards too).
//! Panics with a message on the first violation.

use chat_core::model::{
    Chat, ChatKind, LastMessage, Member, Message, Reaction, Role, SessionRecord, User, UserRecord,
};
use chat_core::ports::{Change, Fence, HistoryPage, Mutation, Store};
use chat_core::{ChatId, MessageId, StoreError, UserId};

fn user(id: u64, name: &str) -> UserRecord {
    UserRecord {
        user: User::new(UserId(id), name.into(), 1),
        password_hash: "$argon2id$x".into(),
    }
}

/// A new, empty group chat created by `by` (for tests of a store).
pub fn chat(id: ChatId, by: UserId) -> Chat {
    Chat {
        id,
        kind: ChatKind::Group,
        title: "conformance".into(),
        created_by: by,
        created_at: 10,
        last_seq: 0,
        last_pts: 0,
        member_count: 2,
        last_message: None,
        pins: Vec::new(),
    }
}

fn msg(chat: ChatId, seq: u64, sender: UserId, key: &str) -> Message {
    Message {
        // Unique per chat and run, as generated ids are.
        id: MessageId(((chat.0 & 0xFFFF_FFFF) << 16) | seq),
        chat_id: chat,
        seq,
        sender_id: sender,
        client_msg_id: key.into(),
        text: format!("text {seq}"),
        reply_to_seq: (seq > 1).then_some(seq - 1),
        forwarded_from: None,
        created_at: 100 + seq as i64,
        edited_at: None,
        deleted: false,
        pts: seq,
        reactions: Vec::new(),
        mentions: Vec::new(),
    }
}

/// Runs the whole contract. `base` makes ids unique so that several runs can
/// share one database.
pub async fn check(store: &dyn Store, base: u64) {
    let (a, b) = (UserId(base + 1), UserId(base + 2));
    let name_a = format!("conf_a_{base}");
    // Accounts: unique names regardless of case.
    store
        .create_user(&user(a.0, &name_a))
        .await
        .expect("create a");
    store
        .create_user(&user(b.0, &format!("conf_b_{base}")))
        .await
        .expect("create b");
    match store
        .create_user(&user(base + 3, &name_a.to_uppercase()))
        .await
    {
        Err(StoreError::Conflict(_)) => {}
        other => panic!("a taken name must conflict, got {other:?}"),
    }
    let found = store
        .user_by_name(&name_a.to_uppercase())
        .await
        .expect("by name")
        .expect("found");
    assert_eq!(found.user.id, a);
    assert_eq!(found.password_hash, "$argon2id$x");
    // A new hash (an admin's reset or disable) replaces it; b's is kept.
    store
        .apply(&[Mutation::SetPasswordHash {
            user_id: a,
            password_hash: "!$argon2id$x".into(),
        }])
        .await
        .expect("set hash");
    let hash_of = |name: String| async move {
        store
            .user_by_name(&name)
            .await
            .expect("by name")
            .expect("found")
            .password_hash
    };
    assert_eq!(hash_of(name_a.clone()).await, "!$argon2id$x");
    assert_eq!(hash_of(format!("conf_b_{base}")).await, "$argon2id$x");
    assert!(
        store
            .user_by_name("conf_nobody")
            .await
            .expect("by name")
            .is_none()
    );
    let mut us = store
        .users(&[a, b, UserId(base + 99)])
        .await
        .expect("users");
    us.sort_by_key(|u| u.id);
    assert_eq!(us.iter().map(|u| u.id).collect::<Vec<_>>(), vec![a, b]);

    // A chat whose id has the top bit set (direct-chat ids do) round-trips.
    let c = ChatId((1 << 63) | base);
    let mut batch = vec![Mutation::InsertChat(chat(c, a))];
    for (u, role) in [(a, Role::Admin), (b, Role::Member)] {
        batch.push(Mutation::PutMember {
            chat_id: c,
            member: Member { user_id: u, role },
        });
        batch.push(Mutation::PutMembership {
            user_id: u,
            chat_id: c,
            role,
        });
    }
    store.apply(&batch).await.expect("create chat");
    let chats = store.chats(&[c, ChatId(base + 77)]).await.expect("chats");
    assert_eq!(chats.len(), 1);
    assert_eq!(chats[0], chat(c, a));
    let members = store.members(c).await.expect("members");
    assert_eq!(members.len(), 2);
    assert!(members.contains(&Member {
        user_id: a,
        role: Role::Admin
    }));

    // Messages, counters and cursors in one batch.
    let mut batch: Vec<Mutation> = (1..=5)
        .map(|s| {
            Mutation::InsertMessage(msg(c, s, if s % 2 == 0 { b } else { a }, &format!("k{s}")))
        })
        .collect();
    let last = msg(c, 5, a, "k5");
    batch.push(Mutation::ChatCounters {
        chat_id: c,
        last_seq: 5,
        last_pts: 5,
        member_count: 2,
        last_message: Some(LastMessage::of(&last)),
    });
    batch.push(Mutation::AdvanceCursor {
        user_id: a,
        chat_id: c,
        seq: 5,
    });
    store.apply(&batch).await.expect("messages");
    // A retried batch (after a partial failure across shards) is a no-op.
    store
        .apply(&batch)
        .await
        .expect("re-applying the same batch");

    let all = store
        .messages(
            c,
            HistoryPage::After {
                after: 0,
                limit: 100,
            },
        )
        .await
        .expect("after");
    assert_eq!(
        all.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(all[1], msg(c, 2, b, "k2"));
    let latest = store
        .messages(c, HistoryPage::Latest { limit: 2 })
        .await
        .expect("latest");
    assert_eq!(latest.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![4, 5]);
    let before = store
        .messages(
            c,
            HistoryPage::Before {
                before: 4,
                limit: 2,
            },
        )
        .await
        .expect("before");
    assert_eq!(before.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![2, 3]);
    let after = store
        .messages(c, HistoryPage::After { after: 3, limit: 1 })
        .await
        .expect("after");
    assert_eq!(after.iter().map(|m| m.seq).collect::<Vec<_>>(), vec![4]);
    assert_eq!(
        store.message(c, 3).await.expect("one"),
        Some(msg(c, 3, a, "k3"))
    );
    assert_eq!(store.message(c, 9).await.expect("none"), None);
    // Idempotency keys, many at once: only the sender's own key finds a message.
    let keys = vec![
        (c, b, "k4".to_string()),
        (c, a, "k4".to_string()),
        (c, a, "k1".to_string()),
        (ChatId(base + 77), a, "k1".to_string()),
    ];
    let mut found: Vec<u64> = store
        .messages_by_client_ids(&keys)
        .await
        .expect("by keys")
        .iter()
        .map(|m| m.seq)
        .collect();
    found.sort();
    assert_eq!(found, vec![1, 4]);
    assert!(
        store
            .messages_by_client_ids(&[])
            .await
            .expect("none")
            .is_empty()
    );
    let chat_now = store.chats(&[c]).await.expect("chat").remove(0);
    assert_eq!((chat_now.last_seq, chat_now.last_pts), (5, 5));
    assert_eq!(chat_now.last_message, Some(LastMessage::of(&last)));

    // Uniqueness fences: (chat, seq) and (chat, sender, client_msg_id). A failed
    // batch leaves nothing behind.
    let mut other = msg(c, 5, b, "other");
    other.id = MessageId(base + 999_999);
    let dup_seq = vec![
        Mutation::AdvanceCursor {
            user_id: b,
            chat_id: c,
            seq: 3,
        },
        Mutation::InsertMessage(other),
    ];
    assert!(
        matches!(store.apply(&dup_seq).await, Err(StoreError::Conflict(_))),
        "(chat, seq) is unique"
    );
    let dup_key = vec![Mutation::InsertMessage(msg(c, 6, a, "k1"))];
    assert!(
        matches!(store.apply(&dup_key).await, Err(StoreError::Conflict(_))),
        "client_msg_id is unique"
    );
    let ms = store.memberships(b).await.expect("memberships");
    assert_eq!(
        ms.iter().find(|m| m.chat_id == c).map(|m| m.read_seq),
        Some(0),
        "the failed batch changed nothing"
    );
    assert!(store.message(c, 6).await.expect("none").is_none());

    // Guards: cursors forward only; edits, deletes and counters only if newer.
    let guards = vec![
        Mutation::AdvanceCursor {
            user_id: a,
            chat_id: c,
            seq: 2,
        },
        Mutation::EditMessage {
            chat_id: c,
            seq: 2,
            text: "edited".into(),
            edited_at: 500,
            pts: 6,
        },
        Mutation::EditMessage {
            chat_id: c,
            seq: 2,
            text: "stale".into(),
            edited_at: 400,
            pts: 3,
        },
        Mutation::DeleteMessage {
            chat_id: c,
            seq: 3,
            pts: 7,
        },
        Mutation::ChatCounters {
            chat_id: c,
            last_seq: 5,
            last_pts: 7,
            member_count: 2,
            last_message: None,
        },
        Mutation::ChatCounters {
            chat_id: c,
            last_seq: 1,
            last_pts: 4,
            member_count: 9,
            last_message: None,
        },
    ];
    store.apply(&guards).await.expect("guards");
    let ms = store.memberships(a).await.expect("memberships");
    assert_eq!(
        ms.iter()
            .find(|m| m.chat_id == c)
            .map(|m| (m.read_seq, m.role)),
        Some((5, Role::Admin))
    );
    let m2 = store.message(c, 2).await.expect("m2").expect("exists");
    assert_eq!(
        (m2.text.as_str(), m2.edited_at, m2.pts, m2.seq),
        ("edited", Some(500), 6, 2)
    );
    let m3 = store.message(c, 3).await.expect("m3").expect("exists");
    assert!(m3.deleted && m3.text.is_empty() && m3.seq == 3);
    let chat_now = store.chats(&[c]).await.expect("chat").remove(0);
    assert_eq!(
        (chat_now.last_seq, chat_now.last_pts, chat_now.member_count),
        (5, 7, 2)
    );

    // Runs of counters and cursors over several chats (one statement each on
    // MariaDB): a first row without a last message and a long one after it, a
    // stale counter, a cursor key twice and a cursor that would go back.
    let c2 = ChatId(base + 20);
    store
        .apply(&[
            Mutation::InsertChat(chat(c2, a)),
            Mutation::PutMembership {
                user_id: a,
                chat_id: c2,
                role: Role::Member,
            },
        ])
        .await
        .expect("second chat");
    let mut long = msg(c2, 1, a, "long");
    long.text = "é".repeat(3000);
    let runs = vec![
        Mutation::InsertMessage(long.clone()),
        Mutation::ChatCounters {
            chat_id: c,
            last_seq: 5,
            last_pts: 7,
            member_count: 3,
            last_message: None,
        },
        Mutation::ChatCounters {
            chat_id: c2,
            last_seq: 1,
            last_pts: 1,
            member_count: 2,
            last_message: Some(LastMessage::of(&long)),
        },
        Mutation::AdvanceCursor {
            user_id: a,
            chat_id: c2,
            seq: 1,
        },
        Mutation::AdvanceCursor {
            user_id: a,
            chat_id: c,
            seq: 4,
        },
        Mutation::AdvanceCursor {
            user_id: a,
            chat_id: c2,
            seq: 0,
        },
    ];
    store.apply(&runs).await.expect("runs");
    let now = store.chats(&[c, c2]).await.expect("chats");
    let of = |id: ChatId| now.iter().find(|x| x.id == id).expect("chat");
    assert_eq!(
        (of(c).last_pts, of(c).member_count),
        (7, 2),
        "a counter update that is not newer changes nothing"
    );
    assert_eq!(
        (of(c2).last_seq, of(c2).last_pts, &of(c2).last_message),
        (1, 1, &Some(LastMessage::of(&long)))
    );
    let ms = store.memberships(a).await.expect("memberships");
    let read = |id: ChatId| ms.iter().find(|m| m.chat_id == id).map(|m| m.read_seq);
    assert_eq!((read(c), read(c2)), (Some(5), Some(1)));

    // The change stream: messages by their latest change, and recorded events.
    let role_changed = chat_core::model::MemberChange::RoleChanged {
        user_id: b,
        role: Role::Moder,
    };
    let ev = Mutation::RecordChange {
        chat_id: c,
        pts: 8,
        change: role_changed,
    };
    store
        .apply(&[ev.clone(), ev])
        .await
        .expect("record a change (twice: idempotent)");
    let changes = store.changes_since(c, 5, 10).await.expect("changes");
    let pts: Vec<u64> = changes.iter().map(|ch| ch.pts()).collect();
    assert_eq!(pts, vec![6, 7, 8], "changes after pts 5 in order");
    assert!(
        matches!(&changes[0], chat_core::ports::Change::Message(m) if m.seq == 2 && m.text == "edited")
    );
    assert!(
        matches!(&changes[2], chat_core::ports::Change::Member { pts: 8, change } if *change == role_changed)
    );
    assert_eq!(
        store.changes_since(c, 0, 2).await.expect("limited").len(),
        2,
        "limit holds"
    );
    let removed = chat_core::model::MemberChange::Removed { user_id: b };
    store
        .apply(&[Mutation::RecordChange {
            chat_id: c,
            pts: 9,
            change: removed,
        }])
        .await
        .expect("record a removal");
    assert_eq!(
        store.last_member_change(c, b).await.expect("last change"),
        Some((9, removed)),
        "the latest change about a member"
    );
    assert_eq!(
        store.last_member_change(c, a).await.expect("last change"),
        None,
        "nothing recorded about this member"
    );

    // Membership removal on both sides; role change keeps the cursor.
    store
        .apply(&[
            Mutation::PutMembership {
                user_id: a,
                chat_id: c,
                role: Role::Moder,
            },
            Mutation::RemoveMember {
                chat_id: c,
                user_id: b,
            },
            Mutation::RemoveMembership {
                user_id: b,
                chat_id: c,
            },
        ])
        .await
        .expect("membership changes");
    let ms = store.memberships(a).await.expect("memberships");
    assert_eq!(
        ms.iter()
            .find(|m| m.chat_id == c)
            .map(|m| (m.read_seq, m.role)),
        Some((5, Role::Moder))
    );
    // A mute is kept with the membership (a role change keeps it too) and
    // lifted.
    let mute = |until| Mutation::SetMute {
        user_id: a,
        chat_id: c,
        until,
    };
    let mine = || async {
        store
            .memberships(a)
            .await
            .expect("memberships")
            .into_iter()
            .find(|m| m.chat_id == c)
    };
    let muted_of = || async { mine().await.map(|m| m.muted_until) };
    assert_eq!(muted_of().await, Some(None), "not muted at first");
    store.apply(&[mute(Some(7_000))]).await.expect("mute");
    store
        .apply(&[Mutation::PutMembership {
            user_id: a,
            chat_id: c,
            role: Role::Moder,
        }])
        .await
        .expect("role again");
    assert_eq!(muted_of().await, Some(Some(7_000)));
    store.apply(&[mute(None)]).await.expect("unmute");
    assert_eq!(muted_of().await, Some(None));
    // Mentions are kept on the member's side; those after the cursor (5)
    // come with the membership.
    let mention = |seq| Mutation::PutMention {
        user_id: a,
        chat_id: c,
        seq,
    };
    store
        .apply(&[mention(4), mention(6), mention(7), mention(7)])
        .await
        .expect("mentions, one repeated");
    let mentions_of = || async { mine().await.map(|m| m.mentions) };
    assert_eq!(
        mentions_of().await,
        Some(vec![6, 7]),
        "unread ones, once each"
    );
    store
        .apply(&[Mutation::AdvanceCursor {
            user_id: a,
            chat_id: c,
            seq: 6,
        }])
        .await
        .expect("read");
    assert_eq!(mentions_of().await, Some(vec![7]));
    assert!(
        store
            .memberships(b)
            .await
            .expect("memberships")
            .iter()
            .all(|m| m.chat_id != c)
    );
    assert_eq!(store.members(c).await.expect("members").len(), 1);

    // Bans: kept once (a ban written again keeps the first), listed, lifted.
    let ban = chat_core::model::Ban {
        user_id: b,
        banned_by: a,
        banned_at: 10,
    };
    let again = chat_core::model::Ban {
        banned_at: 11,
        ..ban
    };
    store
        .apply(&[
            Mutation::PutBan { chat_id: c, ban },
            Mutation::PutBan {
                chat_id: c,
                ban: again,
            },
        ])
        .await
        .expect("ban");
    assert_eq!(store.bans(c).await.expect("bans"), vec![ban]);
    store
        .apply(&[Mutation::RemoveBan {
            chat_id: c,
            user_id: b,
        }])
        .await
        .expect("unban");
    assert!(store.bans(c).await.expect("bans").is_empty());

    // Settings and joins: defaults when absent, replaced when written.
    use chat_core::model::{ChatSettings, HistoryVisibility};
    assert_eq!(
        store.chat_settings(c).await.expect("settings"),
        ChatSettings::default()
    );
    assert_eq!(store.joined_seq(c, b).await.expect("joined"), 0);
    let from_join = ChatSettings {
        history: HistoryVisibility::FromJoin,
    };
    store
        .apply(&[
            Mutation::PutChatSettings {
                chat_id: c,
                settings: from_join,
            },
            Mutation::PutJoin {
                chat_id: c,
                user_id: b,
                joined_seq: 3,
            },
            Mutation::PutJoin {
                chat_id: c,
                user_id: b,
                joined_seq: 7,
            },
        ])
        .await
        .expect("settings and joins");
    assert_eq!(store.chat_settings(c).await.expect("settings"), from_join);
    assert_eq!(store.joined_seq(c, b).await.expect("joined"), 7);
    assert_eq!(store.joined_seq(c, a).await.expect("joined"), 0);

    // Blocks: by the blocker, and who of some users blocked someone.
    store
        .apply(&[
            Mutation::PutBlock {
                user_id: a,
                blocked_id: b,
                at: 1,
            },
            Mutation::PutBlock {
                user_id: a,
                blocked_id: b,
                at: 2,
            },
        ])
        .await
        .expect("block");
    assert_eq!(store.blocks(a).await.expect("blocks"), vec![b]);
    assert_eq!(store.blockers(b, &[a, b]).await.expect("blockers"), vec![a]);
    assert!(store.blockers(a, &[b]).await.expect("blockers").is_empty());
    store
        .apply(&[Mutation::RemoveBlock {
            user_id: a,
            blocked_id: b,
        }])
        .await
        .expect("unblock");
    assert!(store.blocks(a).await.expect("blocks").is_empty());
    // Who left a direct chat.
    store
        .apply(&[
            Mutation::PutHidden {
                chat_id: c,
                user_id: b,
            },
            Mutation::PutHidden {
                chat_id: c,
                user_id: b,
            },
            Mutation::PutHidden {
                chat_id: c,
                user_id: a,
            },
        ])
        .await
        .expect("hide");
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(store.hidden(c).await.expect("hidden"), both);
    store
        .apply(&[Mutation::RemoveHidden {
            chat_id: c,
            user_id: a,
        }])
        .await
        .expect("show");
    assert_eq!(store.hidden(c).await.expect("hidden"), vec![b]);
    check_sessions(store, a, b).await;
    check_fencing(store, base).await;
    check_search(store, base, a).await;
    check_profiles(store, base, a, b).await;
    check_reactions(store, c, a, b).await;
    check_pins(store, c).await;
    store.ping().await.expect("ping");
}

/// Pins: kept with the chat in the order given, replaced whole, none read
/// as empty.
async fn check_pins(store: &dyn Store, c: ChatId) {
    let pins_of = || async { store.chats(&[c]).await.expect("chat")[0].pins.clone() };
    assert!(pins_of().await.is_empty(), "none at first");
    let set = |pins: Vec<u64>| Mutation::SetPins { chat_id: c, pins };
    store.apply(&[set(vec![3, 1])]).await.expect("pin");
    assert_eq!(pins_of().await, [3, 1]);
    store.apply(&[set(vec![2, 3, 1])]).await.expect("pin");
    assert_eq!(pins_of().await, [2, 3, 1], "the latest first, as given");
    store.apply(&[set(Vec::new())]).await.expect("unpin");
    assert!(pins_of().await.is_empty());
}

/// Reactions: counted per emoji in the order of first use, `mine` for the
/// viewer, an add repeated or a remove of none changes nothing, and each
/// moves the message's pts (only forward) so that the change stream finds it.
async fn check_reactions(store: &dyn Store, c: ChatId, a: UserId, b: UserId) {
    let react = |user, emoji: &str, add, pts| Mutation::React {
        chat_id: c,
        seq: 2,
        user_id: user,
        emoji: emoji.into(),
        add,
        pts,
    };
    let before = store.message(c, 2).await.expect("m2").expect("exists").pts;
    store
        .apply(&[
            react(a, "👍", true, 100),
            react(b, "🎉", true, 101),
            react(b, "👍", true, 102),
            react(b, "👍", true, 102),
            react(a, "❤️", true, 103),
            react(a, "❤️", false, 104),
            react(a, "🙈", false, 104),
        ])
        .await
        .expect("reactions");
    let seen = |list: Vec<(u64, Reaction)>| -> Vec<(u64, String, u32, bool)> {
        list.into_iter()
            .map(|(s, r)| (s, r.emoji, r.count, r.mine))
            .collect()
    };
    assert_eq!(
        seen(store.reactions(c, 1, 5, a).await.expect("reactions")),
        vec![(2, "👍".into(), 2, true), (2, "🎉".into(), 1, false)],
        "in the order of first use, the viewer's marked"
    );
    assert_eq!(
        seen(store.reactions(c, 2, 2, b).await.expect("reactions")),
        vec![(2, "👍".into(), 2, true), (2, "🎉".into(), 1, true)]
    );
    assert!(store.reactions(c, 3, 5, a).await.expect("none").is_empty());
    let m2 = store.message(c, 2).await.expect("m2").expect("exists");
    assert_eq!(m2.pts, 104.max(before), "the message moved with them");
    assert!(m2.reactions.is_empty(), "a message read alone carries none");
    let changed = store.changes_since(c, 103, 10).await.expect("changes");
    assert!(
        changed
            .iter()
            .any(|ch| matches!(ch, Change::Message(m) if m.seq == 2)),
        "resume finds the message: {changed:?}"
    );
    // A stale change moves nothing back.
    store
        .apply(&[react(a, "🎉", true, 50)])
        .await
        .expect("late");
    let m2 = store.message(c, 2).await.expect("m2").expect("exists");
    assert_eq!(m2.pts, 104.max(before));
}

/// Sessions: a login is kept once, a rotation is a compare-and-set on the
/// generation, revocation ends one session or all, purging forgets the dead.
/// Profiles: defaults until set, partial changes, avatars set and removed,
/// and who changed since a time.
async fn check_profiles(store: &dyn Store, base: u64, a: UserId, b: UserId) {
    use chat_core::model::{Avatar, ProfilePatch};
    let one = |id: UserId| async move {
        store
            .users(&[id])
            .await
            .expect("users")
            .pop()
            .expect("found")
    };
    // Presence visibility: everyone until chosen; a choice alone is no
    // profile change.
    use chat_core::presence::Visibility;
    let visibility = |id: UserId| async move {
        store
            .presence_visibility(id)
            .await
            .expect("presence visibility")
    };
    assert_eq!(visibility(b).await, Visibility::Everyone);
    for v in [Visibility::Contacts, Visibility::Nobody] {
        store
            .apply(&[Mutation::SetPresenceVisibility {
                user_id: b,
                visibility: v,
            }])
            .await
            .expect("set presence visibility");
        assert_eq!(visibility(b).await, v);
    }
    assert_eq!(visibility(a).await, Visibility::Everyone, "b's alone");
    let fresh = one(b).await;
    assert_eq!(fresh.display_name, fresh.name, "the login name until set");
    assert_eq!((fresh.about.as_str(), &fresh.avatar), ("", &None));
    assert_eq!(fresh.updated_at, fresh.created_at);

    // Times of this run only (other runs may share the database).
    let t0 = chat_core::now_ms() + 10_000_000 + (base % 1000) as i64 * 1000;
    let patch = |d: Option<&str>, a: Option<&str>| ProfilePatch {
        display_name: d.map(str::to_string),
        about: a.map(str::to_string),
    };
    let set = |p: ProfilePatch, at: i64| async move {
        store
            .apply(&[Mutation::SetProfile {
                user_id: a,
                patch: p,
                at,
            }])
            .await
            .expect("set profile")
    };
    set(patch(Some("Алиса 🌸 Ünïcode"), None), t0 + 1).await;
    let u = one(a).await;
    assert_eq!(u.display_name, "Алиса 🌸 Ünïcode");
    assert_eq!((u.about.as_str(), u.updated_at), ("", t0 + 1));
    set(patch(None, Some("line one\nline two")), t0 + 2).await;
    let u = one(a).await;
    assert_eq!(u.display_name, "Алиса 🌸 Ünïcode", "kept when not given");
    assert_eq!(
        (u.about.as_str(), u.updated_at),
        ("line one\nline two", t0 + 2)
    );
    let by_name = store
        .user_by_name(&u.name)
        .await
        .expect("by name")
        .expect("found");
    assert_eq!(by_name.user, u, "a login answers the profile too");
    store
        .apply(&[Mutation::SetPresenceVisibility {
            user_id: a,
            visibility: Visibility::Contacts,
        }])
        .await
        .expect("set presence visibility");
    assert_eq!(one(a).await, u, "the profile is unchanged by it");
    assert_eq!(visibility(a).await, Visibility::Contacts);

    let image = Avatar {
        tag: format!("tag{base}"),
        content_type: "image/webp".into(),
        bytes: (0..=255u8).cycle().take(40_000).collect(),
    };
    store
        .apply(&[Mutation::SetAvatar {
            user_id: a,
            avatar: Some(image.clone()),
            at: t0 + 3,
        }])
        .await
        .expect("set avatar");
    assert_eq!(store.avatar(a).await.expect("avatar"), Some(image.clone()));
    assert_eq!(store.avatar(b).await.expect("avatar"), None);
    let u = one(a).await;
    assert_eq!(u.avatar.as_deref(), Some(image.tag.as_str()));
    assert_eq!(
        u.display_name, "Алиса 🌸 Ünïcode",
        "an avatar keeps the rest"
    );

    let changed = |since: i64| async move {
        store
            .profiles_since(since, 10_000)
            .await
            .expect("profiles since")
            .into_iter()
            .filter(|u| u.id == a || u.id == b)
            .collect::<Vec<_>>()
    };
    let seen = changed(t0).await;
    assert_eq!(seen.len(), 1, "a once, b never changed: {seen:?}");
    assert_eq!((seen[0].id, seen[0].updated_at), (a, t0 + 3));
    assert!(
        changed(t0 + 3).await.is_empty(),
        "nothing after the last change"
    );
    let page = store.profiles_since(t0, 1).await.expect("limit");
    assert!(page.len() <= 1);

    store
        .apply(&[Mutation::SetAvatar {
            user_id: a,
            avatar: None,
            at: t0 + 4,
        }])
        .await
        .expect("remove avatar");
    assert_eq!(store.avatar(a).await.expect("avatar"), None);
    let u = one(a).await;
    assert_eq!((u.avatar, u.updated_at), (None, t0 + 4));
    // A first change that is an avatar creates the profile with defaults.
    store
        .apply(&[Mutation::SetAvatar {
            user_id: b,
            avatar: Some(image.clone()),
            at: t0 + 5,
        }])
        .await
        .expect("avatar of b");
    let u = one(b).await;
    assert_eq!(u.display_name, u.name);
    assert_eq!(u.avatar.as_deref(), Some(image.tag.as_str()));
    assert_eq!(visibility(b).await, Visibility::Nobody, "kept by a change");
    let seen = changed(t0 + 3).await;
    assert_eq!(
        seen.iter()
            .map(|u| (u.id, u.updated_at))
            .collect::<Vec<_>>(),
        vec![(a, t0 + 4), (b, t0 + 5)],
        "oldest change first"
    );
}

async fn check_sessions(store: &dyn Store, a: UserId, b: UserId) {
    let session = |id: u64, at: i64| SessionRecord {
        user_id: a,
        id,
        generation: 0,
        secret_hash: format!("hash-{id}"),
        device: "conformance".into(),
        created_at: at,
        used_at: at,
        expires_at: at + 1000,
        revoked_at: None,
    };
    let big = u64::MAX - 3; // ids use all 64 bits
    store
        .apply(&[
            Mutation::PutSession(session(big, 100)),
            Mutation::PutSession(session(7, 200)),
        ])
        .await
        .expect("sessions");
    // A retried login keeps the stored row.
    let mut again = session(7, 200);
    again.secret_hash = "other".into();
    store
        .apply(&[Mutation::PutSession(again)])
        .await
        .expect("retried login");
    assert_eq!(
        store.session(a, big).await.expect("session"),
        Some(session(big, 100))
    );
    let listed = store.sessions(a).await.expect("sessions");
    assert_eq!(
        listed,
        vec![session(7, 200), session(big, 100)],
        "newest first"
    );
    assert!(store.sessions(b).await.expect("sessions").is_empty());
    assert_eq!(store.session(b, 7).await.expect("session"), None);

    let rotate = |generation: u64, hash: &str, at: i64| Mutation::RotateSession {
        user_id: a,
        session_id: 7,
        generation,
        secret_hash: hash.into(),
        used_at: at,
        expires_at: at + 1000,
    };
    store.apply(&[rotate(0, "r1", 300)]).await.expect("rotate");
    // The same generation again (the token rotated already) changes nothing.
    store.apply(&[rotate(0, "r1b", 301)]).await.expect("stale");
    let s = store.session(a, 7).await.expect("session").expect("kept");
    assert_eq!((s.generation, s.secret_hash.as_str()), (1, "r1"));
    assert_eq!((s.used_at, s.expires_at), (300, 1300));
    // An expired session does not rotate.
    store.apply(&[rotate(1, "late", 5000)]).await.expect("late");
    let s = store.session(a, 7).await.expect("session").expect("kept");
    assert_eq!(s.generation, 1, "an expired session does not rotate");

    store
        .apply(&[Mutation::RevokeSessions {
            user_id: a,
            session_id: Some(big),
            at: 400,
        }])
        .await
        .expect("revoke one");
    let s = store.session(a, big).await.expect("session").expect("kept");
    assert_eq!(s.revoked_at, Some(400));
    store.apply(&[rotate(1, "r2", 450)]).await.expect("rotate");
    assert!(
        store
            .session(a, 7)
            .await
            .expect("s")
            .expect("s")
            .is_live(460)
    );
    store
        .apply(&[Mutation::RevokeSessions {
            user_id: a,
            session_id: None,
            at: 500,
        }])
        .await
        .expect("revoke all");
    let all = store.sessions(a).await.expect("sessions");
    assert_eq!(
        all.iter().map(|s| s.revoked_at).collect::<Vec<_>>(),
        vec![Some(500), Some(400)],
        "a revocation time is kept"
    );
    // A revoked session does not rotate.
    store.apply(&[rotate(2, "r3", 550)]).await.expect("revoked");
    let s = store.session(a, 7).await.expect("session").expect("kept");
    assert_eq!(s.generation, 2);
    store
        .apply(&[Mutation::PurgeSessions {
            user_id: a,
            before: 450,
        }])
        .await
        .expect("purge");
    assert_eq!(
        store
            .sessions(a)
            .await
            .expect("sessions")
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        vec![7],
        "revoked before the purge's time: forgotten"
    );
}

/// Search finds stored messages of the chats asked, newest first, a page at
/// a time; an edit replaces the indexed text and a delete removes it at once.
/// A search's hits as `(chat, seq)`.
async fn search_hits(
    store: &dyn Store,
    q: &chat_core::search::Query,
    chats: &[ChatId],
    before: Option<MessageId>,
    limit: u32,
) -> Vec<(ChatId, u64)> {
    store
        .search(q, chats, before, limit)
        .await
        .expect("search")
        .messages
        .iter()
        .map(|m| (m.chat_id, m.seq))
        .collect()
}

async fn check_search(store: &dyn Store, base: u64, a: UserId) {
    use chat_core::search::parse;
    let (c1, c2, other) = (ChatId(base + 31), ChatId(base + 32), ChatId(base + 33));
    let texts = [
        (c1, 1, "Deploy the GREEN build today"),
        (c1, 2, "лёгкий ветер и дождь"),
        (c1, 3, "a café near the station"),
        (c2, 1, "deployment finished: green"),
        (c2, 2, "nothing to see"),
        (other, 1, "deploy green elsewhere"),
    ];
    let mut batch = Vec::new();
    for (c, seq, text) in texts {
        let mut m = msg(c, seq, a, &format!("s{seq}"));
        m.text = text.into();
        batch.push(Mutation::InsertMessage(m));
    }
    store.apply(&batch).await.expect("messages");
    let mine = [c1, c2];
    let find = |q: &str, before: Option<MessageId>, limit: u32| {
        let q = parse(q).expect("query");
        async move { search_hits(store, &q, &mine, before, limit).await }
    };
    assert_eq!(
        find("green", None, 10).await,
        vec![(c2, 1), (c1, 1)],
        "newest first, only those chats"
    );
    assert_eq!(find("deploy*", None, 10).await, vec![(c2, 1), (c1, 1)]);
    assert_eq!(
        find("deploy", None, 10).await,
        vec![(c1, 1)],
        "a word, not a prefix"
    );
    assert_eq!(find("\"green build\"", None, 10).await, vec![(c1, 1)]);
    assert_eq!(
        find("Cafe", None, 10).await,
        vec![(c1, 3)],
        "case and accents folded"
    );
    assert_eq!(find("легкий", None, 10).await, vec![(c1, 2)], "ё as е");
    assert_eq!(find("ДОЖДЬ", None, 10).await, vec![(c1, 2)]);
    assert!(find("absent", None, 10).await.is_empty());
    // Within one chat (SQLite narrows by the chat's token), a direct
    // chat's id (top bit set) included; a query word shaped like a chat
    // token matches text only.
    let direct = ChatId((1 << 63) | (base + 34));
    let mut m = msg(direct, 1, a, "d1");
    m.text = format!("green and c{:x} in a direct chat", c1.0);
    store
        .apply(&[Mutation::InsertMessage(m)])
        .await
        .expect("direct message");
    let within = |q: &str, chat: ChatId| {
        let q = parse(q).expect("query");
        async move { search_hits(store, &q, &[chat], None, 10).await }
    };
    assert_eq!(within("green", c1).await, vec![(c1, 1)]);
    assert_eq!(within("green", direct).await, vec![(direct, 1)]);
    assert_eq!(within("deploy*", c2).await, vec![(c2, 1)]);
    assert!(
        within("green", other)
            .await
            .iter()
            .all(|(c, _)| *c == other)
    );
    assert_eq!(
        within(&format!("c{:x}", c1.0), c1).await,
        vec![],
        "the chat's token is not text"
    );
    assert_eq!(
        within(&format!("c{:x}", c1.0), direct).await,
        vec![(direct, 1)],
        "but text that spells it is"
    );
    // Pages.
    let first = find("green", None, 1).await;
    assert_eq!(first, vec![(c2, 1)]);
    let older = msg(c2, 1, a, "").id;
    assert_eq!(find("green", Some(older), 1).await, vec![(c1, 1)]);
    assert!(
        store
            .search(&parse("green").unwrap(), &[], None, 10)
            .await
            .expect("no chats")
            .messages
            .is_empty()
    );

    // An edit and a delete show at once.
    store
        .apply(&[
            Mutation::EditMessage {
                chat_id: c1,
                seq: 1,
                text: "Deploy the blue build".into(),
                edited_at: 500,
                pts: 10,
            },
            Mutation::DeleteMessage {
                chat_id: c2,
                seq: 1,
                pts: 11,
            },
        ])
        .await
        .expect("edit and delete");
    assert!(find("green", None, 10).await.is_empty());
    assert_eq!(find("blue", None, 10).await, vec![(c1, 1)]);
}

/// Each acquisition of a partition outranks the ones before; a batch under an
/// older epoch, or a partition never taken, changes nothing.
async fn check_fencing(store: &dyn Store, base: u64) {
    let topic = format!("conformance-{base}");
    let first = store.acquire_fence(&topic, 3).await.expect("fence");
    let second = store.acquire_fence(&topic, 3).await.expect("fence again");
    assert!(second > first, "epochs only grow: {first} then {second}");
    let other = store
        .acquire_fence(&topic, 5)
        .await
        .expect("another partition");
    let fenced = ChatId(base + 90);
    let insert = [Mutation::InsertChat(chat(fenced, UserId(base + 1)))];
    let under = |epochs: Vec<(u32, u64)>| Fence {
        topic: topic.clone(),
        epochs,
    };
    for (why, fence) in [
        ("an older epoch", under(vec![(3, first)])),
        (
            "one stale partition of two",
            under(vec![(5, other), (3, first)]),
        ),
        ("a partition never taken", under(vec![(3, second), (4, 1)])),
    ] {
        match store.apply_fenced(&fence, &insert).await {
            Err(StoreError::Fenced(_)) => {}
            r => panic!("a batch under {why} must be fenced: {r:?}"),
        }
    }
    assert!(
        store.chats(&[fenced]).await.expect("chats").is_empty(),
        "a fenced batch changes nothing"
    );
    store
        .apply_fenced(&under(vec![(3, second), (5, other)]), &insert)
        .await
        .expect("a batch under the current epochs");
    assert_eq!(store.chats(&[fenced]).await.expect("chats").len(), 1);
}
