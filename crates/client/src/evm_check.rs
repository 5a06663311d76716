//! Asks an EVM chain what became of payments this wallet signed: EIP-3009
//! `authorizationState` on the token, the Permit2 nonce bitmap. A payment is proven unspent only
//! when its nonce is unused in a block whose timestamp is already past its validity, since an
//! unused authorization can still be settled until it expires.

use alloy::consensus::BlockHeader as _;
use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::primitives::{Address, U256};
use alloy::providers::Provider;
use tollgate_evm::PERMIT2;

use crate::outstanding::{Outstanding, Proof, Verdict};
use crate::wallet::EvmWallet;

alloy::sol! {
    /// EIP-3009 nonce state.
    #[sol(rpc)]
    interface IAuthorizationState {
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
    }

    /// Permit2's unordered nonce bitmap.
    #[sol(rpc)]
    interface INonceBitmap {
        function nonceBitmap(address owner, uint256 wordPos) external view returns (uint256);
    }
}

impl EvmWallet {
    /// The verdict on each EVM entry signed on the chain this wallet's RPC serves; entries of
    /// other chains (or all of them, without an RPC or when it fails) are left out.
    pub(crate) async fn verdicts(&self, entries: &[Outstanding]) -> Vec<(String, Verdict)> {
        let Some(rpc) = &self.rpc else {
            return Vec::new();
        };
        let mine: Vec<&Outstanding> = entries
            .iter()
            .filter(|e| matches!(e.proof, Proof::Eip3009 { .. } | Proof::Permit2 { .. }))
            .collect();
        if mine.is_empty() {
            return Vec::new();
        }
        let Ok(chain) = rpc.get_chain_id().await else {
            return Vec::new();
        };
        // One block for every read: its timestamp and the nonce states are one snapshot.
        let block = match rpc.get_block_by_number(BlockNumberOrTag::Latest).await {
            Ok(Some(b)) => b,
            _ => return Vec::new(),
        };
        let (at, now) = (
            BlockId::number(block.header.number()),
            block.header.timestamp(),
        );
        let mut out = Vec::new();
        for e in mine {
            let verdict = match &e.proof {
                Proof::Eip3009 {
                    chain_id,
                    token,
                    authorizer,
                    nonce,
                    valid_before,
                } if *chain_id == chain => {
                    let c = IAuthorizationState::new(*token, rpc.clone());
                    match c
                        .authorizationState(*authorizer, *nonce)
                        .block(at)
                        .call()
                        .await
                    {
                        Ok(used) => judge(used, now >= *valid_before),
                        Err(_) => Verdict::Pending,
                    }
                }
                Proof::Permit2 {
                    chain_id,
                    owner,
                    nonce,
                    deadline,
                } if *chain_id == chain => match permit2_used(rpc, at, *owner, *nonce).await {
                    Some(used) => judge(used, now > *deadline),
                    None => Verdict::Pending,
                },
                _ => continue,
            };
            out.push((e.id.clone(), verdict));
        }
        out
    }
}

/// Used: spent. Unused and past its validity: unspent. Unused but still valid: pending.
fn judge(used: bool, expired: bool) -> Verdict {
    match (used, expired) {
        (true, _) => Verdict::Spent,
        (false, true) => Verdict::Unspent,
        (false, false) => Verdict::Pending,
    }
}

/// Whether Permit2 nonce `nonce` of `owner` is used: bit `nonce & 255` of word `nonce >> 8`.
async fn permit2_used<P: Provider + Clone>(
    rpc: &P,
    at: BlockId,
    owner: Address,
    nonce: U256,
) -> Option<bool> {
    let word = INonceBitmap::new(PERMIT2, rpc.clone())
        .nonceBitmap(owner, nonce >> 8)
        .block(at)
        .call()
        .await
        .ok()?;
    let bit = U256::from(1u8) << (nonce & U256::from(0xffu8)).to::<usize>();
    Some(word & bit != U256::ZERO)
}
