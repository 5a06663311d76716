//! Receipt tokens: `tg1.<kid>.<claims>.<mac>`, HMAC-SHA256 under one of several active keys, so
//! a forged, tampered or expired token is refused before any cache or store lookup.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tollgate_proto::reason;

/// Longest receipt token accepted.
pub const MAX_TOKEN_BYTES: usize = 2048;
/// Shortest secret accepted, in bytes.
const MIN_SECRET_BYTES: usize = 32;
const PREFIX: &str = "tg1";

type HmacSha256 = Hmac<Sha256>;

/// What a receipt token asserts; covered by its MAC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Receipt row id in the store.
    pub rid: String,
    /// Who paid for the bundle.
    pub payer: String,
    /// Route names the receipt unlocks.
    pub routes: Vec<String>,
    /// Unix seconds after which the token is dead.
    pub exp: u64,
}

/// Why a receipt token was refused; each maps to a reason string in the 402 answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("{code}: {0}", code = reason::RECEIPT_MALFORMED)]
    Malformed(&'static str),
    #[error("{}: key id is not active", reason::RECEIPT_UNKNOWN_KEY)]
    UnknownKey,
    #[error("{}: MAC does not verify", reason::RECEIPT_BAD_SIGNATURE)]
    BadSignature,
    #[error("{}: token expired", reason::RECEIPT_EXPIRED)]
    Expired,
    #[error("{}: token does not cover this route", reason::RECEIPT_WRONG_ROUTE)]
    WrongRoute,
}

impl TokenError {
    /// The reason string, e.g. `receipt_expired`.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed(_) => reason::RECEIPT_MALFORMED,
            Self::UnknownKey => reason::RECEIPT_UNKNOWN_KEY,
            Self::BadSignature => reason::RECEIPT_BAD_SIGNATURE,
            Self::Expired => reason::RECEIPT_EXPIRED,
            Self::WrongRoute => reason::RECEIPT_WRONG_ROUTE,
        }
    }
}

/// Why a key ring could not be built; never includes secret material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key entry #{0} is not `kid:hexsecret`")]
    Shape(usize),
    /// Named by position: text that is not a valid id may be a misplaced secret.
    #[error("key entry #{0}: the id must be 1-32 of [A-Za-z0-9_-]")]
    KeyId(usize),
    #[error("secret of key {0:?} is not hex")]
    Hex(String),
    #[error("secret of key {0:?} is under 32 bytes")]
    Short(String),
    #[error("key id {0:?} appears twice")]
    Duplicate(String),
    #[error("signing key {0:?} is not in the ring")]
    NoSigningKey(String),
}

/// Active receipt keys: one signs, all verify; dropping a key retires its tokens.
#[derive(Clone)]
pub struct KeyRing {
    keys: BTreeMap<String, Key>,
    signing: String,
}

/// One key: its secret, and the MAC keyed with it once, so each token costs only its own bytes.
#[derive(Clone)]
struct Key {
    secret: Vec<u8>,
    mac: HmacSha256,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("signing", &self.signing)
            .finish()
    }
}

fn valid_kid(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 32
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl KeyRing {
    /// Builds a ring from `(kid, secret)` pairs and the id of the key that signs.
    pub fn new(keys: Vec<(String, Vec<u8>)>, signing: &str) -> Result<Self, KeyError> {
        let mut map = BTreeMap::new();
        for (i, (kid, secret)) in keys.into_iter().enumerate() {
            if !valid_kid(&kid) {
                return Err(KeyError::KeyId(i));
            }
            if secret.len() < MIN_SECRET_BYTES {
                return Err(KeyError::Short(kid));
            }
            let mac = HmacSha256::new_from_slice(&secret).expect("HMAC takes any key length");
            if map.insert(kid.clone(), Key { secret, mac }).is_some() {
                return Err(KeyError::Duplicate(kid));
            }
        }
        if !map.contains_key(signing) {
            return Err(KeyError::NoSigningKey(signing.into()));
        }
        Ok(Self {
            keys: map,
            signing: signing.into(),
        })
    }

    /// Parses `kid:hexsecret` entries separated by commas or newlines (`#` lines ignored).
    pub fn parse(text: &str, signing: &str) -> Result<Self, KeyError> {
        let mut keys = Vec::new();
        let entries = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        for (i, entry) in entries.enumerate() {
            let (kid, hex_secret) = entry.split_once(':').ok_or(KeyError::Shape(i))?;
            let kid = kid.trim();
            // The id is checked before it is ever named in an error: a reversed entry would
            // otherwise print its secret.
            if !valid_kid(kid) {
                return Err(KeyError::KeyId(i));
            }
            let secret = hex::decode(hex_secret.trim()).map_err(|_| KeyError::Hex(kid.into()))?;
            keys.push((kid.to_string(), secret));
        }
        Self::new(keys, signing)
    }

    /// Id of the key that signs new receipts.
    pub fn signing_kid(&self) -> &str {
        &self.signing
    }

    /// Ids of every key that verifies, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Whether `kid` is in both rings with different secrets (its old receipts stop verifying).
    pub(crate) fn secret_differs(&self, other: &KeyRing, kid: &str) -> bool {
        match (self.keys.get(kid), other.keys.get(kid)) {
            (Some(a), Some(b)) => a.secret != b.secret,
            _ => false,
        }
    }

    fn mac(&self, kid: &str, signed_part: &str) -> Option<HmacSha256> {
        let mut mac = self.keys.get(kid)?.mac.clone();
        mac.update(signed_part.as_bytes());
        Some(mac)
    }

    /// Signs claims with the signing key.
    pub fn sign(&self, claims: &Claims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let signed_part = format!("{PREFIX}.{}.{body}", self.signing);
        let tag = self
            .mac(&self.signing, &signed_part)
            .expect("signing key is in the ring")
            .finalize()
            .into_bytes();
        format!("{signed_part}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// Checks shape, key, MAC (constant time), expiry and route, in that order; no I/O.
    pub fn verify(&self, token: &str, route: &str, now: u64) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("token too long"));
        }
        let mut parts = token.split('.');
        let (Some(PREFIX), Some(kid), Some(body), Some(tag), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(TokenError::Malformed("want tg1.<kid>.<claims>.<mac>"));
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed("mac is not base64url"))?;
        let mac = self
            .mac(kid, &token[..token.len() - parts_tail_len(token)])
            .ok_or(TokenError::UnknownKey)?;
        mac.verify_slice(&tag)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed("claims are not base64url"))?;
        let claims: Claims =
            serde_json::from_slice(&json).map_err(|_| TokenError::Malformed("claims JSON"))?;
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        if !claims.routes.iter().any(|r| r == route) {
            return Err(TokenError::WrongRoute);
        }
        Ok(claims)
    }
}

/// Length of `.<mac>` at the end of a token (the part not covered by the MAC).
fn parts_tail_len(token: &str) -> usize {
    token.rfind('.').map(|i| token.len() - i).unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ring of 32-byte keys, each filled with its byte, signing with `signing`.
    pub(crate) fn ring(kids: &[(&str, u8)], signing: &str) -> KeyRing {
        KeyRing::new(
            kids.iter()
                .map(|(k, b)| (k.to_string(), vec![*b; 32]))
                .collect(),
            signing,
        )
        .unwrap()
    }

    fn claims(exp: u64) -> Claims {
        Claims {
            rid: "r1".into(),
            payer: "0xabc".into(),
            routes: vec!["signals".into()],
            exp,
        }
    }

    #[test]
    fn round_trips_and_binds_route_and_expiry() {
        let r = ring(&[("k1", 1)], "k1");
        let t = r.sign(&claims(100));
        assert_eq!(r.verify(&t, "signals", 99).unwrap(), claims(100));
        assert_eq!(r.verify(&t, "grades", 99), Err(TokenError::WrongRoute));
        assert_eq!(r.verify(&t, "signals", 100), Err(TokenError::Expired));
    }

    #[test]
    fn tampering_and_forgery_are_refused() {
        let r = ring(&[("k1", 1)], "k1");
        let t = r.sign(&claims(100));
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        let mut c = claims(100);
        c.routes.push("grades".into());
        parts[2] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&c).unwrap());
        assert_eq!(
            r.verify(&parts.join("."), "grades", 1),
            Err(TokenError::BadSignature)
        );
        let other = ring(&[("k1", 2)], "k1");
        assert_eq!(
            r.verify(&other.sign(&claims(100)), "signals", 1),
            Err(TokenError::BadSignature)
        );
        let unknown = ring(&[("k9", 1)], "k9");
        assert_eq!(
            r.verify(&unknown.sign(&claims(100)), "signals", 1),
            Err(TokenError::UnknownKey)
        );
        for bad in [
            "",
            "tg1.k1.a",
            "tg2.k1.a.b",
            "tg1.k1.a.b.c",
            &"x".repeat(3000),
        ] {
            assert!(
                matches!(r.verify(bad, "signals", 1), Err(TokenError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_until_retired() {
        let old = ring(&[("k1", 1)], "k1");
        let t = old.sign(&claims(100));
        let both = ring(&[("k1", 1), ("k2", 2)], "k2");
        assert!(both.verify(&t, "signals", 1).is_ok());
        assert!(both.verify(&both.sign(&claims(100)), "signals", 1).is_ok());
        let retired = ring(&[("k2", 2)], "k2");
        assert_eq!(
            retired.verify(&t, "signals", 1),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn key_parsing_names_faults_without_secrets() {
        let hex32 = "ab".repeat(32);
        let r = KeyRing::parse(&format!("k1:{hex32},\n# old\nk2:{hex32}"), "k2").unwrap();
        assert!(!format!("{r:?}").contains(&hex32));
        assert_eq!(KeyRing::parse("k1", "k1").unwrap_err(), KeyError::Shape(0));
        assert_eq!(
            KeyRing::parse("k1:zz", "k1").unwrap_err(),
            KeyError::Hex("k1".into())
        );
        assert_eq!(
            KeyRing::parse("k1:abab", "k1").unwrap_err(),
            KeyError::Short("k1".into())
        );
        assert_eq!(
            KeyRing::parse(&format!("k1:{hex32}"), "k2").unwrap_err(),
            KeyError::NoSigningKey("k2".into())
        );
    }

    #[test]
    fn a_reversed_entry_is_refused_without_naming_its_secret() {
        let hex32 = "ab".repeat(32);
        for text in [
            format!("{hex32}:k1"),
            format!("k0:{hex32}\n{hex32}:{hex32}"),
        ] {
            let e = KeyRing::parse(&text, "k1").unwrap_err();
            assert!(matches!(e, KeyError::KeyId(_)), "{e:?}");
            assert!(!e.to_string().contains(&hex32), "{e}");
            assert!(!format!("{e:?}").contains(&hex32), "{e:?}");
        }
    }

    #[test]
    fn ring_names_its_kids_and_signer() {
        let r = ring(&[("k2", 2), ("k1", 1)], "k2");
        assert_eq!(r.kids().collect::<Vec<_>>(), ["k1", "k2"]);
        assert_eq!(r.signing_kid(), "k2");
        assert!(r.secret_differs(&ring(&[("k2", 9)], "k2"), "k2"));
        assert!(!r.secret_differs(&ring(&[("k2", 2)], "k2"), "k2"));
        assert!(!r.secret_differs(&ring(&[("k3", 2)], "k3"), "k1"));
    }
}
