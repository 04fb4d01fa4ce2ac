//! Presence: who is online now, and when the others were last seen.
//!
//! Ephemeral: held in the cache tier (Redis with expiry in distributed mode,
//! in-process in standalone), never in the log or the store. A gateway
//! reports the users it holds connections of: when the first one opens, then
//! on a heartbeat, each report good for a TTL; when the last one on that
//! gateway closes, it says so. A user is online while any gateway's report
//! is live, so several devices on several gateways count once, and a gateway
//! that dies stops reporting: its users expire instead of staying online.
//!
//! Only the user's choice of who may see it is durable (in the store, read
//! by the gateway when the user connects, and carried along with every
//! report so that readers need nothing else).

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{CacheError, UserId};

/// Who may see a user's online status and last-seen time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Every member of a chat with the user (the default).
    #[default]
    Everyone,
    /// Only users with whom the user has a direct chat.
    Contacts,
    /// Nobody.
    Nobody,
}

impl Visibility {
    /// The name stored and shown (`everyone`, `contacts`, `nobody`).
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Everyone => "everyone",
            Visibility::Contacts => "contacts",
            Visibility::Nobody => "nobody",
        }
    }

    /// The visibility of a stored name; anything else is `None`.
    pub fn parse(s: &str) -> Option<Visibility> {
        Some(match s {
            "everyone" => Visibility::Everyone,
            "contacts" => Visibility::Contacts,
            "nobody" => Visibility::Nobody,
            _ => return None,
        })
    }
}

/// What the presence tier knows of a user.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    /// A gateway reported a connection of the user within its TTL.
    pub online: bool,
    /// Unix ms of the last report or disconnection (`None`: never seen, or
    /// forgotten).
    pub last_seen: Option<i64>,
    /// The user's choice, as last reported (`None`: unknown, shown to
    /// nobody).
    pub visibility: Option<Visibility>,
}

/// A user's status as shown to another user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Connected now.
    Online,
    /// Not connected (with `last_seen` when known).
    Offline,
    /// The user does not show it to the viewer.
    Hidden,
}

/// One user's presence as a viewer may see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPresence {
    /// The user.
    pub user_id: UserId,
    /// Online, offline or hidden.
    pub status: Status,
    /// With `offline`: Unix ms the user was last seen, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
}

impl UserPresence {
    /// What `viewer` may see of `user`, known as `seen`; `contact`: the two
    /// have a direct chat.
    pub fn shown(viewer: UserId, user: UserId, seen: Seen, contact: bool) -> UserPresence {
        let visible = viewer == user
            || match seen.visibility {
                Some(Visibility::Everyone) => true,
                Some(Visibility::Contacts) => contact,
                Some(Visibility::Nobody) | None => false,
            };
        let (status, last_seen) = match (visible, seen.online) {
            (false, _) => (Status::Hidden, None),
            (true, true) => (Status::Online, None),
            (true, false) => (Status::Offline, seen.last_seen),
        };
        UserPresence {
            user_id: user,
            status,
            last_seen,
        }
    }
}

/// Where presence is kept: Redis with expiry, or in-process.
#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// `users` (each with their visibility) hold a connection on `gateway`:
    /// online through it for `ttl` from now. Returns, for each, whether the
    /// user was online already (through any gateway): `false` is a user
    /// coming online.
    async fn beat(
        &self,
        gateway: &str,
        users: &[(UserId, Visibility)],
        ttl: Duration,
    ) -> Result<Vec<bool>, CacheError>;

    /// The last connection of `user` on `gateway` closed: last seen now.
    /// Returns what is known of the user after it: whether they are still
    /// online through another gateway, and the last-seen time kept.
    async fn gone(&self, gateway: &str, user: UserId) -> Result<Seen, CacheError>;

    /// What is known of `users`, in their order.
    async fn seen(&self, users: &[UserId]) -> Result<Vec<Seen>, CacheError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_viewer_sees() {
        let (me, them) = (UserId(1), UserId(2));
        let seen = |online, v| Seen {
            online,
            last_seen: Some(5),
            visibility: v,
        };
        let status = |viewer, s, contact| UserPresence::shown(viewer, them, s, contact);
        use Visibility::*;
        assert_eq!(
            status(me, seen(true, Some(Everyone)), false).status,
            Status::Online
        );
        let off = status(me, seen(false, Some(Everyone)), false);
        assert_eq!((off.status, off.last_seen), (Status::Offline, Some(5)));
        assert_eq!(
            status(me, seen(true, Some(Contacts)), false).status,
            Status::Hidden
        );
        assert_eq!(
            status(me, seen(true, Some(Contacts)), true).status,
            Status::Online
        );
        let hidden = status(me, seen(false, Some(Nobody)), true);
        assert_eq!((hidden.status, hidden.last_seen), (Status::Hidden, None));
        // Unknown visibility shows nothing; one's own status always shows.
        assert_eq!(status(me, seen(true, None), true).status, Status::Hidden);
        assert_eq!(
            status(them, seen(true, Some(Nobody)), false).status,
            Status::Online
        );
    }

    #[test]
    fn visibility_names_round_trip() {
        for v in [
            Visibility::Everyone,
            Visibility::Contacts,
            Visibility::Nobody,
        ] {
            assert_eq!(Visibility::parse(v.as_str()), Some(v));
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::json!(v.as_str())
            );
        }
        assert_eq!(Visibility::parse("all"), None);
    }
}
