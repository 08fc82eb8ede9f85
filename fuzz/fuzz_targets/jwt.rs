//! The JWT front door of the gateway and the dispatcher. Two ways in: any string as a token
//! (refused unless it is a valid HS256 token), and any JSON as the claims of a token signed
//! with the right key, which reaches the claim checks (`sub`, `exp`, `nbf`) behind the
//! signature: accepted only with a valid user id in `sub` and an `exp` in the future.
#![no_main]

use jsonwebtoken::{EncodingKey, Header, get_current_timestamp};
use libfuzzer_sys::fuzz_target;
use shared::auth::JwtVerifier;

const SECRET: &[u8] = b"fuzz-secret";

fuzz_target!(|input: (bool, &str)| {
    let (signed, text) = input;
    let verifier = JwtVerifier::hs256(SECRET);
    if !signed {
        let _ = verifier.verify(text);
        return;
    }
    let Ok(claims) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let token = jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(SECRET),
    )
    .expect("HS256 signing of JSON cannot fail");
    if let Ok(user) = verifier.verify(&token) {
        assert_eq!(claims["sub"].as_str(), Some(user.id.as_str()));
        let exp = claims["exp"]
            .as_u64()
            .expect("an accepted token has a numeric exp");
        assert!(
            exp >= get_current_timestamp(),
            "an accepted token has not expired"
        );
    }
});
