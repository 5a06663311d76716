//! The x402 reason strings, character for character as the reference SDKs emit them.

pub const INSUFFICIENT_FUNDS: &str = "insufficient_funds";
pub const INVALID_NETWORK: &str = "invalid_network";
pub const INVALID_PAYLOAD: &str = "invalid_payload";
pub const INVALID_PAYMENT_REQUIREMENTS: &str = "invalid_payment_requirements";
pub const INVALID_SCHEME: &str = "invalid_scheme";
pub const UNSUPPORTED_SCHEME: &str = "unsupported_scheme";
pub const INVALID_X402_VERSION: &str = "invalid_x402_version";
pub const INVALID_TRANSACTION_STATE: &str = "invalid_transaction_state";
pub const UNEXPECTED_VERIFY_ERROR: &str = "unexpected_verify_error";
pub const UNEXPECTED_SETTLE_ERROR: &str = "unexpected_settle_error";
pub const DUPLICATE_SETTLEMENT: &str = "duplicate_settlement";
pub const SETTLEMENT_PENDING: &str = "settlement_pending";

pub const EVM_SCHEME: &str = "invalid_exact_evm_scheme";
pub const EVM_NETWORK_MISMATCH: &str = "invalid_exact_evm_network_mismatch";
pub const EVM_MISSING_EIP712_DOMAIN: &str = "invalid_exact_evm_missing_eip712_domain";
pub const EVM_RECIPIENT_MISMATCH: &str = "invalid_exact_evm_recipient_mismatch";
pub const EVM_SIGNATURE: &str = "invalid_exact_evm_signature";
pub const EVM_VALID_BEFORE: &str = "invalid_exact_evm_payload_authorization_valid_before";
pub const EVM_VALID_AFTER: &str = "invalid_exact_evm_payload_authorization_valid_after";
pub const EVM_AUTHORIZATION_VALUE: &str = "invalid_exact_evm_authorization_value";
pub const EVM_UNDEPLOYED_SMART_WALLET: &str = "invalid_exact_evm_payload_undeployed_smart_wallet";
pub const EVM_TRANSACTION_FAILED: &str = "invalid_exact_evm_transaction_failed";
pub const EVM_TOKEN_NAME_MISMATCH: &str = "invalid_exact_evm_token_name_mismatch";
pub const EVM_TOKEN_VERSION_MISMATCH: &str = "invalid_exact_evm_token_version_mismatch";
pub const EVM_EIP3009_NOT_SUPPORTED: &str = "invalid_exact_evm_eip3009_not_supported";
pub const EVM_NONCE_ALREADY_USED: &str = "invalid_exact_evm_nonce_already_used";
pub const EVM_INSUFFICIENT_BALANCE: &str = "invalid_exact_evm_insufficient_balance";
pub const EVM_SIMULATION_FAILED: &str = "invalid_exact_evm_transaction_simulation_failed";
pub const ASSET_NOT_DEPLOYED: &str = "asset_not_deployed_contract";

pub const UNSUPPORTED_PAYLOAD_TYPE: &str = "unsupported_payload_type";

pub const PERMIT2_SPENDER: &str = "invalid_permit2_spender";
pub const PERMIT2_RECIPIENT_MISMATCH: &str = "invalid_permit2_recipient_mismatch";
pub const PERMIT2_DEADLINE_EXPIRED: &str = "permit2_deadline_expired";
pub const PERMIT2_NOT_YET_VALID: &str = "permit2_not_yet_valid";
pub const PERMIT2_AMOUNT_MISMATCH: &str = "permit2_amount_mismatch";
pub const PERMIT2_TOKEN_MISMATCH: &str = "permit2_token_mismatch";
pub const PERMIT2_SIGNATURE: &str = "invalid_permit2_signature";
pub const PERMIT2_ALLOWANCE_REQUIRED: &str = "permit2_allowance_required";
pub const PERMIT2_SIMULATION_FAILED: &str = "permit2_simulation_failed";
pub const PERMIT2_INSUFFICIENT_BALANCE: &str = "permit2_insufficient_balance";
pub const PERMIT2_PROXY_NOT_DEPLOYED: &str = "permit2_proxy_not_deployed";
pub const PERMIT2_INVALID_AMOUNT: &str = "permit2_invalid_amount";
pub const PERMIT2_INVALID_DESTINATION: &str = "permit2_invalid_destination";
pub const PERMIT2_INVALID_OWNER: &str = "permit2_invalid_owner";
pub const PERMIT2_PAYMENT_TOO_EARLY: &str = "permit2_payment_too_early";
pub const PERMIT2_INVALID_NONCE: &str = "permit2_invalid_nonce";
pub const PERMIT2_2612_AMOUNT_MISMATCH: &str = "permit2_2612_amount_mismatch";

// `upto` on EVM (Permit2 through the upto proxy): the TypeScript reference's names.
pub const UPTO_SCHEME: &str = "invalid_upto_evm_scheme";
pub const UPTO_NETWORK_MISMATCH: &str = "invalid_upto_evm_network_mismatch";
pub const UPTO_SETTLEMENT_EXCEEDS_AMOUNT: &str =
    "invalid_upto_evm_payload_settlement_exceeds_amount";
pub const UPTO_TRANSACTION_FAILED: &str = "invalid_upto_evm_transaction_failed";
pub const UPTO_AMOUNT_EXCEEDS_PERMITTED: &str = "upto_amount_exceeds_permitted";
pub const UPTO_UNAUTHORIZED_FACILITATOR: &str = "upto_unauthorized_facilitator";
pub const UPTO_FACILITATOR_MISMATCH: &str = "upto_facilitator_mismatch";

pub const EIP2612_EXTENSION_FORMAT: &str = "invalid_eip2612_extension_format";
pub const EIP2612_FROM_MISMATCH: &str = "eip2612_from_mismatch";
pub const EIP2612_ASSET_MISMATCH: &str = "eip2612_asset_mismatch";
pub const EIP2612_SPENDER_NOT_PERMIT2: &str = "eip2612_spender_not_permit2";
pub const EIP2612_DEADLINE_EXPIRED: &str = "eip2612_deadline_expired";

// `exact` on SVM: the TypeScript reference's names, plus the spec's full fee-payer scan.
pub const NETWORK_MISMATCH: &str = "network_mismatch";
pub const SVM_MISSING_FEE_PAYER: &str = "invalid_exact_svm_payload_missing_fee_payer";
pub const SVM_FEE_PAYER_NOT_MANAGED: &str = "fee_payer_not_managed_by_facilitator";
pub const SVM_FEE_PAYER_MISMATCH: &str = "invalid_exact_svm_payload_fee_payer_mismatch";
pub const SVM_TRANSACTION: &str = "invalid_exact_svm_payload_transaction";
pub const SVM_UNDECODABLE: &str = "invalid_exact_svm_payload_transaction_could_not_be_decoded";
pub const SVM_EXCESSIVE_SIGNERS: &str = "invalid_exact_svm_payload_excessive_signers";
pub const SVM_INSTRUCTIONS_LENGTH: &str =
    "invalid_exact_svm_payload_transaction_instructions_length";
pub const SVM_COMPUTE_LIMIT: &str =
    "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction";
pub const SVM_COMPUTE_LIMIT_TOO_HIGH: &str =
    "invalid_exact_svm_payload_transaction_instructions_compute_limit_instruction_too_high";
pub const SVM_COMPUTE_PRICE: &str =
    "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction";
pub const SVM_COMPUTE_PRICE_TOO_HIGH: &str =
    "invalid_exact_svm_payload_transaction_instructions_compute_price_instruction_too_high";
pub const SVM_NO_TRANSFER: &str = "invalid_exact_svm_payload_no_transfer_instruction";
pub const SVM_FEE_PAYER_TRANSFERRING: &str =
    "invalid_exact_svm_payload_transaction_fee_payer_transferring_funds";
pub const SVM_FEE_PAYER_IN_ACCOUNTS: &str =
    "invalid_exact_svm_payload_transaction_fee_payer_included_in_instruction_accounts";
pub const SVM_MINT_MISMATCH: &str = "invalid_exact_svm_payload_mint_mismatch";
pub const SVM_RECIPIENT_MISMATCH: &str = "invalid_exact_svm_payload_recipient_mismatch";
pub const SVM_AMOUNT_MISMATCH: &str = "invalid_exact_svm_payload_amount_mismatch";
pub const SVM_UNKNOWN_FOURTH: &str = "invalid_exact_svm_payload_unknown_fourth_instruction";
pub const SVM_UNKNOWN_FIFTH: &str = "invalid_exact_svm_payload_unknown_fifth_instruction";
pub const SVM_UNKNOWN_SIXTH: &str = "invalid_exact_svm_payload_unknown_sixth_instruction";
pub const SVM_MEMO_COUNT: &str = "invalid_exact_svm_payload_memo_count";
pub const SVM_MEMO_MISMATCH: &str = "invalid_exact_svm_payload_memo_mismatch";
pub const SVM_SIMULATION_FAILED: &str = "transaction_simulation_failed";
pub const SVM_TRANSACTION_FAILED: &str = "transaction_failed";

// Tollgate's own refusals: what this facilitator will not pay gas for.
/// The requirements name an asset outside the facilitator's allowlist.
pub const ASSET_NOT_ALLOWED: &str = "asset_not_allowed";
/// The requirements pay an address outside the facilitator's payTo allowlist.
pub const PAY_TO_NOT_ALLOWED: &str = "pay_to_not_allowed";

/// Receipt refusals: a Tollgate gateway names them in a 402's `error` as `<reason>: <detail>`
/// (see [`code_of`]), and the paying client acts on them.
pub const RECEIPT_MALFORMED: &str = "receipt_malformed";
pub const RECEIPT_UNKNOWN_KEY: &str = "receipt_unknown_key";
pub const RECEIPT_BAD_SIGNATURE: &str = "receipt_bad_signature";
pub const RECEIPT_EXPIRED: &str = "receipt_expired";
pub const RECEIPT_WRONG_ROUTE: &str = "receipt_wrong_route";
pub const RECEIPT_UNKNOWN: &str = "receipt_unknown";
pub const RECEIPT_MISMATCH: &str = "receipt_mismatch";
pub const RECEIPT_EXHAUSTED: &str = "receipt_exhausted";
pub const RECEIPT_REVOKED: &str = "receipt_revoked";
/// The calls left are held by another gateway instance until it uses or gives them back (503
/// with `Retry-After`), not used up.
pub const RECEIPT_CALLS_HELD: &str = "receipt_calls_held";
pub const RECEIPT_STORE_UNAVAILABLE: &str = "receipt_store_unavailable";
pub const RECEIPTS_DISABLED: &str = "receipts_disabled";

/// The reason of an `error` text written as `<reason>: <detail>` (or the whole text when it has
/// no detail), so a reader compares codes, never prose.
pub fn code_of(error: &str) -> &str {
    error.split_once(':').map_or(error, |(code, _)| code).trim()
}
