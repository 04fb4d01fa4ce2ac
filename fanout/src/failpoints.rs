//! Test-only fault injection (feature `failpoints`): pub/sub losing the
//! events of a member's removal.

/// `CHAT_FAILPOINT_DROP_REMOVALS=user`: a removal is not published on the
/// removed user's channel; `=all`: on no channel (as if pub/sub lost both).
/// Returns whether to publish it on (the chat's channel, the user's channel).
pub fn removal_channels() -> (bool, bool) {
    match std::env::var("CHAT_FAILPOINT_DROP_REMOVALS").as_deref() {
        Ok("user") => (true, false),
        Ok("all") => (false, false),
        _ => (true, true),
    }
}
