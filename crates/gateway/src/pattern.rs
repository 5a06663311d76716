//! Route patterns: method plus a path of literal segments, `{param}` segments and a final `*`.
//!
//! Matching fails closed: the common upstream frameworks route `/V2/Signals`, `/v2/signals/` and
//! `/v2/signals;x` to the handler of `/v2/signals`, so by default a pattern matches literal
//! segments without regard to case or `;` parameters and with or without a trailing `/`; a
//! route that opts into exact matching compares case and trailing `/` too. `HEAD` is priced as
//! `GET`.

use crate::canon;
use crate::config::ConfigError;

/// Longest path pattern accepted.
const MAX_PATTERN_BYTES: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
    Rest,
}

/// A compiled `METHOD /path/{param}/*` matcher.
#[derive(Debug, Clone)]
pub struct RoutePattern {
    method: Option<String>,
    segments: Vec<Segment>,
    exact: bool,
}

impl RoutePattern {
    /// Compiles a method (`*` for any) and path pattern; `*` may only be the last segment.
    pub fn parse(method: &str, path: &str) -> Result<Self, ConfigError> {
        Self::parse_with(method, path, false)
    }

    /// As [`parse`](Self::parse); `exact` also compares case and a trailing `/`.
    pub fn parse_with(method: &str, path: &str, exact: bool) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::Invalid(format!("route path {path:?}: {why}"));
        if path.len() > MAX_PATTERN_BYTES || !path.starts_with('/') {
            return Err(bad("must start with / and be at most 512 bytes"));
        }
        // A pattern is written in the form requests are matched in, or it could never match.
        match canon::canonical(path) {
            Ok(c) if c == path => {}
            Ok(c) => return Err(bad(&format!("write it in canonical form: {c:?}"))),
            Err(e) => return Err(bad(&e.to_string())),
        }
        let trimmed = match path.strip_suffix('/') {
            Some(t) if !exact && !t.is_empty() => t,
            _ => path,
        };
        let parts: Vec<&str> = trimmed[1..].split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            let seg = match *p {
                "*" if i + 1 == parts.len() => Segment::Rest,
                "*" => return Err(bad("`*` must be the last segment")),
                s if s.starts_with('{') && s.ends_with('}') && s.len() > 2 => Segment::Param,
                s if s.contains(['{', '}', '*', ';']) => return Err(bad("malformed segment")),
                s => Segment::Literal(canon::decoded(s).into_owned()),
            };
            segments.push(seg);
        }
        let method = match method {
            "*" => None,
            m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => Some(m.to_string()),
            m => return Err(bad(&format!("method {m:?} must be uppercase or *"))),
        };
        Ok(Self {
            method,
            segments,
            exact,
        })
    }

    /// True when `method` and `path` (canonical, no query) match.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if let Some(m) = self.method.as_deref()
            && !m.eq_ignore_ascii_case(method)
            && !(m == "GET" && method.eq_ignore_ascii_case("HEAD"))
        {
            return false;
        }
        let Some(mut rest) = path.strip_prefix('/') else {
            return false;
        };
        if !self.exact
            && let Some(r) = rest.strip_suffix('/')
        {
            rest = r;
        }
        let mut parts = rest.split('/');
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::Param => match parts.next() {
                    Some(p) if !p.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(l) => match parts.next() {
                    Some(p) if self.literal_matches(l, p) => {}
                    _ => return false,
                },
            }
        }
        parts.next().is_none()
    }

    /// Compares a literal with a segment fully percent-decoded (`:` and `%3A` are one byte to
    /// the upstream), its `;` parameters aside.
    fn literal_matches(&self, literal: &str, segment: &str) -> bool {
        let bare = segment.split(';').next().unwrap_or(segment);
        let bare = canon::decoded(bare);
        if self.exact {
            bare == literal
        } else {
            bare.eq_ignore_ascii_case(literal)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_literals_params_and_rest() {
        let p = RoutePattern::parse("GET", "/v2/grades/{symbol}").unwrap();
        assert!(p.matches("GET", "/v2/grades/AAVE"));
        assert!(!p.matches("POST", "/v2/grades/AAVE"));
        assert!(!p.matches("GET", "/v2/grades/"));
        assert!(!p.matches("GET", "/v2/grades/AAVE/x"));
        assert!(!p.matches("GET", "/v2/grades"));
        let any = RoutePattern::parse("*", "/v2/*").unwrap();
        assert!(any.matches("PUT", "/v2/a/b/c"));
        assert!(!any.matches("PUT", "/v3/a"));
        let lit = RoutePattern::parse("GET", "/v2/trading-signals").unwrap();
        assert!(lit.matches("GET", "/v2/trading-signals"));
        assert!(!lit.matches("GET", "/v2/trading-signals/x"));
    }

    #[test]
    fn matches_fail_closed_unless_exact() {
        let p = RoutePattern::parse("GET", "/v2/trading-signals").unwrap();
        for path in [
            "/v2/Trading-Signals",
            "/V2/TRADING-SIGNALS",
            "/v2/trading-signals/",
            "/v2/trading-signals;x",
            "/v2;v=1/trading-signals;jsessionid=1/",
        ] {
            assert!(p.matches("GET", path), "{path}");
        }
        assert!(
            p.matches("HEAD", "/v2/trading-signals"),
            "HEAD is priced as GET"
        );
        assert!(!p.matches("POST", "/v2/trading-signals"));
        let exact = RoutePattern::parse_with("GET", "/v2/trading-signals", true).unwrap();
        assert!(exact.matches("GET", "/v2/trading-signals"));
        assert!(
            exact.matches("GET", "/v2/trading-signals;x"),
            "parameters never unprice"
        );
        assert!(!exact.matches("GET", "/v2/Trading-Signals"));
        assert!(!exact.matches("GET", "/v2/trading-signals/"));
        let param = RoutePattern::parse("GET", "/v2/grades/{symbol}").unwrap();
        assert!(param.matches("GET", "/v2/grades/AAVE/"));
        assert!(!param.matches("GET", "/v2/grades//"));
        assert!(
            p.matches("get", "/v2/trading-signals"),
            "methods are case-insensitive"
        );
        let colon = RoutePattern::parse("POST", "/v1/models/gpt:generate").unwrap();
        assert!(colon.matches("POST", "/v1/models/gpt%3Agenerate"));
        let slash = RoutePattern::parse("GET", "/v2/signals/").unwrap();
        assert!(slash.matches("GET", "/v2/signals") && slash.matches("GET", "/v2/signals/"));
    }

    #[test]
    fn refuses_patterns_that_could_never_match() {
        for path in ["/a//b", "/a/./b", "/a/../b", "/a;x/b", "/%7euser", "/a%2Fb"] {
            assert!(RoutePattern::parse("GET", path).is_err(), "{path}");
        }
    }

    #[test]
    fn refuses_malformed_patterns() {
        for (m, p) in [
            ("GET", "v2"),
            ("GET", "/a/*/b"),
            ("GET", "/a{b}"),
            ("get", "/a"),
            ("", "/a"),
        ] {
            assert!(RoutePattern::parse(m, p).is_err(), "{m} {p}");
        }
    }
}
