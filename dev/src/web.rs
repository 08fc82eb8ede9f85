//! The web chat's own listener (dev start only): the page's static files and the client
//! library's browser build, embedded in the binary, `GET /config.json` (where the dispatcher
//! and the nodes are), and the dev sign-in `POST /dev/token`, which mints a token for any name
//! with the dev secret. Nothing here exists in a deployment.

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderValue, StatusCode, Uri, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::{Deserialize, Serialize};
use shared::{Id, auth::mint_hs256, broker::Broker};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// How long a dev token lives.
const TOKEN_TTL_SECS: u64 = 24 * 3600;

/// What the page is told about the stack (`GET /config.json`).
#[derive(Clone, Serialize)]
pub struct PageConfig {
    /// `http://host:port` of the dispatcher (its API is under `/api/v1`).
    pub dispatcher_url: String,
    /// Every gateway node, so the page can name the node it was assigned.
    pub gateways: Vec<GatewayNode>,
}

#[derive(Clone, Serialize)]
pub struct GatewayNode {
    pub id: String,
    pub url: String,
}

struct WebState {
    broker: Broker,
    jwt_secret: String,
    config: PageConfig,
}

/// Serves the web chat on `listener` until `shutdown` fires.
pub async fn run(
    listener: TcpListener,
    broker: Broker,
    jwt_secret: String,
    config: PageConfig,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = Arc::new(WebState {
        broker,
        jwt_secret,
        config,
    });
    let app = Router::new()
        .route("/config.json", get(page_config))
        .route("/dev/token", post(sign_in))
        .fallback(get(asset))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}

async fn page_config(State(state): State<Arc<WebState>>) -> Response {
    json(StatusCode::OK, &state.config)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    name: String,
}

#[derive(Serialize)]
struct SignedIn {
    token: String,
    user_id: String,
    name: String,
}

/// `POST /dev/token {"name": "carol"}` → `{token, user_id, name}`: an HS256 token for that
/// user (24 h), and the name recorded as the user's username.
async fn sign_in(State(state): State<Arc<WebState>>, body: Bytes) -> Response {
    let name = match serde_json::from_slice::<SignIn>(&body) {
        Ok(request) => request.name.trim().to_ascii_lowercase(),
        Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                "the body must be {\"name\": \"...\"}",
            );
        }
    };
    let Some(user_id) = user_id_for(&name) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_name",
            "a name is a letter, then up to 23 letters or digits",
        );
    };
    let id = Id::parse(&user_id).expect("user_id_for gives valid ids");
    if let Err(e) = state.broker.set_username(&id, &name).await {
        tracing::warn!(error = %e, "could not record the dev user's name");
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the broker is unavailable",
        );
    }
    let token = mint_hs256(
        state.jwt_secret.as_bytes(),
        &user_id,
        Some(&name),
        TOKEN_TTL_SECS,
    );
    json(
        StatusCode::OK,
        &SignedIn {
            token,
            user_id,
            name,
        },
    )
}

/// The user id of a dev name: alice and bob are the seeded users 1 and 2 (the banner's
/// tokens); any other name is its own id. None for a name that is not a letter followed by up
/// to 23 letters or digits (a valid id that cannot be mistaken for a seeded numeric one).
pub fn user_id_for(name: &str) -> Option<String> {
    let mut chars = name.chars();
    let valid = name.len() <= 24
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    match name {
        _ if !valid => None,
        "alice" => Some("1".into()),
        "bob" => Some("2".into()),
        other => Some(other.into()),
    }
}

async fn asset(uri: Uri) -> Response {
    let path = match uri.path() {
        "/" => "/index.html",
        path => path,
    };
    let Some((_, body)) = assets::ASSETS.iter().find(|(url, _)| *url == path) else {
        return error(StatusCode::NOT_FOUND, "not_found", "no such file");
    };
    let mut response = (*body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    let text = serde_json::to_string(body).expect("plain structs serialize");
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// The dispatcher's error shape: `{"error": text, "code": machine code}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    #[derive(Serialize)]
    struct Error<'a> {
        error: &'a str,
        code: &'a str,
    }
    json(
        status,
        &Error {
            error: message,
            code,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_ids() {
        assert_eq!(user_id_for("alice").as_deref(), Some("1"));
        assert_eq!(user_id_for("bob").as_deref(), Some("2"));
        assert_eq!(user_id_for("carol7").as_deref(), Some("carol7"));
        for bad in ["", "7up", "a-b", "a b", "Ünï", &"x".repeat(25)] {
            assert_eq!(user_id_for(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_page_and_the_client_library_are_embedded() {
        for path in [
            "/index.html",
            "/app.js",
            "/style.css",
            "/lib/chat-gateway.js",
        ] {
            assert!(
                assets::ASSETS.iter().any(|(url, _)| *url == path),
                "{path} is not embedded"
            );
        }
    }
}
