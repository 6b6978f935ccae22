// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Claims} from "./Claims.sol";

interface ISlashing {
    function slash(address signer, uint256 amount, address beneficiary, uint256 reward, address treasury)
        external
        returns (uint256 taken);
}

/// @title Disputes
/// @notice A validator's signed "invalid" verdict on a signed claim opens a dispute, backed by
/// the challenger's bond; the validators' quorum decides. A lying worker is slashed (half to the
/// challenger, half to the treasury) and the bond returned; a frivolous challenger loses the bond
/// to the treasury. Every verdict involved must come from a check that counts for the claim's
/// mode (`checkCounts`), so a validator cannot accuse, acquit or convict a claim on a check its
/// mode does not rest on.
abstract contract Disputes is Claims {
    using SafeERC20 for IERC20;

    struct Dispute {
        address worker;
        address challenger;
        uint256 bond;
        bool resolved;
        bool claimValid;
        /// The disputed claim's mode: which checks count in its resolution.
        uint8 mode;
    }

    mapping(bytes32 claimDigest => Dispute) public disputes;
    /// Validators already slashed for a verdict on a claim, so that one verdict costs once.
    mapping(bytes32 claimDigest => mapping(address validator => bool)) public verdictSlashed;

    event DisputeOpened(bytes32 indexed claimDigest, address indexed worker, address indexed challenger, address accuser);
    event DisputeResolved(bytes32 indexed claimDigest, bool claimValid, uint256 slashed);
    event VerdictSlashed(bytes32 indexed claimDigest, address indexed validator, bool valid, uint256 slashed);

    error AlreadyDisputed(bytes32 claimDigest);
    error NoSuchDispute(bytes32 claimDigest);
    error AlreadyResolved(bytes32 claimDigest);
    error NotResolved(bytes32 claimDigest);
    error VerdictAgreesWithQuorum(bytes32 claimDigest, bool valid);
    error AlreadySlashed(bytes32 claimDigest, address validator);
    error AccuserStakeBelowBond(address accuser, uint256 stake, uint256 bond);

    function _disputeToken() internal view virtual returns (IERC20);
    function _disputeBond() internal view virtual returns (uint256);
    function _slashAmount() internal view virtual returns (uint256);
    function _treasury() internal view virtual returns (address);

    /// Opens a dispute on a signed claim with a validator's signed "invalid" verdict on it from
    /// `check`, which must count for the claim's mode. The accuser must be a validator whose
    /// stake covers at least the bond, so that a false accusation costs it more than nothing.
    function openDispute(
        Claim calldata claim,
        bytes calldata workerSignature,
        uint8 check,
        bytes calldata invalidVerdict
    ) external nonReentrant returns (bytes32 digest) {
        _requireCounts(claim.mode, check);
        digest = _signedClaim(claim, workerSignature);
        if (disputes[digest].challenger != address(0)) revert AlreadyDisputed(digest);
        address accuser = ECDSA.recover(verdictDigest(digest, false, check), invalidVerdict);
        uint256 stake = registry.validatorStake(accuser);
        if (stake == 0) revert NotAValidator(accuser);
        uint256 bond = _disputeBond();
        if (stake < bond) revert AccuserStakeBelowBond(accuser, stake, bond);
        disputes[digest] = Dispute(claim.worker, msg.sender, bond, false, false, claim.mode);
        _disputeToken().safeTransferFrom(msg.sender, address(this), bond);
        emit DisputeOpened(digest, claim.worker, msg.sender, accuser);
    }

    /// Closes a dispute with the quorum's verdict on the claim, all from `check`, which must
    /// count for the claim's mode: a quorum that only checked signatures does not acquit (or
    /// convict) a claim whose mode calls for a proof or an attestation.
    function resolveDispute(bytes32 digest, bool claimValid, uint8 check, bytes[] calldata signatures)
        external
        nonReentrant
    {
        Dispute storage dispute = disputes[digest];
        if (dispute.challenger == address(0)) revert NoSuchDispute(digest);
        if (dispute.resolved) revert AlreadyResolved(digest);
        _requireCounts(dispute.mode, check);
        _quorum(verdictDigest(digest, claimValid, check), signatures);
        dispute.resolved = true;
        dispute.claimValid = claimValid;
        uint256 slashed;
        if (claimValid) {
            _disputeToken().safeTransfer(_treasury(), dispute.bond);
        } else {
            uint256 amount = _slashAmount();
            slashed = ISlashing(address(registry)).slash(dispute.worker, amount, dispute.challenger, amount / 2, _treasury());
            _disputeToken().safeTransfer(dispute.challenger, dispute.bond);
        }
        emit DisputeResolved(digest, claimValid, slashed);
    }

    /// Slashes a validator whose signed verdict on a claim contradicts the quorum's resolution
    /// of its dispute: one that called a lie valid, or an honest claim invalid. Anyone may call
    /// it with the verdict's signature; half of what is taken goes to the caller, the rest to
    /// the treasury. Each validator is slashed at most once per claim, whatever the check. Only
    /// a verdict from a check that counts for the claim's mode is slashable: one that counts
    /// nowhere misled nobody.
    function slashVerdict(bytes32 claimDigest, bool valid, uint8 check, bytes calldata signature)
        external
        nonReentrant
        returns (uint256 slashed)
    {
        Dispute storage dispute = disputes[claimDigest];
        if (dispute.challenger == address(0)) revert NoSuchDispute(claimDigest);
        if (!dispute.resolved) revert NotResolved(claimDigest);
        if (valid == dispute.claimValid) revert VerdictAgreesWithQuorum(claimDigest, valid);
        _requireCounts(dispute.mode, check);
        address validator = ECDSA.recover(verdictDigest(claimDigest, valid, check), signature);
        if (verdictSlashed[claimDigest][validator]) revert AlreadySlashed(claimDigest, validator);
        if (registry.validatorStake(validator) == 0) revert NotAValidator(validator);
        verdictSlashed[claimDigest][validator] = true;
        uint256 amount = _slashAmount();
        slashed = ISlashing(address(registry)).slash(validator, amount, msg.sender, amount / 2, _treasury());
        emit VerdictSlashed(claimDigest, validator, valid, slashed);
    }
}
