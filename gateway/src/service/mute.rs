//! Muting a chat: the user's own setting on their membership (no command
//! through the log: nothing in the chat orders with it). Unread still
//! counts; the offline notifier skips muted members.

use chat_core::model::{MUTED_FOREVER, is_muted};
use chat_core::ports::Mutation;
use chat_core::wire::ServerFrame;
use chat_core::{ChatId, Code, UserId, now_ms};

use super::{ChatView, Service};
use crate::error::ApiError;
use crate::limits::Action;

impl Service {
    /// `PUT /chats/{id}/mute` (`until`: Unix ms, `None` for good) and
    /// `DELETE` (`mute: false`): stored on the caller's membership, their
    /// cached memberships dropped, their devices told (`muted`). Rate limit
    /// `edit`.
    pub async fn set_mute(
        &self,
        me: UserId,
        chat: ChatId,
        mute: bool,
        until: Option<i64>,
    ) -> Result<ChatView, ApiError> {
        self.limiter.check(Action::Edit, &me.to_string()).await?;
        let until = match (mute, until) {
            (false, _) => None,
            (true, None) => Some(MUTED_FOREVER),
            (true, Some(u)) if is_muted(Some(u), now_ms()) && u <= MUTED_FOREVER => Some(u),
            (true, Some(u)) => {
                return Err(ApiError::new(
                    Code::InvalidMute,
                    format!(
                        "until must be a future time in Unix ms, at most {MUTED_FOREVER} (or left out: for good); got {u}"
                    ),
                ));
            }
        };
        let (summary, role) = self.reads.authorize(me, chat).await?;
        self.store
            .apply(&[Mutation::SetMute {
                user_id: me,
                chat_id: chat,
                until,
            }])
            .await?;
        if let Err(e) = self.reads.cache.invalidate_memberships(me).await {
            // The entry expires; until then the list shows the old setting.
            tracing::warn!(error = %e, user = %me, "memberships not invalidated after a mute");
        }
        self.tell_devices(
            me,
            &ServerFrame::Muted {
                chat_id: chat,
                muted_until: until,
            },
        )
        .await;
        self.chat_view(me, summary, role).await
    }
}
