//! An HTTP client for the dispatcher API: JSON in, `(status, JSON)` out.

pub use reqwest::Method;
use serde_json::Value;

/// Requests against `base_url`, optionally with a bearer token. Cheap to clone.
#[derive(Clone)]
pub struct Api {
    client: reqwest::Client,
    base_url: String,
    token: Option<String>,
}

impl Api {
    pub fn new(base_url: &str) -> Api {
        Api {
            client: reqwest::Client::new(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            token: None,
        }
    }

    /// The same API with `Authorization: Bearer <token>` on every request.
    pub fn bearer(mut self, token: &str) -> Api {
        self.token = Some(token.to_owned());
        self
    }

    pub async fn get(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.json(Method::GET, path, body).await
    }

    pub async fn post(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.json(Method::POST, path, body).await
    }

    pub async fn put(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.json(Method::PUT, path, body).await
    }

    pub async fn patch(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.json(Method::PATCH, path, body).await
    }

    pub async fn delete(&self, path: &str, body: Option<Value>) -> (u16, Value) {
        self.json(Method::DELETE, path, body).await
    }

    /// Sends `body` verbatim with the given content type (for malformed-body tests).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        body: &str,
        content_type: &str,
    ) -> (u16, Value) {
        let request = self
            .request(method, path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_owned());
        self.send(request, path).await
    }

    /// Like [`Self::with_headers`], with a failed connection as an error instead of a panic.
    pub async fn try_with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Result<(u16, reqwest::header::HeaderMap, Value), reqwest::Error> {
        let mut request = self.request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await?;
        Ok((status, headers, checked_body(status, path, &bytes)))
    }

    /// A JSON request with extra `headers`; answers the status, the response headers and the
    /// body (as [`Self::get`] and the others parse it).
    pub async fn with_headers(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self.request(method, path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {}{path} failed: {e}", self.base_url));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("a readable body");
        (status, headers, checked_body(status, path, &bytes))
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request, path).await
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Status and body: `Null` if empty, JSON if it parses, else a `String`.
    async fn send(&self, request: reqwest::RequestBuilder, path: &str) -> (u16, Value) {
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {}{path} failed: {e}", self.base_url));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_else(|e| {
            panic!("reading the body from {}{path} failed: {e}", self.base_url)
        });
        (status, checked_body(status, path, &bytes))
    }
}

/// The body of an answer with `status` to `path`, parsed; an error answer is checked for
/// internal error text first.
fn checked_body(status: u16, path: &str, bytes: &[u8]) -> Value {
    if status >= 400 {
        let what = format!("HTTP {status} for {path}");
        crate::leaks::assert_no_internals(&what, &String::from_utf8_lossy(bytes));
    }
    parse_body(bytes)
}

/// A response body: `Null` if empty, JSON if it parses, else a `String`.
fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
    }
}
