//! Typing notices on the standalone server (the scenario is `common/live.rs`,
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
