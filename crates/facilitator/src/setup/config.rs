//! Facilitator configuration: a TOML file, overridden by environment variables, including the
//! variables the x402 e2e harness passes to third-party facilitators.

mod keys;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;
use tollgate_proto::U256;

pub use keys::{Fingerprint, KeySource, KeyText};

/// Largest config file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// The whole facilitator configuration.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FacilitatorConfig {
    /// Address to listen on, e.g. `127.0.0.1:4022`.
    #[serde(default)]
    pub listen: Option<String>,
    /// `sqlite://file.db` (default `sqlite://tollgate.db`) or `postgres://...`.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Longest a settle waits for its receipt before answering `settlement_pending`.
    #[serde(default)]
    pub receipt_timeout_secs: Option<u64>,
    /// Age (seconds) an unfinished settlement reaches before the reconciler takes it over
    /// (default 30).
    #[serde(default)]
    pub reconcile_after_secs: Option<u64>,
    /// Seconds between reconciler passes (default 10).
    #[serde(default)]
    pub reconcile_every_secs: Option<u64>,
    /// Seconds a settlement's transaction may sit unmined before it is re-sent with the same
    /// nonce at a higher fee, up to each chain's `max_fee_ceiling_wei` (default 60).
    #[serde(default)]
    pub bump_after_secs: Option<u64>,
    /// Seconds between looks at EVM key files and directories for changes (default 2; 0: reload
    /// on SIGHUP only).
    #[serde(default)]
    pub keys_poll_secs: Option<u64>,
    /// EVM chains to serve.
    #[serde(default)]
    pub evm: Vec<EvmChainConfig>,
    /// Solana clusters to serve.
    #[serde(default)]
    pub svm: Vec<SvmChainConfig>,
    /// Settle any asset (test chains whose tokens live at arbitrary addresses); env
    /// `ALLOW_ANY_ASSET=true`. Otherwise only each network's well-known USDC and its `assets`.
    #[serde(default)]
    pub allow_any_asset: bool,
    /// Serve `POST /close`, which stops the process (test harnesses); env
    /// `TOLLGATE_CLOSE_ENDPOINT=true`.
    #[serde(default)]
    pub close_endpoint: bool,
    /// Name of the env variable holding the bearer tokens `/verify` and `/settle` require
    /// (comma-separated; default `TOLLGATE_FACILITATOR_TOKENS`). Unset: no token required.
    #[serde(default)]
    pub tokens_env: Option<String>,
    /// File holding those bearer tokens, one per line.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
}

/// An RPC URL from the configuration. It often carries an API key, so it is never printed:
/// Debug shows a placeholder, and errors name an endpoint by its index instead.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct RpcUrl(pub String);

impl std::fmt::Debug for RpcUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RpcUrl(<redacted>)")
    }
}

/// One RPC call's bound from `rpc_timeout_ms`, if given.
fn rpc_timeout(ms: Option<u64>) -> anyhow::Result<Option<std::time::Duration>> {
    match ms {
        Some(0) => bail!("rpc_timeout_ms must be at least 1"),
        other => Ok(other.map(std::time::Duration::from_millis)),
    }
}

/// One Solana cluster.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct SvmChainConfig {
    /// CAIP-2 id or v1 name; when given, the RPC's cluster must be this one.
    #[serde(default)]
    pub network: Option<String>,
    /// JSON-RPC endpoint (solana-client reaches one endpoint per client: no failover here).
    pub rpc_url: RpcUrl,
    /// Longest one RPC call may take, in milliseconds (default 5000).
    #[serde(default)]
    pub rpc_timeout_ms: Option<u64>,
    /// Name of the env variable holding the fee-payer key(s): base58, comma-separated, or one
    /// JSON byte array.
    #[serde(default)]
    pub private_key_env: Option<String>,
    /// Serve `network` without checking it against the RPC's genesis: for a local validator
    /// standing in for a public cluster in SDK tests. Never for a real cluster.
    #[serde(default)]
    pub assume_network: bool,
    /// A keygen JSON file (byte array) holding the fee-payer key.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// v1 network name for this cluster, when it is not one of the well-known ones.
    #[serde(default)]
    pub v1_name: Option<String>,
    /// Highest compute unit price paid for, in micro-lamports (default 5,000,000 = 5 lamports).
    #[serde(default)]
    pub max_compute_unit_price: Option<u64>,
    /// Highest compute unit limit a payment may request (default 200,000).
    #[serde(default)]
    pub max_compute_unit_limit: Option<u32>,
    /// Mints settled besides the cluster's well-known USDC.
    #[serde(default)]
    pub assets: Vec<String>,
    /// When set, the only owners payments may go to.
    #[serde(default)]
    pub pay_to: Vec<String>,
}

/// One EVM chain.
#[derive(Debug, Deserialize, Clone, Default)]
#[serde(deny_unknown_fields)]
pub struct EvmChainConfig {
    /// CAIP-2 id, e.g. `eip155:8453`.
    pub network: String,
    /// JSON-RPC endpoint; or `rpc_urls` for several (exactly one of the two).
    #[serde(default)]
    pub rpc_url: Option<RpcUrl>,
    /// JSON-RPC endpoints in order of preference: reads race across them, a broadcast tries
    /// one at a time, best-ranked first.
    #[serde(default)]
    pub rpc_urls: Vec<RpcUrl>,
    /// Longest one RPC call may take on one endpoint, in milliseconds (default 5000).
    #[serde(default)]
    pub rpc_timeout_ms: Option<u64>,
    /// Name of the env variable holding the settlement key(s), comma-separated hex.
    #[serde(default)]
    pub private_key_env: Option<String>,
    /// File holding the settlement key(s), one hex key per line. Re-read on SIGHUP and when it
    /// changes.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Directory of key files, one hex key each (dotfiles and editor leftovers skipped). Re-read
    /// on SIGHUP and when a file is added, removed or changed.
    #[serde(default)]
    pub private_key_dir: Option<PathBuf>,
    /// Gas balance in wei (a decimal string or an integer) below which a signer leaves the
    /// rotation until refilled; default 0, never.
    #[serde(default)]
    pub min_signer_balance_wei: Option<Wei>,
    /// Seconds between reads of the signers' balances (default 30).
    #[serde(default)]
    pub signer_check_secs: Option<u64>,
    /// v1 network name for this chain, when it is not one of the well-known ones.
    #[serde(default)]
    pub v1_name: Option<String>,
    /// Shortest pause in milliseconds between chain-head checks while settlements wait for
    /// their receipts (default 25; it stretches to an eighth of the block interval).
    #[serde(default)]
    pub receipt_poll_ms: Option<u64>,
    /// Gas limit per settlement (default 200000).
    #[serde(default)]
    pub gas_limit: Option<u64>,
    /// Highest fee per gas, in wei, a stuck settlement is re-sent with (default 200 gwei).
    #[serde(default)]
    pub max_fee_ceiling_wei: Option<u64>,
    /// Token contracts settled besides the chain's well-known USDC.
    #[serde(default)]
    pub assets: Vec<String>,
    /// When set, the only addresses payments may go to.
    #[serde(default)]
    pub pay_to: Vec<String>,
}

impl FacilitatorConfig {
    /// How often key files are looked at for changes; `None`: on SIGHUP only.
    pub fn keys_poll(&self) -> Option<std::time::Duration> {
        match self.keys_poll_secs {
            Some(0) => None,
            other => Some(std::time::Duration::from_secs(other.unwrap_or(2))),
        }
    }

    /// Reads the file (if any), then applies `HOST`, `PORT`, `DATABASE_URL`, `ALLOW_ANY_ASSET`,
    /// `TOLLGATE_CLOSE_ENDPOINT`, `EVM_NETWORK`, `EVM_RPC_URL`, `EVM_PRIVATE_KEY`, `SVM_NETWORK`,
    /// `SVM_RPC_URL` and `SVM_PRIVATE_KEY` from the environment.
    pub fn load(path: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut cfg = match path {
            Some(p) => Self::from_file(p)?,
            None => Self::default(),
        };
        if let Some(port) = env("PORT") {
            let port: u16 = port.parse().context("PORT is not a port number")?;
            // Loopback unless the operator names another address: an exposed facilitator
            // spends gas for whoever reaches it.
            let host = env("HOST").unwrap_or_else(|| "127.0.0.1".into());
            cfg.listen = Some(format!("{host}:{port}"));
        }
        cfg.allow_any_asset |= flag(env, "ALLOW_ANY_ASSET")?;
        cfg.close_endpoint |= flag(env, "TOLLGATE_CLOSE_ENDPOINT")?;
        if let Some(url) = env("DATABASE_URL") {
            cfg.database_url = Some(url);
        }
        if let Some(network) = env("EVM_NETWORK") {
            // The env names the chain's RPC and key; what the file says of it otherwise stays.
            let rpc_url = env("EVM_RPC_URL");
            match cfg.evm.iter_mut().find(|c| c.network == network) {
                Some(c) => {
                    if let Some(url) = rpc_url {
                        c.rpc_url = Some(RpcUrl(url));
                        c.rpc_urls = Vec::new();
                    }
                    c.private_key_env = Some("EVM_PRIVATE_KEY".into());
                    c.private_key_file = None;
                    c.private_key_dir = None;
                }
                None => cfg.evm.push(EvmChainConfig {
                    network,
                    rpc_url: Some(RpcUrl(
                        rpc_url.context("EVM_NETWORK is set but EVM_RPC_URL is not")?,
                    )),
                    private_key_env: Some("EVM_PRIVATE_KEY".into()),
                    ..Default::default()
                }),
            }
        }
        cfg.apply_svm_env(env)?;
        if cfg.evm.is_empty() && cfg.svm.is_empty() {
            bail!(
                "no chain configured: give --config with [[evm]] or [[svm]] entries, or set EVM_NETWORK and EVM_RPC_URL, or SVM_RPC_URL"
            );
        }
        Ok(cfg)
    }

    /// `SVM_RPC_URL` (with `SVM_NETWORK`, optional) replaces or adds one cluster keyed by
    /// `SVM_PRIVATE_KEY`.
    fn apply_svm_env(&mut self, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let network = env("SVM_NETWORK");
        let rpc_url = match env("SVM_RPC_URL") {
            Some(url) => url,
            None => match &network {
                None => return Ok(()),
                Some(n) => self
                    .svm
                    .iter()
                    .find(|c| c.network.as_ref() == Some(n))
                    .map(|c| c.rpc_url.0.clone())
                    .context("SVM_NETWORK is set but SVM_RPC_URL is not")?,
            },
        };
        self.svm
            .retain(|c| c.rpc_url.0 != rpc_url && (network.is_none() || c.network != network));
        self.svm.push(SvmChainConfig {
            network,
            rpc_url: RpcUrl(rpc_url),
            rpc_timeout_ms: None,
            private_key_env: Some("SVM_PRIVATE_KEY".into()),
            assume_network: false,
            private_key_file: None,
            v1_name: None,
            max_compute_unit_price: None,
            max_compute_unit_limit: None,
            assets: Vec::new(),
            pay_to: Vec::new(),
        });
        Ok(())
    }

    /// The bearer tokens `/verify` and `/settle` require (none: open), from `tokens_file` or
    /// the `tokens_env` variable; errors name the source, never a token.
    pub fn bearer_tokens(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Vec<String>> {
        let var = self
            .tokens_env
            .as_deref()
            .unwrap_or("TOLLGATE_FACILITATOR_TOKENS");
        let text = match &self.tokens_file {
            Some(file) => {
                let meta = std::fs::metadata(file)
                    .with_context(|| format!("reading token file {}", file.display()))?;
                if meta.len() > MAX_CONFIG_BYTES {
                    bail!("token file {} is too large", file.display());
                }
                std::fs::read_to_string(file)
                    .with_context(|| format!("reading token file {}", file.display()))?
            }
            None => env(var).unwrap_or_default(),
        };
        Ok(text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect())
    }

    fn from_file(p: &Path) -> anyhow::Result<Self> {
        let meta = std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?;
        if meta.len() > MAX_CONFIG_BYTES {
            bail!("{} is larger than {MAX_CONFIG_BYTES} bytes", p.display());
        }
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))
    }
}

/// A boolean env switch: `true`/`1` on, `false`/`0` or unset off, anything else an error.
fn flag(env: &dyn Fn(&str) -> Option<String>, var: &str) -> anyhow::Result<bool> {
    match env(var).as_deref().map(str::trim) {
        None | Some("false" | "0") => Ok(false),
        Some("true" | "1") => Ok(true),
        Some(_) => bail!("{var} must be true or false"),
    }
}

/// Secret key text from a file or a named env variable; errors name the source, never the text.
fn secret_text(
    file: Option<&Path>,
    var: &str,
    chain: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<String> {
    match file {
        Some(file) => std::fs::read_to_string(file)
            .with_context(|| format!("reading key file {}", file.display())),
        None => env(var).with_context(|| format!("{var} is not set (settlement key for {chain})")),
    }
}

impl SvmChainConfig {
    /// The bound on one RPC call, if configured.
    pub fn rpc_timeout(&self) -> anyhow::Result<Option<std::time::Duration>> {
        rpc_timeout(self.rpc_timeout_ms)
    }

    /// The fee-payer keys; the error never holds key text.
    pub fn keys(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> anyhow::Result<Vec<tollgate_solana::Keypair>> {
        let chain = self.network.as_deref().unwrap_or("the Solana cluster");
        let var = self.private_key_env.as_deref().unwrap_or("SVM_PRIVATE_KEY");
        let raw = secret_text(self.private_key_file.as_deref(), var, chain, env)?;
        let keys = tollgate_solana::keys::parse_keypairs(&raw)
            .map_err(|e| anyhow::anyhow!("fee-payer key for {chain}: {e}"))?;
        if keys.is_empty() {
            bail!("no fee-payer key given for {chain}");
        }
        Ok(keys)
    }
}

impl EvmChainConfig {
    /// The chain's endpoints: `rpc_url` or `rpc_urls`, exactly one of them given.
    pub fn rpc_urls(&self) -> anyhow::Result<Vec<String>> {
        match (&self.rpc_url, self.rpc_urls.as_slice()) {
            (Some(one), []) => Ok(vec![one.0.clone()]),
            (None, [_, ..]) => Ok(self.rpc_urls.iter().map(|u| u.0.clone()).collect()),
            (Some(_), [_, ..]) => bail!("{}: give rpc_url or rpc_urls, not both", self.network),
            (None, []) => bail!("{}: no rpc_url or rpc_urls given", self.network),
        }
    }

    /// The bound on one RPC call, if configured.
    pub fn rpc_timeout(&self) -> anyhow::Result<Option<std::time::Duration>> {
        rpc_timeout(self.rpc_timeout_ms)
    }

    /// Where the settlement keys come from: `private_key_dir`, `private_key_file` (at most one of
    /// the two), else the `private_key_env` variable (default `EVM_PRIVATE_KEY`).
    pub fn key_source(&self) -> anyhow::Result<KeySource<'_>> {
        match (&self.private_key_file, &self.private_key_dir) {
            (Some(_), Some(_)) => bail!(
                "{}: give private_key_file or private_key_dir, not both",
                self.network
            ),
            (Some(file), None) => Ok(KeySource::File(file)),
            (None, Some(dir)) => Ok(KeySource::Dir(dir)),
            (None, None) => Ok(KeySource::Env(
                self.private_key_env.as_deref().unwrap_or("EVM_PRIVATE_KEY"),
            )),
        }
    }

    /// The settlement keys, as they are now; the error never holds key text.
    pub fn keys(&self, env: &dyn Fn(&str) -> Option<String>) -> anyhow::Result<Vec<KeyText>> {
        let keys = self
            .key_source()?
            .read(env)
            .map_err(|e| anyhow::anyhow!("settlement keys for {}: {e:#}", self.network))?;
        if keys.is_empty() {
            bail!("no settlement key given for {}", self.network);
        }
        Ok(keys)
    }

    /// The gas balance below which a signer leaves the rotation (zero: never).
    pub fn min_signer_balance(&self) -> anyhow::Result<U256> {
        match &self.min_signer_balance_wei {
            None => Ok(U256::ZERO),
            Some(Wei::Int(n)) => Ok(U256::from(*n)),
            Some(Wei::Text(s)) => tollgate_proto::parse_atomic(s.trim()).map_err(|e| {
                anyhow::anyhow!(
                    "{}: min_signer_balance_wei {s:?} is not a whole number of wei: {e}",
                    self.network
                )
            }),
        }
    }

    /// How often signer balances are read, if configured.
    pub fn signer_check_every(&self) -> anyhow::Result<Option<std::time::Duration>> {
        match self.signer_check_secs {
            Some(0) => bail!("{}: signer_check_secs must be at least 1", self.network),
            other => Ok(other.map(std::time::Duration::from_secs)),
        }
    }
}

/// An amount of wei as the config writes it: a decimal string (any size) or a TOML integer.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Wei {
    Int(u64),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn harness_env_alone_configures_a_chain() {
        let env = env_of(&[
            ("PORT", "4022"),
            ("EVM_NETWORK", "eip155:84532"),
            ("EVM_RPC_URL", "http://x"),
            ("EVM_PRIVATE_KEY", "0xab,0xcd"),
        ]);
        let cfg = FacilitatorConfig::load(None, &env).unwrap();
        assert_eq!(
            cfg.listen.as_deref(),
            Some("127.0.0.1:4022"),
            "loopback by default"
        );
        assert_eq!(cfg.evm.len(), 1);
        let keys = cfg.evm[0].keys(&env).unwrap();
        let texts: Vec<_> = keys.iter().map(KeyText::secret).collect();
        assert_eq!(texts, vec!["0xab", "0xcd"]);
        assert_eq!(keys[1].origin, "EVM_PRIVATE_KEY #1");
    }

    #[test]
    fn doors_come_from_env_switches() {
        let env = env_of(&[
            ("PORT", "4022"),
            ("HOST", "0.0.0.0"),
            ("EVM_NETWORK", "eip155:84532"),
            ("EVM_RPC_URL", "http://x"),
            ("ALLOW_ANY_ASSET", "true"),
            ("TOLLGATE_FACILITATOR_TOKENS", "one, two\n"),
        ]);
        let cfg = FacilitatorConfig::load(None, &env).unwrap();
        assert_eq!(cfg.listen.as_deref(), Some("0.0.0.0:4022"));
        assert!(cfg.allow_any_asset);
        assert!(!cfg.close_endpoint, "/close is off unless enabled");
        assert_eq!(cfg.bearer_tokens(&env).unwrap(), vec!["one", "two"]);
        let bad = env_of(&[("EVM_NETWORK", "eip155:1"), ("EVM_RPC_URL", "http://x")]);
        let bad = |k: &str| {
            if k == "ALLOW_ANY_ASSET" {
                Some("yes".into())
            } else {
                bad(k)
            }
        };
        assert!(
            FacilitatorConfig::load(None, &bad).is_err(),
            "a typo is not a yes"
        );
    }

    #[test]
    fn missing_key_error_names_the_variable_not_a_key() {
        let env = env_of(&[("EVM_NETWORK", "eip155:1"), ("EVM_RPC_URL", "http://x")]);
        let cfg = FacilitatorConfig::load(None, &env).unwrap();
        let err = cfg.evm[0].keys(&env).unwrap_err().to_string();
        assert!(err.contains("EVM_PRIVATE_KEY"), "{err}");
    }

    #[test]
    fn svm_env_alone_configures_a_cluster() {
        let key = tollgate_solana::Keypair::new().to_base58_string();
        let pairs = [
            ("SVM_NETWORK", "solana-devnet"),
            ("SVM_RPC_URL", "http://x"),
            ("SVM_PRIVATE_KEY", key.as_str()),
        ];
        let env = env_of(&pairs);
        let cfg = FacilitatorConfig::load(None, &env).unwrap();
        assert!(cfg.evm.is_empty());
        assert_eq!(cfg.svm.len(), 1);
        assert_eq!(cfg.svm[0].network.as_deref(), Some("solana-devnet"));
        assert_eq!(cfg.svm[0].keys(&env).unwrap().len(), 1);
        let bad = env_of(&[
            ("SVM_RPC_URL", "http://x"),
            ("SVM_PRIVATE_KEY", "0xnot-a-key"),
        ]);
        let err = FacilitatorConfig::load(None, &bad).unwrap().svm[0]
            .keys(&bad)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("0xnot-a-key"), "{err}");
    }

    #[test]
    fn rpc_urls_take_one_form_and_never_print() {
        let parse = |text: &str| toml::from_str::<FacilitatorConfig>(text).unwrap();
        let both = parse(
            "[[evm]]\nnetwork = \"eip155:1\"\nrpc_url = \"http://a/KEY1\"\nrpc_urls = [\"http://b\"]\n",
        );
        let err = both.evm[0].rpc_urls().unwrap_err().to_string();
        assert!(err.contains("not both") && !err.contains("KEY1"), "{err}");
        let none = parse("[[evm]]\nnetwork = \"eip155:1\"\n");
        assert!(none.evm[0].rpc_urls().is_err());
        let many = parse(
            "[[evm]]\nnetwork = \"eip155:1\"\nrpc_urls = [\"http://a/KEY1\", \"http://b/KEY2\"]\nrpc_timeout_ms = 1500\n",
        );
        assert_eq!(
            many.evm[0].rpc_urls().unwrap(),
            vec!["http://a/KEY1", "http://b/KEY2"]
        );
        assert_eq!(
            many.evm[0].rpc_timeout().unwrap(),
            Some(std::time::Duration::from_millis(1500))
        );
        let printed = format!("{many:?}");
        assert!(!printed.contains("KEY"), "{printed}");
        let zero =
            parse("[[evm]]\nnetwork = \"eip155:1\"\nrpc_url = \"http://a\"\nrpc_timeout_ms = 0\n");
        assert!(zero.evm[0].rpc_timeout().is_err());
    }

    #[test]
    fn key_sources_and_the_gas_floor_parse_exactly() {
        let parse = |text: &str| toml::from_str::<FacilitatorConfig>(text).unwrap();
        let head = "[[evm]]\nnetwork = \"eip155:1\"\nrpc_url = \"http://a\"\n";
        let both = parse(&format!(
            "{head}private_key_file = \"/k\"\nprivate_key_dir = \"/d\"\n"
        ));
        assert!(
            both.evm[0].key_source().is_err(),
            "one file source at a time"
        );
        let dir = parse(&format!("{head}private_key_dir = \"/d\"\n"));
        assert!(matches!(
            dir.evm[0].key_source().unwrap(),
            KeySource::Dir(_)
        ));
        assert_eq!(
            dir.evm[0].min_signer_balance().unwrap(),
            U256::ZERO,
            "off by default"
        );
        let big = parse(&format!(
            "{head}min_signer_balance_wei = \"123456789012345678901234567890\"\nsigner_check_secs = 5\n"
        ));
        assert_eq!(
            big.evm[0].min_signer_balance().unwrap().to_string(),
            "123456789012345678901234567890"
        );
        assert_eq!(
            big.evm[0].signer_check_every().unwrap(),
            Some(std::time::Duration::from_secs(5))
        );
        let int = parse(&format!("{head}min_signer_balance_wei = 10000\n"));
        assert_eq!(
            int.evm[0].min_signer_balance().unwrap(),
            U256::from(10_000u64)
        );
        let frac = parse(&format!("{head}min_signer_balance_wei = \"0.01\"\n"));
        assert!(frac.evm[0].min_signer_balance().is_err(), "wei, not ether");
        let zero = parse(&format!("{head}signer_check_secs = 0\n"));
        assert!(zero.evm[0].signer_check_every().is_err());
    }

    #[test]
    fn key_files_are_polled_every_two_seconds_unless_told_otherwise() {
        let parse = |text: &str| toml::from_str::<FacilitatorConfig>(text).unwrap();
        let two = std::time::Duration::from_secs(2);
        assert_eq!(parse("").keys_poll(), Some(two));
        assert_eq!(parse("keys_poll_secs = 0").keys_poll(), None, "SIGHUP only");
        assert_eq!(
            parse("keys_poll_secs = 7").keys_poll(),
            Some(std::time::Duration::from_secs(7))
        );
    }

    #[test]
    fn a_bad_key_file_is_named_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("settler"), "0xnot-a-key-SECRET\n").unwrap();
        let cfg = EvmChainConfig {
            network: "eip155:1".into(),
            private_key_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        };
        let keys = cfg.keys(&|_| None).unwrap();
        assert_eq!(keys.len(), 1);
        let err = super::super::signers_of(&cfg, &|_| None).unwrap_err();
        let err = format!("{err:#}");
        assert!(err.contains("settler") && !err.contains("SECRET"), "{err}");
        let empty = tempfile::tempdir().unwrap();
        let cfg = EvmChainConfig {
            private_key_dir: Some(empty.path().to_path_buf()),
            ..cfg
        };
        assert!(
            cfg.keys(&|_| None).is_err(),
            "an empty directory is no key set"
        );
    }

    #[test]
    fn unknown_config_keys_are_refused() {
        let dir = std::env::temp_dir().join(format!("tollgate-cfg-{}", std::process::id()));
        std::fs::write(&dir, "listen = \"127.0.0.1:1\"\nlisten_typo = 1\n").unwrap();
        let err = FacilitatorConfig::load(Some(&dir), &|_| None).unwrap_err();
        assert!(format!("{err:#}").contains("listen_typo"), "{err:#}");
        std::fs::remove_file(dir).unwrap();
    }
}
