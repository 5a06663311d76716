//! The requirements side of a test payment, shared by the EIP-3009 and Permit2 builders, with
//! every field open to tampering.

use alloy::primitives::{Address, U256};
use serde_json::{Value, json};
use tollgate_devnet::{DevEvm, TestToken};
use tollgate_proto::Network;

/// What a payment answers: the requirements, and the network the payer claims.
#[derive(Clone)]
pub struct Terms {
    /// `exact`, or `upto` (whose `amount` is then the maximum).
    pub scheme: String,
    pub network: String,
    pub amount: U256,
    pub asset: Address,
    pub pay_to: Address,
    /// The token's EIP-712 domain name and version, as the requirement names them.
    pub name: String,
    pub version: String,
    /// `extra.assetTransferMethod`; `None` leaves it out.
    pub method: Option<String>,
    /// `extra.facilitatorAddress` (an `upto` requirement names the signer that settles).
    pub facilitator: Option<Address>,
    /// Payload side: the network the payer claims.
    pub accepted_network: String,
}

impl Terms {
    /// `amount` of `token` to the dev chain's payee on `network`.
    pub fn new(dev: &DevEvm, network: &Network, token: &TestToken, amount: U256) -> Self {
        Self {
            scheme: "exact".into(),
            network: network.caip2().to_string(),
            amount,
            asset: token.address,
            pay_to: dev.pay_to,
            name: token.name.clone(),
            version: token.version.clone(),
            method: None,
            facilitator: None,
            accepted_network: network.caip2().to_string(),
        }
    }

    /// v2 requirements.
    pub fn requirements(&self) -> Value {
        let mut extra = json!({"name": self.name, "version": self.version});
        if let Some(m) = &self.method {
            extra["assetTransferMethod"] = json!(m);
        }
        if let Some(f) = &self.facilitator {
            extra["facilitatorAddress"] = json!(f.to_checksum(None));
        }
        json!({"scheme": self.scheme, "network": self.network, "amount": self.amount.to_string(),
            "asset": self.asset.to_checksum(None), "payTo": self.pay_to.to_checksum(None),
            "maxTimeoutSeconds": 60, "extra": extra})
    }

    /// A v2 `/verify` or `/settle` body carrying `payload` and, when given, `extensions`.
    pub fn v2(&self, payload: Value, extensions: Option<Value>) -> Value {
        self.v2_charging(payload, extensions, self.amount)
    }

    /// A v2 body whose requirements ask `charge` of what the payer accepted (an `upto`
    /// `/settle`: the actual charge, while `accepted` keeps the maximum).
    pub fn v2_charging(&self, payload: Value, extensions: Option<Value>, charge: U256) -> Value {
        let mut accepted = self.requirements();
        accepted["network"] = json!(self.accepted_network);
        let mut body = json!({"x402Version": 2, "resource": {"url": "http://127.0.0.1/data"},
            "accepted": accepted, "payload": payload});
        if let Some(ext) = extensions {
            body["extensions"] = ext;
        }
        let mut requirements = self.requirements();
        requirements["amount"] = json!(charge.to_string());
        json!({"x402Version": 2, "paymentPayload": body, "paymentRequirements": requirements})
    }
}

/// `pay.amount`, `pay.network = ..`: a payment builder's terms reached as its own fields.
macro_rules! reach_terms {
    ($payment:ty) => {
        impl std::ops::Deref for $payment {
            type Target = $crate::terms::Terms;
            fn deref(&self) -> &Self::Target {
                &self.terms
            }
        }

        impl std::ops::DerefMut for $payment {
            fn deref_mut(&mut self) -> &mut Self::Target {
                &mut self.terms
            }
        }
    };
}
pub(crate) use reach_terms;
