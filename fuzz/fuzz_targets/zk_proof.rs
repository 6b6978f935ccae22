//! Fuzz target: matvec proof decoding; whatever decodes re-encodes identically, and verifying it
//! against a fixed true statement (the golden one of `crates/zk/tests/it/encoding.rs`) does not
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_zk::MatVecProof;
use veritas_zk::MatVecStatement;
use veritas_zk::matvec::verify;

fuzz_target!(|data: &[u8]| {
    let Ok(proof) = MatVecProof::from_bytes(data) else { return };
    assert_eq!(proof.to_bytes(), data);
    let statement = MatVecStatement {
        rows: 3,
        cols: 5,
        weights: vec![1, -2, 3, -4, 5, 6, 7, -8, 9, 10, -11, 12, 13, -14, 127],
        input: vec![-128, 3, -5, 7, 2],
        output: vec![-167, -624, 1535],
    };
    let _ = verify(&statement, &proof);
});
