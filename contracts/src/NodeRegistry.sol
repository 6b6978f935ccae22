// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title NodeRegistry
/// @notice Inference nodes, validators and gateways: their signing address, role, endpoint and
/// stake. Stake leaves only after an unbonding delay, so that slashing can still reach it. A
/// node holds at least `minStake` (or nothing): a registration or an unbonding that would leave
/// less is refused, so that a node never stakes less than one slash can take, and a node slashed
/// below it is no longer a staked worker or gateway.
contract NodeRegistry {
    using SafeERC20 for IERC20;

    enum Role {
        None,
        Inference,
        Validator,
        Gateway
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
    /// The least stake a node may hold, and what makes an inference node a staked worker or a
    /// gateway node a gateway. The settlement contract requires it to be at least its slash.
    uint256 public immutable minStake;
    address public immutable admin;
    /// The one contract allowed to slash (the settlement contract), set once by the admin.
    address public slasher;
    uint256 public totalValidatorStake;
    mapping(address signer => Node) private _nodes;
    address[] private _signers;

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
    error StakeBelowMinimum(uint256 stake, uint256 minimum);
    error ZeroMinimumStake();

    /// The number of nodes `nodesAt` returns at most per call.
    uint256 public constant MAX_PAGE = 256;

    /// `minStake_` must not be zero: a node without stake at risk could sign anything for free.
    constructor(IERC20 token_, uint64 unbondingDelay_, uint256 minStake_) {
        if (minStake_ == 0) revert ZeroMinimumStake();
        token = token_;
        unbondingDelay = unbondingDelay_;
        minStake = minStake_;
        admin = msg.sender;
    }

    /// The message a node's signing key signs (EIP-191) to let `operator` register it.
    function registrationDigest(address operator) public view returns (bytes32) {
        bytes32 inner = keccak256(abi.encode("veritas.register", block.chainid, address(this), operator));
        return MessageHashUtils.toEthSignedMessageHash(inner);
    }

    /// Registers `signer` with a role, an endpoint and a stake paid by the caller (the operator).
    /// `signerProof` is the signer's signature over `registrationDigest(msg.sender)`, so that
    /// nobody registers a key they do not hold. The stake must be at least `minStake`, so that a
    /// node cannot join with less than a slash can take.
    function register(address signer, Role role, string calldata endpoint, uint256 stake, bytes calldata signerProof)
        external
    {
        if (role == Role.None) revert InvalidRole();
        if (signer == address(0)) revert InvalidSigner();
        if (_nodes[signer].operator != address(0)) revert AlreadyRegistered(signer);
        if (stake == 0) revert ZeroAmount();
        if (stake < minStake) revert StakeBelowMinimum(stake, minStake);
        address recovered = ECDSA.recover(registrationDigest(msg.sender), signerProof);
        if (recovered != signer) revert BadSignerProof(recovered, signer);
        _nodes[signer] = Node(msg.sender, role, endpoint, stake, 0, 0);
        _signers.push(signer);
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
    /// What stays must be nothing or at least `minStake`: a node cannot keep its role on dust
    /// stake that a slash would not hurt.
    function startUnbonding(address signer, uint256 amount) external {
        Node storage node = _operated(signer);
        if (amount == 0) revert ZeroAmount();
        if (amount > node.stake) revert InsufficientStake(node.stake, amount);
        uint256 left = node.stake - amount;
        if (left != 0 && left < minStake) revert StakeBelowMinimum(left, minStake);
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
        Node storage node = _nodes[signer];
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
        return _nodes[signer];
    }

    /// The stake a validator counts for in quorums; zero for anyone else.
    function validatorStake(address signer) external view returns (uint256) {
        Node storage node = _nodes[signer];
        return node.role == Role.Validator ? node.stake : 0;
    }

    /// Whether `signer` is an inference node holding at least `minStake`: one whose claims a
    /// slash can answer for in full. A worker slashed below the minimum is no longer one.
    function isStakedWorker(address signer) external view returns (bool) {
        Node storage node = _nodes[signer];
        return node.role == Role.Inference && node.stake >= minStake;
    }

    /// Whether `signer` is a gateway node holding at least `minStake`: one that payers may trust
    /// to take their requests. A gateway slashed below the minimum is no longer one.
    function isGateway(address signer) external view returns (bool) {
        Node storage node = _nodes[signer];
        return node.role == Role.Gateway && node.stake >= minStake;
    }

    function signerCount() external view returns (uint256) {
        return _signers.length;
    }

    function signerAt(uint256 index) external view returns (address) {
        return _signers[index];
    }

    /// Up to `count` registered nodes (at most `MAX_PAGE`) from position `start` in order of
    /// registration, with their records: a reader pages through the registry in one call per
    /// page. Past the end the arrays are shorter, or empty.
    function nodesAt(uint256 start, uint256 count)
        external
        view
        returns (address[] memory signers, Node[] memory nodes)
    {
        uint256 total = _signers.length;
        uint256 left = start < total ? total - start : 0;
        if (count > left) count = left;
        if (count > MAX_PAGE) count = MAX_PAGE;
        signers = new address[](count);
        nodes = new Node[](count);
        for (uint256 i = 0; i < count; i++) {
            address signer = _signers[start + i];
            signers[i] = signer;
            nodes[i] = _nodes[signer];
        }
    }

    function _operated(address signer) private view returns (Node storage node) {
        node = _nodes[signer];
        if (node.operator == address(0)) revert NotRegistered(signer);
        if (node.operator != msg.sender) revert NotOperator(msg.sender, node.operator);
    }
}
