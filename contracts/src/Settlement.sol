// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {IValidatorStakes, ValidatorQuorum} from "./ValidatorQuorum.sol";
import {Disputes} from "./Disputes.sol";
import {IModelPrices, Requests} from "./Requests.sol";

/// @title Settlement
/// @notice Fee escrow per account, batch settlement of verified claims, disputes and slashing
/// (see Disputes), and inference requested by contracts (see Requests).
///
/// A batch is the Merkle root of its claims' receipt ids (leaf = keccak256(receiptId), sorted
/// pairs; see docs/receipt.md) with the net transfers it causes: what each payer pays and what
/// each worker, validator or the treasury earns, the gateway that took the payers' requests, and
/// a deadline. Validators sign the batch as EIP-712 typed data in this contract's domain (so a
/// signature cannot be replayed on another chain or contract); a batch settles once (per root),
/// with signatures from more than 2/3 of all validator stake, before its deadline (so a batch
/// signed long ago cannot be held back and sprung later).
///
/// A payer pays only through gateways it approved (`approveGateway`), and no more than it
/// approved each: a quorum of validators alone cannot spend an escrow, nor can a gateway the
/// payer never used, nor a batch signed for one gateway be settled as another's.
contract Settlement is Disputes, Requests {
    using SafeERC20 for IERC20;

    struct Transfer {
        address account;
        uint256 amount;
    }

    struct Withdrawal {
        uint256 amount;
        uint64 readyAt;
    }

    bytes32 public constant BATCH_TYPEHASH =
        keccak256("Batch(bytes32 root,uint32 count,bytes32 transfersHash,address gateway,uint64 deadline)");

    struct Config {
        IERC20 token;
        IValidatorStakes registry;
        IModelPrices models;
        address treasury;
        /// How long a withdrawal waits, so that work already done can still be settled against it.
        uint64 withdrawalDelay;
        uint256 disputeBond;
        uint256 slashAmount;
        uint64 requestTimeout;
        uint256 callbackGasLimit;
    }

    IERC20 public immutable token;
    IModelPrices public immutable models;
    address public immutable treasury;
    uint64 public immutable withdrawalDelay;
    uint256 public immutable disputeBond;
    uint256 public immutable slashAmount;
    uint64 public immutable requestTimeout;
    uint256 public immutable callbackGasLimit;

    mapping(address account => uint256) public balanceOf;
    /// What each gateway may still have settled against each payer's escrow; `type(uint256).max`
    /// is never used up (as ERC-20 allowances).
    mapping(address payer => mapping(address gateway => uint256)) public allowance;
    mapping(address account => Withdrawal) public pendingWithdrawal;
    mapping(bytes32 root => uint64 blockNumber) public settledAt;
    uint256 public batchCount;

    event Deposited(address indexed account, address indexed from, uint256 amount);
    event WithdrawalRequested(address indexed account, uint256 amount, uint64 readyAt);
    event Withdrawn(address indexed account, uint256 amount);
    event GatewayApproved(address indexed payer, address indexed gateway, uint256 amount);
    event BatchSettled(
        bytes32 indexed root,
        address indexed gateway,
        uint32 count,
        uint256 volume,
        uint256 signingStake,
        address submitter
    );
    event Debited(bytes32 indexed root, address indexed account, uint256 amount);
    event Credited(bytes32 indexed root, address indexed account, uint256 amount);

    error ZeroAmount();
    error EmptyBatch();
    error AlreadySettled(bytes32 root);
    error Unbalanced(uint256 debits, uint256 credits);
    error InsufficientEscrow(address account, uint256 balance, uint256 amount);
    error NoWithdrawalPending(address account);
    error WithdrawalNotReady(uint64 readyAt);
    error BatchExpired(uint64 deadline);
    error InsufficientAllowance(address account, address gateway, uint256 allowance, uint256 amount);
    error MinimumStakeBelowSlash(uint256 minStake, uint256 slashAmount);

    /// Refuses a registry whose minimum stake is below the slash: every staked worker and every
    /// gateway must be able to pay a slash in full.
    constructor(Config memory config) ValidatorQuorum(config.registry) {
        uint256 minStake = config.registry.minStake();
        if (minStake < config.slashAmount) revert MinimumStakeBelowSlash(minStake, config.slashAmount);
        token = config.token;
        models = config.models;
        treasury = config.treasury;
        withdrawalDelay = config.withdrawalDelay;
        disputeBond = config.disputeBond;
        slashAmount = config.slashAmount;
        requestTimeout = config.requestTimeout;
        callbackGasLimit = config.callbackGasLimit;
    }

    function _disputeToken() internal view override returns (IERC20) {
        return token;
    }

    function _disputeBond() internal view override returns (uint256) {
        return disputeBond;
    }

    function _slashAmount() internal view override returns (uint256) {
        return slashAmount;
    }

    function _treasury() internal view override returns (address) {
        return treasury;
    }

    function _requestToken() internal view override returns (IERC20) {
        return token;
    }

    function _models() internal view override returns (IModelPrices) {
        return models;
    }

    function _requestTimeout() internal view override returns (uint64) {
        return requestTimeout;
    }

    function _callbackGasLimit() internal view override returns (uint256) {
        return callbackGasLimit;
    }

    /// A delivered contract request is recorded like a batch whose only leaf is its claim.
    function _settleAlone(bytes32 claimDigest) internal override {
        bytes32 root = keccak256(abi.encode(claimDigest));
        if (settledAt[root] != 0) revert AlreadySettled(root);
        settledAt[root] = uint64(block.number);
    }

    /// A contract request's fee goes to the worker's escrow account, a tenth to the treasury's.
    function _creditWorker(address worker, uint256 fee) internal override {
        uint256 cut = fee / 10;
        balanceOf[worker] += fee - cut;
        balanceOf[treasury] += cut;
    }

    /// Sets what `gateway` may have settled against the caller's escrow from now on (replacing
    /// any earlier amount; zero revokes). Batches naming another gateway cannot debit the caller.
    function approveGateway(address gateway, uint256 amount) external {
        allowance[msg.sender][gateway] = amount;
        emit GatewayApproved(msg.sender, gateway, amount);
    }

    function deposit(uint256 amount) external {
        depositFor(msg.sender, amount);
    }

    function depositFor(address account, uint256 amount) public nonReentrant {
        if (amount == 0) revert ZeroAmount();
        balanceOf[account] += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Deposited(account, msg.sender, amount);
    }

    /// Starts (or restarts) a withdrawal of `amount`; it can be taken after the delay.
    function requestWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint64 readyAt = uint64(block.timestamp) + withdrawalDelay;
        pendingWithdrawal[msg.sender] = Withdrawal(amount, readyAt);
        emit WithdrawalRequested(msg.sender, amount, readyAt);
    }

    /// Pays out the pending withdrawal, capped at what settlement has left in the account.
    function withdraw() external nonReentrant returns (uint256 amount) {
        Withdrawal memory pending = pendingWithdrawal[msg.sender];
        if (pending.amount == 0) revert NoWithdrawalPending(msg.sender);
        if (block.timestamp < pending.readyAt) revert WithdrawalNotReady(pending.readyAt);
        uint256 balance = balanceOf[msg.sender];
        amount = pending.amount < balance ? pending.amount : balance;
        delete pendingWithdrawal[msg.sender];
        balanceOf[msg.sender] = balance - amount;
        if (amount > 0) token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// The EIP-712 digest validators sign for a batch.
    function batchDigest(
        bytes32 root,
        uint32 count,
        address gateway,
        uint64 deadline,
        Transfer[] calldata debits,
        Transfer[] calldata credits
    ) public view returns (bytes32) {
        bytes32 transfersHash = keccak256(abi.encode(debits, credits));
        return _hashTypedDataV4(keccak256(abi.encode(BATCH_TYPEHASH, root, count, transfersHash, gateway, deadline)));
    }

    /// Settles a batch: refuses it after its deadline or if its root is settled already, checks
    /// the quorum's signatures over it (signers in ascending address order, so none counts
    /// twice), debits each payer within its allowance for `gateway`, credits the earners, and
    /// records the root. Anyone may submit it; the signatures decide what it does.
    function settleBatch(
        bytes32 root,
        uint32 count,
        address gateway,
        uint64 deadline,
        Transfer[] calldata debits,
        Transfer[] calldata credits,
        bytes[] calldata signatures
    ) external nonReentrant {
        if (count == 0) revert EmptyBatch();
        if (block.timestamp > deadline) revert BatchExpired(deadline);
        if (settledAt[root] != 0) revert AlreadySettled(root);
        uint256 signingStake = _quorum(batchDigest(root, count, gateway, deadline, debits, credits), signatures);
        uint256 volume = _debit(root, gateway, debits);
        uint256 credited = _credit(root, credits);
        if (volume != credited) revert Unbalanced(volume, credited);
        settledAt[root] = uint64(block.number);
        batchCount += 1;
        emit BatchSettled(root, gateway, count, volume, signingStake, msg.sender);
    }

    /// Takes each debit from the payer's escrow and from its allowance for `gateway`, so that a
    /// payer is charged only through the gateways it chose, up to what it allowed each.
    function _debit(bytes32 root, address gateway, Transfer[] calldata debits) private returns (uint256 volume) {
        for (uint256 i = 0; i < debits.length; i++) {
            address account = debits[i].account;
            uint256 amount = debits[i].amount;
            uint256 allowed = allowance[account][gateway];
            if (allowed < amount) revert InsufficientAllowance(account, gateway, allowed, amount);
            if (allowed != type(uint256).max) allowance[account][gateway] = allowed - amount;
            uint256 balance = balanceOf[account];
            if (balance < amount) revert InsufficientEscrow(account, balance, amount);
            balanceOf[account] = balance - amount;
            volume += amount;
            emit Debited(root, account, amount);
        }
    }

    function _credit(bytes32 root, Transfer[] calldata credits) private returns (uint256 credited) {
        for (uint256 i = 0; i < credits.length; i++) {
            address account = credits[i].account;
            uint256 amount = credits[i].amount;
            balanceOf[account] += amount;
            credited += amount;
            emit Credited(root, account, amount);
        }
    }

    /// Whether a batch with `root` that expires at `deadline` can never settle: not settled,
    /// and the latest block is past its deadline (block times only grow). Validators sign a
    /// claim into a new batch only once the batch they signed it into is dead.
    function isDead(bytes32 root, uint64 deadline) external view returns (bool) {
        return settledAt[root] == 0 && block.timestamp > deadline;
    }

    /// Whether `leaf` (keccak256 of a receipt id) is in a settled batch, given its Merkle path.
    function isSettled(bytes32 root, bytes32 leaf, bytes32[] calldata path) external view returns (bool) {
        return settledAt[root] != 0 && MerkleProof.verifyCalldata(path, root, leaf);
    }
}
