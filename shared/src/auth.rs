//! JWT validation (HS256 secret or RS256 public key): `sub` is the user id, `exp` is required,
//! only the configured algorithm is accepted. Also mints HS256 tokens for dev and tests.

use crate::id::Id;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The claims this system reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    /// Read as a number, whole or not (jsonwebtoken's own check accepts both).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A verified token's user and the window in which the token is valid (Unix seconds: from
/// `not_before`, before `expires`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub user: User,
    pub not_before: u64,
    pub expires: u64,
}

impl Verified {
    /// Whether the token is still valid at `now` (Unix seconds).
    pub fn valid_at(&self, now: u64) -> bool {
        self.not_before <= now && now < self.expires
    }
}

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: Id,
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("invalid token")]
    Invalid(#[from] jsonwebtoken::errors::Error),
    #[error("the token's sub is not a valid user id")]
    BadSubject,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("could not read the public key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("the public key is not an RSA PEM key: {0}")]
    Pem(#[from] jsonwebtoken::errors::Error),
    #[error("set either a JWT secret or a public key file")]
    Missing,
}

/// The time tokens are checked against: Unix seconds.
pub fn unix_now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

/// Validates user tokens. Cheap to clone.
#[derive(Clone)]
pub struct JwtVerifier {
    inner: Arc<(DecodingKey, Validation)>,
}

impl JwtVerifier {
    pub fn hs256(secret: &[u8]) -> Self {
        Self::new(DecodingKey::from_secret(secret), Algorithm::HS256)
    }

    pub fn rs256_pem(pem: &[u8]) -> Result<Self, KeyError> {
        Ok(Self::new(DecodingKey::from_rsa_pem(pem)?, Algorithm::RS256))
    }

    /// From the configuration: the secret wins when both are set.
    pub fn from_options(opts: &crate::options::JwtOptions) -> Result<Self, KeyError> {
        match (&opts.jwt_secret, &opts.jwt_public_key_file) {
            (Some(secret), _) => Ok(Self::hs256(secret.as_bytes())),
            (None, Some(path)) => {
                let pem = std::fs::read(path).map_err(|source| KeyError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                Self::rs256_pem(&pem)
            }
            (None, None) => Err(KeyError::Missing),
        }
    }

    fn new(key: DecodingKey, alg: Algorithm) -> Self {
        let mut validation = Validation::new(alg);
        validation.set_required_spec_claims(&["exp", "sub"]);
        validation.leeway = 0;
        // A token is not valid before its `nbf` (jsonwebtoken skips the check by default).
        validation.validate_nbf = true;
        JwtVerifier {
            inner: Arc::new((key, validation)),
        }
    }

    pub fn verify(&self, token: &str) -> Result<User, AuthError> {
        self.verify_window(token).map(|verified| verified.user)
    }

    /// [`Self::verify`], with the window in which the token stays valid.
    pub fn verify_window(&self, token: &str) -> Result<Verified, AuthError> {
        let (key, validation) = &*self.inner;
        let claims = jsonwebtoken::decode::<Claims>(token, key, validation)?.claims;
        let id = Id::parse(&claims.sub).map_err(|_| AuthError::BadSubject)?;
        Ok(Verified {
            user: User {
                id,
                name: claims.name,
            },
            // Rounded up: never earlier than the token says.
            not_before: claims.nbf.map_or(0, |nbf| nbf.ceil() as u64),
            expires: claims.exp,
        })
    }
}

/// Mints an HS256 token for `user`, valid for `ttl_secs`. For dev tools and tests.
pub fn mint_hs256(secret: &[u8], user: &str, name: Option<&str>, ttl_secs: u64) -> String {
    let claims = Claims {
        sub: user.to_owned(),
        exp: jsonwebtoken::get_current_timestamp() + ttl_secs,
        nbf: None,
        name: name.map(str::to_owned),
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("HS256 signing cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"test-secret";

    fn token_with(header: Header, claims: &serde_json::Value, secret: &[u8]) -> String {
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn exp_in(secs: i64) -> i64 {
        jsonwebtoken::get_current_timestamp() as i64 + secs
    }

    #[test]
    fn accepts_a_valid_token() {
        let user = JwtVerifier::hs256(SECRET)
            .verify(&mint_hs256(SECRET, "42", Some("ann"), 60))
            .unwrap();
        assert_eq!(user.id.as_str(), "42");
        assert_eq!(user.name.as_deref(), Some("ann"));
    }

    #[test]
    fn rejects_a_token_not_yet_valid() {
        let verifier = JwtVerifier::hs256(SECRET);
        let claims = |nbf: i64| serde_json::json!({"sub": "42", "exp": exp_in(7200), "nbf": nbf});
        let later = token_with(Header::new(Algorithm::HS256), &claims(exp_in(3600)), SECRET);
        assert!(verifier.verify(&later).is_err(), "nbf an hour ahead");
        let now = token_with(Header::new(Algorithm::HS256), &claims(exp_in(-1)), SECRET);
        assert!(verifier.verify(&now).is_ok(), "nbf just passed");
    }

    #[test]
    fn reads_a_fractional_nbf_and_rounds_its_window_up() {
        let verifier = JwtVerifier::hs256(SECRET);
        let (nbf, exp) = (exp_in(-10) as f64 + 0.5, exp_in(60));
        let claims = serde_json::json!({"sub": "42", "exp": exp, "nbf": nbf});
        let token = token_with(Header::new(Algorithm::HS256), &claims, SECRET);
        let verified = verifier.verify_window(&token).unwrap();
        assert_eq!(verified.not_before, nbf.ceil() as u64);
        assert_eq!(verified.expires, exp as u64);
    }

    #[test]
    fn rejects_a_wrong_key() {
        let token = mint_hs256(b"other", "42", None, 60);
        assert!(JwtVerifier::hs256(SECRET).verify(&token).is_err());
    }

    #[test]
    fn rejects_an_expired_token() {
        let token = token_with(
            Header::default(),
            &serde_json::json!({"sub": "1", "exp": exp_in(-5)}),
            SECRET,
        );
        assert!(JwtVerifier::hs256(SECRET).verify(&token).is_err());
    }

    #[test]
    fn rejects_a_token_without_exp() {
        let token = token_with(Header::default(), &serde_json::json!({"sub": "1"}), SECRET);
        assert!(JwtVerifier::hs256(SECRET).verify(&token).is_err());
    }

    #[test]
    fn rejects_another_algorithm() {
        let token = token_with(
            Header::new(Algorithm::HS384),
            &serde_json::json!({"sub": "1", "exp": exp_in(60)}),
            SECRET,
        );
        assert!(JwtVerifier::hs256(SECRET).verify(&token).is_err());
    }

    #[test]
    fn rejects_alg_none() {
        // header {"alg":"none","typ":"JWT"}, payload {"sub":"1","exp":9999999999}, empty signature
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
        assert!(JwtVerifier::hs256(SECRET).verify(token).is_err());
    }

    #[test]
    fn rejects_a_subject_that_is_not_an_id() {
        let token = mint_hs256(SECRET, "not an id", None, 60);
        assert!(matches!(
            JwtVerifier::hs256(SECRET).verify(&token),
            Err(AuthError::BadSubject)
        ));
    }

    // Test-only RSA keys in shared/testdata (generated with openssl for these tests).
    const RS_PRIVATE: &[u8] = include_bytes!("../testdata/rs256-private.pem");
    const RS_PUBLIC: &[u8] = include_bytes!("../testdata/rs256-public.pem");
    const RS_OTHER_PUBLIC: &[u8] = include_bytes!("../testdata/rs256-other-public.pem");

    fn rs256_token(claims: &serde_json::Value) -> String {
        let key = EncodingKey::from_rsa_pem(RS_PRIVATE).unwrap();
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).unwrap()
    }

    #[test]
    fn rs256_accepts_a_token_signed_by_the_key_pair() {
        let token = rs256_token(&serde_json::json!({"sub": "u-9", "exp": exp_in(60)}));
        let user = JwtVerifier::rs256_pem(RS_PUBLIC)
            .unwrap()
            .verify(&token)
            .unwrap();
        assert_eq!(user.id.as_str(), "u-9");
    }

    #[test]
    fn rs256_rejects_another_key_and_hs256_tokens() {
        let token = rs256_token(&serde_json::json!({"sub": "u-9", "exp": exp_in(60)}));
        assert!(
            JwtVerifier::rs256_pem(RS_OTHER_PUBLIC)
                .unwrap()
                .verify(&token)
                .is_err()
        );
        // An HS256 token, even one signed with the public key's bytes, is refused.
        let confused = token_with(
            Header::default(),
            &serde_json::json!({"sub": "1", "exp": exp_in(60)}),
            RS_PUBLIC,
        );
        assert!(
            JwtVerifier::rs256_pem(RS_PUBLIC)
                .unwrap()
                .verify(&confused)
                .is_err()
        );
    }

    #[test]
    fn a_bad_pem_is_a_key_error() {
        assert!(matches!(
            JwtVerifier::rs256_pem(b"not a key"),
            Err(KeyError::Pem(_))
        ));
    }
}
