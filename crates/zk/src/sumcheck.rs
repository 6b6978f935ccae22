//! The sumcheck protocol for `Σ_{b ∈ {0,1}^k} f(b)·g(b)` with `f`, `g` multilinear: each round
//! polynomial has degree 2 and is sent as its values at 0, 1 and 2. [`verify_cubic`] checks
//! degree-3 rounds (values at 0, 1, 2, 3), as GKR's `eq·(product of two)` sums need (`logup`).
//!
//! Transcript order: the claimed sum, then for each round the three values followed by the
//! round's challenge. The number of rounds comes from the statement, never from the proof; the
//! verifier's output (point and value) must be checked by the caller against `f(point)·g(point)`.

use p3_field::{Field, PrimeCharacteristicRing};

use crate::mle::fold_in_place;
use crate::{EF, Transcript, ZkError, ZkResult};

/// The number of values sent per round: a degree-2 polynomial at 0, 1 and 2.
pub const ROUND_VALUES: usize = 3;

/// The number of values sent per round of a degree-3 sumcheck: at 0, 1, 2 and 3.
pub const CUBIC_ROUND_VALUES: usize = 4;

/// One round polynomial as its values at 0, 1, 2. A `Vec` so that a malformed proof (any other
/// count) is representable and rejected by the verifier.
pub type RoundPoly = Vec<EF>;

/// A sumcheck proof: one round polynomial per variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SumcheckProof {
    /// The round polynomials, first variable first.
    pub rounds: Vec<RoundPoly>,
}

/// What a sumcheck reduces its claim to: `f(point)·g(point) == value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SumcheckOutput {
    /// The challenges, one per round, first variable first.
    pub point: Vec<EF>,
    /// The value `f(point)·g(point)` must equal.
    pub value: EF,
}

/// Proves `Σ_b f(b)·g(b) = claimed_sum`, given the values of `f` and `g` on the hypercube (of
/// one power-of-two length). Returns the proof and the output the verifier will reach.
pub fn prove_product(
    mut f: Vec<EF>,
    mut g: Vec<EF>,
    claimed_sum: EF,
    transcript: &mut Transcript,
) -> ZkResult<(SumcheckProof, SumcheckOutput)> {
    if !f.len().is_power_of_two() || g.len() != f.len() {
        return Err(ZkError::Length { what: "sumcheck operands", expected: f.len(), got: g.len() });
    }
    let num_rounds = f.len().trailing_zeros() as usize;
    transcript.absorb_ext(&[claimed_sum]);
    let mut rounds = Vec::with_capacity(num_rounds);
    let mut point = Vec::with_capacity(num_rounds);
    let mut claim = claimed_sum;
    for _ in 0..num_rounds {
        let half = f.len() / 2;
        let (f_lo, f_hi) = f.split_at(half);
        let (g_lo, g_hi) = g.split_at(half);
        let mut values = [EF::ZERO; ROUND_VALUES];
        for i in 0..half {
            values[0] += f_lo[i] * g_lo[i];
            values[1] += f_hi[i] * g_hi[i];
            // At 2: lo + 2·(hi − lo) = 2·hi − lo.
            values[2] += (f_hi[i].double() - f_lo[i]) * (g_hi[i].double() - g_lo[i]);
        }
        transcript.absorb_ext(&values);
        let r = transcript.challenge();
        claim = interpolate(&values, r);
        fold_in_place(&mut f, r);
        fold_in_place(&mut g, r);
        rounds.push(values.to_vec());
        point.push(r);
    }
    Ok((SumcheckProof { rounds }, SumcheckOutput { point, value: claim }))
}

/// Verifies a sumcheck proof of `claimed_sum` over `num_rounds` variables (from the statement),
/// returning the point and value the caller must check against `f(point)·g(point)`.
pub fn verify_product(
    claimed_sum: EF,
    num_rounds: usize,
    proof: &SumcheckProof,
    transcript: &mut Transcript,
) -> ZkResult<SumcheckOutput> {
    verify_rounds(claimed_sum, num_rounds, proof, ROUND_VALUES, interpolate, transcript)
}

/// Verifies a sumcheck proof with degree-3 rounds (four values each), otherwise as
/// [`verify_product`]: the caller checks the returned value against the summand at the point.
pub fn verify_cubic(
    claimed_sum: EF,
    num_rounds: usize,
    proof: &SumcheckProof,
    transcript: &mut Transcript,
) -> ZkResult<SumcheckOutput> {
    verify_rounds(claimed_sum, num_rounds, proof, CUBIC_ROUND_VALUES, interpolate_cubic, transcript)
}

fn verify_rounds(
    claimed_sum: EF,
    num_rounds: usize,
    proof: &SumcheckProof,
    values_per_round: usize,
    interpolate: fn(&[EF], EF) -> EF,
    transcript: &mut Transcript,
) -> ZkResult<SumcheckOutput> {
    if proof.rounds.len() != num_rounds {
        return Err(ZkError::Length { what: "sumcheck rounds", expected: num_rounds, got: proof.rounds.len() });
    }
    transcript.absorb_ext(&[claimed_sum]);
    let mut point = Vec::with_capacity(num_rounds);
    let mut claim = claimed_sum;
    for (round, values) in proof.rounds.iter().enumerate() {
        if values.len() != values_per_round {
            return Err(ZkError::Length {
                what: "sumcheck round values",
                expected: values_per_round,
                got: values.len(),
            });
        }
        if values[0] + values[1] != claim {
            return Err(ZkError::RoundSum { round });
        }
        transcript.absorb_ext(values);
        let r = transcript.challenge();
        claim = interpolate(values, r);
        point.push(r);
    }
    Ok(SumcheckOutput { point, value: claim })
}

/// The degree-2 polynomial with values `values[0..3]` at 0, 1, 2, evaluated at `r`:
/// `p0·(r−1)(r−2)/2 − p1·r(r−2) + p2·r(r−1)/2`.
fn interpolate(values: &[EF], r: EF) -> EF {
    let (r1, r2) = (r - EF::ONE, r - EF::TWO);
    (values[0] * r1 * r2 + values[2] * r * r1).halve() - values[1] * r * r2
}

/// The degree-3 polynomial with values `values[0..4]` at 0, 1, 2, 3, evaluated at `r` (Lagrange:
/// the basis denominators are −6, 2, −2, 6).
fn interpolate_cubic(values: &[EF], r: EF) -> EF {
    let (r1, r2, r3) = (r - EF::ONE, r - EF::TWO, r - EF::from_u8(3));
    let sixth = EF::from_u8(6).inverse();
    let outer = (values[3] * r * r1 * r2 - values[0] * r1 * r2 * r3) * sixth;
    let inner = (values[1] * r * r2 * r3 - values[2] * r * r1 * r3).halve();
    outer + inner
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::F;

    fn ef(v: i64) -> EF {
        EF::from(F::from_i64(v))
    }

    fn sum_product(f: &[EF], g: &[EF]) -> EF {
        f.iter().zip(g).map(|(&a, &b)| a * b).sum()
    }

    #[test]
    fn interpolates_a_quadratic() {
        // p(x) = 3x² − 2x + 5: 5, 6, 13 at 0, 1, 2; at 10: 285; at −4: 61.
        let values = [ef(5), ef(6), ef(13)];
        assert_eq!(interpolate(&values, ef(10)), ef(285));
        assert_eq!(interpolate(&values, ef(-4)), ef(61));
    }

    #[test]
    fn interpolates_a_cubic() {
        // p(x) = 2x³ − x² + 4x − 7: −7, −2, 13, 50 at 0..=3; at 10: 1933; at −4: −167.
        let values = [ef(-7), ef(-2), ef(13), ef(50)];
        assert_eq!(interpolate_cubic(&values, ef(10)), ef(1933));
        assert_eq!(interpolate_cubic(&values, ef(-4)), ef(-167));
        for (x, &value) in values.iter().enumerate() {
            assert_eq!(interpolate_cubic(&values, ef(x as i64)), value);
        }
    }

    #[test]
    fn cubic_rounds_of_another_count_are_rejected() {
        let proof = SumcheckProof { rounds: vec![vec![ef(1), ef(2), ef(3)]] };
        let result = verify_cubic(ef(3), 1, &proof, &mut Transcript::new(b"test", &[]));
        assert_eq!(result, Err(ZkError::Length { what: "sumcheck round values", expected: 4, got: 3 }));
    }

    #[test]
    fn honest_proof_reaches_the_product_at_the_point() {
        let f: Vec<EF> = [1, -2, 3, 4, 0, 7, -8, 9].map(ef).to_vec();
        let g: Vec<EF> = [5, 6, -7, 8, 9, 1, 2, -3].map(ef).to_vec();
        let sum = sum_product(&f, &g);
        let mut prover = Transcript::new(b"test", &[]);
        let (proof, expected) = prove_product(f.clone(), g.clone(), sum, &mut prover).unwrap();
        let mut verifier = Transcript::new(b"test", &[]);
        let output = verify_product(sum, 3, &proof, &mut verifier).unwrap();
        assert_eq!(output, expected);
        let f = crate::Mle::new(f).unwrap();
        let g = crate::Mle::new(g).unwrap();
        assert_eq!(output.value, f.evaluate(&output.point).unwrap() * g.evaluate(&output.point).unwrap());
        // Both transcripts are in the same state afterwards.
        assert_eq!(prover.challenge(), verifier.challenge());
    }

    #[test]
    fn zero_rounds_pass_the_claim_through() {
        let mut prover = Transcript::new(b"test", &[]);
        let (proof, _) = prove_product(vec![ef(3)], vec![ef(4)], ef(12), &mut prover).unwrap();
        assert!(proof.rounds.is_empty());
        let output = verify_product(ef(12), 0, &proof, &mut Transcript::new(b"test", &[])).unwrap();
        assert_eq!(output, SumcheckOutput { point: vec![], value: ef(12) });
    }

    #[test]
    fn wrong_sum_fails_the_first_round() {
        let f = vec![ef(1), ef(2)];
        let g = vec![ef(3), ef(4)];
        let mut prover = Transcript::new(b"test", &[]);
        let (proof, _) = prove_product(f, g, ef(11), &mut prover).unwrap();
        let result = verify_product(ef(12), 1, &proof, &mut Transcript::new(b"test", &[]));
        assert_eq!(result, Err(ZkError::RoundSum { round: 0 }));
    }

    #[test]
    fn prover_that_fixes_each_round_sum_is_caught_at_the_end() {
        // A false sum: each round the prover shifts p(0) so that p(0) + p(1) matches its running
        // claim; the rounds pass and the final value differs from f(point)·g(point).
        let mut f: Vec<EF> = [1, -2, 3, 4, 0, 7, -8, 9].map(ef).to_vec();
        let mut g: Vec<EF> = [5, 6, -7, 8, 9, 1, 2, -3].map(ef).to_vec();
        let (f_mle, g_mle) = (crate::Mle::new(f.clone()).unwrap(), crate::Mle::new(g.clone()).unwrap());
        let false_sum = sum_product(&f, &g) + EF::ONE;
        let mut transcript = Transcript::new(b"test", &[]);
        transcript.absorb_ext(&[false_sum]);
        let mut claim = false_sum;
        let mut rounds = vec![];
        for _ in 0..3 {
            let half = f.len() / 2;
            let mut values = vec![EF::ZERO; 3];
            for i in 0..half {
                values[0] += f[i] * g[i];
                values[1] += f[half + i] * g[half + i];
                values[2] += (f[half + i].double() - f[i]) * (g[half + i].double() - g[i]);
            }
            values[0] = claim - values[1];
            transcript.absorb_ext(&values);
            let r = transcript.challenge();
            claim = interpolate(&values, r);
            fold_in_place(&mut f, r);
            fold_in_place(&mut g, r);
            rounds.push(values);
        }
        let proof = SumcheckProof { rounds };
        let output = verify_product(false_sum, 3, &proof, &mut Transcript::new(b"test", &[])).unwrap();
        let at_point = f_mle.evaluate(&output.point).unwrap() * g_mle.evaluate(&output.point).unwrap();
        assert_ne!(output.value, at_point);
    }

    #[test]
    fn rejects_mismatched_operands() {
        let mut transcript = Transcript::new(b"test", &[]);
        assert!(prove_product(vec![ef(1); 2], vec![ef(1); 4], ef(0), &mut transcript).is_err());
        assert!(prove_product(vec![ef(1); 3], vec![ef(1); 3], ef(0), &mut transcript).is_err());
    }
}
