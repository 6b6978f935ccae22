// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IInferenceConsumer} from "../src/Requests.sol";

interface IRequests {
    function requestInference(bytes32 modelId, bytes calldata input, uint8 mode, uint256 maxFee, address callback)
        external
        returns (uint256);
    function refund(uint256 id) external;
}

/// A well-behaved consumer: asks for inference and keeps the answer.
contract TestConsumer is IInferenceConsumer {
    IRequests public immutable settlement;
    uint256 public lastRequest;
    bytes public lastOutput;
    uint256 public calls;

    constructor(IRequests settlement_) {
        settlement = settlement_;
    }

    function ask(IERC20 token, bytes32 modelId, bytes calldata input, uint256 maxFee) external returns (uint256) {
        return askWithMode(token, modelId, input, 0, maxFee);
    }

    function askWithMode(IERC20 token, bytes32 modelId, bytes calldata input, uint8 mode, uint256 maxFee)
        public
        returns (uint256)
    {
        token.approve(address(settlement), maxFee);
        return settlement.requestInference(modelId, input, mode, maxFee, address(this));
    }

    function onInferenceResult(uint256 requestId, bytes calldata output) external {
        require(msg.sender == address(settlement), "only settlement");
        lastRequest = requestId;
        lastOutput = output;
        calls += 1;
    }
}

/// A consumer whose callback burns all the gas it is given.
contract GasBurner is IInferenceConsumer {
    uint256 public counter;

    function onInferenceResult(uint256, bytes calldata) external {
        while (true) {
            counter += 1;
        }
    }
}

/// A consumer whose callback tries to re-enter the settlement contract to be refunded as well.
contract Reentrant is IInferenceConsumer {
    IRequests public immutable settlement;
    bool public reentered;

    constructor(IRequests settlement_) {
        settlement = settlement_;
    }

    function ask(IERC20 token, bytes32 modelId, bytes calldata input, uint256 maxFee) external returns (uint256) {
        token.approve(address(settlement), maxFee);
        return settlement.requestInference(modelId, input, 0, maxFee, address(this));
    }

    function onInferenceResult(uint256 requestId, bytes calldata) external {
        try settlement.refund(requestId) {
            reentered = true;
        } catch {}
    }
}
