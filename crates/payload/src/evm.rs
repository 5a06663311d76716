//! What payer, facilitator and gateway read off an EVM payment the same way: its transfer
//! method and its ledger identity.

use tollgate_proto::{PaymentView, Rejection, RequirementsView, reason};

use crate::read::requirement_address;
use crate::{eip3009, permit2, upto};

/// The way an `exact` EVM payment moves the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMethod {
    Eip3009,
    Permit2,
}

impl TransferMethod {
    /// The method a requirement asks for (`extra.assetTransferMethod`, EIP-3009 when absent);
    /// `Err` carries a method that is not served.
    pub fn asked<'a>(req: &'a RequirementsView<'_>) -> Result<Self, &'a str> {
        match req.extra_str("assetTransferMethod") {
            None | Some("eip3009") => Ok(Self::Eip3009),
            Some("permit2") => Ok(Self::Permit2),
            Some(other) => Err(other),
        }
    }

    /// The method of a payment: picked by the payload's shape (`permit2Authorization` →
    /// Permit2, `authorization` → EIP-3009), which must agree with what the seller asked for.
    pub fn of(view: &PaymentView<'_>) -> Result<Self, Rejection> {
        let shape = if view.payload.contains_key("permit2Authorization") {
            Self::Permit2
        } else {
            Self::Eip3009
        };
        let asked = Self::asked(&view.requirements).map_err(|other| {
            Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE)
                .with_message(format!("assetTransferMethod {other:?} is not served"))
        })?;
        // The reference dispatches on shape alone; a Permit2 payload for a requirement that
        // names no method is accepted like it does, but a stated method must match.
        let explicit = view.requirements.extra_str("assetTransferMethod").is_some();
        if shape != asked && (explicit || shape == Self::Eip3009) {
            return Err(
                Rejection::new(reason::UNSUPPORTED_PAYLOAD_TYPE).with_message(format!(
                    "payload is {shape:?} but the requirement asks for {asked:?}"
                )),
            );
        }
        Ok(shape)
    }
}

/// The ledger identity of an EVM payment (chain, token, payer, nonce), computed from the
/// strictly parsed payload: the facilitator's ledger and the gateway's in-flight lease both name
/// a payment by this, however its JSON was spelled.
pub fn payment_identity(view: &PaymentView<'_>) -> Result<String, Rejection> {
    let net = view.requirements.network.caip2();
    let token = requirement_address(view.requirements.asset, "asset")?;
    if view.requirements.scheme == "upto" || view.scheme == "upto" {
        if view.scheme != view.requirements.scheme || view.version != 2 {
            return Err(Rejection::new(reason::UPTO_SCHEME)
                .with_message("upto is x402 v2 only, for upto requirements only"));
        }
        return Ok(upto::identity(
            net,
            token,
            &upto::parse_payload(view.payload)?.auth,
        ));
    }
    Ok(match TransferMethod::of(view)? {
        TransferMethod::Eip3009 => {
            eip3009::identity(net, token, &eip3009::parse_payload(view.payload)?.auth)
        }
        TransferMethod::Permit2 => {
            permit2::identity(net, token, &permit2::parse_payload(view.payload)?.auth)
        }
    })
}
