//! Calls served on a receipt: the call is reserved before the upstream runs, given back when
//! the upstream fails, and recorded on the store before its answer leaves, so an answer is
//! never sent for a call the store did not count.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use tollgate_proto::clock::unix_now;
use tollgate_proto::reason;

use crate::gate::Gateway;
use crate::handler::Next;
use crate::headers;
use crate::meter::MeterError;
use crate::replies::{json_error, not_for_shared_caches};
use crate::routes::Route;

impl Gateway {
    /// Serves a call on a receipt; the resource URL is only built for a refusal.
    pub(crate) async fn with_receipt(
        &self,
        route: &Route,
        i: usize,
        token: &str,
        req: Request,
        next: Next,
    ) -> Response {
        let counters = &self.counters[i];
        let Some(r) = &self.receipts else {
            let resource = self.resource_url(&req);
            return self.refuse(route, resource, req.headers(), reason::RECEIPTS_DISABLED);
        };
        let now = unix_now();
        let claims = match r.keys.verify(token, &route.name, now) {
            Ok(c) => c,
            Err(e) => {
                let resource = self.resource_url(&req);
                return self.refuse(route, resource, req.headers(), &e.to_string());
            }
        };
        let reserved = match r.meter.consume(&claims, now).await {
            Ok(reserved) => reserved,
            Err(e) => return self.meter_refusal(route, &req, e),
        };
        // Kept (cheap clones) for a refusal once the request is gone.
        let (uri, host) = (req.uri().clone(), req.headers().get(header::HOST).cloned());
        let mut resp = next(req).await;
        not_for_shared_caches(resp.headers_mut());
        if resp.status().is_server_error() {
            // The call was not served: the receipt keeps it.
            drop(reserved);
            if !self.refused_busy(route, &resp) {
                counters.ran_unserved();
            }
            self.metrics.receipt_refunded();
            return resp;
        }
        // The call counts on the store before its answer goes out, so no instance that dies
        // afterwards can give it back.
        match r.meter.record(reserved).await {
            Ok(left) => {
                counters.served_on_receipt();
                self.metrics.receipt_spent();
                if let Some(left) = left {
                    resp.headers_mut()
                        .insert(headers::RECEIPT_CALLS_LEFT, HeaderValue::from(left));
                }
                resp
            }
            Err(e) => {
                counters.ran_unserved();
                tracing::warn!(route = %route.name, error = %e, "receipt call ran but was not counted; answer withheld");
                if e.store_failed() {
                    return json_error(StatusCode::SERVICE_UNAVAILABLE, e.reason());
                }
                let resource = self.resource_of(&uri, host.as_ref());
                self.refuse(route, resource, &HeaderMap::new(), &e.to_string())
            }
        }
    }

    /// The answer to a receipt the meter refused before the upstream ran.
    fn meter_refusal(&self, route: &Route, req: &Request, e: MeterError) -> Response {
        match e {
            e if e.store_failed() => {
                tracing::error!(error = %e, "receipt store failed");
                json_error(StatusCode::SERVICE_UNAVAILABLE, e.reason())
            }
            MeterError::HeldElsewhere(_) => {
                // Soon: the instance holding the calls may serve or give them back any moment,
                // and a load balancer may send the retry to it.
                self.metrics.refused(&route.name, e.reason());
                let mut resp = json_error(StatusCode::SERVICE_UNAVAILABLE, e.reason());
                resp.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                resp
            }
            e => {
                let resource = self.resource_url(req);
                self.refuse(route, resource, req.headers(), &e.to_string())
            }
        }
    }
}
