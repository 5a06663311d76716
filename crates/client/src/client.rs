//! PayingClient: sends a request; on 402 picks an offer the policy allows, reserves the amount,
//! signs, and retries once with the payment (resending the same signed payment on a transport
//! error, so an ambiguous outcome can never pay twice).

use std::sync::{Arc, Mutex};

use reqwest::{Request, Response, StatusCode};

use tollgate_proto::codec::{decode_header, encode_header};
use tollgate_proto::v1::PaymentPayloadV1;
use tollgate_proto::v2::{PaymentPayload, SettleResponse};
use tollgate_proto::{NetworkFamily, Networks, U256, reason};

use crate::challenge::{ChallengeError, Offer, read_challenge};
use crate::policy::{AssetKey, PolicyError, SpendPolicy};
use crate::receipts::{RECEIPT_HEADER, ReceiptBook};
use crate::spending::{Spending, SpendingError};
use crate::svm_wallet::SvmWallet;
use crate::wallet::{EvmWallet, WalletError};

/// Times the same signed payment is resent after a transport error.
const RESENDS: usize = 2;

/// Why a paid request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    #[error("request body cannot be replayed (streaming bodies cannot be paid for)")]
    NotReplayable,
    #[error("{0}")]
    Challenge(#[from] ChallengeError),
    #[error("refused by spend policy: {0}")]
    Policy(#[from] PolicyError),
    #[error("spending: {0}")]
    Spending(#[from] SpendingError),
    #[error("wallet: {0}")]
    Wallet(#[from] WalletError),
    #[error("payment was not accepted (HTTP {status}): {reason}")]
    Declined { status: u16, reason: String },
}

/// What one call paid.
#[derive(Debug, Clone)]
pub struct PaymentMade {
    pub asset: AssetKey,
    pub amount: U256,
    /// The amount in the asset's own terms, e.g. `0.017 USDC`.
    pub display: String,
    pub pay_to: String,
    /// The server's settlement answer (`transaction` holds the hash).
    pub settlement: Option<SettleResponse>,
}

/// A response, with what was paid for it (nothing when no 402 came back).
#[derive(Debug)]
pub struct PaidResponse {
    pub response: Response,
    pub payment: Option<PaymentMade>,
    /// A receipt from an earlier bundle unlocked this call.
    pub receipt_used: bool,
}

/// An HTTP client that pays x402 challenges within a spend policy.
pub struct PayingClient {
    http: reqwest::Client,
    evm: Option<EvmWallet>,
    svm: Option<SvmWallet>,
    policy: SpendPolicy,
    spending: Arc<Spending>,
    networks: Networks,
    receipts: Mutex<ReceiptBook>,
}

impl PayingClient {
    /// A client paying from `wallet` under `policy`, recording spend in `spending`.
    pub fn new(wallet: EvmWallet, policy: SpendPolicy, spending: Arc<Spending>) -> Self {
        Self::with_wallets(Some(wallet), None, policy, spending)
    }

    /// A client paying EVM offers from `evm` and Solana offers from `svm`; offers on a chain
    /// without a wallet are skipped.
    pub fn with_wallets(
        evm: Option<EvmWallet>,
        svm: Option<SvmWallet>,
        policy: SpendPolicy,
        spending: Arc<Spending>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .redirect(same_origin_redirects())
            .build()
            .unwrap_or_default();
        Self {
            http,
            evm,
            svm,
            policy,
            spending,
            networks: Networks::default(),
            receipts: Mutex::default(),
        }
    }

    /// The underlying HTTP client, for building requests.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Spending so far, shared with other clients on the same record.
    pub fn spending(&self) -> &Arc<Spending> {
        &self.spending
    }

    /// GETs `url`, paying if asked.
    pub async fn get(&self, url: &str) -> Result<PaidResponse, ClientError> {
        let req = self.http.get(url).build()?;
        self.execute(req).await
    }

    /// Sends `req`; on 402 pays one acceptable offer and retries once.
    pub async fn execute(&self, mut req: Request) -> Result<PaidResponse, ClientError> {
        let url = req.url().clone();
        let retry = req.try_clone().ok_or(ClientError::NotReplayable)?;
        let presented = self.receipts.lock().expect("receipts lock").pick(&url);
        if let Some(v) = presented.as_ref().and_then(|t| t.parse().ok()) {
            req.headers_mut().insert(RECEIPT_HEADER, v);
        }
        let first = self.http.execute(req).await?;
        if first.status() != StatusCode::PAYMENT_REQUIRED {
            self.keep_receipt(&url, &first);
            return Ok(PaidResponse {
                receipt_used: presented.is_some(),
                response: first,
                payment: None,
            });
        }
        let headers = first.headers().clone();
        let body = first.bytes().await?;
        let challenge = read_challenge(&headers, &body, &self.networks)?;
        if let Some(token) = &presented {
            let why = challenge.error.as_deref().unwrap_or_default();
            self.receipts
                .lock()
                .expect("receipts lock")
                .refused(&url, token, why);
        }
        let (offer, key) = self.choose(&challenge.offers)?;
        let budget = self.policy.budget.get(&key).copied();
        self.spending
            .reserve(&key, offer.amount, budget)
            .map_err(|e| self.over_budget(e, &key, offer))?;
        let (name, value) = match self.payment_header(offer).await {
            Ok(h) => h,
            Err(e) => {
                self.spending.release(&key, offer.amount)?;
                return Err(e);
            }
        };
        let response = self.send_paid(retry, name, &value).await?;
        self.keep_receipt(&url, &response);
        let settlement = settlement_of(&response);
        let status = response.status();
        let landed = settlement.as_ref().is_some_and(|s| {
            s.success || s.error_reason.as_deref() == Some(reason::SETTLEMENT_PENDING)
        });
        // A 2xx without a settlement header is counted as paid: never under-count a budget.
        if !status.is_success() && !landed {
            self.spending.release(&key, offer.amount)?;
            if matches!(
                status,
                StatusCode::PAYMENT_REQUIRED | StatusCode::PRECONDITION_FAILED
            ) {
                let reason = settlement
                    .and_then(|s| s.error_reason)
                    .or_else(|| challenge_error(response.headers()))
                    .unwrap_or_else(|| format!("HTTP {status}"));
                return Err(ClientError::Declined {
                    status: status.as_u16(),
                    reason,
                });
            }
            // The server failed after verifying: nothing was settled, so nothing was spent.
            return Ok(PaidResponse {
                response,
                payment: None,
                receipt_used: false,
            });
        }
        let payment = PaymentMade {
            display: self.policy.describe(&key, offer.amount),
            asset: key,
            amount: offer.amount,
            pay_to: offer.requirements.pay_to.clone(),
            settlement,
        };
        Ok(PaidResponse {
            response,
            payment: Some(payment),
            receipt_used: false,
        })
    }

    fn keep_receipt(&self, url: &reqwest::Url, resp: &Response) {
        if let Some(t) = resp
            .headers()
            .get(RECEIPT_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            self.receipts
                .lock()
                .expect("receipts lock")
                .keep(url, t.to_string());
        }
    }

    fn choose<'a>(&self, offers: &'a [Offer]) -> Result<(&'a Offer, AssetKey), ClientError> {
        let mut why = Vec::new();
        for offer in self.policy.ordered(offers) {
            let key = AssetKey::new(offer.network.caip2(), &offer.requirements.asset);
            let wallet = match offer.network.family() {
                NetworkFamily::Evm(_) => self.evm.is_some(),
                NetworkFamily::Solana(_) => self.svm.is_some(),
            };
            if !wallet {
                why.push(format!(
                    "{}: no wallet for {}",
                    self.policy.describe(&key, offer.amount),
                    offer.network
                ));
                continue;
            }
            let spent = self.spending.spent(&key)?;
            match self.policy.check(offer, spent) {
                Ok(key) => return Ok((offer, key)),
                Err(e) => why.push(format!("{}: {e}", self.policy.describe(&key, offer.amount))),
            }
        }
        Err(PolicyError::NoAcceptableOffer(why).into())
    }

    fn over_budget(&self, e: SpendingError, key: &AssetKey, offer: &Offer) -> ClientError {
        match e {
            SpendingError::OverBudget { spent, budget, .. } => PolicyError::OverBudget {
                asked: self.policy.describe(key, offer.amount),
                budget: self.policy.describe(key, budget),
                spent: self.policy.describe(key, spent),
            }
            .into(),
            other => other.into(),
        }
    }

    async fn payment_header(&self, offer: &Offer) -> Result<(&'static str, String), ClientError> {
        let missing = |chain: &str| WalletError::Key(format!("no {chain} wallet configured"));
        let payload = match offer.network.family() {
            NetworkFamily::Evm(_) => self
                .evm
                .as_ref()
                .ok_or_else(|| missing("EVM"))?
                .sign(offer)?,
            NetworkFamily::Solana(_) => {
                self.svm
                    .as_ref()
                    .ok_or_else(|| missing("Solana"))?
                    .sign(offer)
                    .await?
            }
        };
        Ok(match offer.version {
            1 => {
                let network = offer.requirements.network.clone();
                let p = PaymentPayloadV1 {
                    x402_version: 1,
                    scheme: offer.requirements.scheme.clone(),
                    network,
                    payload,
                };
                ("X-PAYMENT", encode_header(&p))
            }
            _ => {
                let p = PaymentPayload {
                    x402_version: 2,
                    resource: offer.resource.clone(),
                    accepted: offer.requirements.clone(),
                    payload,
                    extensions: offer.extensions.clone().map(with_payment_id),
                };
                ("PAYMENT-SIGNATURE", encode_header(&p))
            }
        })
    }

    async fn send_paid(
        &self,
        req: Request,
        name: &'static str,
        value: &str,
    ) -> Result<Response, ClientError> {
        let mut last = None;
        for _ in 0..=RESENDS {
            let mut r = req.try_clone().ok_or(ClientError::NotReplayable)?;
            r.headers_mut().insert(
                name,
                value.parse().map_err(|_| ClientError::Declined {
                    status: 0,
                    reason: "payment header is not a valid header value".into(),
                })?,
            );
            match self.http.execute(r).await {
                Ok(resp) => return Ok(resp),
                Err(e) => {
                    tracing::warn!(error = %e, "paid request failed in transit; resending the same signed payment");
                    last = Some(e);
                }
            }
        }
        Err(last.expect("at least one attempt").into())
    }
}

/// Follows redirects only within the origin first asked: a payment or receipt header must never
/// travel to another host (reqwest keeps custom headers across hosts).
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|u| u.origin() == attempt.url().origin());
        if attempt.previous().len() > 10 {
            attempt.error("too many redirects")
        } else if same {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Echoes the server's extensions and, when it offers payment-identifier, adds this payment's
/// id (`pay_` + 32 hex). The id is minted once per signed payment, so every resend of it carries
/// the same id and a server can answer a retry from its cache instead of charging again.
fn with_payment_id(mut ext: tollgate_proto::v2::Object) -> tollgate_proto::v2::Object {
    if let Some(serde_json::Value::Object(entry)) =
        ext.get_mut(tollgate_proto::payment_id::PAYMENT_IDENTIFIER)
    {
        let id = format!(
            "pay_{}",
            alloy::hex::encode(&alloy::primitives::B256::random()[..16])
        );
        let info = entry.entry("info").or_insert_with(|| serde_json::json!({}));
        if let serde_json::Value::Object(info) = info {
            info.insert("id".into(), serde_json::Value::String(id));
        }
    }
    ext
}

/// The `error` of a v2 challenge header, e.g. `permit2_allowance_required` on a 412.
fn challenge_error(h: &reqwest::header::HeaderMap) -> Option<String> {
    let pr: tollgate_proto::v2::PaymentRequired =
        decode_header(h.get("payment-required")?.to_str().ok()?).ok()?;
    pr.error
}

fn settlement_of(resp: &Response) -> Option<SettleResponse> {
    let h = resp
        .headers()
        .get("payment-response")
        .or_else(|| resp.headers().get("x-payment-response"))?;
    decode_header(h.to_str().ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payment_identifier_is_added_only_when_offered_and_keeps_server_info() {
        let offered = json!({"payment-identifier": {"info": {"required": false}, "schema": {}}, "bazaar": {"info": {"x": 1}}});
        let out = with_payment_id(offered.as_object().unwrap().clone());
        let info = &out["payment-identifier"]["info"];
        let id = info["id"].as_str().unwrap();
        assert!(
            id.starts_with("pay_")
                && id.len() == 36
                && id[4..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{id}"
        );
        assert_eq!(
            info["required"],
            json!(false),
            "server info is echoed, not overwritten"
        );
        assert_eq!(out["bazaar"], offered["bazaar"]);
        let none = with_payment_id(json!({"bazaar": {}}).as_object().unwrap().clone());
        assert!(none.get("payment-identifier").is_none());
    }
}
