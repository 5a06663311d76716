//! Header names the gateway reads and writes: the protocol's (from `tollgate-proto`) and the ones
//! only a gateway cares about.

pub use tollgate_proto::headers::*;

/// Headers that let a client change the method an upstream framework routes on; never forwarded
/// (a `POST` with `X-HTTP-Method-Override: GET` must not reach a priced GET handler unpriced).
pub const METHOD_OVERRIDES: [&str; 3] = [
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// Lower-case names a `Connection` header lists: they describe one hop and go no further.
pub fn connection_named(h: &axum::http::HeaderMap) -> Vec<String> {
    h.get_all(axum::http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}
