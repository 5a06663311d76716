//! PayingClient: sends a request; on 402 picks an offer the policy allows, reserves the amount,
//! signs, and retries once with the payment (resending the same signed payment on a transport
//! error, so an ambiguous outcome can never pay twice). A payment whose outcome is not proven
//! stays reserved against the budget until the chain proves it unspent (see `reconcile`).

use std::sync::{Arc, Mutex};

use reqwest::{Request, Response, StatusCode};

use tollgate_proto::v2::SettleResponse;
use tollgate_proto::{NetworkFamily, Networks, U256, reason};

use crate::challenge::{ChallengeError, Offer, read_challenge};
use crate::headers::{challenge_error, payment_header, same_origin_redirects, settlement_of};
use crate::outstanding::{Outstanding, Signed};
use crate::policy::{AssetKey, PolicyError, SpendPolicy};
use crate::receipts::ReceiptBook;
use crate::spending::{Spending, SpendingError};
use crate::svm_wallet::SvmWallet;
use crate::wallet::{EvmWallet, WalletError};
use tollgate_proto::headers::{RECEIPT as RECEIPT_HEADER, RECEIPT_CALLS_LEFT};

/// What a paid call cost: an `upto` offer costs the amount its settlement states, when that is
/// within the maximum signed; everything else (and an upto answer that states no amount, or
/// one above the maximum) costs all that was signed for.
fn charged(offer: &Offer, settlement: Option<&SettleResponse>) -> U256 {
    if offer.requirements.scheme != "upto" {
        return offer.amount;
    }
    settlement
        .and_then(|s| s.amount.as_deref())
        .and_then(|a| tollgate_proto::parse_atomic(a).ok())
        .filter(|a| *a <= offer.amount)
        .unwrap_or(offer.amount)
}

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
    /// Atomic units charged: the price of an `exact` offer, the settled amount of an `upto` one.
    pub amount: U256,
    /// Atomic units signed for: the price, or the maximum of an `upto` offer.
    pub authorized: U256,
    /// The charge in the asset's own terms, e.g. `0.017 USDC`, or for `upto`
    /// `0.012 USDC of at most 0.05 USDC`.
    pub display: String,
    pub pay_to: String,
    /// The server's settlement answer (`transaction` holds the hash).
    pub settlement: Option<SettleResponse>,
}

/// A response, with what was paid for it (nothing when no 402 came back, or when the paid
/// retry failed without proof of payment: that payment then stays outstanding).
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
    pub(crate) evm: Option<EvmWallet>,
    pub(crate) svm: Option<SvmWallet>,
    policy: SpendPolicy,
    pub(crate) spending: Arc<Spending>,
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
    ///
    /// A paid retry answered with a 2xx, or with a settlement header saying the payment landed,
    /// counts as paid. Any other answer keeps the payment reserved as outstanding, even a 402
    /// whose reason says the payload was refused (`invalid_exact_evm_payload_signature`): the
    /// client cannot tell an honest refusal from a server that settled and lied, so the money
    /// comes back only when [`PayingClient::reconcile_outstanding`] proves the payment expired
    /// unused on chain (which it tries by itself before refusing a call over budget).
    pub async fn execute(&self, mut req: Request) -> Result<PaidResponse, ClientError> {
        let url = req.url().clone();
        let retry = req.try_clone().ok_or(ClientError::NotReplayable)?;
        let presented = self.receipts.lock().expect("receipts lock").pick(&url);
        if let Some(v) = presented.as_ref().and_then(|t| t.parse().ok()) {
            req.headers_mut().insert(RECEIPT_HEADER, v);
        }
        let first = self.http.execute(req).await?;
        if first.status() != StatusCode::PAYMENT_REQUIRED {
            if let Some(token) = &presented {
                self.forget_if_spent(&url, token, &first);
            }
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
        let (offer, key) = self.reserve_offer(&challenge.offers).await?;
        let signed = match self.sign(offer).await {
            Ok(s) => s,
            Err(e) => {
                self.spending.release(&key, offer.amount)?;
                return Err(e);
            }
        };
        // From here the payment may leave: it is held until paid or proven unspent.
        let id = signed.proof.id();
        let held = self.spending.hold(Outstanding {
            id: id.clone(),
            asset: key.to_string(),
            amount: offer.amount,
            expires: signed.expires,
            proof: signed.proof,
        });
        if let Err(e) = held {
            self.spending.release(&key, offer.amount)?;
            return Err(e.into());
        }
        let (name, value) = payment_header(offer, signed.payload);
        let response = self.send_paid(retry, name, &value).await?;
        self.keep_receipt(&url, &response);
        let settlement = settlement_of(&response);
        let status = response.status();
        let landed = settlement.as_ref().is_some_and(|s| {
            s.success || s.error_reason.as_deref() == Some(reason::SETTLEMENT_PENDING)
        });
        // Anything but a 2xx or a landed settlement is ambiguous: the server may have settled
        // and still answered 402 or 5xx, so the payment stays outstanding (reserved) until
        // the chain proves it unspent. A 2xx without a settlement header counts as paid.
        if !status.is_success() && !landed {
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
            return Ok(PaidResponse {
                response,
                payment: None,
                receipt_used: false,
            });
        }
        let charged = charged(offer, settlement.as_ref());
        if let Err(e) = self.spending.settled(&id, charged) {
            tracing::warn!(error = %e, "paid, but the spending record kept it outstanding");
        }
        let mut display = self.policy.describe(&key, charged);
        if offer.requirements.scheme == "upto" {
            let max = self.policy.describe(&key, offer.amount);
            display = format!("{display} of at most {max}");
        }
        let payment = PaymentMade {
            display,
            asset: key,
            amount: charged,
            authorized: offer.amount,
            pay_to: offer.requirements.pay_to.clone(),
            settlement,
        };
        Ok(PaidResponse {
            response,
            payment: Some(payment),
            receipt_used: false,
        })
    }

    /// Stops presenting a receipt whose answer says it has no call left.
    fn forget_if_spent(&self, url: &reqwest::Url, token: &str, resp: &Response) {
        let left = resp
            .headers()
            .get(RECEIPT_CALLS_LEFT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if left == Some(0) {
            self.receipts.lock().expect("receipts lock").refused(
                url,
                token,
                reason::RECEIPT_EXHAUSTED,
            );
        }
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

    /// Picks an offer the policy allows and reserves its amount; all or nothing.
    pub(crate) fn try_reserve<'a>(
        &self,
        offers: &'a [Offer],
    ) -> Result<(&'a Offer, AssetKey), ClientError> {
        let (offer, key) = self.choose(offers)?;
        let budget = self.policy.budget.get(&key).copied();
        self.spending
            .reserve(&key, offer.amount, budget)
            .map_err(|e| self.over_budget(e, &key, offer))?;
        Ok((offer, key))
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

    async fn sign(&self, offer: &Offer) -> Result<Signed, ClientError> {
        let missing = |chain: &str| WalletError::Key(format!("no {chain} wallet configured"));
        Ok(match offer.network.family() {
            NetworkFamily::Evm(_) => self
                .evm
                .as_ref()
                .ok_or_else(|| missing("EVM"))?
                .sign(offer, self.policy.max_timeout_secs)?,
            NetworkFamily::Solana(_) => {
                self.svm
                    .as_ref()
                    .ok_or_else(|| missing("Solana"))?
                    .sign(offer)
                    .await?
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
