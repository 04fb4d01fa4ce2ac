//! Ephemeral chat state: what goes straight through pub/sub to a chat's
//! subscribers and never through the command log or the store.

use chat_core::wire::{Envelope, PubKind, ServerFrame, TYPING_TTL_MS, chat_channel};
use chat_core::{ChatId, UserId, now_ms, rules};

use super::Service;
use crate::error::ApiError;

impl Service {
    /// `typing`: `me`, who may post in `chat`, is typing; its subscribers
    /// are told (the sender's own connections too: clients skip their own
    /// user). Lost if pub/sub loses it — it is refreshed every few seconds.
    pub async fn typing(&self, me: UserId, chat: ChatId) -> Result<(), ApiError> {
        let role = self.check_reader(me, chat).await?;
        rules::can_post(Some(role))?;
        let frame = ServerFrame::Typing {
            chat_id: chat,
            user_id: me,
            expires_in_ms: TYPING_TTL_MS,
        };
        let json =
            serde_json::to_vec(&frame).map_err(|e| ApiError::internal("encoding typing", e))?;
        let env = Envelope::encode(PubKind::ChatEvent, chat, 0, now_ms(), &json);
        if let Err(e) = self.pubsub.publish(&chat_channel(chat), env).await {
            tracing::debug!(error = %e, %chat, "typing notice not published");
        }
        Ok(())
    }
}
