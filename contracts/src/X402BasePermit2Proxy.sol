// SPDX-License-Identifier: MIT
// Test contracts for local chains (anvil) only. Not audited; never deploy to a real network.
//
// X402BasePermit2Proxy: what the x402 exact and upto Permit2 proxies share: the canonical
// Permit2 address, the EIP-2612 permit a settlement may carry, a reentrancy lock, and the one
// witness transfer through Permit2 with its checks. The proxies are placed as RUNTIME code with
// anvil_setCode, so nothing here needs a constructor, immutables or storage set up: PERMIT2 is
// a constant and the lock starts at zero (unlocked).
pragma solidity ^0.8.24;

interface ISignatureTransfer {
    struct TokenPermissions {
        address token;
        uint256 amount;
    }

    struct PermitTransferFrom {
        TokenPermissions permitted;
        uint256 nonce;
        uint256 deadline;
    }

    struct SignatureTransferDetails {
        address to;
        uint256 requestedAmount;
    }

    function permitWitnessTransferFrom(
        PermitTransferFrom calldata permit,
        SignatureTransferDetails calldata transferDetails,
        address owner,
        bytes32 witness,
        string calldata witnessTypeString,
        bytes calldata signature
    ) external;
}

interface IERC20Permit {
    function permit(address owner, address spender, uint256 value, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external;
}

abstract contract X402BasePermit2Proxy {
    /// Canonical Permit2 address (same on every chain; must be present on the local chain).
    address public constant PERMIT2 = 0x000000000022D473030F116dDEE9F6B43aC78BA3;

    struct EIP2612Permit {
        uint256 value;
        uint256 deadline;
        bytes32 r;
        bytes32 s;
        uint8 v;
    }

    event Settled();
    event SettledWithPermit();

    error InvalidAmount();
    error InvalidDestination();
    error InvalidOwner();
    error PaymentTooEarly();
    error Permit2612AmountMismatch();
    error Reentrancy();

    uint256 private _locked;

    modifier nonReentrant() {
        if (_locked != 0) revert Reentrancy();
        _locked = 1;
        _;
        _locked = 0;
    }

    /// Tries the token's EIP-2612 permit(owner -> PERMIT2), which must be for exactly
    /// `permitted` (as the deployed x402 proxies demand). A failing permit is ignored: the
    /// Permit2 transfer still works if the allowance exists.
    function _permitPermit2(EIP2612Permit calldata permit2612, address token, address owner, uint256 permitted)
        internal
    {
        if (permit2612.value != permitted) revert Permit2612AmountMismatch();
        try IERC20Permit(token).permit(
            owner, PERMIT2, permit2612.value, permit2612.deadline, permit2612.v, permit2612.r, permit2612.s
        ) {} catch {}
    }

    /// Moves `amount` from `owner` to `to` through Permit2, under the payer's signature over
    /// `permit` and the witness hashed as `witnessHash` of type `witnessTypeString`.
    function _transfer(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        address to,
        uint256 validAfter,
        bytes32 witnessHash,
        string memory witnessTypeString,
        bytes calldata signature
    ) internal {
        if (amount == 0) revert InvalidAmount();
        if (owner == address(0)) revert InvalidOwner();
        if (to == address(0)) revert InvalidDestination();
        if (block.timestamp < validAfter) revert PaymentTooEarly();
        ISignatureTransfer(PERMIT2).permitWitnessTransferFrom(
            permit,
            ISignatureTransfer.SignatureTransferDetails({to: to, requestedAmount: amount}),
            owner,
            witnessHash,
            witnessTypeString,
            signature
        );
    }
}
