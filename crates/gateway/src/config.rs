//! The gateway's TOML configuration: upstream, facilitator, payees, assets, priced routes,
//! access rules and receipts. Parsed strictly (unknown keys are errors) and size-capped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tollgate_proto::v2::Object;

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why a configuration could not be used; each names the key or rule at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0} is over {MAX_CONFIG_BYTES} bytes")]
    TooLarge(PathBuf),
    #[error("config is not valid TOML for a gateway: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("{0}")]
    Invalid(String),
}

/// The whole gateway configuration (`gateway.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// Address the reverse proxy listens on, e.g. `127.0.0.1:8080`.
    #[serde(default)]
    pub listen: Option<String>,
    /// Address of the admin listener serving `/metrics`; off unless set. Keep it private.
    #[serde(default)]
    pub admin_listen: Option<String>,
    /// Base URL of the upstream API the proxy forwards to (not needed for the Layer).
    #[serde(default)]
    pub upstream: Option<String>,
    /// How long the proxy waits on the upstream before it answers 504.
    #[serde(default)]
    pub upstream_timeouts: UpstreamTimeouts,
    /// Caps on requests: in flight to the upstream, and header size.
    #[serde(default)]
    pub limits: Limits,
    /// Public base URL used in `resource` fields; defaults to `http://<Host header>`.
    #[serde(default)]
    pub public_url: Option<String>,
    /// `maxTimeoutSeconds` offered in every requirement.
    #[serde(default = "default_timeout")]
    pub max_timeout_seconds: u64,
    /// Largest request or upstream response body buffered, in bytes.
    #[serde(default = "default_body_limit")]
    pub max_body_bytes: usize,
    /// Where verify and settle happen.
    #[serde(default)]
    pub facilitator: FacilitatorConfig,
    /// Receiving address per CAIP-2 network.
    pub pay_to: BTreeMap<String, String>,
    /// Who must pay: API-key passthrough and the `x-coinbase-402` opt-in.
    #[serde(default)]
    pub access: AccessConfig,
    /// Tokens accepted, one `accepts` entry each.
    pub assets: Vec<AssetConfig>,
    /// Priced routes; unmatched requests pass through free.
    pub routes: Vec<RouteConfig>,
    /// Receipts for metered bundles; required when any route sells a bundle.
    #[serde(default)]
    pub receipts: Option<ReceiptsConfig>,
    /// Extra v1 network names, e.g. `{"anvil" = "eip155:31337"}`.
    #[serde(default)]
    pub v1_names: BTreeMap<String, String>,
    /// What gateway instances share: in-flight leases and recorded answers.
    #[serde(default)]
    pub store: StoreConfig,
    /// Refuse (400) v2 payments without a `payment-identifier` id, so every retry is safe.
    #[serde(default)]
    pub require_payment_identifier: bool,
}

/// How long the proxy waits on the upstream; past either bound the caller gets 504
/// `upstream_timeout` (and a paid call is not charged).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTimeouts {
    /// Milliseconds to open a connection.
    #[serde(default = "default_connect_ms")]
    pub connect_ms: u64,
    /// Seconds for a whole exchange, answer body included; a route's `timeout_seconds`
    /// overrides it.
    #[serde(default = "default_upstream_seconds")]
    pub total_seconds: u64,
}

impl Default for UpstreamTimeouts {
    fn default() -> Self {
        Self {
            connect_ms: default_connect_ms(),
            total_seconds: default_upstream_seconds(),
        }
    }
}

fn default_connect_ms() -> u64 {
    5_000
}

fn default_upstream_seconds() -> u64 {
    60
}

/// Caps that keep a burst from overrunning the upstream and oversized requests out.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Requests the upstream may have under way at once, all routes together; no cap unless
    /// set. A route's `max_concurrent` caps it alone.
    #[serde(default)]
    pub max_concurrent: Option<usize>,
    /// Milliseconds a request over a cap waits for a slot before it is answered 503
    /// `upstream_busy` (a paid call is then not charged).
    #[serde(default = "default_queue_ms")]
    pub queue_ms: u64,
    /// Largest total size of a request's header names and values, in bytes (431 past it).
    #[serde(default = "default_header_bytes")]
    pub max_header_bytes: usize,
    /// Most header fields in one request (431 past it); at most 100, the HTTP server's own cap.
    #[serde(default = "default_headers")]
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_concurrent: None,
            queue_ms: default_queue_ms(),
            max_header_bytes: default_header_bytes(),
            max_headers: default_headers(),
        }
    }
}

fn default_queue_ms() -> u64 {
    100
}

fn default_header_bytes() -> usize {
    32 * 1024
}

fn default_headers() -> usize {
    100
}

/// The store gateway instances share for in-flight leases and payment-identifier answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://…` or `postgres://…`; defaults to `receipts.database_url`, else a SQLite file
    /// in the temp directory that holds for this instance alone.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Seconds a crashed instance's hold on a payment blocks its copies; longer than the
    /// slowest handler plus a settlement.
    #[serde(default = "default_inflight")]
    pub inflight_seconds: u64,
    /// Seconds an answer stays replayable to a retry with the same payment-identifier.
    #[serde(default = "default_answer_ttl")]
    pub answer_seconds: u64,
    /// Seconds a bundle sold on a still-pending settlement keeps being checked (with capped
    /// backoff) before the gateway gives up, logs an error and leaves the receipt valid.
    #[serde(default = "default_pending_max_age")]
    pub pending_max_age_seconds: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            database_url: None,
            inflight_seconds: default_inflight(),
            answer_seconds: default_answer_ttl(),
            pending_max_age_seconds: default_pending_max_age(),
        }
    }
}

fn default_inflight() -> u64 {
    360
}

fn default_answer_ttl() -> u64 {
    3600
}

fn default_pending_max_age() -> u64 {
    24 * 3600
}

fn default_timeout() -> u64 {
    60
}

fn default_facilitator_timeout() -> u64 {
    120
}

fn default_body_limit() -> usize {
    8 * 1024 * 1024
}

/// The facilitator: a remote `/verify` `/settle` URL, or one built in this process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacilitatorConfig {
    /// Base URL of a remote facilitator, e.g. `http://127.0.0.1:4022`.
    #[serde(default)]
    pub url: Option<String>,
    /// Path of a facilitator TOML to run in this process (CLI only).
    #[serde(default)]
    pub in_process: Option<PathBuf>,
    /// Name of the env variable holding the bearer token the remote facilitator requires.
    #[serde(default)]
    pub token_env: Option<String>,
    /// Longest wait for a remote facilitator's answer; a settle that takes longer is answered
    /// 504 `facilitator_timeout`, and the payer's retry learns whether it landed.
    #[serde(default = "default_facilitator_timeout")]
    pub timeout_seconds: u64,
}

impl Default for FacilitatorConfig {
    fn default() -> Self {
        Self {
            url: None,
            in_process: None,
            token_env: None,
            timeout_seconds: default_facilitator_timeout(),
        }
    }
}

/// Which requests x402 applies to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMode {
    /// Every keyless request to a priced route must pay.
    #[default]
    Keyless,
    /// Only requests carrying `x-coinbase-402: true` are challenged; others pass through.
    OptIn,
}

/// Access rules ahead of payment.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// Header whose presence sends a request to the upstream untouched (it judges the key).
    #[serde(default)]
    pub api_key_header: Option<String>,
    /// `keyless` (default) or `opt_in`.
    #[serde(default)]
    pub mode: PayMode,
}

/// One accepted token on one network.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Short name clients use in `x-payment-token`, e.g. `USDC`, `TMAI`.
    pub symbol: String,
    /// CAIP-2 network, e.g. `eip155:8453`.
    pub network: String,
    /// Token contract address or SPL mint.
    pub address: String,
    /// Decimals of one whole token.
    pub decimals: u8,
    /// USD per whole token as an exact decimal string (USDC: `"1"`).
    pub usd_rate: String,
    /// Percent off the USD price when paying in this asset, e.g. `"10"`.
    #[serde(default)]
    pub discount_percent: Option<String>,
    /// Scheme name; `exact` by default.
    #[serde(default)]
    pub scheme: Option<String>,
    /// Scheme `extra` copied into requirements (EIP-712 name/version, `assetTransferMethod`).
    #[serde(default)]
    pub extra: Option<Object>,
}

/// One priced route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Stable name; receipts name the routes they cover by it.
    pub name: String,
    /// HTTP method, or `*` for any.
    #[serde(default = "any_method")]
    pub method: String,
    /// Path pattern: literal segments, `{param}` for one segment, a final `*` for the rest.
    pub path: String,
    /// Compare case and a trailing `/` too (off: `/V2/X/` is priced like `/v2/x`, as most
    /// upstream frameworks route it to the same handler).
    #[serde(default)]
    pub exact: bool,
    /// USD price of one call (or of the whole bundle), e.g. `"0.017"`.
    pub price: String,
    /// Shown in the challenge and the HTML page.
    #[serde(default)]
    pub description: Option<String>,
    /// Media type of the paid response.
    #[serde(default)]
    pub mime_type: Option<String>,
    /// Sells N calls or a time window for one payment.
    #[serde(default)]
    pub bundle: Option<BundleConfig>,
    /// Seconds the proxy waits on the upstream for this route (instead of
    /// `upstream_timeouts.total_seconds`).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Calls of this route the upstream may have under way at once; no cap unless set.
    #[serde(default)]
    pub max_concurrent: Option<usize>,
    /// `exact`: `price` is what each call costs; `upto`: `price` is the most one call may
    /// cost and the upstream names the actual charge.
    #[serde(default)]
    pub scheme: RouteScheme,
    /// For `upto`: the response header that counts the units a call used (rows, tokens,
    /// seconds); the charge is units times `unit_price`, capped at `price`.
    #[serde(default)]
    pub meter: Option<String>,
    /// For `upto` with `meter`: USD price of one unit, e.g. `"0.002"`.
    #[serde(default)]
    pub unit_price: Option<String>,
}

/// How a route charges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteScheme {
    /// One fixed price per call (or bundle).
    #[default]
    Exact,
    /// The payer authorizes `price`; the call is charged what it used, at most that.
    Upto,
}

fn any_method() -> String {
    "*".into()
}

/// A metered bundle bought with one payment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleConfig {
    /// Calls included, the paying call among them.
    #[serde(default)]
    pub calls: Option<u64>,
    /// Seconds of unlimited calls; also the receipt's lifetime when `calls` is set.
    #[serde(default)]
    pub seconds: Option<u64>,
    /// Route names the receipt unlocks; defaults to this route alone.
    #[serde(default)]
    pub covers: Vec<String>,
    /// Also put the receipt into a JSON object response as `tollgate_receipt`.
    #[serde(default)]
    pub receipt_in_body: bool,
}

/// Receipt store, keys and metering.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptsConfig {
    /// `sqlite://…` or `postgres://…`; shared by every gateway instance.
    pub database_url: String,
    /// Env variable holding `kid:hexsecret[,kid:hexsecret…]`.
    #[serde(default)]
    pub keys_env: Option<String>,
    /// File holding one `kid:hexsecret` per line; read again on SIGHUP and when it changes.
    #[serde(default)]
    pub keys_file: Option<PathBuf>,
    /// Key id that signs new receipts; the others only verify.
    pub signing_key: String,
    /// Seconds between checks of the key file and the gateway config for changes (the CLI
    /// reloads the keys when either changed); 0 leaves reloading to SIGHUP alone.
    #[serde(default = "default_keys_poll")]
    pub keys_poll_seconds: u64,
    /// Most calls one take moves from the store into this instance's hold. Takes start at one
    /// call and double while a receipt's calls keep coming within a second, up to this; a take
    /// never holds more than a quarter of what is left. Served calls are recorded before their
    /// answer leaves, so the count is exact whatever this is.
    #[serde(default = "default_lease")]
    pub lease: u32,
    /// Seconds an instance's held calls stay its own without use. A stopping instance gives its
    /// holds back at once; the holds of one that died return to the receipt after this long.
    #[serde(default = "default_hold")]
    pub hold_seconds: u64,
    /// Receipts held in the hot cache.
    #[serde(default = "default_cache")]
    pub cache_capacity: u64,
    /// Lifetime of call-count receipts without `seconds`, in seconds.
    #[serde(default = "default_receipt_ttl")]
    pub default_ttl_seconds: u64,
}

fn default_keys_poll() -> u64 {
    2
}

fn default_lease() -> u32 {
    1000
}

fn default_hold() -> u64 {
    30
}

fn default_cache() -> u64 {
    100_000
}

fn default_receipt_ttl() -> u64 {
    30 * 24 * 3600
}

impl GatewayConfig {
    /// Reads and parses a TOML file, refusing files over [`MAX_CONFIG_BYTES`].
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let meta = std::fs::metadata(path).map_err(|e| ConfigError::Io(path.into(), e))?;
        if meta.len() > MAX_CONFIG_BYTES {
            return Err(ConfigError::TooLarge(path.into()));
        }
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io(path.into(), e))?;
        Self::parse(&text)
    }

    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        if text.len() as u64 > MAX_CONFIG_BYTES {
            return Err(ConfigError::Invalid("config text is too large".into()));
        }
        let cfg: Self = toml::from_str(text)?;
        cfg.check_waits()?;
        Ok(cfg)
    }

    /// The longest a paid call can take: verify, a slot at the upstream, the upstream, settle.
    /// A stopping gateway waits this long for its paid calls.
    pub fn longest_paid_call(&self) -> Duration {
        let upstream = self
            .routes
            .iter()
            .filter_map(|r| r.timeout_seconds)
            .fold(self.upstream_timeouts.total_seconds, u64::max);
        let secs = self
            .facilitator
            .timeout_seconds
            .saturating_mul(2)
            .saturating_add(upstream);
        Duration::from_secs(secs) + Duration::from_millis(self.limits.queue_ms)
    }

    /// A paid call holds its payment while it waits for verify, the upstream and settle; a hold
    /// that lapsed sooner would let a copy of the payment run the handler again.
    fn check_waits(&self) -> Result<(), ConfigError> {
        let t = &self.upstream_timeouts;
        if t.connect_ms == 0 || t.total_seconds == 0 {
            return Err(ConfigError::Invalid(
                "upstream_timeouts must be above zero".into(),
            ));
        }
        if let Some(r) = self.routes.iter().find(|r| r.timeout_seconds == Some(0)) {
            return Err(ConfigError::Invalid(format!(
                "route {}: timeout_seconds must be above zero",
                r.name
            )));
        }
        self.limits
            .check(self.routes.iter().filter_map(|r| r.max_concurrent))?;
        let longest = self.longest_paid_call();
        let waits = longest.as_secs() + u64::from(longest.subsec_nanos() > 0);
        if waits >= self.store.inflight_seconds {
            return Err(ConfigError::Invalid(format!(
                "store.inflight_seconds ({}) must exceed the longest a paid call can take \
                 ({waits} s: twice facilitator.timeout_seconds, the longest upstream timeout and \
                 limits.queue_ms); set it to {} or more",
                self.store.inflight_seconds,
                waits + 1
            )));
        }
        Ok(())
    }
}

impl Limits {
    /// Most requests a cap may let through at once (a semaphore's limit is far above it).
    const MAX_CONCURRENT: usize = 1 << 20;

    /// Caps that would refuse every request, or that cannot be built, are refused.
    fn check(&self, routes: impl Iterator<Item = usize>) -> Result<(), ConfigError> {
        let bad = |w: &str| Err(ConfigError::Invalid(format!("limits: {w}")));
        if self
            .max_concurrent
            .into_iter()
            .chain(routes)
            .any(|n| n == 0 || n > Self::MAX_CONCURRENT)
        {
            return bad("max_concurrent must be between 1 and 1048576");
        }
        // The HTTP server refuses more than 100 header fields before the gateway sees them.
        if !(8..=100).contains(&self.max_headers) || self.max_header_bytes < 1024 {
            return bad("max_headers must be between 8 and 100 and max_header_bytes 1024 or more");
        }
        if self.queue_ms > 60_000 {
            return bad("queue_ms must be 60000 or less");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(extra: &str) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::parse(&format!("pay_to = {{}}\nassets = []\nroutes = []\n{extra}"))
    }

    #[test]
    fn a_hold_shorter_than_the_facilitator_and_upstream_waits_is_refused() {
        assert!(with("").is_ok(), "the defaults fit");
        // 2 x 150 + 60 + 0.1 (queue_ms) >= 360
        let e = with("[facilitator]\ntimeout_seconds = 150").unwrap_err();
        assert!(e.to_string().contains("inflight_seconds (360)"), "{e}");
        assert!(e.to_string().contains("set it to 362 or more"), "{e}");
        assert!(with("[facilitator]\ntimeout_seconds = 149").is_ok());
        assert!(
            with("[facilitator]\ntimeout_seconds = 150\n[store]\ninflight_seconds = 362").is_ok()
        );
        // The upstream's wait counts too.
        assert!(with("[upstream_timeouts]\ntotal_seconds = 120").is_err());
        assert!(with("[upstream_timeouts]\ntotal_seconds = 118").is_ok());
        assert!(with("[upstream_timeouts]\nconnect_ms = 0").is_err());
        // And so does the wait for a slot at the upstream.
        assert!(
            with("[upstream_timeouts]\ntotal_seconds = 118\n[limits]\nqueue_ms = 1000").is_ok()
        );
        assert!(
            with("[upstream_timeouts]\ntotal_seconds = 118\n[limits]\nqueue_ms = 2000").is_err()
        );
    }

    #[test]
    fn a_route_timeout_counts_in_the_hold() {
        let route = |secs: u64| {
            format!(
                "pay_to = {{}}\nassets = []\n[[routes]]\nname = \"slow\"\npath = \"/slow\"\n\
                 price = \"0.01\"\ntimeout_seconds = {secs}\n"
            )
        };
        assert!(GatewayConfig::parse(&route(118)).is_ok());
        assert!(GatewayConfig::parse(&route(120)).is_err());
        assert!(GatewayConfig::parse(&route(0)).is_err());
    }

    #[test]
    fn limits_that_refuse_everything_are_refused() {
        assert!(with("[limits]\nmax_concurrent = 0").is_err());
        assert!(with("[limits]\nmax_concurrent = 9223372036854775807").is_err());
        assert!(with("[limits]\nmax_headers = 0").is_err());
        assert!(with("[limits]\nmax_header_bytes = 10").is_err());
        assert!(with("[limits]\nmax_concurrent = 64\nmax_headers = 8").is_ok());
    }
}
