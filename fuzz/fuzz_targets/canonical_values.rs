//! Fuzz target: the canonical bytes of values, as a contract's request carries its input. A decode
//! never panics, and whatever decodes encodes back to exactly the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_primitives::values::{canonical_bytes, values_from_canonical};

fuzz_target!(|data: &[u8]| {
    let mut bytes = b"VRTVAL\x00\x01".to_vec();
    bytes.extend_from_slice(data);
    for input in [data, bytes.as_slice()] {
        if let Ok(values) = values_from_canonical(input) {
            assert_eq!(canonical_bytes(&values), input);
        }
    }
});
