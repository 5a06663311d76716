//! Nonce gaps mended: the fillers a node dropped are sent again (re-signed at today's fee when
//! their own fee has fallen below the base fee), so a signer's later settlements can land.

use alloy::primitives::B256;
use alloy::providers::Provider;

use crate::chain::EvmChain;
use crate::error::error_text;
use crate::fillers::Filler;
use crate::send::node_has_it;

impl EvmChain {
    /// Sends again each gap filler not yet mined, at most once per pass interval however many
    /// settlements sit unmined. A filler's nonce is held by its slot and was never handed to
    /// another transaction, so sending it again can displace nothing; a node that says another
    /// transaction took the nonce ends its keeping.
    pub async fn resend_fillers(&self) {
        let Some(fillers) = self.fillers.due() else {
            return;
        };
        for f in fillers {
            let mined = self.provider.get_transaction_count(f.from()).latest().await;
            match mined {
                Ok(mined) if mined > f.nonce => self.fillers.forget(&f),
                Ok(_) => self.resend(&f).await,
                Err(e) => {
                    // The node is not answering: the next pass tries again.
                    tracing::warn!(signer = %f.from(), error = %error_text(&e), "could not read a signer's mined nonce");
                    return;
                }
            }
        }
    }

    async fn resend(&self, f: &Filler) {
        let refusal = match self.provider.send_raw_transaction(&f.raw).await {
            Ok(_) => {
                tracing::info!(signer = %f.from(), nonce = f.nonce, "nonce gap filler sent again");
                return;
            }
            Err(e) => error_text(&e),
        };
        let m = refusal.to_lowercase();
        if node_has_it(&m) {
            return;
        }
        if m.contains("nonce too low") || m.contains("replacement") {
            // Another transaction holds or spent the nonce: there is no gap to fill.
            self.fillers.forget(f);
            return;
        }
        if m.contains("base fee") || m.contains("fee cap") {
            self.resign(f).await;
            return;
        }
        tracing::warn!(signer = %f.from(), nonce = f.nonce, error = %refusal, "nonce gap filler not accepted again");
    }

    /// The filler signed again at today's fee and sent.
    async fn resign(&self, f: &Filler) {
        let me = f.from();
        let tx = match self.sign_filler(&f.slot, f.nonce).await {
            Ok(tx) => tx,
            Err(e) => {
                tracing::warn!(signer = %me, nonce = f.nonce, error = %e, "could not sign a nonce gap filler again");
                return;
            }
        };
        if let Ok(h) = tx.hash.parse::<B256>() {
            self.in_flight.lock().expect("in-flight lock").remove(&h);
        }
        self.fillers.keep(&f.slot, f.nonce, &tx);
        if let Err(e) = self.provider.send_raw_transaction(&tx.raw).await {
            tracing::warn!(signer = %me, nonce = f.nonce, error = %error_text(&e), "nonce gap filler not accepted at today's fee");
        }
    }
}
