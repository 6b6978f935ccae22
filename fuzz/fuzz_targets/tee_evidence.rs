//! Fuzz target: the TEE evidence decoders (each kind) and the Nitro and TDX attestation
//! verifiers behind them, under a permissive policy; none may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use veritas_primitives::Evidence;
use veritas_verifier::tee::{
    self, Attestation, Policy, TeeEvidence,
    policy::{NitroPolicy, TdxPolicy},
};

/// Accepts every TCB status and platform flag and the widest window: the parsers and signature
/// checks are what the fuzzer reaches.
fn permissive() -> Policy {
    Policy {
        nitro: NitroPolicy { measurements: Vec::new(), window_secs: 86_400 },
        tdx: TdxPolicy {
            tcb_statuses: [
                "UpToDate",
                "SWHardeningNeeded",
                "ConfigurationNeeded",
                "ConfigurationAndSWHardeningNeeded",
                "OutOfDate",
                "OutOfDateConfigurationNeeded",
            ]
            .map(String::from)
            .to_vec(),
            allow_dynamic_platform: true,
            allow_cached_keys: true,
            allow_smt: true,
            ..TdxPolicy::default()
        },
        ..Policy::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let policy = permissive();
    for kind in ["tee-nitro", "tee-tdx", "tee-simulated"] {
        let evidence = Evidence { kind: kind.into(), data: data.to_vec().into() };
        if let Some(Ok(decoded)) = TeeEvidence::from_evidence(&evidence) {
            // Strict decoding: whatever decodes re-encodes to the same bytes.
            assert_eq!(decoded.to_evidence(), evidence);
            let _ = tee::verify_attestation(&decoded.attestation, &policy, 1_751_328_000);
        }
    }
    // The raw bytes as a Nitro document, and split into a quote and its collateral.
    let _ = tee::verify_attestation(&Attestation::Nitro { document: data.to_vec() }, &policy, 1_725_719_859);
    let split = data.first().map_or(0, |b| usize::from(*b) * 32).min(data.len());
    let (quote, collateral) = data.split_at(split);
    let tdx = Attestation::Tdx { quote: quote.to_vec(), collateral: collateral.to_vec() };
    let _ = tee::verify_attestation(&tdx, &policy, 1_751_328_000);
});
