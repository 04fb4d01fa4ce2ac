//! The connection driven through channels instead of a socket: the gateway is
//! built on the embedded log, cache and pub/sub and a SQLite store in a
//! temporary directory; chats and messages are put in the store directly, and
//! events are published as fanout would.

use std::time::Duration;

use axum::extract::ws::{Message as WsMessage, Utf8Bytes};
use chat_core::model::{Chat, ChatKind, Member, Message, Role};
use chat_core::ports::{Mutation, PubSub, Store};
use chat_core::wire::{Envelope, Event, PubKind, chat_channel};
use chat_core::{ChatId, Code, IdGenerator, MessageId, UserId};
use chat_embedded::{MemCache, MemLog, MemLogConfig, MemPubSub};

use serde_json::Value;
use tokio::sync::mpsc;

use crate::{AppState, Deps, GatewayConfig};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";
const ALICE: UserId = UserId(10);
const CHAT: ChatId = ChatId(77);

/// A gateway over embedded parts and the store behind it.
struct Fixture {
    st: AppState,
    store: std::sync::Arc<dyn Store>,
    pubsub: std::sync::Arc<dyn PubSub>,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let sqlite =
        chat_store::SqliteStore::open(&chat_store::SqliteConfig::new(dir.path().join("chat.db")))
            .await
            .unwrap();
    let store: std::sync::Arc<dyn Store> = std::sync::Arc::new(sqlite);
    let pubsub: std::sync::Arc<dyn PubSub> = std::sync::Arc::new(MemPubSub::new(1024));
    let deps = Deps {
        log: std::sync::Arc::new(MemLog::new(MemLogConfig::default())),
        store: store.clone(),
        cache: std::sync::Arc::new(MemCache::new(1000)),
        pubsub: pubsub.clone(),
        ids: std::sync::Arc::new(IdGenerator::new(1)),
        throttle: None,
        presence: std::sync::Arc::new(chat_embedded::MemPresence::new(1000)),
    };
    let cfg = GatewayConfig {
        jwt_secret: SECRET.to_vec(),
        ..GatewayConfig::default()
    };
    let st = crate::build(cfg, deps).await.unwrap();
    Fixture {
        st,
        store,
        pubsub,
        _dir: dir,
    }
}

fn message(seq: u64) -> Message {
    Message {
        id: MessageId(1000 + seq),
        chat_id: CHAT,
        seq,
        sender_id: ALICE,
        client_msg_id: format!("m{seq}"),
        text: format!("message {seq}"),
        reply_to_seq: None,
        forwarded_from: None,
        created_at: 1,
        edited_at: None,
        deleted: false,
        pts: seq,
        reactions: Vec::new(),
        mentions: Vec::new(),
    }
}

impl Fixture {
    /// A group with Alice as its admin and messages `1..=n`.
    async fn chat_with_messages(&self, n: u64) {
        let batch = vec![
            Mutation::InsertChat(Chat {
                id: CHAT,
                kind: ChatKind::Group,
                title: "g".into(),
                created_by: ALICE,
                created_at: 1,
                last_seq: 0,
                last_pts: 0,
                member_count: 1,
                last_message: None,
                pins: Vec::new(),
            }),
            Mutation::PutMember {
                chat_id: CHAT,
                member: Member {
                    user_id: ALICE,
                    role: Role::Admin,
                },
            },
            Mutation::PutMembership {
                user_id: ALICE,
                chat_id: CHAT,
                role: Role::Admin,
            },
        ];
        self.store.apply(&batch).await.unwrap();
        self.store_messages(n).await;
    }

    /// Stores messages up to `n` (those not yet there) and the chat's counters.
    async fn store_messages(&self, n: u64) {
        let have = self.store.chats(&[CHAT]).await.unwrap()[0].last_seq;
        let mut batch: Vec<Mutation> = (have + 1..=n)
            .map(|s| Mutation::InsertMessage(message(s)))
            .collect();
        batch.push(Mutation::ChatCounters {
            chat_id: CHAT,
            last_seq: n,
            last_pts: n,
            member_count: 1,
            last_message: None,
        });
        self.store.apply(&batch).await.unwrap();
    }

    /// Publishes a message event as fanout does.
    async fn publish(&self, seq: u64) {
        let json = serde_json::to_vec(&Event::Message {
            message: message(seq),
        })
        .unwrap();
        let env = Envelope::encode(PubKind::Message, CHAT, seq, 0, &json);
        self.pubsub.publish(&chat_channel(CHAT), env).await.unwrap();
    }

    /// Opens a connection through channels; `pre` as if the upgrade carried a token.
    fn connect(&self, pre: Option<UserId>) -> Client {
        let (in_tx, in_rx) = mpsc::channel::<Result<WsMessage, axum::Error>>(16);
        let (out_tx, out_rx) = mpsc::channel::<WsMessage>(1024);
        let sink = Box::pin(futures_util::sink::unfold(
            out_tx,
            |tx, m: WsMessage| async move {
                tx.send(m).await.map_err(axum::Error::new)?;
                Ok::<_, axum::Error>(tx)
            },
        ));
        let stream = Box::pin(futures_util::stream::unfold(in_rx, |mut rx| async move {
            rx.recv().await.map(|m| (m, rx))
        }));
        tokio::spawn(super::serve(self.st.clone(), sink, stream, pre));
        Client {
            tx: in_tx,
            rx: out_rx,
        }
    }
}

/// The client's end of a connection.
struct Client {
    tx: mpsc::Sender<Result<WsMessage, axum::Error>>,
    rx: mpsc::Receiver<WsMessage>,
}

impl Client {
    async fn send(&mut self, text: &str) {
        self.tx
            .send(Ok(WsMessage::Text(Utf8Bytes::from(text))))
            .await
            .unwrap();
    }

    /// The next message, past presence changes (they come whenever the
    /// user connects, at no fixed point of these scenarios).
    async fn next(&mut self) -> WsMessage {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(5), self.rx.recv())
                .await
                .expect("a frame within 5 s")
                .expect("the connection is open");
            if !is_presence(&m) {
                return m;
            }
        }
    }

    async fn frame(&mut self) -> Value {
        match self.next().await {
            WsMessage::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Nothing more arrives for a while.
    async fn quiet(&mut self) {
        let until = tokio::time::Instant::now() + Duration::from_millis(200);
        while let Ok(r) = tokio::time::timeout_at(until, self.rx.recv()).await {
            assert!(
                r.as_ref().is_some_and(is_presence),
                "unexpected frame {r:?}"
            );
        }
    }
}

fn is_presence(m: &WsMessage) -> bool {
    matches!(m, WsMessage::Text(t)
        if t.as_str().starts_with(r#"{"type":"presence""#)
            || t.as_str().starts_with(r#"{"type":"online_count""#))
}

/// The seqs of the `message` frames among `frames`.
fn seqs(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| f["message"]["seq"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_bad_first_frame_gets_an_error_and_close_4001() {
    let f = fixture().await;
    let mut c = f.connect(None);
    c.send(r#"{"type":"auth","token":"forged"}"#).await;
    let err = c.frame().await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["code"], "invalid_token");
    match c.next().await {
        WsMessage::Close(Some(cf)) => assert_eq!(cf.code, super::CLOSE_AUTH),
        other => panic!("expected close 4001, got {other:?}"),
    }

    // A valid signature of a session never opened.
    let mut c = f.connect(None);
    let (token, _) = f.st.service.tokens.issue(ALICE, "alice", 7).unwrap();
    c.send(&format!(r#"{{"type":"auth","token":"{token}"}}"#))
        .await;
    assert_eq!(c.frame().await["code"], "session_revoked");

    let mut c = f.connect(None);
    f.store
        .apply(&[chat_core::ports::Mutation::PutSession(
            chat_core::model::SessionRecord {
                user_id: ALICE,
                id: 8,
                generation: 0,
                secret_hash: "h".into(),
                device: String::new(),
                created_at: 0,
                used_at: 0,
                expires_at: i64::MAX,
                revoked_at: None,
            },
        )])
        .await
        .unwrap();
    let (token, _) = f.st.service.tokens.issue(ALICE, "alice", 8).unwrap();
    c.send(&format!(r#"{{"type":"auth","token":"{token}"}}"#))
        .await;
    let ready = c.frame().await;
    assert_eq!(ready["type"], "ready");
    assert_eq!(ready["user_id"], ALICE.to_string());
}

#[tokio::test]
async fn bad_frames_get_typed_error_frames_and_change_nothing() {
    let f = fixture().await;
    let mut c = f.connect(Some(ALICE));
    assert_eq!(c.frame().await["type"], "ready");
    for (text, code) in [
        ("nonsense", Code::BadJson),
        (r#"{"type":"teleport"}"#, Code::UnknownType),
        (r#"{"type":"subscribe","chat_id":"x1"}"#, Code::InvalidId),
        (r#"{"type":"read","chat_id":"1"}"#, Code::BadJson),
        (r#"{"type":"auth","token":"t"}"#, Code::BadJson),
    ] {
        c.send(text).await;
        let e = c.frame().await;
        assert_eq!(e["type"], "error", "{text}");
        assert_eq!(e["code"], code.as_str(), "{text}");
    }
    c.send(r#"{"type":"subscribe","chat_id":"404"}"#).await;
    let e = c.frame().await;
    assert_eq!(e["code"], "chat_not_found");
    assert_eq!(e["chat_id"], "404");
    c.send(r#"{"type":"ping"}"#).await;
    assert_eq!(c.frame().await["type"], "pong");
    assert!(!f.st.hub.has_channel(&chat_channel(ChatId(404))));
}

#[tokio::test]
async fn resume_replays_then_live_events_in_order_without_duplicates_or_gaps() {
    let f = fixture().await;
    f.chat_with_messages(3).await;
    let mut c = f.connect(Some(ALICE));
    assert_eq!(c.frame().await["type"], "ready");
    c.send(&format!(
        r#"{{"type":"subscribe","chat_id":"{CHAT}","since_seq":1}}"#
    ))
    .await;
    let sub = c.frame().await;
    assert_eq!(sub["type"], "subscribed");
    assert_eq!(sub["last_seq"], 3);
    let mut frames = vec![c.frame().await, c.frame().await];
    let synced = c.frame().await;
    assert_eq!(synced["type"], "synced");
    assert_eq!(synced["last_seq"], 3);
    assert_eq!(seqs(&frames), [2, 3]);

    // A duplicate is dropped; a message after a gap brings the gap from the store.
    f.publish(3).await;
    f.store_messages(5).await;
    f.publish(5).await;
    frames.clear();
    frames.push(c.frame().await);
    frames.push(c.frame().await);
    assert_eq!(seqs(&frames), [4, 5]);
    f.publish(5).await;
    c.quiet().await;
}

#[tokio::test]
async fn a_non_member_cannot_subscribe() {
    let f = fixture().await;
    f.chat_with_messages(1).await;
    let mut c = f.connect(Some(UserId(11)));
    // Bob is not in the chat: his subscribe is refused and he gets none of its
    // events.
    assert_eq!(c.frame().await["type"], "ready");
    c.send(&format!(r#"{{"type":"subscribe","chat_id":"{CHAT}"}}"#))
        .await;
    let e = c.frame().await;
    assert_eq!(e["code"], "not_member");
    f.publish(2).await;
    c.quiet().await;
    // The connection still works.
    c.send(r#"{"type":"ping"}"#).await;
    assert_eq!(c.frame().await["type"], "pong");
}

#[tokio::test]
async fn resume_renders_recorded_member_changes_as_frames() {
    use chat_core::model::MemberChange;
    let f = fixture().await;
    f.chat_with_messages(1).await;
    let bob = UserId(11);
    let recorded = [
        MemberChange::Added {
            user_id: bob,
            role: Role::Member,
        },
        MemberChange::RoleChanged {
            user_id: bob,
            role: Role::Silent,
        },
        MemberChange::Removed { user_id: bob },
    ];
    let batch: Vec<Mutation> = (2..)
        .zip(recorded)
        .map(|(pts, change)| Mutation::RecordChange {
            chat_id: CHAT,
            pts,
            change,
        })
        .collect();
    f.store.apply(&batch).await.unwrap();
    let mut c = f.connect(Some(ALICE));
    assert_eq!(c.frame().await["type"], "ready");
    c.send(&format!(
        r#"{{"type":"subscribe","chat_id":"{CHAT}","since_seq":1,"since_pts":1}}"#
    ))
    .await;
    assert_eq!(c.frame().await["type"], "subscribed");
    let added = c.frame().await;
    assert_eq!(added["type"], "member_added");
    assert_eq!(added["chat"]["id"], CHAT.to_string());
    assert_eq!(
        (&added["user_id"], &added["role"], &added["pts"]),
        (&Value::from("11"), &Value::from("member"), &Value::from(2))
    );
    let role = c.frame().await;
    assert_eq!(role["type"], "role_changed");
    assert_eq!(
        (&role["role"], &role["pts"]),
        (&Value::from("silent"), &Value::from(3))
    );
    let removed = c.frame().await;
    assert_eq!(removed["type"], "member_removed");
    assert_eq!(
        (&removed["user_id"], &removed["pts"]),
        (&Value::from("11"), &Value::from(4))
    );
    assert_eq!(c.frame().await["type"], "synced");
}
