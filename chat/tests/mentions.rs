//! Mentions on the standalone server (the scenario is
//! `common/mentions.rs`, run in distributed mode too).

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mentions_are_resolved_to_members_and_counted_until_read() {
    let s = TestServer::start().await;
    common::mentions::mentions_scenario(&s.api()).await;
    s.stop().await;
}
