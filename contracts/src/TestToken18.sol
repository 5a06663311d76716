// SPDX-License-Identifier: MIT
// Test contracts for local chains (anvil) only. Not audited; never deploy to a real network.
//
// TestToken18: an 18-decimal ERC-20 (a "TMAI"-like token) with EIP-2612 permit but
// NO EIP-3009, for the x402 Permit2 payment path. Owner-only mint.
pragma solidity ^0.8.24;

import {ERC20Permit} from "./ERC20Permit.sol";

contract TestToken18 is ERC20Permit {
    constructor(string memory name_, string memory symbol_, string memory version_)
        ERC20Permit(name_, symbol_, version_)
    {}

    function decimals() public pure override returns (uint8) {
        return 18;
    }
}
