//! Ephemeral chat state: what goes straight through pub/sub to a chat's
//! subscribers and never through the command log or the store.

use chat_core::model::ChatKind;
use chat_core::ports::Mutation;
use chat_core::presence::{Status, UserPresence, Visibility};
use chat_core::wire::{Envelope, PubKind, ServerFrame, TYPING_TTL_MS, chat_channel, user_channel};
use chat_core::{ChatId, UserId, direct_chat_id, now_ms, rules};
use serde::Serialize;

use super::Service;
use crate::error::ApiError;
use crate::limits::Action;

/// Who of a chat's members is online, as one user may see it.
#[derive(Clone, Debug, Serialize)]
pub struct PresenceView {
    /// Chat.
    pub chat_id: ChatId,
    /// Each member as the viewer may see them; empty above the presence
    /// group limit.
    pub users: Vec<UserPresence>,
    /// Members shown online (above the limit: those who show it to
    /// everyone).
    pub online: u32,
}

/// A user's presence setting.
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize)]
pub struct PresenceSetting {
    /// Who may see the user's online status and last-seen time.
    pub visibility: Visibility,
}

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

    /// `get_presence`: the presence of `chat`'s members as `me`, a member,
    /// may see it. Counts as a history read (rate limit `history`).
    pub async fn chat_presence(&self, me: UserId, chat: ChatId) -> Result<PresenceView, ApiError> {
        self.check_reader(me, chat).await?;
        self.limiter.check(Action::History, &me.to_string()).await?;
        let found = self.reads.chats(&[chat]).await?.into_iter().next();
        let Some(found) = found else {
            return Err(ApiError::new(chat_core::Code::ChatNotFound, "no such chat"));
        };
        if found.kind == ChatKind::Group && found.member_count > self.presence_group_limit {
            let online =
                crate::presence::online_count(&self.reads, self.presence.as_ref(), chat).await?;
            return Ok(PresenceView {
                chat_id: chat,
                users: Vec::new(),
                online,
            });
        }
        let members: Vec<UserId> = self
            .reads
            .members(chat)
            .await?
            .into_iter()
            .map(|m| m.user_id)
            .collect();
        let seen = self
            .presence
            .seen(&members)
            .await
            .map_err(|e| ApiError::internal("reading presence", e))?;
        let mine = self.reads.chat_ids(me).await?;
        let users: Vec<UserPresence> = members
            .into_iter()
            .zip(seen)
            .map(|(user, seen)| {
                let contact = mine.contains(&direct_chat_id(me, user));
                UserPresence::shown(me, user, seen, contact)
            })
            .collect();
        let online = users.iter().filter(|u| u.status == Status::Online).count() as u32;
        Ok(PresenceView {
            chat_id: chat,
            users,
            online,
        })
    }

    /// `GET /me/presence`.
    pub async fn presence_setting(&self, me: UserId) -> Result<PresenceSetting, ApiError> {
        Ok(PresenceSetting {
            visibility: self.store.presence_visibility(me).await?,
        })
    }

    /// `PUT /me/presence`: stores the choice and tells the user's
    /// connections (their gateways report it at once; their devices learn
    /// it). Rate limit `profile`.
    pub async fn set_presence_setting(
        &self,
        me: UserId,
        setting: PresenceSetting,
    ) -> Result<PresenceSetting, ApiError> {
        self.limiter.check(Action::Profile, &me.to_string()).await?;
        self.store
            .apply(&[Mutation::SetPresenceVisibility {
                user_id: me,
                visibility: setting.visibility,
            }])
            .await?;
        // Stored already: a gateway that misses it reads the choice again
        // when pub/sub comes back (or the user reconnects).
        self.tell_devices(
            me,
            &ServerFrame::PresenceVisibility {
                visibility: setting.visibility,
            },
        )
        .await;
        Ok(setting)
    }

    /// Publishes a frame to every connection of `me` (their user channel).
    /// Best effort: what it tells is stored, and read again on reconnect.
    pub(super) async fn tell_devices(&self, me: UserId, frame: &ServerFrame) {
        let json = match serde_json::to_vec(frame) {
            Ok(j) => j,
            Err(e) => {
                tracing::error!(error = %e, "encoding a frame for the user's devices");
                return;
            }
        };
        let env = Envelope::encode(PubKind::UserEvent, ChatId(0), 0, now_ms(), &json);
        if let Err(e) = self.pubsub.publish(&user_channel(me), env).await {
            tracing::warn!(error = %e, user = %me, "a frame to the user's devices not published");
        }
    }
}
