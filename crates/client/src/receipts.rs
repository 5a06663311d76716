//! Receipt tokens a gateway hands out for metered bundles, kept per origin and presented on
//! later calls so a bundle is used up before anything is paid again.

use std::collections::HashMap;

use reqwest::Url;
use tollgate_proto::reason;

/// Receipts per origin, remembering which paths each one was seen to unlock.
#[derive(Debug, Default)]
pub struct ReceiptBook {
    /// origin -> tokens, newest last.
    by_origin: HashMap<String, Vec<String>>,
    /// (origin, path) -> the token that unlocked it.
    by_path: HashMap<(String, String), String>,
}

fn origin_path(url: &Url) -> (String, String) {
    (url.origin().ascii_serialization(), url.path().to_string())
}

impl ReceiptBook {
    /// The token to try for `url`: the one that unlocked this path, else the newest for the origin.
    pub fn pick(&self, url: &Url) -> Option<String> {
        let key = origin_path(url);
        self.by_path
            .get(&key)
            .cloned()
            .or_else(|| self.by_origin.get(&key.0).and_then(|v| v.last().cloned()))
    }

    /// Remembers a token the gateway returned for `url`.
    pub fn keep(&mut self, url: &Url, token: String) {
        let key = origin_path(url);
        let list = self.by_origin.entry(key.0.clone()).or_default();
        if !list.contains(&token) {
            list.push(token.clone());
        }
        self.by_path.insert(key, token);
    }

    /// Reacts to a refused token: a wrong route only unlinks it from this path; anything else
    /// (spent, expired, forged) forgets it.
    pub fn refused(&mut self, url: &Url, token: &str, why: &str) {
        let key = origin_path(url);
        if self.by_path.get(&key).is_some_and(|t| t == token) {
            self.by_path.remove(&key);
        }
        if reason::code_of(why) == reason::RECEIPT_WRONG_ROUTE {
            return;
        }
        if let Some(list) = self.by_origin.get_mut(&key.0) {
            list.retain(|t| t != token);
        }
        self.by_path.retain(|_, t| t != token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spent_receipts_are_forgotten_wrong_routes_only_unlinked() {
        let mut b = ReceiptBook::default();
        let grades: Url = "http://api/v2/grades/BTC".parse().unwrap();
        let signals: Url = "http://api/v2/trading-signals".parse().unwrap();
        b.keep(&grades, "tA".into());
        assert_eq!(
            b.pick(&signals).as_deref(),
            Some("tA"),
            "newest for the origin is tried"
        );
        b.refused(
            &signals,
            "tA",
            "receipt_wrong_route: token does not cover this route",
        );
        assert_eq!(b.pick(&grades).as_deref(), Some("tA"));
        b.refused(&grades, "tA", "receipt_exhausted");
        assert_eq!(b.pick(&grades), None);
        assert_eq!(b.pick(&signals), None);
    }
}
