//! What the registry and settlement refuse a byzantine party: nodes on less than the minimum
//! stake, charges through a gateway the payer did not approve or beyond what it approved, a batch
//! named for another gateway, expired or replayed batches, and a deployment whose minimum stake
//! is below a slash. Each test fails if the check it names is removed.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::{SolConstructor, SolEvent};
use veritas_chain::{
    ChainError,
    contracts::{NodeRegistry, Settlement, VeritasToken, artifacts, claim_struct, settle_batch_call},
};
use veritas_primitives::{Check, WorkerKey, batch::Transfer, keccak256, verdict::verdict_digest};

use super::{
    FAR, GATEWAY, GATEWAY_ROLE, INFERENCE, MIN_STAKE, Net, SLASH, UNBONDING, VALIDATOR, deploy_raw, key, reverted,
};

fn node(net: &mut Net, signer: Address) -> NodeRegistry::Node {
    net.evm.view(net.admin, net.registry, NodeRegistry::nodeOfCall { signer }).unwrap()
}

fn is_staked_worker(net: &mut Net, signer: Address) -> bool {
    net.evm.view(net.admin, net.registry, NodeRegistry::isStakedWorkerCall { signer }).unwrap()
}

fn is_gateway(net: &mut Net, signer: Address) -> bool {
    net.evm.view(net.admin, net.registry, NodeRegistry::isGatewayCall { signer }).unwrap()
}

fn unbond(net: &mut Net, signer: Address, amount: u64) -> Result<veritas_chain::Outcome, ChainError> {
    net.evm.send(signer, net.registry, NodeRegistry::startUnbondingCall { signer, amount: U256::from(amount) })
}

fn token_balance(net: &mut Net, account: Address) -> U256 {
    net.evm.view(net.admin, net.token, VeritasToken::balanceOfCall { account }).unwrap()
}

#[test]
fn a_node_registers_with_at_least_the_minimum_stake() {
    let mut net = Net::new(&[]);
    let worker = key(20);
    reverted(net.register(&worker, INFERENCE, MIN_STAKE - 1), "StakeBelowMinimum { stake: 99, minimum: 100 }");
    assert_eq!(node(&mut net, worker.address()).operator, Address::ZERO, "nothing was registered");
    reverted(net.register(&key(21), VALIDATOR, 1), "StakeBelowMinimum");
    reverted(net.register(&key(22), GATEWAY_ROLE, 1), "StakeBelowMinimum");
    net.register(&worker, INFERENCE, MIN_STAKE).unwrap();
    assert!(is_staked_worker(&mut net, worker.address()), "exactly the minimum is enough");
}

#[test]
fn unbonding_leaves_nothing_or_at_least_the_minimum() {
    let mut net = Net::new(&[]);
    let worker = key(20);
    let w = worker.address();
    net.register(&worker, INFERENCE, 150).unwrap();
    // 90 left would be dust: a node keeping its role on less than the minimum.
    reverted(unbond(&mut net, w, 60), "StakeBelowMinimum { stake: 90, minimum: 100 }");
    assert_eq!(node(&mut net, w).stake, U256::from(150), "nothing moved");
    unbond(&mut net, w, 50).unwrap();
    assert!(is_staked_worker(&mut net, w), "exactly the minimum stays");
    // Leaving altogether is always allowed.
    unbond(&mut net, w, MIN_STAKE).unwrap();
    let record = node(&mut net, w);
    assert_eq!((record.stake, record.unbonding), (U256::ZERO, U256::from(150)));
    assert!(!is_staked_worker(&mut net, w), "a worker without stake is no staked worker");
    net.evm.advance_time(UNBONDING);
    let before = token_balance(&mut net, w);
    net.evm.send(w, net.registry, NodeRegistry::withdrawCall { signer: w }).unwrap();
    assert_eq!(token_balance(&mut net, w) - before, U256::from(150));
}

#[test]
fn a_gateway_registers_as_such_and_counts_for_no_quorum() {
    let mut net = Net::new(&[100]);
    let gateway = key(24);
    net.register(&gateway, GATEWAY_ROLE, MIN_STAKE).unwrap();
    let record = node(&mut net, gateway.address());
    assert_eq!((record.role, record.stake), (GATEWAY_ROLE, U256::from(MIN_STAKE)));
    assert!(is_gateway(&mut net, gateway.address()));
    assert!(!is_staked_worker(&mut net, gateway.address()), "a gateway is no worker");
    let stake = net.evm.view(net.admin, net.registry, NodeRegistry::validatorStakeCall { signer: gateway.address() });
    assert_eq!(stake.unwrap(), U256::ZERO, "a gateway's stake counts for no quorum");
    let total = net.evm.view(net.admin, net.registry, NodeRegistry::totalValidatorStakeCall {}).unwrap();
    assert_eq!(total, U256::from(100));
}

#[test]
fn staked_workers_and_gateways_hold_the_minimum_even_after_a_slash() {
    let mut net = Net::new(&[]);
    // A registry of its own whose slasher is an account, so the slash can be called directly.
    let slasher = key(66).address();
    let args =
        NodeRegistry::constructorCall { token_: net.token, unbondingDelay_: 100, minStake_: U256::from(MIN_STAKE) }
            .abi_encode();
    net.registry = deploy_raw(&mut net.evm, net.admin, artifacts::NODE_REGISTRY, &args);
    net.evm.send(net.admin, net.registry, NodeRegistry::setSlasherCall { slasher_: slasher }).unwrap();
    let (worker, gateway, validator) = (key(20), key(21), key(22));
    net.register(&worker, INFERENCE, MIN_STAKE + 10).unwrap();
    net.register(&gateway, GATEWAY_ROLE, MIN_STAKE + 10).unwrap();
    net.register(&validator, VALIDATOR, MIN_STAKE).unwrap();
    let (w, g, v) = (worker.address(), gateway.address(), validator.address());
    let roles = |net: &mut Net, who: Address| (is_staked_worker(net, who), is_gateway(net, who));
    assert_eq!(roles(&mut net, w), (true, false));
    assert_eq!(roles(&mut net, g), (false, true));
    assert_eq!(roles(&mut net, v), (false, false), "a validator is neither");
    assert_eq!(roles(&mut net, key(23).address()), (false, false), "nor is a stranger");

    let slash = |net: &mut Net, signer: Address, amount: u64| {
        let call = NodeRegistry::slashCall {
            signer,
            amount: U256::from(amount),
            beneficiary: slasher,
            reward: U256::ZERO,
            treasury: slasher,
        };
        net.evm.send(slasher, net.registry, call).unwrap();
    };
    for who in [w, g] {
        slash(&mut net, who, 10);
        assert_eq!(node(&mut net, who).stake, U256::from(MIN_STAKE));
    }
    assert_eq!((roles(&mut net, w), roles(&mut net, g)), ((true, false), (false, true)), "at the minimum");
    for who in [w, g] {
        slash(&mut net, who, 1);
    }
    assert_eq!((roles(&mut net, w), roles(&mut net, g)), ((false, false), (false, false)), "below it");
    // Topping the stake up to the minimum restores the role: it is a threshold, not a mark.
    for who in [w, g] {
        net.give(who, 1);
        net.approve(who, net.registry, 1);
        net.evm.send(who, net.registry, NodeRegistry::addStakeCall { signer: who, amount: U256::from(1) }).unwrap();
    }
    assert_eq!((roles(&mut net, w), roles(&mut net, g)), ((true, false), (false, true)));
}

#[test]
fn a_worker_slashed_below_the_minimum_is_no_longer_paid_for_requests() {
    use super::requests::{claim_for, consumer, fulfill_with, setup};
    let mut s = setup();
    // A worker on exactly the minimum: one slash takes it below.
    let weak = key(52);
    s.net.register(&weak, INFERENCE, MIN_STAKE).unwrap();
    s.worker = weak;
    let asker = consumer(&mut s, veritas_chain::contracts::test_contracts::TEST_CONSUMER, true);
    let call = veritas_chain::contracts::test_contracts::TestConsumer::askCall {
        token: s.net.token,
        modelId: s.model.digest(),
        input: Bytes::from_static(b"in"),
        maxFee: U256::from(40),
    };
    let id = U256::from_be_slice(&s.net.evm.send(s.net.admin, asker, call).unwrap().output).to::<u64>();

    // Another of its claims is found a lie: the quorum's resolution slashes it.
    let lie = claim_for(&s, 999, b"other in", b"other out");
    let domain = s.net.domain();
    let digest = lie.signing_hash(&domain);
    let accuser = &s.validators[0];
    s.net.give(accuser.address(), 1_000);
    s.net.approve(accuser.address(), s.net.settlement, 1_000);
    let open = Settlement::openDisputeCall {
        claim: claim_struct(&lie),
        workerSignature: s.worker.sign_digest(&digest).unwrap().to_vec().into(),
        check: Check::Signed.code(),
        invalidVerdict: accuser
            .sign_digest(&verdict_digest(&domain, digest, false, Check::Signed))
            .unwrap()
            .to_vec()
            .into(),
    };
    s.net.evm.send(accuser.address(), s.net.settlement, open).unwrap();
    let keys: Vec<&WorkerKey> = s.validators.iter().collect();
    let signatures = s.net.sign(verdict_digest(&domain, digest, false, Check::Signed), &keys);
    let resolve = Settlement::resolveDisputeCall { digest, claimValid: false, check: Check::Signed.code(), signatures };
    s.net.evm.send(s.net.admin, s.net.settlement, resolve).unwrap();
    let w = s.worker.address();
    assert_eq!(node(&mut s.net, w).stake, U256::from(MIN_STAKE - SLASH));
    assert!(!is_staked_worker(&mut s.net, w));

    let claim = claim_for(&s, id, b"in", b"out");
    reverted(fulfill_with(&mut s, id, &claim, b"out", Check::Signed, 3), "NotAStakedWorker");
}

/// Settles a one-claim batch with root `root` for `gateway` until `deadline`, signed by every
/// validator, submitted by `from`.
fn settle_as(
    net: &mut Net,
    from: Address,
    root: B256,
    gateway: Address,
    deadline: u64,
    debits: &[Transfer],
    credits: &[Transfer],
) -> Result<veritas_chain::Outcome, ChainError> {
    let digest = veritas_primitives::batch::batch_digest(&net.domain(), root, 1, gateway, deadline, debits, credits);
    let signatures = sign_all(net, digest);
    net.evm.send(from, net.settlement, settle_batch_call(root, 1, gateway, deadline, debits, credits, signatures))
}

fn sign_all(net: &Net, digest: B256) -> Vec<Bytes> {
    let keys: Vec<&WorkerKey> = net.validators.iter().collect();
    net.sign(digest, &keys)
}

fn root(salt: u8) -> B256 {
    keccak256([b'b', salt])
}

fn settled(net: &mut Net, root: B256) -> bool {
    net.evm.view(net.admin, net.settlement, Settlement::settledAtCall { root }).unwrap() != 0
}

/// A payer with 100 in escrow and a worker, on a network of three validators.
fn payer_and_worker() -> (Net, Address, Address) {
    let mut net = Net::new(&[100, 100, 100]);
    let (payer, worker) = (key(1).address(), key(2).address());
    net.deposit(payer, 100);
    (net, payer, worker)
}

#[test]
fn a_payer_is_charged_only_through_a_gateway_it_approved() {
    let (mut net, payer, worker) = payer_and_worker();
    let (debits, credits) = ([Transfer::of(payer, 10)], [Transfer::of(worker, 10)]);
    let admin = net.admin;
    reverted(
        settle_as(&mut net, admin, root(1), GATEWAY, FAR, &debits, &credits),
        &format!("InsufficientAllowance {{ account: {payer:?}, gateway: {GATEWAY:?}, allowance: 0, amount: 10 }}"),
    );
    // Another gateway's allowance is no allowance for this one.
    net.approve_gateway(payer, Address::repeat_byte(0x6b), U256::MAX);
    reverted(settle_as(&mut net, admin, root(1), GATEWAY, FAR, &debits, &credits), "InsufficientAllowance");
    assert_eq!((net.escrow(payer), net.escrow(worker)), (U256::from(100), U256::ZERO), "nothing moved");
    assert!(!settled(&mut net, root(1)));
    let batches = net.evm.view(net.admin, net.settlement, Settlement::batchCountCall {}).unwrap();
    assert_eq!(batches, U256::ZERO);
}

#[test]
fn an_allowance_caps_what_a_gateway_settles_and_is_used_up() {
    let (mut net, payer, worker) = payer_and_worker();
    let approve = Settlement::approveGatewayCall { gateway: GATEWAY, amount: U256::from(30) };
    let outcome = net.evm.send(payer, net.settlement, approve).unwrap();
    let event = Settlement::GatewayApproved::decode_log(&outcome.logs[0]).unwrap();
    assert_eq!((event.payer, event.gateway, event.amount), (payer, GATEWAY, U256::from(30)));
    let admin = net.admin;
    let charge = |amount: u128| ([Transfer::of(payer, amount)], [Transfer::of(worker, amount)]);

    let (debits, credits) = charge(20);
    settle_as(&mut net, admin, root(1), GATEWAY, FAR, &debits, &credits).unwrap();
    assert_eq!(net.allowance(payer, GATEWAY), U256::from(10), "what was settled is used up");
    let (debits, credits) = charge(11);
    reverted(settle_as(&mut net, admin, root(2), GATEWAY, FAR, &debits, &credits), "InsufficientAllowance { account: ");
    assert_eq!(net.escrow(payer), U256::from(80), "the refused batch moved nothing");
    let (debits, credits) = charge(10);
    settle_as(&mut net, admin, root(3), GATEWAY, FAR, &debits, &credits).unwrap();
    assert_eq!(net.allowance(payer, GATEWAY), U256::ZERO);
    assert_eq!((net.escrow(payer), net.escrow(worker)), (U256::from(70), U256::from(30)));

    // Approving sets the amount, it does not add to it; zero revokes.
    net.approve_gateway(payer, GATEWAY, U256::from(5));
    net.approve_gateway(payer, GATEWAY, U256::from(7));
    assert_eq!(net.allowance(payer, GATEWAY), U256::from(7));
    net.approve_gateway(payer, GATEWAY, U256::ZERO);
    let (debits, credits) = charge(1);
    reverted(settle_as(&mut net, admin, root(4), GATEWAY, FAR, &debits, &credits), "InsufficientAllowance");
}

#[test]
fn an_unlimited_allowance_is_not_used_up() {
    let (mut net, payer, worker) = payer_and_worker();
    net.approve_gateway(payer, GATEWAY, U256::MAX);
    let admin = net.admin;
    settle_as(&mut net, admin, root(1), GATEWAY, FAR, &[Transfer::of(payer, 60)], &[Transfer::of(worker, 60)]).unwrap();
    assert_eq!(net.allowance(payer, GATEWAY), U256::MAX);
    assert_eq!(net.escrow(payer), U256::from(40));
}

#[test]
fn a_batch_signed_for_one_gateway_does_not_settle_as_another() {
    let (mut net, payer, worker) = payer_and_worker();
    let (ours, theirs) = (GATEWAY, Address::repeat_byte(0x6b));
    // The payer uses both, so only the signatures can stop the swap.
    net.approve_gateway(payer, ours, U256::MAX);
    net.approve_gateway(payer, theirs, U256::MAX);
    let (debits, credits) = ([Transfer::of(payer, 10)], [Transfer::of(worker, 10)]);
    let digest = veritas_primitives::batch::batch_digest(&net.domain(), root(1), 1, ours, FAR, &debits, &credits);
    let signatures = sign_all(&net, digest);
    let renamed = settle_batch_call(root(1), 1, theirs, FAR, &debits, &credits, signatures.clone());
    let result = net.evm.send(net.admin, net.settlement, renamed);
    assert!(matches!(result, Err(ChainError::Reverted { .. })), "{result:?}");
    assert_eq!(net.escrow(payer), U256::from(100), "nothing moved");
    let honest = settle_batch_call(root(1), 1, ours, FAR, &debits, &credits, signatures);
    let outcome = net.evm.send(net.admin, net.settlement, honest).unwrap();
    let event = outcome.logs.iter().find_map(|log| Settlement::BatchSettled::decode_log(log).ok()).unwrap();
    assert_eq!((event.root, event.gateway, event.count), (root(1), ours, 1), "the event names the gateway");
}

#[test]
fn a_batch_past_its_deadline_is_refused() {
    let (mut net, payer, worker) = payer_and_worker();
    net.approve_gateway(payer, GATEWAY, U256::MAX);
    let (debits, credits) = ([Transfer::of(payer, 10)], [Transfer::of(worker, 10)]);
    let deadline = net.evm.timestamp() + 100;
    let digest =
        veritas_primitives::batch::batch_digest(&net.domain(), root(1), 1, GATEWAY, deadline, &debits, &credits);
    let signatures = sign_all(&net, digest);
    net.evm.advance_time(101);
    let late = settle_batch_call(root(1), 1, GATEWAY, deadline, &debits, &credits, signatures.clone());
    reverted(net.evm.send(net.admin, net.settlement, late), &format!("BatchExpired {{ deadline: {deadline} }}"));
    // Nor can the submitter move the deadline: it is signed.
    let extended = settle_batch_call(root(1), 1, GATEWAY, FAR, &debits, &credits, signatures);
    let result = net.evm.send(net.admin, net.settlement, extended);
    assert!(matches!(result, Err(ChainError::Reverted { .. })), "{result:?}");
    assert_eq!(net.escrow(payer), U256::from(100), "nothing moved");
    // A batch settles up to and including its deadline's second.
    let now = net.evm.timestamp();
    let admin = net.admin;
    settle_as(&mut net, admin, root(2), GATEWAY, now, &debits, &credits).unwrap();
}

#[test]
fn a_batch_is_dead_once_past_its_deadline_unsettled_and_never_before() {
    let (mut net, payer, worker) = payer_and_worker();
    net.approve_gateway(payer, GATEWAY, U256::MAX);
    let (debits, credits) = ([Transfer::of(payer, 10)], [Transfer::of(worker, 10)]);
    let deadline = net.evm.timestamp() + 100;
    let dead = |net: &mut Net, root: B256| {
        net.evm.view(net.admin, net.settlement, Settlement::isDeadCall { root, deadline }).unwrap()
    };
    assert!(!dead(&mut net, root(1)), "it may still settle");
    let admin = net.admin;
    settle_as(&mut net, admin, root(2), GATEWAY, deadline, &debits, &credits).unwrap();
    net.evm.advance_time(101);
    assert!(dead(&mut net, root(1)), "past its deadline, unsettled: it never will");
    assert!(!dead(&mut net, root(2)), "a settled batch is not dead");
}

#[test]
fn a_signed_batch_settles_once_whoever_submits_it() {
    let (mut net, payer, worker) = payer_and_worker();
    net.approve_gateway(payer, GATEWAY, U256::from(100));
    let (debits, credits) = ([Transfer::of(payer, 10)], [Transfer::of(worker, 10)]);
    let digest = veritas_primitives::batch::batch_digest(&net.domain(), root(1), 1, GATEWAY, FAR, &debits, &credits);
    let call = settle_batch_call(root(1), 1, GATEWAY, FAR, &debits, &credits, sign_all(&net, digest));
    net.evm.send(net.admin, net.settlement, call.clone()).unwrap();
    // The same signed batch, replayed by somebody else.
    let replayer = key(3).address();
    reverted(net.evm.send(replayer, net.settlement, call), "AlreadySettled");
    // Or the same root with other transfers, properly signed.
    let (more, paid) = ([Transfer::of(payer, 20)], [Transfer::of(worker, 20)]);
    reverted(settle_as(&mut net, replayer, root(1), GATEWAY, FAR, &more, &paid), "AlreadySettled");
    assert_eq!((net.escrow(payer), net.escrow(worker)), (U256::from(90), U256::from(10)), "charged once");
    assert_eq!(net.allowance(payer, GATEWAY), U256::from(90), "the allowance too");
}

#[test]
fn the_registry_is_read_a_page_at_a_time() {
    let mut net = Net::new(&[100, 200, 300]);
    net.register(&key(20), INFERENCE, MIN_STAKE).unwrap();
    net.register(&key(21), GATEWAY_ROLE, MIN_STAKE).unwrap();
    let expected: Vec<Address> = [10, 11, 12, 20, 21].iter().map(|&n| key(n).address()).collect();
    let page = |net: &mut Net, start: u64, count: u64| {
        let call = NodeRegistry::nodesAtCall { start: U256::from(start), count: U256::from(count) };
        net.evm.view(net.admin, net.registry, call).unwrap()
    };
    let first = page(&mut net, 0, 2);
    assert_eq!(first.signers, expected[..2]);
    assert_eq!(first.nodes[1].stake, U256::from(200), "with each node's record");
    assert_eq!(page(&mut net, 2, 2).signers, expected[2..4]);
    let last = page(&mut net, 4, 2);
    assert_eq!(last.signers, expected[4..], "the last page is short");
    assert_eq!(last.nodes[0].role, GATEWAY_ROLE);
    assert_eq!(last.nodes[0], node(&mut net, expected[4]), "the same record nodeOf gives");
    for (start, count) in [(5, 2), (99, 1), (0, 0)] {
        let empty = page(&mut net, start, count);
        assert!(empty.signers.is_empty() && empty.nodes.is_empty(), "{start}, {count}");
    }
    assert_eq!(page(&mut net, 0, u64::MAX).signers, expected, "everything fits a page");
}

#[test]
fn a_page_holds_at_most_256_nodes() {
    let mut net = Net::new(&[]);
    let signers: Vec<Address> = (0..=256u32)
        .map(|n| {
            let node = WorkerKey::from_bytes(&keccak256(n.to_be_bytes())).unwrap();
            net.register(&node, INFERENCE, MIN_STAKE).unwrap();
            node.address()
        })
        .collect();
    let max = net.evm.view(net.admin, net.registry, NodeRegistry::MAX_PAGECall {}).unwrap();
    assert_eq!(max, U256::from(256));
    let call = NodeRegistry::nodesAtCall { start: U256::ZERO, count: U256::MAX };
    let page = net.evm.view(net.admin, net.registry, call).unwrap();
    assert_eq!(page.signers, signers[..256]);
    let call = NodeRegistry::nodesAtCall { start: U256::from(256), count: U256::from(256) };
    assert_eq!(net.evm.view(net.admin, net.registry, call).unwrap().signers, signers[256..]);
}

#[test]
fn settlement_refuses_a_registry_whose_minimum_stake_is_below_the_slash() {
    let mut net = Net::new(&[]);
    let registry_with = |net: &mut Net, minimum: u64| {
        let args =
            NodeRegistry::constructorCall { token_: net.token, unbondingDelay_: 100, minStake_: U256::from(minimum) };
        veritas_chain::genesis::deploy_artifact(&mut net.evm, net.admin, artifacts::NODE_REGISTRY, &args.abi_encode())
    };
    reverted(registry_with(&mut net, 0), "ZeroMinimumStake");
    let settlement_over = |net: &mut Net, registry: Address| {
        let config = Settlement::Config {
            token: net.token,
            registry,
            models: net.models,
            treasury: super::TREASURY,
            withdrawalDelay: 1,
            disputeBond: U256::from(1),
            slashAmount: U256::from(SLASH),
            requestTimeout: 1,
            callbackGasLimit: U256::from(1),
        };
        let args = Settlement::constructorCall { config }.abi_encode();
        veritas_chain::genesis::deploy_artifact(&mut net.evm, net.admin, artifacts::SETTLEMENT, &args)
    };
    let low = registry_with(&mut net, SLASH - 1).unwrap();
    reverted(settlement_over(&mut net, low), "MinimumStakeBelowSlash { minStake: 59, slashAmount: 60 }");
    let enough = registry_with(&mut net, SLASH).unwrap();
    settlement_over(&mut net, enough).unwrap();
}

/// The bench's promise (bench/src/settlement.rs): a batch of 1,000 claims from ten payers, each
/// with a limited allowance, paid to two workers, three validators and the treasury, costs at
/// most 1,000 gas per inference.
#[test]
fn a_batch_of_1000_claims_costs_at_most_1000_gas_per_inference() {
    let mut net = Net::new(&[100, 100, 100]);
    let payers: Vec<Address> = (100..110).map(|n| key(n).address()).collect();
    for &payer in &payers {
        net.deposit(payer, 1_000_000_000);
        net.approve_gateway(payer, GATEWAY, U256::from(1_000_000_000u64));
    }
    let workers = [key(200).address(), key(201).address()];
    let validators: Vec<Address> = net.validators.iter().map(WorkerKey::address).collect();
    let settle = |net: &mut Net, salt: u8| {
        // 1,000 claims at 1,000 each: 100 claims per payer, 90% to the workers.
        let debits: Vec<Transfer> = payers.iter().map(|&p| Transfer::of(p, 100_000)).collect();
        let mut credits: Vec<Transfer> = workers.iter().map(|&w| Transfer::of(w, 450_000)).collect();
        credits.extend(validators.iter().map(|&v| Transfer::of(v, 25_000)));
        credits.push(Transfer::of(super::TREASURY, 25_000));
        let digest =
            veritas_primitives::batch::batch_digest(&net.domain(), root(salt), 1000, GATEWAY, FAR, &debits, &credits);
        let call = settle_batch_call(root(salt), 1000, GATEWAY, FAR, &debits, &credits, sign_all(net, digest));
        net.evm.send(net.admin, net.settlement, call).unwrap().gas_used
    };
    // The first credit to an account pays for its storage slot; the steady state is what counts.
    settle(&mut net, 1);
    let gas = settle(&mut net, 2);
    println!("settleBatch of 1,000 claims: {gas} gas, {} per inference", gas / 1000);
    assert!(gas <= 1_000 * 1_000, "{gas} gas for 1,000 claims");
}
