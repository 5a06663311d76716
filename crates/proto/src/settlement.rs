//! Where a known settlement stands, as Tollgate's facilitator tells it in `SettleResponse.extra`
//! (`{"settlementState": "pending"}`), so a resource server that re-asks about a payment can
//! act on the answer without parsing the human-readable message.

use crate::v2::SettleResponse;

/// The `extra` key carrying a [`SettlementState`]; Tollgate's own, ignored by other SDKs.
pub const SETTLEMENT_STATE: &str = "settlementState";

/// Where a settlement the facilitator already holds stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementState {
    /// Mined and successful: the payment is final.
    Settled,
    /// Broadcast (or about to be) with no final result yet.
    Pending,
    /// Mined and reverted, or abandoned: nothing was paid.
    Failed,
}

impl SettlementState {
    /// The wire value: `settled`, `pending` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Settled => "settled",
            Self::Pending => "pending",
            Self::Failed => "failed",
        }
    }

    /// Reads a wire value; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "settled" => Some(Self::Settled),
            "pending" => Some(Self::Pending),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

impl SettleResponse {
    /// The settlement state named in `extra`, when the facilitator gave one.
    pub fn settlement_state(&self) -> Option<SettlementState> {
        let v = self.extra.as_ref()?.get(SETTLEMENT_STATE)?.as_str()?;
        SettlementState::parse(v)
    }

    /// Names the settlement state in `extra`, keeping any other `extra` keys.
    pub fn with_settlement_state(mut self, s: SettlementState) -> Self {
        self.extra
            .get_or_insert_with(Default::default)
            .insert(SETTLEMENT_STATE.into(), s.as_str().into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn state_round_trips_through_extra() {
        let r: SettleResponse = serde_json::from_value(json!({
            "success": false, "errorReason": "duplicate_settlement",
            "transaction": "0x1", "network": "eip155:1"
        }))
        .unwrap();
        assert_eq!(r.settlement_state(), None);
        assert!(!serde_json::to_string(&r).unwrap().contains("extra"));
        for s in [
            SettlementState::Settled,
            SettlementState::Pending,
            SettlementState::Failed,
        ] {
            let with = r.clone().with_settlement_state(s);
            let wire = serde_json::to_value(&with).unwrap();
            assert_eq!(wire["extra"]["settlementState"], json!(s.as_str()));
            let back: SettleResponse = serde_json::from_value(wire).unwrap();
            assert_eq!(back.settlement_state(), Some(s));
        }
        assert_eq!(SettlementState::parse("mined"), None);
    }
}
