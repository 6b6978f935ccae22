//! Tests of the evidence encoding, the binding and the simulated enclave.

use super::*;

fn digest(n: u8) -> B256 {
    B256::repeat_byte(n)
}

#[test]
fn simulated_evidence_passes_only_a_policy_that_allows_it_and_is_labelled_untrusted() {
    let evidence = simulated_evidence([7; 48], &digest(1), b"nonce");
    let err = verify(&evidence, &digest(1), 0, &Policy::default()).unwrap_err();
    assert_eq!(err, TeeError::SimulatedNotAllowed);
    assert!(err.to_string().contains("UNTRUSTED"), "{err}");
    let report = verify(&evidence, &digest(1), 0, &Policy::simulated_only()).unwrap();
    assert!(report.insecure);
    assert_eq!(report.label(), "UNTRUSTED / SIMULATED");
    assert!(report.assumptions()[0].starts_with("UNTRUSTED / SIMULATED"));
}

#[test]
fn the_binding_covers_the_claim_and_the_nonce() {
    let policy = Policy::simulated_only();
    let evidence = simulated_evidence([7; 48], &digest(1), b"nonce");
    assert!(matches!(verify(&evidence, &digest(2), 0, &policy), Err(TeeError::Binding { .. })));
    let mut other_nonce = evidence.clone();
    other_nonce.nonce = b"nonce2".to_vec();
    assert!(matches!(verify(&other_nonce, &digest(1), 0, &policy), Err(TeeError::Binding { .. })));
    assert_ne!(binding(&digest(1), b""), binding(&digest(1), b"\0"));
}

#[test]
fn a_simulated_measurement_outside_a_nonempty_allowlist_fails() {
    let mut policy = Policy::simulated_only();
    policy.simulated.measurements = vec![hex::encode([8u8; 48])];
    let evidence = simulated_evidence([7; 48], &digest(1), b"");
    let err = verify(&evidence, &digest(1), 0, &policy).unwrap_err();
    assert!(matches!(err, TeeError::Measurement { .. }), "{err}");
    policy.simulated.measurements.push(hex::encode([7u8; 48]));
    verify(&evidence, &digest(1), 0, &policy).unwrap();
}

#[test]
fn evidence_round_trips_and_decoding_is_strict() {
    let cases = [
        simulated_evidence([7; 48], &digest(1), b"nonce"),
        TeeEvidence { nonce: vec![], attestation: Attestation::Nitro { document: vec![1, 2, 3] } },
        TeeEvidence {
            nonce: vec![9; 64],
            attestation: Attestation::Tdx { quote: vec![4; 100], collateral: b"{}".to_vec() },
        },
    ];
    for evidence in cases {
        let encoded = evidence.to_evidence();
        assert_eq!(TeeEvidence::from_evidence(&encoded).unwrap().unwrap(), evidence);
        let mut longer = encoded.clone();
        let mut data = longer.data.to_vec();
        data.extend_from_slice(&[0; 32]);
        longer.data = data.into();
        assert!(matches!(TeeEvidence::from_evidence(&longer), Some(Err(TeeError::Decode { .. }))));
        let mut truncated = encoded.clone();
        truncated.data = encoded.data[..encoded.data.len() - 1].to_vec().into();
        assert!(matches!(TeeEvidence::from_evidence(&truncated), Some(Err(TeeError::Decode { .. }))));
    }
    let other = Evidence { kind: "zk-proof".into(), data: vec![].into() };
    assert!(TeeEvidence::from_evidence(&other).is_none());
    let long_nonce = TeeEvidence { nonce: vec![0; 65], attestation: Attestation::Nitro { document: vec![] } };
    assert!(matches!(TeeEvidence::from_evidence(&long_nonce.to_evidence()), Some(Err(TeeError::Decode { .. }))));
}

#[test]
fn policies_name_what_is_malformed() {
    let err = Policy::from_json(br#"{"nitro":{"measurements":[{"pcr0":"zz","pcr1":"","pcr2":""}]}}"#).unwrap_err();
    assert!(err.to_string().contains("not hex"), "{err}");
    let err = Policy::from_json(br#"{"simulated":{"allow":true,"measurements":["00"]}}"#).unwrap_err();
    assert!(err.to_string().contains("48"), "{err}");
    let err = Policy::from_json(br#"{"nitro":{"window_secs":999999}}"#).unwrap_err();
    assert!(err.to_string().contains("window_secs"), "{err}");
    let err = Policy::from_json(br#"{"simulate":{}}"#).unwrap_err();
    assert!(err.to_string().contains("unknown field"), "{err}");
    let policy = Policy::from_json(br#"{"simulated":{"allow":true}}"#).unwrap();
    assert_eq!(policy, Policy::simulated_only());
    assert_eq!(policy.tdx.tcb_statuses, ["UpToDate"]);
}
