// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

interface IValidatorStakes {
    function validatorStake(address signer) external view returns (uint256);
    function totalValidatorStake() external view returns (uint256);
    function minStake() external view returns (uint256);
}

/// @title ValidatorQuorum
/// @notice What settlement, disputes and contract requests share: EIP-712 digests in the
/// network's domain ("veritas", "1", chain id, this contract) and the check that signatures
/// over a digest come from more than 2/3 of all validator stake.
///
/// A verdict names the check its validator performed (`check`, with the claim mode codes: 0
/// signed, 1 reexec, 2 zk, 3 tee), and counts for a claim only if that check is the one the
/// claim's mode calls for (`checkCounts`): a validator that only looked at a signature cannot
/// have its verdict pass as a re-execution, a proof check or an attestation check.
abstract contract ValidatorQuorum is EIP712, ReentrancyGuard {
    /// A validator's verdict on a claim, by the claim's EIP-712 digest, with the check it ran.
    bytes32 public constant VERDICT_TYPEHASH = keccak256("Verdict(bytes32 claimDigest,bool valid,uint8 check)");

    IValidatorStakes public immutable registry;

    error SignersNotAscending(address previous, address signer);
    error NotAValidator(address signer);
    error NoQuorum(uint256 signingStake, uint256 totalStake);
    error CheckNotCounted(uint8 mode, uint8 check);

    constructor(IValidatorStakes registry_) EIP712("veritas", "1") {
        registry = registry_;
    }

    /// The EIP-712 digest of a verdict, as validators sign it.
    function verdictDigest(bytes32 claimDigest, bool valid, uint8 check) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(VERDICT_TYPEHASH, claimDigest, valid, check)));
    }

    /// Whether a verdict from `check` counts for a claim of `mode`: a `signed` claim (0) is judged
    /// by its signature (check 0); a `reexec` claim (1) by re-execution (1) or, for the share of
    /// claims that sampling leaves unexecuted, by its signature (0); a `zk` claim (2) only by its
    /// proof (2); a `tee` claim (3) only by its attestation (3). Anything else counts for nothing.
    function checkCounts(uint8 mode, uint8 check) public pure returns (bool) {
        if (mode == 0) return check == 0;
        if (mode == 1) return check == 0 || check == 1;
        if (mode == 2) return check == 2;
        if (mode == 3) return check == 3;
        return false;
    }

    /// Reverts `CheckNotCounted` unless a verdict from `check` counts for a claim of `mode`.
    function _requireCounts(uint8 mode, uint8 check) internal pure {
        if (!checkCounts(mode, check)) revert CheckNotCounted(mode, check);
    }

    /// Checks signatures over `digest` (signers in ascending address order, so none counts twice)
    /// and that they hold more than 2/3 of the validator stake; returns the stake that signed.
    function _quorum(bytes32 digest, bytes[] calldata signatures) internal view returns (uint256 signingStake) {
        address previous;
        for (uint256 i = 0; i < signatures.length; i++) {
            address signer = ECDSA.recover(digest, signatures[i]);
            if (signer <= previous) revert SignersNotAscending(previous, signer);
            previous = signer;
            uint256 stake = registry.validatorStake(signer);
            if (stake == 0) revert NotAValidator(signer);
            signingStake += stake;
        }
        uint256 totalStake = registry.totalValidatorStake();
        if (signingStake * 3 <= totalStake * 2) revert NoQuorum(signingStake, totalStake);
    }
}
