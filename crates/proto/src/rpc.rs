//! What the chain crates say about their RPC endpoints: each endpoint's health for `/health`,
//! named by its index, and the text scrubber every RPC error passes through, since RPC URLs
//! often carry an API key and must never reach an answer, a log line or a metric.

use serde::Serialize;

/// Stands in for a URL removed from error text.
pub const URL_PLACEHOLDER: &str = "<url>";

/// Whether an endpoint answered its last call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointState {
    /// Its last call was answered.
    Ok,
    /// Its last call failed or timed out.
    Failing,
    /// It has not been called yet.
    Unknown,
}

/// One RPC endpoint as `/health` shows it: by index in the configured list, never by URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointHealth {
    /// Position in the chain's `rpc_urls`, from 0.
    pub endpoint: usize,
    pub state: EndpointState,
    /// How long its last answered call took.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// Calls that failed since it last answered.
    pub failures_in_a_row: u32,
    /// Why its last call failed, without any URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Whether any of a chain's endpoints answers (the chain can then serve).
pub fn any_ok(endpoints: &[EndpointHealth]) -> bool {
    endpoints.iter().any(|e| e.state == EndpointState::Ok)
}

/// How an endpoint is named in errors and logs.
pub fn endpoint_name(index: usize) -> String {
    format!("rpc #{index}")
}

/// `text` with every URL (`scheme://…` up to whitespace or a closing delimiter) replaced by
/// [`URL_PLACEHOLDER`]: the backstop behind every RPC error that becomes text.
pub fn scrub_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let start = scheme_start(rest, at);
        let end = at + 3 + url_len(&rest[at + 3..]);
        out.push_str(&rest[..start]);
        out.push_str(URL_PLACEHOLDER);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Where the scheme ending at byte `colon` begins (letters, digits, `+`, `-`, `.`).
fn scheme_start(text: &str, colon: usize) -> usize {
    let scheme = text[..colon]
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        .last();
    scheme.map_or(colon, |(i, _)| i)
}

/// Length of the URL body after `://`.
fn url_len(body: &str) -> usize {
    body.find(|c: char| c.is_whitespace() || matches!(c, ')' | '"' | '\'' | '>' | ',' | ']'))
        .unwrap_or(body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_scrubbed_wherever_they_stand() {
        let text = "error sending request for url (https://base.example/v2/KEY123?x=1): refused";
        assert_eq!(
            scrub_urls(text),
            "error sending request for url (<url>): refused"
        );
        assert_eq!(scrub_urls("wss://a/b and http://c"), "<url> and <url>");
        assert_eq!(
            scrub_urls("no url: 127.0.0.1:8545"),
            "no url: 127.0.0.1:8545"
        );
        assert_eq!(scrub_urls("://x"), "<url>");
    }

    #[test]
    fn health_serializes_by_index_only() {
        let h = EndpointHealth {
            endpoint: 1,
            state: EndpointState::Failing,
            latency_ms: None,
            failures_in_a_row: 2,
            error: Some("rpc #1: no answer within 5000 ms".into()),
        };
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            serde_json::json!({"endpoint": 1, "state": "failing", "failures_in_a_row": 2,
                "error": "rpc #1: no answer within 5000 ms"})
        );
        assert!(!any_ok(&[h]));
    }
}
