//! Admin commands on the store, in the same binary: `chat migrate`,
//! `chat user create|disable|enable|reset-password`, `chat chat inspect`,
//! `chat export` and `chat import`.
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
            let user = User::new(
                UserId(chat_core::IdGenerator::new(rand::random::<u16>()).next()),
                name.clone(),
                now_ms(),
            );
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

/// `chat export`.
#[derive(clap::Args, Debug, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub target: Target,
    /// The file to write (JSON Lines) [default: stdout].
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// `chat import`.
#[derive(clap::Args, Debug, Clone)]
pub struct ImportArgs {
    #[command(flatten)]
    pub target: Target,
    /// The export to read (JSON Lines); `-` reads stdin.
    pub file: PathBuf,
}

/// Progress on stderr: a line every few seconds and at the end.
struct Tally {
    started: std::time::Instant,
    last: std::time::Instant,
    rows: u64,
    per_table: std::collections::BTreeMap<&'static str, u64>,
    verb: &'static str,
}

impl Tally {
    fn new(verb: &'static str) -> Tally {
        let now = std::time::Instant::now();
        Tally {
            started: now,
            last: now,
            rows: 0,
            per_table: Default::default(),
            verb,
        }
    }

    fn add(&mut self, table: &'static str) {
        self.rows += 1;
        *self.per_table.entry(table).or_default() += 1;
        if self.last.elapsed() >= std::time::Duration::from_secs(2) {
            self.last = std::time::Instant::now();
            eprintln!("{} {} rows…", self.verb, self.rows);
        }
    }

    fn summary(&self) -> String {
        let secs = self.started.elapsed().as_secs_f64();
        let tables: Vec<String> = chat_store::dump::TABLES
            .iter()
            .map(|t| format!("{} {}", t.name, self.per_table.get(t.name).unwrap_or(&0)))
            .collect();
        format!(
            "{} {} rows in {secs:.1} s ({:.0} rows/s): {}",
            self.verb,
            self.rows,
            self.rows as f64 / secs.max(0.001),
            tables.join(", ")
        )
    }
}

/// `chat export`: every table, as JSON Lines, from the standalone database
/// or from the shards (each row from the shard the ring places it on).
pub async fn export(a: ExportArgs) -> anyhow::Result<()> {
    use chat_store::dump;
    let opened = Opened::open(&a.target, false).await?;
    let out: Box<dyn Write + Send> = match &a.output {
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::BufWriter::new(std::io::stdout())),
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
    };
    let out = std::sync::Mutex::new(out);
    let tally = std::sync::Mutex::new(Tally::new("exported"));
    let line = |v: &serde_json::Value| -> Result<(), StoreError> {
        let mut w = out.lock().unwrap_or_else(|e| e.into_inner());
        serde_json::to_writer(&mut *w, v)
            .map_err(std::io::Error::from)
            .and_then(|()| w.write_all(b"\n"))
            .map_err(|e| StoreError::Unavailable(format!("writing the export: {e}")))
    };
    let result = async {
        line(&dump::header(&opened.place))?;
        for t in dump::TABLES {
            let mut give = |row: serde_json::Map<String, serde_json::Value>| {
                let v = serde_json::Value::Object(row);
                line(&v)?;
                tally.lock().unwrap_or_else(|e| e.into_inner()).add(t.name);
                Ok(())
            };
            match &opened.kind {
                Kind::Sqlite(s) => {
                    s.export_table(t, &|_| true, &mut give).await?;
                }
                #[cfg(feature = "distributed")]
                Kind::Shards(s, _) => {
                    for (name, shard) in s.shard_stores() {
                        // Only the rows the ring places there: not a copy
                        // left behind by an aborted migration.
                        let keep = |owner: i64| {
                            let placed = match t.owner {
                                dump::Owner::Chat(_) => {
                                    chat_core::Placement::Chat(ChatId(owner as u64))
                                }
                                dump::Owner::User(_) => {
                                    chat_core::Placement::User(UserId(owner as u64))
                                }
                            };
                            s.shard_of(placed) == name
                        };
                        shard.export_table(t, &keep, &mut give).await?;
                    }
                }
            }
        }
        let rows = tally.lock().unwrap_or_else(|e| e.into_inner()).rows;
        line(&serde_json::json!({ "end": { "rows": rows } }))?;
        Ok::<(), StoreError>(())
    }
    .await;
    opened.close().await;
    result?;
    out.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .flush()
        .context("writing the export")?;
    eprintln!(
        "{}",
        tally
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .summary()
    );
    Ok(())
}

/// `chat import`: reads an export into a new SQLite file, whole and checked
/// line by line, then makes it the standalone database (which must hold no
/// user and no chat) or copies it into the shards (as `chat shards
/// import`). A file cut short is refused before anything is replaced.
pub async fn import(a: ImportArgs) -> anyhow::Result<()> {
    #[cfg(feature = "distributed")]
    if a.target.mysql.mysql_shards.is_some() {
        let dir = tempfile_dir()?;
        let path = dir.join("import.db");
        let tally = load(&a.file, &path).await?;
        eprintln!("{}", tally.summary());
        let r = crate::shards::import_into_shards(&a.target.mysql, &path).await;
        let _ = std::fs::remove_dir_all(&dir);
        return r;
    }
    let dir = a
        .target
        .data_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("data"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = dir.join("chat.db");
    if db.is_file() {
        let s = SqliteStore::open(&SqliteConfig::new(&db)).await?;
        let empty = s.is_empty().await;
        s.close().await;
        if !empty? {
            bail!(
                "{} holds users or chats already: import into a new data directory",
                db.display()
            );
        }
    }
    let tmp = dir.join("chat.db.import");
    let tally = load(&a.file, &tmp).await;
    let tally = match tally {
        Ok(t) => t,
        Err(e) => {
            remove_db(&tmp);
            return Err(e);
        }
    };
    remove_db(&db);
    std::fs::rename(&tmp, &db).with_context(|| format!("moving the import to {}", db.display()))?;
    print(&format!("{} into {}\n", tally.summary(), db.display()));
    Ok(())
}

/// A SQLite database file and its WAL and shared-memory files, removed.
fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(p));
    }
}

/// A new private directory under the system's temporary one.
#[cfg(feature = "distributed")]
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let d = std::env::temp_dir().join(format!(
        "chat-import-{}-{:x}",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

/// Reads the export `file` into a new SQLite database at `db`: the header,
/// every row checked against its table, the end line and its count.
async fn load(file: &std::path::Path, db: &std::path::Path) -> anyhow::Result<Tally> {
    remove_db(db);
    let mut cfg = SqliteConfig::new(db);
    cfg.fsync_every_commit = false;
    let store = SqliteStore::open(&cfg)
        .await
        .with_context(|| format!("creating {}", db.display()))?;
    // Lines are read and checked on a blocking thread, a batch at a time.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<anyhow::Result<Batch>>(4);
    let file = file.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || read_batches(&file, &tx));
    let mut tally = Tally::new("imported");
    let mut result = Ok(());
    while let Some(batch) = rx.recv().await {
        match batch {
            Ok(rows) => {
                if let Err(e) = store.import_rows(&rows).await {
                    result = Err(anyhow::anyhow!("{e}"));
                    break;
                }
                for (t, _) in &rows {
                    tally.add(t.name);
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    drop(rx);
    let read = reader.await?;
    store.close().await;
    result?;
    let rows = read?;
    if rows != tally.rows {
        bail!(
            "the export's end line counts {rows} rows, {} were read",
            tally.rows
        );
    }
    Ok(tally)
}

type Batch = Vec<(
    &'static chat_store::dump::Table,
    serde_json::Map<String, serde_json::Value>,
)>;

/// Reads `file` (`-`: stdin), sending checked rows in batches; the row count
/// of its end line.
fn read_batches(
    file: &std::path::Path,
    tx: &tokio::sync::mpsc::Sender<anyhow::Result<Batch>>,
) -> anyhow::Result<u64> {
    use chat_store::dump;
    let input: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::BufReader::new(std::io::stdin()))
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?,
        ))
    };
    let fail = |e: anyhow::Error| {
        let text = e.to_string();
        let _ = tx.blocking_send(Err(e));
        anyhow::anyhow!(text)
    };
    let mut batch: Batch = Vec::with_capacity(dump::IMPORT_BATCH);
    let mut end = None;
    for (i, line) in input.lines().enumerate() {
        let n = i + 1;
        let line = line
            .with_context(|| format!("reading line {n}"))
            .map_err(fail)?;
        if line.trim().is_empty() {
            continue;
        }
        if end.is_some() {
            return Err(fail(anyhow::anyhow!("line {n}: a line after the end line")));
        }
        let v: serde_json::Value = serde_json::from_str(&line)
            .with_context(|| format!("line {n} is not JSON"))
            .map_err(fail)?;
        if n == 1 {
            dump::check_header(&v).map_err(|e| fail(anyhow::anyhow!(e)))?;
            continue;
        }
        if let Some(rows) = v.get("end") {
            end =
                Some(rows["rows"].as_u64().ok_or_else(|| {
                    fail(anyhow::anyhow!("line {n}: the end line has no row count"))
                })?);
            continue;
        }
        let serde_json::Value::Object(row) = v else {
            return Err(fail(anyhow::anyhow!("line {n} is not an object")));
        };
        let name = row.get("table").and_then(|t| t.as_str()).unwrap_or("");
        let t = dump::table(name)
            .ok_or_else(|| fail(anyhow::anyhow!("line {n}: unknown table {name:?}")))?;
        t.check(&row, &format!("line {n}"))
            .map_err(|e| fail(anyhow::anyhow!(e)))?;
        batch.push((t, row));
        if batch.len() == dump::IMPORT_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(dump::IMPORT_BATCH));
            if tx.blocking_send(Ok(full)).is_err() {
                bail!("the import stopped");
            }
        }
    }
    if !batch.is_empty() && tx.blocking_send(Ok(batch)).is_err() {
        bail!("the import stopped");
    }
    end.ok_or_else(|| {
        fail(anyhow::anyhow!(
            "the export ends without its end line: it was cut short"
        ))
    })
}
