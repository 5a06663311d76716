//! The demo metered data API (`tollgate demo-api`): crypto-analytics JSON built from the figures
//! in `analytics-facts.json` (trading signals, grades, price scenarios; not advice), and the one
//! table of what a gateway in front of it charges (`routes.toml`).
//!
//! Its own crate, outside the gateway library: the gateway prices any upstream, and this is
//! just the upstream that `tollgate dev`, `tollgate demo`, docker compose and the tests share.

mod api;
mod facts;
mod routes;

pub use api::{RESULT_ROWS, router};
pub use facts::Demo;
pub use routes::{Bundle, PricedRoute, RouteTable};
