//! `loadtest search-data`: writes a data set for the search benchmark as a
//! `chat export` file (JSON Lines: a header, one line per row naming its
//! table, an end line with the row count; see `store/src/dump.rs`), which
//! `chat import` loads into a standalone data directory or into the shards.
//!
//! The set: `--users` users (the first is the benchmark user), `--chats`
//! groups of `--group-size` members each holding the benchmark user, and
//! `--messages` messages spread over the groups (some busier than others:
//! weight 1/√rank), evenly in time over `--days`. Rows are as the server
//! writes them: dense seqs from 1, `pts` = seq (no member changed after the
//! creation), the chat's `last_seq`/`last_pts`/`last_message` those of its
//! newest message, time-ordered snowflake ids (so id order is time order,
//! as search's newest-first order assumes). Every user's password is
//! `--password`, stored as `--password-hash`.
//!
//! Beside it, a meta file for `loadtest search`: the user, their chats, and
//! the queries with the number of messages each matches, over all chats and
//! per chat (counted while writing), so that every answer can be checked.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chat_core::id::EPOCH_MS;
use chat_core::{ChatId, MessageId, UserId};
use serde::{Deserialize, Serialize};

use crate::cli::SearchDataArgs;
use crate::corpus::{self, Probe, Vocab};
use crate::rng::Rng;

/// Password of every generated user (the same as `loadtest run`'s).
pub const PASSWORD: &str = "loadtest-password";
/// [`PASSWORD`] hashed by the server (argon2id, its default parameters:
/// m=19456, t=2, p=1), taken from a registration's row in `chat export`.
pub const PASSWORD_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$NUjVwhlsEkfi54tVl93P9Q$pMyCYReP+AP74iYlG9V8PFqrmx33Ssm2uTCl+ubs+Ak";

/// Node id in the generated snowflake ids (servers pick theirs from 0..1023;
/// the generated ids are older than anything a server makes anyway).
const NODE: u64 = 1000;

/// A snowflake id for Unix ms `ms` and counter `n` (see `chat_core::id`).
fn snowflake(ms: i64, n: u64) -> u64 {
    let since = (ms - EPOCH_MS as i64).max(0) as u64;
    (since << 22) | (NODE << 12) | (n & 0xfff)
}

/// The benchmark user, as the meta file names them.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetaUser {
    pub id: UserId,
    pub name: String,
    pub password: String,
}

/// A query of the benchmark and what the data set holds for it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetaQuery {
    /// `top`, `common`, `rare`, `prefix`, `phrase`, `russian`, `none`.
    pub kind: String,
    /// What is typed (`GET /search?q=`).
    pub q: String,
    /// Messages it matches over all chats.
    pub hits: u64,
    /// Messages it matches in each chat of [`Meta::chats`], in that order.
    pub chat_hits: Vec<u32>,
}

/// Messages per chat.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Spread {
    pub min: u64,
    pub median: u64,
    pub max: u64,
}

/// The meta file: what `loadtest search` needs, and the data set's shape.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    /// How it was made.
    pub args: SearchDataArgs,
    pub user: MetaUser,
    /// The benchmark user's chats (all the groups), by creation.
    pub chats: Vec<ChatId>,
    pub users: usize,
    pub messages: u64,
    pub messages_per_chat: Spread,
    /// Mean words and bytes of text per message.
    pub mean_words: f64,
    pub mean_text_bytes: f64,
    /// Vocabulary: Zipf-drawn English and Russian words, rare words.
    pub vocabulary: [usize; 3],
    /// Rows written (the end line's count) and the file's bytes.
    pub rows: u64,
    pub file_bytes: u64,
    pub queries: Vec<MetaQuery>,
}

#[derive(Serialize)]
struct UserRow<'a> {
    table: &'static str,
    id: i64,
    name: &'a str,
    password_hash: &'a str,
    created_at: i64,
}

#[derive(Serialize)]
struct MembershipRow {
    table: &'static str,
    user_id: i64,
    chat_id: i64,
    role: &'static str,
    read_seq: i64,
}

#[derive(Serialize)]
struct ChatRow<'a> {
    table: &'static str,
    id: i64,
    kind: &'static str,
    title: &'a str,
    created_by: i64,
    created_at: i64,
    last_seq: i64,
    last_pts: i64,
    member_count: i64,
    last_message: Option<String>,
}

#[derive(Serialize)]
struct MemberRow {
    table: &'static str,
    chat_id: i64,
    user_id: i64,
    role: &'static str,
}

#[derive(Serialize)]
struct MessageRow<'a> {
    table: &'static str,
    chat_id: i64,
    seq: i64,
    id: i64,
    sender_id: i64,
    client_msg_id: &'a str,
    text: &'a str,
    reply_to_seq: Option<i64>,
    fwd_chat_id: Option<i64>,
    fwd_seq: Option<i64>,
    fwd_sender_id: Option<i64>,
    created_at: i64,
    edited_at: Option<i64>,
    deleted: i64,
    pts: i64,
}

/// The chat list's preview of a message (`chat_core::model::LastMessage`).
#[derive(Serialize)]
struct LastMessage<'a> {
    seq: u64,
    sender_id: UserId,
    preview: &'a str,
    at: i64,
    deleted: bool,
}

/// The layout: who is in which chat, which chat each message goes to.
struct Layout {
    users: Vec<UserId>,
    user_created: Vec<i64>,
    chat_ids: Vec<ChatId>,
    chat_created: Vec<i64>,
    /// Members of each chat by user index, sorted; the creator is `creators[c]`.
    members: Vec<Vec<u32>>,
    creators: Vec<u32>,
    /// Messages (global index, in time order) of each chat.
    by_chat: Vec<Vec<u32>>,
}

impl Layout {
    fn new(a: &SearchDataArgs) -> Result<Layout> {
        if a.users < 2 || a.chats == 0 {
            bail!("at least 2 users and 1 chat");
        }
        if a.group_size < 2 || a.group_size > a.users {
            bail!("--group-size must be 2 to --users");
        }
        if a.messages > u64::from(u32::MAX) {
            bail!("at most {} messages", u32::MAX);
        }
        let span = a.days as i64 * 86_400_000;
        if span < a.messages as i64 {
            bail!("--days too short: messages would share a millisecond");
        }
        let mut rng = Rng::new(a.seed ^ 0x6c61_796f_7574);
        // Users a week before the first message, a second apart; chats a day before.
        let user_created: Vec<i64> = (0..a.users)
            .map(|i| a.start_ms - 7 * 86_400_000 + i as i64 * 1000)
            .collect();
        let users = user_created
            .iter()
            .enumerate()
            .map(|(i, &t)| UserId(snowflake(t, i as u64)))
            .collect();
        let chat_created: Vec<i64> = (0..a.chats)
            .map(|c| a.start_ms - 86_400_000 + c as i64 * 1000)
            .collect();
        let chat_ids = chat_created
            .iter()
            .enumerate()
            .map(|(c, &t)| ChatId(snowflake(t, c as u64)))
            .collect();
        let mut members = Vec::with_capacity(a.chats);
        let mut creators = Vec::with_capacity(a.chats);
        for _ in 0..a.chats {
            // The benchmark user (0) and group_size − 1 others.
            let mut m = vec![0u32];
            while m.len() < a.group_size {
                let u = 1 + rng.below(a.users - 1) as u32;
                if !m.contains(&u) {
                    m.push(u);
                }
            }
            creators.push(m[rng.below(m.len())]);
            m.sort_unstable();
            members.push(m);
        }
        // Chat weights 1/√rank, ranks shuffled over the chats.
        let mut ranks: Vec<usize> = (0..a.chats).collect();
        for i in (1..ranks.len()).rev() {
            ranks.swap(i, rng.below(i + 1));
        }
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = ranks
            .iter()
            .map(|&r| {
                acc += 1.0 / ((r + 1) as f64).sqrt();
                acc
            })
            .collect();
        for c in &mut cdf {
            *c /= acc;
        }
        let mut by_chat = vec![Vec::new(); a.chats];
        for i in 0..a.messages as u32 {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let c = cdf.partition_point(|&x| x <= u).min(a.chats - 1);
            by_chat[c].push(i);
        }
        Ok(Layout {
            users,
            user_created,
            chat_ids,
            chat_created,
            members,
            creators,
            by_chat,
        })
    }
}

/// Message `i` of the set: its words, text, sender (user index) and time.
struct Msg {
    ids: Vec<u32>,
    text: String,
    sender: u32,
    at: i64,
    id: MessageId,
}

fn message(a: &SearchDataArgs, vocab: &Vocab, members: &[u32], i: u32) -> Msg {
    let mut rng = Rng::new(a.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ u64::from(i));
    rng.next_u64();
    let (ids, text) = vocab.message(&mut rng);
    let sender = members[rng.below(members.len())];
    let span = a.days as i64 * 86_400_000;
    let at = a.start_ms + (i128::from(i) * i128::from(span) / i128::from(a.messages)) as i64;
    Msg {
        ids,
        text,
        sender,
        at,
        id: MessageId(snowflake(at, u64::from(i))),
    }
}

/// The queries' words and how they are counted; the rare word is chosen
/// after counting (the candidate whose count is nearest 8).
struct Probes {
    fixed: Vec<(String, String, Probe)>,
    prefixed: Vec<bool>,
    rare_candidates: std::ops::Range<u32>,
}

impl Probes {
    fn new(v: &Vocab) -> Probes {
        let en = |rank: usize| (v.english.start + rank) as u32;
        let word = |id: u32| v.folded(id);
        // The prefix: the first four letters of the first English word from
        // rank 20 on that has at least six.
        let long = (20..v.english.len())
            .map(en)
            .find(|&id| v.words[id as usize].chars().count() >= 6)
            .unwrap_or(en(20));
        let prefix: String = word(long).chars().take(4).collect();
        // The Russian word: from rank 5 on, preferably one written with ё
        // (the query types е: both engines and the server fold it).
        let ru = |rank: usize| (v.russian.start + rank) as u32;
        let russian = (5..50)
            .map(ru)
            .find(|&id| v.words[id as usize].contains('ё'))
            .unwrap_or(ru(5));
        let (p1, p2) = v.phrase;
        let fixed = vec![
            ("top".into(), word(en(0)), Probe::Word(en(0))),
            ("common".into(), word(en(10)), Probe::Word(en(10))),
            ("prefix".into(), format!("{prefix}*"), Probe::Prefix),
            (
                "phrase".into(),
                format!("\"{} {}\"", word(p1), word(p2)),
                Probe::Phrase(p1, p2),
            ),
            ("russian".into(), word(russian), Probe::Word(russian)),
        ];
        let start = v.rare.start as u32;
        Probes {
            prefixed: v.prefixed(&prefix),
            fixed,
            rare_candidates: start..start + 256.min(v.rare.len() as u32),
        }
    }
}

/// Writes the export and the meta file.
pub fn run(a: SearchDataArgs) -> Result<()> {
    let t = std::time::Instant::now();
    let vocab = Vocab::new(a.seed);
    let layout = Layout::new(&a)?;
    let probes = Probes::new(&vocab);
    let meta_path = a.meta.clone().unwrap_or_else(|| {
        let mut p = a.output.clone().into_os_string();
        p.push(".meta.json");
        PathBuf::from(p)
    });
    let file = std::fs::File::create(&a.output)
        .with_context(|| format!("creating {}", a.output.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rows = 0u64;
    let mut line = |out: &mut BufWriter<std::fs::File>, v: &dyn erased::Row| -> Result<()> {
        v.write(out)?;
        out.write_all(b"\n")?;
        rows += 1;
        Ok(())
    };
    let tables = [
        "users",
        "user_blocks",
        "sessions",
        "memberships",
        "chats",
        "chat_settings",
        "members",
        "member_joins",
        "chat_bans",
        "chat_hidden",
        "chat_changes",
        "messages",
    ];
    let end_ms = a.start_ms + a.days as i64 * 86_400_000;
    serde_json::to_writer(
        &mut out,
        &serde_json::json!({
            "format": "chat-export",
            "version": 1,
            "exported_at": end_ms,
            "source": format!("loadtest search-data --seed {}", a.seed),
            "tables": tables,
        }),
    )?;
    out.write_all(b"\n")?;

    let names: Vec<String> = (0..a.users)
        .map(|i| {
            if i == 0 {
                a.user_name.clone()
            } else {
                format!("{}{i}", a.name_prefix)
            }
        })
        .collect();
    for (i, id) in layout.users.iter().enumerate() {
        line(
            &mut out,
            &UserRow {
                table: "users",
                id: id.0 as i64,
                name: &names[i],
                password_hash: &a.password_hash,
                created_at: layout.user_created[i],
            },
        )?;
    }
    // Memberships in key order: by user, then chat (ids grow with the index).
    let mut chats_of: Vec<Vec<u32>> = vec![Vec::new(); a.users];
    for (c, m) in layout.members.iter().enumerate() {
        for &u in m {
            chats_of[u as usize].push(c as u32);
        }
    }
    let last_seq = |c: usize| layout.by_chat[c].len() as i64;
    for (u, chats) in chats_of.iter().enumerate() {
        for &c in chats {
            let c = c as usize;
            // The benchmark user has read everything; the others part of it.
            let read_seq = if u == 0 {
                last_seq(c)
            } else {
                last_seq(c) * ((u + c) % 4) as i64 / 3
            };
            line(
                &mut out,
                &MembershipRow {
                    table: "memberships",
                    user_id: layout.users[u].0 as i64,
                    chat_id: layout.chat_ids[c].0 as i64,
                    role: role(&layout, c, u as u32),
                    read_seq,
                },
            )?;
        }
    }
    for c in 0..a.chats {
        let last = layout.by_chat[c]
            .last()
            .map(|&i| message(&a, &vocab, &layout.members[c], i));
        let last_message = match &last {
            Some(m) => {
                let preview: String = m
                    .text
                    .chars()
                    .take(chat_core::model::PREVIEW_CHARS)
                    .collect();
                Some(serde_json::to_string(&LastMessage {
                    seq: last_seq(c) as u64,
                    sender_id: layout.users[m.sender as usize],
                    preview: &preview,
                    at: m.at,
                    deleted: false,
                })?)
            }
            None => None,
        };
        line(
            &mut out,
            &ChatRow {
                table: "chats",
                id: layout.chat_ids[c].0 as i64,
                kind: "group",
                title: &format!("search group {c}"),
                created_by: layout.users[layout.creators[c] as usize].0 as i64,
                created_at: layout.chat_created[c],
                last_seq: last_seq(c),
                last_pts: last_seq(c),
                member_count: layout.members[c].len() as i64,
                last_message,
            },
        )?;
    }
    for c in 0..a.chats {
        for &u in &layout.members[c] {
            line(
                &mut out,
                &MemberRow {
                    table: "members",
                    chat_id: layout.chat_ids[c].0 as i64,
                    user_id: layout.users[u as usize].0 as i64,
                    role: role(&layout, c, u),
                },
            )?;
        }
    }

    // Messages, counting what each query matches.
    let nfixed = probes.fixed.len();
    let mut fixed_hits = vec![vec![0u32; a.chats]; nfixed];
    let nrare = probes.rare_candidates.len();
    let mut rare_hits = vec![vec![0u32; a.chats]; nrare];
    let (mut words, mut bytes) = (0u64, 0u64);
    let mut client_id = String::new();
    for c in 0..a.chats {
        let chat = layout.chat_ids[c].0 as i64;
        for (k, &i) in layout.by_chat[c].iter().enumerate() {
            let m = message(&a, &vocab, &layout.members[c], i);
            for (p, (_, _, probe)) in probes.fixed.iter().enumerate() {
                if vocab.holds(&m.ids, probe, &probes.prefixed) {
                    fixed_hits[p][c] += 1;
                }
            }
            if let Some(&r) = m.ids.iter().find(|w| probes.rare_candidates.contains(w)) {
                rare_hits[(r - probes.rare_candidates.start) as usize][c] += 1;
            }
            words += m.ids.len() as u64;
            bytes += m.text.len() as u64;
            client_id.clear();
            client_id.push_str(&format!("sd{i}"));
            line(
                &mut out,
                &MessageRow {
                    table: "messages",
                    chat_id: chat,
                    seq: k as i64 + 1,
                    id: m.id.0 as i64,
                    sender_id: layout.users[m.sender as usize].0 as i64,
                    client_msg_id: &client_id,
                    text: &m.text,
                    reply_to_seq: None,
                    fwd_chat_id: None,
                    fwd_seq: None,
                    fwd_sender_id: None,
                    created_at: m.at,
                    edited_at: None,
                    deleted: 0,
                    pts: k as i64 + 1,
                },
            )?;
        }
    }
    serde_json::to_writer(&mut out, &serde_json::json!({ "end": { "rows": rows } }))?;
    out.write_all(b"\n")?;
    out.flush()
        .with_context(|| format!("writing {}", a.output.display()))?;
    drop(out);

    let total = |h: &[u32]| h.iter().map(|&x| u64::from(x)).sum::<u64>();
    let mut queries: Vec<MetaQuery> = probes
        .fixed
        .iter()
        .zip(fixed_hits)
        .map(|((kind, q, _), chat_hits)| MetaQuery {
            kind: kind.clone(),
            q: q.clone(),
            hits: total(&chat_hits),
            chat_hits,
        })
        .collect();
    // The rare word: the candidate matching nearest 8 messages.
    let (r, rare) = rare_hits
        .into_iter()
        .enumerate()
        .min_by_key(|(i, h)| (total(h).abs_diff(8), *i))
        .context("no rare word")?;
    queries.insert(
        2,
        MetaQuery {
            kind: "rare".into(),
            q: vocab.folded(probes.rare_candidates.start + r as u32),
            hits: total(&rare),
            chat_hits: rare,
        },
    );
    queries.push(MetaQuery {
        kind: "none".into(),
        q: corpus::NO_HIT_WORD.into(),
        hits: 0,
        chat_hits: vec![0; a.chats],
    });
    let mut sizes: Vec<u64> = layout.by_chat.iter().map(|m| m.len() as u64).collect();
    sizes.sort_unstable();
    let meta = Meta {
        user: MetaUser {
            id: layout.users[0],
            name: a.user_name.clone(),
            password: a.password.clone(),
        },
        chats: layout.chat_ids.clone(),
        users: a.users,
        messages: a.messages,
        messages_per_chat: Spread {
            min: sizes[0],
            median: sizes[sizes.len() / 2],
            max: sizes[sizes.len() - 1],
        },
        mean_words: words as f64 / a.messages.max(1) as f64,
        mean_text_bytes: bytes as f64 / a.messages.max(1) as f64,
        vocabulary: [vocab.english.len(), vocab.russian.len(), vocab.rare.len()],
        rows,
        file_bytes: std::fs::metadata(&a.output)?.len(),
        queries,
        args: a.clone(),
    };
    std::fs::write(&meta_path, serde_json::to_vec_pretty(&meta)?)
        .with_context(|| format!("writing {}", meta_path.display()))?;
    eprintln!(
        "search-data: {} rows ({} users, {} chats, {} messages; per chat {}/{}/{} min/median/max; \
         {:.1} words, {:.0} bytes per message), {:.0} MB, in {:.1} s → {} and {}",
        rows,
        a.users,
        a.chats,
        a.messages,
        meta.messages_per_chat.min,
        meta.messages_per_chat.median,
        meta.messages_per_chat.max,
        meta.mean_words,
        meta.mean_text_bytes,
        meta.file_bytes as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        a.output.display(),
        meta_path.display()
    );
    for q in &meta.queries {
        eprintln!("  {:<8} {:<24} {:>8} messages", q.kind, q.q, q.hits);
    }
    Ok(())
}

/// A member's role: the creator administers the group.
fn role(layout: &Layout, chat: usize, user: u32) -> &'static str {
    if layout.creators[chat] == user {
        "admin"
    } else {
        "member"
    }
}

/// Rows of several types through one writer.
mod erased {
    use std::io::Write;

    /// A row serialisable as one JSON line.
    pub trait Row {
        fn write(&self, out: &mut dyn Write) -> serde_json::Result<()>;
    }

    impl<T: serde::Serialize> Row for T {
        fn write(&self, out: &mut dyn Write) -> serde_json::Result<()> {
            serde_json::to_writer(out, self)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(dir: &std::path::Path) -> SearchDataArgs {
        SearchDataArgs {
            output: dir.join("set.jsonl"),
            meta: None,
            users: 30,
            chats: 12,
            group_size: 5,
            messages: 3000,
            seed: 7,
            user_name: "searcher".into(),
            name_prefix: "sd".into(),
            password: PASSWORD.into(),
            password_hash: PASSWORD_HASH.into(),
            start_ms: 1_767_225_600_000,
            days: 10,
        }
    }

    #[test]
    fn the_file_has_every_row_consistent_and_the_meta_counts_match_a_search() {
        let dir = tempfile::tempdir().unwrap();
        let a = args(dir.path());
        run(a.clone()).unwrap();
        let text = std::fs::read_to_string(&a.output).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["format"], "chat-export");
        let rows = &lines[1..lines.len() - 1];
        assert_eq!(
            lines.last().unwrap()["end"]["rows"].as_u64(),
            Some(rows.len() as u64)
        );
        let of = |t: &'static str| rows.iter().filter(move |r| r["table"] == t);
        assert_eq!(of("users").count(), 30);
        assert_eq!(of("chats").count(), 12);
        assert_eq!(of("members").count(), 12 * 5);
        assert_eq!(of("memberships").count(), 12 * 5);
        assert_eq!(of("messages").count(), 3000);
        // Dense seqs from 1, ids growing with time, counters consistent.
        let meta: Meta =
            serde_json::from_slice(&std::fs::read(dir.path().join("set.jsonl.meta.json")).unwrap())
                .unwrap();
        let mut ids = Vec::new();
        for chat in of("chats") {
            let msgs: Vec<_> = of("messages")
                .filter(|m| m["chat_id"] == chat["id"])
                .collect();
            assert_eq!(chat["last_seq"].as_u64(), Some(msgs.len() as u64));
            assert_eq!(chat["last_pts"], chat["last_seq"]);
            for (k, m) in msgs.iter().enumerate() {
                assert_eq!(m["seq"].as_u64(), Some(k as u64 + 1));
                if k > 0 {
                    assert!(m["id"].as_i64() > msgs[k - 1]["id"].as_i64());
                }
                ids.push(m["id"].as_i64().unwrap());
            }
            let lm: serde_json::Value =
                serde_json::from_str(chat["last_message"].as_str().unwrap()).unwrap();
            assert_eq!(lm["seq"], chat["last_seq"]);
            assert_eq!(
                of("members")
                    .filter(|m| m["chat_id"] == chat["id"] && m["user_id"] == meta.user.id.0)
                    .count(),
                1,
                "the benchmark user is in every chat"
            );
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 3000, "unique message ids");
        // The meta's counts are what the server's own matching finds.
        for q in &meta.queries {
            let parsed = chat_core::search::parse(&q.q).unwrap();
            let found = of("messages")
                .filter(|m| parsed.matches(m["text"].as_str().unwrap()))
                .count() as u64;
            assert_eq!(found, q.hits, "{} {}", q.kind, q.q);
            assert_eq!(
                q.chat_hits.iter().map(|&x| u64::from(x)).sum::<u64>(),
                q.hits
            );
        }
        let hits = |k: &str| meta.queries.iter().find(|q| q.kind == k).unwrap().hits;
        assert!(hits("top") > hits("common") && hits("common") > hits("rare"));
        assert!(hits("phrase") > 0 && hits("russian") > 0 && hits("prefix") > 0);
        assert_eq!(hits("none"), 0);
        // Reproducible.
        let again = dir.path().join("again.jsonl");
        run(SearchDataArgs {
            output: again.clone(),
            ..a
        })
        .unwrap();
        let strip = |s: &str| s.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert_eq!(
            strip(&text),
            strip(&std::fs::read_to_string(again).unwrap())
        );
    }
}
