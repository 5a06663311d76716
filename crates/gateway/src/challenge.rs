//! The 402 answer: the v2 `PAYMENT-REQUIRED` header plus a v1-shaped JSON body (or an HTML page
//! for browsers), one `accepts` entry per asset, the asset the client prefers first.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tollgate_proto::codec::encode_header;
use tollgate_proto::payment_id;
use tollgate_proto::v1::PaymentRequiredV1;
use tollgate_proto::v2::{PaymentRequired, PaymentRequirements, ResourceInfo};

use crate::headers;
use crate::routes::Route;

/// Everything a 402 answer says.
pub struct Challenge<'a> {
    pub route: &'a Route,
    /// Absolute URL of the resource.
    pub resource: String,
    /// Why payment is (still) required; a reason string or message.
    pub error: String,
    /// v1-shaped requirements, index-aligned with `route.accepts`.
    pub accepts_v1: Vec<tollgate_proto::v1::PaymentRequirementsV1>,
    /// Whether a payment must carry a `payment-identifier` id.
    pub payment_id_required: bool,
}

/// Order of `accepts`: the asset named by `x-payment-token` first, the rest as configured.
pub fn preferred_order(route: &Route, req_headers: &HeaderMap) -> Vec<usize> {
    let want = req_headers
        .get(headers::PAYMENT_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let mut order: Vec<usize> = (0..route.accepts.len()).collect();
    if let Some(w) = want {
        order.sort_by_key(|&i| !route.assets[i].symbol.eq_ignore_ascii_case(w));
    }
    order
}

/// True when the caller is a browser asking for a page.
fn wants_html(h: &HeaderMap) -> bool {
    h.get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

impl Challenge<'_> {
    /// The 402 response, with `status` (402, or 400 for a malformed payment).
    pub fn respond(&self, status: StatusCode, req_headers: &HeaderMap) -> Response {
        let order = preferred_order(self.route, req_headers);
        let v2: Vec<PaymentRequirements> = order
            .iter()
            .map(|&i| self.route.accepts[i].clone())
            .collect();
        let required = PaymentRequired {
            x402_version: 2,
            error: Some(self.error.clone()),
            resource: ResourceInfo {
                url: self.resource.clone(),
                description: Some(self.route.description.clone()),
                mime_type: Some(self.route.mime_type.clone()),
            },
            accepts: v2,
            extensions: Some(
                [(
                    payment_id::PAYMENT_IDENTIFIER.to_string(),
                    payment_id::declaration(self.payment_id_required),
                )]
                .into_iter()
                .collect(),
            ),
        };
        let (content_type, body) = if wants_html(req_headers) {
            ("text/html; charset=utf-8", self.html(&order).into_bytes())
        } else {
            let v1 = PaymentRequiredV1 {
                x402_version: 1,
                error: self.error.clone(),
                accepts: order.iter().map(|&i| self.accepts_v1[i].clone()).collect(),
            };
            (
                "application/json",
                serde_json::to_vec(&v1).expect("wire types serialize"),
            )
        };
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(v) = HeaderValue::from_str(&encode_header(&required)) {
            h.insert(headers::PAYMENT_REQUIRED, v);
        }
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE"),
        );
        resp
    }

    fn html(&self, order: &[usize]) -> String {
        let r = self.route;
        let mut rows = String::new();
        for &i in order {
            let a = &r.accepts[i];
            rows.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td><code>{}</code> atomic units</td></tr>",
                escape(&r.assets[i].symbol),
                escape(&a.network),
                escape(&a.amount)
            ));
        }
        format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Payment required</title></head>\
             <body><h1>402 Payment Required</h1><p>{desc}</p>\
             <p>This call costs {costs}<strong>${price}</strong>, paid per call with x402.</p>\
             <table><tr><th>Token</th><th>Network</th><th>Amount</th></tr>{rows}</table>\
             <p>Pay with an x402 client: it reads the <code>PAYMENT-REQUIRED</code> header.</p>\
             </body></html>",
            desc = escape(&r.description),
            costs = if r.upto.is_some() {
                "what it uses, at most "
            } else {
                ""
            },
            price = r.price,
        )
    }
}

/// Escapes text for HTML element content and attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_escapes_everything_risky() {
        assert_eq!(
            escape("<a href='x'>&\""),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;"
        );
    }
}
