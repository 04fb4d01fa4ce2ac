//! The population of a run: users and chats, created over the HTTP API (or read
//! back from a setup file written by an earlier run), and the final read of
//! each chat's `last_seq` that the correctness check is measured against.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chat_core::{ChatId, UserId};
use futures_util::{StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::rng::Rng;

/// Password of every generated user (≥ 8 characters, as the server requires).
const PASSWORD: &str = "loadtest-password";

/// Direct (two members) or group chat.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Direct,
    Group,
}

/// A chat to create: its kind and members, by user index; the first creates it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSpec {
    /// Direct or group.
    pub kind: Kind,
    /// User indices, creator first.
    pub members: Vec<usize>,
}

/// What decides the population; a setup file is reused only if these match.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Users.
    pub users: usize,
    /// Chats.
    pub chats: usize,
    /// Share of direct chats.
    pub direct_ratio: f64,
    /// Group sizes, used in turn.
    pub group_sizes: Vec<usize>,
    /// Layout seed.
    pub seed: u64,
}

/// A registered user.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Account {
    /// Id.
    pub id: UserId,
    /// Login name.
    pub name: String,
    /// Access token.
    pub token: String,
}

/// A created chat.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ChatInfo {
    /// Id.
    pub id: ChatId,
    /// Kind and members.
    #[serde(flatten)]
    pub spec: ChatSpec,
}

/// Users and chats of a run; also the setup file's format.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Population {
    /// What it was made from.
    pub params: Params,
    /// Users, by index.
    pub users: Vec<Account>,
    /// Chats.
    pub chats: Vec<ChatInfo>,
}

impl Population {
    /// For each user index, the chats they are a member of.
    pub fn chats_by_user(&self) -> Vec<Vec<ChatId>> {
        let mut by = vec![Vec::new(); self.users.len()];
        for c in &self.chats {
            for &m in &c.spec.members {
                by[m].push(c.id);
            }
        }
        by
    }
}

/// Lays out `chats` chats over `users` users: `direct_ratio` of them direct
/// (spread evenly through the list), the rest groups with sizes taken in turn
/// from `group_sizes`. Creators go round the users so that, with at least as
/// many chats as users, everyone is in a chat. Direct pairs are unique.
pub fn plan_chats(
    users: usize,
    chats: usize,
    direct_ratio: f64,
    group_sizes: &[usize],
    seed: u64,
) -> Result<Vec<ChatSpec>> {
    if users < 2 && chats > 0 {
        bail!("chats need at least 2 users");
    }
    if !(0.0..=1.0).contains(&direct_ratio) {
        bail!("--direct-ratio must be between 0 and 1");
    }
    if direct_ratio < 1.0 && (group_sizes.is_empty() || group_sizes.iter().any(|&s| s < 2)) {
        bail!("group sizes must be at least 2");
    }
    if let Some(&s) = group_sizes.iter().find(|&&s| s > users) {
        bail!("group size {s} exceeds the {users} users");
    }
    let mut rng = Rng::new(seed);
    let mut pairs = HashSet::new();
    let mut out = Vec::with_capacity(chats);
    let mut groups = 0usize;
    for i in 0..chats {
        let creator = i % users;
        let direct = ((i + 1) as f64 * direct_ratio).floor() > (i as f64 * direct_ratio).floor();
        if direct {
            let other = pick_partner(users, creator, &mut pairs, &mut rng).with_context(|| {
                format!("no unused pair of users left for direct chat {i}: lower --chats or --direct-ratio, or raise --users")
            })?;
            out.push(ChatSpec {
                kind: Kind::Direct,
                members: vec![creator, other],
            });
        } else {
            let size = group_sizes[groups % group_sizes.len()];
            groups += 1;
            out.push(ChatSpec {
                kind: Kind::Group,
                members: pick_group(users, creator, size, &mut rng),
            });
        }
    }
    Ok(out)
}

fn pick_partner(
    users: usize,
    a: usize,
    pairs: &mut HashSet<(usize, usize)>,
    rng: &mut Rng,
) -> Option<usize> {
    let key = |b: usize| (a.min(b), a.max(b));
    let random = (0..64).map(|_| rng.below(users));
    let scan = (1..users).map(|d| (a + d) % users);
    let b = random
        .chain(scan)
        .find(|&b| b != a && !pairs.contains(&key(b)))?;
    pairs.insert(key(b));
    Some(b)
}

fn pick_group(users: usize, creator: usize, size: usize, rng: &mut Rng) -> Vec<usize> {
    let mut members = vec![creator];
    if size * 2 <= users {
        let mut seen: HashSet<usize> = HashSet::from([creator]);
        while members.len() < size {
            let u = rng.below(users);
            if seen.insert(u) {
                members.push(u);
            }
        }
    } else {
        // Dense groups: a partial shuffle of everyone else.
        let mut rest: Vec<usize> = (0..users).filter(|&u| u != creator).collect();
        for k in 0..size - 1 {
            let j = k + rng.below(rest.len() - k);
            rest.swap(k, j);
            members.push(rest[k]);
        }
    }
    members
}

/// The HTTP API of one or more gateways.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    /// `http://host:port/api/v1` of each gateway.
    bases: Vec<String>,
}

/// An HTTP error answer's code, or a transport failure.
#[derive(Debug)]
pub struct ApiFailure {
    /// Machine-readable code (`name_taken`, …), or `http` for transport errors.
    pub code: String,
    /// Details.
    pub message: String,
}

impl std::fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiFailure {}

impl Api {
    /// A client of the gateways at `gateways` (`http://host:port`).
    pub fn new(gateways: &[String]) -> Result<Api> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(64)
            .build()?;
        Ok(Api {
            http,
            bases: gateways
                .iter()
                .map(|g| format!("{}/api/v1", g.trim_end_matches('/')))
                .collect(),
        })
    }

    fn base(&self, i: usize) -> &str {
        &self.bases[i % self.bases.len()]
    }

    async fn call(
        &self,
        req: reqwest::RequestBuilder,
    ) -> std::result::Result<serde_json::Value, ApiFailure> {
        let http = |e: reqwest::Error| ApiFailure {
            code: "http".into(),
            message: e.to_string(),
        };
        let resp = req.send().await.map_err(http)?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.map_err(http)?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(ApiFailure {
                code: body["error"]["code"].as_str().unwrap_or("http").to_string(),
                message: format!("{status}: {}", body["error"]["message"]),
            })
        }
    }

    /// Registers `name`, or logs in if it is taken (a re-run with the same names).
    pub async fn account(&self, via: usize, name: &str) -> Result<Account> {
        let creds = json!({ "name": name, "password": PASSWORD });
        let url = format!("{}/auth/register", self.base(via));
        let body = match self.call(self.http.post(url).json(&creds)).await {
            Ok(b) => b,
            Err(e) if e.code == "name_taken" => {
                let url = format!("{}/auth/login", self.base(via));
                self.call(self.http.post(url).json(&creds)).await?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Account {
            id: serde_json::from_value(body["user"]["id"].clone())?,
            name: name.to_string(),
            token: body["token"].as_str().context("no token")?.to_string(),
        })
    }

    /// Creates a chat as its first member.
    pub async fn create_chat(
        &self,
        via: usize,
        users: &[Account],
        spec: &ChatSpec,
        title: &str,
    ) -> Result<ChatId> {
        let creator = &users[spec.members[0]];
        let others: Vec<String> = spec.members[1..]
            .iter()
            .map(|&m| users[m].id.to_string())
            .collect();
        let body = match spec.kind {
            Kind::Direct => json!({ "kind": "direct", "members": others }),
            Kind::Group => json!({ "kind": "group", "title": title, "members": others }),
        };
        let url = format!("{}/chats", self.base(via));
        let chat = self
            .call(self.http.post(url).bearer_auth(&creator.token).json(&body))
            .await?;
        Ok(serde_json::from_value(chat["id"].clone())?)
    }

    /// The chat's newest seq, read from its history (the store), not from the
    /// chat summary (which may come from a cache that lags).
    pub async fn last_seq(&self, via: usize, token: &str, chat: ChatId) -> Result<u64> {
        let url = format!("{}/chats/{chat}/messages?limit=1", self.base(via));
        let page = self.call(self.http.get(url).bearer_auth(token)).await?;
        let newest = page["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["seq"].as_u64())
            .unwrap_or(0);
        Ok(newest)
    }
}

/// Creates the population, or reads it from `file` when that exists (and
/// writes it there after creating it).
pub async fn population(
    api: &Api,
    params: &Params,
    name_prefix: &str,
    concurrency: usize,
    file: Option<&Path>,
) -> Result<Population> {
    if let Some(f) = file.filter(|f| f.exists()) {
        let p: Population = serde_json::from_slice(&std::fs::read(f)?)
            .with_context(|| format!("reading setup file {}", f.display()))?;
        if &p.params != params {
            bail!(
                "setup file {} was made with other parameters ({:?}); delete it or change the flags",
                f.display(),
                p.params
            );
        }
        eprintln!(
            "setup: reusing {} users and {} chats from {}",
            p.users.len(),
            p.chats.len(),
            f.display()
        );
        return Ok(p);
    }
    let specs = plan_chats(
        params.users,
        params.chats,
        params.direct_ratio,
        &params.group_sizes,
        params.seed,
    )?;
    let t = std::time::Instant::now();
    let users: Vec<Account> = stream::iter(0..params.users)
        .map(|i| async move {
            api.account(i, &format!("{name_prefix}{i}"))
                .await
                .with_context(|| format!("registering user {i}"))
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    eprintln!("setup: {} users in {:.1?}", users.len(), t.elapsed());
    let t = std::time::Instant::now();
    let users_ref = &users;
    let chats: Vec<ChatInfo> = stream::iter(specs.into_iter().enumerate())
        .map(|(i, spec)| async move {
            let id = api
                .create_chat(i, users_ref, &spec, &format!("lt group {i}"))
                .await
                .with_context(|| format!("creating chat {i}"))?;
            Ok::<_, anyhow::Error>(ChatInfo { id, spec })
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    eprintln!("setup: {} chats in {:.1?}", chats.len(), t.elapsed());
    let p = Population {
        params: params.clone(),
        users,
        chats,
    };
    if let Some(f) = file {
        std::fs::write(f, serde_json::to_vec(&p)?)
            .with_context(|| format!("writing setup file {}", f.display()))?;
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_mixes_kinds_evenly_and_covers_users() {
        let specs = plan_chats(50, 100, 0.3, &[5, 10], 1).unwrap();
        assert_eq!(specs.len(), 100);
        let direct = specs.iter().filter(|s| s.kind == Kind::Direct).count();
        assert_eq!(direct, 30);
        // Evenly spread: every block of 10 holds 3 direct chats.
        for block in specs.chunks(10) {
            assert_eq!(block.iter().filter(|s| s.kind == Kind::Direct).count(), 3);
        }
        let mut pairs = HashSet::new();
        let mut in_chat = [false; 50];
        let mut group_sizes = Vec::new();
        for s in &specs {
            let uniq: HashSet<_> = s.members.iter().collect();
            assert_eq!(uniq.len(), s.members.len(), "distinct members");
            for &m in &s.members {
                in_chat[m] = true;
            }
            match s.kind {
                Kind::Direct => {
                    assert_eq!(s.members.len(), 2);
                    let (a, b) = (s.members[0], s.members[1]);
                    assert!(pairs.insert((a.min(b), a.max(b))), "unique pair");
                }
                Kind::Group => group_sizes.push(s.members.len()),
            }
        }
        assert!(in_chat.iter().all(|&x| x));
        assert_eq!(&group_sizes[..4], &[5, 10, 5, 10]);
        // Reproducible.
        assert_eq!(plan_chats(50, 100, 0.3, &[5, 10], 1).unwrap(), specs);
    }

    #[test]
    fn dense_groups_and_exhausted_pairs() {
        let specs = plan_chats(4, 3, 0.0, &[4], 9).unwrap();
        assert!(specs.iter().all(|s| s.members.len() == 4));
        // 3 users have 3 pairs: a 4th direct chat cannot be made.
        assert!(plan_chats(3, 3, 1.0, &[2], 1).is_ok());
        assert!(plan_chats(3, 4, 1.0, &[2], 1).is_err());
        assert!(plan_chats(3, 2, 0.0, &[5], 1).is_err());
        assert!(plan_chats(1, 1, 0.0, &[2], 1).is_err());
    }
}
