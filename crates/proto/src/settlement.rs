//! Where a known settlement stands, as Tollgate's facilitator tells it in `SettleResponse.extra`
//! (`{"settlementState": "pending"}`), so a resource server that re-asks about a payment can
//! act on the answer without parsing the human-readable message.

use crate::reason;
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

/// What an answer to a repeated `/settle` says of the payment, whichever facilitator wrote it:
/// one reading for every path that asks again about a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Final on chain.
    Settled,
    /// Broadcast (or about to be), with no final result yet.
    OnItsWay,
    /// Nothing known yet: another attempt holds the payment before recording it, or the
    /// facilitator failed.
    Open,
    /// The payment will not be paid.
    Refused,
}

impl SettleResponse {
    /// The named state when there is one; otherwise the reason: `settlement_pending` is on its
    /// way, a duplicate that names no state (a facilitator that does not name them, or an
    /// attempt not yet recorded) or `unexpected_settle_error` leaves it open, any other refusal
    /// means it will not be paid.
    pub fn standing(&self) -> Standing {
        if self.success {
            return Standing::Settled;
        }
        match self.settlement_state() {
            Some(SettlementState::Settled) => Standing::Settled,
            Some(SettlementState::Pending) => Standing::OnItsWay,
            Some(SettlementState::Failed) => Standing::Refused,
            None => match self.error_reason.as_deref() {
                Some(reason::SETTLEMENT_PENDING) => Standing::OnItsWay,
                Some(reason::DUPLICATE_SETTLEMENT | reason::UNEXPECTED_SETTLE_ERROR) => {
                    Standing::Open
                }
                _ => Standing::Refused,
            },
        }
    }

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

    fn answer(v: serde_json::Value) -> SettleResponse {
        let mut base = json!({"transaction": "0x1", "network": "eip155:1", "success": false});
        base.as_object_mut()
            .unwrap()
            .extend(v.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    /// Every way a repeated settle is answered, read one way: a named state first, else the
    /// reason; only a final answer is Settled or Refused.
    #[test]
    fn answers_to_a_repeated_settle_read_one_way() {
        let dup = |state: &str| {
            answer(json!({"errorReason": "duplicate_settlement",
                "extra": {"settlementState": state}}))
        };
        let standing = |v| answer(v).standing();
        assert_eq!(standing(json!({"success": true})), Standing::Settled);
        assert_eq!(dup("settled").standing(), Standing::Settled);
        assert_eq!(dup("pending").standing(), Standing::OnItsWay);
        assert_eq!(
            dup("failed").standing(),
            Standing::Refused,
            "failed on chain, or another payment under the identity"
        );
        let why = |r: &str| standing(json!({ "errorReason": r }));
        assert_eq!(why("settlement_pending"), Standing::OnItsWay);
        assert_eq!(
            why("duplicate_settlement"),
            Standing::Open,
            "held by an attempt not yet recorded, or a facilitator naming no state"
        );
        assert_eq!(why("unexpected_settle_error"), Standing::Open);
        for refused in ["invalid_exact_evm_insufficient_balance", "invalid_payload"] {
            assert_eq!(why(refused), Standing::Refused, "{refused}");
        }
        assert_eq!(standing(json!({})), Standing::Refused);
    }
}
