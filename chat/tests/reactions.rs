//! Reactions on the standalone server (the scenario is
//! `common/reactions.rs`, run in distributed mode too).

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reactions_are_counted_bounded_and_replayed() {
    let s = TestServer::start().await;
    common::reactions::reactions_scenario(&s.api()).await;
    s.stop().await;
}
