//! The proof encoding: round trips, strict decoding, every single-bit change rejected, and a
//! committed golden proof (`tests/fixtures/matvec-v1.bin`) that must stay byte-identical.

use std::path::PathBuf;

use veritas_zk::encoding::{MAX_ROUND_VALUES, MAX_ROUNDS, VERSION};
use veritas_zk::matvec::{prove, verify};
use veritas_zk::{MatVecProof, MatVecStatement, ZkError};

/// Goldilocks' modulus, the smallest non-canonical `u64`.
const P: u64 = 0xffff_ffff_0000_0001;

/// The fixed statement of the golden fixture: 3×5, every int8 extreme present.
fn golden_statement() -> MatVecStatement {
    let (rows, cols) = (3, 5);
    let weights: Vec<i8> = vec![1, -2, 3, -4, 5, 6, 7, -8, 9, 10, -11, 12, 13, -14, 127];
    let input: Vec<i8> = vec![-128, 3, -5, 7, 2];
    let output = weights
        .chunks_exact(cols)
        .map(|row| row.iter().zip(&input).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum())
        .collect();
    MatVecStatement { rows, cols, weights, input, output }
}

fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/matvec-v1.bin")
}

fn is_decode_error<T: std::fmt::Debug>(result: &Result<T, ZkError>) -> bool {
    matches!(result, Err(ZkError::Decode(_)))
}

#[test]
fn round_trips() {
    for (rows, cols) in [(1, 1), (2, 1), (3, 5), (4, 16), (7, 9)] {
        let mut statement = golden_statement();
        statement.rows = rows;
        statement.cols = cols;
        statement.weights = (0..rows * cols).map(|i| (i as i8).wrapping_mul(29)).collect();
        statement.input = (0..cols).map(|i| (i as i8).wrapping_mul(-13)).collect();
        statement.output = statement
            .weights
            .chunks_exact(cols)
            .map(|row| row.iter().zip(&statement.input).map(|(&w, &x)| i32::from(w) * i32::from(x)).sum())
            .collect();
        let proof = prove(&statement).unwrap();
        let bytes = proof.to_bytes();
        let rounds = proof.sumcheck.rounds.len();
        assert_eq!(bytes.len(), 1 + 4 + rounds * (1 + 3 * 16) + 2 * 16, "{rows}×{cols}");
        let decoded = MatVecProof::from_bytes(&bytes).unwrap();
        assert_eq!(decoded, proof);
        assert_eq!(decoded.to_bytes(), bytes);
        assert_eq!(verify(&statement, &decoded), Ok(()));
    }
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let statement = golden_statement();
    let bytes = prove(&statement).unwrap().to_bytes();
    let (mut decode_errors, mut verify_errors) = (0, 0);
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        match MatVecProof::from_bytes(&flipped) {
            Err(ZkError::Decode(_)) => decode_errors += 1,
            Err(other) => panic!("bit {bit}: unexpected error {other:?}"),
            Ok(proof) => {
                assert_eq!(proof.to_bytes(), flipped, "bit {bit}: decoding is not canonical");
                assert!(verify(&statement, &proof).is_err(), "bit {bit}: a changed proof verifies");
                verify_errors += 1;
            }
        }
    }
    // Both paths are exercised: header bits fail to decode, element bits fail to verify.
    assert!(decode_errors > 0 && verify_errors > 0, "{decode_errors} / {verify_errors}");
}

#[test]
fn malformed_bytes_are_rejected() {
    let bytes = prove(&golden_statement()).unwrap().to_bytes();
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(is_decode_error(&MatVecProof::from_bytes(&trailing)));
    for len in 0..bytes.len() {
        assert!(is_decode_error(&MatVecProof::from_bytes(&bytes[..len])), "truncated to {len}");
    }
    for version in [0, VERSION + 1, 0xff] {
        let mut changed = bytes.clone();
        changed[0] = version;
        let result = MatVecProof::from_bytes(&changed);
        assert!(matches!(&result, Err(ZkError::Decode(m)) if m.contains("version")), "{result:?}");
    }
    // Each coordinate in turn set to p and to u64::MAX: the first coordinate of the first round
    // value (offset 6), and the last coordinate of input_eval.
    for offset in [6, bytes.len() - 8] {
        for value in [P, u64::MAX] {
            let mut changed = bytes.clone();
            changed[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
            let result = MatVecProof::from_bytes(&changed);
            assert!(matches!(&result, Err(ZkError::Decode(m)) if m.contains("non-canonical")), "{result:?}");
        }
    }
    // p − 1 is canonical: it decodes (and fails to verify).
    let mut changed = bytes.clone();
    changed[6..14].copy_from_slice(&(P - 1).to_le_bytes());
    assert!(MatVecProof::from_bytes(&changed).is_ok());
}

#[test]
fn caps_are_checked_before_reading_on() {
    let too_many_rounds = [&[VERSION][..], &(MAX_ROUNDS as u32 + 1).to_le_bytes()].concat();
    let result = MatVecProof::from_bytes(&too_many_rounds);
    assert!(matches!(&result, Err(ZkError::Decode(m)) if m.contains("rounds")), "{result:?}");
    let huge = [&[VERSION][..], &u32::MAX.to_le_bytes()].concat();
    assert!(is_decode_error(&MatVecProof::from_bytes(&huge)));
    let too_many_values = [&[VERSION][..], &1u32.to_le_bytes(), &[MAX_ROUND_VALUES as u8 + 1]].concat();
    let result = MatVecProof::from_bytes(&too_many_values);
    assert!(matches!(&result, Err(ZkError::Decode(m)) if m.contains("values")), "{result:?}");
    // Zero rounds and empty rounds are representable (and rejected by the verifier, not here).
    let empty_round = [&[VERSION][..], &1u32.to_le_bytes(), &[0], &[0; 32]].concat();
    let proof = MatVecProof::from_bytes(&empty_round).unwrap();
    assert_eq!(proof.to_bytes(), empty_round);
    assert!(verify(&golden_statement(), &proof).is_err());
}

#[test]
fn golden_fixture_decodes_verifies_and_is_reproduced() {
    let statement = golden_statement();
    let proof_bytes = prove(&statement).unwrap().to_bytes();
    if std::env::var_os("VERITAS_UPDATE_FIXTURES").is_some() {
        std::fs::write(fixture_path(), &proof_bytes).unwrap();
    }
    let fixture = std::fs::read(fixture_path()).unwrap();
    let decoded = MatVecProof::from_bytes(&fixture).unwrap();
    assert_eq!(verify(&statement, &decoded), Ok(()));
    assert_eq!(proof_bytes, fixture, "proving the golden statement no longer gives the committed bytes");
}
