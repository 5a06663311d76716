// SPDX-License-Identifier: MIT
// Test contracts for local chains (anvil) only. Not audited; never deploy to a real network.
//
// X402UptoPermit2Proxy: our own implementation of the interface of the x402 "upto" Permit2
// proxy. The payer signs a Permit2 transfer of at most `permit.permitted.amount` whose witness
// names the payee and the one facilitator allowed to settle it; that facilitator then moves
// any `amount` up to the maximum. Tests place its RUNTIME code with anvil_setCode at
// 0x4020A4f3b7b90ccA423B9fabCc0CE57C6C240002.
pragma solidity ^0.8.24;

import {ISignatureTransfer, X402BasePermit2Proxy} from "./X402BasePermit2Proxy.sol";

contract X402UptoPermit2Proxy is X402BasePermit2Proxy {
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

    error AmountExceedsPermitted();
    error UnauthorizedFacilitator();

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

    /// Like settle(), after first trying the token's EIP-2612 permit for the whole maximum.
    function settleWithPermit(
        EIP2612Permit calldata permit2612,
        ISignatureTransfer.PermitTransferFrom calldata permit,
        uint256 amount,
        address owner,
        Witness calldata witness,
        bytes calldata signature
    ) external nonReentrant {
        _authorize(permit, amount, witness);
        _permitPermit2(permit2612, permit.permitted.token, owner, permit.permitted.amount);
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
        bytes32 witnessHash =
            keccak256(abi.encode(WITNESS_TYPEHASH, witness.to, witness.facilitator, witness.validAfter));
        _transfer(
            permit, amount, owner, witness.to, witness.validAfter, witnessHash, WITNESS_TYPE_STRING, signature
        );
    }
}
