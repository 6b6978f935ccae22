//! Fuzz target: the canonical binary receipt decoder and the verifier behind it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_primitives::Receipt;
use veritas_verifier::{Expectations, verify_receipt_bytes};

fuzz_target!(|data: &[u8]| {
    if let Ok(receipt) = Receipt::from_canonical_bytes(data) {
        // Strict decoding: whatever decodes re-encodes to the same bytes.
        assert_eq!(receipt.canonical_bytes(), data);
    }
    let _ = verify_receipt_bytes(data, &Expectations::default());
});
