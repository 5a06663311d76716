//! Who may knock: bearer tokens on the endpoints that spend gas, JSON-only bodies (a browser
//! page can POST `text/plain` cross-site without a preflight; it cannot send `application/json`),
//! and `POST /close` only where a test harness asked for it.

use std::fmt;

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

/// The facilitator's doors: tokens are kept only as SHA-256 digests, so no dump shows one.
#[derive(Clone, Default)]
pub struct Doors {
    tokens: Vec<[u8; 32]>,
    close: bool,
}

impl fmt::Debug for Doors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Doors")
            .field("tokens", &self.tokens.len())
            .field("close", &self.close)
            .finish()
    }
}

/// Refusal reason when no accepted bearer token was presented.
pub const UNAUTHORIZED: &str = "unauthorized";
/// Refusal reason when a body is not declared `application/json`.
pub const UNSUPPORTED_MEDIA_TYPE: &str = "unsupported_media_type";

impl Doors {
    /// Requires one of `tokens` (empty ones are ignored) on `/verify`, `/settle` and `/close`.
    pub fn with_tokens<S: AsRef<str>>(mut self, tokens: impl IntoIterator<Item = S>) -> Self {
        self.tokens = tokens
            .into_iter()
            .map(|t| t.as_ref().trim().to_string())
            .filter(|t| !t.is_empty())
            .map(|t| Sha256::digest(t.as_bytes()).into())
            .collect();
        self
    }

    /// Serves `POST /close`, which stops the server: for harnesses that stop it over HTTP.
    pub fn with_close(mut self, on: bool) -> Self {
        self.close = on;
        self
    }

    /// Whether `POST /close` is served.
    pub fn close_enabled(&self) -> bool {
        self.close
    }

    /// Whether a bearer token is required.
    pub fn locked(&self) -> bool {
        !self.tokens.is_empty()
    }

    fn admits(&self, h: &HeaderMap) -> bool {
        if self.tokens.is_empty() {
            return true;
        }
        let Some(given) = h
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
        else {
            return false;
        };
        let given: [u8; 32] = Sha256::digest(given.trim().as_bytes()).into();
        // Every token is compared in full, so the time taken does not say which one nearly matched.
        self.tokens
            .iter()
            .fold(false, |hit, t| hit | same(t, &given))
    }
}

fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn is_json(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

fn refuse(status: StatusCode, reason: &str, message: &str) -> Response {
    (status, Json(json!({"error": reason, "message": message}))).into_response()
}

/// Guards the endpoints that act: a bearer token when one is required, then a JSON body.
pub(crate) async fn guard(State(d): State<Doors>, req: Request, next: Next) -> Response {
    if !d.admits(req.headers()) {
        let mut r = refuse(
            StatusCode::UNAUTHORIZED,
            UNAUTHORIZED,
            "a bearer token this facilitator accepts is required",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return r;
    }
    if req.uri().path() != "/close" && !is_json(req.headers()) {
        return refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            UNSUPPORTED_MEDIA_TYPE,
            "the body must be declared Content-Type: application/json",
        );
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn tokens_admit_only_themselves_and_never_print() {
        let d = Doors::default().with_tokens(["alpha-token", " beta ", ""]);
        assert!(d.admits(&with(header::AUTHORIZATION, "Bearer alpha-token")));
        assert!(d.admits(&with(header::AUTHORIZATION, "Bearer beta")));
        assert!(!d.admits(&with(header::AUTHORIZATION, "Bearer alpha")));
        assert!(!d.admits(&with(header::AUTHORIZATION, "Bearer ")));
        assert!(!d.admits(&with(header::AUTHORIZATION, "alpha-token")));
        assert!(!d.admits(&HeaderMap::new()));
        assert!(!format!("{d:?}").contains("alpha"));
        assert!(Doors::default().admits(&HeaderMap::new()));
    }

    #[test]
    fn only_json_bodies_pass() {
        assert!(is_json(&with(header::CONTENT_TYPE, "application/json")));
        assert!(is_json(&with(
            header::CONTENT_TYPE,
            "Application/JSON; charset=utf-8"
        )));
        assert!(!is_json(&with(header::CONTENT_TYPE, "text/plain")));
        assert!(!is_json(&with(
            header::CONTENT_TYPE,
            "application/json-seq"
        )));
        assert!(!is_json(&HeaderMap::new()));
    }
}
