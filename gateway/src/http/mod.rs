//! HTTP handlers of `/api/v1`: each parses its request, calls the
//! [`Service`](crate::service::Service) once and renders the answer.

mod extract;

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chat_core::model::{ChatKind, Role, User};
use chat_core::ports::HistoryPage;
use chat_core::wire::Outcome;
use chat_core::{ChatId, Code, UserId};
use serde::Deserialize;

pub use extract::{
    ApiBytes, ApiJson, ApiPath, ApiQuery, AuthSession, AuthUser, ClientIp, UserAgent,
};

use crate::error::ApiError;
use crate::service::{ChatView, CursorView, HistoryView, Intent, Session, SessionView};
use crate::state::AppState;

type ApiResult<T> = Result<T, ApiError>;

/// Body of register and login.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    name: String,
    password: String,
}

pub async fn register(
    State(st): State<AppState>,
    ClientIp(from): ClientIp,
    UserAgent(device): UserAgent,
    ApiJson(c): ApiJson<Credentials>,
) -> ApiResult<(StatusCode, Json<Session>)> {
    let session = st
        .service
        .register(c.name, c.password, from, &device)
        .await?;
    Ok((StatusCode::CREATED, Json(session)))
}

pub async fn login(
    State(st): State<AppState>,
    ClientIp(from): ClientIp,
    UserAgent(device): UserAgent,
    ApiJson(c): ApiJson<Credentials>,
) -> ApiResult<Json<Session>> {
    Ok(Json(
        st.service.login(&c.name, c.password, from, &device).await?,
    ))
}

/// Body of `POST /auth/refresh`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /auth/refresh`: a spent refresh token for a new pair.
pub async fn refresh(
    State(st): State<AppState>,
    ClientIp(from): ClientIp,
    ApiJson(b): ApiJson<RefreshBody>,
) -> ApiResult<Json<Session>> {
    Ok(Json(st.service.refresh(&b.refresh_token, from).await?))
}

/// `POST /auth/logout`: ends the session of the request's token.
pub async fn logout(
    State(st): State<AppState>,
    AuthSession(me): AuthSession,
) -> ApiResult<StatusCode> {
    st.service.end_sessions(me.user, Some(me.session)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me/sessions`: the caller's live sessions.
pub async fn sessions(
    State(st): State<AppState>,
    AuthSession(me): AuthSession,
) -> ApiResult<Response> {
    let list: Vec<SessionView> = st.service.sessions(me).await?;
    Ok(Json(serde_json::json!({ "sessions": list })).into_response())
}

/// `DELETE /me/sessions`: logs out everywhere (every session, this one too).
pub async fn logout_all(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<StatusCode> {
    st.service.end_sessions(me, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /me/sessions/{id}`: ends one of the caller's sessions.
pub async fn end_session(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = id
        .parse::<chat_core::SessionId>()
        .map_err(|_| ApiError::new(Code::InvalidId, "a session id is a decimal number"))?;
    st.service.end_session(me, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn me(State(st): State<AppState>, AuthUser(me): AuthUser) -> ApiResult<Json<User>> {
    Ok(Json(st.service.me(me).await?))
}

/// Body of `PATCH /me`: the fields to change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    about: Option<String>,
}

/// `PATCH /me`: display name and/or about text.
pub async fn update_me(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiJson(b): ApiJson<ProfileBody>,
) -> ApiResult<Json<User>> {
    Ok(Json(
        st.service
            .update_profile(me, b.display_name, b.about)
            .await?,
    ))
}

/// Body of `PUT /me/presence`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresenceBody {
    visibility: chat_core::presence::Visibility,
}

/// `GET /me/presence`: who may see the user's online status and last seen.
pub async fn presence_setting(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<Json<crate::service::PresenceSetting>> {
    Ok(Json(st.service.presence_setting(me).await?))
}

/// `PUT /me/presence`: `everyone`, `contacts` or `nobody`.
pub async fn set_presence_setting(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiJson(b): ApiJson<PresenceBody>,
) -> ApiResult<Json<crate::service::PresenceSetting>> {
    let setting = crate::service::PresenceSetting {
        visibility: b.visibility,
    };
    Ok(Json(st.service.set_presence_setting(me, setting).await?))
}

/// `GET /chats/{id}/presence`: who of the members is online.
pub async fn chat_presence(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<crate::service::PresenceView>> {
    Ok(Json(
        st.service.chat_presence(me, extract::chat_id(&id)?).await?,
    ))
}

/// `PUT /me/avatar`: the image is the body (PNG, JPEG or WebP).
pub async fn put_avatar(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiBytes(body): ApiBytes,
) -> ApiResult<Json<User>> {
    Ok(Json(st.service.set_avatar(me, body).await?))
}

/// `DELETE /me/avatar`.
pub async fn delete_avatar(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
) -> ApiResult<Json<User>> {
    Ok(Json(st.service.remove_avatar(me).await?))
}

/// `GET /users/{id}/avatar[?v=TAG]`: the image, to a signed-in caller or
/// to whoever names its tag (an `<img>` sends no token). With the current
/// tag the answer never changes (cached for a year); without, it is
/// revalidated by its ETag.
pub async fn avatar(
    State(st): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<HashMap<String, String>>,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    use axum::http::header;
    let id = extract::user_id(&id)?;
    let viewer = match crate::auth::bearer(&headers) {
        Some(token) => Some(st.service.authenticate(token).await?.user),
        None => None,
    };
    let v = q.get("v").map(String::as_str);
    let a = st.service.avatar(viewer, id, v).await?;
    let etag = format!("\"{}\"", a.tag);
    let cache = if v == Some(a.tag.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "private, no-cache"
    };
    let fixed = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, cache.to_string()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox".to_string(),
        ),
    ];
    let unchanged = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(','))
        .any(|t| t.trim() == etag || t.trim() == "*");
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, fixed).into_response());
    }
    Ok(([(header::CONTENT_TYPE, a.content_type)], fixed, a.bytes).into_response())
}

pub async fn user(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(st.service.user(me, extract::user_id(&id)?).await?))
}

pub async fn user_by_name(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<User>> {
    Ok(Json(st.service.user_by_name(me, &name).await?))
}

/// `GET /users?ids=1,2,3`
pub async fn users(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiQuery(q): ApiQuery<HashMap<String, String>>,
) -> ApiResult<Json<Vec<User>>> {
    let raw = q.get("ids").map(String::as_str).unwrap_or("");
    let ids = raw
        .split(',')
        .filter(|s| !s.is_empty())
        .map(extract::user_id)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(st.service.users(me, &ids).await?))
}

pub async fn chat_list(State(st): State<AppState>, AuthUser(me): AuthUser) -> ApiResult<Response> {
    let list = st.service.chat_list(me).await?;
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
    /// A group's idempotency key.
    #[serde(default)]
    client_chat_id: Option<String>,
    /// What a group's new members see of earlier messages [default: all].
    #[serde(default)]
    history: Option<chat_core::model::HistoryVisibility>,
}

pub async fn create_chat(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiJson(b): ApiJson<NewChat>,
) -> ApiResult<Response> {
    if b.kind == ChatKind::Direct && b.history.is_some() {
        return Err(ApiError::new(
            Code::DirectChat,
            "a direct chat has no history setting",
        ));
    }
    let outcome = st
        .service
        .create_chat(me, b.kind, b.title, b.members, b.client_chat_id.as_deref())
        .await?;
    // The setting follows the creation (members named at creation see
    // everything either way).
    let outcome = match (b.history, &outcome) {
        // Also on a retried creation (its first setting may have failed).
        (Some(h), Outcome::Ok { chat: Some(c), .. })
            if h != chat_core::model::HistoryVisibility::All =>
        {
            let chat = c.id;
            st.service.set_history(me, chat, h).await?;
            outcome
        }
        _ => outcome,
    };
    match outcome {
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

/// Body of `PATCH /chats/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatChange {
    history: chat_core::model::HistoryVisibility,
}

pub async fn update_chat(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<ChatChange>,
) -> ApiResult<Response> {
    let chat = extract::chat_id(&id)?;
    chat_outcome(st.service.set_history(me, chat, b.history).await?)
}

pub async fn get_chat(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ChatView>> {
    Ok(Json(st.service.chat(me, extract::chat_id(&id)?).await?))
}

/// Body of `PUT /chats/{id}/mute`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuteBody {
    /// Until when (Unix ms); left out or null: for good.
    #[serde(default)]
    until: Option<i64>,
}

/// `PUT /chats/{id}/mute`: the caller mutes the chat (unread still counts,
/// no notification); answers with the chat as `GET /chats/{id}`.
pub async fn mute(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<MuteBody>,
) -> ApiResult<Json<ChatView>> {
    let chat = extract::chat_id(&id)?;
    Ok(Json(st.service.set_mute(me, chat, true, b.until).await?))
}

/// `DELETE /chats/{id}/mute`: unmutes it.
pub async fn unmute(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ChatView>> {
    let chat = extract::chat_id(&id)?;
    Ok(Json(st.service.set_mute(me, chat, false, None).await?))
}

pub async fn members(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let members = st.service.members(me, extract::chat_id(&id)?).await?;
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

/// The answer for a membership command: the chat, or nothing.
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
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<AddMember>,
) -> ApiResult<Response> {
    let intent = Intent::AddMember {
        chat_id: extract::chat_id(&id)?,
        user_id: b.user_id,
        role: b.role,
    };
    chat_outcome(st.service.execute(me, intent).await?)
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
    ApiPath((id, user)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<SetRole>,
) -> ApiResult<Response> {
    let intent = Intent::SetRole {
        chat_id: extract::chat_id(&id)?,
        user_id: extract::user_id(&user)?,
        role: b.role,
    };
    chat_outcome(st.service.execute(me, intent).await?)
}

/// Query of `DELETE /chats/{id}/members/{user}`.
#[derive(Deserialize)]
pub struct RemoveQuery {
    ban: Option<String>,
}

pub async fn remove_member(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath((id, user)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<RemoveQuery>,
) -> ApiResult<Response> {
    let ban = match q.ban.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(ApiError::new(
                Code::InvalidLimit,
                "ban must be true or false",
            ));
        }
    };
    let intent = Intent::RemoveMember {
        chat_id: extract::chat_id(&id)?,
        user_id: extract::user_id(&user)?,
        ban,
    };
    chat_outcome(st.service.execute(me, intent).await?)
}

pub async fn blocks(State(st): State<AppState>, AuthUser(me): AuthUser) -> ApiResult<Response> {
    let blocked = st.service.blocks(me).await?;
    Ok(Json(serde_json::json!({ "blocked": blocked })).into_response())
}

pub async fn block(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(user): ApiPath<String>,
) -> ApiResult<StatusCode> {
    st.service.block(me, extract::user_id(&user)?, true).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn unblock(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(user): ApiPath<String>,
) -> ApiResult<StatusCode> {
    st.service
        .block(me, extract::user_id(&user)?, false)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn bans(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let bans = st.service.bans(me, extract::chat_id(&id)?).await?;
    Ok(Json(serde_json::json!({ "bans": bans })).into_response())
}

pub async fn unban(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath((id, user)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let intent = Intent::Unban {
        chat_id: extract::chat_id(&id)?,
        user_id: extract::user_id(&user)?,
    };
    chat_outcome(st.service.execute(me, intent).await?)
}

/// Query of `GET /chats/{id}/messages`.
#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<String>,
    after: Option<String>,
    limit: Option<String>,
    /// A page with this seq in its middle (a search hit opened in context).
    #[serde(default)]
    around: Option<String>,
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
    ApiPath(id): ApiPath<String>,
    q: Result<axum::extract::Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<HistoryView>> {
    let chat = extract::chat_id(&id)?;
    let axum::extract::Query(q) =
        q.map_err(|e| ApiError::new(Code::InvalidLimit, e.body_text()))?;
    if let Some(around) = q.around.as_deref() {
        if q.before.is_some() || q.after.is_some() {
            return Err(ApiError::new(
                Code::InvalidLimit,
                "give around alone, without before or after",
            ));
        }
        let seq = extract::seq(around)?;
        let limit = match history_page(&q, st.cfg.max_page)? {
            HistoryPage::Latest { limit } => limit,
            _ => unreachable!("neither before nor after"),
        };
        return Ok(Json(st.service.history_around(me, chat, seq, limit).await?));
    }
    let page = history_page(&q, st.cfg.max_page)?;
    Ok(Json(st.service.history(me, chat, page).await?))
}

/// Query of `GET /search`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    q: String,
    #[serde(default)]
    chat_id: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    limit: Option<u32>,
}

/// `GET /search`: messages the caller may read, newest first.
pub async fn search(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    q: Result<axum::extract::Query<SearchParams>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<crate::service::SearchView>> {
    let axum::extract::Query(p) =
        q.map_err(|e| ApiError::new(Code::InvalidQuery, e.body_text()))?;
    let chat = p.chat_id.as_deref().map(extract::chat_id).transpose()?;
    let view = st
        .service
        .search(me, &p.q, chat, p.before.as_deref(), p.limit.unwrap_or(20))
        .await?;
    Ok(Json(view))
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

pub async fn send(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<SendBody>,
) -> ApiResult<Response> {
    let intent = Intent::Send {
        chat_id: extract::chat_id(&id)?,
        client_msg_id: b.client_msg_id,
        text: b.text,
        reply_to_seq: b.reply_to_seq,
    };
    message_outcome(st.service.execute(me, intent).await?, true)
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
    ApiPath((id, seq)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<EditBody>,
) -> ApiResult<Response> {
    let intent = Intent::Edit {
        chat_id: extract::chat_id(&id)?,
        seq: extract::seq(&seq)?,
        text: b.text,
    };
    message_outcome(st.service.execute(me, intent).await?, false)
}

/// `PUT /chats/{id}/messages/{seq}/reactions/{emoji}`: adds the caller's
/// reaction (a repeat changes nothing).
pub async fn react(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath((id, seq, emoji)): ApiPath<(String, String, String)>,
) -> ApiResult<Response> {
    reaction(st, me, id, seq, emoji, false).await
}

/// `DELETE /chats/{id}/messages/{seq}/reactions/{emoji}`: takes it back.
pub async fn unreact(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath((id, seq, emoji)): ApiPath<(String, String, String)>,
) -> ApiResult<Response> {
    reaction(st, me, id, seq, emoji, true).await
}

async fn reaction(
    st: AppState,
    me: UserId,
    id: String,
    seq: String,
    emoji: String,
    remove: bool,
) -> ApiResult<Response> {
    let intent = Intent::React {
        chat_id: extract::chat_id(&id)?,
        seq: extract::seq(&seq)?,
        emoji,
        remove,
    };
    message_outcome(st.service.execute(me, intent).await?, false)
}

/// `PUT /chats/{id}/pins/{seq}`: pins a message (a repeat changes
/// nothing); answers with the chat.
pub async fn pin(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath((id, seq)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    pinning(st, me, id, seq, false).await
}

/// `DELETE /chats/{id}/pins/{seq}`: unpins it.
pub async fn unpin(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath((id, seq)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    pinning(st, me, id, seq, true).await
}

async fn pinning(
    st: AppState,
    me: UserId,
    id: String,
    seq: String,
    unpin: bool,
) -> ApiResult<Response> {
    let intent = Intent::Pin {
        chat_id: extract::chat_id(&id)?,
        seq: extract::seq(&seq)?,
        unpin,
    };
    chat_outcome(st.service.execute(me, intent).await?)
}

pub async fn delete(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath((id, seq)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let intent = Intent::Delete {
        chat_id: extract::chat_id(&id)?,
        seq: extract::seq(&seq)?,
    };
    message_outcome(st.service.execute(me, intent).await?, false)
}

/// Body of `POST /chats/{id}/messages/{seq}/forward`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardBody {
    to_chat_id: ChatId,
    client_msg_id: String,
}

pub async fn forward(
    State(st): State<AppState>,
    AuthUser(me): AuthUser,
    ApiPath((id, seq)): ApiPath<(String, String)>,
    ApiJson(b): ApiJson<ForwardBody>,
) -> ApiResult<Response> {
    let intent = Intent::Forward {
        from_chat_id: extract::chat_id(&id)?,
        seq: extract::seq(&seq)?,
        to_chat_id: b.to_chat_id,
        client_msg_id: b.client_msg_id,
    };
    message_outcome(st.service.execute(me, intent).await?, true)
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
    ApiPath(id): ApiPath<String>,
    ApiJson(b): ApiJson<ReadBody>,
) -> ApiResult<Json<CursorView>> {
    let chat = extract::chat_id(&id)?;
    Ok(Json(st.service.read(me, chat, b.seq).await?))
}
