//! Validation and authorization rules: plain synchronous functions.

use crate::error::{Code, Rejection};
use crate::model::{ChatKind, Role};

/// Limits applied to user input; configurable per deployment.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest message text, in characters.
    pub max_text_chars: usize,
    /// Longest `client_msg_id`, in bytes.
    pub max_client_msg_id: usize,
    /// Most members a group may be created with in one request.
    pub max_initial_members: usize,
    /// Longest group title, in characters.
    pub max_title_chars: usize,
    /// Most members of a group (`quota_exceeded` beyond).
    pub max_group_members: usize,
    /// Most chats a user is a member of (`quota_exceeded` beyond; checked
    /// by the gateway when the user creates a chat or is added to one).
    pub max_chats_per_user: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_text_chars: 4096,
            max_client_msg_id: 64,
            max_initial_members: 1000,
            max_title_chars: 128,
            max_group_members: 20_000,
            max_chats_per_user: 20_000,
        }
    }
}

impl Limits {
    /// A group of `members` takes one more.
    pub fn check_group_room(&self, members: usize) -> Result<(), Rejection> {
        if members >= self.max_group_members {
            return Err(Rejection::new(
                Code::QuotaExceeded,
                format!("the group is full ({} members)", self.max_group_members),
            ));
        }
        Ok(())
    }

    /// A user in `chats` chats joins one more.
    pub fn check_chat_room(&self, chats: usize) -> Result<(), Rejection> {
        if chats >= self.max_chats_per_user {
            return Err(Rejection::new(
                Code::QuotaExceeded,
                format!(
                    "a user is in at most {} chats; leave one first",
                    self.max_chats_per_user
                ),
            ));
        }
        Ok(())
    }

    /// A message text must be non-blank and not longer than the limit.
    pub fn check_text(&self, text: &str) -> Result<(), Rejection> {
        if text.trim().is_empty() {
            return Err(Rejection::new(Code::EmptyText, "message text is empty"));
        }
        let n = text.chars().count();
        if n > self.max_text_chars {
            return Err(Rejection::new(
                Code::TextTooLong,
                format!(
                    "message text has {n} characters, the limit is {}",
                    self.max_text_chars
                ),
            ));
        }
        Ok(())
    }

    /// A client message id: 1..=limit bytes of printable ASCII.
    pub fn check_client_msg_id(&self, id: &str) -> Result<(), Rejection> {
        if id.is_empty()
            || id.len() > self.max_client_msg_id
            || !id.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(Rejection::new(
                Code::InvalidClientMsgId,
                format!(
                    "client_msg_id must be 1 to {} printable ASCII characters",
                    self.max_client_msg_id
                ),
            ));
        }
        Ok(())
    }

    /// A group title.
    pub fn check_title(&self, title: &str) -> Result<(), Rejection> {
        if title.trim().is_empty() || title.chars().count() > self.max_title_chars {
            return Err(Rejection::new(
                Code::InvalidTitle,
                format!(
                    "group title must be 1 to {} characters",
                    self.max_title_chars
                ),
            ));
        }
        Ok(())
    }
}

/// A user name: 3..=32 characters of letters, digits, `_`, `-`, `.`.
pub fn check_user_name(name: &str) -> Result<(), Rejection> {
    let n = name.chars().count();
    if !(3..=32).contains(&n)
        || !name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(Rejection::new(
            Code::InvalidName,
            "name must be 3 to 32 letters, digits, '_', '-' or '.'",
        ));
    }
    Ok(())
}

/// Most users one message mentions (further names are plain text).
pub const MAX_MENTIONS: usize = 20;
/// Most unread mentions kept per chat for the chat list's count.
pub const MAX_UNREAD_MENTIONS: usize = 99;

/// The user names a text mentions: `@` (at the start or after anything but
/// a name character) and a user name; trailing `.` and `-` are
/// punctuation. Distinct (by [`crate::placement::name_key`]), in order, at
/// most [`MAX_MENTIONS`].
pub fn mentioned_names(text: &str) -> Vec<String> {
    let is_name = |c: char| c.is_alphanumeric() || matches!(c, '_' | '-' | '.');
    let mut out: Vec<String> = Vec::new();
    let mut prev: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let starts = c == '@' && !prev.is_some_and(is_name);
        prev = Some(c);
        if !starts {
            continue;
        }
        let rest = &text[i + 1..];
        let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
        let name = rest[..end].trim_end_matches(['.', '-']);
        if check_user_name(name).is_ok()
            && !out
                .iter()
                .any(|n| crate::placement::name_key(n) == crate::placement::name_key(name))
        {
            out.push(name.to_string());
            if out.len() == MAX_MENTIONS {
                break;
            }
        }
        while chars.peek().is_some_and(|(j, _)| *j < i + 1 + end) {
            prev = chars.next().map(|(_, c)| c);
        }
    }
    out
}

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Longest "about" text, in characters.
pub const MAX_ABOUT_CHARS: usize = 500;

/// A display name: 1..=64 characters once trimmed, no control characters
/// (line breaks included) and not only invisible ones. Returns it trimmed.
pub fn check_display_name(name: &str) -> Result<String, Rejection> {
    let t = name.trim();
    let n = t.chars().count();
    let visible = t.chars().any(|c| !c.is_whitespace() && !is_invisible(c));
    if !(1..=MAX_DISPLAY_NAME_CHARS).contains(&n) || !visible || t.chars().any(char::is_control) {
        return Err(Rejection::new(
            Code::InvalidDisplayName,
            format!("display name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters on one line"),
        ));
    }
    Ok(t.to_string())
}

/// An about text: at most 500 characters once trimmed; line breaks and tabs
/// are kept, other control characters refused. Returns it trimmed.
pub fn check_about(about: &str) -> Result<String, Rejection> {
    let t = about.trim();
    if t.chars().count() > MAX_ABOUT_CHARS
        || t.chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\t'))
    {
        return Err(Rejection::new(
            Code::InvalidAbout,
            format!(
                "about must be at most {MAX_ABOUT_CHARS} characters, without control characters"
            ),
        ));
    }
    Ok(t.to_string())
}

/// Characters that print as nothing (zero-width spaces and joiners, the
/// byte-order mark, fillers): a name of only these would look empty.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{3164}' | '\u{115F}' | '\u{1160}' | '\u{FFA0}' | '\u{00AD}' | '\u{034F}' | '\u{180E}'
    )
}

/// The start of a disabled account's password hash (`!` and the hash it
/// had, as a locked password in `/etc/shadow`): no login matches it, the
/// hash comes back when the account is enabled again, and the rows move and
/// copy like any other.
pub const DISABLED_HASH_PREFIX: &str = "!";

/// A password: 8..=256 bytes.
pub fn check_password(pw: &str) -> Result<(), Rejection> {
    if !(8..=256).contains(&pw.len()) {
        return Err(Rejection::new(
            Code::InvalidPassword,
            "password must be 8 to 256 bytes",
        ));
    }
    Ok(())
}

fn forbidden(msg: &str) -> Rejection {
    Rejection::new(Code::Forbidden, msg)
}

/// Reading (history, subscribe) needs membership.
pub fn can_read(role: Option<Role>) -> Result<Role, Rejection> {
    role.ok_or_else(|| Rejection::new(Code::NotMember, "you are not a member of this chat"))
}

/// Most different emoji on one message.
pub const MAX_EMOJI_PER_MESSAGE: usize = 20;
/// Most reactions of one user on one message.
pub const MAX_REACTIONS_PER_USER: usize = 3;
/// Longest reaction, in bytes (an emoji with modifiers and joiners).
pub const MAX_EMOJI_BYTES: usize = 64;

/// A reaction is one emoji: 1 to 16 characters and at most
/// [`MAX_EMOJI_BYTES`] bytes, with no ASCII letter, digit, space or
/// punctuation other than an emoji's own (`#`, `*`, digits only before a
/// keycap mark) and no control or whitespace character.
pub fn check_emoji(emoji: &str) -> Result<(), Rejection> {
    let bad = |why: &str| {
        Err(Rejection::new(
            Code::InvalidEmoji,
            format!("a reaction is one emoji: {why}"),
        ))
    };
    let n = emoji.chars().count();
    if n == 0 {
        return bad("it is empty");
    }
    if n > 16 || emoji.len() > MAX_EMOJI_BYTES {
        return bad("it is too long");
    }
    if emoji.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("it holds a space or a control character");
    }
    // Keycaps (`1️⃣`, `#️⃣`) are the only emoji that hold ASCII.
    let keycap = emoji.contains('\u{20E3}');
    if emoji.is_ascii()
        || emoji
            .chars()
            .any(|c| c.is_ascii() && !(keycap && (c.is_ascii_digit() || c == '#' || c == '*')))
    {
        return bad("it holds letters or punctuation");
    }
    Ok(())
}

/// Posting needs membership and a role other than silent.
pub fn can_post(role: Option<Role>) -> Result<(), Rejection> {
    match can_read(role)? {
        Role::Silent => Err(Rejection::new(
            Code::Silenced,
            "silent members cannot post in this chat",
        )),
        _ => Ok(()),
    }
}

/// Most messages pinned in one chat at a time.
pub const MAX_PINS: usize = 50;

/// In a group, admins and moderators pin and unpin messages; in a direct
/// chat, either member.
pub fn can_pin(kind: ChatKind, actor_role: Option<Role>) -> Result<(), Rejection> {
    if kind == ChatKind::Direct {
        return can_post(actor_role);
    }
    if !can_read(actor_role)?.is_staff() {
        return Err(forbidden(
            "only an admin or a moderator can pin or unpin a message",
        ));
    }
    Ok(())
}

/// Only the author edits a message.
pub fn can_edit(actor_role: Option<Role>, is_author: bool) -> Result<(), Rejection> {
    can_post(actor_role)?;
    if !is_author {
        return Err(forbidden("only the author can edit a message"));
    }
    Ok(())
}

/// The author, an admin or a moderator deletes a message.
pub fn can_delete(actor_role: Option<Role>, is_author: bool) -> Result<(), Rejection> {
    let role = can_read(actor_role)?;
    if !is_author && !role.is_staff() {
        return Err(forbidden(
            "only the author, an admin or a moderator can delete a message",
        ));
    }
    Ok(())
}

/// Members of a direct chat never change.
fn group_only(kind: ChatKind) -> Result<(), Rejection> {
    if kind == ChatKind::Direct {
        return Err(Rejection::new(
            Code::DirectChat,
            "members of a direct chat cannot change",
        ));
    }
    Ok(())
}

/// Admins and moderators add members to groups; admins alone grant admin/moder.
pub fn can_add_member(
    kind: ChatKind,
    actor: Option<Role>,
    new_role: Role,
) -> Result<(), Rejection> {
    let role = can_read(actor)?;
    group_only(kind)?;
    if !role.is_staff() {
        return Err(forbidden("only admins and moderators can add members"));
    }
    if new_role.is_staff() && role != Role::Admin {
        return Err(forbidden("only admins can grant admin or moder"));
    }
    Ok(())
}

/// What a group's removal and role rules protect beyond roles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Governance {
    /// The target is the group's creator: nobody else removes them or
    /// changes their role.
    pub target_is_creator: bool,
    /// The target is the group's only admin and other members remain: they
    /// may not leave before making another member admin.
    pub last_admin: bool,
}

/// Anyone may leave (but the last admin of others); admins remove anyone,
/// moderators remove members and silent ones; nobody else removes the
/// creator.
pub fn can_remove_member(
    kind: ChatKind,
    actor: Option<Role>,
    target: Option<Role>,
    is_self: bool,
    g: Governance,
) -> Result<(), Rejection> {
    let role = can_read(actor)?;
    group_only(kind)?;
    let Some(target) = target else {
        return Err(Rejection::new(Code::NotFound, "that user is not a member"));
    };
    if is_self {
        if g.last_admin {
            return Err(Rejection::new(
                Code::LastAdmin,
                "you are the group's last admin: make another member admin before you leave",
            ));
        }
        return Ok(());
    }
    if g.target_is_creator {
        return Err(forbidden("the group's creator cannot be removed by others"));
    }
    match role {
        Role::Admin => Ok(()),
        Role::Moder if !target.is_staff() => Ok(()),
        _ => Err(forbidden("you may not remove this member")),
    }
}

/// A ban is a removal that bars re-adding: the removal's rules, and nobody
/// bans themselves.
pub fn can_ban(
    kind: ChatKind,
    actor: Option<Role>,
    target: Option<Role>,
    is_self: bool,
    g: Governance,
) -> Result<(), Rejection> {
    if is_self && kind == ChatKind::Group && actor.is_some() {
        return Err(forbidden("you cannot ban yourself; leave instead"));
    }
    can_remove_member(kind, actor, target, is_self, g)
}

/// Only admins change a group's settings.
pub fn can_change_settings(kind: ChatKind, actor: Option<Role>) -> Result<(), Rejection> {
    admins_only(kind, actor, "only admins change the group's settings")
}

/// Only admins lift bans.
pub fn can_unban(kind: ChatKind, actor: Option<Role>) -> Result<(), Rejection> {
    admins_only(kind, actor, "only admins can lift a ban")
}

/// A group's admins only; `why` tells the others.
fn admins_only(kind: ChatKind, actor: Option<Role>, why: &str) -> Result<(), Rejection> {
    let role = can_read(actor)?;
    group_only(kind)?;
    if role != Role::Admin {
        return Err(forbidden(why));
    }
    Ok(())
}

/// A banned user is added by nobody, admins included: an admin lifts the
/// ban first.
pub fn check_not_banned(banned: bool) -> Result<(), Rejection> {
    if banned {
        return Err(Rejection::new(
            Code::Banned,
            "that user is banned from this group; an admin must lift the ban first",
        ));
    }
    Ok(())
}

/// Refused when one of the users concerned blocked the actor.
pub fn check_not_blocked(blockers: usize, what: &str) -> Result<(), Rejection> {
    if blockers > 0 {
        return Err(Rejection::new(Code::Blocked, what));
    }
    Ok(())
}

/// Only admins change roles, of members other than themselves and the
/// creator.
pub fn can_set_role(
    kind: ChatKind,
    actor: Option<Role>,
    target: Option<Role>,
    is_self: bool,
    target_is_creator: bool,
) -> Result<(), Rejection> {
    let role = can_read(actor)?;
    if kind == ChatKind::Direct {
        return Err(Rejection::new(
            Code::DirectChat,
            "roles of a direct chat cannot change",
        ));
    }
    if role != Role::Admin {
        return Err(forbidden("only admins can change roles"));
    }
    if target.is_none() {
        return Err(Rejection::new(Code::NotFound, "that user is not a member"));
    }
    if is_self {
        return Err(forbidden("admins cannot change their own role"));
    }
    if target_is_creator {
        return Err(forbidden(
            "the group's creator's role cannot be changed by others",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_names_after_an_at_sign() {
        assert_eq!(
            mentioned_names("hi @ben, ask @Eve.Doe. and @ben again; mail a@b.com @x @ann-"),
            ["ben", "Eve.Doe", "ann"]
        );
        assert_eq!(mentioned_names("@cat@dog @Cat"), ["cat"]);
        assert!(mentioned_names("no names @ here, @@ or @ab").is_empty());
        let many: String = (0..30).map(|i| format!("@user{i:02} ")).collect();
        assert_eq!(mentioned_names(&many).len(), MAX_MENTIONS);
    }

    #[test]
    fn a_reaction_is_one_emoji() {
        for ok in ["👍", "❤️", "👨‍👩‍👧‍👦", "🏳️‍🌈", "1️⃣", "#️⃣", "👍🏽", "🎉"]
        {
            assert!(check_emoji(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a",
            "ok",
            "👍 ",
            " 👍",
            "👍a",
            "1",
            "<b>",
            "\u{0}",
            "👍\n",
            &"👍".repeat(17),
        ] {
            let r = check_emoji(bad).expect_err(bad);
            assert_eq!(r.code, Code::InvalidEmoji, "{bad:?}");
        }
    }

    #[test]
    fn the_last_admin_stays_and_the_creator_is_kept() {
        use Role::*;
        let g = ChatKind::Group;
        let last = Governance {
            last_admin: true,
            ..Default::default()
        };
        let creator = Governance {
            target_is_creator: true,
            ..Default::default()
        };
        let code = |r: Result<(), Rejection>| r.unwrap_err().code;
        // The last admin of others may not leave; alone, or with another admin, may.
        assert_eq!(
            code(can_remove_member(g, Some(Admin), Some(Admin), true, last)),
            Code::LastAdmin
        );
        assert!(
            can_remove_member(g, Some(Admin), Some(Admin), true, Governance::default()).is_ok()
        );
        // The creator may leave, but nobody removes them or changes their role.
        assert!(can_remove_member(g, Some(Admin), Some(Admin), true, creator).is_ok());
        assert_eq!(
            code(can_remove_member(
                g,
                Some(Admin),
                Some(Admin),
                false,
                creator
            )),
            Code::Forbidden
        );
        assert_eq!(
            code(can_set_role(g, Some(Admin), Some(Admin), false, true)),
            Code::Forbidden
        );
        // Others as before.
        assert!(
            can_remove_member(g, Some(Admin), Some(Admin), false, Governance::default()).is_ok()
        );
        assert!(can_set_role(g, Some(Admin), Some(Member), false, false).is_ok());
    }

    #[test]
    fn text_limits() {
        let l = Limits {
            max_text_chars: 5,
            ..Limits::default()
        };
        assert!(l.check_text("hello").is_ok());
        assert_eq!(l.check_text("  ").unwrap_err().code, Code::EmptyText);
        assert_eq!(l.check_text("héllo!").unwrap_err().code, Code::TextTooLong);
        assert!(l.check_text("ééééé").is_ok(), "limit counts characters");
    }

    #[test]
    fn posting_rules() {
        assert_eq!(can_post(None).unwrap_err().code, Code::NotMember);
        assert_eq!(
            can_post(Some(Role::Silent)).unwrap_err().code,
            Code::Silenced
        );
        assert!(can_post(Some(Role::Member)).is_ok());
        assert!(can_edit(Some(Role::Member), true).is_ok());
        assert_eq!(
            can_edit(Some(Role::Admin), false).unwrap_err().code,
            Code::Forbidden
        );
        assert!(can_delete(Some(Role::Moder), false).is_ok());
        assert!(can_delete(Some(Role::Silent), true).is_ok());
        assert_eq!(
            can_delete(Some(Role::Member), false).unwrap_err().code,
            Code::Forbidden
        );
    }

    #[test]
    fn membership_rules() {
        use ChatKind::*;
        assert!(can_add_member(Group, Some(Role::Moder), Role::Member).is_ok());
        assert!(can_add_member(Group, Some(Role::Moder), Role::Admin).is_err());
        assert!(can_add_member(Group, Some(Role::Member), Role::Member).is_err());
        assert_eq!(
            can_add_member(Direct, Some(Role::Admin), Role::Member)
                .unwrap_err()
                .code,
            Code::DirectChat
        );
        assert!(
            can_remove_member(
                Group,
                Some(Role::Member),
                Some(Role::Member),
                true,
                Governance::default()
            )
            .is_ok()
        );
        assert!(
            can_remove_member(
                Group,
                Some(Role::Moder),
                Some(Role::Admin),
                false,
                Governance::default()
            )
            .is_err()
        );
        assert!(
            can_remove_member(
                Group,
                Some(Role::Admin),
                Some(Role::Moder),
                false,
                Governance::default()
            )
            .is_ok()
        );
        assert!(can_set_role(Group, Some(Role::Admin), Some(Role::Member), false, false).is_ok());
        assert!(can_set_role(Group, Some(Role::Moder), Some(Role::Member), false, false).is_err());
        assert!(can_set_role(Group, Some(Role::Admin), Some(Role::Admin), true, false).is_err());
    }

    #[test]
    fn names_and_passwords() {
        assert!(check_user_name("alice_1").is_ok());
        assert!(check_user_name("al").is_err());
        assert!(check_user_name("a b c").is_err());
        assert!(check_password("12345678").is_ok());
        assert!(check_password("short").is_err());
    }
}
