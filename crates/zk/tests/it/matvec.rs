//! Soundness tests of the matvec proof: honest proofs verify, and every tampering with the
//! statement or the proof is rejected.

use p3_field::{Field, PrimeCharacteristicRing};
use proptest::prelude::*;
use veritas_zk::matvec::{prove, verify};
use veritas_zk::{EF, MatVecProof, MatVecStatement, ZkError};

/// A true statement with `rows × cols` pseudo-random int8 entries (seeded, deterministic).
fn statement(rows: usize, cols: usize, seed: u64) -> MatVecStatement {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as i8
    };
    let weights: Vec<i8> = (0..rows * cols).map(|_| next()).collect();
    let input: Vec<i8> = (0..cols).map(|_| next()).collect();
    with_true_output(rows, cols, weights, input)
}

fn with_true_output(rows: usize, cols: usize, weights: Vec<i8>, input: Vec<i8>) -> MatVecStatement {
    let output = weights
        .chunks_exact(cols)
        .map(|row| row.iter().zip(&input).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum())
        .collect();
    MatVecStatement { rows, cols, weights, input, output }
}

/// Every field element of a proof, by mutable reference, in transcript order.
fn elements(proof: &mut MatVecProof) -> Vec<&mut EF> {
    let mut all: Vec<&mut EF> = proof.sumcheck.rounds.iter_mut().flatten().collect();
    all.push(&mut proof.weights_eval);
    all.push(&mut proof.input_eval);
    all
}

const SHAPES: &[(usize, usize)] = &[(1, 1), (1, 2), (2, 1), (3, 5), (4, 4), (7, 9), (8, 16), (16, 3)];

#[test]
fn honest_proofs_verify() {
    for &(rows, cols) in SHAPES {
        let statement = statement(rows, cols, 1);
        let proof = prove(&statement).unwrap();
        assert_eq!(verify(&statement, &proof), Ok(()), "{rows}×{cols}");
        let col_vars = cols.next_power_of_two().trailing_zeros() as usize;
        assert_eq!(proof.sumcheck.rounds.len(), col_vars);
    }
}

#[test]
fn extreme_values_verify() {
    // The largest accumulators in magnitude: every product is (-128)·(-128) or 127·(-128).
    let cols = 1000;
    let statement = with_true_output(2, cols, [vec![-128; cols], vec![127; cols]].concat(), vec![-128; cols]);
    assert_eq!(statement.output, vec![128 * 128 * 1000, -127 * 128 * 1000]);
    let proof = prove(&statement).unwrap();
    assert_eq!(verify(&statement, &proof), Ok(()));
}

#[test]
fn prover_refuses_a_false_statement() {
    let mut statement = statement(3, 4, 2);
    statement.output[2] += 1;
    assert_eq!(prove(&statement), Err(ZkError::FalseStatement { row: 2 }));
}

#[test]
fn changed_output_is_rejected() {
    for &(rows, cols) in SHAPES {
        let statement = statement(rows, cols, 3);
        let proof = prove(&statement).unwrap();
        for row in 0..rows {
            for delta in [1, -1, 1 << 20] {
                let mut changed = statement.clone();
                changed.output[row] = changed.output[row].wrapping_add(delta);
                assert!(verify(&changed, &proof).is_err(), "{rows}×{cols} row {row} delta {delta}");
            }
        }
    }
}

#[test]
fn proof_for_other_weights_or_input_is_rejected() {
    let statement = statement(5, 6, 4);
    let proof = prove(&statement).unwrap();
    for index in 0..statement.weights.len() {
        let mut other = statement.clone();
        other.weights[index] = other.weights[index].wrapping_add(1);
        let other = with_true_output(other.rows, other.cols, other.weights, other.input);
        assert!(verify(&other, &proof).is_err(), "weight {index}");
        // A proof made honestly for the other statement does not verify this one either.
        assert!(verify(&statement, &prove(&other).unwrap()).is_err(), "weight {index}");
    }
    for index in 0..statement.input.len() {
        let mut other = statement.clone();
        other.input[index] = other.input[index].wrapping_sub(1);
        let other = with_true_output(other.rows, other.cols, other.weights, other.input);
        assert!(verify(&other, &proof).is_err(), "input {index}");
        assert!(verify(&statement, &prove(&other).unwrap()).is_err(), "input {index}");
    }
}

#[test]
fn every_mutated_element_is_rejected() {
    for &(rows, cols) in SHAPES {
        let statement = statement(rows, cols, 5);
        let proof = prove(&statement).unwrap();
        let count = elements(&mut proof.clone()).len();
        for index in 0..count {
            for delta in [EF::ONE, EF::NEG_ONE, EF::GENERATOR] {
                let mut mutated = proof.clone();
                *elements(&mut mutated)[index] += delta;
                assert!(verify(&statement, &mutated).is_err(), "{rows}×{cols} element {index}");
            }
        }
    }
}

#[test]
fn wrong_round_count_is_rejected() {
    let statement = statement(4, 8, 6);
    let proof = prove(&statement).unwrap();
    let mut short = proof.clone();
    short.sumcheck.rounds.pop();
    let mut long = proof.clone();
    long.sumcheck.rounds.push(vec![EF::ZERO; 3]);
    for bad in [short, long] {
        assert!(matches!(verify(&statement, &bad), Err(ZkError::Length { what: "sumcheck rounds", .. })));
    }
}

#[test]
fn round_polynomial_of_wrong_degree_is_rejected() {
    let statement = statement(4, 8, 7);
    let proof = prove(&statement).unwrap();
    for round in 0..proof.sumcheck.rounds.len() {
        let mut two = proof.clone();
        two.sumcheck.rounds[round].pop();
        let mut four = proof.clone();
        // p(3) of the honest quadratic (third differences vanish): the same polynomial, still
        // rejected because the count is fixed.
        let values = &four.sumcheck.rounds[round];
        let at_three = values[0] + (values[2] - values[1]) * EF::from_u8(3);
        four.sumcheck.rounds[round].push(at_three);
        for bad in [two, four] {
            assert!(
                matches!(verify(&statement, &bad), Err(ZkError::Length { what: "sumcheck round values", .. })),
                "round {round}"
            );
        }
    }
}

#[test]
fn transcript_binds_the_statement() {
    // Two statements with the same row count and the same output but other weights: the
    // proof of one fails for the other, though the claimed sum ỹ(r) is the same function of r.
    let first = with_true_output(2, 2, vec![1, 0, 0, 1], vec![3, 4]);
    let second = with_true_output(2, 2, vec![0, 1, 1, 0], vec![4, 3]);
    assert_eq!(first.output, second.output);
    let proof = prove(&first).unwrap();
    assert!(verify(&second, &proof).is_err());
    assert_ne!(prove(&second).unwrap(), proof);
}

#[test]
fn malformed_statements_are_errors() {
    let good = statement(2, 3, 8);
    let mut cases = vec![];
    for edit in [
        |s: &mut MatVecStatement| s.rows = 0,
        |s: &mut MatVecStatement| s.cols = 0,
        |s: &mut MatVecStatement| s.weights.pop().map(drop).unwrap_or(()),
        |s: &mut MatVecStatement| s.input.push(0),
        |s: &mut MatVecStatement| s.output.push(0),
        |s: &mut MatVecStatement| s.rows = usize::MAX,
    ] {
        let mut bad = good.clone();
        edit(&mut bad);
        cases.push(bad);
    }
    let proof = prove(&good).unwrap();
    for bad in cases {
        assert!(bad.validate().is_err(), "{bad:?}");
        assert!(prove(&bad).is_err());
        assert!(verify(&bad, &proof).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn honest_always_verifies_and_a_changed_output_never(
        (rows, cols, weights, input) in (1usize..=9, 1usize..=9).prop_flat_map(|(rows, cols)| (
            Just(rows),
            Just(cols),
            proptest::collection::vec(any::<i8>(), rows * cols),
            proptest::collection::vec(any::<i8>(), cols),
        )),
        row_seed in any::<usize>(),
        delta in prop_oneof![-(1i32 << 20)..0, 1i32..(1 << 20)],
    ) {
        let statement = with_true_output(rows, cols, weights, input);
        let proof = prove(&statement).unwrap();
        prop_assert_eq!(verify(&statement, &proof), Ok(()));
        let mut changed = statement.clone();
        changed.output[row_seed % rows] += delta;
        prop_assert!(verify(&changed, &proof).is_err());
    }
}
