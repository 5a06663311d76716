// SPDX-License-Identifier: MIT
// Test contracts for local chains (anvil) only. Not audited; never deploy to a real network.
//
// TestSmartWallet: a minimal ERC-1271 contract wallet. A signature is valid when it is
// a 65-byte r||s||v ECDSA signature of the given hash (no prefixing) by the owner set in
// the constructor. Lets tests pay from a contract wallet via the EIP-3009 bytes overload.
// The owner can also make arbitrary calls (e.g. token.approve(PERMIT2, ...)) through execute().
pragma solidity ^0.8.24;

import {SignatureChecker} from "./SignatureChecker.sol";

contract TestSmartWallet {
    address public owner;

    constructor(address owner_) {
        owner = owner_;
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        address recovered = SignatureChecker.recover(hash, signature);
        if (recovered != address(0) && recovered == owner) return SignatureChecker.ERC1271_MAGIC;
        return 0xffffffff;
    }

    function execute(address target, uint256 value, bytes calldata data) external payable returns (bytes memory) {
        require(msg.sender == owner, "caller is not the owner");
        (bool ok, bytes memory ret) = target.call{value: value}(data);
        if (!ok) {
            assembly {
                revert(add(ret, 0x20), mload(ret))
            }
        }
        return ret;
    }

    receive() external payable {}
}
