//! Builds x402 `exact` EIP-3009 payments the way a payer's wallet would, with every field open
//! to tampering so tests can break one thing at a time.

use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::{Value, json};
use tollgate_devnet::DevEvm;
use tollgate_evm::eip3009::token_domain;
use tollgate_evm::{Eip3009Authorization, sign_eip3009};
use tollgate_proto::Network;

use crate::terms::Terms;

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// One payment and the requirements it answers (`pay.amount` etc. reach them through `Deref`).
#[derive(Clone)]
pub struct Payment {
    pub signer: PrivateKeySigner,
    pub auth: Eip3009Authorization,
    pub terms: Terms,
    /// Domain the payer signs over: (name, version, chain id, token).
    pub sign_domain: (String, String, u64, Address),
    /// Replaces the computed signature when set.
    pub signature: Option<Vec<u8>>,
}

impl Payment {
    /// A valid payment of `amount` from `signer` to the dev chain's payee.
    pub fn new(dev: &DevEvm, network: &Network, signer: PrivateKeySigner, amount: U256) -> Self {
        let t = now();
        let auth = Eip3009Authorization {
            from: signer.address(),
            to: dev.pay_to,
            value: amount,
            valid_after: U256::from(t - 600),
            valid_before: U256::from(t + 300),
            nonce: B256::random(),
        };
        let chain_id = network.chain_id().expect("evm network");
        Self {
            signer,
            auth,
            terms: Terms::new(dev, network, &dev.usdc, amount),
            sign_domain: (
                dev.usdc.name.clone(),
                dev.usdc.version.clone(),
                chain_id,
                dev.usdc.address,
            ),
            signature: None,
        }
    }

    /// The payer's signature (or the override).
    pub fn signature_bytes(&self) -> Vec<u8> {
        if let Some(s) = &self.signature {
            return s.clone();
        }
        let (n, v, id, token) = &self.sign_domain;
        sign_eip3009(&self.signer, &token_domain(n, v, *id, *token), &self.auth).expect("sign")
    }

    /// The scheme payload object.
    pub fn payload(&self) -> Value {
        Value::Object(self.auth.to_payload(&self.signature_bytes()))
    }

    /// A v2 `/verify` or `/settle` body.
    pub fn v2(&self) -> Value {
        self.terms.v2(self.payload(), None)
    }

    /// A v1 `/verify` or `/settle` body.
    pub fn v1(&self) -> Value {
        let req = json!({"scheme": "exact", "network": self.network, "maxAmountRequired": self.amount.to_string(),
            "resource": "http://127.0.0.1/data", "description": "test", "mimeType": "application/json",
            "payTo": self.pay_to.to_checksum(None), "maxTimeoutSeconds": 60, "asset": self.asset.to_checksum(None),
            "extra": {"name": self.name, "version": self.version}});
        json!({"x402Version": 1,
            "paymentPayload": {"x402Version": 1, "scheme": "exact", "network": self.accepted_network, "payload": self.payload()},
            "paymentRequirements": req})
    }
}

crate::terms::reach_terms!(Payment);
