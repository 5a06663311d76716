//! The `payment-identifier` extension: a client-chosen id, the same on every resend of one signed
//! payment, that lets a server answer an honest retry from what it recorded instead of charging
//! again or refusing it.

use serde_json::{Value, json};

use crate::v2::Object;

/// Key of the extension in `extensions`.
pub const PAYMENT_IDENTIFIER: &str = "payment-identifier";
/// Shortest id accepted.
pub const MIN_ID_LEN: usize = 16;
/// Longest id accepted.
pub const MAX_ID_LEN: usize = 128;

/// What a server puts under `extensions["payment-identifier"]` of a 402.
pub fn declaration(required: bool) -> Value {
    json!({
        "info": {"required": required},
        "schema": {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "required": {"type": "boolean"},
                "id": {"type": "string", "minLength": MIN_ID_LEN, "maxLength": MAX_ID_LEN,
                       "pattern": "^[a-zA-Z0-9_-]+$"}
            },
            "required": ["required"]
        }
    })
}

/// Whether `id` has the extension's length and alphabet (`[A-Za-z0-9_-]`).
pub fn is_valid(id: &str) -> bool {
    (MIN_ID_LEN..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The id a payment's `extensions` carry: `Ok(None)` without one, `Err` naming what is wrong
/// with one that is there but malformed.
pub fn id_of(extensions: Option<&Object>) -> Result<Option<&str>, String> {
    let Some(entry) = extensions.and_then(|e| e.get(PAYMENT_IDENTIFIER)) else {
        return Ok(None);
    };
    match entry.get("info").and_then(|i| i.get("id")) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(id)) if is_valid(id) => Ok(Some(id)),
        Some(_) => Err(format!(
            "payment-identifier id must be {MIN_ID_LEN}-{MAX_ID_LEN} characters of [A-Za-z0-9_-]"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(id: Value) -> Object {
        let v = json!({PAYMENT_IDENTIFIER: {"info": {"required": false, "id": id}}});
        v.as_object().unwrap().clone()
    }

    #[test]
    fn reads_valid_ids_and_names_bad_ones() {
        let good = ext(json!("pay_7d5d747be160e280504c099d984bcfe0"));
        assert_eq!(
            id_of(Some(&good)),
            Ok(Some("pay_7d5d747be160e280504c099d984bcfe0"))
        );
        assert_eq!(id_of(None), Ok(None));
        assert_eq!(id_of(Some(&ext(Value::Null))), Ok(None));
        for bad in [
            json!("short"),
            json!("x".repeat(129)),
            json!("pay_with space_0123"),
            json!(7),
        ] {
            assert!(id_of(Some(&ext(bad.clone()))).is_err(), "{bad}");
        }
    }
}
