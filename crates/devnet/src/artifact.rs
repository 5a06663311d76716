//! The compiled contracts committed in `contracts/out`, read for their code.

use anyhow::anyhow;

/// The code `field` (`bytecode` to deploy, `deployedBytecode` to place) of a committed
/// `contracts/out` artifact.
pub(crate) fn code(artifact: &str, field: &str) -> anyhow::Result<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_str(artifact)?;
    let hex = v[field]
        .as_str()
        .ok_or_else(|| anyhow!("artifact has no {field}"))?;
    Ok(alloy::hex::decode(hex)?)
}
