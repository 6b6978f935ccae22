//! Fuzz target: model id (CIDv1) parsing; whatever parses prints back identically.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_primitives::ModelId;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(id) = text.parse::<ModelId>() {
        assert_eq!(id.to_string(), text);
    }
});
