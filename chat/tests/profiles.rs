//! Profiles on the standalone server: display name and about, avatars and
//! the uploads refused (non-images, polyglots, bombs, oversize), changes
//! told live to contacts and nobody else, and `sync_profiles` on resume
//! (the scenario is `common/profiles.rs`, run in distributed mode too).

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_change_show_and_reach_contacts() {
    let s = TestServer::start().await;
    common::profiles::scenario(&s.api(), Duration::from_millis(200)).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_avatar_upload_over_the_configured_size_is_refused() {
    let s = TestServer::start_with(|c| c.gateway.max_avatar_bytes = Some(10_000)).await;
    let ann = s.api().register("ann").await;
    let small = common::profiles::png(20, 20);
    assert!(small.len() < 10_000);
    ann.put_avatar(small).await.ok();
    let big = common::profiles::jpeg(400, 400);
    assert!(big.len() > 10_000, "{}", big.len());
    assert_eq!(ann.put_avatar(big).await.refused(), (413, "too_large"));
    s.stop().await;
}
