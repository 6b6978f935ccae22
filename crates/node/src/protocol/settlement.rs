//! What a batch settles and who is paid: the oldest quorum-verified claims whose payers' escrow
//! covers them (a payer that cannot pay holds back only its own claims), netted into one debit
//! per payer and one credit per worker or validator. A claim's worker earns nine tenths of its
//! fee and the validators that judged it valid share the rest.

use std::collections::BTreeMap;

use alloy_primitives::U256;
use veritas_primitives::{
    Address, Mode, ModelId, TensorData, Value, Values,
    batch::{ClaimVerdicts, Transfer},
    values::values_hash,
};

use veritas_verifier::confidential;

use super::Prices;
use crate::store::{Charge, Queued};

/// What one settled claim pays whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Share {
    /// Who pays, and how much.
    pub charge: Charge,
    /// The worker that signed the claim.
    pub worker: Address,
    /// The validators whose "valid" verdicts formed its quorum.
    pub validators: Vec<Address>,
}

/// Nets a batch's charges: one debit per payer and one credit per worker or validator (each in
/// address order): a claim's worker earns nine tenths of its fee (the fee less a tenth, rounded
/// down), the validators that judged it valid share the tenth (what does not divide evenly goes
/// to the worker); zero amounts are left out. `None` when a sum does not fit 256 bits: such a
/// batch is refused, never wrapped.
pub fn transfers(shares: &[Share]) -> Option<(Vec<Transfer>, Vec<Transfer>)> {
    fn add(to: &mut U256, amount: U256) -> Option<()> {
        *to = to.checked_add(amount)?;
        Some(())
    }
    let mut by_payer = BTreeMap::<Address, U256>::new();
    let mut earned = BTreeMap::<Address, U256>::new();
    for share in shares {
        let fee = share.charge.fee;
        add(by_payer.entry(share.charge.payer).or_default(), fee)?;
        let rest = fee / U256::from(10u64);
        let mut worker = fee - rest;
        if share.validators.is_empty() {
            worker = fee;
        } else {
            let count = U256::from(share.validators.len());
            let each = rest / count;
            for validator in &share.validators {
                add(earned.entry(*validator).or_default(), each)?;
            }
            // `each * count <= rest <= fee - worker`: no overflow.
            worker += rest - each * count;
        }
        add(earned.entry(share.worker).or_default(), worker)?;
    }
    let keep = |(account, amount): (Address, U256)| (!amount.is_zero()).then_some(Transfer { account, amount });
    Some((by_payer.into_iter().filter_map(keep).collect(), earned.into_iter().filter_map(keep).collect()))
}

/// The tokens a claim's output proves: the length of its `tokens` tensor (a language model's
/// completion), 0 for any other output.
pub fn proven_tokens(output: &Values) -> u64 {
    match output.get("tokens") {
        Some(Value::Tensor(tensor)) => match &tensor.data {
            TensorData::Int64(ids) => ids.len() as u64,
            _ => 0,
        },
        _ => 0,
    }
}

/// The tokens a claim carried for a batch proves: its output's (which must hash to the claim's
/// output hash), or a confidential `tee` claim's attested parameters' (which must hash to its
/// params hash).
fn claim_tokens(claim: &ClaimVerdicts) -> Result<u64, String> {
    if let Some(output) = &claim.output {
        if values_hash(output) != claim.claim.output_hash {
            return Err("the output carried is not the claim's".into());
        }
        return Ok(proven_tokens(output));
    }
    match &claim.params {
        Some(params) if claim.claim.mode == Mode::Tee && confidential::is_confidential(params) => {
            if params.hash() != claim.claim.params_hash {
                return Err("the parameters carried are not the claim's".into());
            }
            confidential::completion_tokens(params)
                .ok_or_else(|| "a confidential claim whose parameters name no tokens".into())
        }
        _ => Err(format!("{} tokens, without the output", claim.tokens)),
    }
}

/// What a batch's claims move, recomputed from the claims themselves: each claim's fee at most
/// the price the gateway lists for its model (`listings`) and the tokens its output proves, its
/// worker and the validators whose verdicts it carries paid by [`transfers`]. What a gateway
/// proposes and what a validator signs are both this; the reason names the claim refused.
pub fn batch_transfers(
    claims: &[ClaimVerdicts],
    listings: &BTreeMap<ModelId, Prices>,
) -> Result<(Vec<Transfer>, Vec<Transfer>), String> {
    let mut shares = Vec::with_capacity(claims.len());
    for claim in claims {
        let id = claim.id;
        let model = claim.claim.model_id;
        let prices =
            listings.get(&model).ok_or_else(|| format!("claim {id}: the gateway lists no price for model {model}"))?;
        if claim.tokens > 0 {
            let proven = claim_tokens(claim).map_err(|reason| format!("claim {id}: {reason}"))?;
            if proven != claim.tokens {
                return Err(format!("claim {id}: charges for {} tokens, its output holds {proven}", claim.tokens));
            }
        }
        let bound = prices.of(claim.tokens).ok_or_else(|| format!("claim {id}: its price does not fit 256 bits"))?;
        if claim.fee > bound {
            return Err(format!(
                "claim {id}: charges {} where the gateway's listed price for {} tokens is {bound}",
                claim.fee, claim.tokens
            ));
        }
        shares.push(Share {
            charge: Charge { payer: claim.payer, fee: claim.fee },
            worker: claim.claim.worker,
            validators: claim.verdicts.iter().map(|v| v.validator).collect(),
        });
    }
    transfers(&shares).ok_or_else(|| "the batch's transfers do not fit 256 bits".to_owned())
}

/// The payers of `queued`, each once, in order of first appearance: whose escrow to read.
pub fn payers(queued: &[Queued]) -> Vec<Address> {
    let mut seen = std::collections::BTreeSet::new();
    queued.iter().map(|q| q.charge.payer).filter(|payer| seen.insert(*payer)).collect()
}

/// The oldest queued claims whose payers' escrow (`escrows`; a payer missing there has none)
/// covers them, at most `max`: a payer that can no longer pay holds back its own claims only,
/// and from its first uncovered claim on, so that its claims settle in order.
pub fn payable(queued: Vec<Queued>, escrows: &BTreeMap<Address, U256>, max: usize) -> (Vec<Queued>, Vec<Queued>) {
    let mut left = escrows.clone();
    let mut take = Vec::with_capacity(queued.len().min(max));
    let mut held = Vec::new();
    for entry in queued {
        if take.len() == max {
            break;
        }
        let remaining = left.entry(entry.charge.payer).or_default();
        if *remaining < entry.charge.fee {
            *remaining = U256::ZERO;
            held.push(entry);
            continue;
        }
        *remaining -= entry.charge.fee;
        take.push(entry);
    }
    (take, held)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use veritas_primitives::B256;

    use super::*;

    fn a(byte: u8) -> Address {
        Address::repeat_byte(byte)
    }

    fn queued(sequence: u64, payer: u8, fee: u64) -> Queued {
        Queued {
            sequence,
            id: B256::repeat_byte(sequence as u8),
            charge: Charge { payer: a(payer), fee: U256::from(fee) },
        }
    }

    fn transfer(account: u8, amount: u64) -> Transfer {
        Transfer { account: a(account), amount: U256::from(amount) }
    }

    #[test]
    fn a_batch_pays_workers_nine_tenths_and_validators_the_rest() {
        let share = |payer, fee: u64, worker, validators: &[u8]| Share {
            charge: Charge { payer: a(payer), fee: U256::from(fee) },
            worker: a(worker),
            validators: validators.iter().map(|v| a(*v)).collect(),
        };
        for (shares, debits, credits) in [
            (vec![share(1, 100, 9, &[20])], vec![transfer(1, 100)], vec![transfer(9, 90), transfer(20, 10)]),
            // The remainder of an uneven split goes to the worker.
            (
                vec![share(1, 100, 9, &[20, 21, 22])],
                vec![transfer(1, 100)],
                vec![transfer(9, 91), transfer(20, 3), transfer(21, 3), transfer(22, 3)],
            ),
            // No validators (a standalone's own): all to the worker.
            (vec![share(1, 7, 9, &[])], vec![transfer(1, 7)], vec![transfer(9, 7)]),
            // Netted per payer and per earner; zero amounts left out.
            (
                vec![share(1, 100, 9, &[20]), share(2, 50, 9, &[20]), share(1, 0, 8, &[20])],
                vec![transfer(1, 100), transfer(2, 50)],
                vec![transfer(9, 135), transfer(20, 15)],
            ),
        ] {
            assert_eq!(transfers(&shares), Some((debits, credits)));
        }
    }

    #[test]
    fn a_batch_moves_what_its_claims_prove_at_the_listed_prices_and_no_more() {
        use veritas_primitives::{Check, Claim, Mode, Tensor, Verdict};
        let model = ModelId::of_manifest(b"model");
        let output = |tokens: Vec<i64>| -> Values {
            let tensor = Tensor::new("tokens", vec![tokens.len() as u64], TensorData::Int64(tokens)).unwrap();
            BTreeMap::from([("tokens".to_owned(), Value::Tensor(tensor))])
        };
        let claim = |fee: u64, tokens: u64, carried: Option<Values>, hashed: &Values| ClaimVerdicts {
            id: B256::repeat_byte(fee as u8),
            claim: Claim {
                request_id: B256::ZERO,
                model_id: model,
                input_hash: B256::ZERO,
                output_hash: values_hash(hashed),
                params_hash: B256::ZERO,
                mode: Mode::Reexec,
                worker: a(9),
                timestamp: 1,
            },
            verdicts: vec![Verdict {
                validator: a(20),
                valid: true,
                check: Check::Reexec,
                signature: Default::default(),
            }],
            payer: a(1),
            fee: U256::from(fee),
            tokens,
            output: carried,
            params: None,
        };
        let three = output(vec![1, 2, 3]);
        let listings = BTreeMap::from([(model, Prices { per_request: U256::from(100), per_token: U256::from(10) })]);
        let ok = |claims: &[ClaimVerdicts]| batch_transfers(claims, &listings);
        // 100 + 3 × 10: the most it may charge; less is the gateway's choice.
        assert_eq!(
            ok(&[claim(130, 3, Some(three.clone()), &three)]).unwrap(),
            (vec![transfer(1, 130)], vec![transfer(9, 117), transfer(20, 13)])
        );
        ok(&[claim(50, 0, None, &three)]).unwrap();
        for (claims, expected) in [
            (
                vec![claim(131, 3, Some(three.clone()), &three)],
                "charges 131 where the gateway's listed price for 3 tokens is 130",
            ),
            (vec![claim(101, 0, None, &three)], "listed price for 0 tokens is 100"),
            (vec![claim(140, 4, Some(three.clone()), &three)], "charges for 4 tokens, its output holds 3"),
            (vec![claim(130, 3, None, &three)], "3 tokens, without the output"),
            (vec![claim(130, 3, Some(output(vec![7, 7, 7])), &three)], "the output carried is not the claim's"),
        ] {
            let err = ok(&claims).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        // A confidential claim proves its tokens by its attested parameters, hashed into the claim.
        let params = veritas_primitives::Params(BTreeMap::from([
            ("confidential".to_owned(), confidential::SCHEME.into()),
            ("completion_tokens".to_owned(), 3.into()),
        ]));
        let sealed = |fee: u64, tokens: u64, mode: Mode, carried: &veritas_primitives::Params| {
            let mut claim = claim(fee, tokens, None, &three);
            claim.claim.mode = mode;
            claim.claim.params_hash = params.hash();
            claim.params = Some(carried.clone());
            claim
        };
        ok(&[sealed(130, 3, Mode::Tee, &params)]).unwrap();
        let mut other = params.clone();
        other.0.insert("completion_tokens".to_owned(), 4.into());
        for (claims, expected) in [
            (vec![sealed(140, 4, Mode::Tee, &params)], "charges for 4 tokens, its output holds 3"),
            (vec![sealed(140, 4, Mode::Tee, &other)], "the parameters carried are not the claim's"),
            (vec![sealed(130, 3, Mode::Reexec, &params)], "3 tokens, without the output"),
        ] {
            let err = ok(&claims).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        let unlisted = batch_transfers(&[claim(1, 0, None, &three)], &BTreeMap::new()).unwrap_err();
        assert!(unlisted.contains("lists no price"), "{unlisted}");
    }

    #[test]
    fn sums_past_256_bits_are_refused_not_wrapped() {
        let share = |payer: u8, fee: U256, worker: u8| Share {
            charge: Charge { payer: a(payer), fee },
            worker: a(worker),
            validators: vec![a(20)],
        };
        // One payer owing more than 2^256 in total, and one worker earning it.
        assert_eq!(transfers(&[share(1, U256::MAX, 9), share(1, U256::from(1), 8)]), None);
        assert_eq!(transfers(&[share(1, U256::MAX, 9), share(2, U256::MAX, 9)]), None);
        // The largest fee alone splits without overflow.
        let (debits, credits) = transfers(&[share(1, U256::MAX, 9)]).unwrap();
        assert_eq!(debits, vec![Transfer { account: a(1), amount: U256::MAX }]);
        assert_eq!(credits.iter().fold(U256::ZERO, |s, t| s + t.amount), U256::MAX);
    }

    #[test]
    fn a_payer_that_cannot_pay_holds_back_only_its_own_claims() {
        let escrows = BTreeMap::from([(a(1), U256::from(25)), (a(2), U256::from(100))]);
        let all = vec![
            queued(0, 1, 10),
            queued(1, 2, 10),
            queued(2, 1, 10),
            queued(3, 1, 10),
            queued(4, 3, 1),
            queued(5, 1, 1),
        ];
        let (take, held) = payable(all.clone(), &escrows, 10);
        let sequences = |q: &[Queued]| q.iter().map(|q| q.sequence).collect::<Vec<_>>();
        assert_eq!(sequences(&take), [0, 1, 2]);
        assert_eq!(sequences(&held), [3, 4, 5], "payer 1 is exhausted, payer 3 has no escrow");
        let (take, _) = payable(all, &escrows, 2);
        assert_eq!(sequences(&take), [0, 1], "at most the batch size");
        assert_eq!(payers(&[queued(0, 2, 1), queued(1, 1, 1), queued(2, 2, 1)]), [a(2), a(1)]);
    }

    proptest! {
        #[test]
        fn debits_equal_credits(shares in proptest::collection::vec((1u8..4, 0u64..1_000_000, 5u8..8, proptest::collection::vec(10u8..14, 0..4)), 0..20)) {
            let shares: Vec<Share> = shares.into_iter().map(|(payer, fee, worker, validators)| Share {
                charge: Charge { payer: a(payer), fee: U256::from(fee) },
                worker: a(worker),
                validators: validators.into_iter().map(a).collect(),
            }).collect();
            let (debits, credits) = transfers(&shares).unwrap();
            let sum = |t: &[Transfer]| t.iter().fold(U256::ZERO, |s, t| s + t.amount);
            prop_assert_eq!(sum(&debits), sum(&credits));
            prop_assert!(debits.iter().chain(&credits).all(|t| !t.amount.is_zero()));
        }

        #[test]
        fn no_payer_is_charged_beyond_its_escrow(
            entries in proptest::collection::vec((1u8..4, 0u64..50), 0..30),
            escrow in proptest::collection::vec(0u64..200, 3),
        ) {
            let queue: Vec<Queued> = entries.iter().enumerate().map(|(i, (p, f))| queued(i as u64, *p, *f)).collect();
            let escrows: BTreeMap<Address, U256> = (1u8..4).zip(&escrow).map(|(p, e)| (a(p), U256::from(*e))).collect();
            let (take, held) = payable(queue.clone(), &escrows, 1000);
            prop_assert_eq!(take.len() + held.len(), queue.len());
            for (payer, balance) in &escrows {
                let spent: U256 = take.iter().filter(|q| q.charge.payer == *payer).map(|q| q.charge.fee).sum();
                prop_assert!(spent <= *balance);
            }
        }
    }
}
