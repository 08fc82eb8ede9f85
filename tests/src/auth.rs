//! The secrets the test processes are started with, and user tokens signed with them.

/// HS256 secret passed to every gateway and dispatcher as `--jwt-secret`.
pub const SECRET: &str = "integration-test-secret";
/// Service token passed to every dispatcher as `--service-tokens`.
pub const SERVICE_TOKEN: &str = "integration-service-token";

/// A user token for `user`, valid for an hour.
pub fn token(user: &str) -> String {
    shared::auth::mint_hs256(SECRET.as_bytes(), user, None, 3600)
}

/// A user token for `user` with a display `name`, valid for an hour.
pub fn token_named(user: &str, name: &str) -> String {
    shared::auth::mint_hs256(SECRET.as_bytes(), user, Some(name), 3600)
}

/// A token for `user` signed with another secret than the gateway's.
pub fn token_signed_with(secret: &str, user: &str) -> String {
    shared::auth::mint_hs256(secret.as_bytes(), user, None, 3600)
}

/// An HS256 token with exactly these `claims`, signed with [`SECRET`].
pub fn token_with_claims(claims: &serde_json::Value) -> String {
    token_with_header(jsonwebtoken::Header::default(), claims)
}

/// A token with these `claims` and `header` (e.g. another algorithm), signed with [`SECRET`].
pub fn token_with_header(header: jsonwebtoken::Header, claims: &serde_json::Value) -> String {
    let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
    jsonwebtoken::encode(&header, claims, &key).expect("signing a test token")
}

/// A token for `user` whose `exp` passed a minute ago.
pub fn expired_token(user: &str) -> String {
    let exp = jsonwebtoken::get_current_timestamp() - 60;
    token_with_claims(&serde_json::json!({"sub": user, "exp": exp}))
}

/// An unsigned token (`alg: none`) for user `1`, valid until 2286: header
/// `{"alg":"none","typ":"JWT"}`, payload `{"sub":"1","exp":9999999999}`, empty signature.
pub const UNSIGNED_TOKEN: &str =
    "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiIxIiwiZXhwIjo5OTk5OTk5OTk5fQ.";
