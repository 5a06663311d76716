// SPDX-License-Identifier: MIT
// Test contracts for local chains (anvil) only. Not audited; never deploy to a real network.
//
// TestUSDC: a 6-decimal "USDC" with the parts of Circle's FiatToken v2.2 that x402 uses:
// EIP-3009 transferWithAuthorization (v,r,s and bytes overloads, the bytes one accepting
// ERC-1271 signatures from contract wallets) and EIP-2612 permit.
// The EIP-712 domain name/version come from the constructor, e.g. ("USD Coin", "2").
pragma solidity ^0.8.24;

import {ERC20Permit} from "./ERC20Permit.sol";
import {SignatureChecker} from "./SignatureChecker.sol";

contract TestUSDC is ERC20Permit {
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH = keccak256(
        "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
    );

    mapping(address => mapping(bytes32 => bool)) internal _authorizationStates;

    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);

    constructor(string memory name_, string memory version_) ERC20Permit(name_, "USDC", version_) {}

    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// True once `authorizer` used `nonce`.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizationStates[authorizer][nonce];
    }

    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        transferWithAuthorization(from, to, value, validAfter, validBefore, nonce, abi.encodePacked(r, s, v));
    }

    /// The overload contract wallets sign for: `signature` is checked with ERC-1271 when `from`
    /// has code.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) public {
        require(block.timestamp > validAfter, "authorization is not yet valid");
        require(block.timestamp < validBefore, "authorization is expired");
        require(!_authorizationStates[from][nonce], "authorization is used");
        bytes32 structHash =
            keccak256(abi.encode(TRANSFER_WITH_AUTHORIZATION_TYPEHASH, from, to, value, validAfter, validBefore, nonce));
        require(SignatureChecker.isValid(from, _hashTypedData(structHash), signature), "invalid signature");

        _authorizationStates[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
        _transfer(from, to, value);
    }

}
