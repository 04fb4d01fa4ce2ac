//! Passwords (argon2id), access tokens (JWT HS256 with expiry, naming their
//! login session) and refresh tokens (an opaque secret of a session).

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use axum::http::{HeaderMap, header};
use chat_core::{Code, UserId, now_ms};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// Claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a decimal string.
    pub sub: String,
    /// The user name at login time.
    pub name: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// The login session, as a decimal string.
    #[serde(default)]
    pub sid: String,
}

/// A verified token: whose, and until when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The user.
    pub user: UserId,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// The login session it was issued to.
    pub session: u64,
}

/// Signs tokens with the current HS256 secret, and verifies them with it or
/// with a previous one (key rotation). Each key is named by a `kid` derived
/// from it (the first characters of its HMAC of a fixed label: it names the
/// key without revealing it), carried in the tokens' header.
#[derive(Clone)]
pub struct Tokens {
    kid: String,
    encoding: EncodingKey,
    /// Every key tokens are accepted under: the current one first.
    decoding: Vec<(String, DecodingKey)>,
    validation: Validation,
    /// Lifetime of issued tokens.
    ttl: Duration,
}

/// The `kid` of a secret.
fn kid_of(key: &EncodingKey) -> Result<String, jsonwebtoken::errors::Error> {
    let mac = jsonwebtoken::crypto::sign(b"chat token key id", key, Algorithm::HS256)?;
    Ok(mac.chars().take(12).collect())
}

impl Tokens {
    /// Keys from a secret (at least 32 bytes is advised).
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Tokens, jsonwebtoken::errors::Error> {
        Self::rotating(secret, &[], ttl)
    }

    /// Keys from the current secret, also accepting tokens signed with
    /// `previous` ones until they expire.
    pub fn rotating(
        secret: &[u8],
        previous: &[Vec<u8>],
        ttl: Duration,
    ) -> Result<Tokens, jsonwebtoken::errors::Error> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let encoding = EncodingKey::from_secret(secret)?;
        let kid = kid_of(&encoding)?;
        let mut decoding = vec![(kid.clone(), DecodingKey::from_secret(secret)?)];
        for p in previous {
            decoding.push((
                kid_of(&EncodingKey::from_secret(p)?)?,
                DecodingKey::from_secret(p)?,
            ));
        }
        Ok(Tokens {
            kid,
            encoding,
            decoding,
            validation,
            ttl,
        })
    }

    /// A token for `user` in `session`, and its expiry (Unix seconds).
    pub fn issue(&self, user: UserId, name: &str, session: u64) -> Result<(String, i64), ApiError> {
        let now = now_ms() / 1000;
        let exp = now + self.ttl.as_secs() as i64;
        self.issue_with(user, name, session, now, exp)
            .map(|t| (t, exp))
    }

    /// A token with explicit times (tests make expired ones with it).
    pub fn issue_with(
        &self,
        user: UserId,
        name: &str,
        session: u64,
        iat: i64,
        exp: i64,
    ) -> Result<String, ApiError> {
        let claims = Claims {
            sub: user.to_string(),
            name: name.to_string(),
            iat,
            exp,
            sid: session.to_string(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| ApiError::internal("jwt encode", e))
    }

    /// The user of a valid token.
    pub fn verify(&self, token: &str) -> Result<UserId, ApiError> {
        self.verify_full(token).map(|v| v.user)
    }

    /// The user, session and expiry of a valid token: signed by the key its
    /// `kid` names (a token without one, from before key ids, by the current
    /// key). A token naming no session (from before sessions) is refused:
    /// nothing could revoke it.
    pub fn verify_full(&self, token: &str) -> Result<Verified, ApiError> {
        let invalid = || ApiError::new(Code::InvalidToken, "the token is invalid");
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid())?;
        let key = match &header.kid {
            Some(kid) => self.decoding.iter().find(|(k, _)| k == kid),
            None => self.decoding.first(),
        }
        .map(|(_, key)| key)
        .ok_or_else(invalid)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key, &self.validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::ExpiredSignature => {
                        ApiError::new(Code::TokenExpired, "the token has expired; log in again")
                    }
                    _ => invalid(),
                }
            })?;
        let user = data
            .claims
            .sub
            .parse::<u64>()
            .map(UserId)
            .map_err(|_| invalid())?;
        let session = data.claims.sid.parse::<u64>().map_err(|_| invalid())?;
        Ok(Verified {
            user,
            exp: data.claims.exp,
            session,
        })
    }
}

/// A refresh token: `r1.{user}.{session}.{generation}.{secret}`. The user
/// and session say where its session is stored; the generation which
/// rotation it is (a token of an older one, presented again, was stolen or
/// replayed); the secret, 32 random bytes in hex, is what proves it
/// (stored only as [`RefreshToken::secret_hash`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshToken {
    /// The user.
    pub user: UserId,
    /// The session.
    pub session: u64,
    /// The rotation it was issued at.
    pub generation: u64,
    /// The secret.
    pub secret: String,
}

/// The label refresh secrets are hashed under (an HMAC with a fixed key: the
/// secrets are random, so a fast hash is as good as a slow one).
const REFRESH_HASH_KEY: &[u8] = b"chat refresh token secret";

impl RefreshToken {
    /// A token with a new random secret.
    pub fn new(user: UserId, session: u64, generation: u64) -> RefreshToken {
        let bytes: [u8; 32] = rand::random();
        RefreshToken {
            user,
            session,
            generation,
            secret: bytes.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// Parses a token; `None` for anything not of the form (never panics).
    pub fn parse(token: &str) -> Option<RefreshToken> {
        let mut parts = token.split('.');
        if parts.next()? != "r1" {
            return None;
        }
        let user = UserId(parts.next()?.parse().ok()?);
        let session = parts.next()?.parse().ok()?;
        let generation = parts.next()?.parse().ok()?;
        let secret = parts.next()?;
        let valid = secret.len() == 64
            && secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid || parts.next().is_some() {
            return None;
        }
        Some(RefreshToken {
            user,
            session,
            generation,
            secret: secret.to_string(),
        })
    }

    /// What the store keeps of the secret.
    pub fn secret_hash(&self) -> Result<String, ApiError> {
        let key = EncodingKey::from_secret(REFRESH_HASH_KEY)
            .map_err(|e| ApiError::internal("refresh hash key", e))?;
        jsonwebtoken::crypto::sign(self.secret.as_bytes(), &key, Algorithm::HS256)
            .map_err(|e| ApiError::internal("refresh hash", e))
    }
}

impl std::fmt::Display for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "r1.{}.{}.{}.{}",
            self.user, self.session, self.generation, self.secret
        )
    }
}

/// Hashes a password with argon2id and a random salt (CPU-heavy: call from a
/// blocking thread).
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| ApiError::internal("argon2 hash", e))
}

/// Checks a password against a stored PHC string (CPU-heavy).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// The bearer token of a request's `Authorization` header, if any (the scheme
/// is case-insensitive, RFC 9110 §11.1). HTTP requests and WebSocket upgrades
/// both read it here.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_roundtrip_expire_and_refuse_forgeries() {
        let t = Tokens::new(b"0123456789abcdef0123456789abcdef", Duration::from_secs(60)).unwrap();
        let (tok, _) = t.issue(UserId(42), "alice", 9).unwrap();
        assert_eq!(t.verify(&tok).unwrap(), UserId(42));
        assert_eq!(t.verify_full(&tok).unwrap().session, 9);
        let old = t.issue_with(UserId(42), "alice", 9, 0, 10).unwrap();
        assert_eq!(t.verify(&old).unwrap_err().code, Code::TokenExpired);
        let other =
            Tokens::new(b"another secret another secret 00", Duration::from_secs(60)).unwrap();
        let (forged, _) = other.issue(UserId(42), "alice", 9).unwrap();
        assert_eq!(t.verify(&forged).unwrap_err().code, Code::InvalidToken);
        assert_eq!(t.verify("garbage").unwrap_err().code, Code::InvalidToken);
        // A token naming no session (from before sessions) is refused.
        let claims = Claims {
            sub: "42".into(),
            name: "alice".into(),
            iat: 0,
            exp: now_ms() / 1000 + 60,
            sid: String::new(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(t.kid.clone());
        let sessionless = jsonwebtoken::encode(&header, &claims, &t.encoding).unwrap();
        assert_eq!(t.verify(&sessionless).unwrap_err().code, Code::InvalidToken);
    }

    #[test]
    fn refresh_tokens_roundtrip_and_refuse_anything_else() {
        let r = RefreshToken::new(UserId(42), u64::MAX, 3);
        let text = r.to_string();
        assert_eq!(RefreshToken::parse(&text), Some(r.clone()));
        let other = RefreshToken::new(UserId(42), u64::MAX, 3);
        assert_ne!(r.secret, other.secret, "secrets are random");
        assert_ne!(r.secret_hash().unwrap(), other.secret_hash().unwrap());
        assert_eq!(r.secret_hash().unwrap(), r.clone().secret_hash().unwrap());
        assert!(!r.secret_hash().unwrap().contains(&r.secret));
        for bad in [
            String::new(),
            "r1".into(),
            text.replacen("r1.", "r2.", 1),
            format!("{text}.x"),
            text[..text.len() - 1].to_string(),
            text.replace(&r.secret, &r.secret.to_uppercase()),
            format!("r1.x.1.1.{}", r.secret),
            format!("r1.1.1.-1.{}", r.secret),
            "r1.1.1.1.\u{e9}".into(),
        ] {
            assert_eq!(RefreshToken::parse(&bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_rotated_key_keeps_its_tokens_valid_and_new_ones_name_the_new_key() {
        let ttl = Duration::from_secs(60);
        let old = Tokens::new(b"the old secret the old secret 012", ttl).unwrap();
        let (by_old, _) = old.issue(UserId(7), "bob", 1).unwrap();
        let new = Tokens::rotating(
            b"the new secret the new secret 012",
            &[b"the old secret the old secret 012".to_vec()],
            ttl,
        )
        .unwrap();
        assert_eq!(new.verify(&by_old).unwrap(), UserId(7));
        let (by_new, _) = new.issue(UserId(7), "bob", 1).unwrap();
        let kid = jsonwebtoken::decode_header(&by_new).unwrap().kid.unwrap();
        assert_eq!(kid, new.kid);
        assert_ne!(kid, old.kid);
        // Once the old key is dropped, its tokens are refused; a kid naming
        // no key is refused.
        let dropped = Tokens::new(b"the new secret the new secret 012", ttl).unwrap();
        assert_eq!(
            dropped.verify(&by_old).unwrap_err().code,
            Code::InvalidToken
        );
        assert_eq!(dropped.verify(&by_new).unwrap(), UserId(7));
        // The kid does not reveal the secret: a MAC, not the key's bytes.
        assert!(!kid.contains("secret"));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            bearer(&h).map(str::to_string)
        };
        assert_eq!(with("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("BEARER  abc ").as_deref(), Some("abc"));
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearer"), None);
        assert_eq!(with("Bearer  x").as_deref(), Some("x"));
        assert_eq!(bearer(&HeaderMap::new()), None);
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
    }
}
