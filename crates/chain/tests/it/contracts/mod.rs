//! The settlement contracts, executed by revm from their committed bytecode: happy paths and
//! revert paths of escrow, batch settlement, the registries, disputes and contract requests.

mod byzantine;
mod checks;
mod disputes;
mod edges;
mod listings;
mod requests;

use alloy_primitives::{Address, B256, Bytes, U256};
use veritas_chain::{
    ChainError, LocalEvm,
    contracts::{ModelRegistry, NodeRegistry, Settlement, VeritasToken, settle_batch_call},
    genesis::{Contracts, GenesisConfig, deploy_contracts},
};
use veritas_primitives::{
    ClaimDomain, MerkleTree, WorkerKey,
    batch::{Transfer, batch_digest},
    keccak256, merkle_leaf,
};

const CHAIN_ID: u64 = 31337;
const UNBONDING: u64 = 86_400;
const WITHDRAWAL_DELAY: u64 = 3_600;
const DISPUTE_BOND: u64 = 40;
const SLASH: u64 = 60;
/// The registry's minimum stake: at least a slash, as the settlement contract requires.
const MIN_STAKE: u64 = 100;
const REQUEST_TIMEOUT: u64 = 600;
const CALLBACK_GAS: u64 = 200_000;
const TREASURY: Address = Address::repeat_byte(0x77);
/// The gateway the tests' batches are signed for, unless a test names another.
const GATEWAY: Address = Address::repeat_byte(0x6a);
/// A deadline the tests' batches do not reach, unless a test says otherwise.
const FAR: u64 = u64::MAX;

pub(crate) fn key(n: u8) -> WorkerKey {
    WorkerKey::from_bytes(&keccak256([n])).unwrap()
}

pub(crate) struct Net {
    evm: LocalEvm,
    admin: Address,
    token: Address,
    registry: Address,
    models: Address,
    settlement: Address,
    validators: Vec<WorkerKey>,
}

/// Roles of the node registry (a Solidity enum, a `uint8` in the ABI).
const NONE: u8 = 0;
const INFERENCE: u8 = 1;
const VALIDATOR: u8 = 2;
const GATEWAY_ROLE: u8 = 3;

pub(crate) fn deploy_raw(evm: &mut LocalEvm, from: Address, artifact: &str, args: &[u8]) -> Address {
    veritas_chain::genesis::deploy_artifact(evm, from, artifact, args).unwrap()
}

pub(crate) fn reverted(result: Result<impl std::fmt::Debug, ChainError>, expected: &str) {
    match result {
        Err(ChainError::Reverted { reason, .. }) => {
            assert!(reason.contains(expected), "{reason} does not contain {expected}")
        }
        other => panic!("expected a revert with {expected}, got {other:?}"),
    }
}

/// The tests' deployment parameters.
pub(crate) fn config(admin: Address) -> GenesisConfig {
    GenesisConfig {
        admin,
        supply: U256::from(10u64).pow(U256::from(27u64)),
        treasury: TREASURY,
        unbonding_delay: UNBONDING,
        min_stake: U256::from(MIN_STAKE),
        withdrawal_delay: WITHDRAWAL_DELAY,
        dispute_bond: U256::from(DISPUTE_BOND),
        slash_amount: U256::from(SLASH),
        request_timeout: REQUEST_TIMEOUT,
        callback_gas_limit: CALLBACK_GAS,
    }
}

impl Net {
    fn new(validator_stakes: &[u64]) -> Net {
        Net::with(config(key(0).address()), validator_stakes)
    }

    /// A deployment with other parameters.
    fn with(config: GenesisConfig, validator_stakes: &[u64]) -> Net {
        let mut evm = LocalEvm::new(CHAIN_ID, 1_767_225_600);
        let admin = config.admin;
        let Contracts { token, registry, models, settlement } = deploy_contracts(&mut evm, &config).unwrap();
        let mut net = Net { evm, admin, token, registry, models, settlement, validators: Vec::new() };
        for (i, &stake) in validator_stakes.iter().enumerate() {
            let validator = key(10 + i as u8);
            net.register(&validator, VALIDATOR, stake).unwrap();
            net.validators.push(validator);
        }
        net
    }

    fn give(&mut self, to: Address, amount: u64) {
        self.evm.send(self.admin, self.token, VeritasToken::transferCall { to, value: U256::from(amount) }).unwrap();
    }

    fn approve(&mut self, owner: Address, spender: Address, amount: u64) {
        self.evm.send(owner, self.token, VeritasToken::approveCall { spender, value: U256::from(amount) }).unwrap();
    }

    fn proof(&mut self, signer: &WorkerKey, operator: Address) -> Bytes {
        let digest = self.evm.view(operator, self.registry, NodeRegistry::registrationDigestCall { operator }).unwrap();
        signer.sign_digest(&digest).unwrap().to_vec().into()
    }

    fn register(&mut self, signer: &WorkerKey, role: u8, stake: u64) -> Result<(), ChainError> {
        let operator = signer.address();
        self.give(operator, stake);
        self.approve(operator, self.registry, stake);
        let signer_proof = self.proof(signer, operator);
        let call = NodeRegistry::registerCall {
            signer: operator,
            role,
            endpoint: format!("http://127.0.0.1:{}", 7700 + u16::from(signer.address().0[19])),
            stake: U256::from(stake),
            signerProof: signer_proof,
        };
        self.evm.send(operator, self.registry, call).map(drop)
    }

    fn deposit(&mut self, account: Address, amount: u64) {
        self.give(account, amount);
        self.approve(account, self.settlement, amount);
        self.evm.send(account, self.settlement, Settlement::depositCall { amount: U256::from(amount) }).unwrap();
    }

    /// `payer` lets `gateway` settle up to `amount` against its escrow.
    fn approve_gateway(&mut self, payer: Address, gateway: Address, amount: U256) {
        let call = Settlement::approveGatewayCall { gateway, amount };
        self.evm.send(payer, self.settlement, call).unwrap();
    }

    fn allowance(&mut self, payer: Address, gateway: Address) -> U256 {
        self.evm.view(self.admin, self.settlement, Settlement::allowanceCall { payer, gateway }).unwrap()
    }

    fn escrow(&mut self, account: Address) -> U256 {
        self.evm.view(self.admin, self.settlement, Settlement::balanceOfCall { account }).unwrap()
    }

    fn domain(&self) -> ClaimDomain {
        ClaimDomain { chain_id: CHAIN_ID, verifying_contract: self.settlement }
    }

    /// Signatures of the given validators, in ascending address order.
    fn sign(&self, digest: B256, signers: &[&WorkerKey]) -> Vec<Bytes> {
        let mut signers = signers.to_vec();
        signers.sort_by_key(|k| k.address());
        signers.iter().map(|k| Bytes::from(k.sign_digest(&digest).unwrap().to_vec())).collect()
    }

    /// The digest of a batch for [`GATEWAY`] without a deadline in reach.
    fn digest(&self, root: B256, count: u32, debits: &[Transfer], credits: &[Transfer]) -> B256 {
        batch_digest(&self.domain(), root, count, GATEWAY, FAR, debits, credits)
    }

    /// Settles a batch for [`GATEWAY`] without a deadline in reach.
    fn settle(
        &mut self,
        root: B256,
        count: u32,
        debits: Vec<Transfer>,
        credits: Vec<Transfer>,
        signatures: Vec<Bytes>,
    ) -> Result<veritas_chain::Outcome, ChainError> {
        let call = settle_batch_call(root, count, GATEWAY, FAR, &debits, &credits, signatures);
        self.evm.send(self.admin, self.settlement, call)
    }
}

fn to_abi(t: Transfer) -> Settlement::Transfer {
    Settlement::Transfer { account: t.account, amount: t.amount }
}

fn receipts(n: u8) -> (MerkleTree, Vec<B256>) {
    let ids: Vec<B256> = (0..n).map(|i| keccak256([b'r', i])).collect();
    (MerkleTree::new(ids.iter().map(merkle_leaf).collect()), ids)
}

#[test]
fn a_batch_settles_with_a_quorum_and_moves_the_fees() {
    let mut net = Net::new(&[100, 100, 100]);
    let payer = key(1).address();
    let worker = key(2).address();
    let treasury = key(3).address();
    net.deposit(payer, 1_000);
    net.approve_gateway(payer, GATEWAY, U256::MAX);
    let (tree, ids) = receipts(5);
    let debits = vec![Transfer::of(payer, 50)];
    let credits = vec![Transfer::of(worker, 45), Transfer::of(treasury, 5)];
    let digest = net.digest(tree.root(), 5, &debits, &credits);

    let on_chain = net
        .evm
        .view(
            net.admin,
            net.settlement,
            Settlement::batchDigestCall {
                root: tree.root(),
                count: 5,
                gateway: GATEWAY,
                deadline: FAR,
                debits: debits.clone().into_iter().map(to_abi).collect(),
                credits: credits.clone().into_iter().map(to_abi).collect(),
            },
        )
        .unwrap();
    assert_eq!(on_chain, digest, "the Rust and Solidity EIP-712 digests agree");

    let validators = std::mem::take(&mut net.validators);
    let signers: Vec<&WorkerKey> = validators.iter().collect();
    let signatures = net.sign(digest, &signers);
    let outcome = net.settle(tree.root(), 5, debits, credits, signatures).unwrap();
    assert!(outcome.logs.len() >= 4, "debit, credits and BatchSettled are logged");
    assert_eq!(net.escrow(payer), U256::from(950));
    assert_eq!(net.escrow(worker), U256::from(45));
    assert_eq!(net.escrow(treasury), U256::from(5));

    for (i, id) in ids.iter().enumerate() {
        let path = tree.proof(i).unwrap().0;
        let call = Settlement::isSettledCall { root: tree.root(), leaf: merkle_leaf(id), path };
        assert!(net.evm.view(net.admin, net.settlement, call).unwrap(), "receipt {i} is in the settled batch");
    }
    let outsider =
        Settlement::isSettledCall { root: tree.root(), leaf: merkle_leaf(&B256::ZERO), path: tree.proof(0).unwrap().0 };
    assert!(!net.evm.view(net.admin, net.settlement, outsider).unwrap());
}

#[test]
fn settlement_refuses_what_it_must() {
    let mut net = Net::new(&[100, 100, 100]);
    let payer = key(1).address();
    let worker = key(2).address();
    net.deposit(payer, 100);
    net.approve_gateway(payer, GATEWAY, U256::MAX);
    let (tree, _) = receipts(3);
    let root = tree.root();
    let debits = vec![Transfer::of(payer, 10)];
    let credits = vec![Transfer::of(worker, 10)];
    let digest = net.digest(root, 3, &debits, &credits);
    let validators = std::mem::take(&mut net.validators);
    let [a, b, c] = [&validators[0], &validators[1], &validators[2]];

    // Exactly 2/3 of the stake is not more than 2/3.
    let two = net.sign(digest, &[a, b]);
    reverted(net.settle(root, 3, debits.clone(), credits.clone(), two), "NoQuorum");
    // The same validator twice does not count twice.
    let mut twice = net.sign(digest, &[a, b]);
    twice.push(twice[1].clone());
    reverted(net.settle(root, 3, debits.clone(), credits.clone(), twice), "SignersNotAscending");
    // A signature by a key that is not a validator.
    let outsider = key(99);
    let sorted = net.sign(digest, &[a, b, c, &outsider]);
    reverted(net.settle(root, 3, debits.clone(), credits.clone(), sorted), "NotAValidator");
    // Signatures over another chain's or another contract's domain do not transfer.
    for domain in
        [ClaimDomain { chain_id: 1, ..net.domain() }, ClaimDomain { verifying_contract: net.registry, ..net.domain() }]
    {
        let foreign = batch_digest(&domain, root, 3, GATEWAY, FAR, &debits, &credits);
        let sigs = net.sign(foreign, &[a, b, c]);
        let result = net.settle(root, 3, debits.clone(), credits.clone(), sigs);
        assert!(matches!(result, Err(ChainError::Reverted { .. })), "{result:?}");
    }
    // Signatures over other transfers or another count do not transfer either.
    let greedy = vec![Transfer::of(worker, 11)];
    let sigs = net.sign(digest, &[a, b, c]);
    reverted(net.settle(root, 3, vec![Transfer::of(payer, 11)], greedy, sigs.clone()), "NotAValidator");
    reverted(net.settle(root, 4, debits.clone(), credits.clone(), sigs.clone()), "NotAValidator");

    // Unbalanced and unaffordable batches, properly signed, still fail.
    let unbalanced_credits = vec![Transfer::of(worker, 9)];
    let d = net.digest(root, 3, &debits, &unbalanced_credits);
    let sigs_unbalanced = net.sign(d, &[a, b, c]);
    reverted(net.settle(root, 3, debits.clone(), unbalanced_credits, sigs_unbalanced), "Unbalanced");
    let too_much = vec![Transfer::of(payer, 101)];
    let too_much_credits = vec![Transfer::of(worker, 101)];
    let d = net.digest(root, 3, &too_much, &too_much_credits);
    let sigs_too_much = net.sign(d, &[a, b, c]);
    reverted(net.settle(root, 3, too_much, too_much_credits, sigs_too_much), "InsufficientEscrow");
    let d = net.digest(root, 0, &debits, &credits);
    let sigs_empty = net.sign(d, &[a, b, c]);
    reverted(net.settle(root, 0, debits.clone(), credits.clone(), sigs_empty), "EmptyBatch");

    // The honest batch settles once; a replay is refused.
    net.settle(root, 3, debits.clone(), credits.clone(), sigs.clone()).unwrap();
    reverted(net.settle(root, 3, debits, credits, sigs), "AlreadySettled");
    assert_eq!(net.escrow(payer), U256::from(90));
}

#[test]
fn withdrawals_wait_for_the_delay_and_are_capped_by_settlement() {
    let mut net = Net::new(&[100]);
    let payer = key(1).address();
    let worker = key(2).address();
    net.deposit(payer, 100);
    net.approve_gateway(payer, GATEWAY, U256::MAX);
    reverted(net.evm.send(payer, net.settlement, Settlement::withdrawCall {}), "NoWithdrawalPending");
    net.evm.send(payer, net.settlement, Settlement::requestWithdrawalCall { amount: U256::from(80) }).unwrap();
    reverted(net.evm.send(payer, net.settlement, Settlement::withdrawCall {}), "WithdrawalNotReady");
    // Work already done settles during the delay and reduces what can leave.
    let (tree, _) = receipts(1);
    let debits = vec![Transfer::of(payer, 30)];
    let credits = vec![Transfer::of(worker, 30)];
    let digest = net.digest(tree.root(), 1, &debits, &credits);
    let validators = std::mem::take(&mut net.validators);
    let sigs = net.sign(digest, &[&validators[0]]);
    net.settle(tree.root(), 1, debits, credits, sigs).unwrap();
    net.evm.advance_time(WITHDRAWAL_DELAY);
    let before = net.evm.view(payer, net.token, VeritasToken::balanceOfCall { account: payer }).unwrap();
    net.evm.send(payer, net.settlement, Settlement::withdrawCall {}).unwrap();
    let after = net.evm.view(payer, net.token, VeritasToken::balanceOfCall { account: payer }).unwrap();
    assert_eq!(after - before, U256::from(70), "capped at what settlement left");
    assert_eq!(net.escrow(payer), U256::ZERO);
    reverted(net.evm.send(payer, net.settlement, Settlement::depositCall { amount: U256::ZERO }), "ZeroAmount");
}

#[test]
fn registry_registers_unbonds_and_slashes_only_through_the_slasher() {
    let mut net = Net::new(&[100, 250]);
    assert_eq!(
        net.evm.view(net.admin, net.registry, NodeRegistry::totalValidatorStakeCall {}).unwrap(),
        U256::from(350)
    );
    let worker = key(20);
    net.register(&worker, INFERENCE, 100).unwrap();
    let stake = |net: &mut Net, who: Address| {
        net.evm.view(net.admin, net.registry, NodeRegistry::validatorStakeCall { signer: who }).unwrap()
    };
    assert_eq!(stake(&mut net, worker.address()), U256::ZERO, "inference nodes count for no quorum");
    reverted(net.register(&worker, INFERENCE, 100), "AlreadyRegistered");
    reverted(net.register(&key(21), NONE, 100), "InvalidRole");

    // A proof signed by another key than the one registered is refused.
    let victim = key(22).address();
    let operator = key(23).address();
    net.give(operator, MIN_STAKE);
    net.approve(operator, net.registry, MIN_STAKE);
    let proof = net.proof(&key(23), operator);
    let call = NodeRegistry::registerCall {
        signer: victim,
        role: VALIDATOR,
        endpoint: "x".into(),
        stake: U256::from(MIN_STAKE),
        signerProof: proof,
    };
    reverted(net.evm.send(operator, net.registry, call), "BadSignerProof");

    // Unbonding: stake leaves the quorum at once but the tokens only after the delay.
    let v = net.validators[1].address();
    reverted(
        net.evm.send(operator, net.registry, NodeRegistry::startUnbondingCall { signer: v, amount: U256::from(1) }),
        "NotOperator",
    );
    net.evm.send(v, net.registry, NodeRegistry::startUnbondingCall { signer: v, amount: U256::from(150) }).unwrap();
    assert_eq!(stake(&mut net, v), U256::from(100));
    assert_eq!(
        net.evm.view(net.admin, net.registry, NodeRegistry::totalValidatorStakeCall {}).unwrap(),
        U256::from(200)
    );
    reverted(net.evm.send(v, net.registry, NodeRegistry::withdrawCall { signer: v }), "StillUnbonding");
    reverted(
        net.evm.send(v, net.registry, NodeRegistry::startUnbondingCall { signer: v, amount: U256::from(101) }),
        "InsufficientStake",
    );

    // Only the settlement contract slashes; the admin cannot, nor can the slasher be changed.
    let slash = NodeRegistry::slashCall {
        signer: v,
        amount: U256::from(10),
        beneficiary: net.admin,
        reward: U256::from(5),
        treasury: net.admin,
    };
    reverted(net.evm.send(net.admin, net.registry, slash), "NotAuthorized");
    reverted(
        net.evm.send(net.admin, net.registry, NodeRegistry::setSlasherCall { slasher_: net.admin }),
        "SlasherAlreadySet",
    );

    net.evm.advance_time(UNBONDING);
    let before = net.evm.view(v, net.token, VeritasToken::balanceOfCall { account: v }).unwrap();
    net.evm.send(v, net.registry, NodeRegistry::withdrawCall { signer: v }).unwrap();
    let after = net.evm.view(v, net.token, VeritasToken::balanceOfCall { account: v }).unwrap();
    assert_eq!(after - before, U256::from(150));
}

#[test]
fn models_are_published_by_content_id_with_prices() {
    let mut net = Net::new(&[]);
    let owner = key(30).address();
    let other = key(31).address();
    let v1 = keccak256(b"manifest v1");
    let v2 = keccak256(b"manifest v2");
    let publish = |id: B256, price: u64| ModelRegistry::publishCall {
        modelId: id,
        name: "iris".into(),
        metadataUri: "veritas://models/iris".into(),
        pricePerRequest: U256::from(price),
        pricePerToken: U256::from(2),
    };
    net.evm.send(owner, net.models, publish(v1, 10)).unwrap();
    net.evm.send(owner, net.models, publish(v2, 12)).unwrap();
    reverted(net.evm.send(owner, net.models, publish(v1, 10)), "AlreadyPublished");
    reverted(net.evm.send(other, net.models, publish(keccak256(b"v3"), 1)), "NotOwner");
    let versions = net.evm.view(owner, net.models, ModelRegistry::versionsOfCall { name: "iris".into() }).unwrap();
    assert_eq!(versions, vec![v1, v2]);
    let price =
        net.evm.view(owner, net.models, ModelRegistry::priceOfCall { modelId: v2, tokens: U256::from(100) }).unwrap();
    assert_eq!(price, U256::from(212));
    reverted(
        net.evm.send(
            other,
            net.models,
            ModelRegistry::setPricesCall { modelId: v1, pricePerRequest: U256::ZERO, pricePerToken: U256::ZERO },
        ),
        "NotOwner",
    );
    reverted(net.evm.view(owner, net.models, ModelRegistry::modelOfCall { modelId: B256::ZERO }), "UnknownModel");
    let model = net.evm.view(owner, net.models, ModelRegistry::modelOfCall { modelId: v2 }).unwrap();
    assert_eq!((model.owner, model.version), (owner, 2));
}

#[test]
fn the_batch_type_hash_is_the_one_primitives_sign() {
    let mut net = Net::new(&[]);
    let on_chain = net.evm.view(net.admin, net.settlement, Settlement::BATCH_TYPEHASHCall {}).unwrap();
    assert_eq!(
        on_chain,
        keccak256("Batch(bytes32 root,uint32 count,bytes32 transfersHash,address gateway,uint64 deadline)")
    );
}
