//! The demo API's HTTP routes: trading signals, grades and price scenarios built from the facts
//! (not advice). They answer unpaid; a gateway in front prices them (see `routes.toml`).

use std::sync::Arc;

use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::Demo;

/// The demo API routes.
pub fn router(demo: Arc<Demo>) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/v2/tokens", get(tokens))
        .route("/v2/trading-signals", get(signals))
        .route("/v2/grades/{symbol}", get(grades))
        .route("/v2/fundamental-grade/{symbol}", get(fundamental))
        .route("/v2/technology-grade/{symbol}", get(technology))
        .route("/v2/price-prediction/{symbol}", get(prediction))
        .route("/v2/scenario-search", get(scenario_search))
        .route("/v2/indices", get(indices))
        .with_state(demo)
}

fn not_found(symbol: &str) -> Response {
    let body = json!({"success": false, "error": "unknown_symbol", "symbol": symbol});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

fn ok(d: &Demo, data: Value) -> Response {
    d.hit();
    Json(json!({"success": true, "data": data})).into_response()
}

async fn tokens(State(d): State<Arc<Demo>>) -> Response {
    Json(json!({"success": true, "data": d.symbols()})).into_response()
}

#[derive(Deserialize)]
struct SymbolQuery {
    symbol: Option<String>,
}

/// Trading signals for every symbol that has one, or one symbol (`?symbol=AAVE`).
async fn signals(State(d): State<Arc<Demo>>, Query(q): Query<SymbolQuery>) -> Response {
    let grades = d.facts["grades"].as_object().cloned().unwrap_or_default();
    let rows: Vec<Value> = grades
        .iter()
        .filter(|(s, _)| {
            q.symbol
                .as_deref()
                .is_none_or(|w| w.eq_ignore_ascii_case(s))
        })
        .filter(|(_, g)| g.get("trading_signal").is_some())
        .map(|(s, g)| {
            json!({"symbol": s, "trading_signal": g["trading_signal"],
                "tm_grade": g["tm_grade"], "tm_grade_signal": g["tm_grade_signal"]})
        })
        .collect();
    ok(&d, Value::Array(rows))
}

fn graded(d: &Demo, symbol: &str) -> Option<Map<String, Value>> {
    let key = symbol.to_ascii_uppercase();
    d.facts["grades"].get(&key)?.as_object().cloned()
}

/// The trader/investor summary grade with both component grades.
async fn grades(State(d): State<Arc<Demo>>, UrlPath(symbol): UrlPath<String>) -> Response {
    let Some(g) = graded(&d, &symbol) else {
        return not_found(&symbol);
    };
    let data = json!({"symbol": symbol.to_ascii_uppercase(),
        "tm_grade": g.get("tm_grade"), "tm_grade_signal": g.get("tm_grade_signal"),
        "fundamental_grade": g["fundamental"]["grade"], "technology_grade": g["technology"]["grade"]});
    ok(&d, data)
}

async fn fundamental(State(d): State<Arc<Demo>>, UrlPath(symbol): UrlPath<String>) -> Response {
    component(&d, &symbol, "fundamental")
}

async fn technology(State(d): State<Arc<Demo>>, UrlPath(symbol): UrlPath<String>) -> Response {
    component(&d, &symbol, "technology")
}

fn component(d: &Demo, symbol: &str, which: &str) -> Response {
    match graded(d, symbol) {
        Some(g) => ok(
            d,
            json!({"symbol": symbol.to_ascii_uppercase(), which: g[which]}),
        ),
        None => not_found(symbol),
    }
}

/// Bear/base/moon 2027 scenarios per total-market-cap tier, plus the twelve-month range.
async fn prediction(State(d): State<Arc<Demo>>, UrlPath(symbol): UrlPath<String>) -> Response {
    let key = symbol.to_ascii_uppercase();
    let s = &d.facts["price_scenarios_2027"];
    let Some(table) = s.get(&key).and_then(Value::as_object) else {
        return not_found(&symbol);
    };
    let tiers: Vec<Value> = s["tiers_total_crypto_market_cap_usd_trillions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| {
            let row = table.get(&t.to_string())?;
            Some(json!({"total_market_cap_usd_trillions": t,
                "bear": row["bear"], "base": row["base"], "moon": row["moon"]}))
        })
        .collect();
    let data = json!({"symbol": key, "horizon": "2027", "scenarios": tiers,
        "twelve_month": d.facts["twelve_month_view"].get(&key)});
    ok(&d, data)
}

/// Header a metered answer counts its rows in; the gateway charges per row.
pub const RESULT_ROWS: &str = "x-result-rows";

/// Filters of a scenario search; each left out matches everything.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioQuery {
    symbol: Option<String>,
    /// `bear`, `base` or `moon`.
    case: Option<String>,
    /// Smallest total crypto market cap tier, in USD trillions.
    min_cap: Option<u64>,
}

/// One row per (symbol, market-cap tier, case) that matches, counted in [`RESULT_ROWS`]: a
/// search whose price is per row returned.
async fn scenario_search(State(d): State<Arc<Demo>>, Query(q): Query<ScenarioQuery>) -> Response {
    let s = &d.facts["price_scenarios_2027"];
    let tiers = s["tiers_total_crypto_market_cap_usd_trillions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut rows = Vec::new();
    for symbol in d.symbols() {
        let Some(table) = s.get(&symbol).and_then(Value::as_object) else {
            continue;
        };
        if q.symbol
            .as_deref()
            .is_some_and(|w| !w.eq_ignore_ascii_case(&symbol))
        {
            continue;
        }
        for tier in &tiers {
            let cap = tier.as_u64().unwrap_or_default();
            if q.min_cap.is_some_and(|m| cap < m) {
                continue;
            }
            let Some(row) = table.get(&tier.to_string()) else {
                continue;
            };
            for case in ["bear", "base", "moon"] {
                if q.case.as_deref().is_some_and(|c| c != case) {
                    continue;
                }
                rows.push(
                    json!({"symbol": symbol, "total_market_cap_usd_trillions": cap,
                    "case": case, "price": row[case]}),
                );
            }
        }
    }
    let count = rows.len();
    let mut answer = ok(&d, Value::Array(rows));
    answer.headers_mut().insert(RESULT_ROWS, count.into());
    answer
}

/// Index data is not part of the fixtures, so this endpoint says so with a 503.
async fn indices() -> Response {
    let body = json!({"success": false, "error": "no_index_data", "detail": "the fixtures hold no index figures"});
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
