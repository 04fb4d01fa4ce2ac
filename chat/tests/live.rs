//! Typing notices and presence on the standalone server (the scenario is `common/live.rs`,
//! run in distributed mode too).

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_reaches_the_chat_and_nobody_else() {
    let s = TestServer::start().await;
    common::live::typing_scenario(&s.api(), Duration::from_millis(200)).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_follows_connections_under_the_privacy_setting() {
    let s = TestServer::start_with(|c| c.gateway.presence_group_limit = Some(3)).await;
    let api = s.api();
    common::live::presence_scenario(&api, &api, Duration::from_millis(200)).await;
    s.stop().await;
}
