//! Fuzz target: what a confidential request's parties read from one another. The enclave reads
//! a sealed request (opened with a fixed key, and edits to an honest one: an edited request must
//! never open); the client reads a key configuration, a key offer's evidence and sealed answer
//! chunks (an edited chunk must never open). None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_verifier::{
    confidential::{EnclaveKey, KeyConfig, check_key_offer, seal_request},
    tee::{Attestation, Policy},
};

fuzz_target!(|data: &[u8]| {
    let key = EnclaveKey::from_seed(0, &[1; 32]);
    // The raw bytes as a sealed request, a key configuration and a key offer.
    let _ = key.open(data);
    if let Ok(config) = KeyConfig::decode(data) {
        assert_eq!(config.encode(), data, "strict: what decodes re-encodes to the same bytes");
    }
    let attestation = Attestation::Simulated { measurement: [0; 48], report_data: [0; 64] };
    let _ = check_key_offer(data, &attestation, &[], &[], &Policy::simulated_only(), 0);

    // Edits (position, xor mask) to an honest sealed request and answer chunk.
    let Some((&at, rest)) = data.split_first() else { return };
    let mask = rest.first().copied().unwrap_or(1).max(1);
    let (sealed, exchange) = seal_request(&key.config(), b"a sealed prompt", [2; 32]).unwrap();
    let mut edited = sealed.clone();
    let position = usize::from(at) % edited.len();
    edited[position] ^= mask;
    assert!(key.open(&edited).is_err(), "an edited request opened");
    let chunks = exchange.answer(&[3; 32]);
    let mut chunk = chunks.seal(0, b"a piece", false);
    let position = usize::from(at) % chunk.len();
    chunk[position] ^= mask;
    assert!(chunks.open(0, &chunk, false).is_err(), "an edited chunk opened");
    let _ = chunks.open(u64::from(at), rest, at % 2 == 0);
});
