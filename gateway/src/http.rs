//! HTTP handlers of `/api/v1`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chat_core::model::{ChatKind, Message, Role, User, UserRecord};
use chat_core::ports::HistoryPage;
use chat_core::rules;
use chat_core::wire::{Command, Outcome};
use chat_core::{ChatId, Code, MessageId, UserId, direct_chat_id, now_ms};
use serde::{Deserialize, Serialize};

use crate::auth::{self, AuthUser};
use crate::error::ApiError;
use crate::extract::{self, ApiJson};
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiError>;

/// Body of register and login.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    name: String,
    password: String,
}

/// Answer of register and login.
#[derive(Serialize)]
pub struct Session {
    user: User,
    token: String,
    /// Unix seconds.
    expires_at: i64,
}

pub async fn register(
    State(st): State<AppState>,
    ApiJson(c): ApiJson<Credentials>,
) -> ApiResult<Response> {
    rules::check_user_name(&c.name)?;
    rules::check_password(&c.password)?;
    let pw = c.password;
    let _slot = st
        .password_slots
        .acquire()
        .await
        .map_err(|e| ApiError::internal("password slots", e))?;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&pw))
        .await
        .map_err(|e| ApiError::internal("hash task", e))??;
    let user = User {
        id: UserId(st.deps.ids.next()),
        name: c.name,
        created_at: now_ms(),
    };
    let rec = UserRecord {
        user: user.clone(),
        password_hash: hash,
    };
    match st.deps.store.create_user(&rec).await {
        Ok(()) => {}
        Err(chat_core::StoreError::Conflict(_)) => {
            return Err(ApiError::new(Code::NameTaken, "that name is taken"));
        }
        Err(e) => return Err(e.into()),
    }
    let (token, expires_at) = st.tokens.issue(user.id, &user.name)?;
    tracing::info!(user = %user.id, name = %user.name, "registered");
    Ok((
        StatusCode::CREATED,
        Json(Session {
            user,
            token,
            expires_at,
        }),
    )
        .into_response())
}

pub async fn login(
    State(st): State<AppState>,
    ApiJson(c): ApiJson<Credentials>,
) -> ApiResult<Json<Session>> {
    let bad = || ApiError::new(Code::InvalidCredentials, "wrong name or password");
    if c.password.len() > 256 {
        return Err(bad());
    }
    let rec = st.deps.store.user_by_name(&c.name).await?;
    // Verify against a dummy hash when the user is unknown, so timing does not
    // reveal which names exist.
    let phc = match &rec {
        Some(r) => r.password_hash.clone(),
        None => DUMMY_HASH.clone(),
    };
    let pw = c.password;
    let _slot = st
        .password_slots
        .acquire()
        .await
        .map_err(|e| ApiError::internal("password slots", e))?;
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&pw, &phc))
        .await
        .map_err(|e| ApiError::internal("verify task", e))?;
    match rec {
        Some(r) if ok => {
            let (token, expires_at) = st.tokens.issue(r.user.id, &r.user.name)?;
            Ok(Json(Session {
                user: r.user,
                token,
                expires_at,
            }))
        }
        _ => Err(bad()),
    }
}

/// A real argon2id hash, verified against when the name is unknown so that a
/// failed login costs the same either way.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    auth::hash_password("no such user, no such password").unwrap_or_default()
});

pub async fn me(State(st): State<AppState>, AuthUser(me): AuthUser) -> ApiResult<Json<User>> {
    st.deps
        .store
        .users(&[me])
        .await?
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::new(Code::UserNotFound, "your account no longer exists"))
}

pub async fn user(
    State(st): State<AppState>,
    AuthUser(_): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<User>> {
    let id = extract::user_id(&id)?;
    st.deps
        .store
        .users(&[id])
        .await?
        .into_iter()
        .next()
        .map(Json)
        .ok_or_else(|| ApiError::new(Code::UserNotFound, "no such user"))
}

pub async fn user_by_name(
    State(st): State<AppState>,
    AuthUser(_): AuthUser,
    Path(name): Path<String>,
) -> ApiResult<Json<User>> {
    st.deps
        .store
        .user_by_name(&name)
        .await?
        .map(|r| Json(r.user))
        .ok_or_else(|| ApiError::new(Code::UserNotFound, "no such user"))
}

/// `GET /users?ids=1,2,3`
pub async fn users(
    State(st): State<AppState>,
    AuthUser(_): AuthUser,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<Json<Vec<User>>> {
    let raw = q.get("ids").map(String::as_str).unwrap_or("");
    let ids = raw
        .split(',')
        .filter(|s| !s.is_empty())
        .map(extract::user_id)
        .collect::<Result<Vec<_>, _>>()?;
    if ids.len() > 500 {
        return Err(ApiError::new(
            Code::InvalidLimit,
            "at most 500 ids per request",
        ));
    }
    Ok(Json(st.deps.store.users(&ids).await?))
}

pub async fn chat_list(State(st): State<AppState>, AuthUser(me): AuthUser) -> ApiResult<Response> {
    let list = st.reads.chat_list(me).await?;
    Ok(Json(serde_json::json!({ "chats": list })).into_response())
}

/// Body of `POST /chats`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChat {
    kind: ChatKind,
    #[serde(default)]
    title: String,
    #[serde(default)]
    members: Vec<UserId>,
}

pub async fn create_chat(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiJson(b): ApiJson<NewChat>,
) -> ApiResult<Response> {
    let chat_id = match b.kind {
        ChatKind::Direct => {
            let others: Vec<UserId> = b.members.iter().copied().filter(|u| *u != me).collect();
            if others.len() != 1 {
                return Err(ApiError::new(
                    Code::InvalidMembers,
                    "a direct chat needs exactly one other member",
                ));
            }
            direct_chat_id(me, others[0])
        }
        ChatKind::Group => {
            st.cfg.limits.check_title(&b.title)?;
            if b.members.len() > st.cfg.limits.max_initial_members {
                return Err(ApiError::new(
                    Code::InvalidMembers,
                    "too many initial members",
                ));
            }
            ChatId(st.deps.ids.next())
        }
    };
    let out = st
        .commander
        .run(
            me,
            Command::CreateChat {
                chat_id,
                kind: b.kind,
                title: b.title,
                members: b.members,
            },
        )
        .await?;
    match out {
        Outcome::Ok {
            chat: Some(chat),
            duplicate,
            ..
        } => {
            let status = if duplicate {
                StatusCode::OK
            } else {
                StatusCode::CREATED
            };
            Ok((status, Json(chat)).into_response())
        }
        other => Err(ApiError::internal(
            "create chat",
            format!("unexpected outcome {other:?}"),
        )),
    }
}

pub async fn get_chat(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let chat = extract::chat_id(&id)?;
    let (c, role) = st.reads.authorize(me, chat).await?;
    let read_seq = st.reads.read_seq(me, chat).await?;
    Ok(Json(serde_json::json!({
        "chat": c,
        "role": role,
        "read_seq": read_seq,
        "unread": c.last_seq.saturating_sub(read_seq),
    }))
    .into_response())
}

pub async fn members(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let chat = extract::chat_id(&id)?;
    st.reads.authorize(me, chat).await?;
    let members = st.reads.members(chat).await?;
    Ok(Json(serde_json::json!({ "members": members })).into_response())
}

/// Body of `POST /chats/{id}/members`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    user_id: UserId,
    #[serde(default = "default_role")]
    role: Role,
}

fn default_role() -> Role {
    Role::Member
}

fn chat_outcome(out: Outcome) -> ApiResult<Response> {
    match out {
        Outcome::Ok {
            chat: Some(chat), ..
        } => Ok(Json(chat).into_response()),
        Outcome::Ok { .. } => Ok(StatusCode::NO_CONTENT.into_response()),
        Outcome::Rejected(r) => Err(r.into()),
    }
}

pub async fn add_member(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<AddMember>,
) -> ApiResult<Response> {
    let chat_id = extract::chat_id(&id)?;
    st.reads.authorize(me, chat_id).await?;
    chat_outcome(
        st.commander
            .run(
                me,
                Command::AddMember {
                    chat_id,
                    user_id: b.user_id,
                    role: b.role,
                },
            )
            .await?,
    )
}

/// Body of `PATCH /chats/{id}/members/{user}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    role: Role,
}

pub async fn set_role(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path((id, user)): Path<(String, String)>,
    ApiJson(b): ApiJson<SetRole>,
) -> ApiResult<Response> {
    let chat_id = extract::chat_id(&id)?;
    let user_id = extract::user_id(&user)?;
    st.reads.authorize(me, chat_id).await?;
    chat_outcome(
        st.commander
            .run(
                me,
                Command::SetRole {
                    chat_id,
                    user_id,
                    role: b.role,
                },
            )
            .await?,
    )
}

pub async fn remove_member(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path((id, user)): Path<(String, String)>,
) -> ApiResult<Response> {
    let chat_id = extract::chat_id(&id)?;
    let user_id = extract::user_id(&user)?;
    st.reads.authorize(me, chat_id).await?;
    chat_outcome(
        st.commander
            .run(me, Command::RemoveMember { chat_id, user_id })
            .await?,
    )
}

/// Query of `GET /chats/{id}/messages`.
#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// The history page a query asks for.
pub fn history_page(q: &HistoryQuery, max: u32) -> ApiResult<HistoryPage> {
    let num = |name: &str, v: &Option<String>| -> ApiResult<Option<u64>> {
        v.as_deref()
            .map(|s| {
                s.parse::<u64>().map_err(|_| {
                    ApiError::new(
                        Code::InvalidLimit,
                        format!("{name} must be a non-negative integer"),
                    )
                })
            })
            .transpose()
    };
    let limit = match num("limit", &q.limit)? {
        None => 50.min(max),
        Some(l) if l >= 1 && l <= u64::from(max) => l as u32,
        Some(_) => {
            return Err(ApiError::new(
                Code::InvalidLimit,
                format!("limit must be between 1 and {max}"),
            ));
        }
    };
    match (num("before", &q.before)?, num("after", &q.after)?) {
        (Some(_), Some(_)) => Err(ApiError::new(
            Code::InvalidLimit,
            "give before or after, not both",
        )),
        (Some(before), None) => Ok(HistoryPage::Before { before, limit }),
        (None, Some(after)) => Ok(HistoryPage::After { after, limit }),
        (None, None) => Ok(HistoryPage::Latest { limit }),
    }
}

pub async fn history(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
    q: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Response> {
    let chat = extract::chat_id(&id)?;
    let Query(q) = q.map_err(|e| ApiError::new(Code::InvalidLimit, e.body_text()))?;
    let page = history_page(&q, st.cfg.max_page)?;
    let (c, _) = st.reads.authorize(me, chat).await?;
    let messages = st.deps.store.messages(chat, page).await?;
    Ok(Json(serde_json::json!({ "messages": messages, "last_seq": c.last_seq })).into_response())
}

/// Body of `POST /chats/{id}/messages`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    client_msg_id: String,
    text: String,
    #[serde(default)]
    reply_to_seq: Option<u64>,
}

/// The answer for a command about a message: 201 for a new message, else 200.
fn message_outcome(out: Outcome, creates: bool) -> ApiResult<Response> {
    match out {
        Outcome::Ok {
            message: Some(m),
            duplicate,
            ..
        } => {
            let status = if creates && !duplicate {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            Ok((
                status,
                Json(serde_json::json!({ "message": m, "duplicate": duplicate })),
            )
                .into_response())
        }
        Outcome::Ok { .. } => Ok(StatusCode::NO_CONTENT.into_response()),
        Outcome::Rejected(r) => Err(r.into()),
    }
}

/// Checks a send at the gateway (fast errors); the writer checks again.
pub async fn precheck_send(
    st: &AppState,
    me: UserId,
    chat: ChatId,
    client_msg_id: &str,
    text: &str,
) -> ApiResult<()> {
    st.cfg.limits.check_client_msg_id(client_msg_id)?;
    st.cfg.limits.check_text(text)?;
    let (_, role) = st.reads.authorize(me, chat).await?;
    rules::can_post(Some(role))?;
    Ok(())
}

pub async fn send(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<SendBody>,
) -> ApiResult<Response> {
    let chat_id = extract::chat_id(&id)?;
    precheck_send(&st, me, chat_id, &b.client_msg_id, &b.text).await?;
    let cmd = Command::Send {
        chat_id,
        message_id: MessageId(st.deps.ids.next()),
        client_msg_id: b.client_msg_id,
        text: b.text,
        reply_to_seq: b.reply_to_seq,
        forwarded_from: None,
    };
    message_outcome(st.commander.run(me, cmd).await?, true)
}

/// Body of `PATCH /chats/{id}/messages/{seq}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    text: String,
}

pub async fn edit(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path((id, seq)): Path<(String, String)>,
    ApiJson(b): ApiJson<EditBody>,
) -> ApiResult<Response> {
    let chat_id = extract::chat_id(&id)?;
    let seq = extract::seq(&seq)?;
    st.cfg.limits.check_text(&b.text)?;
    st.reads.authorize(me, chat_id).await?;
    message_outcome(
        st.commander
            .run(
                me,
                Command::Edit {
                    chat_id,
                    seq,
                    text: b.text,
                },
            )
            .await?,
        false,
    )
}

pub async fn delete(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path((id, seq)): Path<(String, String)>,
) -> ApiResult<Response> {
    let chat_id = extract::chat_id(&id)?;
    let seq = extract::seq(&seq)?;
    st.reads.authorize(me, chat_id).await?;
    message_outcome(
        st.commander
            .run(me, Command::Delete { chat_id, seq })
            .await?,
        false,
    )
}

/// Body of `POST /chats/{id}/messages/{seq}/forward`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardBody {
    to_chat_id: ChatId,
    client_msg_id: String,
}

/// Resolves a forward: the caller must read the source and post in the target.
pub async fn forward_command(
    st: &AppState,
    me: UserId,
    from: ChatId,
    seq: u64,
    to: ChatId,
    client_msg_id: String,
) -> ApiResult<Command> {
    st.reads.authorize(me, from).await?;
    let orig: Message = st
        .deps
        .store
        .message(from, seq)
        .await?
        .ok_or_else(|| ApiError::new(Code::MessageNotFound, "no such message"))?;
    if orig.deleted {
        return Err(ApiError::new(
            Code::MessageDeleted,
            "a deleted message cannot be forwarded",
        ));
    }
    precheck_send(st, me, to, &client_msg_id, &orig.text).await?;
    // Forwarding a forward points at the original source.
    let forwarded_from = orig
        .forwarded_from
        .clone()
        .unwrap_or(chat_core::model::ForwardedFrom {
            chat_id: from,
            seq,
            sender_id: orig.sender_id,
        });
    Ok(Command::Send {
        chat_id: to,
        message_id: MessageId(st.deps.ids.next()),
        client_msg_id,
        text: orig.text,
        reply_to_seq: None,
        forwarded_from: Some(forwarded_from),
    })
}

pub async fn forward(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path((id, seq)): Path<(String, String)>,
    ApiJson(b): ApiJson<ForwardBody>,
) -> ApiResult<Response> {
    let from = extract::chat_id(&id)?;
    let seq = extract::seq(&seq)?;
    let cmd = forward_command(&st, me, from, seq, b.to_chat_id, b.client_msg_id).await?;
    message_outcome(st.commander.run(me, cmd).await?, true)
}

/// Body of `PUT /chats/{id}/read`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    seq: u64,
}

pub async fn read(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<ReadBody>,
) -> ApiResult<Response> {
    let chat_id = extract::chat_id(&id)?;
    st.reads.authorize(me, chat_id).await?;
    st.commander
        .run(
            me,
            Command::Read {
                chat_id,
                seq: b.seq,
            },
        )
        .await?;
    let read_seq = st
        .deps
        .store
        .memberships(me)
        .await?
        .iter()
        .find(|m| m.chat_id == chat_id)
        .map_or(0, |m| m.read_seq);
    Ok(Json(serde_json::json!({ "chat_id": chat_id, "read_seq": read_seq })).into_response())
}
