//! Message search (`GET /search`): in one chat, or in every chat the caller
//! is a member of; newest first, a page at a time; each hit with the ranges
//! of its text that matched.

use std::collections::HashMap;

use chat_core::search::{self, Query};
use chat_core::{ChatId, Code, MessageId, UserId};
use serde::Serialize;

use super::Service;
use crate::error::ApiError;
use crate::limits::Action;

/// Most hits per page.
pub const MAX_SEARCH_PAGE: u32 = 50;
/// Rounds of store queries per page: a hit the caller may not see (before
/// their join point) or an engine's looser match is dropped, and the page
/// filled from further back.
const ROUNDS: usize = 4;

/// One message found.
#[derive(Debug, Serialize)]
pub struct SearchHit {
    /// Its chat.
    pub chat_id: ChatId,
    /// Its seq.
    pub seq: u64,
    /// Its id.
    pub id: MessageId,
    /// Its author.
    pub sender_id: UserId,
    /// Unix ms it was sent.
    pub created_at: i64,
    /// Unix ms of its last edit, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<i64>,
    /// Its text.
    pub text: String,
    /// The parts of `text` that matched: `[start, end)` in UTF-16 code units
    /// (a JavaScript string's indices), sorted, not overlapping.
    pub highlights: Vec<[usize; 2]>,
}

/// A page of search results.
#[derive(Debug, Serialize)]
pub struct SearchView {
    /// Newest first.
    pub hits: Vec<SearchHit>,
    /// Give as `before` for the next (older) page; absent on the last one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// A shard holding some of the chats did not answer: their messages are
    /// missing from this page.
    pub partial: bool,
}

/// An opaque cursor: where the next page starts.
fn encode(before: MessageId) -> String {
    format!("s1.{:x}", before.0)
}

fn decode(cursor: &str) -> Result<MessageId, ApiError> {
    cursor
        .strip_prefix("s1.")
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .map(MessageId)
        .ok_or_else(|| {
            ApiError::new(
                Code::InvalidQuery,
                "cursor is not one this server gave (take next_cursor as it is)",
            )
        })
}

impl Service {
    /// Searches the messages `me` may read: in `chat`, or in every chat of
    /// theirs; older than `cursor` (a page's `next_cursor`); at most `limit`.
    pub async fn search(
        &self,
        me: UserId,
        q: &str,
        chat: Option<ChatId>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<SearchView, ApiError> {
        self.limiter.check(Action::Search, &me.to_string()).await?;
        let query = search::parse(q)?;
        let mut before = cursor.map(decode).transpose()?;
        if !(1..=MAX_SEARCH_PAGE).contains(&limit) {
            return Err(ApiError::new(
                Code::InvalidLimit,
                format!("limit is 1 to {MAX_SEARCH_PAGE}"),
            ));
        }
        let chats: Vec<ChatId> = match chat {
            Some(c) => {
                self.reads.authorize(me, c).await?;
                vec![c]
            }
            None => self
                .reads
                .memberships(me)
                .await?
                .into_iter()
                .map(|m| m.chat_id)
                .collect(),
        };
        let mut floors: HashMap<ChatId, u64> = HashMap::new();
        let mut hits = Vec::new();
        let mut partial = false;
        let mut more = false;
        for _ in 0..ROUNDS {
            let want = limit as usize - hits.len();
            // A few more than wanted: some may be dropped below.
            let ask = (want + want / 2 + 2) as u32;
            let found = self.store.search(&query, &chats, before, ask).await?;
            partial |= found.partial;
            self.read_floors(me, &found.messages, &mut floors).await?;
            let got = found.messages.len();
            more = got == ask as usize;
            for m in found.messages {
                before = Some(m.id);
                if !self.visible(me, &m, &mut floors).await? || !query.matches(&m.text) {
                    continue;
                }
                hits.push(hit(&query, m));
                if hits.len() == limit as usize {
                    break;
                }
            }
            if hits.len() == limit as usize || !more {
                break;
            }
        }
        Ok(SearchView {
            next_cursor: (more || hits.len() == limit as usize)
                .then_some(before)
                .flatten()
                .map(encode),
            hits,
            partial,
        })
    }

    /// Reads, all at once, the history floors of the groups among `found`
    /// not read yet (a page's hits can come from as many chats as hits).
    async fn read_floors(
        &self,
        me: UserId,
        found: &[chat_core::model::Message],
        floors: &mut HashMap<ChatId, u64>,
    ) -> Result<(), ApiError> {
        let mut todo: Vec<ChatId> = found
            .iter()
            .map(|m| m.chat_id)
            .filter(|c| !c.is_direct() && !floors.contains_key(c))
            .collect();
        todo.sort_unstable();
        todo.dedup();
        let read = futures_util::future::join_all(todo.iter().map(|c| self.history_floor(me, *c)));
        for (c, f) in todo.iter().zip(read.await) {
            floors.insert(*c, f?);
        }
        Ok(())
    }

    /// Whether `me` may see `m`: after their join point in a group that
    /// shows new members only what follows it (read once per chat).
    async fn visible(
        &self,
        me: UserId,
        m: &chat_core::model::Message,
        floors: &mut HashMap<ChatId, u64>,
    ) -> Result<bool, ApiError> {
        if m.chat_id.is_direct() {
            return Ok(true);
        }
        let floor = match floors.get(&m.chat_id) {
            Some(f) => *f,
            None => {
                let f = self.history_floor(me, m.chat_id).await?;
                floors.insert(m.chat_id, f);
                f
            }
        };
        Ok(m.seq > floor)
    }
}

fn hit(query: &Query, m: chat_core::model::Message) -> SearchHit {
    SearchHit {
        highlights: query
            .highlights(&m.text)
            .into_iter()
            .map(|(s, e)| [s, e])
            .collect(),
        chat_id: m.chat_id,
        seq: m.seq,
        id: m.id,
        sender_id: m.sender_id,
        created_at: m.created_at,
        edited_at: m.edited_at,
        text: m.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_others_are_refused() {
        assert_eq!(decode(&encode(MessageId(12345))).unwrap(), MessageId(12345));
        for bad in ["", "12345", "s1.", "s1.xyz", "s2.10"] {
            assert!(decode(bad).is_err(), "{bad}");
        }
    }
}
