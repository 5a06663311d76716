//! Route patterns: method plus a path of literal segments, `{param}` segments and a final `*`.

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
}

impl RoutePattern {
    /// Compiles a method (`*` for any) and path pattern; `*` may only be the last segment.
    pub fn parse(method: &str, path: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError::Invalid(format!("route path {path:?}: {why}"));
        if path.len() > MAX_PATTERN_BYTES || !path.starts_with('/') {
            return Err(bad("must start with / and be at most 512 bytes"));
        }
        let parts: Vec<&str> = path[1..].split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            let seg = match *p {
                "*" if i + 1 == parts.len() => Segment::Rest,
                "*" => return Err(bad("`*` must be the last segment")),
                s if s.starts_with('{') && s.ends_with('}') && s.len() > 2 => Segment::Param,
                s if s.contains(['{', '}', '*']) => return Err(bad("malformed segment")),
                s => Segment::Literal(s.to_string()),
            };
            segments.push(seg);
        }
        let method = match method {
            "*" => None,
            m if !m.is_empty() && m.bytes().all(|b| b.is_ascii_uppercase()) => Some(m.to_string()),
            m => return Err(bad(&format!("method {m:?} must be uppercase or *"))),
        };
        Ok(Self { method, segments })
    }

    /// True when `method` and `path` (no query) match.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method.as_deref().is_some_and(|m| m != method) {
            return false;
        }
        let Some(rest) = path.strip_prefix('/') else {
            return false;
        };
        let mut parts = rest.split('/');
        for seg in &self.segments {
            match seg {
                Segment::Rest => return true,
                Segment::Param => match parts.next() {
                    Some(p) if !p.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(l) => {
                    if parts.next() != Some(l.as_str()) {
                        return false;
                    }
                }
            }
        }
        parts.next().is_none()
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
