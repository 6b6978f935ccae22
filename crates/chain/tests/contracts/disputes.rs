//! Disputes: a signed "invalid" verdict opens one; the quorum's verdict slashes the liar.

use alloy_primitives::{Address, Bytes, U256};
use veritas_chain::contracts::{NodeRegistry, Settlement, VeritasToken};
use veritas_primitives::{Claim, ClaimDomain, Mode, ModelId, WorkerKey, keccak256, verdict::verdict_digest};

use super::{DISPUTE_BOND, INFERENCE, Net, SLASH, TREASURY, key, reverted};

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

pub(crate) fn to_abi(claim: &Claim) -> veritas_chain::contracts::Claims::Claim {
    veritas_chain::contracts::Claims::Claim {
        requestId: claim.request_id,
        modelId: claim.model_id.digest(),
        inputHash: claim.input_hash,
        outputHash: claim.output_hash,
        paramsHash: claim.params_hash,
        mode: claim.mode.code(),
        worker: claim.worker,
        timestamp: claim.timestamp,
    }
}

fn sig(key: &WorkerKey, digest: &alloy_primitives::B256) -> Bytes {
    Bytes::from(key.sign_digest(digest).unwrap().to_vec())
}

struct Setup {
    net: Net,
    worker: WorkerKey,
    validators: Vec<WorkerKey>,
}

fn setup() -> Setup {
    let mut net = Net::new(&[100, 100, 100]);
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
    let digest = claim.signing_hash(domain);
    let worker_sig = sig(&s.worker, &digest);
    let accusation =
        sig(&s.validators[0], &verdict_digest(&s.net.domain(), claim.signing_hash(&s.net.domain()), false));
    let call =
        Settlement::openDisputeCall { claim: to_abi(claim), workerSignature: worker_sig, invalidVerdict: accusation };
    let challenger = s.validators[0].address();
    s.net.evm.send(challenger, s.net.settlement, call)
}

fn resolve(
    s: &mut Setup,
    claim: &Claim,
    claim_valid: bool,
    signers: usize,
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    let digest = claim.signing_hash(&s.net.domain());
    let verdict = verdict_digest(&s.net.domain(), digest, claim_valid);
    let keys: Vec<&WorkerKey> = s.validators.iter().take(signers).collect();
    let signatures = s.net.sign(verdict, &keys);
    s.net.evm.send(
        s.net.admin,
        s.net.settlement,
        Settlement::resolveDisputeCall { digest, claimValid: claim_valid, signatures },
    )
}

#[test]
fn a_lying_worker_is_slashed_and_the_challenger_rewarded() {
    let mut s = setup();
    let claim = claim_by(&s.worker, 1);
    let domain = s.net.domain();
    let on_chain =
        s.net.evm.view(s.net.admin, s.net.settlement, Settlement::claimDigestCall { claim: to_abi(&claim) }).unwrap();
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
        claim: to_abi(&claim),
        workerSignature: sig(&s.worker, &digest),
        invalidVerdict: sig(&key(77), &verdict_digest(&domain, digest, false)),
    };
    let challenger = s.validators[0].address();
    reverted(s.net.evm.send(challenger, s.net.settlement, call), "NotAValidator");
    // A "valid" verdict is no accusation: it recovers to another address.
    let call = Settlement::openDisputeCall {
        claim: to_abi(&claim),
        workerSignature: sig(&s.worker, &digest),
        invalidVerdict: sig(&s.validators[0], &verdict_digest(&domain, digest, true)),
    };
    reverted(s.net.evm.send(challenger, s.net.settlement, call), "NotAValidator");
    reverted(resolve(&mut s, &claim, false, 3), "NoSuchDispute");
}

fn slash_verdict(
    s: &mut Setup,
    digest: alloy_primitives::B256,
    valid: bool,
    signature: Bytes,
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    let call = Settlement::slashVerdictCall { claimDigest: digest, valid, signature };
    s.net.evm.send(s.net.admin, s.net.settlement, call)
}

#[test]
fn a_validator_whose_verdict_contradicts_the_resolution_is_slashed_once() {
    let mut s = setup();
    let claim = claim_by(&s.worker, 5);
    let domain = s.net.domain();
    let digest = claim.signing_hash(&domain);
    // The third validator also signed "valid" for the lie.
    let vouch = sig(&s.validators[2], &verdict_digest(&domain, digest, true));
    reverted(slash_verdict(&mut s, digest, true, vouch.clone()), "NoSuchDispute");
    open(&mut s, &claim, &domain).unwrap();
    reverted(slash_verdict(&mut s, digest, true, vouch.clone()), "NotResolved");
    resolve(&mut s, &claim, false, 3).unwrap();

    let liar = s.validators[2].address();
    let stake = |s: &mut Setup| worker_stake(&mut s.net, liar);
    let caller = s.net.admin;
    let (stake_before, total_before) = (stake(&mut s), total_stake(&mut s.net));
    let paid_before = balance(&mut s.net, caller);
    slash_verdict(&mut s, digest, true, vouch.clone()).unwrap();
    let taken = stake_before.min(U256::from(SLASH));
    assert_eq!(stake(&mut s), stake_before - taken);
    assert_eq!(total_stake(&mut s.net), total_before - taken, "the quorum's base shrinks with it");
    assert_eq!(balance(&mut s.net, caller), paid_before + taken.min(U256::from(SLASH / 2)), "half to the caller");
    reverted(slash_verdict(&mut s, digest, true, vouch), "AlreadySlashed");

    // A verdict that agrees with the quorum is not slashable, nor is a key that is no validator.
    let agrees = sig(&s.validators[0], &verdict_digest(&domain, digest, false));
    reverted(slash_verdict(&mut s, digest, false, agrees), "VerdictAgreesWithQuorum");
    let outsider = sig(&key(77), &verdict_digest(&domain, digest, true));
    reverted(slash_verdict(&mut s, digest, true, outsider), "NotAValidator");
}

#[test]
fn a_validator_that_called_an_honest_claim_invalid_is_slashed() {
    let mut s = setup();
    let claim = claim_by(&s.worker, 6);
    let domain = s.net.domain();
    let digest = claim.signing_hash(&domain);
    open(&mut s, &claim, &domain).unwrap();
    resolve(&mut s, &claim, true, 3).unwrap();
    // The accusation that opened the dispute came from the first validator.
    let accusation = sig(&s.validators[0], &verdict_digest(&domain, digest, false));
    let accuser = s.validators[0].address();
    let before = worker_stake(&mut s.net, accuser);
    slash_verdict(&mut s, digest, false, accusation).unwrap();
    assert!(worker_stake(&mut s.net, accuser) < before);
}

fn total_stake(net: &mut Net) -> U256 {
    net.evm.view(net.admin, net.registry, NodeRegistry::totalValidatorStakeCall {}).unwrap()
}
