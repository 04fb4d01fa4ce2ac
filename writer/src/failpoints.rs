//! Test-only fault injection (feature `failpoints`): the distributed fault
//! tests make a writer die, or stall, at a chosen point of a batch.

use chat_core::ports::Record;
use chat_core::wire::{Command, CommandRecord};

/// `CHAT_FAILPOINT_EXIT_AFTER_COMMIT=PREFIX`: the process exits right after
/// committing a batch that holds a send whose `client_msg_id` starts with
/// PREFIX, before the batch's effects are produced — as a writer killed in
/// that window would.
pub fn after_commit(records: &[Record]) {
    let Some(prefix) = std::env::var_os("CHAT_FAILPOINT_EXIT_AFTER_COMMIT") else {
        return;
    };
    if has_send(records, &prefix.to_string_lossy()) {
        tracing::warn!("failpoint: exiting after the commit, before producing the effects");
        std::process::exit(86);
    }
}

/// `CHAT_FAILPOINT_STOP_BEFORE_APPLY=add_member`: the process stops itself
/// (SIGSTOP), once, after evaluating a batch that holds an `AddMember` and
/// before applying it — as a writer paused mid-batch (a frozen VM, a long
/// fsync) would. The test sends SIGCONT.
pub fn before_apply(commands: &[CommandRecord]) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if std::env::var("CHAT_FAILPOINT_STOP_BEFORE_APPLY").as_deref() != Ok("add_member") {
        return;
    }
    let hit = commands
        .iter()
        .any(|c| matches!(c.cmd, Command::AddMember { .. }));
    if hit && !DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        tracing::warn!("failpoint: stopping before applying the batch");
        let _ = std::process::Command::new("kill")
            .args(["-STOP", &std::process::id().to_string()])
            .status();
        tracing::warn!("failpoint: continued");
    }
}

/// `CHAT_FAILPOINT_PANIC_ON_SEND=PREFIX`: the writer's task panics, once per
/// process, on a batch that holds a send whose `client_msg_id` starts with
/// PREFIX, before applying it — as a bug would.
pub fn panic_on_send(records: &[Record]) {
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let Some(prefix) = std::env::var_os("CHAT_FAILPOINT_PANIC_ON_SEND") else {
        return;
    };
    if has_send(records, &prefix.to_string_lossy())
        && !DONE.swap(true, std::sync::atomic::Ordering::SeqCst)
    {
        panic!("failpoint: panicking on a send");
    }
}

/// Whether the batch holds a send whose key starts with `prefix`.
fn has_send(records: &[Record], prefix: &str) -> bool {
    records.iter().any(|r| {
        matches!(
            serde_json::from_slice::<CommandRecord>(&r.payload),
            Ok(CommandRecord { cmd: Command::Send { client_msg_id, .. }, .. })
                if client_msg_id.starts_with(prefix)
        )
    })
}
