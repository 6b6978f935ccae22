//! AWS Nitro Enclaves attestation documents against the verifier: the real vectors of
//! `tests/vectors/tee/MANIFEST.md` (2024 documents with a definite-length payload map, 2025
//! documents with an indefinite-length one) accept at their timestamps, and fail later, in debug
//! mode, outside the allowlist, against a binding, and with any bit flipped.

use veritas_primitives::B256;
use veritas_verifier::tee::{
    self, Attestation, Policy, TeeError, TeeEvidence,
    policy::{NitroMeasurement, NitroPolicy},
};

const PROD_0907: &[u8] = include_bytes!("../vectors/tee/nitro_blocky_prod_2024-09-07.cose");
const DEBUG_0907: &[u8] = include_bytes!("../vectors/tee/nitro_blocky_debug_2024-09-07.cose");
const PROD_0507: &[u8] = include_bytes!("../vectors/tee/nitro_blocky_prod_2024-05-07.cose");
const PROD_1225_1604: &[u8] = include_bytes!("../vectors/tee/nitro_dstack_prod_2025-12-25T1604.cose");
const PROD_1225_1315: &[u8] = include_bytes!("../vectors/tee/nitro_dstack_prod_2025-12-25T1315.cose");
const DEBUG_1225: &[u8] = include_bytes!("../vectors/tee/nitro_dstack_debug_2025-12-25T0820.cose");
const ROOT_PEM: &str = include_str!("../vectors/tee/AWS_NitroEnclaves_Root-G1.pem");

/// A production document, its timestamp (Unix seconds) and PCR0 (from the manifest).
struct Vector {
    document: &'static [u8],
    time: u64,
    pcr0: &'static str,
}

const PROD: [Vector; 4] = [
    Vector {
        document: PROD_0907,
        time: 1_725_719_859,
        pcr0: "e72a46ca80a260fb044a125442f0c7e331813bcbaf9724d9f3857758992766f2d65710a27aa94ae3949dd54e7c9fe86a",
    },
    Vector {
        document: PROD_0507,
        time: 1_715_103_786,
        pcr0: "4d8ff9d3a23815b17d4a46c648da68e822ec7d32e473e023ba96fb6e388af2d5e0838d174a2d376d3593cc929b3d610e",
    },
    Vector {
        document: PROD_1225_1604,
        time: 1_766_678_659,
        pcr0: "eb7d0dab08ff41546d7e5659aee883af7b32bb2e58e46815b719f9f7bfae7b880188a10d86317e6509923740526cf74a",
    },
    Vector {
        document: PROD_1225_1315,
        time: 1_766_668_537,
        pcr0: "5cb702954321826d7939d6da829a940d787fcf32357beb8eae1ddf33c28c17d36f3ac3ba6828fdf7edeed02889702da6",
    },
];
/// The debug documents and their timestamps (Unix seconds).
const DEBUG: [(&[u8], u64); 2] = [(DEBUG_0907, 1_725_719_886), (DEBUG_1225, 1_766_650_846)];

fn attestation(document: &[u8]) -> Attestation {
    Attestation::Nitro { document: document.to_vec() }
}

/// The document's PCR1 and PCR2, read from the report of a verification that finds PCR0 alone
/// on an allowlist whose PCR1/PCR2 do not match (so the error names PCR1, then PCR2).
fn pcrs_of(v: &Vector) -> NitroMeasurement {
    let mut m = NitroMeasurement { pcr0: v.pcr0.into(), pcr1: "00".repeat(48), pcr2: "00".repeat(48) };
    for _ in 0..2 {
        let policy = Policy {
            nitro: NitroPolicy { measurements: vec![m.clone()], ..NitroPolicy::default() },
            ..Policy::default()
        };
        match tee::verify_attestation(&attestation(v.document), &policy, v.time) {
            Err(TeeError::Measurement { name: "PCR1", value, .. }) => m.pcr1 = value,
            Err(TeeError::Measurement { name: "PCR2", value, .. }) => m.pcr2 = value,
            other => panic!("expected a PCR1/PCR2 measurement error, got {other:?}"),
        }
    }
    m
}

fn policy_for(v: &Vector) -> Policy {
    Policy { nitro: NitroPolicy { measurements: vec![pcrs_of(v)], ..NitroPolicy::default() }, ..Policy::default() }
}

#[test]
fn the_pinned_root_is_the_published_aws_root() {
    use sha2::{Digest, Sha256};
    let root = tee::AWS_NITRO_ROOT_G1_DER;
    assert_eq!(
        veritas_primitives::hex::encode(Sha256::digest(root)),
        "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
    );
    // The embedded DER is the PEM's content.
    let base64: String = ROOT_PEM.lines().filter(|l| !l.starts_with("-----")).collect();
    let pem_der = pem_base64_decode(&base64);
    assert_eq!(pem_der, root);
}

/// A small base64 decoder for the test's PEM comparison (not used by the verifier).
fn pem_base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|c| *c != b'=') {
        acc = (acc << 6) | ALPHABET.iter().position(|a| *a == c).expect("base64") as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

#[test]
fn production_documents_verify_at_their_time_with_their_measurements() {
    for v in &PROD {
        let policy = policy_for(v);
        let (report, bound) = tee::verify_attestation(&attestation(v.document), &policy, v.time).unwrap();
        assert_eq!(report.kind, tee::TeeKind::Nitro);
        assert!(!report.insecure);
        assert_eq!(report.measurements[0], ("PCR0".to_string(), v.pcr0.to_string()));
        assert_eq!(report.attested_at, Some(v.time));
        assert!(report.vendor_root.contains("641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"));
        // Within the window either side.
        tee::verify_attestation(&attestation(v.document), &policy, v.time + 600).unwrap();
        tee::verify_attestation(&attestation(v.document), &policy, v.time - 599).unwrap();
        let expected_bound = match v.document {
            d if d == PROD_0907 => vec![1; 1024],
            d if d == PROD_0507 => Vec::new(),
            // dstack's: the SHA-256 of the empty string, then 32 zero bytes; or 64 zero bytes.
            d if d == PROD_1225_1604 => {
                let mut b =
                    veritas_primitives::hex::decode("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                        .unwrap();
                b.resize(64, 0);
                b
            }
            _ => vec![0; 64],
        };
        assert_eq!(bound, expected_bound);
    }
}

#[test]
fn a_document_fails_hours_later_and_before() {
    for v in &PROD {
        let policy = policy_for(v);
        for time in [v.time + 4 * 3600, v.time - 4 * 3600, v.time + 601] {
            let err = tee::verify_attestation(&attestation(v.document), &policy, time).unwrap_err();
            assert!(matches!(&err, TeeError::Time(m) if m.contains("window")), "{err}");
        }
        // Under the widest window (a day) it is still accepted 4 h later: the chain is checked at
        // the document's own timestamp (the unit tests show the leaf expired by then), so the
        // window is what bounds the document's use.
        let mut wide = policy.clone();
        wide.nitro.window_secs = 86_400;
        tee::verify_attestation(&attestation(v.document), &wide, v.time + 4 * 3600).unwrap();
        let err = tee::verify_attestation(&attestation(v.document), &wide, v.time + 86_401).unwrap_err();
        assert!(matches!(err, TeeError::Time(_)), "{err}");
    }
}

#[test]
fn the_debug_documents_fail_as_debug() {
    let mut policy = policy_for(&PROD[0]);
    policy.nitro.measurements.push(NitroMeasurement {
        pcr0: "00".repeat(48),
        pcr1: "00".repeat(48),
        pcr2: "00".repeat(48),
    });
    for (document, time) in DEBUG {
        let err = tee::verify_attestation(&attestation(document), &policy, time).unwrap_err();
        assert!(matches!(err, TeeError::Debug(_)), "{err}");
    }
}

/// The 2025 documents' payload map has an indefinite length (first byte `bf`), the 2024 ones' a
/// definite one (`a9`): both verify, so neither form is rejected for its own sake.
#[test]
fn payload_maps_of_either_length_form_verify() {
    let payload_first_byte = |document: &[u8]| {
        // `84 44 a1 01 38 22 a0 59 <u16 length>` then the payload.
        assert_eq!(&document[..8], &[0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x59]);
        document[10]
    };
    let firsts: Vec<u8> = PROD.iter().map(|v| payload_first_byte(v.document)).collect();
    assert_eq!(firsts, [0xa9, 0xa9, 0xbf, 0xbf]);
    assert_eq!(payload_first_byte(DEBUG_1225), 0xbf);
}

#[test]
fn measurements_off_the_allowlist_fail_naming_the_register() {
    let v = &PROD[0];
    let err = tee::verify_attestation(&attestation(v.document), &Policy::default(), v.time).unwrap_err();
    assert!(
        matches!(&err, TeeError::Measurement { name: "PCR0", hint, .. } if hint.contains("the allowlist is empty")),
        "{err}"
    );
    // Another document's measurements.
    let err = tee::verify_attestation(&attestation(v.document), &policy_for(&PROD[1]), v.time).unwrap_err();
    assert!(matches!(err, TeeError::Measurement { name: "PCR0", hint: "", .. }), "{err}");
}

#[test]
fn binding_checks_fail() {
    let digest = B256::repeat_byte(0x42);
    for (v, len) in PROD.iter().zip([1024, 0]) {
        let evidence = TeeEvidence { nonce: b"nonce".to_vec(), attestation: attestation(v.document) };
        let err = tee::verify(&evidence, &digest, v.time, &policy_for(v)).unwrap_err();
        assert_eq!(err, TeeError::BindingLength { field: "user_data", len }, "{err}");
    }
    // The 2025 documents bind 64 bytes, of another project: the right length, the wrong data.
    for v in &PROD[2..] {
        let evidence = TeeEvidence { nonce: b"nonce".to_vec(), attestation: attestation(v.document) };
        let err = tee::verify(&evidence, &digest, v.time, &policy_for(v)).unwrap_err();
        assert!(matches!(err, TeeError::Binding { .. }), "{err}");
    }
}

#[test]
fn trailing_bytes_fail_and_cbor_tag_18_is_accepted() {
    let v = &PROD[0];
    let policy = policy_for(v);
    let mut longer = v.document.to_vec();
    longer.push(0);
    let err = tee::verify_attestation(&attestation(&longer), &policy, v.time).unwrap_err();
    assert!(matches!(err, TeeError::Layout(_)), "{err}");
    // Tagged (CBOR tag 18) is accepted too.
    let mut tagged = vec![0xd2];
    tagged.extend_from_slice(v.document);
    tee::verify_attestation(&attestation(&tagged), &policy, v.time).unwrap();
}

/// Every byte position of each document, flipped, fails. The 2024 documents flip bit 0 and bit
/// 7 at each position; the 2025 ones (the same format, so the same checks) one bit per position,
/// bit `position % 8`, which keeps the test near 30 s in a debug build.
#[test]
fn a_flipped_bit_anywhere_fails() {
    let cases: Vec<(&Vector, Policy)> = PROD.iter().map(|v| (v, policy_for(v))).collect();
    let debug: Vec<Vector> = DEBUG.iter().map(|(document, time)| Vector { document, time: *time, pcr0: "" }).collect();
    let mut debug_policy = Policy::default();
    debug_policy.nitro.measurements.push(NitroMeasurement {
        pcr0: "00".repeat(48),
        pcr1: "00".repeat(48),
        pcr2: "00".repeat(48),
    });
    let cases = cases.iter().map(|(v, p)| (*v, p)).chain(debug.iter().map(|v| (v, &debug_policy)));
    for (v, policy) in cases {
        let of_2025 = [PROD_1225_1604, PROD_1225_1315, DEBUG_1225].contains(&v.document);
        let mut doc = v.document.to_vec();
        for i in 0..doc.len() {
            let bits = if of_2025 { vec![i % 8] } else { vec![0, 7] };
            for bit in bits {
                doc[i] ^= 1 << bit;
                let result = tee::verify_attestation(&attestation(&doc), policy, v.time);
                assert!(result.is_err(), "a flip of bit {bit} at byte {i} was accepted");
                doc[i] ^= 1 << bit;
            }
        }
    }
}
