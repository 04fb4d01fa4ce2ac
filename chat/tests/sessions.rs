//! Login sessions (docs/security.md, "Sessions and tokens"): refresh tokens
//! rotate on every use and a reused one ends its session; logging out ends
//! one session or all of them, at once, on HTTP and on open WebSockets.

mod common;

use std::time::Duration;

use common::*;

/// Waits for the connection to be told its session ended and closed (4001).
async fn closed_as_revoked(ws: &mut Ws) {
    let mut told = false;
    let code = loop {
        match ws.next_within(Duration::from_secs(10)).await {
            Next::Frame(f) => {
                if let Frame::Error(e) = *f {
                    assert_eq!(e.code, "session_revoked", "{e:?}");
                    told = true;
                }
            }
            Next::Closed(code) => break code,
            Next::Timeout => panic!("the connection outlived its session"),
        }
    };
    assert!(told, "the client is told why");
    assert_eq!(code, Some(4001));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_token_rotates_and_a_reused_one_ends_the_session() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("rotating").await;
    let mut ws = a.ws().await;

    // A refresh gives a new pair for the same session; both tokens work.
    let next = a.refresh().await.ok();
    assert_eq!(next.session_id, a.session_id);
    assert_ne!(next.refresh_token, a.refresh_token);
    assert!(next.refresh_expires_at > next.expires_at);
    let b = api.client(next);
    b.me().await.ok();
    a.me().await.ok();
    // Twice more: each refresh token is good once.
    let b = api.client(b.refresh().await.ok());
    let c = api.client(b.refresh().await.ok());
    c.me().await.ok();

    // The first token again: someone else holds a copy. The session ends
    // for everyone: refresh tokens, access tokens, connections.
    assert_eq!(a.refresh().await.refused(), (401, "session_revoked"));
    assert_eq!(c.refresh().await.refused(), (401, "session_revoked"));
    assert_eq!(c.me().await.refused(), (401, "session_revoked"));
    assert_eq!(a.me().await.refused(), (401, "session_revoked"));
    closed_as_revoked(&mut ws).await;
    // A new WebSocket with the session's token is refused too.
    let mut again = Ws::connect_raw(&s.ws_url).await;
    again.auth(&c.token).await;
    closed_as_revoked(&mut again).await;

    // Logging in again opens a new session.
    let d = api.login("rotating").await;
    assert_ne!(d.session_id, a.session_id);
    d.me().await.ok();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_refresh_tokens_are_refused_and_end_nothing() {
    let s = TestServer::start().await;
    let api = s.api();
    let a = api.register("holder").await;
    let parts: Vec<&str> = a.refresh_token.split('.').collect();
    assert_eq!(parts.len(), 5, "r1.user.session.generation.secret");
    let wrong_secret = format!(
        "{}.{}.{}.{}.{}",
        parts[0],
        parts[1],
        parts[2],
        parts[3],
        "0".repeat(64)
    );
    let other_user = format!(
        "{}.{}.{}.{}.{}",
        parts[0], "1", parts[2], parts[3], parts[4]
    );
    let later_generation = format!(
        "{}.{}.{}.{}.{}",
        parts[0], parts[1], parts[2], "7", parts[4]
    );
    for bad in [
        "",
        "garbage",
        a.token.as_str(),
        &wrong_secret,
        &other_user,
        &later_generation,
        &"r1.".repeat(5000),
    ] {
        assert_eq!(
            api.try_refresh(bad).await.refused(),
            (401, "invalid_token"),
            "{bad:.40}"
        );
    }
    // None of that ended the session: the holder refreshes as usual.
    let next = api.client(a.refresh().await.ok());
    next.me().await.ok();
    // Not JSON of the shape: a clear 400.
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/auth/refresh",
            None,
            Some(serde_json::json!({"token": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_json"))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_ends_one_session_and_logout_everywhere_ends_all() {
    let s = TestServer::start().await;
    let api = s.api();
    let phone = api.register("traveller").await;
    let laptop = api.login("traveller").await;
    let tablet = api.login("traveller").await;
    let mut phone_ws = phone.ws().await;
    let mut laptop_ws = laptop.ws().await;

    let list = laptop.sessions().await.ok().sessions;
    assert_eq!(list.len(), 3);
    assert_eq!(
        list.iter()
            .filter(|x| x.current)
            .map(|x| &x.id)
            .collect::<Vec<_>>(),
        vec![&laptop.session_id]
    );

    // Log out: this session ends at once, the others do not.
    phone.logout().await.status(204);
    assert_eq!(phone.me().await.refused(), (401, "session_revoked"));
    assert_eq!(phone.refresh().await.refused(), (401, "session_revoked"));
    closed_as_revoked(&mut phone_ws).await;
    laptop.me().await.ok();
    laptop_ws.ping().await;
    assert!(matches!(laptop_ws.next().await, Frame::Pong(_)));
    assert_eq!(laptop.sessions().await.ok().sessions.len(), 2);

    // End another of one's own sessions; not someone else's, not twice.
    let stranger = api.register("stranger").await;
    assert_eq!(
        stranger.end_session(&laptop.session_id).await.refused(),
        (404, "session_not_found")
    );
    laptop.me().await.ok();
    tablet.end_session(&laptop.session_id).await.status(204);
    assert_eq!(laptop.me().await.refused(), (401, "session_revoked"));
    closed_as_revoked(&mut laptop_ws).await;
    assert_eq!(
        tablet.end_session(&laptop.session_id).await.refused(),
        (404, "session_not_found")
    );
    assert_eq!(
        tablet.end_session("not-a-number").await.refused(),
        (400, "invalid_id")
    );

    // Everywhere: every session, this one included.
    let desktop = api.login("traveller").await;
    let mut desktop_ws = desktop.ws().await;
    tablet.logout_everywhere().await.status(204);
    for c in [&tablet, &desktop] {
        assert_eq!(c.me().await.refused(), (401, "session_revoked"));
        assert_eq!(c.refresh().await.refused(), (401, "session_revoked"));
    }
    closed_as_revoked(&mut desktop_ws).await;
    // The stranger was not touched; the traveller logs in again.
    stranger.me().await.ok();
    api.login("traveller").await.me().await.ok();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_survive_a_restart_and_expire_unless_refreshed() {
    let mut s = TestServer::start_with(|c| {
        c.gateway.refresh_ttl_secs = Some(2);
    })
    .await;
    let a = s.api().register("sleeper").await;
    let b = s.api().register("keeper").await;
    s = s.restart().await;
    // Stored, not held in memory: the sessions survive a restart.
    let b = b.via(&s.api());
    let b = s.api().client(b.refresh().await.ok());
    b.me().await.ok();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    // Two seconds without a refresh: the session is over.
    assert_eq!(
        a.via(&s.api()).refresh().await.refused(),
        (401, "token_expired")
    );
    assert_eq!(
        a.via(&s.api()).me().await.refused(),
        (401, "session_revoked")
    );
    s.stop().await;
}
