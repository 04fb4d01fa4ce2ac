//! Admin commands on the store, in the same binary: `chat migrate`,
//! `chat user create|disable|enable|reset-password`, `chat chat inspect`.
//!
//! Each works on a standalone deployment's data directory (its SQLite file;
//! the server may be running: SQLite takes writers from several processes),
//! or, in a build with the distributed roles, on the MySQL shards when
//! `--mysql-shards`/`CHAT_MYSQL_SHARDS` is given. Reports go to stdout,
//! errors to stderr with a non-zero exit.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use chat_core::model::{User, UserRecord};
use chat_core::ports::{Mutation, Store};
use chat_core::rules::{self, DISABLED_HASH_PREFIX};
use chat_core::{ChatId, StoreError, UserId, now_ms};
use chat_store::{SqliteConfig, SqliteStore};
use serde::Serialize;

/// Which store an admin command works on.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Target {
    /// Standalone: the data directory holding `chat.db` [default: data].
    #[arg(long, env = "CHAT_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Distributed: the MySQL shards (as for the roles); when given, the
    /// command works on them instead of a data directory.
    #[cfg(feature = "distributed")]
    #[command(flatten)]
    pub mysql: crate::config::MysqlSettings,
    /// Distributed: Redis, to tell every gateway at once that a user's
    /// sessions ended (`disable`, `reset-password`); without `--redis-url`
    /// gateways notice within their `session_check_secs`.
    #[cfg(feature = "distributed")]
    #[command(flatten)]
    pub redis: crate::config::RedisSettings,
}

/// `chat user`.
#[derive(clap::Args, Debug, Clone)]
pub struct UserArgs {
    #[command(subcommand)]
    pub action: UserAction,
}

/// What `chat user` does. A password is read from the first line of stdin
/// (never from the command line, where other users of the machine see it).
#[derive(clap::Subcommand, Debug, Clone)]
pub enum UserAction {
    /// Creates an account.
    ///
    /// Examples:
    ///   printf '%s\n' "$PASSWORD" | chat user create alice
    ///   chat user create alice --data-dir /var/lib/chat    # asks for it
    #[command(verbatim_doc_comment)]
    Create {
        #[command(flatten)]
        target: Target,
        /// Login name: 3 to 32 letters, digits, '_', '-' or '.'.
        name: String,
    },
    /// Disables an account: its sessions end at once and no login succeeds
    /// (its owner is told `account_disabled`); nothing else changes.
    ///
    /// Example:
    ///   chat user disable mallory
    #[command(verbatim_doc_comment)]
    Disable {
        #[command(flatten)]
        target: Target,
        /// Login name.
        name: String,
    },
    /// Enables a disabled account again, with the password it had.
    ///
    /// Example:
    ///   chat user enable mallory
    #[command(verbatim_doc_comment)]
    Enable {
        #[command(flatten)]
        target: Target,
        /// Login name.
        name: String,
    },
    /// Sets a new password and ends every session of the account.
    ///
    /// Example:
    ///   printf '%s\n' "$NEW_PASSWORD" | chat user reset-password alice
    #[command(verbatim_doc_comment)]
    ResetPassword {
        #[command(flatten)]
        target: Target,
        /// Login name.
        name: String,
    },
}

impl UserAction {
    fn target(&self) -> &Target {
        match self {
            UserAction::Create { target, .. }
            | UserAction::Disable { target, .. }
            | UserAction::Enable { target, .. }
            | UserAction::ResetPassword { target, .. } => target,
        }
    }
}

/// `chat chat`.
#[derive(clap::Args, Debug, Clone)]
pub struct ChatArgs {
    #[command(subcommand)]
    pub action: ChatAction,
}

/// What `chat chat` does.
#[derive(clap::Subcommand, Debug, Clone)]
pub enum ChatAction {
    /// A chat as stored, as JSON: kind, title, counters (last seq, members),
    /// the newest message, the settings, the members with their names and
    /// roles, the bans, and the shard holding it.
    ///
    /// Examples:
    ///   chat chat inspect 7291835501383684096
    ///   CHAT_MYSQL_SHARDS='shard0=mysql://…,shard1=mysql://…' chat chat inspect 7291835501383684096
    #[command(verbatim_doc_comment)]
    Inspect {
        #[command(flatten)]
        target: Target,
        /// The chat's id.
        id: u64,
    },
}

/// A store opened for an admin command.
struct Opened {
    store: Arc<dyn Store>,
    /// The database(s), for reports.
    place: String,
    kind: Kind,
}

enum Kind {
    Sqlite(SqliteStore),
    #[cfg(feature = "distributed")]
    Shards(
        chat_store::ShardedStore,
        Option<crate::config::RedisSettings>,
    ),
}

impl Opened {
    /// Opens `t`'s store (applying migrations, as every role does). A
    /// standalone database must exist unless `create`.
    async fn open(t: &Target, create: bool) -> anyhow::Result<Opened> {
        #[cfg(feature = "distributed")]
        if t.mysql.mysql_shards.is_some() {
            let s = crate::distributed::shards(&t.mysql, None).await?;
            return Ok(Opened {
                store: Arc::new(s.clone()),
                place: format!(
                    "the MySQL shards ({})",
                    Store::routing(&s).unwrap_or_default()
                ),
                kind: Kind::Shards(s, t.redis.redis_url.is_some().then(|| t.redis.clone())),
            });
        }
        let dir = t.data_dir.clone().unwrap_or_else(|| PathBuf::from("data"));
        let path = dir.join("chat.db");
        if !create && !path.is_file() {
            bail!(
                "no database at {} (give --data-dir, or --mysql-shards for a distributed deployment)",
                path.display()
            );
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let s = SqliteStore::open(&SqliteConfig::new(&path))
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        Ok(Opened {
            store: Arc::new(s.clone()),
            place: path.display().to_string(),
            kind: Kind::Sqlite(s),
        })
    }

    async fn close(self) {
        match self.kind {
            Kind::Sqlite(s) => s.close().await,
            #[cfg(feature = "distributed")]
            Kind::Shards(s, _) => s.close().await,
        }
    }

    /// The shard holding `chat`.
    fn shard_of(&self, chat: ChatId) -> String {
        match &self.kind {
            Kind::Sqlite(_) => {
                let _ = chat;
                "sqlite".into()
            }
            #[cfg(feature = "distributed")]
            Kind::Shards(s, _) => s.chat_shard(chat),
        }
    }

    /// Tells the gateways that `user`'s sessions ended, where they listen
    /// for it; whether they were told.
    async fn announce_revoked(&self, user: UserId) -> anyhow::Result<bool> {
        match &self.kind {
            Kind::Sqlite(_) => {
                let _ = user;
                Ok(false)
            }
            #[cfg(feature = "distributed")]
            Kind::Shards(_, None) => Ok(false),
            #[cfg(feature = "distributed")]
            Kind::Shards(_, Some(redis)) => {
                use chat_core::ports::PubSub;
                use chat_core::wire::{Envelope, PubKind, Revocation, SESSIONS_CHANNEL};
                let cfg = crate::distributed::redis_cfg(redis, None);
                let pubsub = chat_redis::RedisPubSub::connect(cfg)
                    .await
                    .context("connecting to Redis")?;
                let json = serde_json::to_vec(&Revocation { session_id: None })?;
                let env = Envelope::encode(PubKind::Revoked, ChatId(0), user.0, now_ms(), &json);
                pubsub
                    .publish(SESSIONS_CHANNEL, env)
                    .await
                    .context("publishing the revocation")?;
                Ok(true)
            }
        }
    }
}

/// `chat migrate`: applies the migrations (opening the store does) and
/// lists what each database has.
pub async fn migrate(t: Target) -> anyhow::Result<()> {
    let opened = Opened::open(&t, true).await?;
    let mut out = String::new();
    match &opened.kind {
        Kind::Sqlite(s) => report_migrations(&mut out, &opened.place, &s.migrations().await?),
        #[cfg(feature = "distributed")]
        Kind::Shards(s, _) => {
            for (name, shard) in s.shard_stores() {
                report_migrations(&mut out, &name, &shard.migrations().await?);
            }
        }
    }
    opened.close().await;
    print(&out);
    Ok(())
}

fn report_migrations(out: &mut String, place: &str, applied: &[(i64, String)]) {
    use std::fmt::Write as _;
    let last = applied
        .last()
        .map_or("none".to_string(), |(v, d)| format!("{v:04} {d}"));
    let _ = writeln!(
        out,
        "{place}: up to date, {} migrations applied (latest {last})",
        applied.len()
    );
}

/// `chat user …`.
pub async fn user(a: UserArgs) -> anyhow::Result<()> {
    let create = matches!(a.action, UserAction::Create { .. });
    if let UserAction::Create { name, .. } = &a.action {
        rules::check_user_name(name).map_err(|r| anyhow::anyhow!("{}", r.message))?;
    }
    let password = match &a.action {
        UserAction::Create { .. } | UserAction::ResetPassword { .. } => {
            let p = read_password()?;
            rules::check_password(&p).map_err(|r| anyhow::anyhow!("{}", r.message))?;
            Some(p)
        }
        _ => None,
    };
    let opened = Opened::open(a.action.target(), create).await?;
    let result = user_action(&opened, &a.action, password).await;
    opened.close().await;
    print(&result?);
    Ok(())
}

async fn user_action(
    o: &Opened,
    action: &UserAction,
    password: Option<String>,
) -> anyhow::Result<String> {
    let store = &o.store;
    let find = |name: &str| {
        let name = name.to_string();
        async move {
            store
                .user_by_name(&name)
                .await?
                .with_context(|| format!("no user named {name:?} in {}", o.place))
        }
    };
    match action {
        UserAction::Create { name, .. } => {
            let hash = hash(password.unwrap_or_default()).await?;
            let user = User {
                id: UserId(chat_core::IdGenerator::new(rand::random::<u16>()).next()),
                name: name.clone(),
                created_at: now_ms(),
            };
            let rec = UserRecord {
                user: user.clone(),
                password_hash: hash,
            };
            match store.create_user(&rec).await {
                Ok(()) => Ok(format!(
                    "created user {} (id {}) in {}\n",
                    user.name, user.id, o.place
                )),
                Err(StoreError::Conflict(_)) => bail!("the name {name:?} is taken"),
                Err(e) => Err(e.into()),
            }
        }
        UserAction::Disable { name, .. } => {
            let rec = find(name).await?;
            if rec.password_hash.starts_with(DISABLED_HASH_PREFIX) {
                return Ok(format!(
                    "user {name} (id {}) was already disabled\n",
                    rec.user.id
                ));
            }
            let hash = format!("{DISABLED_HASH_PREFIX}{}", rec.password_hash);
            end_sessions(o, rec.user.id, hash).await?;
            Ok(format!(
                "disabled user {name} (id {}); {}\n",
                rec.user.id,
                sessions_note(o, rec.user.id).await?
            ))
        }
        UserAction::Enable { name, .. } => {
            let rec = find(name).await?;
            let Some(hash) = rec.password_hash.strip_prefix(DISABLED_HASH_PREFIX) else {
                return Ok(format!(
                    "user {name} (id {}) is not disabled\n",
                    rec.user.id
                ));
            };
            store
                .apply(&[Mutation::SetPasswordHash {
                    user_id: rec.user.id,
                    password_hash: hash.to_string(),
                }])
                .await?;
            Ok(format!("enabled user {name} (id {})\n", rec.user.id))
        }
        UserAction::ResetPassword { name, .. } => {
            let rec = find(name).await?;
            let disabled = rec.password_hash.starts_with(DISABLED_HASH_PREFIX);
            let mut hash = hash(password.unwrap_or_default()).await?;
            if disabled {
                hash = format!("{DISABLED_HASH_PREFIX}{hash}");
            }
            end_sessions(o, rec.user.id, hash).await?;
            Ok(format!(
                "new password for {name} (id {}){}; {}\n",
                rec.user.id,
                if disabled { ", still disabled" } else { "" },
                sessions_note(o, rec.user.id).await?
            ))
        }
    }
}

/// Stores `hash` as `user`'s and ends every session of theirs.
async fn end_sessions(o: &Opened, user: UserId, hash: String) -> anyhow::Result<()> {
    o.store
        .apply(&[
            Mutation::SetPasswordHash {
                user_id: user,
                password_hash: hash,
            },
            Mutation::RevokeSessions {
                user_id: user,
                session_id: None,
                at: now_ms(),
            },
        ])
        .await?;
    Ok(())
}

/// How soon running gateways drop the sessions just ended.
async fn sessions_note(o: &Opened, user: UserId) -> anyhow::Result<String> {
    Ok(if o.announce_revoked(user).await? {
        "their sessions ended, every gateway told".into()
    } else {
        "their sessions ended (a running server drops them within its session_check_secs)".into()
    })
}

/// argon2id of `password`, on a blocking thread.
async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || chat_gateway::auth::hash_password(&password))
        .await?
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))
}

/// The first line of stdin; on a terminal, asked for without echo.
fn read_password() -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    if tty {
        eprint!("password: ");
        let _ = std::io::stderr().flush();
    }
    let echo = tty.then(EchoOff::new).flatten();
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    drop(echo);
    if tty {
        eprintln!();
    }
    read.context("reading the password from stdin")?;
    let p = line.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        bail!("no password on stdin (e.g. printf '%s\\n' \"$PASSWORD\" | chat user …)");
    }
    Ok(p)
}

/// The terminal's echo turned off until dropped.
struct EchoOff(libc::termios);

impl EchoOff {
    #[allow(unsafe_code)]
    fn new() -> Option<EchoOff> {
        // SAFETY: termios is plain data, filled by tcgetattr on stdin; both
        // calls only read and set the terminal's attributes.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(libc::STDIN_FILENO, &mut t) != 0 {
                return None;
            }
            let saved = t;
            t.c_lflag &= !libc::ECHO;
            (libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &t) == 0).then_some(EchoOff(saved))
        }
    }
}

impl Drop for EchoOff {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: restores the attributes tcgetattr returned.
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &self.0);
        }
    }
}

/// `chat chat …`.
pub async fn chat(a: ChatArgs) -> anyhow::Result<()> {
    let ChatAction::Inspect { target, id } = a.action;
    let opened = Opened::open(&target, false).await?;
    let result = inspect(&opened, ChatId(id)).await;
    opened.close().await;
    let report = result?;
    print(&(serde_json::to_string_pretty(&report)? + "\n"));
    Ok(())
}

/// What `chat chat inspect` prints.
#[derive(Serialize)]
struct Inspection {
    #[serde(flatten)]
    chat: chat_core::model::Chat,
    shard: String,
    settings: chat_core::model::ChatSettings,
    members: Vec<MemberView>,
    bans: Vec<chat_core::model::Ban>,
}

#[derive(Serialize)]
struct MemberView {
    user_id: UserId,
    name: Option<String>,
    role: chat_core::model::Role,
}

async fn inspect(o: &Opened, id: ChatId) -> anyhow::Result<Inspection> {
    let chat = o
        .store
        .chats(&[id])
        .await?
        .into_iter()
        .next()
        .with_context(|| format!("no chat {id} in {}", o.place))?;
    let members = o.store.members(id).await?;
    let ids: Vec<UserId> = members.iter().map(|m| m.user_id).collect();
    let names: std::collections::HashMap<UserId, String> = o
        .store
        .users(&ids)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    Ok(Inspection {
        shard: o.shard_of(id),
        settings: o.store.chat_settings(id).await?,
        bans: o.store.bans(id).await?,
        members: members
            .into_iter()
            .map(|m| MemberView {
                name: names.get(&m.user_id).cloned(),
                user_id: m.user_id,
                role: m.role,
            })
            .collect(),
        chat,
    })
}

/// Prints a report; stdout may be a closed pipe.
fn print(text: &str) {
    let _ = std::io::stdout().write_all(text.as_bytes());
}
