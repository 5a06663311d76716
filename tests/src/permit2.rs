//! Builds x402 `exact` Permit2 payments (TMAI) the way a payer's wallet would, optionally with
//! an `eip2612GasSponsoring` permit, with every field open to tampering.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use tollgate_devnet::DevEvm;
use tollgate_evm::{
    EXACT_PERMIT2_PROXY, Eip2612Permit, PERMIT2, Permit2Authorization, sign_eip2612_permit,
    sign_permit2, token_domain,
};
use tollgate_proto::Network;

use crate::pay::now;

/// One Permit2 payment and the requirements it answers.
#[derive(Clone)]
pub struct Permit2Payment {
    pub signer: PrivateKeySigner,
    pub auth: Permit2Authorization,
    /// Chain id the payer signs for.
    pub sign_chain_id: u64,
    /// Requirements side.
    pub network: String,
    pub amount: U256,
    pub asset: Address,
    pub pay_to: Address,
    pub name: String,
    pub version: String,
    /// `extra.assetTransferMethod`; `None` leaves it out.
    pub method: Option<String>,
    /// Payload side: the network the payer claims.
    pub accepted_network: String,
    /// Replaces the computed signature when set.
    pub signature: Option<Vec<u8>>,
    /// The EIP-2612 gas-sponsoring permit, if attached.
    pub permit2612: Option<Eip2612Permit>,
    /// Replaces the whole `extensions` object when set.
    pub extensions: Option<Value>,
}

impl Permit2Payment {
    /// A valid TMAI payment of `amount` atomic units from `signer` to the dev chain's payee.
    pub fn new(dev: &DevEvm, network: &Network, signer: PrivateKeySigner, amount: U256) -> Self {
        let t = now();
        let auth = Permit2Authorization {
            from: signer.address(),
            token: dev.tmai.address,
            amount,
            spender: EXACT_PERMIT2_PROXY,
            nonce: U256::from_be_bytes(alloy::primitives::B256::random().0),
            deadline: U256::from(t + 300),
            to: dev.pay_to,
            valid_after: U256::from(t - 600),
        };
        Self {
            signer,
            auth,
            sign_chain_id: network.chain_id().expect("evm network"),
            network: network.caip2().to_string(),
            amount,
            asset: dev.tmai.address,
            pay_to: dev.pay_to,
            name: dev.tmai.name.clone(),
            version: dev.tmai.version.clone(),
            method: Some("permit2".into()),
            accepted_network: network.caip2().to_string(),
            signature: None,
            permit2612: None,
            extensions: None,
        }
    }

    /// Attaches an EIP-2612 permit (spender Permit2, exactly the amount) signed by the payer,
    /// with the token nonce `nonce` (read it from the chain).
    pub fn with_permit(mut self, nonce: U256) -> Self {
        let domain = token_domain(&self.name, &self.version, self.sign_chain_id, self.asset);
        self.permit2612 = Some(
            sign_eip2612_permit(
                &self.signer,
                &domain,
                PERMIT2,
                self.auth.amount,
                nonce,
                U256::from(now() + 300),
            )
            .expect("sign permit"),
        );
        self
    }

    /// The payer's Permit2 signature (or the override).
    pub fn signature_bytes(&self) -> Vec<u8> {
        if let Some(s) = &self.signature {
            return s.clone();
        }
        sign_permit2(&self.signer, self.sign_chain_id, &self.auth).expect("sign")
    }

    /// v2 requirements.
    pub fn requirements(&self) -> Value {
        let mut extra = json!({"name": self.name, "version": self.version});
        if let Some(m) = &self.method {
            extra["assetTransferMethod"] = json!(m);
        }
        json!({"scheme": "exact", "network": self.network, "amount": self.amount.to_string(),
            "asset": self.asset.to_checksum(None), "payTo": self.pay_to.to_checksum(None),
            "maxTimeoutSeconds": 60, "extra": extra})
    }

    /// A v2 `/verify` or `/settle` body.
    pub fn v2(&self) -> Value {
        let mut accepted = self.requirements();
        accepted["network"] = json!(self.accepted_network);
        let mut payload = json!({"x402Version": 2, "resource": {"url": "http://127.0.0.1/data"},
            "accepted": accepted, "payload": Value::Object(self.auth.to_payload(&self.signature_bytes()))});
        if let Some(ext) = &self.extensions {
            payload["extensions"] = ext.clone();
        } else if let Some(p) = &self.permit2612 {
            payload["extensions"] = Value::Object(p.to_extensions());
        }
        json!({"x402Version": 2, "paymentPayload": payload, "paymentRequirements": self.requirements()})
    }
}
