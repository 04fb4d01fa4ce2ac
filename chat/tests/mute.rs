//! Muting a chat on the standalone server (the scenario is
//! `common/mute.rs`, run in distributed mode too).

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_muted_chat_still_counts_unread_and_tells_the_users_devices() {
    let s = TestServer::start().await;
    common::mute::mute_scenario(&s.api()).await;
    s.stop().await;
}
