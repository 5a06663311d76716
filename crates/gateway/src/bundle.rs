//! Selling a bundle: the paying call records the bundle in the receipt store, signs its token,
//! and hands it to the buyer in a header (and, where the route says so, in a JSON body).

use axum::http::response::Parts;
use axum::http::{HeaderValue, header};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tollgate_proto::clock::unix_now;
use tollgate_proto::v2::SettleResponse;
use tollgate_store::NewReceipt;

use crate::gate::Gateway;
use crate::headers;
use crate::receipt::Claims;
use crate::routes::Bundle;

impl Gateway {
    /// Records a bundle bought by this payment and signs its token; the paying call counts as
    /// the first of its calls. The row id derives from the payment, so a retry cannot mint two.
    /// On a pending settlement (`recheck` holds its `/settle` body) the bundle is also recorded
    /// for the checker, which revokes it if the payment fails; untracked, it is not issued.
    pub(crate) async fn issue(
        &self,
        b: &Bundle,
        payer: &str,
        payment_id: &str,
        settled: &SettleResponse,
        recheck: Option<&[u8]>,
    ) -> Option<String> {
        let r = self.receipts.as_ref()?;
        let rid = hex::encode(&Sha256::digest(payment_id.as_bytes())[..16]);
        let exp = unix_now() + b.seconds;
        let row = NewReceipt {
            id: rid.clone(),
            payer: payer.to_string(),
            routes: b.covers.clone(),
            calls_left: b.calls.map(|n| n - 1),
            expires_at: exp,
            payment_tx: Some(settled.transaction.clone()).filter(|t| !t.is_empty()),
        };
        if let Err(e) = r.meter.create(&row).await {
            tracing::error!(error = %e, receipt = %rid, "paid bundle not recorded; served one call only");
            return None;
        }
        if let (Some(body), Some(p)) = (recheck, &self.pending)
            && let Err(e) = p.checker.record(&rid, body).await
        {
            tracing::error!(error = %e, receipt = %rid, "bundle on a pending settlement could not be tracked; served one call only");
            return None;
        }
        self.metrics.receipt_issued();
        Some(r.keys.sign(&Claims {
            rid,
            payer: payer.to_string(),
            routes: b.covers.clone(),
            exp,
        }))
    }
}

/// Hands a sold bundle's token to its buyer: in the receipt header and, where the route says
/// so, inside a JSON body.
pub(crate) fn attach_receipt(b: &Bundle, token: &str, parts: &mut Parts, out: &mut Vec<u8>) {
    if b.receipt_in_body
        && let Some(with) = with_body_receipt(out, token)
    {
        *out = with;
        parts.headers.remove(header::CONTENT_LENGTH);
    }
    if let Ok(v) = HeaderValue::from_str(token) {
        parts.headers.insert(headers::RECEIPT, v);
    }
}

/// Adds `tollgate_receipt` to a JSON object body; other bodies are returned unchanged.
pub(crate) fn with_body_receipt(body: &[u8], token: &str) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    v.as_object_mut()?
        .insert("tollgate_receipt".into(), Value::String(token.into()));
    serde_json::to_vec(&v).ok()
}
