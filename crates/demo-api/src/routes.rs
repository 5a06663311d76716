//! The demo's priced routes: one table (`routes.toml`) that every gateway in front of the demo
//! API sells, so `tollgate dev`, `tollgate demo`, the tests and the static configs of `deploy/`
//! and `fixtures/` cannot drift apart (the tests below compare those files with it).

use serde::{Deserialize, Serialize};

/// The table, as written for people to read.
const ROUTES: &str = include_str!("../routes.toml");

/// The demo's priced routes, in the order a gateway config lists them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteTable {
    /// One entry per priced endpoint.
    pub routes: Vec<PricedRoute>,
}

/// One `[[routes]]` entry of a gateway config: what a demo endpoint costs and what it sells.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricedRoute {
    /// Stable name; receipts name the routes they cover by it.
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// Path pattern; `{param}` stands for one segment.
    pub path: String,
    /// USD price of one call, or of the whole bundle.
    pub price: String,
    /// Shown to payers in the challenge.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Calls or a time window sold for one payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<Bundle>,
    /// `upto`: `price` is the most one call may cost and the call pays for what it returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheme: Option<String>,
    /// For `upto`: the response header counting the rows a call returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meter: Option<String>,
    /// For `upto`: USD price of one row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<String>,
}

/// A bundle a route sells, spelled as the gateway config spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Calls included, the paying call among them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calls: Option<u64>,
    /// Seconds of unlimited calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    /// Route names the receipt unlocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub covers: Vec<String>,
    /// Also put the receipt into a JSON object response as `tollgate_receipt`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub receipt_in_body: bool,
}

fn is_false(b: &bool) -> bool {
    !b
}

impl RouteTable {
    /// The table of `routes.toml`: what the demo sells wherever it runs.
    pub fn demo() -> Self {
        toml::from_str(ROUTES).expect("routes.toml is a valid route table")
    }

    /// Just the named routes, for a test whose upstream serves only those paths.
    pub fn only(mut self, names: &[&str]) -> Self {
        self.routes.retain(|r| names.contains(&r.name.as_str()));
        self
    }

    /// The named route, to change before rendering (tests size the bundle).
    pub fn route_mut(&mut self, name: &str) -> Option<&mut PricedRoute> {
        self.routes.iter_mut().find(|r| r.name == name)
    }

    /// The `[[routes]]` TOML to put into a gateway config.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a route table serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `routes` array of a TOML document.
    fn routes_of(text: &str) -> toml::Value {
        let doc: toml::Table = toml::from_str(text).expect("TOML parses");
        doc["routes"].clone()
    }

    #[test]
    fn the_table_renders_to_itself() {
        let table = RouteTable::demo();
        assert_eq!(table.routes.len(), 6);
        let text = table.to_toml();
        assert_eq!(toml::from_str::<RouteTable>(&text).unwrap(), table);
        assert_eq!(routes_of(&text), routes_of(ROUTES));
    }

    #[test]
    fn static_configs_sell_the_table() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for file in ["deploy/gateway.toml", "fixtures/gateway.example.toml"] {
            let text = std::fs::read_to_string(root.join(file)).expect(file);
            assert_eq!(
                routes_of(&text),
                routes_of(ROUTES),
                "{file}: its [[routes]] must be those of crates/demo-api/routes.toml"
            );
        }
    }

    #[test]
    fn only_and_route_mut_pick_by_name() {
        let mut table = RouteTable::demo().only(&["signals", "prediction"]);
        assert_eq!(table.routes.len(), 2);
        let bundle = table.route_mut("prediction").unwrap().bundle.as_mut();
        bundle.unwrap().calls = Some(3);
        assert!(table.to_toml().contains("calls = 3"));
        assert!(table.route_mut("technology").is_none());
    }
}
