//! A role task that dies in the standalone server (issue 12, item 6): the
//! writer panics on a batch (a failpoint, feature `failpoints`); its
//! supervisor starts it again, the new writer reads the batch again from the
//! log, and the send is answered — the server never runs on without a writer.

#![cfg(feature = "failpoints")]

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_panics_is_started_again_and_the_send_goes_through() {
    let dir = tempfile::tempdir().unwrap();
    let server = standalone_process(dir.path(), "server.log")
        .env("CHAT_FAILPOINT_PANIC_ON_SEND", "boom")
        .start();
    let api = Api::new(server.base_url());
    let alice = api.register("alice").await;
    let chat = alice.group("g", &[]).await;
    alice.send(&chat, "fine-1", "before").await.created();
    let sent = alice
        .send(&chat, "boom-1", "the writer panics on this one")
        .await;
    assert_eq!(
        sent.status,
        201,
        "answered once the writer is started again: {sent:?}\n{}",
        server.log_text()
    );
    let after = alice.send(&chat, "fine-2", "after").await.created();
    assert_eq!(after.message.seq, 3, "no gap, nothing twice");
    let log = server.log_text();
    assert!(
        log.contains("panicked") && log.contains("starting it again"),
        "the supervisor saw the panic: {log}"
    );
}
