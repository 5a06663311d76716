//! Gives budget back only on the chain's word: outstanding payments are checked against the
//! chain (by the wallet that signed them, through its RPC) and a reservation is released only
//! for a payment proven unspent, i.e. expired and never used. Without an RPC for its chain a
//! payment is never proven unspent, so it stays counted as spent.

use crate::challenge::Offer;
use crate::client::{ClientError, PayingClient};
use crate::policy::AssetKey;

impl PayingClient {
    /// Asks the chains about outstanding payments, drops the ones proven spent, gives back the
    /// reservations of the ones proven unspent, and returns how many were given back.
    pub async fn reconcile_outstanding(&self) -> Result<usize, ClientError> {
        let entries = self.spending.outstanding()?;
        if entries.is_empty() {
            return Ok(0);
        }
        let mut verdicts = Vec::new();
        if let Some(w) = &self.evm {
            verdicts.extend(w.verdicts(&entries).await);
        }
        if let Some(w) = &self.svm {
            verdicts.extend(w.verdicts(&entries).await);
        }
        let mut released = 0;
        for (id, verdict) in verdicts {
            if self.spending.resolve(&id, verdict)? {
                released += 1;
            }
        }
        Ok(released)
    }

    /// Reserves an offer; when the policy refuses (a budget used up by outstanding payments),
    /// reconciles first and tries once more if any reservation came back.
    pub(crate) async fn reserve_offer<'a>(
        &self,
        offers: &'a [Offer],
    ) -> Result<(&'a Offer, AssetKey), ClientError> {
        match self.try_reserve(offers) {
            Err(ClientError::Policy(e)) => {
                if self.reconcile_outstanding().await? > 0 {
                    self.try_reserve(offers)
                } else {
                    Err(e.into())
                }
            }
            other => other,
        }
    }
}
