//! The OpenAPI document served by the gateway names only routes that exist,
//! every `/api/v1` route the server answers is in it, and the answers the server
//! gives have the shapes it documents.

mod common;

use std::collections::BTreeSet;

use common::schema::OpenApi;
use common::*;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_routes() {
    let s = TestServer::start().await;
    let api = s.api();
    let (st, doc) = api.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(st, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            ops += 1;
            let concrete = path
                .replace("{chat_id}", "1")
                .replace("{user_id}", "1")
                .replace("{seq}", "1")
                .replace("{session_id}", "1")
                .replace("{name}", "someone");
            let url = format!("/api/v1{concrete}");
            let body = if ["post", "put", "patch"].contains(&method.as_str()) {
                Some(Value::Object(Default::default()))
            } else {
                None
            };
            let (status, v) = api.call(&method.to_uppercase(), &url, None, body).await;
            // Unauthenticated or empty bodies are refused, but by the route itself:
            // never by the "no such endpoint" fallback nor as a wrong method.
            assert_ne!(
                v["error"]["code"], "not_found",
                "{method} {path} is documented but not routed"
            );
            assert_ne!(
                status, 405,
                "{method} {path} is documented but the method is not routed"
            );
            let documented: Vec<&String> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .collect();
            assert!(
                documented.iter().any(|c| c.as_str() == status.to_string()),
                "{method} {path} answered {status}, documented {documented:?}"
            );
        }
    }
    assert_eq!(ops, 44, "operations in the document");
    // An undocumented path is the fallback's 404.
    let (st, v) = api.call("GET", "/api/v1/undocumented", None, None).await;
    assert_eq!((st, v["error"]["code"].as_str()), (404, Some("not_found")));
    s.stop().await;
}

/// Every answer of a session that touches every operation, successes and
/// refusals, is checked against the schema the document declares for its
/// operation and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_have_the_documented_shapes() {
    let s = TestServer::start_with(|c| c.gateway.max_frame_bytes = Some(4096)).await;
    let api = s.api().recording();
    let (st, doc) = api.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(st, 200);
    let doc = OpenApi::new(doc);

    // Accounts.
    let a = api.register("alice").await;
    let b = api.register("bob").await;
    api.register("carol").await;
    api.login("alice").await;
    api.try_register("alice", "password-123").await.refused();
    api.try_register("x", "password-123").await.refused();
    api.try_login("alice", "wrong-password").await.refused();
    a.me().await.ok();
    api.call("GET", "/api/v1/me", None, None).await;
    a.user(&b.id).await.ok();
    a.user_by_name("bob").await.ok();
    a.users(&[&a.id, &b.id]).await.ok();
    a.user("42").await.refused();

    // Profiles.
    a.update_me(json!({"display_name": "Alice A.", "about": "hi"}))
        .await
        .ok();
    a.update_me(json!({"display_name": ""})).await.refused();
    let with = a.put_avatar(common::profiles::png(40, 30)).await.ok();
    a.put_avatar(b"not an image".to_vec()).await.refused();
    a.put_avatar(common::profiles::png_bomb(5_000))
        .await
        .refused();
    let tag = with.avatar.expect("a tag");
    let (st, _, _) = api
        .get_bytes(&format!("/api/v1/users/{}/avatar?v={tag}", a.id), None, &[])
        .await;
    assert_eq!(st, 200);
    b.avatar(&b.id).await;
    a.delete_avatar().await.ok();

    // Sessions: refresh, list, end one, log out, log out everywhere.
    let a2 = api.client(api.login("alice").await.refresh().await.ok());
    api.try_refresh("r1.nonsense").await.refused();
    a2.sessions().await.ok();
    let extra = api.login("alice").await;
    a2.end_session(&extra.session_id).await.status(204);
    a2.end_session(&extra.session_id).await.refused();
    a2.logout().await.status(204);
    let c2 = api.login("carol").await;
    c2.logout_everywhere().await.status(204);
    let c = api.login("carol").await;

    // Chats: an empty one (no last message) and a busy one.
    let empty = a.group("empty", &[&b]).await;
    let chat = a.group("busy", &[&b]).await;
    let direct = a.create_direct(&b).await.created();
    b.create_direct(&a).await.ok();
    a.chat(&empty).await.ok();
    c.chat(&chat).await.refused();
    a.create_group("", &[]).await.refused();

    // Messages: new, duplicate, reply, edit, delete, forward (and again), read.
    a.send(&chat, "m1", "hello").await.created();
    a.send(&chat, "m1", "hello").await.ok();
    b.reply(&chat, "m2", "hi", 1).await.created();
    a.send(&chat, "m3", "to be deleted").await.created();
    a.edit(&chat, 1, "hello, edited").await.ok();
    a.delete(&chat, 3).await.ok();
    a.edit(&chat, 3, "too late").await.refused();
    b.edit(&chat, 1, "not mine").await.refused();
    a.forward(&chat, 2, &direct.id, "fw1").await.created();
    let again = a.forward(&chat, 2, &direct.id, "fw1").await.success();
    assert!(again.1.duplicate, "a forward repeated with its key");
    c.send(&chat, "c1", "let me in").await.refused();
    a.send(&chat, "big", &"x".repeat(5000)).await.refused();
    b.read(&chat, 2).await.ok();
    b.react(&chat, 1, "👍").await.ok();
    b.react(&chat, 1, "ok").await.refused();
    b.react(&chat, 3, "👍").await.refused();
    c.react(&chat, 1, "👍").await.refused();
    b.unreact(&chat, 1, "👍").await.ok();
    a.pin(&chat, 1).await.ok();
    b.pin(&chat, 2).await.refused();
    a.pin(&chat, 3).await.refused();
    a.unpin(&chat, 1).await.ok();
    b.mute(&chat, None).await.ok();
    b.mute(&chat, Some(1)).await.refused();
    c.mute(&chat, None).await.refused();
    b.unmute(&chat).await.ok();
    a.messages(&chat, "").await.ok();
    a.messages(&chat, "limit=2&before=3").await.ok();
    a.messages(&empty, "").await.ok();
    a.messages(&chat, "limit=0").await.refused();
    a.messages("12345", "").await.refused();
    a.messages("abc", "").await.refused();
    // Search: a hit with its highlights, a page with a cursor, refusals.
    let (st, found) = a.call("GET", "/api/v1/search?q=hello&limit=1", None).await;
    assert_eq!(st, 200, "{found}");
    assert_eq!(found["hits"][0]["highlights"], json!([[0, 5]]), "{found}");
    let (st, found) = a
        .call("GET", &format!("/api/v1/search?q=hi&chat_id={chat}"), None)
        .await;
    assert_eq!((st, found["hits"][0]["text"].clone()), (200, json!("hi")));
    assert_eq!(a.call("GET", "/api/v1/search?q=%20", None).await.0, 400);
    assert_eq!(
        c.call("GET", &format!("/api/v1/search?q=hi&chat_id={chat}"), None)
            .await
            .0,
        403
    );
    a.call(
        "POST",
        &format!("/api/v1/chats/{chat}/messages"),
        Some(json!({"text": "no key"})),
    )
    .await;

    // Members.
    a.members(&chat).await.ok();
    b.add_member(&chat, &c.id, None).await.refused();
    a.add_member(&chat, &c.id, None).await.ok();
    // Adding a member again changes nothing and is no error.
    a.add_member(&chat, &c.id, None).await.ok();
    a.set_role(&chat, &c.id, Role::Silent).await.ok();
    c.set_role(&chat, &a.id, Role::Member).await.refused();
    a.remove_member(&chat, &c.id).await.ok();
    a.chats().await.ok();
    b.chats().await.ok();
    c.chats().await.ok();

    // Presence: the setting, a bad one, a chat's members, a stranger.
    let _online = b.ws().await;
    assert_eq!(a.call("GET", "/api/v1/me/presence", None).await.0, 200);
    let contacts = Some(json!({"visibility": "contacts"}));
    assert_eq!(a.call("PUT", "/api/v1/me/presence", contacts).await.0, 200);
    let bad = Some(json!({"visibility": "friends"}));
    assert_eq!(a.call("PUT", "/api/v1/me/presence", bad).await.0, 400);
    let presence = format!("/api/v1/chats/{chat}/presence");
    let (st, body) = a.call("GET", &presence, None).await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(c.call("GET", &presence, None).await.0, 403);

    let exchanges: Vec<_> = api
        .exchanges()
        .into_iter()
        .filter(|e| e.path != "/api/v1/openapi.json")
        .collect();
    let mut problems = Vec::new();
    let mut covered = BTreeSet::new();
    for ex in &exchanges {
        problems.extend(doc.check(ex));
        if let Some(op) = doc.operation_id(&ex.method, &ex.path) {
            covered.insert((op, ex.status));
        }
    }
    assert!(
        problems.is_empty(),
        "{} answers disagree with the document:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // The session reached every operation's success, and refusals of each kind.
    let want = [
        ("register", 201),
        ("register", 400),
        ("register", 409),
        ("login", 200),
        ("login", 401),
        ("me", 200),
        ("me", 401),
        ("refresh", 200),
        ("refresh", 401),
        ("sessions", 200),
        ("endSession", 204),
        ("endSession", 404),
        ("logout", 204),
        ("logoutEverywhere", 204),
        ("users", 200),
        ("user", 200),
        ("user", 404),
        ("userByName", 200),
        ("chatList", 200),
        ("createChat", 201),
        ("createChat", 200),
        ("createChat", 400),
        ("getChat", 200),
        ("getChat", 403),
        ("members", 200),
        ("addMember", 200),
        ("addMember", 403),
        ("setRole", 200),
        ("setRole", 403),
        ("removeMember", 200),
        ("history", 200),
        ("history", 400),
        ("history", 404),
        ("send", 201),
        ("send", 200),
        ("send", 400),
        ("send", 403),
        ("send", 413),
        ("edit", 200),
        ("edit", 403),
        ("edit", 409),
        ("delete", 200),
        ("forward", 201),
        ("forward", 200),
        ("read", 200),
        ("search", 200),
        ("search", 400),
        ("search", 403),
        ("updateMe", 200),
        ("updateMe", 400),
        ("putAvatar", 200),
        ("putAvatar", 400),
        ("putAvatar", 413),
        ("deleteAvatar", 200),
        ("avatar", 200),
        ("avatar", 404),
        ("react", 200),
        ("react", 400),
        ("react", 403),
        ("react", 409),
        ("unreact", 200),
        ("pin", 200),
        ("pin", 403),
        ("pin", 409),
        ("unpin", 200),
        ("mute", 200),
        ("mute", 400),
        ("mute", 403),
        ("unmute", 200),
        ("presenceSetting", 200),
        ("setPresenceSetting", 200),
        ("setPresenceSetting", 400),
        ("chatPresence", 200),
        ("chatPresence", 403),
    ];
    let missing: Vec<_> = want
        .iter()
        .filter(|(op, st)| !covered.contains(&(op.to_string(), *st)))
        .collect();
    assert!(
        missing.is_empty(),
        "not reached: {missing:?}; reached {covered:?}"
    );
    s.stop().await;
}

/// The validator itself: it finds what it must find.
#[test]
fn the_validator_catches_shape_changes() {
    let doc = OpenApi::new(json!({
        "servers": [{"url": "/api/v1"}],
        "components": {"schemas": {
            "Id": {"type": "string", "pattern": "^[0-9]+$"},
            "Thing": {
                "type": "object",
                "required": ["id", "n"],
                "properties": {
                    "id": {"$ref": "#/components/schemas/Id"},
                    "n": {"type": "integer", "minimum": 0},
                    "kind": {"type": "string", "enum": ["a", "b"]},
                    "maybe": {"oneOf": [{"$ref": "#/components/schemas/Id"}, {"type": "null"}]},
                    "list": {"type": "array", "items": {"type": "boolean"}}
                }
            }
        }},
        "paths": {"/things/{id}": {"get": {"operationId": "thing", "responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}}
        }}}}
    }));
    let check = |status: u16, body: Value| {
        doc.check(&common::api::Exchange {
            method: "GET".into(),
            path: "/api/v1/things/7".into(),
            status,
            body,
        })
    };
    assert_eq!(
        doc.operation_id("GET", "/api/v1/things/7").as_deref(),
        Some("thing")
    );
    assert!(
        check(
            200,
            json!({"id": "7", "n": 1, "kind": "a", "maybe": null, "list": [true]})
        )
        .is_empty()
    );
    assert!(check(200, json!({"id": "7", "n": 0, "maybe": "8"})).is_empty());
    for (body, why) in [
        (json!({"n": 1}), "required"),
        (json!({"id": 7, "n": 1}), "type"),
        (json!({"id": "x7", "n": 1}), "pattern"),
        (json!({"id": "7", "n": -1}), "minimum"),
        (json!({"id": "7", "n": 1.5}), "integer"),
        (json!({"id": "7", "n": 1, "kind": "c"}), "enum"),
        (json!({"id": "7", "n": 1, "maybe": 5}), "oneOf"),
        (json!({"id": "7", "n": 1, "list": [1]}), "items"),
        (
            json!({"id": "7", "n": 1, "extra": true}),
            "undocumented property",
        ),
    ] {
        assert!(!check(200, body.clone()).is_empty(), "{why}: {body}");
    }
    assert!(!check(404, json!({})).is_empty(), "undocumented status");
}

/// The kit's typed bodies and frames refuse fields they do not know, so a
/// changed shape fails the test that received it.
#[test]
fn typed_bodies_refuse_unknown_fields() {
    let msg = json!({"id": "1", "chat_id": "2", "seq": 1, "sender_id": "3",
        "client_msg_id": "k", "text": "t", "created_at": 5, "deleted": false, "pts": 1});
    assert!(serde_json::from_value::<Message>(msg.clone()).is_ok());
    let mut extra = msg.clone();
    extra["surprise"] = json!(1);
    assert!(serde_json::from_value::<Message>(extra).is_err());
    let frame = json!({"type": "message", "message": msg});
    assert!(serde_json::from_value::<Frame>(frame).is_ok());
    assert!(serde_json::from_value::<Frame>(json!({"type": "pong"})).is_ok());
    assert!(serde_json::from_value::<Frame>(json!({"type": "pong", "x": 1})).is_err());
    assert!(
        serde_json::from_value::<Frame>(
            json!({"type": "read", "chat_id": "1", "user_id": "2", "seq": 3, "x": 1})
        )
        .is_err()
    );
    assert!(serde_json::from_value::<Frame>(json!({"type": "teleport"})).is_err());
}
