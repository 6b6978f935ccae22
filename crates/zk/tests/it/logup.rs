//! Soundness tests of the LogUp range check: honest proofs verify with claims equal to the MLEs
//! of `f` and `m`, and out-of-range values, wrong multiplicities and every tampering with the
//! proof are rejected.

use p3_field::PrimeCharacteristicRing;
use proptest::prelude::*;
use veritas_zk::logup::{LookupClaims, LookupProof, multiplicities, prove, verify};
use veritas_zk::{EF, F, Mle, Transcript, ZkError, ZkResult};

const SHAPES: &[(usize, usize)] = &[(0, 1), (3, 2), (6, 4), (10, 8), (12, 16)];

/// `2^n` pseudo-random values in `{0, …, 2^k − 1}` (seeded, deterministic).
fn in_range(n: usize, k: usize, seed: u64) -> Vec<F> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..1usize << n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            F::from_u64(state % (1 << k))
        })
        .collect()
}

/// The caller's transcript: the statement, then `f` and `m` as stand-ins for their commitments,
/// all absorbed before `prove` or `verify` draws `γ`.
fn transcript(n: usize, k: usize, f: &[F], m: &[F]) -> Transcript {
    let mut transcript = Transcript::new(b"logup-test", &[F::from_usize(n), F::from_usize(k)]);
    transcript.absorb_base(f);
    transcript.absorb_base(m);
    transcript
}

fn prove_with(f: &[F], m: &[F], k: usize) -> LookupProof {
    let n = f.len().trailing_zeros() as usize;
    prove(f, m, k, &mut transcript(n, k, f, m)).unwrap().0
}

/// Verifies `proof`, then checks the returned claims against the MLEs of `f` and `m` (the
/// caller's job, later against commitments).
fn check(f: &[F], m: &[F], k: usize, proof: &LookupProof) -> ZkResult<()> {
    let n = f.len().trailing_zeros() as usize;
    let claims = verify(n, k, proof, &mut transcript(n, k, f, m))?;
    check_claims(f, m, &claims)
}

fn check_claims(f: &[F], m: &[F], claims: &LookupClaims) -> ZkResult<()> {
    if Mle::new(f.to_vec())?.evaluate(&claims.f_point)? != claims.f_eval {
        return Err(ZkError::FinalEvaluation("f claim"));
    }
    if Mle::new(m.to_vec())?.evaluate(&claims.m_point)? != claims.m_eval {
        return Err(ZkError::FinalEvaluation("m claim"));
    }
    Ok(())
}

/// Every field element of a proof, by mutable reference, in transcript order.
fn elements(proof: &mut LookupProof) -> Vec<&mut EF> {
    let mut all = vec![&mut proof.root_p, &mut proof.root_q];
    for layer in &mut proof.layers {
        all.extend(layer.sumcheck.rounds.iter_mut().flatten());
        all.extend(layer.children.iter_mut());
    }
    all.push(&mut proof.f_eval);
    all.push(&mut proof.m_eval);
    all
}

#[test]
fn honest_proofs_verify_with_claims_on_f_and_m() {
    for &(n, k) in SHAPES {
        let f = in_range(n, k, 7);
        let m = multiplicities(&f, k);
        let mut prover = transcript(n, k, &f, &m);
        let (proof, prover_claims) = prove(&f, &m, k, &mut prover).unwrap();
        assert_eq!(proof.layers.len(), n.max(k) + 1, "({n}, {k})");
        for (layer_idx, layer) in proof.layers.iter().enumerate() {
            assert_eq!(layer.sumcheck.rounds.len(), layer_idx);
        }
        let mut verifier = transcript(n, k, &f, &m);
        let claims = verify(n, k, &proof, &mut verifier).unwrap();
        assert_eq!(claims, prover_claims, "({n}, {k})");
        assert_eq!((claims.f_point.len(), claims.m_point.len()), (n, k));
        assert_eq!(check_claims(&f, &m, &claims), Ok(()), "({n}, {k})");
        assert_eq!(prover.challenge(), verifier.challenge(), "transcripts diverge at ({n}, {k})");
    }
}

#[test]
fn the_table_edges_verify() {
    let k = 4;
    let f: Vec<F> = [0u64, 15, 15, 0, 1, 14, 15, 15].map(F::from_u64).to_vec();
    let m = multiplicities(&f, k);
    assert_eq!(check(&f, &m, k, &prove_with(&f, &m, k)), Ok(()));
}

#[test]
fn values_outside_the_table_are_rejected() {
    let (n, k) = (3, 2);
    for outside in [F::from_u64(1 << k), -F::ONE, F::from_u64(1 << 20)] {
        let mut f = in_range(n, k, 3);
        f[5] = outside;
        let m = multiplicities(&f, k);
        let proof = prove_with(&f, &m, k);
        assert_ne!(proof.root_p, EF::ZERO);
        let expected = Err(ZkError::Lookup("the root numerator is not zero (a value outside the table)"));
        assert_eq!(check(&f, &m, k, &proof), expected, "{outside}");
    }
}

#[test]
fn a_wrong_multiplicity_is_rejected() {
    let (n, k) = (6, 4);
    let f = in_range(n, k, 5);
    let honest = multiplicities(&f, k);
    for j in [0, 3, 15] {
        for delta in [F::ONE, -F::ONE] {
            let mut m = honest.clone();
            m[j] += delta;
            let proof = prove_with(&f, &m, k);
            assert!(check(&f, &m, k, &proof).is_err(), "m[{j}] moved by {delta}");
        }
    }
    // A count moved from one table entry to another still breaks the sum.
    let mut m = honest.clone();
    let from = m.iter().position(|&c| c != F::ZERO).unwrap();
    m[from] -= F::ONE;
    m[(from + 1) % 16] += F::ONE;
    assert!(check(&f, &m, k, &prove_with(&f, &m, k)).is_err());
}

#[test]
fn multiplicities_are_bound_before_gamma() {
    let (n, k) = (6, 4);
    let f = in_range(n, k, 9);
    let m = multiplicities(&f, k);
    let proof = prove_with(&f, &m, k);
    let mut other = m.clone();
    other[1] += F::ONE;
    other[2] -= F::ONE;
    // The transcript absorbs m before γ: other multiplicities give another γ, and the proof fails.
    let against_other = verify(n, k, &proof, &mut transcript(n, k, &f, &other));
    assert!(against_other.is_err(), "{against_other:?}");
    // With the transcript of m, m changed after proving (same proof) misses the m claim.
    let claims = verify(n, k, &proof, &mut transcript(n, k, &f, &m)).unwrap();
    assert_eq!(check_claims(&f, &other, &claims), Err(ZkError::FinalEvaluation("m claim")));
    // And another f misses the f claim.
    let mut other_f = f.clone();
    other_f[0] += F::ONE;
    assert_eq!(check_claims(&other_f, &m, &claims), Err(ZkError::FinalEvaluation("f claim")));
}

#[test]
fn a_zero_root_denominator_is_rejected() {
    let (n, k) = (3, 2);
    let f = in_range(n, k, 1);
    let m = multiplicities(&f, k);
    let mut proof = prove_with(&f, &m, k);
    proof.root_q = EF::ZERO;
    assert_eq!(check(&f, &m, k, &proof), Err(ZkError::Lookup("the root denominator is zero")));
}

#[test]
fn every_mutated_element_is_rejected() {
    for &(n, k) in &[(0, 1), (3, 2), (2, 4)] {
        let f = in_range(n, k, 11);
        let m = multiplicities(&f, k);
        let honest = prove_with(&f, &m, k);
        let count = elements(&mut honest.clone()).len();
        for index in 0..count {
            let mut proof = honest.clone();
            *elements(&mut proof)[index] += EF::ONE;
            let n = f.len().trailing_zeros() as usize;
            let result = verify(n, k, &proof, &mut transcript(n, k, &f, &m));
            assert!(result.is_err(), "({n}, {k}): element {index} of {count} changed, accepted");
        }
    }
}

#[test]
fn a_round_or_layer_more_or_fewer_is_rejected() {
    let (n, k) = (3, 2);
    let f = in_range(n, k, 13);
    let m = multiplicities(&f, k);
    let honest = prove_with(&f, &m, k);
    let rejected = |proof: &LookupProof| check(&f, &m, k, proof).is_err();
    for layer_idx in 0..honest.layers.len() {
        let mut more = honest.clone();
        more.layers[layer_idx].sumcheck.rounds.push(vec![EF::ZERO; 4]);
        assert!(rejected(&more), "layer {layer_idx}: a round more");
        if layer_idx > 0 {
            let mut fewer = honest.clone();
            fewer.layers[layer_idx].sumcheck.rounds.pop();
            assert!(rejected(&fewer), "layer {layer_idx}: a round fewer");
            let mut quadratic = honest.clone();
            quadratic.layers[layer_idx].sumcheck.rounds[0].pop();
            assert!(rejected(&quadratic), "layer {layer_idx}: a degree-2 round");
        }
    }
    let mut more = honest.clone();
    more.layers.push(honest.layers[honest.layers.len() - 1].clone());
    assert_eq!(check(&f, &m, k, &more), Err(ZkError::Length { what: "gkr layers", expected: 4, got: 5 }));
    let mut fewer = honest.clone();
    fewer.layers.pop();
    assert_eq!(check(&f, &m, k, &fewer), Err(ZkError::Length { what: "gkr layers", expected: 4, got: 3 }));
}

#[test]
fn dimensions_are_checked() {
    let mut transcript = Transcript::new(b"logup-test", &[]);
    let f = vec![F::ZERO; 3];
    assert!(prove(&f, &[F::ZERO; 2], 1, &mut transcript).is_err());
    assert!(prove(&[F::ZERO; 4], &[F::ZERO; 2], 2, &mut transcript).is_err());
    assert!(prove(&[F::ZERO; 4], &[F::ZERO; 1 << 17], 17, &mut transcript).is_err());
    let proof = LookupProof { root_p: EF::ZERO, root_q: EF::ONE, layers: vec![], f_eval: EF::ZERO, m_eval: EF::ZERO };
    assert_eq!(
        verify(21, 1, &proof, &mut transcript),
        Err(ZkError::TooLarge { what: "lookup value variables", limit: 20, got: 21 })
    );
    assert_eq!(
        verify(1, 17, &proof, &mut transcript),
        Err(ZkError::TooLarge { what: "lookup table bits", limit: 16, got: 17 })
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random small `f` with some entries possibly outside the table (above it, or negative):
    /// the honest proof verifies, with claims on the MLEs, exactly when every entry is in range.
    #[test]
    fn verifies_iff_every_value_is_in_range(
        n in 0usize..=5,
        k in 0usize..=5,
        raw in prop::collection::vec((0u64..40, any::<bool>()), 32),
    ) {
        let f: Vec<F> = raw[..1 << n]
            .iter()
            .map(|&(value, negate)| if negate && value % 4 == 0 { -F::from_u64(value + 1) } else { F::from_u64(value % (1 << (k + 1))) })
            .collect();
        let all_in_range = raw[..1 << n].iter().all(|&(value, negate)| !(negate && value % 4 == 0) && value % (1 << (k + 1)) < 1 << k);
        let m = multiplicities(&f, k);
        let proof = prove_with(&f, &m, k);
        prop_assert_eq!(check(&f, &m, k, &proof).is_ok(), all_in_range);
    }
}
