//! The one canonical form of a request path. The gateway prices the canonical path and forwards
//! the canonical path, so the path priced and the path served can never differ.
//!
//! The form: percent-escapes of unreserved characters decoded and every other escape written in
//! upper case; `%2F` and `%5C` (an encoded separator), a raw `\`, `%00`-`%1F` and `%7F` refused;
//! empty segments (`//`) collapsed, a trailing `/` kept; `.` and `..` segments removed as RFC 3986
//! §5.2.4 says (never above the root), a segment whose part before `;` is `.` or `..` counting as
//! one; `;` parameters otherwise kept as part of their segment.

use std::borrow::Cow;

/// Longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 8 * 1024;

/// Why a path has no canonical form; the 400 answer names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("invalid_path: not an absolute path")]
    NotAbsolute,
    #[error("invalid_path: longer than 8 KiB")]
    TooLong,
    #[error("invalid_path: a % escape needs two hex digits")]
    BadEscape,
    #[error("invalid_path: an encoded or backslash path separator")]
    Separator,
    #[error("invalid_path: an encoded control character")]
    Control,
}

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Decodes unreserved escapes and upper-cases the rest; refuses what cannot be made canonical.
fn normalise_escapes(raw: &str) -> Result<String, PathError> {
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(PathError::BadEscape);
                };
                let b = hi << 4 | lo;
                if b == b'/' || b == b'\\' {
                    return Err(PathError::Separator);
                }
                if b < 0x20 || b == 0x7f {
                    return Err(PathError::Control);
                }
                if unreserved(b) {
                    out.push(b as char);
                } else {
                    out.push_str(&format!("%{b:02X}"));
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Separator),
            _ => {
                // Multi-byte UTF-8 is copied whole: the loop only stops on ASCII bytes.
                let start = i;
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'%' | b'\\') {
                    i += 1;
                }
                out.push_str(&raw[start..i]);
            }
        }
    }
    Ok(out)
}

/// The dot-segment meaning of a segment, `;` parameters aside.
fn dot(seg: &str) -> Option<bool> {
    match seg.split(';').next() {
        Some(".") => Some(false),
        Some("..") => Some(true),
        _ => None,
    }
}

/// A canonical segment with every escape decoded: what an upstream that decodes before routing
/// compares (`gpt%3Agenerate` is `gpt:generate`). Bytes that are not UTF-8 become U+FFFD.
pub fn decoded(segment: &str) -> Cow<'_, str> {
    if !segment.contains('%') {
        return Cow::Borrowed(segment);
    }
    let b = segment.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let pair = (b[i] == b'%')
            .then(|| Some(hex(*b.get(i + 1)?)? << 4 | hex(*b.get(i + 2)?)?))
            .flatten();
        match pair {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The canonical form of `raw` (the path of a request target, without its query); a path
/// already in that form, as nearly every request's is, comes back borrowed.
pub fn canonical(raw: &str) -> Result<Cow<'_, str>, PathError> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    if !raw.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if already_canonical(raw) {
        return Ok(Cow::Borrowed(raw));
    }
    rebuilt(raw).map(Cow::Owned)
}

/// Whether an absolute path is canonical as it stands: no escape, no backslash, no empty
/// segment but a trailing one, no dot segment.
fn already_canonical(raw: &str) -> bool {
    if raw.contains(['%', '\\']) {
        return false;
    }
    let mut segments = raw[1..].split('/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        if (seg.is_empty() && !last) || dot(seg).is_some() {
            return false;
        }
    }
    true
}

/// The canonical form built afresh: escapes normalised, dot and empty segments resolved.
fn rebuilt(raw: &str) -> Result<String, PathError> {
    let text = normalise_escapes(raw)?;
    let mut kept: Vec<&str> = Vec::new();
    let mut trailing = false;
    for seg in text[1..].split('/') {
        trailing = false;
        match dot(seg) {
            Some(up) => {
                if up {
                    kept.pop();
                }
                trailing = true;
            }
            None if seg.is_empty() => trailing = true,
            None => kept.push(seg),
        }
    }
    let mut out = String::with_capacity(text.len());
    for seg in &kept {
        out.push('/');
        out.push_str(seg);
    }
    if trailing || kept.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn respellings_of_one_path_meet() {
        for raw in [
            "/v2/trading-signals",
            "/v2/x/../trading-signals",
            "/v2/./trading-signals",
            "//v2//trading-signals",
            "/v2/%74rading-signals",
            "/v2/x/%2e%2E/trading-signals",
            "/v2/x/%2E%2e;x/trading-signals",
            "/v2/x/..;/trading-signals",
            "/../v2/trading-signals",
            "/v2/trading-signals/x/..",
        ] {
            let c = canonical(raw).unwrap();
            assert!(
                c == "/v2/trading-signals" || c == "/v2/trading-signals/",
                "{raw} -> {c}"
            );
        }
        assert_eq!(
            canonical("/v2/grades/x/%2e%2e/AAVE").unwrap(),
            "/v2/grades/AAVE"
        );
        assert_eq!(canonical("/a/b/").unwrap(), "/a/b/");
        assert_eq!(canonical("/").unwrap(), "/");
        assert_eq!(canonical("/..").unwrap(), "/");
        assert_eq!(canonical("/a;v=1/b").unwrap(), "/a;v=1/b");
        assert_eq!(canonical("/caf%c3%a9").unwrap(), "/caf%C3%A9");
        assert_eq!(canonical("/é/ü").unwrap(), "/é/ü");
    }

    #[test]
    fn refuses_what_has_no_canonical_form() {
        for (raw, why) in [
            ("/v2%2Ftrading-signals", PathError::Separator),
            ("/v2%2ftrading-signals", PathError::Separator),
            ("/v2%5Ctrading-signals", PathError::Separator),
            ("/v2\\trading-signals", PathError::Separator),
            ("/v2/%zz", PathError::BadEscape),
            ("/v2/%4", PathError::BadEscape),
            ("/v2/%00", PathError::Control),
            ("/v2/%0a", PathError::Control),
            ("v2", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
        ] {
            assert_eq!(canonical(raw), Err(why), "{raw}");
        }
        assert_eq!(
            canonical(&format!("/{}", "a".repeat(MAX_PATH_BYTES))),
            Err(PathError::TooLong)
        );
    }

    #[test]
    fn a_path_taken_as_it_stands_is_the_one_rebuilding_gives() {
        for raw in [
            "/",
            "/a",
            "/a/",
            "/a/b",
            "/a//b",
            "//",
            "/./a",
            "/a/.",
            "/a/..",
            "/a/..;x/b",
            "/a;.",
            "/.a/b.",
            "/a/.../b",
            "/v2/trading-signals",
            "/é/ü",
            "/a;v=1/b/",
        ] {
            let c = canonical(raw).unwrap();
            assert_eq!(c, rebuilt(raw).unwrap(), "{raw}");
            assert_eq!(matches!(c, Cow::Borrowed(_)), c == raw, "{raw}");
        }
    }

    #[test]
    fn canonical_is_a_fixed_point() {
        for raw in ["/a/../b/./c//d/", "/%7euser/%41%2e", "/x/..;/y;z/"] {
            let once = canonical(raw).unwrap();
            assert_eq!(canonical(&once).unwrap(), once, "{raw}");
        }
    }
}
