//! A chain's RPC client over one or several endpoints. Each endpoint bounds its calls and
//! names its failures by index ([`endpoint`]); several are joined by alloy's `FallbackLayer`,
//! which races reads across them and ranks them by success and latency, while a broadcast
//! (`eth_sendRawTransaction`) goes to one endpoint at a time, best first.

mod endpoint;

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use alloy::providers::{Provider, RootProvider};
use alloy::rpc::client::RpcClient;
use alloy::transports::http::reqwest::Url;
use alloy::transports::layers::FallbackLayer;
use futures::future::join_all;
use tollgate_proto::rpc::{EndpointHealth, endpoint_name};
use tower::Layer;

use crate::error::EvmError;
use endpoint::{Endpoint, Record};

/// How long one RPC call may take unless configured otherwise.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(5);

/// The method that sends a settlement: sequential, so each endpoint's answer is about the one
/// send it was given, and a hung endpoint is left for the next only after its timeout.
const BROADCAST_METHOD: &str = "eth_sendRawTransaction";

/// Each endpoint on its own, for health probes that must reach every one of them.
pub(crate) struct Endpoints {
    each: Vec<(Arc<Record>, RootProvider)>,
}

impl Endpoints {
    /// Asks every endpoint for the latest block at once (each bounded by its timeout) and
    /// reports them in configured order.
    pub(crate) async fn health(&self) -> Vec<EndpointHealth> {
        join_all(
            self.each
                .iter()
                .map(|(_, p)| async move { p.get_block_number().await }),
        )
        .await;
        self.each
            .iter()
            .enumerate()
            .map(|(i, (record, _))| record.health(i))
            .collect()
    }
}

/// The provider every chain call goes through, and its endpoints for health probes.
pub(crate) fn connect(
    urls: &[String],
    timeout: Duration,
) -> Result<(RootProvider, Endpoints), EvmError> {
    let count = NonZeroUsize::new(urls.len())
        .ok_or_else(|| EvmError::Config("no rpc url configured".into()))?;
    let endpoints = urls
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let url: Url = u.parse().map_err(|e| {
                EvmError::Config(format!("{} is not a valid URL: {e}", endpoint_name(i)))
            })?;
            Ok(Endpoint::new(i, url, timeout))
        })
        .collect::<Result<Vec<_>, EvmError>>()?;
    let local = endpoints.iter().all(Endpoint::is_local);
    let client = match endpoints.as_slice() {
        [one] => RpcClient::builder().transport(one.clone(), local),
        _ => {
            let fallback = FallbackLayer::default()
                .with_active_transport_count(count)
                .with_sequential_method(BROADCAST_METHOD);
            RpcClient::builder().transport(fallback.layer(endpoints.clone()), local)
        }
    };
    let each = endpoints
        .into_iter()
        .map(|e| (e.record(), RootProvider::new(RpcClient::new(e, local))))
        .collect();
    Ok((RootProvider::new(client), Endpoints { each }))
}
