//! Submitting commands to the log and awaiting their outcome.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chat_core::ports::Log;
use chat_core::wire::{Command, CommandRecord, Outcome, RECORD_VERSION, ReplyTo};
use chat_core::{Code, UserId, now_ms};
use tokio::sync::oneshot;

use crate::error::ApiError;
use crate::hub::Hub;

/// Produces commands keyed by chat id and tracks their replies.
pub struct Commander {
    /// The log commands go to.
    pub log: Arc<dyn Log>,
    /// Where replies arrive.
    pub hub: Arc<Hub>,
    /// This gateway's instance id (the reply channel).
    pub instance: String,
    /// Topic of commands.
    pub topic: String,
    /// How long to wait for an outcome.
    pub timeout: Duration,
}

/// A submitted command whose outcome has not arrived yet.
pub struct Pending {
    rx: oneshot::Receiver<Outcome>,
    request: u64,
    hub: Arc<Hub>,
    timeout: Duration,
}

impl Commander {
    /// Produces `cmd` on behalf of `actor`; returns once the log accepted it.
    pub async fn submit(&self, actor: UserId, cmd: Command) -> Result<Pending, ApiError> {
        let (request, rx) = self.hub.expect_reply();
        let chat = cmd.chat_id();
        let rec = CommandRecord {
            v: RECORD_VERSION,
            actor,
            accepted_at: now_ms(),
            reply_to: Some(ReplyTo {
                gateway: self.instance.clone(),
                request,
            }),
            cmd,
        };
        let payload = match serde_json::to_vec(&rec) {
            Ok(p) => Bytes::from(p),
            Err(e) => {
                self.hub.forget_reply(request);
                return Err(ApiError::internal("encode command", e));
            }
        };
        if let Err(e) = self.log.produce(&self.topic, chat.0, payload).await {
            self.hub.forget_reply(request);
            return Err(e.into());
        }
        crate::metrics::COMMANDS.inc();
        Ok(Pending {
            rx,
            request,
            hub: self.hub.clone(),
            timeout: self.timeout,
        })
    }

    /// Submits and waits: rejections become errors.
    pub async fn run(&self, actor: UserId, cmd: Command) -> Result<Outcome, ApiError> {
        match self.submit(actor, cmd).await?.wait().await? {
            Outcome::Rejected(r) => Err(r.into()),
            ok => Ok(ok),
        }
    }
}

impl Pending {
    /// The outcome, or a timeout error (the command may still be applied: resend
    /// with the same `client_msg_id` to learn its fate).
    pub async fn wait(mut self) -> Result<Outcome, ApiError> {
        let r = tokio::time::timeout(self.timeout, &mut self.rx).await;
        match r {
            Ok(Ok(o)) => Ok(o),
            Ok(Err(_)) | Err(_) => Err(ApiError::new(
                Code::Timeout,
                "no outcome in time; resend with the same client_msg_id to learn it",
            )),
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.hub.forget_reply(self.request);
    }
}
