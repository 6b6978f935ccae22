// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ValidatorQuorum} from "./ValidatorQuorum.sol";

/// @title Claims
/// @notice A worker's claim as EIP-712 typed data, exactly as `veritas-primitives` signs it.
abstract contract Claims is ValidatorQuorum {
    struct Claim {
        bytes32 requestId;
        bytes32 modelId;
        bytes32 inputHash;
        bytes32 outputHash;
        bytes32 paramsHash;
        uint8 mode;
        address worker;
        uint64 timestamp;
    }

    bytes32 public constant CLAIM_TYPEHASH = keccak256(
        "Claim(bytes32 requestId,bytes32 modelId,bytes32 inputHash,bytes32 outputHash,bytes32 paramsHash,uint8 mode,address worker,uint64 timestamp)"
    );

    error BadWorkerSignature(address recovered, address worker);

    /// The claim's EIP-712 digest: the receipt id.
    function claimDigest(Claim calldata claim) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(CLAIM_TYPEHASH, claim)));
    }

    /// The digest of a claim whose worker signature holds.
    function _signedClaim(Claim calldata claim, bytes calldata workerSignature) internal view returns (bytes32 digest) {
        digest = claimDigest(claim);
        address recovered = ECDSA.recover(digest, workerSignature);
        if (recovered != claim.worker) revert BadWorkerSignature(recovered, claim.worker);
    }
}
