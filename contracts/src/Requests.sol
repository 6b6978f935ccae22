// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Claims} from "./Claims.sol";

/// Implemented by contracts that ask for inference.
interface IInferenceConsumer {
    function onInferenceResult(uint256 requestId, bytes calldata output) external;
}

interface IModelPrices {
    function priceOf(bytes32 modelId, uint256 tokens) external view returns (uint256);
}

interface IWorkers {
    function isStakedWorker(address signer) external view returns (bool);
}

/// @title Requests
/// @notice Inference asked for by contracts. The requester escrows `maxFee`; the network serves
/// the request like any other and, once a quorum of validators has found the claim valid, anyone
/// may deliver the output, which pays the worker and calls the requester back with bounded gas.
/// Unserved requests are refunded after a timeout. Inputs and outputs are the canonical value
/// bytes whose keccak-256 the claim carries. A delivered claim is settled as a batch of one (its
/// Merkle leaf is the root), so `isSettled(leaf, leaf, [])` finds it like any batched claim.
abstract contract Requests is Claims {
    using SafeERC20 for IERC20;

    struct Request {
        address requester;
        address callback;
        bytes32 modelId;
        bytes32 inputHash;
        uint8 mode;
        uint256 maxFee;
        uint64 deadline;
        bool done;
    }

    mapping(uint256 id => Request) public requests;
    uint256 public requestCount;

    event InferenceRequested(
        uint256 indexed id,
        address indexed requester,
        bytes32 indexed modelId,
        bytes input,
        uint8 mode,
        uint256 maxFee,
        address callback,
        uint64 deadline
    );
    event InferenceFulfilled(uint256 indexed id, bytes32 claimDigest, uint256 fee, bool callbackSucceeded);
    event InferenceRefunded(uint256 indexed id, uint256 amount);

    error FeeTooLow(uint256 price, uint256 maxFee);
    error NoSuchRequest(uint256 id);
    error RequestClosed(uint256 id);
    error RequestExpired(uint256 id, uint64 deadline);
    error NotExpired(uint256 id, uint64 deadline);
    error ClaimMismatch(string field);
    error NotAStakedWorker(address worker);
    error InsufficientGasForCallback(uint256 gasLeft, uint256 needed);

    function _requestToken() internal view virtual returns (IERC20);
    function _models() internal view virtual returns (IModelPrices);
    function _requestTimeout() internal view virtual returns (uint64);
    function _callbackGasLimit() internal view virtual returns (uint256);
    function _creditWorker(address worker, uint256 fee) internal virtual;
    /// Records a delivered claim as settled on its own: a batch of one, whose root is its leaf.
    function _settleAlone(bytes32 claimDigest) internal virtual;

    function requestInference(bytes32 modelId, bytes calldata input, uint8 mode, uint256 maxFee, address callback)
        external
        nonReentrant
        returns (uint256 id)
    {
        uint256 price = _models().priceOf(modelId, 0);
        if (price > maxFee) revert FeeTooLow(price, maxFee);
        id = ++requestCount;
        uint64 deadline = uint64(block.timestamp) + _requestTimeout();
        requests[id] = Request(msg.sender, callback, modelId, keccak256(input), mode, maxFee, deadline, false);
        _requestToken().safeTransferFrom(msg.sender, address(this), maxFee);
        emit InferenceRequested(id, msg.sender, modelId, input, mode, maxFee, callback, deadline);
    }

    /// Delivers a verified result: the claim must answer this request with this output, carry
    /// the signature of a staked worker, and have a quorum of "valid" verdicts from `check`,
    /// which must count for the claim's mode (so a quorum that only checked signatures cannot
    /// pass a `zk` or `tee` request off as proven or attested).
    function fulfill(
        uint256 id,
        bytes calldata output,
        Claim calldata claim,
        bytes calldata workerSignature,
        uint8 check,
        bytes[] calldata validSignatures
    ) external nonReentrant {
        Request storage request = requests[id];
        if (request.requester == address(0)) revert NoSuchRequest(id);
        if (request.done) revert RequestClosed(id);
        if (block.timestamp > request.deadline) revert RequestExpired(id, request.deadline);
        if (claim.requestId != bytes32(id)) revert ClaimMismatch("requestId");
        if (claim.modelId != request.modelId) revert ClaimMismatch("modelId");
        if (claim.inputHash != request.inputHash) revert ClaimMismatch("inputHash");
        if (claim.outputHash != keccak256(output)) revert ClaimMismatch("outputHash");
        if (claim.mode != request.mode) revert ClaimMismatch("mode");
        _requireCounts(claim.mode, check);
        bytes32 digest = _signedClaim(claim, workerSignature);
        if (!IWorkers(address(registry)).isStakedWorker(claim.worker)) revert NotAStakedWorker(claim.worker);
        _quorum(verdictDigest(digest, true, check), validSignatures);

        // Effects before the callback, so a re-entering callback finds the request closed.
        request.done = true;
        _settleAlone(digest);
        uint256 fee = _models().priceOf(request.modelId, 0);
        if (fee > request.maxFee) fee = request.maxFee;
        _creditWorker(claim.worker, fee);
        if (request.maxFee > fee) _requestToken().safeTransfer(request.requester, request.maxFee - fee);

        // The deliverer cannot starve the callback: it gets its full limit or the call reverts.
        uint256 limit = _callbackGasLimit();
        if (gasleft() < limit + limit / 63 + 10_000) revert InsufficientGasForCallback(gasleft(), limit);
        (bool ok,) = request.callback.call{gas: limit}(
            abi.encodeCall(IInferenceConsumer.onInferenceResult, (id, output))
        );
        emit InferenceFulfilled(id, digest, fee, ok);
    }

    /// Returns the escrowed fee of a request nobody served in time.
    function refund(uint256 id) external nonReentrant {
        Request storage request = requests[id];
        if (request.requester == address(0)) revert NoSuchRequest(id);
        if (request.done) revert RequestClosed(id);
        if (block.timestamp <= request.deadline) revert NotExpired(id, request.deadline);
        request.done = true;
        _requestToken().safeTransfer(request.requester, request.maxFee);
        emit InferenceRefunded(id, request.maxFee);
    }
}
