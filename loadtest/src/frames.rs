//! WebSocket frames as the generator sees them.
//!
//! Outgoing frames are the platform's own [`ClientFrame`]. Incoming frames are
//! read into [`Incoming`], a borrowed view with only the fields the generator
//! uses, rather than `chat_core::wire::ServerFrame`/`Event`: at hundreds of
//! thousands of deliveries per second on the same cores as the server, parsing
//! whole messages into owned strings would make the generator the bottleneck.
//! The field names are the protocol's (`docs/protocol.md`).
//!
//! The text of every message sent carries the run id and the time it was due,
//! so a recipient computes send→delivery latency without shared state.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use chat_core::ChatId;
use chat_core::wire::ClientFrame;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

/// A server frame: the union of the fields the generator reads.
#[derive(Debug, Deserialize)]
pub struct Incoming<'a> {
    /// Frame type (`message`, `ack`, `subscribed`, `error`, …).
    #[serde(rename = "type", borrow)]
    pub ty: Cow<'a, str>,
    /// Chat of `subscribed`, `ack`, `rejected`, ….
    #[serde(default)]
    pub chat_id: Option<ChatId>,
    /// The sender's key in `ack` and `rejected`.
    #[serde(default, borrow)]
    pub client_msg_id: Option<Cow<'a, str>>,
    /// The key echoed in `error` frames.
    #[serde(default, rename = "ref", borrow)]
    pub reference: Option<Cow<'a, str>>,
    /// Newest seq in `subscribed` and `synced`.
    #[serde(default)]
    pub last_seq: Option<u64>,
    /// `ack` of a repeated send.
    #[serde(default)]
    pub duplicate: bool,
    /// Machine-readable code of `error` and `rejected`.
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
    /// The message of `message` and `ack` frames (an object), or the human
    /// explanation of `error` and `rejected` frames (a string, dropped).
    #[serde(default, borrow)]
    pub message: Option<MessageField<'a>>,
}

/// The `message` field, which is an object or a string depending on the frame.
#[derive(Debug)]
pub enum MessageField<'a> {
    /// A stored message.
    Message(Msg<'a>),
    /// An explanation (error frames).
    Text,
}

/// The parts of a stored message the generator reads.
#[derive(Debug, Deserialize)]
pub struct Msg<'a> {
    /// Its chat.
    pub chat_id: ChatId,
    /// Its position in the chat.
    pub seq: u64,
    /// Its text: for messages of a run, see [`Payload`].
    #[serde(borrow)]
    pub text: Cow<'a, str>,
}

impl<'de: 'a, 'a> Deserialize<'de> for MessageField<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = MessageField<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a message object or a string")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(MessageField::Text)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                Msg::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(MessageField::Message)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

impl<'a> Incoming<'a> {
    /// Parses a text frame.
    pub fn parse(text: &'a str) -> serde_json::Result<Incoming<'a>> {
        serde_json::from_str(text)
    }

    /// The stored message carried, if any.
    pub fn msg(&self) -> Option<&Msg<'a>> {
        match &self.message {
            Some(MessageField::Message(m)) => Some(m),
            _ => None,
        }
    }
}

/// What the text of a generated message encodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The run that sent it.
    pub run: &'a str,
    /// Microseconds from the run's start at which it was due.
    pub due_us: u64,
}

impl<'a> Payload<'a> {
    /// The message text: `lt <run> <due_us> ` padded with `x` to `len` bytes.
    pub fn text(&self, len: usize) -> String {
        let mut s = format!("lt {} {} ", self.run, self.due_us);
        if s.len() < len {
            s.extend(std::iter::repeat_n('x', len - s.len()));
        }
        s
    }

    /// Reads a text written by [`Payload::text`]; `None` for any other text.
    pub fn parse(text: &'a str) -> Option<Payload<'a>> {
        let mut it = text.splitn(4, ' ');
        if it.next()? != "lt" {
            return None;
        }
        let run = it.next()?;
        let due_us = it.next()?.parse().ok()?;
        Some(Payload { run, due_us })
    }
}

/// The `client_msg_id` of message `n` sent by connection `conn` in run `run`:
/// unique per run, so runs against the same chats never collide.
pub fn client_msg_id(run: &str, conn: usize, n: u64) -> String {
    format!("{run}.{conn}.{n}")
}

/// The message number in a `client_msg_id` of this run and connection.
pub fn msg_number(id: &str) -> Option<u64> {
    id.rsplit('.').next()?.parse().ok()
}

/// A `typing` frame.
pub fn typing_frame(chat: ChatId) -> String {
    encode(&ClientFrame::Typing {
        chat_id: chat,
        reference: None,
    })
}

/// A `send` frame.
pub fn send_frame(chat: ChatId, client_msg_id: String, text: String) -> String {
    encode(&ClientFrame::Send {
        chat_id: chat,
        client_msg_id,
        text,
        reply_to_seq: None,
    })
}

/// A `subscribe` frame.
pub fn subscribe_frame(chat: ChatId, since_seq: Option<u64>) -> String {
    encode(&ClientFrame::Subscribe {
        chat_id: chat,
        since_seq,
        since_pts: None,
    })
}

fn encode(f: &ClientFrame) -> String {
    // Serializing a plain enum of strings and numbers cannot fail.
    serde_json::to_string(f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_roundtrip_and_padding() {
        let p = Payload {
            run: "ab12",
            due_us: 1_234_567,
        };
        let t = p.text(64);
        assert_eq!(t.len(), 64);
        assert_eq!(Payload::parse(&t), Some(p));
        let short = p.text(1);
        assert_eq!(Payload::parse(&short), Some(p));
        assert_eq!(Payload::parse("hello there"), None);
        assert_eq!(Payload::parse("lt x notanumber y"), None);
    }

    #[test]
    fn client_msg_ids_carry_the_number() {
        let id = client_msg_id("r9", 12, 345);
        assert_eq!(id, "r9.12.345");
        assert_eq!(msg_number(&id), Some(345));
        assert!(id.len() <= 64);
    }

    #[test]
    fn parses_the_frames_the_server_sends() {
        let m = r#"{"type":"message","message":{"id":"9","chat_id":"7","seq":3,"sender_id":"1","client_msg_id":"a","text":"lt r 5 xx","created_at":1,"deleted":false,"pts":4}}"#;
        let f = Incoming::parse(m).unwrap();
        assert_eq!(f.ty, "message");
        let msg = f.msg().unwrap();
        assert_eq!((msg.chat_id, msg.seq), (ChatId(7), 3));
        assert_eq!(Payload::parse(&msg.text).unwrap().due_us, 5);

        let a = r#"{"type":"ack","chat_id":"7","client_msg_id":"r.1.2","seq":3,"message":{"id":"9","chat_id":"7","seq":3,"sender_id":"1","client_msg_id":"r.1.2","text":"t","created_at":1,"deleted":false,"pts":4},"duplicate":false}"#;
        let f = Incoming::parse(a).unwrap();
        assert_eq!(f.ty, "ack");
        assert_eq!(f.client_msg_id.as_deref(), Some("r.1.2"));
        assert_eq!(f.msg().unwrap().seq, 3);
        assert!(!f.duplicate);

        let e = r#"{"type":"error","code":"too_many_requests","message":"wait","ref":"r.1.3"}"#;
        let f = Incoming::parse(e).unwrap();
        assert_eq!(f.code.as_deref(), Some("too_many_requests"));
        assert_eq!(f.reference.as_deref(), Some("r.1.3"));
        assert!(f.msg().is_none());

        let s = r#"{"type":"subscribed","chat_id":"7","last_seq":12,"read_seq":0}"#;
        let f = Incoming::parse(s).unwrap();
        assert_eq!((f.chat_id, f.last_seq), (Some(ChatId(7)), Some(12)));

        // Frames with object fields the generator ignores still parse.
        let c = r#"{"type":"chat_created","chat":{"id":"1","kind":"group","title":"t","created_by":"1","created_at":1,"last_seq":0,"last_pts":0,"member_count":2,"last_message":null},"members":[]}"#;
        assert_eq!(Incoming::parse(c).unwrap().ty, "chat_created");
        // Escaped text is owned rather than borrowed, and still read.
        let esc = r#"{"type":"message","message":{"chat_id":"7","seq":1,"text":"a\"b"}}"#;
        assert_eq!(Incoming::parse(esc).unwrap().msg().unwrap().text, "a\"b");
    }

    #[test]
    fn outgoing_frames_match_the_protocol() {
        let v: serde_json::Value =
            serde_json::from_str(&send_frame(ChatId(5), "k".into(), "hi".into())).unwrap();
        assert_eq!(v["type"], "send");
        assert_eq!(v["chat_id"], "5");
        assert_eq!(v["client_msg_id"], "k");
        let v: serde_json::Value =
            serde_json::from_str(&subscribe_frame(ChatId(5), Some(3))).unwrap();
        assert_eq!(v["type"], "subscribe");
        assert_eq!(v["since_seq"], 3);
    }
}
