//! A facilitator served on a real TCP socket, and the HTTP calls tests make to it.

use std::sync::Arc;

use serde_json::{Value, json};
use tollgate_facilitator::{Doors, Facilitator};

use crate::task::{Task, loopback};

/// A facilitator serving on 127.0.0.1 until dropped.
pub struct Api {
    pub url: String,
    http: reqwest::Client,
    _server: Task,
}

impl Api {
    /// Serves `f` on a free port with open doors.
    pub async fn serve(f: Arc<Facilitator>) -> Self {
        Self::serve_with(f, Doors::default()).await
    }

    /// Serves `f` on a free port behind `doors`.
    pub async fn serve_with(f: Arc<Facilitator>, doors: Doors) -> Self {
        let (listener, url) = loopback().await;
        let server = tollgate_facilitator::serve(f, listener, doors);
        Self {
            url,
            http: reqwest::Client::new(),
            _server: Task::serve(server, "facilitator serves"),
        }
    }

    /// POSTs JSON and returns status and JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, serde_json::to_vec(body).expect("json"))
            .await
    }

    /// POSTs raw bytes.
    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Sends `body` to `/verify` and `/settle`: both must refuse it with `want`, and nothing
    /// may be broadcast.
    pub async fn refused(&self, what: &str, body: &Value, want: &str) {
        for (path, ok, why) in [
            ("/verify", "isValid", "invalidReason"),
            ("/settle", "success", "errorReason"),
        ] {
            let (status, v) = self.post(path, body).await;
            assert_eq!(status, 200, "{path} {what}: {v}");
            assert_eq!(
                (&v[ok], &v[why]),
                (&json!(false), &json!(want)),
                "{path} {what}: {v}"
            );
            if path == "/settle" {
                assert_eq!(v["transaction"], json!(""), "{what}: nothing broadcast");
            }
        }
    }

    /// Sends `body` to `/verify` and `/settle`: both must accept it as `payer`'s payment.
    /// Returns the settlement answer.
    pub async fn settles(&self, body: &Value, payer: &str) -> Value {
        let (status, v) = self.post("/verify", body).await;
        assert_eq!((status, &v["isValid"]), (200, &json!(true)), "{v}");
        assert_eq!(v["payer"], json!(payer), "{v}");
        let (status, s) = self.post("/settle", body).await;
        assert_eq!((status, &s["success"]), (200, &json!(true)), "{s}");
        assert_eq!(s["payer"], json!(payer), "{s}");
        s
    }

    /// Sends `body` to `/settle` ten times at once: exactly one settles, every other answer is
    /// a duplicate. Returns the winning answer.
    pub async fn settled_once_of_ten(&self, body: &Value) -> Value {
        let answers = futures::future::join_all((0..10).map(|_| self.post("/settle", body))).await;
        let wins: Vec<&Value> = answers
            .iter()
            .filter(|(_, r)| r["success"] == json!(true))
            .map(|(_, r)| r)
            .collect();
        assert_eq!(wins.len(), 1, "{answers:?}");
        for (status, r) in &answers {
            assert_eq!(*status, 200, "{r}");
            if r["success"] != json!(true) {
                assert_eq!(
                    r["errorReason"],
                    json!(tollgate_proto::reason::DUPLICATE_SETTLEMENT),
                    "{r}"
                );
            }
        }
        wins[0].clone()
    }

    /// GETs a path, returning status and body text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request");
        (resp.status().as_u16(), resp.text().await.expect("body"))
    }
}
