//! Test-only fault injection (feature `failpoints`): the distributed fault
//! tests make a writer die at a chosen point of a batch.

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
    let prefix = prefix.to_string_lossy();
    let hit = records.iter().any(|r| {
        matches!(
            serde_json::from_slice::<CommandRecord>(&r.payload),
            Ok(CommandRecord { cmd: Command::Send { client_msg_id, .. }, .. })
                if client_msg_id.starts_with(prefix.as_ref())
        )
    });
    if hit {
        tracing::warn!("failpoint: exiting after the commit, before producing the effects");
        std::process::exit(86);
    }
}
