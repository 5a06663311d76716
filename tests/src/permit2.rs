//! Builds x402 `exact` Permit2 payments (TMAI) the way a payer's wallet would, optionally with
//! an `eip2612GasSponsoring` permit, with every field open to tampering.

use alloy::primitives::{Address, U256};
use alloy::signers::local::PrivateKeySigner;
use serde_json::Value;
use tollgate_devnet::DevEvm;
use tollgate_evm::{
    EXACT_PERMIT2_PROXY, Eip2612Permit, PERMIT2, Permit2Authorization, UPTO_PERMIT2_PROXY,
    UptoAuthorization, sign_eip2612_permit, sign_permit2, sign_upto, token_domain,
};
use tollgate_proto::{Network, reason};

use crate::pay::now;
use crate::terms::Terms;

/// One Permit2 payment and the requirements it answers (reached through `Deref`).
#[derive(Clone)]
pub struct Permit2Payment {
    pub signer: PrivateKeySigner,
    pub auth: Permit2Authorization,
    /// Chain id the payer signs for.
    pub sign_chain_id: u64,
    pub terms: Terms,
    /// Replaces the computed signature when set.
    pub signature: Option<Vec<u8>>,
    /// The EIP-2612 gas-sponsoring permit, if attached.
    pub permit2612: Option<Eip2612Permit>,
    /// Replaces the whole `extensions` object when set.
    pub extensions: Option<Value>,
    /// The facilitator the witness names: set, this is an `upto` payment.
    pub witness_facilitator: Option<Address>,
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
            terms: Terms {
                method: Some("permit2".into()),
                ..Terms::new(dev, network, &dev.tmai, amount)
            },
            signature: None,
            permit2612: None,
            extensions: None,
            witness_facilitator: None,
        }
    }

    /// A valid `upto` TMAI payment of at most `max` from `signer`, settled by `facilitator`.
    pub fn upto(
        dev: &DevEvm,
        network: &Network,
        signer: PrivateKeySigner,
        max: U256,
        facilitator: Address,
    ) -> Self {
        let mut p = Self::new(dev, network, signer, max);
        p.auth.spender = UPTO_PERMIT2_PROXY;
        p.witness_facilitator = Some(facilitator);
        p.terms.scheme = "upto".into();
        p.terms.facilitator = Some(facilitator);
        p
    }

    /// The authorization as `upto` signs it, when this is an `upto` payment.
    fn upto_auth(&self) -> Option<UptoAuthorization> {
        Some(UptoAuthorization {
            permit: self.auth.clone(),
            facilitator: self.witness_facilitator?,
        })
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
        match self.upto_auth() {
            Some(upto) => sign_upto(&self.signer, self.sign_chain_id, &upto),
            None => sign_permit2(&self.signer, self.sign_chain_id, &self.auth),
        }
        .expect("sign")
    }

    /// A v2 `/verify` or `/settle` body.
    pub fn v2(&self) -> Value {
        self.v2_charging(self.amount)
    }

    /// A v2 `/settle` body of an `upto` payment charging `charge` of its maximum.
    pub fn v2_charging(&self, charge: U256) -> Value {
        let signature = self.signature_bytes();
        let payload = match self.upto_auth() {
            Some(upto) => upto.to_payload(&signature),
            None => self.auth.to_payload(&signature),
        };
        let extensions = self
            .extensions
            .clone()
            .or_else(|| Some(Value::Object(self.permit2612.as_ref()?.to_extensions())));
        self.terms
            .v2_charging(Value::Object(payload), extensions, charge)
    }
}

crate::terms::reach_terms!(Permit2Payment);

/// Each of `cases` applied to a fresh valid payment from `make`: what to send, and the reason
/// it must be refused with.
pub fn tampered(
    cases: Vec<Tamper>,
    make: impl Fn() -> Permit2Payment,
) -> Vec<(&'static str, Permit2Payment, &'static str)> {
    let apply = |(what, tamper, want): Tamper| {
        let mut p = make();
        tamper(&mut p);
        (what, p, want)
    };
    cases.into_iter().map(apply).collect()
}

/// One way to break a Permit2 payment, and the reason it must be refused with.
pub type Tamper = (&'static str, fn(&mut Permit2Payment), &'static str);

/// What breaks any Permit2 witness transfer, `exact` or `upto`: its witness, its time window and
/// its signature.
pub fn witness_tampers() -> Vec<Tamper> {
    vec![
        (
            "witness pays someone else",
            |p| p.auth.to = Address::repeat_byte(7),
            reason::PERMIT2_RECIPIENT_MISMATCH,
        ),
        (
            "deadline passed",
            |p| p.auth.deadline = U256::from(now() - 10),
            reason::PERMIT2_DEADLINE_EXPIRED,
        ),
        (
            "deadline under 6 s ahead",
            |p| p.auth.deadline = U256::from(now() + 3),
            reason::PERMIT2_DEADLINE_EXPIRED,
        ),
        (
            "validAfter in the future",
            |p| p.auth.valid_after = U256::from(now() + 60),
            reason::PERMIT2_NOT_YET_VALID,
        ),
        (
            "flipped signature byte",
            |p| {
                let mut s = p.signature_bytes();
                s[10] ^= 1;
                p.signature = Some(s);
            },
            reason::PERMIT2_SIGNATURE,
        ),
        (
            "signed by another key",
            |p| p.signer = PrivateKeySigner::random(),
            reason::PERMIT2_SIGNATURE,
        ),
        (
            "signed for another chain id",
            |p| p.sign_chain_id = 8453,
            reason::PERMIT2_SIGNATURE,
        ),
    ]
}
