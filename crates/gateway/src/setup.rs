//! Building the gateway's parts from configuration: the remote facilitator and the receipts
//! (keys from an env variable or a file, never from the TOML itself, and read again to rotate).

use std::path::Path;
use std::sync::Arc;

use tollgate_store::ReceiptStore;

use crate::config::{ConfigError, GatewayConfig, ReceiptsConfig};
use crate::facilitator::{FacilitatorClient, Remote};
use crate::gate::Receipts;
use crate::keys::ReceiptKeys;
use crate::meter::Meter;
use crate::receipt::KeyRing;

/// Largest key file read.
const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// The remote facilitator named by `facilitator.url`, with the bearer token `token_env` names.
pub fn remote_facilitator(
    cfg: &GatewayConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn FacilitatorClient>, ConfigError> {
    let f = &cfg.facilitator;
    let url = f
        .url
        .as_deref()
        .ok_or_else(|| ConfigError::Invalid("facilitator.url is not set".into()))?;
    let invalid = |e: crate::FacilitatorError| ConfigError::Invalid(e.to_string());
    let timeout = std::time::Duration::from_secs(f.timeout_seconds.max(1));
    let mut remote = Remote::new(url).map_err(invalid)?.with_timeout(timeout);
    if let Some(var) = &f.token_env {
        let token = env(var).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "facilitator.token_env names {var}, which is not set"
            ))
        })?;
        remote = remote.with_token(&token).map_err(invalid)?;
    }
    Ok(Arc::new(remote))
}

/// Loads the key ring from `keys_env` (through `env`) or `keys_file`.
pub fn load_keys(
    c: &ReceiptsConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KeyRing, ConfigError> {
    let text = match (&c.keys_env, &c.keys_file) {
        (Some(var), _) if env(var).is_some() => env(var).unwrap_or_default(),
        (_, Some(path)) => {
            let meta = std::fs::metadata(path).map_err(|e| ConfigError::Io(path.clone(), e))?;
            if meta.len() > MAX_KEY_FILE_BYTES {
                return Err(ConfigError::TooLarge(path.clone()));
            }
            std::fs::read_to_string(path).map_err(|e| ConfigError::Io(path.clone(), e))?
        }
        _ => {
            return Err(ConfigError::Invalid(
                "receipts: set keys_env (and export it) or keys_file".into(),
            ));
        }
    };
    KeyRing::parse(&text, &c.signing_key)
        .map_err(|e| ConfigError::Invalid(format!("receipt keys: {e}")))
}

/// Reads the key ring as the gateway config file at `path` describes it now (its `[receipts]`
/// key source and `signing_key`), so a reload picks up a new signing key as well as new keys.
pub fn load_keys_from_config_file(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<KeyRing, ConfigError> {
    let cfg = GatewayConfig::from_file(path)?;
    let c = cfg
        .receipts
        .ok_or_else(|| ConfigError::Invalid("the [receipts] section is gone".into()))?;
    load_keys(&c, env)
}

/// Opens the receipt store and builds the meter and key ring.
pub async fn receipts(
    c: &ReceiptsConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Receipts, ConfigError> {
    let keys = load_keys(c, env)?;
    let store = ReceiptStore::connect(&c.database_url)
        .await
        .map_err(|e| ConfigError::Invalid(format!("receipt store: {e}")))?;
    Ok(Receipts {
        keys: ReceiptKeys::new(keys),
        meter: Meter::new(store, c.lease, c.cache_capacity, c.hold_seconds),
    })
}
