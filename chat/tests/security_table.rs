//! The authorization table of docs/security.md ("Who may do what"), tried
//! row by row as every kind of caller, in standalone and in distributed
//! mode. The expected cells are read from the document itself: the page and
//! the server cannot disagree without this test failing.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

/// The callers, in the table's column order.
const CALLERS: [&str; 7] = [
    "anonymous",
    "non-member",
    "banned",
    "silent",
    "member",
    "moder",
    "admin",
];

/// The table's rows: key → the expected cell per caller.
fn documented_table() -> BTreeMap<String, Vec<String>> {
    let doc = include_str!("../../docs/security.md");
    let start = doc
        .find("<!-- security-table")
        .expect("docs/security.md has the security table");
    let end = doc[start..]
        .find("<!-- end of the security table -->")
        .expect("the table's end marker")
        + start;
    let mut rows = BTreeMap::new();
    for line in doc[start..end].lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        assert_eq!(cells.len(), 3 + CALLERS.len(), "a row of 10 cells: {line}");
        let key = cells[0].trim_matches('`').to_string();
        rows.insert(key, cells[3..].to_vec());
    }
    assert!(!rows.is_empty(), "the table has rows");
    rows
}

/// The people and chats the rows act on.
struct World {
    api: Api,
    owner: Client,
    /// The callers but anonymous, by column name.
    callers: BTreeMap<&'static str, Client>,
    /// Each caller's own group (a forward's target).
    own: BTreeMap<&'static str, String>,
    group: String,
    /// A plain member the rows act on (removed, banned, re-roled and put
    /// back after each).
    target: Client,
    /// A second banned user, for `unban`.
    banned2: Client,
    /// Users added by `add_member` rows.
    fresh: Vec<Client>,
}

async fn world(api: Api) -> World {
    let owner = api.register("owner").await;
    let mut callers = BTreeMap::new();
    for name in &CALLERS[1..] {
        callers.insert(*name, api.register(&name.replace('-', "")).await);
    }
    let target = api.register("target").await;
    let banned2 = api.register("banned2").await;
    let mut fresh = Vec::new();
    for i in 0..CALLERS.len() {
        fresh.push(api.register(&format!("fresh{i}")).await);
    }
    let members: Vec<&Client> = ["banned", "silent", "member", "moder", "admin"]
        .iter()
        .map(|n| &callers[n])
        .chain([&target, &banned2])
        .collect();
    let group = owner.group("the group", &members).await;
    for (name, role) in [
        ("silent", Role::Silent),
        ("moder", Role::Moder),
        ("admin", Role::Admin),
    ] {
        owner.set_role(&group, &callers[name].id, role).await.ok();
    }
    for who in [&callers["banned"], &banned2] {
        let path = format!("/api/v1/chats/{group}/members/{}?ban=true", who.id);
        assert_eq!(owner.call("DELETE", &path, None).await.0, 200);
    }
    owner
        .send(&group, "first", "the first message")
        .await
        .created();
    let mut own = BTreeMap::new();
    for (name, c) in &callers {
        own.insert(*name, c.group(&format!("{name}'s own"), &[]).await);
    }
    let w = World {
        api,
        owner,
        callers,
        own,
        group,
        target,
        banned2,
        fresh,
    };
    w.settle().await;
    w
}

impl World {
    /// Waits until every caller's view of the group (the gateway's cache in
    /// distributed mode) shows the setup.
    async fn settle(&self) {
        for (name, c) in &self.callers {
            let want = match *name {
                "non-member" | "banned" => 403,
                _ => 200,
            };
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            loop {
                let (status, body) = c
                    .call("GET", &format!("/api/v1/chats/{}", self.group), None)
                    .await;
                let role_ok = want == 403 || body["role"].as_str() == Some(*name);
                if status == want && role_ok {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{name} never saw the group as set up: {status} {body}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    /// A new message of the owner's (another's message to every caller).
    async fn fresh_message(&self, key: &str) -> u64 {
        self.owner
            .send(&self.group, key, "owner's message")
            .await
            .created()
            .message
            .seq
    }

    /// One HTTP row as `caller` (`None`: anonymous): the cell it produced.
    async fn http(&self, key: &str, caller: Option<&Client>, col: usize) -> String {
        let g = &self.group;
        let name = CALLERS[col];
        let unique = format!("{key}-{name}");
        let (method, path, body): (&str, String, Option<Value>) = match key {
            "read_chat" => ("GET", format!("/chats/{g}"), None),
            "members" => ("GET", format!("/chats/{g}/members"), None),
            "presence" => ("GET", format!("/chats/{g}/presence"), None),
            "history" => ("GET", format!("/chats/{g}/messages"), None),
            "search_chat" => ("GET", format!("/search?q=hi&chat_id={g}"), None),
            "send" => (
                "POST",
                format!("/chats/{g}/messages"),
                Some(json!({"client_msg_id": unique, "text": "hi"})),
            ),
            "edit_other" => {
                let seq = self.fresh_message(&unique).await;
                (
                    "PATCH",
                    format!("/chats/{g}/messages/{seq}"),
                    Some(json!({"text": "changed"})),
                )
            }
            "react" => {
                let seq = self.fresh_message(&unique).await;
                (
                    "PUT",
                    format!("/chats/{g}/messages/{seq}/reactions/%F0%9F%91%8D"),
                    None,
                )
            }
            "mute" => ("PUT", format!("/chats/{g}/mute"), Some(json!({}))),
            "pin" => {
                let seq = self.fresh_message(&unique).await;
                ("PUT", format!("/chats/{g}/pins/{seq}"), None)
            }
            "delete_other" => {
                let seq = self.fresh_message(&unique).await;
                ("DELETE", format!("/chats/{g}/messages/{seq}"), None)
            }
            "forward_out" => {
                let to = self.own.get(name).cloned().unwrap_or_else(|| g.clone());
                (
                    "POST",
                    format!("/chats/{g}/messages/1/forward"),
                    Some(json!({"to_chat_id": to, "client_msg_id": unique})),
                )
            }
            "read_cursor" => ("PUT", format!("/chats/{g}/read"), Some(json!({"seq": 1}))),
            "add_member" => (
                "POST",
                format!("/chats/{g}/members"),
                Some(json!({"user_id": self.fresh[col].id})),
            ),
            "set_role" => (
                "PATCH",
                format!("/chats/{g}/members/{}", self.target.id),
                Some(json!({"role": "silent"})),
            ),
            "remove_member" => (
                "DELETE",
                format!("/chats/{g}/members/{}", self.target.id),
                None,
            ),
            "ban_member" => (
                "DELETE",
                format!("/chats/{g}/members/{}?ban=true", self.target.id),
                None,
            ),
            "list_bans" => ("GET", format!("/chats/{g}/bans"), None),
            "update_chat" => (
                "PATCH",
                format!("/chats/{g}"),
                Some(json!({"history": "from_join"})),
            ),
            "unban" => (
                "DELETE",
                format!("/chats/{g}/bans/{}", self.banned2.id),
                None,
            ),
            other => panic!("docs/security.md names a row this test does not know: {other}"),
        };
        let path = format!("/api/v1{path}");
        let (status, body) = match caller {
            Some(c) => c.call(method, &path, body).await,
            None => self.api.call(method, &path, None, body).await,
        };
        let cell = match body["error"]["code"].as_str() {
            Some(code) => format!("{status} {code}"),
            None => status.to_string(),
        };
        self.restore(key, status).await;
        cell
    }

    /// Puts back what a successful row changed.
    async fn restore(&self, key: &str, status: u16) {
        if status >= 300 {
            return;
        }
        let (o, g, t) = (&self.owner, &self.group, &self.target);
        match key {
            "set_role" => {
                o.set_role(g, &t.id, Role::Member).await.ok();
            }
            "update_chat" => {
                let all = json!({"history": "all"});
                assert_eq!(
                    o.call("PATCH", &format!("/api/v1/chats/{g}"), Some(all))
                        .await
                        .0,
                    200
                );
            }
            "remove_member" => {
                o.add_member(g, &t.id, None).await.ok();
            }
            "ban_member" => {
                let unban = format!("/api/v1/chats/{g}/bans/{}", t.id);
                assert_eq!(o.call("DELETE", &unban, None).await.0, 200);
                o.add_member(g, &t.id, None).await.ok();
            }
            "unban" => {
                let b = &self.banned2;
                o.add_member(g, &b.id, None).await.ok();
                let ban = format!("/api/v1/chats/{g}/members/{}?ban=true", b.id);
                assert_eq!(o.call("DELETE", &ban, None).await.0, 200);
            }
            _ => {}
        }
    }

    /// One WebSocket row as `caller`: `ok`, or the refusal's code.
    async fn ws(&self, key: &str, caller: Option<&Client>) -> String {
        let g = &self.group;
        let frame = match key {
            "ws_subscribe" => json!({"type": "subscribe", "chat_id": g}),
            "ws_send" => {
                json!({"type": "send", "chat_id": g, "client_msg_id": format!("ws-{}", caller.map_or("anon", |c| c.name.as_str())), "text": "hi"})
            }
            "ws_read" => json!({"type": "read", "chat_id": g, "seq": 1}),
            "ws_typing" => json!({"type": "typing", "chat_id": g}),
            "ws_get_presence" => json!({"type": "get_presence", "chat_id": g}),
            "ws_react" => {
                json!({"type": "react", "chat_id": g, "seq": 1, "emoji": "👍", "ref": "r"})
            }
            "ws_pin" => json!({"type": "pin", "chat_id": g, "seq": 1, "ref": "p"}),
            other => panic!("docs/security.md names a row this test does not know: {other}"),
        };
        let mut ws = match caller {
            Some(c) => c.ws().await,
            None => Ws::connect_raw(&self.api.ws_url()).await,
        };
        // (Anonymous connections are refused and closed at their first frame.)
        let silent_on_success = key == "ws_typing" && caller.is_some();
        ws.send(frame).await;
        if silent_on_success {
            // Nothing answers a typing notice that is passed on: a ping
            // after it is answered first.
            ws.ping().await;
        }
        // The answer, past events of the user's own channel (a read cursor
        // moved by another row) that may come first.
        loop {
            match ws.next_within(FRAME_WAIT).await {
                Next::Frame(f) => match *f {
                    Frame::Subscribed(_) | Frame::Ack(_) | Frame::PresenceList(_) => {
                        return "ok".into();
                    }
                    Frame::Pong(_) if silent_on_success => return "ok".into(),
                    Frame::Error(e) => return e.code,
                    Frame::Rejected(r) => return r.code,
                    _ => continue,
                },
                other => return format!("no answer: {other:?}"),
            }
        }
    }
}

/// Tries every documented row as every caller; returns the cells that do
/// not hold.
async fn check_table(api: Api) -> Vec<String> {
    let table = documented_table();
    let w = world(api).await;
    let mut wrong = Vec::new();
    for (key, expected) in &table {
        for (col, want) in expected.iter().enumerate() {
            let caller = CALLERS[col];
            let client = w.callers.get(caller);
            let got = if key.starts_with("ws_") {
                w.ws(key, client).await
            } else {
                w.http(key, client, col).await
            };
            if &got != want {
                wrong.push(format!(
                    "{key} as {caller}: documented {want:?}, got {got:?}"
                ));
            }
        }
    }
    wrong
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_table_holds_standalone() {
    let s = TestServer::start().await;
    let wrong = check_table(s.api()).await;
    assert!(
        wrong.is_empty(),
        "cells that do not hold:\n{}",
        wrong.join("\n")
    );
    s.stop().await;
}

#[cfg(feature = "distributed")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_security_table_holds_distributed() {
    let mut cl = common::cluster::Cluster::new();
    let gws = cl.start(1, 1, 1);
    let wrong = check_table(Api::new(&gws[0]).with_timeout(Duration::from_secs(30))).await;
    assert!(
        wrong.is_empty(),
        "cells that do not hold:\n{}",
        wrong.join("\n")
    );
    cl.cleanup().await;
}
