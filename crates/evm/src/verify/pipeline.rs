//! The one verify pipeline every EVM transfer method runs through, in the x402 reference's
//! order: the method reads the payment and refuses what stands whatever the signature; then
//! come the checks a bad signature takes precedence over, the asset's code, and one simulation
//! of the very call a settlement sends. A valid payment skips local signature recovery (the
//! simulation proves it) and costs one RPC round trip; a refusal is named with one batched read.

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::transports::RpcError;
use tollgate_proto::{PaymentView, Rejection, Verified, reason};

use super::ChainReads;
use crate::error::error_text;

/// A payment as a method read it, before its signature is weighed.
pub(crate) struct Read<A> {
    pub auth: A,
    pub signature: Vec<u8>,
    /// Who pays, and the payer as answers name it (checksummed).
    pub from: Address,
    pub payer: String,
    /// The requirement's asset and payee.
    pub token: Address,
    pub pay_to: Address,
    /// The EIP-712 digest the payer signed.
    pub digest: B256,
    /// What moves, and the payment's ledger identity.
    pub amount: U256,
    pub identity: String,
}

/// What a method works on: the chain it reads, and the payment it checks.
pub(crate) struct At<'a> {
    pub reads: &'a ChainReads,
    pub view: &'a PaymentView<'a>,
}

/// The steps in which transfer methods differ.
pub(crate) trait Method {
    type Auth;
    /// What the checks below hand to the call (an EIP-2612 permit for Permit2).
    type Extra;

    /// Reads the payment, refusing what stands whatever its signature says.
    fn read(&self, at: &At<'_>) -> Result<Read<Self::Auth>, Rejection>;

    /// Checks of which a bad signature is named first, as the reference orders them.
    fn check(&self, at: &At<'_>, read: &Read<Self::Auth>) -> Result<Self::Extra, Rejection>;

    /// The reason a signature that does not stand is refused with.
    fn bad_signature(&self, signature: &[u8]) -> &'static str;

    /// The contract a settlement calls, and its calldata.
    fn call(&self, read: &Read<Self::Auth>, extra: &Self::Extra) -> (Address, Bytes);

    /// The one signer that may send the settlement, when the payment names one.
    fn sender(&self, _read: &Read<Self::Auth>) -> Option<Address> {
        None
    }

    /// Names why a simulation failed.
    async fn diagnose(&self, at: &At<'_>, read: &Read<Self::Auth>) -> &'static str;
}

/// Verifies a payment with `method`.
pub(crate) async fn run<M: Method>(
    method: &M,
    reads: &ChainReads,
    view: &PaymentView<'_>,
) -> Result<Verified, Rejection> {
    let at = At { reads, view };
    let read = method.read(&at)?;
    let payer = || read.payer.clone();
    let reject = |why: &'static str| Rejection::new(why).with_payer(payer());
    // The reason of a bad signature, `None` when it stands (or may, for a contract wallet).
    let signature_fault = || async {
        let vouched = reads
            .signature_vouched(&read.signature, &read.digest, read.from)
            .await
            .map_err(|r| r.with_payer(payer()))?;
        Ok::<_, Rejection>((!vouched).then(|| method.bad_signature(&read.signature)))
    };
    let checked = async {
        let extra = method.check(&at, &read)?;
        reads.ensure_deployed(read.token).await?;
        Ok::<_, Rejection>(extra)
    };
    let extra = match checked.await {
        Ok(extra) => extra,
        Err(r) => {
            return Err(match signature_fault().await? {
                Some(fault) => reject(fault),
                None => r.with_payer(payer()),
            });
        }
    };
    let (target, calldata) = method.call(&read, &extra);
    let sender = method.sender(&read);
    match reads.simulate(sender, target, calldata.clone()).await {
        Ok(_) => Ok(Verified {
            signer: sender.map(|a| a.to_checksum(None)),
            identity: read.identity.clone(),
            payer: payer(),
            amount: read.amount,
            target: format!("{target:#x}"),
            data: calldata.to_vec(),
        }),
        Err(RpcError::ErrorResp(resp)) => {
            let cause = match signature_fault().await? {
                Some(fault) => fault,
                None => method.diagnose(&at, &read).await,
            };
            Err(reject(cause).with_message(resp.message.to_string()))
        }
        Err(e) => Err(reject(reason::UNEXPECTED_VERIFY_ERROR)
            .with_message(format!("rpc: {}", error_text(&e)))),
    }
}
