//! The contracts an `exact` payment goes through: their canonical addresses, the ABI bindings
//! the facilitator calls, and the EIP-712 types a payer signs. Everything else builds on these.

use alloy::primitives::{Address, address};

/// The canonical Permit2 (same address on every chain).
pub const PERMIT2: Address = address!("000000000022D473030F116dDEE9F6B43aC78BA3");

/// The x402 exact Permit2 proxy: the only spender a payer's Permit2 signature may name.
pub const EXACT_PERMIT2_PROXY: Address = address!("402085c248EeA27D92E8b30b2C58ed07f9E20001");

/// The x402 upto Permit2 proxy: the spender of an `upto` payment, settling any amount up to
/// the signed maximum, and only for the facilitator the payer named.
pub const UPTO_PERMIT2_PROXY: Address = address!("4020A4f3b7b90ccA423B9fabCc0CE57C6C240002");

alloy::sol! {
    /// A token with EIP-3009 (USDC): both signature forms, so ERC-1271 wallets can pay.
    interface IEip3009 {
        function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external;
        function transferWithAuthorization(address from, address to, uint256 value, uint256 validAfter, uint256 validBefore, bytes32 nonce, bytes signature) external;
        function authorizationState(address authorizer, bytes32 nonce) external view returns (bool);
        function balanceOf(address account) external view returns (uint256);
        function name() external view returns (string);
        function version() external view returns (string);
    }

    /// The EIP-712 message a payer signs to authorize one EIP-3009 transfer.
    #[derive(Debug)]
    struct TransferWithAuthorization {
        address from;
        address to;
        uint256 value;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 nonce;
    }
}

alloy::sol! {
    /// The x402 exact Permit2 proxy: pulls a Permit2 witness transfer to `witness.to`.
    interface IX402ExactPermit2Proxy {
        struct TokenPermissions { address token; uint256 amount; }
        struct PermitTransferFrom { TokenPermissions permitted; uint256 nonce; uint256 deadline; }
        struct Witness { address to; uint256 validAfter; }
        struct EIP2612Permit { uint256 value; uint256 deadline; bytes32 r; bytes32 s; uint8 v; }
        function settle(PermitTransferFrom permit, address owner, Witness witness, bytes signature) external;
        function settleWithPermit(EIP2612Permit permit2612, PermitTransferFrom permit, address owner, Witness witness, bytes signature) external;
    }

    /// The x402 upto Permit2 proxy: pulls `amount` (at most the permitted maximum) to
    /// `witness.to`, called by `witness.facilitator` only.
    interface IX402UptoPermit2Proxy {
        struct Witness { address to; address facilitator; uint256 validAfter; }
        function settle(IX402ExactPermit2Proxy.PermitTransferFrom permit, uint256 amount, address owner, Witness witness, bytes signature) external;
        function settleWithPermit(IX402ExactPermit2Proxy.EIP2612Permit permit2612, IX402ExactPermit2Proxy.PermitTransferFrom permit, uint256 amount, address owner, Witness witness, bytes signature) external;
    }

    /// The ERC-20 reads the Permit2 diagnostic needs.
    interface IErc20 {
        function balanceOf(address account) external view returns (uint256);
        function allowance(address owner, address spender) external view returns (uint256);
    }

    /// Permit2's unordered nonce bitmap, read when a simulation fails.
    interface IPermit2Nonces {
        function nonceBitmap(address owner, uint256 wordPos) external view returns (uint256);
    }
}

/// EIP-712 types a payer signs for Permit2 and EIP-2612; kept apart so their names stay plain.
pub mod typed {
    alloy::sol! {
        /// Permit2's token-and-amount pair.
        #[derive(Debug)]
        struct TokenPermissions {
            address token;
            uint256 amount;
        }

        /// The x402 witness: the recipient and the earliest settlement time.
        #[derive(Debug)]
        struct Witness {
            address to;
            uint256 validAfter;
        }

        /// Permit2's witness transfer as signed by the payer (spender = the x402 proxy).
        #[derive(Debug)]
        struct PermitWitnessTransferFrom {
            TokenPermissions permitted;
            address spender;
            uint256 nonce;
            uint256 deadline;
            Witness witness;
        }

        /// EIP-2612 `permit` (owner approves spender for value), signed over the token's domain.
        #[derive(Debug)]
        struct Permit {
            address owner;
            address spender;
            uint256 value;
            uint256 nonce;
            uint256 deadline;
        }
    }
}

/// An authorization's EIP-712 message: what the payer signs and the contract checks.
pub(crate) trait Typed {
    type Message: alloy::sol_types::SolStruct;

    /// The EIP-712 message signed.
    fn typed(&self) -> Self::Message;
}
