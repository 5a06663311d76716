// SPDX-License-Identifier: MIT
// Test contracts for local chains (anvil) only. Not audited; never deploy to a real network.
//
// Signature helpers shared by the test tokens and the test smart wallet:
// ECDSA recovery of a 65-byte r||s||v signature (low-s, v in {27,28}) and
// ERC-1271 validation when the signer is a contract, like Circle's SignatureChecker.
pragma solidity ^0.8.24;

interface IERC1271 {
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4);
}

library SignatureChecker {
    bytes4 internal constant ERC1271_MAGIC = 0x1626ba7e;
    // secp256k1n / 2: signatures with a larger s are malleable and refused.
    uint256 internal constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// Signer of `digest`, or address(0) when the signature is malformed or invalid.
    function recover(bytes32 digest, bytes memory signature) internal pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
        if (uint256(s) > HALF_N || (v != 27 && v != 28)) return address(0);
        return ecrecover(digest, v, r, s);
    }

    /// True when `signature` over `digest` is valid for `signer`: ERC-1271 if `signer` has code, ECDSA otherwise.
    function isValid(address signer, bytes32 digest, bytes memory signature) internal view returns (bool) {
        if (signer.code.length > 0) {
            (bool ok, bytes memory ret) =
                signer.staticcall(abi.encodeCall(IERC1271.isValidSignature, (digest, signature)));
            return ok && ret.length >= 32 && abi.decode(ret, (bytes32)) == bytes32(ERC1271_MAGIC);
        }
        address recovered = recover(digest, signature);
        return recovered != address(0) && recovered == signer;
    }
}
