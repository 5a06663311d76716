//! Deliberate stops inside a settlement, for crash and cancellation tests: the process exits at
//! a step, or the settlement waits there until the test lets it go. `None` in production.

use std::sync::Arc;

use tokio::sync::Semaphore;

/// The steps of a settlement a test can stop at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Signed with a signer's nonce, not yet claimed in the ledger.
    Signed,
    /// Claimed in the ledger with its bytes, not yet broadcast.
    Claimed,
    /// Accepted by the node, its result not yet recorded.
    Broadcast,
}

/// What happens at a step.
#[derive(Debug, Clone)]
pub enum Failpoint {
    /// Exit the process (code 86) right after the node accepted the settlement.
    AfterBroadcast,
    /// Exit the process (code 86) after the ledger claim, before anything is sent.
    AfterClaim,
    /// At `step`, add a permit to `reached`, then wait for a permit of `release`.
    Hold {
        step: Step,
        reached: Arc<Semaphore>,
        release: Arc<Semaphore>,
    },
}

impl Failpoint {
    /// Runs the failpoint if it is set for `step`.
    pub(crate) async fn at(this: &Option<Self>, step: Step) {
        match this {
            Some(Self::AfterBroadcast) if step == Step::Broadcast => {
                tracing::error!("failpoint after_broadcast: exiting before recording the result");
                std::process::exit(86);
            }
            Some(Self::AfterClaim) if step == Step::Claimed => {
                tracing::error!("failpoint after_claim: exiting before broadcasting");
                std::process::exit(86);
            }
            Some(Self::Hold {
                step: s,
                reached,
                release,
            }) if *s == step => {
                reached.add_permits(1);
                if let Ok(p) = release.acquire().await {
                    p.forget();
                }
            }
            _ => {}
        }
    }
}
