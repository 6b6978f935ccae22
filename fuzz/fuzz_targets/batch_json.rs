//! Fuzz target: the JSON bodies validators and gateways exchange — a batch to sign (checked as a
//! validator checks it, against a fixed validator set) and a verdict (its signer recovered).
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_primitives::{Address, ClaimDomain, U256, ValidatorSet, Verdict, batch::BatchToSign, keccak256};

fuzz_target!(|data: &[u8]| {
    let domain = ClaimDomain::dev();
    if let Ok(batch) = serde_json::from_slice::<BatchToSign>(data) {
        let validators = ValidatorSet {
            stakes: [(Address::repeat_byte(1), U256::from(1)), (Address::repeat_byte(2), U256::MAX)].into(),
            total: U256::MAX,
        };
        let _ = veritas_verifier::check_batch(&domain, &batch, &validators, 1000);
    }
    if let Ok(verdict) = serde_json::from_slice::<Verdict>(data) {
        let _ = verdict.signer(&domain, keccak256(data));
    }
});
