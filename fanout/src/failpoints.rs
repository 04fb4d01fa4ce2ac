//! Test-only fault injection (feature `failpoints`): pub/sub losing the
//! events of a member's removal, or delivering a member's join late.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use chat_core::UserId;

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

/// Joins held for [`replay_join`], by user.
static HELD: Mutex<Option<HashMap<UserId, (String, Bytes)>>> = Mutex::new(None);

fn replaying() -> bool {
    std::env::var("CHAT_FAILPOINT_REPLAY_JOINS").as_deref() == Ok("1")
}

/// `CHAT_FAILPOINT_REPLAY_JOINS=1`: a user's join (published as usual) is
/// kept…
pub fn hold_join(user: UserId, published: Option<&(String, Bytes)>) {
    if let (true, Some(p)) = (replaying(), published) {
        HELD.lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(HashMap::new)
            .insert(user, p.clone());
    }
}

/// …and published again right after that user's next removal, as a join
/// produced again late (a writer's successor, a fanout replay) would be.
pub fn replay_join(user: UserId, out: &mut Vec<(String, Bytes)>) {
    if !replaying() {
        return;
    }
    let held = HELD
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_or_insert_with(HashMap::new)
        .remove(&user);
    if let Some(p) = held {
        tracing::warn!(
            user = user.0,
            "failpoint: a join published again after the removal"
        );
        out.push(p);
    }
}
