//! Tests of receipts: golden fixtures, strict decoding, and "any changed byte fails".

use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::{Mode, WorkerKey, recover_signer, verdict::verdict_digest};

fn test_key() -> WorkerKey {
    WorkerKey::from_bytes(&keccak256(b"veritas golden fixture key")).unwrap()
}

fn sample_receipt() -> Receipt {
    let key = test_key();
    let claim = Claim {
        request_id: keccak256(b"request 1"),
        model_id: ModelId::of_manifest(b"{\"format\":\"onnx\"}"),
        input_hash: keccak256(b"input"),
        output_hash: keccak256(b"output"),
        params_hash: keccak256(b"{}"),
        mode: Mode::Signed,
        worker: key.address(),
        timestamp: 1_767_225_600,
    };
    let domain = ClaimDomain::dev();
    Receipt::new(domain, key.sign_claim(claim, &domain).unwrap())
}

/// The sample receipt with a validator's "valid" verdict from a `signed` check: the golden
/// fixture of version 2, whose verdicts name their check.
fn sample_receipt_with_verdict() -> Receipt {
    let mut receipt = sample_receipt();
    let validator = WorkerKey::from_bytes(&keccak256(b"veritas golden fixture validator")).unwrap();
    let digest = verdict_digest(&receipt.domain, receipt.id(), true, Check::Signed);
    let signature = validator.sign_digest(&digest).unwrap();
    receipt.verdicts.push(Verdict {
        validator: validator.address(),
        valid: true,
        check: Check::Signed,
        signature: signature.to_vec().into(),
    });
    receipt
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Whether a receipt's worker signature holds.
fn signature_holds(receipt: &Receipt) -> bool {
    recover_signer(&receipt.id(), &receipt.signature.0).is_ok_and(|signer| signer == receipt.claim.worker)
}

#[test]
fn golden_fixtures_are_stable() {
    let receipt = sample_receipt_with_verdict();
    let hex = alloy_primitives::hex::encode(receipt.canonical_bytes());
    let json = serde_json::to_string_pretty(&receipt).unwrap();
    let claim_digest = format!("{}\n", receipt.claim.signing_hash(&receipt.domain));
    assert_eq!(std::fs::read_to_string(fixture("receipt_v2.hex")).unwrap().trim(), hex, "canonical receipt changed");
    assert_eq!(std::fs::read_to_string(fixture("receipt_v2.json")).unwrap().trim(), json, "receipt JSON changed");
    assert_eq!(std::fs::read_to_string(fixture("claim_v1.digest")).unwrap(), claim_digest, "claim digest changed");
    let back = Receipt::from_canonical_bytes(&alloy_primitives::hex::decode(hex).unwrap()).unwrap();
    assert_eq!(back.verdicts[0].signer(&back.domain, back.id()), Some(back.verdicts[0].validator));
}

#[test]
fn version_1_receipts_are_refused() {
    // Their verdicts do not name a check, so what they vouch for cannot be told.
    let v1 = alloy_primitives::hex::decode(std::fs::read_to_string(fixture("receipt_v1.hex")).unwrap().trim()).unwrap();
    assert_eq!(Receipt::from_canonical_bytes(&v1), Err(PrimitiveError::Version { expected: 2, got: 1 }));
}

/// Regenerates the golden fixtures of the current version (version 1's stay as they were):
/// `cargo test -p veritas-primitives --features signer -- --ignored regenerate`.
#[test]
#[ignore = "regenerates fixtures"]
fn regenerate_fixtures() {
    let receipt = sample_receipt_with_verdict();
    std::fs::write(fixture("receipt_v2.hex"), alloy_primitives::hex::encode(receipt.canonical_bytes()) + "\n").unwrap();
    std::fs::write(fixture("receipt_v2.json"), serde_json::to_string_pretty(&receipt).unwrap() + "\n").unwrap();
    std::fs::write(fixture("claim_v1.digest"), format!("{}\n", receipt.claim.signing_hash(&receipt.domain))).unwrap();
}

#[test]
fn binary_and_json_round_trip() {
    let receipt = sample_receipt();
    assert!(signature_holds(&receipt));
    let back = Receipt::from_canonical_bytes(&receipt.canonical_bytes()).unwrap();
    assert_eq!(back, receipt);
    let json = serde_json::to_string(&receipt).unwrap();
    assert_eq!(serde_json::from_str::<Receipt>(&json).unwrap(), receipt);
}

#[test]
fn filled_receipt_round_trips() {
    let mut receipt = sample_receipt();
    receipt.evidence.push(Evidence { kind: "simulated".into(), data: vec![1, 2, 3].into() });
    receipt.verdicts.push(Verdict {
        validator: Address::repeat_byte(7),
        valid: true,
        check: Check::Reexec,
        signature: vec![9; 65].into(),
    });
    receipt.verdicts.push(Verdict {
        validator: Address::repeat_byte(8),
        valid: false,
        check: Check::Tee,
        signature: vec![6; 65].into(),
    });
    receipt.settlement = Some(Settlement {
        chain_id: 31337,
        contract: Address::repeat_byte(1),
        batch_root: B256::repeat_byte(2),
        merkle_path: vec![B256::repeat_byte(3), B256::repeat_byte(4)],
        transaction: B256::repeat_byte(5),
        block: 42,
    });
    assert_eq!(Receipt::from_canonical_bytes(&receipt.canonical_bytes()).unwrap(), receipt);
}

#[test]
fn decoding_errors_name_the_problem() {
    let check = |bytes: &[u8], msg: &str| {
        let err = Receipt::from_canonical_bytes(bytes).unwrap_err().to_string();
        assert!(err.contains(msg), "{err} does not contain {msg:?}");
    };
    let good = sample_receipt().canonical_bytes();
    check(&[], "empty input");
    check(&[1], "unsupported receipt version: expected 2, got 1");
    check(&[3], "unsupported receipt version: expected 2, got 3");
    check(&good[..good.len() - 1], "malformed receipt");
    let mut trailing = good.clone();
    trailing.extend_from_slice(&[0; 32]);
    check(&trailing, "not in canonical form");
}

#[test]
fn mode_byte_outside_the_enum_is_refused() {
    let good = sample_receipt().canonical_bytes();
    // The mode is the 6th word of the claim, which starts after the version byte, the chain id
    // and the contract (and the head offsets are zero-sized for a static struct).
    let claim_start = 1 + 32 * 3;
    let mut bad = good.clone();
    bad[claim_start + 32 * 5 + 31] = 9;
    assert!(Receipt::from_canonical_bytes(&bad).unwrap_err().to_string().contains("unknown mode 9"));
}

#[test]
fn check_byte_outside_the_enum_is_refused() {
    let receipt = sample_receipt_with_verdict();
    let good = receipt.canonical_bytes();
    // The check's byte is the one that differs from the same receipt with another check.
    let mut relabelled = receipt.clone();
    relabelled.verdicts[0].check = Check::Tee;
    let other = relabelled.canonical_bytes();
    let differing: Vec<usize> = (0..good.len()).filter(|&i| good[i] != other[i]).collect();
    assert_eq!(differing.len(), 1, "the check is one byte of the encoding");
    let mut bad = good.clone();
    bad[differing[0]] = 4;
    assert!(Receipt::from_canonical_bytes(&bad).unwrap_err().to_string().contains("unknown check 4"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_changed_byte_fails(position in any::<prop::sample::Index>(), delta in 1u8..=255) {
        let receipt = sample_receipt();
        let mut bytes = receipt.canonical_bytes();
        let i = position.index(bytes.len());
        bytes[i] = bytes[i].wrapping_add(delta);
        match Receipt::from_canonical_bytes(&bytes) {
            Err(_) => {}
            Ok(changed) => prop_assert!(!signature_holds(&changed), "byte {i} changed and the receipt still verifies"),
        }
    }
}

#[test]
fn every_single_byte_change_fails() {
    let receipt = sample_receipt();
    let good = receipt.canonical_bytes();
    for i in 0..good.len() {
        for delta in [1u8, 0x80] {
            let mut bytes = good.clone();
            bytes[i] = bytes[i].wrapping_add(delta);
            if let Ok(changed) = Receipt::from_canonical_bytes(&bytes) {
                assert!(!signature_holds(&changed), "byte {i} (+{delta}) changed and the receipt still verifies");
            }
        }
    }
}
