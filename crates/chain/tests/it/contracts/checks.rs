//! Verdicts count only from the checks a claim's mode rests on (`checkCounts`): in disputes, their
//! resolution, verdict slashes and contract requests; and an accuser must stake at least the bond.

use alloy_primitives::{Address, U256};
use veritas_chain::contracts::{Settlement, test_contracts};
use veritas_primitives::{Check, Claim, Mode, keccak256, verdict::verdict_digest};

use super::{
    INFERENCE, MIN_STAKE, Net, SLASH, config,
    disputes::{Setup, claim_by, open_by, resolve_with, setup_with, sig, slash_verdict_with},
    key,
    requests::{self, ask_mode, claim_for, consumer, fulfill_with},
    reverted,
};

#[test]
fn the_contracts_count_checks_as_primitives_do() {
    let mut net = Net::new(&[]);
    for mode in 0..6u8 {
        for check in 0..6u8 {
            let on_chain =
                net.evm.view(net.admin, net.settlement, Settlement::checkCountsCall { mode, check }).unwrap();
            let rust = Mode::from_code(mode)
                .ok()
                .zip(Check::from_code(check).ok())
                .is_some_and(|(mode, check)| check.counts_for(mode));
            assert_eq!(on_chain, rust, "mode {mode}, check {check}");
        }
    }
    let type_hash = net.evm.view(net.admin, net.settlement, Settlement::VERDICT_TYPEHASHCall {}).unwrap();
    assert_eq!(type_hash, keccak256("Verdict(bytes32 claimDigest,bool valid,uint8 check)"));
    let claim = keccak256(b"a claim");
    for check in Check::ALL {
        let call = Settlement::verdictDigestCall { claimDigest: claim, valid: false, check: check.code() };
        let on_chain = net.evm.view(net.admin, net.settlement, call).unwrap();
        assert_eq!(on_chain, verdict_digest(&net.domain(), claim, false, check), "{check}");
    }
}

fn challenger_of(s: &mut Setup, digest: alloy_primitives::B256) -> Address {
    s.net.evm.view(s.net.admin, s.net.settlement, Settlement::disputesCall { claimDigest: digest }).unwrap().challenger
}

fn stake(s: &mut Setup, signer: Address) -> U256 {
    let call = veritas_chain::contracts::NodeRegistry::nodeOfCall { signer };
    s.net.evm.view(s.net.admin, s.net.registry, call).unwrap().stake
}

#[test]
fn a_reexec_claims_dispute_counts_only_signed_and_reexec_verdicts() {
    let mut s = setup_with(&[100, 100, 100]);
    let domain = s.net.domain();
    let claim = claim_by(&s.worker, 20);
    assert_eq!(claim.mode, Mode::Reexec);
    let digest = claim.signing_hash(&domain);
    // An attestation check or a proof check says nothing about a re-executable claim.
    reverted(open_by(&mut s, &claim, &domain, Check::Tee, 0), "CheckNotCounted { mode: 1, check: 3 }");
    reverted(open_by(&mut s, &claim, &domain, Check::Zk, 0), "CheckNotCounted { mode: 1, check: 2 }");
    assert_eq!(challenger_of(&mut s, digest), Address::ZERO, "no dispute was opened");
    // A validator that checked the signature of an unsampled claim may accuse it.
    open_by(&mut s, &claim, &domain, Check::Signed, 0).unwrap();
    let worker = s.worker.address();
    reverted(resolve_with(&mut s, &claim, false, Check::Tee, &[0, 1, 2]), "CheckNotCounted { mode: 1, check: 3 }");
    assert_eq!(stake(&mut s, worker), U256::from(1_000), "tee verdicts slashed nobody");
    resolve_with(&mut s, &claim, false, Check::Reexec, &[0, 1, 2]).unwrap();
    assert_eq!(stake(&mut s, worker), U256::from(1_000 - SLASH), "re-execution's verdicts did");

    // A "valid" verdict contradicting the resolution is slashable only from a check that counts.
    let validator = s.validators[2].address();
    let tee_vouch = sig(&s.validators[2], &verdict_digest(&domain, digest, true, Check::Tee));
    reverted(slash_verdict_with(&mut s, digest, true, Check::Tee, tee_vouch), "CheckNotCounted");
    assert_eq!(stake(&mut s, validator), U256::from(100));
    let vouch = sig(&s.validators[2], &verdict_digest(&domain, digest, true, Check::Signed));
    slash_verdict_with(&mut s, digest, true, Check::Signed, vouch).unwrap();
    assert_eq!(stake(&mut s, validator), U256::from(100 - SLASH));

    // Another claim: accused on re-execution, acquitted by signed checks, which count too.
    let second = s.validators[1].address();
    s.net.give(second, 1_000);
    s.net.approve(second, s.net.settlement, 1_000);
    let honest = claim_by(&s.worker, 21);
    open_by(&mut s, &honest, &domain, Check::Reexec, 1).unwrap();
    resolve_with(&mut s, &honest, true, Check::Signed, &[0, 1, 2]).unwrap();
    assert_eq!(stake(&mut s, worker), U256::from(1_000 - SLASH), "acquitted");
}

#[test]
fn a_zk_claim_is_judged_only_by_zk_verdicts() {
    let mut s = setup_with(&[100, 100, 100]);
    let domain = s.net.domain();
    let claim = Claim { mode: Mode::Zk, ..claim_by(&s.worker, 22) };
    for check in [Check::Signed, Check::Reexec, Check::Tee] {
        let expected = format!("CheckNotCounted {{ mode: 2, check: {} }}", check.code());
        reverted(open_by(&mut s, &claim, &domain, check, 0), &expected);
    }
    open_by(&mut s, &claim, &domain, Check::Zk, 0).unwrap();
    for check in [Check::Signed, Check::Reexec, Check::Tee] {
        reverted(resolve_with(&mut s, &claim, true, check, &[0, 1, 2]), "CheckNotCounted { mode: 2");
    }
    resolve_with(&mut s, &claim, true, Check::Zk, &[0, 1, 2]).unwrap();
    // The accuser's "invalid" came from a zk check, and the quorum's "valid": it is slashable.
    let accusation = sig(&s.validators[0], &verdict_digest(&domain, claim.signing_hash(&domain), false, Check::Zk));
    let accuser = s.validators[0].address();
    let before = stake(&mut s, accuser);
    slash_verdict_with(&mut s, claim.signing_hash(&domain), false, Check::Zk, accusation).unwrap();
    assert_eq!(stake(&mut s, accuser), before - U256::from(SLASH));
}

#[test]
fn a_request_is_fulfilled_only_with_verdicts_from_a_check_its_mode_rests_on() {
    let mut s = requests::setup();
    let asker = consumer(&mut s, test_contracts::TEST_CONSUMER, true);
    let calls = |s: &mut requests::Setup| {
        s.net.evm.view(s.net.admin, asker, test_contracts::TestConsumer::callsCall {}).unwrap().to::<u64>()
    };
    // A reexec request: attestation checks do not count, signed and reexec checks do.
    let id = ask_mode(&mut s, asker, b"in", Mode::Reexec);
    let claim = Claim { mode: Mode::Reexec, ..claim_for(&s, id, b"in", b"out") };
    reverted(fulfill_with(&mut s, id, &claim, b"out", Check::Tee, 3), "CheckNotCounted { mode: 1, check: 3 }");
    reverted(fulfill_with(&mut s, id, &claim, b"out", Check::Zk, 3), "CheckNotCounted { mode: 1, check: 2 }");
    assert_eq!(calls(&mut s), 0, "nothing was delivered");
    fulfill_with(&mut s, id, &claim, b"out", Check::Signed, 3).unwrap();
    let id = ask_mode(&mut s, asker, b"in 2", Mode::Reexec);
    let claim = Claim { mode: Mode::Reexec, ..claim_for(&s, id, b"in 2", b"out") };
    fulfill_with(&mut s, id, &claim, b"out", Check::Reexec, 3).unwrap();
    assert_eq!(calls(&mut s), 2);

    // A zk request needs zk verdicts; a tee request tee verdicts.
    for (mode, check) in [(Mode::Zk, Check::Zk), (Mode::Tee, Check::Tee)] {
        let id = ask_mode(&mut s, asker, mode.name().as_bytes(), mode);
        let claim = Claim { mode, ..claim_for(&s, id, mode.name().as_bytes(), b"out") };
        for other in Check::ALL.into_iter().filter(|&other| other != check) {
            reverted(fulfill_with(&mut s, id, &claim, b"out", other, 3), "CheckNotCounted");
        }
        fulfill_with(&mut s, id, &claim, b"out", check, 3).unwrap();
    }
    assert_eq!(calls(&mut s), 4);
}

#[test]
fn an_accuser_whose_stake_is_below_the_bond_cannot_open_a_dispute() {
    // A bond above the minimum stake, so that a validator can stake less than it.
    let bond = MIN_STAKE + 50;
    let net = Net::with(
        veritas_chain::genesis::GenesisConfig { dispute_bond: U256::from(bond), ..config(key(0).address()) },
        &[MIN_STAKE, bond, bond],
    );
    let mut s = Setup { net, worker: key(40), validators: Vec::new() };
    s.net.register(&s.worker, INFERENCE, 1_000).unwrap();
    s.validators = std::mem::take(&mut s.net.validators);
    for validator in [s.validators[0].address(), s.validators[1].address()] {
        s.net.give(validator, 1_000);
        s.net.approve(validator, s.net.settlement, 1_000);
    }
    let domain = s.net.domain();
    let claim = claim_by(&s.worker, 23);
    let poor = s.validators[0].address();
    reverted(
        open_by(&mut s, &claim, &domain, Check::Reexec, 0),
        &format!("AccuserStakeBelowBond {{ accuser: {poor:?}, stake: {MIN_STAKE}, bond: {bond} }}"),
    );
    open_by(&mut s, &claim, &domain, Check::Reexec, 1).unwrap();
}
