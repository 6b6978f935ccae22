//! Fuzz target: a receipt's JSON form, as `veritas verify` reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_verifier::{Expectations, verify_receipt_json};

fuzz_target!(|data: &[u8]| {
    let _ = verify_receipt_json(data, &Expectations::default());
});
