//! Distributed mode on real Kafka, MariaDB shards and Redis (started by
//! `deploy/local/up.sh`): every role a separate process.

#![cfg(feature = "distributed")]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chat_core::ports::{Delivery, Log, PubSub, Store};
use chat_core::wire::{Command, CommandRecord, Envelope, Outcome, RECORD_VERSION, Reply, ReplyTo};
use chat_core::{ChatId, MessageId, UserId};
use common::cluster::Cluster;
use common::*;

/// One cluster at a time: they share the machine's services and two cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The chat list computed from the shards alone, as the API would show it.
async fn list_from_store(store: &dyn Store, user: &Client) -> Vec<ChatEntry> {
    let uid = UserId(user.id.parse().unwrap());
    let ms = store.memberships(uid).await.unwrap();
    let ids: Vec<ChatId> = ms.iter().map(|m| m.chat_id).collect();
    let chats = store.chats(&ids).await.unwrap();
    let v = serde_json::to_value(chat_core::chatlist::build(&ms, chats)).unwrap();
    serde_json::from_value(v).expect("the store's chat list has the API's shape")
}

/// The user's chat list through the gateway `api`.
async fn list_from_api(api: &Api, user: &Client) -> Vec<ChatEntry> {
    user.via(api).chats().await.ok().chats
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_gateway_delivery_on_both_shards_and_chat_list_survives_flushall() {
    let _serial = SERIAL.lock().await;
    let mut cl = Cluster::new();
    let gws = cl.start(2, 2, 2);
    let (a_api, b_api) = (Api::new(&gws[0]), Api::new(&gws[1]));
    let alice = a_api.register("alice").await;
    let bob = b_api.register("bob").await;
    let store = cl.store().await;

    // Chats until both shards hold some.
    let mut chats = Vec::new();
    let mut used = HashSet::new();
    while chats.len() < 4 || (used.len() < 2 && chats.len() < 40) {
        let c = bob.group(&format!("chat {}", chats.len()), &[&alice]).await;
        used.insert(store.chat_shard(ChatId(c.parse().unwrap())));
        chats.push(c);
    }
    assert_eq!(used.len(), 2, "chats land on both shards");
    // Each chat's row is on the shard the ring names, and only there.
    let pools: Vec<(String, sqlx::MySqlPool)> = futures_util::future::join_all(
        cl.shard_urls()
            .into_iter()
            .map(|(n, u)| async move { (n, sqlx::MySqlPool::connect(&u).await.unwrap()) }),
    )
    .await;
    for c in &chats {
        let id = ChatId(c.parse().unwrap());
        let owner = store.chat_shard(id);
        for (name, pool) in &pools {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM chats WHERE id = ?")
                .bind(id.0 as i64)
                .fetch_one(pool)
                .await
                .unwrap();
            assert_eq!(
                n,
                i64::from(*name == owner),
                "chat {c} on shard {name} (owner {owner})"
            );
        }
    }

    // Alice on gateway A receives what Bob sends through gateway B.
    let mut wa = alice.ws().await;
    for c in &chats {
        wa.subscribe(c, Some(0)).await;
    }
    let mut wb = bob.ws().await;
    let per_chat = 15;
    let total = chats.len() * per_chat;
    let (mut sent, mut acked) = (0, 0);
    let mut got: HashMap<String, Vec<u64>> = HashMap::new();
    let mut received = 0;
    while acked < total {
        while sent < total && sent - acked < 100 {
            let c = &chats[sent % chats.len()];
            wb.send_message(c, &format!("m{sent}"), &format!("hello {sent}"))
                .await;
            sent += 1;
        }
        match wb.next().await {
            Frame::Ack(_) => acked += 1,
            f @ (Frame::Error(_) | Frame::Rejected(_)) => panic!("{f:?}"),
            _ => {}
        }
    }
    while received < total {
        if let Frame::Message(m) = wa.next().await {
            got.entry(m.message.chat_id)
                .or_default()
                .push(m.message.seq);
            received += 1;
        }
    }
    for c in &chats {
        assert_eq!(
            got[c],
            (1..=per_chat as u64).collect::<Vec<_>>(),
            "chat {c}: in seq order, once each"
        );
    }

    // The chat list served through Redis equals what the shards say…
    for u in [&alice, &bob] {
        let expect = list_from_store(&store, u).await;
        assert_eq!(
            list_from_api(&a_api, u).await,
            expect,
            "{} via gateway A",
            u.name
        );
        assert_eq!(
            list_from_api(&b_api, u).await,
            expect,
            "{} via gateway B",
            u.name
        );
    }
    let e = &list_from_api(&a_api, &alice).await[0];
    assert_eq!(e.unread, per_chat as u64);
    // …also after Redis loses everything.
    let out = std::process::Command::new("redis-cli")
        .args(["-u", &cl.redis_url, "FLUSHALL"])
        .output()
        .expect("redis-cli");
    assert!(out.status.success());
    for u in [&alice, &bob] {
        let expect = list_from_store(&store, u).await;
        assert_eq!(
            list_from_api(&a_api, u).await,
            expect,
            "{} after FLUSHALL",
            u.name
        );
        assert_eq!(
            list_from_api(&b_api, u).await,
            expect,
            "{} after FLUSHALL",
            u.name
        );
    }
    // And it stays live: a read moves the unread count on both gateways.
    let c0 = &chats[0];
    assert_eq!(alice.read(c0, 10).await.ok().read_seq, 10);
    assert_eq!(
        alice.via(&b_api).chat_entry(c0).await.unread,
        (per_chat - 10) as u64
    );
    store.close().await;
    cl.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_members_and_silent_members_are_rejected_by_the_writer() {
    let _serial = SERIAL.lock().await;
    let mut cl = Cluster::new();
    let gws = cl.start(1, 1, 1);
    let a = Api::new(&gws[0]);
    let alice = a.register("alice").await;
    let bob = a.register("bob").await;
    let carol = a.register("carol").await;
    let chat = alice.group("guarded", &[&bob]).await;
    alice.set_role(&chat, &bob.id, Role::Silent).await.ok();

    // Listen where a probe gateway would, and send straight into the pipeline,
    // past the gateway's pre-checks.
    let mut rcfg = chat_redis::RedisConfig::new(&cl.redis_url);
    rcfg.prefix = cl.redis_prefix.clone();
    let ps = chat_redis::RedisPubSub::connect(rcfg).await.unwrap();
    let probe = format!("probe-{}", cl.run);
    let (sub, mut inbox) = ps.subscriber().await.unwrap();
    sub.subscribe(&chat_core::wire::gateway_channel(&probe))
        .await
        .unwrap();
    let kafka = chat_kafka::KafkaLog::connect(
        chat_kafka::KafkaConfig::new(&cl.kafka),
        &[&cl.commands_topic],
    )
    .await
    .unwrap();
    let chat_id = ChatId(chat.parse().unwrap());
    for (i, who) in [&carol, &bob].iter().enumerate() {
        let rec = CommandRecord {
            v: RECORD_VERSION,
            actor: UserId(who.id.parse().unwrap()),
            accepted_at: chat_core::now_ms(),
            reply_to: Some(ReplyTo {
                gateway: probe.clone(),
                request: i as u64,
            }),
            cmd: Command::Send {
                chat_id,
                message_id: MessageId(77 + i as u64),
                client_msg_id: format!("sneaky-{i}"),
                text: "let me in".into(),
                reply_to_seq: None,
                forwarded_from: None,
                mentions: Vec::new(),
            },
        };
        kafka
            .produce(
                &cl.commands_topic,
                chat_id.0,
                serde_json::to_vec(&rec).unwrap().into(),
            )
            .await
            .unwrap();
    }
    let mut codes = HashMap::new();
    while codes.len() < 2 {
        let delivery = tokio::time::timeout(Duration::from_secs(30), inbox.recv())
            .await
            .expect("reply in time")
            .unwrap();
        let Delivery::Message { payload, .. } = delivery else {
            continue; // a reconnect notice: the replies still come
        };
        let env = Envelope::decode(payload).expect("envelope");
        let reply: Reply = serde_json::from_slice(&env.json).unwrap();
        match reply.outcome {
            Outcome::Rejected(r) => codes.insert(reply.request, r.code.as_str().to_string()),
            other => panic!("expected a rejection, got {other:?}"),
        };
    }
    assert_eq!(codes[&0], "not_member");
    assert_eq!(codes[&1], "silenced");
    // Over the WebSocket the sender gets the refusal too (here from the pre-check).
    let mut wc = carol.ws().await;
    wc.send_message(&chat, "c", "hi").await;
    assert_eq!(wc.next_error().await.code, "not_member");
    // Stored nowhere.
    assert!(alice.history_forward(&chat, 50).await.is_empty());
    let store = cl.store().await;
    assert!(store.message(chat_id, 1).await.unwrap().is_none());
    store.close().await;
    cl.cleanup().await;
}

/// A client that reads its chats and reconnects (to any gateway) with resume.
struct Receiver {
    user: Client,
    chats: Vec<String>,
    got: HashMap<String, Vec<u64>>,
    reconnects: usize,
}

impl Receiver {
    async fn connect(&mut self, gws: &[String], start: usize) -> Ws {
        for k in 0..40 {
            let url = Api::new(&gws[(start + k) % gws.len()]).ws_url();
            let Some(mut ws) = Ws::try_connect_raw(&url, Duration::from_secs(5)).await else {
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            };
            ws.auth(&self.user.token).await;
            for c in &self.chats {
                let since = self.got.get(c).and_then(|v| v.last().copied()).unwrap_or(0);
                ws.send_subscribe(c, Some(since), None).await;
            }
            return ws;
        }
        panic!("no gateway accepted {}", self.user.name);
    }

    /// Reads until every chat reaches its target (known once `targets` is set).
    async fn run(
        mut self,
        gws: Vec<String>,
        mut start: usize,
        targets: Arc<tokio::sync::OnceCell<HashMap<String, u64>>>,
    ) -> Self {
        let mut ws = self.connect(&gws, start).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
        loop {
            if let Some(t) = targets.get()
                && self
                    .chats
                    .iter()
                    .all(|c| self.got.get(c).and_then(|v| v.last()).copied().unwrap_or(0) >= t[c])
            {
                return self;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} did not catch up",
                self.user.name
            );
            match ws.next_within(Duration::from_secs(1)).await {
                Next::Frame(f) => {
                    if let Frame::Message(m) = *f {
                        self.got
                            .entry(m.message.chat_id)
                            .or_default()
                            .push(m.message.seq);
                    }
                }
                Next::Timeout => {}
                Next::Closed(_) => {
                    self.reconnects += 1;
                    start += 1;
                    ws = self.connect(&gws, start).await;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_writer_a_fanout_worker_and_a_gateway_loses_nothing() {
    let _serial = SERIAL.lock().await;
    let mut cl = Cluster::new();
    let gws = cl.start(2, 2, 2);
    let a = Api::new(&gws[1]);
    let mut users = Vec::new();
    for i in 0..12 {
        users.push(a.register(&format!("user{i}")).await);
    }
    // 100 groups of three.
    let mut chats: Vec<(String, Vec<usize>)> = Vec::new();
    for i in 0..100 {
        let m = vec![i % 12, (i + 1) % 12, (i + 5) % 12];
        let c = users[m[0]]
            .group(&format!("g{i}"), &[&users[m[1]], &users[m[2]]])
            .await;
        chats.push((c, m));
    }
    let targets = Arc::new(tokio::sync::OnceCell::new());
    let mut receivers = Vec::new();
    for (ui, u) in users.iter().enumerate() {
        let mine: Vec<String> = chats
            .iter()
            .filter(|(_, m)| m.contains(&ui))
            .map(|(c, _)| c.clone())
            .collect();
        let r = Receiver {
            user: u.clone(),
            chats: mine,
            got: HashMap::new(),
            reconnects: 0,
        };
        receivers.push(tokio::spawn(r.run(gws.clone(), ui % 2, targets.clone())));
    }

    // 16 senders, 5,120 messages; a failed send is retried with the same key.
    let acked = Arc::new(AtomicUsize::new(0));
    let acked_keys = Arc::new(std::sync::Mutex::new(
        HashMap::<String, HashSet<String>>::new(),
    ));
    let mut senders = Vec::new();
    for t in 0..16usize {
        let (gws, chats, users, acked, keys) = (
            gws.clone(),
            chats.clone(),
            users.clone(),
            acked.clone(),
            acked_keys.clone(),
        );
        senders.push(tokio::spawn(async move {
            let apis: Vec<Api> = gws
                .iter()
                .map(|g| Api::new(g).with_timeout(Duration::from_secs(20)))
                .collect();
            for k in 0..320usize {
                let (chat, members) = &chats[(t * 7 + k * 3) % chats.len()];
                let sender = &users[members[k % 3]];
                let key = format!("t{t}-{k}");
                let mut attempt = 0;
                loop {
                    let via = sender.via(&apis[(t + attempt) % apis.len()]);
                    match via.try_send(chat, &key, &format!("{key} in {chat}")).await {
                        Ok(r) if r.is_success() => {
                            r.success();
                            break;
                        }
                        Ok(r) if r.status >= 500 => {}
                        Ok(r) => panic!("send refused: {r:?}"),
                        Err(_) => {}
                    }
                    attempt += 1;
                    assert!(attempt < 200, "send {key} never succeeded");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                keys.lock()
                    .unwrap()
                    .entry(chat.clone())
                    .or_default()
                    .insert(key);
                acked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for (at, victim) in [(1000, "writer-0"), (2500, "fanout-0"), (3500, "gw-0")] {
        while acked.load(Ordering::Relaxed) < at {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        cl.kill(victim);
    }
    for s in senders {
        s.await.unwrap();
    }
    assert_eq!(acked.load(Ordering::Relaxed), 16 * 320);

    // History: every acked message exactly once, seq 1..n per chat.
    let store = cl.store().await;
    let mut t = HashMap::new();
    let keys = acked_keys.lock().unwrap().clone();
    for (chat, members) in &chats {
        let h = users[members[0]].history_forward(chat, 200).await;
        let n = h.len() as u64;
        assert_eq!(
            seqs(&h),
            (1..=n).collect::<Vec<_>>(),
            "chat {chat}: dense seq"
        );
        let ids: HashSet<&str> = h.iter().map(|m| m.client_msg_id.as_str()).collect();
        assert_eq!(ids.len(), h.len(), "chat {chat}: each message once");
        for k in keys.get(chat).into_iter().flatten() {
            assert!(ids.contains(k.as_str()), "acked {k} is in chat {chat}");
        }
        let stored = store.chats(&[ChatId(chat.parse().unwrap())]).await.unwrap()[0].last_seq;
        assert_eq!(stored, n);
        t.insert(chat.clone(), n);
    }
    assert!(t.values().sum::<u64>() >= 5120);
    targets.set(t.clone()).unwrap();
    // Every client, resumed or not, holds exactly 1..n of each of its chats.
    let mut reconnects = 0;
    for r in receivers {
        let r = r.await.unwrap();
        reconnects += r.reconnects;
        for c in &r.chats {
            assert_eq!(
                r.got.get(c).cloned().unwrap_or_default(),
                (1..=t[c]).collect::<Vec<_>>(),
                "{} in chat {c}",
                r.user.name
            );
        }
    }
    assert!(
        reconnects >= 6,
        "the clients of the killed gateway reconnected ({reconnects})"
    );
    store.close().await;
    cl.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_gateways_drains_and_clients_resume_without_gaps() {
    let _serial = SERIAL.lock().await;
    let mut cl = Cluster::new();
    let mut gws = cl.start(2, 2, 2);
    let a = Api::new(&gws[1]);
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(a.register(&format!("roll{i}")).await);
    }
    let mut chats: Vec<(String, Vec<usize>)> = Vec::new();
    for i in 0..8 {
        let m = vec![i % 4, (i + 1) % 4];
        let c = users[m[0]].group(&format!("r{i}"), &[&users[m[1]]]).await;
        chats.push((c, m));
    }
    let targets = Arc::new(tokio::sync::OnceCell::new());
    let mut receivers = Vec::new();
    for (ui, u) in users.iter().enumerate() {
        let mine: Vec<String> = chats
            .iter()
            .filter(|(_, m)| m.contains(&ui))
            .map(|(c, _)| c.clone())
            .collect();
        let r = Receiver {
            user: u.clone(),
            chats: mine,
            got: HashMap::new(),
            reconnects: 0,
        };
        // Receivers know every gateway that will ever exist (old ones refuse).
        receivers.push((r, ui));
    }
    // The replacement gateways are started before the old ones stop, so the
    // receivers get the full list up front.
    let g2 = format!("http://{}", cl.spawn("gateway", "gw-2"));
    let g3 = format!("http://{}", cl.spawn("gateway", "gw-3"));
    gws.extend([g2, g3]);
    let handles: Vec<_> = receivers
        .into_iter()
        .map(|(r, ui)| tokio::spawn(r.run(gws.clone(), ui % 2, targets.clone())))
        .collect();

    // Traffic through whichever gateway answers.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let sender = {
        let (gws, chats, users, acked, stop) = (
            gws.clone(),
            chats.clone(),
            users.clone(),
            acked.clone(),
            stop.clone(),
        );
        tokio::spawn(async move {
            let apis: Vec<Api> = gws
                .iter()
                .map(|g| Api::new(g).with_timeout(Duration::from_secs(20)))
                .collect();
            let mut k = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let (chat, m) = &chats[k % chats.len()];
                let key = format!("roll-{k}");
                let mut attempt = 0;
                loop {
                    let via = users[m[k % 2]].via(&apis[(k + attempt) % apis.len()]);
                    if let Ok(r) = via.try_send(chat, &key, "rolling").await
                        && r.is_success()
                    {
                        r.success();
                        break;
                    }
                    attempt += 1;
                    assert!(attempt < 300, "send {key} never succeeded");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                acked.lock().unwrap().push((chat.clone(), key));
                k += 1;
            }
        })
    };
    let wait_acks = |n: usize| {
        let acked = acked.clone();
        async move {
            while acked.lock().unwrap().len() < n {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    wait_acks(150).await;
    // Drain the two original gateways one after the other, and stop a writer
    // and a fanout worker the same way: each finishes and commits its batch.
    for old in ["gw-0", "writer-0", "gw-1", "fanout-0"] {
        let took = cl.terminate(old);
        assert!(
            took < Duration::from_secs(10),
            "{old} stopped cleanly in {took:?}"
        );
        let n = acked.lock().unwrap().len();
        wait_acks(n + 100).await;
    }
    stop.store(true, Ordering::Relaxed);
    sender.await.unwrap();

    let b = Api::new(&gws[2]);
    let keys = acked.lock().unwrap().clone();
    let mut t = HashMap::new();
    for (chat, m) in &chats {
        let h = users[m[0]].via(&b).history_forward(chat, 200).await;
        let n = h.len() as u64;
        assert_eq!(seqs(&h), (1..=n).collect::<Vec<_>>());
        let ids: HashSet<&str> = h.iter().map(|x| x.client_msg_id.as_str()).collect();
        assert_eq!(ids.len(), h.len());
        for (_, k) in keys.iter().filter(|(c, _)| c == chat) {
            assert!(
                ids.contains(k.as_str()),
                "acked {k} survived the rolling restart"
            );
        }
        t.insert(chat.clone(), n);
    }
    targets.set(t.clone()).unwrap();
    let mut reconnects = 0;
    for h in handles {
        let r = h.await.unwrap();
        reconnects += r.reconnects;
        for c in &r.chats {
            assert_eq!(
                r.got.get(c).cloned().unwrap_or_default(),
                (1..=t[c]).collect::<Vec<_>>(),
                "{} in {c}",
                r.user.name
            );
        }
    }
    assert!(
        reconnects >= 2,
        "clients of the drained gateways reconnected ({reconnects})"
    );
    cl.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_on_a_redis_cluster_with_sharded_pubsub() {
    let _serial = SERIAL.lock().await;
    let url = std::env::var("CHAT_REDIS_CLUSTER_URL")
        .expect("CHAT_REDIS_CLUSTER_URL (deploy/local/redis-cluster.sh up)");
    let mut cl = Cluster::new().with_redis(&url);
    let gws = cl.start(1, 1, 2);
    let (a_api, b_api) = (Api::new(&gws[0]), Api::new(&gws[1]));
    let alice = a_api.register("alice").await;
    let bob = b_api.register("bob").await;
    let mut chats = Vec::new();
    for i in 0..6 {
        chats.push(bob.group(&format!("cl{i}"), &[&alice]).await);
    }
    let mut wa = alice.ws().await;
    for c in &chats {
        wa.subscribe(c, Some(0)).await;
    }
    for k in 0..60 {
        let c = &chats[k % chats.len()];
        bob.send(c, &format!("c{k}"), "over the cluster")
            .await
            .created();
    }
    let mut got: HashMap<String, Vec<u64>> = HashMap::new();
    let mut n = 0;
    while n < 60 {
        if let Frame::Message(m) = wa.next().await {
            got.entry(m.message.chat_id)
                .or_default()
                .push(m.message.seq);
            n += 1;
        }
    }
    for c in &chats {
        assert_eq!(
            got[c],
            (1..=10).collect::<Vec<_>>(),
            "chat {c} over sharded pub/sub"
        );
    }
    let store = cl.store().await;
    for u in [&alice, &bob] {
        assert_eq!(
            list_from_api(&a_api, u).await,
            list_from_store(&store, u).await
        );
    }
    store.close().await;
    cl.cleanup().await;
}
