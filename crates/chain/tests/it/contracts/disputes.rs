//! Disputes: a signed "invalid" verdict opens one; the quorum's verdict slashes the liar.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolEvent;
use veritas_chain::contracts::{NodeRegistry, Settlement, VeritasToken, claim_struct};
use veritas_primitives::{Check, Claim, ClaimDomain, Mode, ModelId, WorkerKey, keccak256, verdict::verdict_digest};

use super::{DISPUTE_BOND, INFERENCE, Net, SLASH, TREASURY, key, reverted};

/// The check the tests' verdicts come from: re-execution, which counts for their `reexec` claims.
const CHECK: Check = Check::Reexec;

pub(crate) fn claim_by(worker: &WorkerKey, request: u8) -> Claim {
    Claim {
        request_id: keccak256([b'q', request]),
        model_id: ModelId::of_manifest(b"model"),
        input_hash: keccak256(b"input"),
        output_hash: keccak256(b"a wrong output"),
        params_hash: keccak256(b"{}"),
        mode: Mode::Reexec,
        worker: worker.address(),
        timestamp: 1_767_225_600,
    }
}

pub(crate) fn sig(key: &WorkerKey, digest: &B256) -> Bytes {
    Bytes::from(key.sign_digest(digest).unwrap().to_vec())
}

pub(crate) struct Setup {
    pub(crate) net: Net,
    pub(crate) worker: WorkerKey,
    pub(crate) validators: Vec<WorkerKey>,
}

fn setup() -> Setup {
    setup_with(&[100, 100, 100])
}

pub(crate) fn setup_with(validator_stakes: &[u64]) -> Setup {
    let mut net = Net::new(validator_stakes);
    let worker = key(40);
    net.register(&worker, INFERENCE, 1_000).unwrap();
    let validators = std::mem::take(&mut net.validators);
    // The challenger (the first validator's operator) needs the bond.
    let challenger = validators[0].address();
    net.give(challenger, 1_000);
    net.approve(challenger, net.settlement, 1_000);
    Setup { net, worker, validators }
}

fn balance(net: &mut Net, account: Address) -> U256 {
    net.evm.view(net.admin, net.token, VeritasToken::balanceOfCall { account }).unwrap()
}

fn worker_stake(net: &mut Net, worker: Address) -> U256 {
    net.evm.view(net.admin, net.registry, NodeRegistry::nodeOfCall { signer: worker }).unwrap().stake
}

fn open(
    s: &mut Setup,
    claim: &Claim,
    domain: &ClaimDomain,
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    open_by(s, claim, domain, CHECK, 0)
}

/// Opens a dispute with the "invalid" verdict, from `check`, of the validator at `accuser`
/// (whose operator is the challenger).
pub(crate) fn open_by(
    s: &mut Setup,
    claim: &Claim,
    domain: &ClaimDomain,
    check: Check,
    accuser: usize,
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    let digest = claim.signing_hash(domain);
    let worker_sig = sig(&s.worker, &digest);
    let accusation = sig(
        &s.validators[accuser],
        &verdict_digest(&s.net.domain(), claim.signing_hash(&s.net.domain()), false, check),
    );
    let call = Settlement::openDisputeCall {
        claim: claim_struct(claim),
        workerSignature: worker_sig,
        check: check.code(),
        invalidVerdict: accusation,
    };
    let challenger = s.validators[accuser].address();
    s.net.evm.send(challenger, s.net.settlement, call)
}

fn resolve(
    s: &mut Setup,
    claim: &Claim,
    claim_valid: bool,
    signers: usize,
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    let all: Vec<usize> = (0..signers).collect();
    resolve_by(s, claim, claim_valid, &all)
}

/// Resolves with the verdicts of the validators at the given indices.
fn resolve_by(
    s: &mut Setup,
    claim: &Claim,
    claim_valid: bool,
    signers: &[usize],
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    resolve_with(s, claim, claim_valid, CHECK, signers)
}

/// Resolves with the verdicts, from `check`, of the validators at the given indices.
pub(crate) fn resolve_with(
    s: &mut Setup,
    claim: &Claim,
    claim_valid: bool,
    check: Check,
    signers: &[usize],
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    let digest = claim.signing_hash(&s.net.domain());
    let verdict = verdict_digest(&s.net.domain(), digest, claim_valid, check);
    let keys: Vec<&WorkerKey> = signers.iter().map(|&i| &s.validators[i]).collect();
    let signatures = s.net.sign(verdict, &keys);
    s.net.evm.send(
        s.net.admin,
        s.net.settlement,
        Settlement::resolveDisputeCall { digest, claimValid: claim_valid, check: check.code(), signatures },
    )
}

#[test]
fn a_lying_worker_is_slashed_and_the_challenger_rewarded() {
    let mut s = setup();
    let claim = claim_by(&s.worker, 1);
    let domain = s.net.domain();
    let on_chain = s
        .net
        .evm
        .view(s.net.admin, s.net.settlement, Settlement::claimDigestCall { claim: claim_struct(&claim) })
        .unwrap();
    assert_eq!(on_chain, claim.signing_hash(&domain), "Solidity's claim digest is the receipt id");

    let challenger = s.validators[0].address();
    let before = balance(&mut s.net, challenger);
    open(&mut s, &claim, &domain).unwrap();
    assert_eq!(balance(&mut s.net, challenger), before - U256::from(DISPUTE_BOND));
    reverted(open(&mut s, &claim, &domain), "AlreadyDisputed");
    reverted(resolve(&mut s, &claim, false, 2), "NoQuorum");

    resolve(&mut s, &claim, false, 3).unwrap();
    assert_eq!(worker_stake(&mut s.net, s.worker.address()), U256::from(1_000 - SLASH));
    assert_eq!(balance(&mut s.net, challenger), before + U256::from(SLASH / 2), "bond back plus half the slash");
    assert_eq!(balance(&mut s.net, TREASURY), U256::from(SLASH - SLASH / 2));
    reverted(resolve(&mut s, &claim, false, 3), "AlreadyResolved");
}

#[test]
fn a_frivolous_challenger_loses_the_bond() {
    let mut s = setup();
    let claim = claim_by(&s.worker, 2);
    let domain = s.net.domain();
    let challenger = s.validators[0].address();
    let before = balance(&mut s.net, challenger);
    open(&mut s, &claim, &domain).unwrap();
    resolve(&mut s, &claim, true, 3).unwrap();
    assert_eq!(worker_stake(&mut s.net, s.worker.address()), U256::from(1_000), "an honest worker keeps its stake");
    assert_eq!(balance(&mut s.net, challenger), before - U256::from(DISPUTE_BOND));
    assert_eq!(balance(&mut s.net, TREASURY), U256::from(DISPUTE_BOND));
}

#[test]
fn disputes_need_a_real_claim_and_a_real_validator() {
    let mut s = setup();
    let claim = claim_by(&s.worker, 3);
    // The worker's signature from another chain does not hold here.
    let foreign = ClaimDomain { chain_id: 1, ..s.net.domain() };
    reverted(open(&mut s, &claim, &foreign), "BadWorkerSignature");
    // An accusation signed by somebody who is not a validator.
    let domain = s.net.domain();
    let digest = claim.signing_hash(&domain);
    let call = Settlement::openDisputeCall {
        claim: claim_struct(&claim),
        workerSignature: sig(&s.worker, &digest),
        check: CHECK.code(),
        invalidVerdict: sig(&key(77), &verdict_digest(&domain, digest, false, CHECK)),
    };
    let challenger = s.validators[0].address();
    reverted(s.net.evm.send(challenger, s.net.settlement, call), "NotAValidator");
    // A "valid" verdict is no accusation: it recovers to another address.
    let call = Settlement::openDisputeCall {
        claim: claim_struct(&claim),
        workerSignature: sig(&s.worker, &digest),
        check: CHECK.code(),
        invalidVerdict: sig(&s.validators[0], &verdict_digest(&domain, digest, true, CHECK)),
    };
    reverted(s.net.evm.send(challenger, s.net.settlement, call), "NotAValidator");
    reverted(resolve(&mut s, &claim, false, 3), "NoSuchDispute");
}

/// Four validators with 500 each, more than a slash takes: three of them (1,500 of 2,000) are a quorum.
const STAKE: u64 = 500;

/// Whoever calls `slashVerdict`, for the reward: neither a validator nor the treasury.
const CALLER: Address = Address::repeat_byte(0x55);

fn slash_verdict(
    s: &mut Setup,
    digest: B256,
    valid: bool,
    signature: Bytes,
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    slash_verdict_with(s, digest, valid, CHECK, signature)
}

/// Asks for the slash of a verdict from `check`.
pub(crate) fn slash_verdict_with(
    s: &mut Setup,
    digest: B256,
    valid: bool,
    check: Check,
    signature: Bytes,
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    let call = Settlement::slashVerdictCall { claimDigest: digest, valid, check: check.code(), signature };
    s.net.evm.send(CALLER, s.net.settlement, call)
}

fn total_stake(net: &mut Net) -> U256 {
    net.evm.view(net.admin, net.registry, NodeRegistry::totalValidatorStakeCall {}).unwrap()
}

/// Slashes the verdict of the validator at `index` and checks the money: exactly `SLASH` leaves its stake and the
/// validators' total, half of it reaches the caller and the rest the treasury, and it is logged.
fn assert_slashed(s: &mut Setup, digest: B256, valid: bool, index: usize) {
    let address = s.validators[index].address();
    let signature = sig(&s.validators[index], &verdict_digest(&s.net.domain(), digest, valid, CHECK));
    let stake = worker_stake(&mut s.net, address);
    let total = total_stake(&mut s.net);
    let (caller, treasury) = (balance(&mut s.net, CALLER), balance(&mut s.net, TREASURY));
    let outcome = slash_verdict(s, digest, valid, signature).unwrap();
    let slashed = U256::from(SLASH);
    assert_eq!(worker_stake(&mut s.net, address), stake - slashed, "the slash comes out of the stake");
    assert_eq!(total_stake(&mut s.net), total - slashed, "the quorum's base shrinks with it");
    assert_eq!(balance(&mut s.net, CALLER), caller + U256::from(SLASH / 2), "half to the caller");
    assert_eq!(balance(&mut s.net, TREASURY), treasury + U256::from(SLASH - SLASH / 2), "the rest to the treasury");
    let event = outcome
        .logs
        .iter()
        .find_map(|log| Settlement::VerdictSlashed::decode_log(log).ok())
        .expect("VerdictSlashed is logged");
    assert_eq!((event.claimDigest, event.validator, event.valid, event.slashed), (digest, address, valid, slashed));
    let slashed_once: bool = s
        .net
        .evm
        .view(s.net.admin, s.net.settlement, Settlement::verdictSlashedCall { claimDigest: digest, validator: address })
        .unwrap();
    assert!(slashed_once);
}

#[test]
fn a_validator_that_vouched_for_a_lie_is_slashed_once() {
    let mut s = setup_with(&[STAKE; 4]);
    let claim = claim_by(&s.worker, 5);
    let domain = s.net.domain();
    let digest = claim.signing_hash(&domain);
    open(&mut s, &claim, &domain).unwrap();
    // The first three validators find the lie; the fourth had signed "valid" for it.
    resolve_by(&mut s, &claim, false, &[0, 1, 2]).unwrap();
    assert_slashed(&mut s, digest, true, 3);

    let vouch = sig(&s.validators[3], &verdict_digest(&domain, digest, true, CHECK));
    reverted(slash_verdict(&mut s, digest, true, vouch), "AlreadySlashed");
    let liar = s.validators[3].address();
    assert_eq!(worker_stake(&mut s.net, liar), U256::from(STAKE - SLASH), "a verdict costs once");
}

#[test]
fn a_verdict_that_agrees_with_the_resolution_is_not_slashable() {
    let mut s = setup_with(&[STAKE; 4]);
    let lie = claim_by(&s.worker, 6);
    let domain = s.net.domain();
    open(&mut s, &lie, &domain).unwrap();
    resolve_by(&mut s, &lie, false, &[0, 1, 2]).unwrap();
    let digest = lie.signing_hash(&domain);
    for validator in 0..4 {
        let agrees = sig(&s.validators[validator], &verdict_digest(&domain, digest, false, CHECK));
        reverted(slash_verdict(&mut s, digest, false, agrees), "VerdictAgreesWithQuorum");
    }

    // Nor does "valid" on an honest claim cost anything.
    let honest = claim_by(&s.worker, 7);
    open(&mut s, &honest, &domain).unwrap();
    resolve_by(&mut s, &honest, true, &[1, 2, 3]).unwrap();
    let digest = honest.signing_hash(&domain);
    let agrees = sig(&s.validators[1], &verdict_digest(&domain, digest, true, CHECK));
    reverted(slash_verdict(&mut s, digest, true, agrees), "VerdictAgreesWithQuorum");
    assert_eq!(total_stake(&mut s.net), U256::from(4 * STAKE), "nobody was slashed");
}

#[test]
fn verdicts_are_slashable_only_once_their_dispute_is_resolved() {
    let mut s = setup_with(&[STAKE; 4]);
    let claim = claim_by(&s.worker, 8);
    let domain = s.net.domain();
    let digest = claim.signing_hash(&domain);
    let vouch = sig(&s.validators[3], &verdict_digest(&domain, digest, true, CHECK));
    reverted(slash_verdict(&mut s, digest, true, vouch.clone()), "NoSuchDispute");
    open(&mut s, &claim, &domain).unwrap();
    reverted(slash_verdict(&mut s, digest, true, vouch.clone()), "NotResolved");
    // Not even the accusation that opened the dispute can be slashed before the quorum speaks.
    let accusation = sig(&s.validators[0], &verdict_digest(&domain, digest, false, CHECK));
    reverted(slash_verdict(&mut s, digest, false, accusation), "NotResolved");
    resolve_by(&mut s, &claim, false, &[0, 1, 2]).unwrap();
    slash_verdict(&mut s, digest, true, vouch).unwrap();
}

#[test]
fn a_validator_that_called_an_honest_claim_invalid_is_slashed() {
    let mut s = setup_with(&[STAKE; 4]);
    let claim = claim_by(&s.worker, 9);
    let domain = s.net.domain();
    let digest = claim.signing_hash(&domain);
    open(&mut s, &claim, &domain).unwrap();
    resolve_by(&mut s, &claim, true, &[1, 2, 3]).unwrap();
    // The accusation that opened the dispute came from the first validator.
    assert_slashed(&mut s, digest, false, 0);
    let accusation = sig(&s.validators[0], &verdict_digest(&domain, digest, false, CHECK));
    reverted(slash_verdict(&mut s, digest, false, accusation), "AlreadySlashed");
}

#[test]
fn only_a_validators_verdict_is_slashable() {
    let mut s = setup_with(&[STAKE; 4]);
    let claim = claim_by(&s.worker, 10);
    let domain = s.net.domain();
    let digest = claim.signing_hash(&domain);
    open(&mut s, &claim, &domain).unwrap();
    resolve_by(&mut s, &claim, false, &[0, 1, 2]).unwrap();
    // A key that was never registered, and a registered inference node (no validator stake).
    let outsider = sig(&key(77), &verdict_digest(&domain, digest, true, CHECK));
    reverted(slash_verdict(&mut s, digest, true, outsider), "NotAValidator");
    let worker = sig(&s.worker, &verdict_digest(&domain, digest, true, CHECK));
    reverted(slash_verdict(&mut s, digest, true, worker), "NotAValidator");
    // A verdict on another claim does not recover to its signer here.
    let elsewhere = sig(&s.validators[3], &verdict_digest(&domain, keccak256(b"another claim"), true, CHECK));
    reverted(slash_verdict(&mut s, digest, true, elsewhere), "NotAValidator");
    assert_eq!(total_stake(&mut s.net), U256::from(4 * STAKE), "nobody was slashed");
}

#[test]
fn a_repeat_is_reported_as_such_once_the_stake_is_slashed_out() {
    // 100 of stake, less than two slashes: the second claim's slash takes what the first left,
    // and a second call for it is a repeat, not a verdict by a non-validator.
    let mut s = setup();
    let domain = s.net.domain();
    let (first, second) = (claim_by(&s.worker, 11), claim_by(&s.worker, 12));
    for claim in [&first, &second] {
        open(&mut s, claim, &domain).unwrap();
        resolve(&mut s, claim, true, 3).unwrap();
    }
    let accuser = s.validators[0].address();
    let accuse = |s: &Setup, claim: &Claim| {
        sig(&s.validators[0], &verdict_digest(&domain, claim.signing_hash(&domain), false, CHECK))
    };
    let accusation = accuse(&s, &first);
    slash_verdict(&mut s, first.signing_hash(&domain), false, accusation).unwrap();
    assert_eq!(worker_stake(&mut s.net, accuser), U256::from(100 - SLASH));
    let caller = balance(&mut s.net, CALLER);
    let accusation = accuse(&s, &second);
    slash_verdict(&mut s, second.signing_hash(&domain), false, accusation.clone()).unwrap();
    assert_eq!(worker_stake(&mut s.net, accuser), U256::ZERO, "what was left, and no more");
    assert_eq!(total_stake(&mut s.net), U256::from(200));
    assert_eq!(balance(&mut s.net, CALLER), caller + U256::from(SLASH / 2), "half the slash, within what was taken");
    reverted(slash_verdict(&mut s, second.signing_hash(&domain), false, accusation), "AlreadySlashed");
}
