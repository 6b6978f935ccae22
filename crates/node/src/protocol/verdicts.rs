//! Verdicts and what follows from them: whether a validator's verdict counts (signed by the
//! validator asked, over this claim, with a check the claim's mode rests on), when validators
//! holding more than 2/3 of the stake agree with the same check (a quorum the contracts accept),
//! and the steps a gateway takes on chain: an "invalid" verdict opens a dispute (the gateway
//! posts the bond), the quorum's verdict resolves it, and every validator whose signed verdict
//! contradicts the quorum is slashed.

use std::collections::BTreeMap;

use alloy_primitives::U256;
use veritas_primitives::{Address, B256, Check, ClaimDomain, Mode, ValidatorSet, Verdict};

/// Why a gateway refuses a validator's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerdictRefusal {
    /// The verdict names another validator than the one asked.
    OtherValidator,
    /// Its signature is not the named validator's over this claim.
    BadSignature,
    /// The validator holds no stake.
    NotStaked,
    /// Its check is not one the claim's mode rests on (a `tee` check of a `reexec` claim, …).
    CheckNotCounted,
    /// The validator did not answer.
    NoAnswer,
}

impl VerdictRefusal {
    /// Every refusal.
    pub const ALL: [VerdictRefusal; 5] = [
        VerdictRefusal::OtherValidator,
        VerdictRefusal::BadSignature,
        VerdictRefusal::NotStaked,
        VerdictRefusal::CheckNotCounted,
        VerdictRefusal::NoAnswer,
    ];

    /// The `reason` label of `veritas_verdicts_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            VerdictRefusal::OtherValidator => "names another validator",
            VerdictRefusal::BadSignature => "signature does not hold for this claim",
            VerdictRefusal::NotStaked => "not a staked validator",
            VerdictRefusal::CheckNotCounted => "a check the claim's mode does not rest on",
            VerdictRefusal::NoAnswer => "no answer",
        }
    }
}

/// Whether the verdict a validator (`asked`, holding `stake`) sent about claim `id` (in `mode`)
/// counts: it must be that validator's, signed by it over this claim and its check in this
/// network, the check one the mode rests on, and the validator staked.
pub fn accept(
    domain: &ClaimDomain,
    asked: Address,
    stake: U256,
    id: &B256,
    mode: Mode,
    verdict: Verdict,
) -> Result<Verdict, VerdictRefusal> {
    if verdict.validator != asked {
        return Err(VerdictRefusal::OtherValidator);
    }
    if verdict.signer(domain, *id) != Some(asked) {
        return Err(VerdictRefusal::BadSignature);
    }
    if !verdict.check.counts_for(mode) {
        return Err(VerdictRefusal::CheckNotCounted);
    }
    if stake.is_zero() {
        return Err(VerdictRefusal::NotStaked);
    }
    Ok(verdict)
}

/// Where a claim's verdicts stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Validators holding more than 2/3 of the stake said valid, with this check.
    Valid(Check),
    /// Validators holding more than 2/3 of the stake said invalid, with this check.
    Invalid(Check),
    /// Neither yet.
    Pending,
}

/// The quorum, if one formed among `verdicts` (one per validator, each already accepted)
/// counted against `validators`: more than 2/3 of the stake agreeing, with one check (the
/// contracts resolve a dispute or deliver a request over signatures of one check; every
/// validator derives the same check from the claim).
pub fn tally(verdicts: &BTreeMap<Address, Verdict>, validators: &ValidatorSet) -> Outcome {
    let stake = |valid: bool, check: Check| -> U256 {
        verdicts
            .values()
            .filter(|v| v.valid == valid && v.check == check)
            .fold(U256::ZERO, |sum, v| sum.saturating_add(validators.stake_of(&v.validator)))
    };
    for check in Check::ALL {
        if validators.is_quorum(stake(true, check)) {
            return Outcome::Valid(check);
        }
        if validators.is_quorum(stake(false, check)) {
            return Outcome::Invalid(check);
        }
    }
    Outcome::Pending
}

/// The verdicts saying `valid` with the check most of them name, in ascending validator order:
/// what a contract call that takes one check's signatures (a request's delivery) is given.
pub fn one_check(verdicts: &[Verdict], valid: bool) -> Option<(Check, Vec<Verdict>)> {
    let check = Check::ALL
        .into_iter()
        .max_by_key(|check| verdicts.iter().filter(|v| v.valid == valid && v.check == *check).count())?;
    let mut chosen: Vec<Verdict> = verdicts.iter().filter(|v| v.valid == valid && v.check == check).cloned().collect();
    if chosen.is_empty() {
        return None;
    }
    chosen.sort_by_key(|v| v.validator);
    Some((check, chosen))
}

/// One step a gateway takes about a claim, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Open a dispute with this "invalid" verdict.
    OpenDispute(Verdict),
    /// Resolve the dispute with the quorum's verdicts (in ascending validator order).
    ResolveDispute {
        /// The quorum's verdict.
        valid: bool,
        /// The check its verdicts name.
        check: Check,
        /// Its verdicts.
        quorum: Vec<Verdict>,
    },
    /// Slash the validator that signed this verdict against the quorum.
    SlashVerdict(Verdict),
    /// Record the quorum's judgement (the claim leaves the verdict queue).
    Record {
        /// The quorum's verdict.
        valid: bool,
    },
}

/// What a gateway does about a claim with these verdicts: an "invalid" verdict opens a dispute
/// unless one is open (`disputed`); once a quorum forms, a disputed claim is resolved by the
/// quorum and every contradicting verdict slashed, then the judgement recorded.
pub fn resolve(verdicts: &BTreeMap<Address, Verdict>, validators: &ValidatorSet, disputed: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    let accusation = verdicts.values().find(|v| !v.valid);
    if let Some(accusation) = accusation
        && !disputed
    {
        steps.push(Step::OpenDispute(accusation.clone()));
    }
    let (valid, check) = match tally(verdicts, validators) {
        Outcome::Valid(check) => (true, check),
        Outcome::Invalid(check) => (false, check),
        Outcome::Pending => return steps,
    };
    if accusation.is_some() {
        let quorum: Vec<Verdict> =
            verdicts.values().filter(|v| v.valid == valid && v.check == check).cloned().collect();
        steps.push(Step::ResolveDispute { valid, check, quorum });
        steps.extend(verdicts.values().filter(|v| v.valid != valid).cloned().map(Step::SlashVerdict));
    }
    steps.push(Step::Record { valid });
    steps
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use veritas_primitives::{WorkerKey, verdict::verdict_digest};

    use super::*;

    fn validators(stakes: &[u64]) -> (Vec<Address>, ValidatorSet) {
        let addresses: Vec<Address> = (1..=stakes.len() as u8).map(Address::repeat_byte).collect();
        let stakes_map: BTreeMap<Address, U256> =
            addresses.iter().zip(stakes).map(|(a, s)| (*a, U256::from(*s))).collect();
        let total = stakes.iter().map(|s| U256::from(*s)).fold(U256::ZERO, |a, b| a + b);
        (addresses, ValidatorSet { stakes: stakes_map, total })
    }

    fn verdicts(addresses: &[Address], votes: &[Option<bool>]) -> BTreeMap<Address, Verdict> {
        addresses
            .iter()
            .zip(votes)
            .filter_map(|(a, v)| {
                v.map(|valid| {
                    (*a, Verdict { validator: *a, valid, check: Check::Reexec, signature: Default::default() })
                })
            })
            .collect()
    }

    #[test]
    fn a_verdict_counts_only_signed_by_the_staked_validator_asked_about_this_claim() {
        let domain = ClaimDomain::dev();
        let key = WorkerKey::random();
        let claim = B256::repeat_byte(1);
        let signed_with = |claim: B256, key: &WorkerKey, check: Check| Verdict {
            validator: key.address(),
            valid: true,
            check,
            signature: key.sign_digest(&verdict_digest(&domain, claim, true, check)).unwrap().to_vec().into(),
        };
        let signed = |claim: B256, key: &WorkerKey| signed_with(claim, key, Check::Reexec);
        let honest = signed(claim, &key);
        let stake = U256::from(1);
        let stranger = WorkerKey::random();
        for (asked, stake, verdict, expected) in [
            (key.address(), stake, honest.clone(), None),
            (stranger.address(), stake, honest.clone(), Some(VerdictRefusal::OtherValidator)),
            (key.address(), stake, signed(B256::repeat_byte(2), &key), Some(VerdictRefusal::BadSignature)),
            (
                key.address(),
                stake,
                Verdict { signature: signed(claim, &stranger).signature, ..honest.clone() },
                Some(VerdictRefusal::BadSignature),
            ),
            (key.address(), stake, Verdict { valid: false, ..honest.clone() }, Some(VerdictRefusal::BadSignature)),
            // The check is signed: relabelling it breaks the signature.
            (
                key.address(),
                stake,
                Verdict { check: Check::Signed, ..honest.clone() },
                Some(VerdictRefusal::BadSignature),
            ),
            // A check the mode does not rest on, honestly signed, does not count.
            (key.address(), stake, signed_with(claim, &key, Check::Tee), Some(VerdictRefusal::CheckNotCounted)),
            (key.address(), stake, signed_with(claim, &key, Check::Signed), None),
            (key.address(), U256::ZERO, honest.clone(), Some(VerdictRefusal::NotStaked)),
        ] {
            assert_eq!(accept(&domain, asked, stake, &claim, Mode::Reexec, verdict).err(), expected);
        }
        let other_network = ClaimDomain { chain_id: 1, ..domain };
        assert_eq!(
            accept(&other_network, key.address(), stake, &claim, Mode::Reexec, honest.clone()).err(),
            Some(VerdictRefusal::BadSignature)
        );
        assert_eq!(
            accept(&domain, key.address(), stake, &claim, Mode::Zk, honest).err(),
            Some(VerdictRefusal::CheckNotCounted),
            "a zk claim rests on its proof alone"
        );
    }

    #[test]
    fn a_quorum_is_more_than_two_thirds_of_the_stake() {
        let (addresses, set) = validators(&[1, 1, 1]);
        let (unequal, weighted) = validators(&[5, 1, 1]);
        for (addresses, set, votes, expected) in [
            (&addresses, &set, [Some(true), Some(true), Some(true)], Outcome::Valid(Check::Reexec)),
            (&addresses, &set, [Some(true), Some(true), None], Outcome::Pending),
            (&addresses, &set, [Some(true), Some(true), Some(false)], Outcome::Pending),
            (&addresses, &set, [Some(false), Some(false), Some(false)], Outcome::Invalid(Check::Reexec)),
            (&unequal, &weighted, [Some(true), None, None], Outcome::Valid(Check::Reexec)),
            (&unequal, &weighted, [Some(false), Some(true), Some(true)], Outcome::Invalid(Check::Reexec)),
            (&unequal, &weighted, [None, Some(true), Some(true)], Outcome::Pending),
        ] {
            assert_eq!(tally(&verdicts(addresses, &votes), set), expected, "{votes:?}");
        }
        // Agreement needs one check: two of three with one, the third with another, is none.
        let mut mixed = verdicts(&addresses, &[Some(true), Some(true), Some(true)]);
        mixed.get_mut(&addresses[2]).unwrap().check = Check::Signed;
        assert_eq!(tally(&mixed, &set), Outcome::Pending);
    }

    #[test]
    fn disputes_open_on_an_accusation_and_close_with_the_quorum_slashing_dissent() {
        let (a, set) = validators(&[1, 1, 1, 1]);
        let v = |votes: [Option<bool>; 4]| verdicts(&a, &votes);
        let verdict = |i: usize, valid: bool| Verdict {
            validator: a[i],
            valid,
            check: Check::Reexec,
            signature: Default::default(),
        };
        // Unanimous: recorded, nothing on chain.
        assert_eq!(resolve(&v([Some(true); 4]), &set, false), [Step::Record { valid: true }]);
        // One accuser, no quorum yet: the dispute opens, once.
        let waiting = v([Some(false), Some(true), None, None]);
        assert_eq!(resolve(&waiting, &set, false), [Step::OpenDispute(verdict(0, false))]);
        assert_eq!(resolve(&waiting, &set, true), []);
        // The quorum says valid: resolved, the accuser slashed, then recorded.
        let outvoted = v([Some(false), Some(true), Some(true), Some(true)]);
        assert_eq!(
            resolve(&outvoted, &set, true),
            [
                Step::ResolveDispute {
                    valid: true,
                    check: Check::Reexec,
                    quorum: vec![verdict(1, true), verdict(2, true), verdict(3, true)]
                },
                Step::SlashVerdict(verdict(0, false)),
                Step::Record { valid: true },
            ]
        );
        // The quorum says invalid: the lone approver is slashed.
        let caught = v([Some(false), Some(false), Some(false), Some(true)]);
        assert_eq!(
            resolve(&caught, &set, false),
            [
                Step::OpenDispute(verdict(0, false)),
                Step::ResolveDispute {
                    valid: false,
                    check: Check::Reexec,
                    quorum: vec![verdict(0, false), verdict(1, false), verdict(2, false)]
                },
                Step::SlashVerdict(verdict(3, true)),
                Step::Record { valid: false },
            ]
        );
    }

    proptest! {
        #[test]
        fn every_slash_contradicts_the_recorded_quorum_and_every_record_has_one(
            stakes in proptest::collection::vec(1u64..100, 1..7),
            votes in proptest::collection::vec(proptest::option::of(any::<bool>()), 7),
            disputed in any::<bool>(),
        ) {
            let (addresses, set) = validators(&stakes);
            let have = verdicts(&addresses, &votes[..addresses.len()]);
            let steps = resolve(&have, &set, disputed);
            let recorded = steps.iter().find_map(|s| match s { Step::Record { valid } => Some(*valid), _ => None });
            match recorded {
                Some(valid) => {
                    let stake: U256 = have.values().filter(|v| v.valid == valid).map(|v| set.stake_of(&v.validator)).sum();
                    prop_assert!(set.is_quorum(stake));
                    prop_assert_eq!(steps.last(), Some(&Step::Record { valid }));
                    for step in &steps {
                        if let Step::SlashVerdict(verdict) = step {
                            prop_assert_ne!(verdict.valid, valid);
                        }
                    }
                }
                None => {
                    let on_chain = steps.iter().any(|s| matches!(s, Step::SlashVerdict(_) | Step::ResolveDispute { .. }));
                    prop_assert!(!on_chain);
                }
            }
            let opens = steps.iter().filter(|s| matches!(s, Step::OpenDispute(_))).count();
            prop_assert_eq!(opens, usize::from(!disputed && have.values().any(|v| !v.valid)));
        }
    }
}
