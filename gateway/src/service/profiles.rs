//! Profiles: display name, about text and avatar; their changes told to
//! the user's contacts (live, and on resume with `sync_profiles`).
//!
//! A profile lives with its account on the user's shard and is written here,
//! as registration and sessions are (it orders with nothing in any chat).
//! A change is then published as a `user_updated` frame on the channel of
//! every chat the user is in (each chat's subscribers are exactly the
//! user's contacts that are online) and on the user's own channel (their
//! other devices): one publish per chat, not one per contact.

use chat_core::model::{Avatar, ProfilePatch, User};
use chat_core::ports::Mutation;
use chat_core::wire::{Envelope, PubKind, ServerFrame, chat_channel, user_channel};
use chat_core::{ChatId, Code, UserId, now_ms, rules};

use super::Service;
use crate::error::ApiError;
use crate::limits::Action;

/// Most profiles one `sync_profiles` answer lists; more changed means
/// `complete: false` (fetch the users shown again).
pub const MAX_SYNC_PROFILES: u32 = 500;
/// How far back a `sync_profiles` may reach: older means `complete: false`.
pub const MAX_SYNC_AGE_MS: i64 = 7 * 24 * 3600 * 1000;
/// A `since` is taken back by this much: gateways' clocks differ a little,
/// and a change stamped just before an answer may commit just after it.
/// Profiles seen twice are harmless (a client replaces them).
pub const SYNC_SKEW_MS: i64 = 60_000;

impl Service {
    /// `PATCH /me`: changes the caller's display name and/or about text.
    pub async fn update_profile(
        &self,
        me: UserId,
        display_name: Option<String>,
        about: Option<String>,
    ) -> Result<User, ApiError> {
        let patch = ProfilePatch {
            display_name: display_name
                .map(|n| rules::check_display_name(&n))
                .transpose()?,
            about: about.map(|a| rules::check_about(&a)).transpose()?,
        };
        if patch == ProfilePatch::default() {
            return Err(ApiError::new(
                Code::BadJson,
                "name at least one of display_name, about",
            ));
        }
        self.limiter.check(Action::Profile, &me.to_string()).await?;
        self.store
            .apply(&[Mutation::SetProfile {
                user_id: me,
                patch,
                at: self.profile_clock(me).await?,
            }])
            .await?;
        self.changed(me).await
    }

    /// `PUT /me/avatar`: checks the upload, keeps a re-encoded image.
    pub async fn set_avatar(&self, me: UserId, upload: bytes::Bytes) -> Result<User, ApiError> {
        self.limiter.check(Action::Profile, &me.to_string()).await?;
        let avatar = self
            .image_work(move || crate::avatar::reencode(&upload))
            .await??;
        self.store
            .apply(&[Mutation::SetAvatar {
                user_id: me,
                avatar: Some(avatar),
                at: self.profile_clock(me).await?,
            }])
            .await?;
        self.changed(me).await
    }

    /// `DELETE /me/avatar`.
    pub async fn remove_avatar(&self, me: UserId) -> Result<User, ApiError> {
        self.limiter.check(Action::Profile, &me.to_string()).await?;
        self.store
            .apply(&[Mutation::SetAvatar {
                user_id: me,
                avatar: None,
                at: self.profile_clock(me).await?,
            }])
            .await?;
        self.changed(me).await
    }

    /// `GET /users/{id}/avatar`: to a signed-in user, the current image; to
    /// anyone else only when `v` names it (the URL a profile gives is a
    /// capability: an id alone says nothing).
    pub async fn avatar(
        &self,
        viewer: Option<UserId>,
        id: UserId,
        v: Option<&str>,
    ) -> Result<Avatar, ApiError> {
        let none = || ApiError::new(Code::AvatarNotFound, "no such avatar");
        let a = self.store.avatar(id).await?.ok_or_else(none)?;
        if viewer.is_none() && v != Some(a.tag.as_str()) {
            return Err(none());
        }
        Ok(a)
    }

    /// `sync_profiles`: the contacts (users sharing a chat with `me`, and
    /// `me`) whose profile changed since `since`.
    pub async fn sync_profiles(
        &self,
        me: UserId,
        since: Option<i64>,
    ) -> Result<ServerFrame, ApiError> {
        let as_of = now_ms();
        let Some(since) = since else {
            return Ok(ServerFrame::Profiles {
                users: Vec::new(),
                as_of,
                complete: true,
            });
        };
        let incomplete = ServerFrame::Profiles {
            users: Vec::new(),
            as_of,
            complete: false,
        };
        if as_of - since > MAX_SYNC_AGE_MS {
            return Ok(incomplete);
        }
        let changed = self
            .store
            .profiles_since(since - SYNC_SKEW_MS, MAX_SYNC_PROFILES + 1)
            .await?;
        if changed.len() > MAX_SYNC_PROFILES as usize {
            return Ok(incomplete);
        }
        if changed.is_empty() {
            return Ok(ServerFrame::Profiles {
                users: changed,
                as_of,
                complete: true,
            });
        }
        let mine = self.reads.chat_ids(me).await?;
        let checks = changed.into_iter().map(|u| async {
            if u.id == me {
                return Ok::<_, ApiError>(Some(u));
            }
            let theirs = self.reads.memberships(u.id).await?;
            Ok(theirs
                .iter()
                .any(|m| mine.contains(&m.chat_id))
                .then_some(u))
        });
        let mut users = Vec::new();
        for r in futures_util::future::join_all(checks).await {
            users.extend(r?);
        }
        Ok(ServerFrame::Profiles {
            users,
            as_of,
            complete: true,
        })
    }

    /// The time a profile change is stamped with: now, but never at or
    /// before the profile's last change (a clock that went back would hide
    /// the change from `sync_profiles`).
    async fn profile_clock(&self, me: UserId) -> Result<i64, ApiError> {
        let now = now_ms();
        let last = self
            .store
            .users(&[me])
            .await?
            .first()
            .map_or(0, |u| u.updated_at);
        Ok(now.max(last + 1))
    }

    /// Reads the changed profile back and tells everyone who sees it.
    async fn changed(&self, me: UserId) -> Result<User, ApiError> {
        let user = self.me(me).await?;
        let json = bytes::Bytes::from(
            serde_json::to_vec(&ServerFrame::UserUpdated { user: user.clone() })
                .map_err(|e| ApiError::internal("encoding user_updated", e))?,
        );
        let at = now_ms();
        let mut out = vec![(
            user_channel(me),
            Envelope::encode(PubKind::UserEvent, ChatId(0), 0, at, &json),
        )];
        match self.reads.memberships(me).await {
            Ok(list) => out.extend(list.into_iter().map(|m| {
                (
                    chat_channel(m.chat_id),
                    Envelope::encode(PubKind::ChatEvent, m.chat_id, 0, at, &json),
                )
            })),
            Err(e) => {
                tracing::warn!(error = %e.message, user = %me, "profile change told to the user only")
            }
        }
        // Stored already: a lost publish is made up for by `sync_profiles`.
        if let Err(e) = self.pubsub.publish_many(out).await {
            tracing::warn!(error = %e, user = %me, "profile change not published");
        }
        Ok(user)
    }

    /// Runs image work on a blocking thread, a few at a time; waits at most
    /// a few seconds for a turn (`unavailable` beyond).
    async fn image_work<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || ApiError::new(Code::Unavailable, "images are being processed; retry soon");
        let _slot = tokio::time::timeout(super::PASSWORD_QUEUE_WAIT, self.image_slots.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| ApiError::internal("image work", e))
    }
}
