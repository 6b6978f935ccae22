// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title NodeRegistry
/// @notice Inference nodes and validators: their signing address, role, endpoint and stake.
/// Stake leaves only after an unbonding delay, so that slashing can still reach it.
contract NodeRegistry {
    using SafeERC20 for IERC20;

    enum Role {
        None,
        Inference,
        Validator
    }

    struct Node {
        address operator;
        Role role;
        string endpoint;
        uint256 stake;
        uint256 unbonding;
        uint64 unbondingUntil;
    }

    IERC20 public immutable token;
    uint64 public immutable unbondingDelay;
    address public immutable admin;
    /// The one contract allowed to slash (the settlement contract), set once by the admin.
    address public slasher;
    uint256 public totalValidatorStake;
    mapping(address signer => Node) private nodes;
    address[] private signers;

    event NodeRegistered(address indexed signer, address indexed operator, Role role, string endpoint, uint256 stake);
    event StakeAdded(address indexed signer, uint256 amount, uint256 stake);
    event UnbondingStarted(address indexed signer, uint256 amount, uint64 until);
    event StakeWithdrawn(address indexed signer, uint256 amount);
    event Slashed(address indexed signer, uint256 amount, address indexed beneficiary, uint256 reward);
    event SlasherSet(address slasher);

    error InvalidRole();
    error InvalidSigner();
    error AlreadyRegistered(address signer);
    error NotRegistered(address signer);
    error NotOperator(address caller, address operator);
    error ZeroAmount();
    error InsufficientStake(uint256 stake, uint256 amount);
    error StillUnbonding(uint64 until);
    error NotAuthorized(address caller);
    error SlasherAlreadySet(address slasher);
    error BadSignerProof(address recovered, address signer);

    constructor(IERC20 token_, uint64 unbondingDelay_) {
        token = token_;
        unbondingDelay = unbondingDelay_;
        admin = msg.sender;
    }

    /// The message a node's signing key signs (EIP-191) to let `operator` register it.
    function registrationDigest(address operator) public view returns (bytes32) {
        bytes32 inner = keccak256(abi.encode("veritas.register", block.chainid, address(this), operator));
        return MessageHashUtils.toEthSignedMessageHash(inner);
    }

    /// Registers `signer` with a role, an endpoint and a stake paid by the caller (the operator).
    /// `signerProof` is the signer's signature over `registrationDigest(msg.sender)`.
    function register(address signer, Role role, string calldata endpoint, uint256 stake, bytes calldata signerProof)
        external
    {
        if (role == Role.None) revert InvalidRole();
        if (signer == address(0)) revert InvalidSigner();
        if (nodes[signer].operator != address(0)) revert AlreadyRegistered(signer);
        if (stake == 0) revert ZeroAmount();
        address recovered = ECDSA.recover(registrationDigest(msg.sender), signerProof);
        if (recovered != signer) revert BadSignerProof(recovered, signer);
        nodes[signer] = Node(msg.sender, role, endpoint, stake, 0, 0);
        signers.push(signer);
        if (role == Role.Validator) totalValidatorStake += stake;
        token.safeTransferFrom(msg.sender, address(this), stake);
        emit NodeRegistered(signer, msg.sender, role, endpoint, stake);
    }

    function addStake(address signer, uint256 amount) external {
        Node storage node = _operated(signer);
        if (amount == 0) revert ZeroAmount();
        node.stake += amount;
        if (node.role == Role.Validator) totalValidatorStake += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit StakeAdded(signer, amount, node.stake);
    }

    /// Moves stake into unbonding; it can be withdrawn after the delay (restarted by each call).
    function startUnbonding(address signer, uint256 amount) external {
        Node storage node = _operated(signer);
        if (amount == 0) revert ZeroAmount();
        if (amount > node.stake) revert InsufficientStake(node.stake, amount);
        node.stake -= amount;
        node.unbonding += amount;
        node.unbondingUntil = uint64(block.timestamp) + unbondingDelay;
        if (node.role == Role.Validator) totalValidatorStake -= amount;
        emit UnbondingStarted(signer, amount, node.unbondingUntil);
    }

    function withdraw(address signer) external {
        Node storage node = _operated(signer);
        if (block.timestamp < node.unbondingUntil) revert StillUnbonding(node.unbondingUntil);
        uint256 amount = node.unbonding;
        if (amount == 0) revert ZeroAmount();
        node.unbonding = 0;
        token.safeTransfer(node.operator, amount);
        emit StakeWithdrawn(signer, amount);
    }

    function setSlasher(address slasher_) external {
        if (msg.sender != admin) revert NotAuthorized(msg.sender);
        if (slasher != address(0)) revert SlasherAlreadySet(slasher);
        slasher = slasher_;
        emit SlasherSet(slasher_);
    }

    /// Takes up to `amount` from the signer's stake, then from its unbonding stake; pays `reward`
    /// of it to `beneficiary` and the rest to `treasury`. Returns what was taken.
    function slash(address signer, uint256 amount, address beneficiary, uint256 reward, address treasury)
        external
        returns (uint256 taken)
    {
        if (msg.sender != slasher) revert NotAuthorized(msg.sender);
        Node storage node = nodes[signer];
        if (node.operator == address(0)) revert NotRegistered(signer);
        uint256 fromStake = amount < node.stake ? amount : node.stake;
        node.stake -= fromStake;
        if (node.role == Role.Validator) totalValidatorStake -= fromStake;
        uint256 rest = amount - fromStake;
        uint256 fromUnbonding = rest < node.unbonding ? rest : node.unbonding;
        node.unbonding -= fromUnbonding;
        taken = fromStake + fromUnbonding;
        if (reward > taken) reward = taken;
        if (reward > 0) token.safeTransfer(beneficiary, reward);
        if (taken > reward) token.safeTransfer(treasury, taken - reward);
        emit Slashed(signer, taken, beneficiary, reward);
    }

    function nodeOf(address signer) external view returns (Node memory) {
        return nodes[signer];
    }

    /// The stake a validator counts for in quorums; zero for anyone else.
    function validatorStake(address signer) external view returns (uint256) {
        Node storage node = nodes[signer];
        return node.role == Role.Validator ? node.stake : 0;
    }

    /// Whether `signer` is an inference node with stake: one whose claims can be slashed.
    function isStakedWorker(address signer) external view returns (bool) {
        Node storage node = nodes[signer];
        return node.role == Role.Inference && node.stake > 0;
    }

    function signerCount() external view returns (uint256) {
        return signers.length;
    }

    function signerAt(uint256 index) external view returns (address) {
        return signers[index];
    }

    function _operated(address signer) private view returns (Node storage node) {
        node = nodes[signer];
        if (node.operator == address(0)) revert NotRegistered(signer);
        if (node.operator != msg.sender) revert NotOperator(msg.sender, node.operator);
    }
}
