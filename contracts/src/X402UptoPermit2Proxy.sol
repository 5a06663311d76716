// SPDX-License-Identifier: MIT
// Test contracts for local chains (anvil) only. Not audited; never deploy to a real network.
//
// X402UptoPermit2Proxy: our own implementation of the interface of the x402 "upto" Permit2
// proxy. The payer signs a Permit2 transfer of at most `permit.permitted.amount` whose witness
// names the payee and the one facilitator allowed to settle it; that facilitator then moves
// any `amount` up to the maximum. Tests place its RUNTIME code with anvil_setCode at
// 0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002, so it has no constructor, no immutables and no
// storage that needs setting: PERMIT2 is a constant, the reentrancy lock starts at zero.
pragma solidity ^0.8.24;

import {ISignatureTransfer, IERC20Permit} from "./X402ExactPermit2Proxy.sol";

contract X402UptoPermit2Proxy {
    /// Canonical Permit2 address (same on every chain; must be present on the local chain).
    address public constant PERMIT2 = 0x000000000022D473030F116dDEE9F6B43aC78BA3;

    /// Appended by Permit2 to "PermitWitnessTransferFrom(TokenPermissions permitted,address spender,uint256 nonce,uint256 deadline,".
    string public constant WITNESS_TYPE_STRING =
        "Witness witness)TokenPermissions(address token,uint256 amount)Witness(address to,address facilitator,uint256 validAfter)";
    bytes32 public constant WITNESS_TYPEHASH =
        keccak256("Witness(address to,address facilitator,uint256 validAfter)");

    struct Witness {
        address to;
        address facilitator;
        uint256 validAfter;
    }

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
    error AmountExceedsPermitted();
    error UnauthorizedFacilitator();
    error Permit2612AmountMismatch();
    error Reentrancy();

    uint256 private _locked;

    modifier nonReentrant() {
        if (_locked != 0) revert Reentrancy();
        _locked = 1;
        _;
        _locked = 0;
    }

    /// Pays `amount` (at most permit.permitted.amount, never 0) from `owner` to witness.to
    /// through Permit2; only witness.facilitator may call it.
    function settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _authorize(permit, amount, witness);
        _settle(permit, amount, owner, witness, signature);
        emit Settled();
    }

    /// Like settle(), after first trying the token's EIP-2612 permit(owner -> PERMIT2) for the
    /// whole maximum. A failing permit is ignored: the transfer still works if the allowance
    /// exists.
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _authorize(permit, amount, witness);
        if (permit2612.value != permit.permitted.amount) revert Permit2612AmountMismatch();
        try IERC20Permit(permit.permitted.token).permit(
            owner, PERMIT2, permit2612.value, permit2612.deadline, permit2612.v, permit2612.r, permit2612.s
        ) {} catch {}
        _settle(permit, amount, owner, witness, signature);
        emit SettledWithPermit();
    }

    /// The checks only this proxy makes, in the order of the deployed one: the amount within the
    /// maximum signed, and the caller the facilitator the payer named.
    function _authorize(ISignatureTransfer.PermitTransferFrom calldata permit, uint256 amount, Witness calldata witness)
        internal
        view
    {
        if (amount > permit.permitted.amount) revert AmountExceedsPermitted();
        if (msg.sender != witness.facilitator) revert UnauthorizedFacilitator();
    }

    function _settle(
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) internal {
        if (amount == 0) revert InvalidAmount();
        if (owner == address(0)) revert InvalidOwner();
        if (witness.to == address(0)) revert InvalidDestination();
        if (block.timestamp < witness.validAfter) revert PaymentTooEarly();

        bytes32 witnessHash =
            keccak256(abi.encode(WITNESS_TYPEHASH, witness.to, witness.facilitator, witness.validAfter));
        ISignatureTransfer(PERMIT2).permitWitnessTransferFrom(
            permit,
            ISignatureTransfer.SignatureTransferDetails({to: witness.to, requestedAmount: amount}),
            owner,
            witnessHash,
            WITNESS_TYPE_STRING,
            signature
        );
    }
}
