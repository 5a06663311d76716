//! Puts the canonical Permit2 and our x402 exact and upto Permit2 proxies at their fixed
//! addresses on a local chain. Permit2's runtime code is read at setup time from the npm package
//! `@uniswap/v4-periphery` (installed by the project's package.json), never copied into the repo.

use std::path::PathBuf;

use alloy::primitives::{Address, B256, Bytes, U256, address, keccak256};
use alloy::providers::Provider;
use alloy::sol_types::SolValue;
use anyhow::{Context, anyhow, bail, ensure};

use crate::anvil::Anvil;
use crate::artifact::code;

/// The canonical Permit2 address (same on every chain).
pub const PERMIT2: Address = address!("000000000022D473030F116dDEE9F6B43aC78BA3");

/// Where clients expect the x402 exact Permit2 proxy.
pub const EXACT_PERMIT2_PROXY: Address = address!("402085c248EeA27D92E8b30b2C58ed07f9E20001");

/// Where clients expect the x402 upto Permit2 proxy.
pub const UPTO_PERMIT2_PROXY: Address = address!("4020A4f3b7b90ccA423B9fabCc0CE57C6C240002");

const EXACT_PROXY_ARTIFACT: &str =
    include_str!("../../../contracts/out/X402ExactPermit2Proxy.json");
const UPTO_PROXY_ARTIFACT: &str = include_str!("../../../contracts/out/X402UptoPermit2Proxy.json");

/// Permit2's own deploy helper for tests, which embeds its runtime bytecode.
const PERMIT2_SOURCE: &str =
    "node_modules/@uniswap/v4-periphery/lib/permit2/test/utils/DeployPermit2.sol";

alloy::sol! {
    #[sol(rpc)]
    interface IPermit2Domain {
        function DOMAIN_SEPARATOR() external view returns (bytes32);
    }
}

/// Finds Permit2's deploy helper: `TOLLGATE_PERMIT2_SOURCE`, else the project's npm install.
fn permit2_source() -> anyhow::Result<PathBuf> {
    if let Ok(p) = std::env::var("TOLLGATE_PERMIT2_SOURCE") {
        return Ok(PathBuf::from(p));
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    for start in [std::env::current_dir().ok(), Some(manifest)]
        .into_iter()
        .flatten()
    {
        for d in start.ancestors() {
            let candidate = d.join(PERMIT2_SOURCE);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!(
        "Permit2 bytecode not found: run `npm ci` in the project root (it installs @uniswap/v4-periphery) or set TOLLGATE_PERMIT2_SOURCE"
    )
}

/// Permit2's runtime bytecode, read from the npm package.
pub fn permit2_runtime_code() -> anyhow::Result<Vec<u8>> {
    let path = permit2_source()?;
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let start = text
        .find("hex\"")
        .ok_or_else(|| anyhow!("{}: no hex\"...\" literal", path.display()))?
        + 4;
    let len = text[start..]
        .find('"')
        .ok_or_else(|| anyhow!("{}: unterminated hex literal", path.display()))?;
    let mut code = alloy::hex::decode(&text[start..start + len])?;
    ensure!(code.len() > 1000, "Permit2 bytecode looks truncated");
    forget_cached_chain_id(&mut code)?;
    Ok(code)
}

/// The helper's code was built under a test chain id (31337) at a non-canonical address, and
/// Permit2 returns its cached domain separator whenever `block.chainid` equals the cached id;
/// on a 31337 anvil that separator names the wrong contract. Zeroing the cached id (an
/// immutable, compared right after CHAINID) makes Permit2 always rebuild its separator.
fn forget_cached_chain_id(code: &mut [u8]) -> anyhow::Result<()> {
    let mut needle = vec![0x46, 0x7f];
    needle.extend(U256::from(31337u64).to_be_bytes::<32>());
    needle.push(0x03);
    let hits: Vec<usize> = code
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle.as_slice())
        .map(|(i, _)| i)
        .collect();
    ensure!(
        hits.len() == 1,
        "expected one cached chain id comparison in Permit2's code, found {}",
        hits.len()
    );
    code[hits[0] + 2..hits[0] + 34].fill(0);
    Ok(())
}

/// The EIP-712 domain separator Permit2 must report on `chain_id`.
pub fn expected_permit2_domain_separator(chain_id: u64) -> B256 {
    let type_hash =
        keccak256("EIP712Domain(string name,uint256 chainId,address verifyingContract)");
    keccak256(
        (
            type_hash,
            keccak256("Permit2"),
            U256::from(chain_id),
            PERMIT2,
        )
            .abi_encode(),
    )
}

/// Places Permit2 and the proxies, then checks Permit2's domain follows the local chain id
/// (its cached separator is for chain 1; it recomputes when the chain id differs).
pub async fn install_permit2(anvil: &Anvil) -> anyhow::Result<()> {
    let provider = anvil.provider();
    for (at, code) in [
        (PERMIT2, permit2_runtime_code()?),
        (
            EXACT_PERMIT2_PROXY,
            code(EXACT_PROXY_ARTIFACT, "deployedBytecode")?,
        ),
        (
            UPTO_PERMIT2_PROXY,
            code(UPTO_PROXY_ARTIFACT, "deployedBytecode")?,
        ),
    ] {
        provider
            .raw_request::<_, ()>("anvil_setCode".into(), (at, Bytes::from(code)))
            .await?;
    }
    let got = IPermit2Domain::new(PERMIT2, &provider)
        .DOMAIN_SEPARATOR()
        .call()
        .await?;
    let want = expected_permit2_domain_separator(anvil.chain_id);
    ensure!(
        got == want,
        "Permit2 DOMAIN_SEPARATOR on chain {} is {got}, expected {want}",
        anvil.chain_id
    );
    Ok(())
}
