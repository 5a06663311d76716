//! Settlement signers as `/health` and `/metrics` show them: public addresses, gas balances and
//! whether each is in rotation; never a key.

use serde::{Serialize, Serializer};
use tollgate_proto::U256;

/// One signer of a chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerHealth {
    /// Its public address (checksummed on EVM).
    pub address: String,
    /// Gas balance in the chain's smallest unit at the last read, as a decimal string.
    #[serde(serialize_with = "decimal", skip_serializing_if = "Option::is_none")]
    pub balance_wei: Option<U256>,
    /// Whether it signs new settlements.
    pub in_rotation: bool,
}

/// The signers of one chain and the balance they must keep to stay in rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignerPoolHealth {
    /// Below this balance a signer leaves the rotation; zero: never.
    #[serde(serialize_with = "decimal")]
    pub min_balance_wei: U256,
    /// How many signers are in rotation.
    pub in_rotation: usize,
    pub signers: Vec<SignerHealth>,
}

impl SignerPoolHealth {
    /// Builds the pool view, counting the signers in rotation.
    pub fn new(min_balance_wei: U256, signers: Vec<SignerHealth>) -> Self {
        Self {
            min_balance_wei,
            in_rotation: signers.iter().filter(|s| s.in_rotation).count(),
            signers,
        }
    }

    /// `Ok` while one signer is in rotation; otherwise why the chain is degraded.
    pub fn check(&self) -> Result<(), String> {
        if self.in_rotation > 0 {
            return Ok(());
        }
        Err(format!(
            "every one of {} signers is below the minimum gas balance of {} wei; settling with them anyway",
            self.signers.len(),
            self.min_balance_wei
        ))
    }
}

/// Writes a U256 (or a present one) as a decimal string: JSON numbers lose precision.
fn decimal<S: Serializer, T: AsDecimal>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.as_decimal())
}

trait AsDecimal {
    fn as_decimal(&self) -> String;
}

impl AsDecimal for U256 {
    fn as_decimal(&self) -> String {
        self.to_string()
    }
}

impl AsDecimal for Option<U256> {
    fn as_decimal(&self) -> String {
        self.map(|v| v.to_string()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balances_serialize_as_exact_decimals() {
        let big = U256::from(10u64).pow(U256::from(24u64)) + U256::from(1u64);
        let pool = SignerPoolHealth::new(
            U256::from(7u64),
            vec![SignerHealth {
                address: "0xabc".into(),
                balance_wei: Some(big),
                in_rotation: false,
            }],
        );
        let v = serde_json::to_value(&pool).unwrap();
        assert_eq!(v["min_balance_wei"], "7");
        assert_eq!(v["signers"][0]["balance_wei"], "1000000000000000000000001");
        assert!(pool.check().unwrap_err().contains("below the minimum"));
    }
}
