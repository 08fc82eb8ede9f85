//! User tokens, verified once and remembered. A client sends the same token with every
//! request, and checking it (two base64 and JSON decodes and an HMAC-SHA-256 or RSA signature)
//! was a quarter of a user's post's instructions (docs/PERFORMANCE.md). A token is remembered
//! only after it verified, under its exact text, with the window in which it is valid; outside
//! that window it is verified again, and the verifier refuses it. A refused token is never
//! remembered. The keys do not change while the process runs, so nothing remembered can
//! outlive them. Bounded by the bytes it holds (about: each entry counts its token, its name
//! and [`ENTRY_BYTES`]); the rarely used go first (quick_cache's S3-FIFO eviction). Envoy's JWT
//! filter keeps the same kind of cache (`jwt_cache_config`).

use quick_cache::{Weighter, sync::Cache};
use shared::auth::{AuthError, JwtVerifier, User, Verified, unix_now};

/// What the remembered tokens may hold, keys and values, in bytes.
const BYTES: u64 = 8 << 20;
/// Bytes counted per entry on top of the token's text (its user, window and the table's slot).
const ENTRY_BYTES: u64 = 160;

pub struct VerifiedTokens {
    verifier: JwtVerifier,
    remembered: Cache<Box<str>, Verified, BySize>,
}

#[derive(Clone)]
struct BySize;

impl Weighter<Box<str>, Verified> for BySize {
    fn weight(&self, token: &Box<str>, verified: &Verified) -> u64 {
        let name = verified.user.name.as_ref().map_or(0, String::len);
        (token.len() + name) as u64 + ENTRY_BYTES
    }
}

impl VerifiedTokens {
    pub fn new(verifier: JwtVerifier) -> Self {
        let typical = 400;
        VerifiedTokens {
            verifier,
            remembered: Cache::with_weighter((BYTES / typical) as usize, BYTES, BySize),
        }
    }

    /// The token's user, if the token is valid now.
    pub fn verify(&self, token: &str) -> Result<User, AuthError> {
        let now = unix_now();
        if let Some(verified) = self.remembered.get(token)
            && verified.valid_at(now)
        {
            return Ok(verified.user);
        }
        let verified = self.verifier.verify_window(token)?;
        let user = verified.user.clone();
        if verified.valid_at(now) {
            self.remembered.insert(token.into(), verified);
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    const SECRET: &[u8] = b"tokens-test-secret";

    fn signed(claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    fn tokens() -> VerifiedTokens {
        VerifiedTokens::new(JwtVerifier::hs256(SECRET))
    }

    #[test]
    fn a_valid_token_is_remembered_and_answers_the_same_user() {
        let tokens = tokens();
        let now = jsonwebtoken::get_current_timestamp();
        let token = signed(json!({"sub": "7", "name": "Ann", "exp": now + 60}));
        let first = tokens.verify(&token).unwrap();
        assert_eq!(tokens.remembered.len(), 1);
        assert_eq!(tokens.verify(&token).unwrap(), first);
        assert_eq!(first.id.as_str(), "7");
        assert_eq!(first.name.as_deref(), Some("Ann"));
    }

    #[test]
    fn a_remembered_token_past_its_window_is_verified_again() {
        let tokens = tokens();
        let now = jsonwebtoken::get_current_timestamp();
        let remember = |token: &str, expires: u64| {
            let user = User {
                id: "7".parse().unwrap(),
                name: None,
            };
            let window = Verified {
                user,
                not_before: 0,
                expires,
            };
            tokens.remembered.insert(token.into(), window);
        };
        // Remembered while it was valid, expired since: the verifier refuses it.
        let expired = signed(json!({"sub": "7", "exp": now - 5}));
        remember(&expired, now - 5);
        assert!(tokens.verify(&expired).is_err());
        // A window that has passed is not trusted: the token is verified again, and its real
        // window remembered.
        let valid = signed(json!({"sub": "7", "exp": now + 60}));
        remember(&valid, now);
        tokens.verify(&valid).unwrap();
        assert_eq!(
            tokens.remembered.get(valid.as_str()).unwrap().expires,
            now + 60
        );
    }

    #[test]
    fn refused_and_not_yet_valid_tokens_are_not_remembered() {
        let tokens = tokens();
        let now = jsonwebtoken::get_current_timestamp();
        let forged = jsonwebtoken::encode(
            &Header::default(),
            &json!({"sub": "7", "exp": now + 60}),
            &EncodingKey::from_secret(b"another secret"),
        )
        .unwrap();
        assert!(tokens.verify(&forged).is_err());
        let early = signed(json!({"sub": "7", "exp": now + 60, "nbf": now + 30}));
        assert!(tokens.verify(&early).is_err());
        assert!(
            tokens.verify(&early).is_err(),
            "still refused, not remembered"
        );
        assert_eq!(tokens.remembered.len(), 0);
    }
}
