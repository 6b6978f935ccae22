//! The confidential envelope: round trips, tampering, the key offer's checks.

use super::*;
use crate::tee::policy::SimulatedPolicy;

const MEASUREMENT: [u8; 48] = [7; 48];

fn enclave() -> EnclaveKey {
    EnclaveKey::from_seed(1, &[42; 32])
}

fn policy(measurement: [u8; 48]) -> Policy {
    Policy {
        simulated: SimulatedPolicy { allow: true, measurements: vec![veritas_primitives::hex::encode(measurement)] },
        ..Policy::default()
    }
}

fn offer(key: &EnclaveKey, nonce: &[u8]) -> Attestation {
    Attestation::Simulated { measurement: MEASUREMENT, report_data: key_binding(&key.config(), nonce) }
}

#[test]
fn a_sealed_request_opens_in_the_enclave_and_both_ends_derive_the_same_answer_keys() {
    let key = enclave();
    let (sealed, client) = seal_request(&key.config(), b"the secret prompt", [9; 32]).unwrap();
    assert!(!sealed.windows(17).any(|w| w == b"the secret prompt"), "the plaintext shows through");
    let (plaintext, server) = key.open(&sealed).unwrap();
    assert_eq!(plaintext, b"the secret prompt");
    assert_eq!(client.salt(), server.salt());

    let response_nonce = [3; RESPONSE_NONCE_LEN];
    let (seal, open) = (server.answer(&response_nonce), client.answer(&response_nonce));
    let chunks = [seal.seal(0, b"Hello", false), seal.seal(1, b", world", false), seal.seal(2, b"{done}", true)];
    assert_eq!(open.open(0, &chunks[0], false).unwrap(), b"Hello");
    assert_eq!(open.open(1, &chunks[1], false).unwrap(), b", world");
    assert_eq!(open.open(2, &chunks[2], true).unwrap(), b"{done}");
    // Reordered, cut short (a middle chunk passed off as final), or under another response nonce:
    // none opens.
    assert_eq!(open.open(1, &chunks[0], false), Err(ConfidentialError::Chunk { index: 1 }));
    assert_eq!(open.open(1, &chunks[1], true), Err(ConfidentialError::Chunk { index: 1 }));
    assert!(client.answer(&[4; RESPONSE_NONCE_LEN]).open(0, &chunks[0], false).is_err());
}

#[test]
fn a_request_sealed_twice_differs_and_a_flipped_byte_does_not_open() {
    let key = enclave();
    let (one, _) = seal_request(&key.config(), b"same", [1; 32]).unwrap();
    let (two, _) = seal_request(&key.config(), b"same", [2; 32]).unwrap();
    assert_ne!(one, two);
    for position in 0..one.len() {
        let mut flipped = one.clone();
        flipped[position] ^= 1;
        assert!(key.open(&flipped).is_err(), "a flip at byte {position} still opens");
    }
    assert!(key.open(&one[..one.len() - 1]).is_err());
    let other = EnclaveKey::from_seed(1, &[43; 32]);
    assert!(matches!(other.open(&one), Err(ConfidentialError::Open(_))));
}

#[test]
fn commitments_hide_behind_the_exchange_salt() {
    let hash = B256::repeat_byte(5);
    let (a, b) = ([1; 32], [2; 32]);
    assert_ne!(commitment(&a, "input", &hash), commitment(&b, "input", &hash));
    assert_ne!(commitment(&a, "input", &hash), commitment(&a, "output", &hash));
    assert_ne!(commitment(&a, "input", &hash), hash);
}

#[test]
fn the_key_config_round_trips_and_other_suites_are_refused() {
    let config = enclave().config();
    let bytes = config.encode();
    assert_eq!(KeyConfig::decode(&bytes).unwrap(), config);
    let mut aes = bytes.clone();
    aes[40] = 1;
    assert!(KeyConfig::decode(&aes).unwrap_err().to_string().contains("only one"));
    let mut p256 = bytes.clone();
    p256[2] = 0x10;
    assert!(KeyConfig::decode(&p256).unwrap_err().to_string().contains("KEM 0x0010"));
    assert!(KeyConfig::decode(&bytes[..40]).is_err());
}

#[test]
fn a_key_offer_holds_only_for_the_attested_key_the_clients_nonce_and_an_allowed_measurement() {
    let key = enclave();
    let nonce = [8; 32];
    let config = key.config().encode();
    let (report, checked) = check_key_offer(&config, &offer(&key, &nonce), &nonce, &nonce, &policy(MEASUREMENT), 0)
        .expect("the honest offer");
    assert!(report.insecure);
    assert_eq!(checked, key.config());

    // Another key offered with this enclave's evidence.
    let swapped = EnclaveKey::from_seed(1, &[44; 32]).config().encode();
    let err = check_key_offer(&swapped, &offer(&key, &nonce), &nonce, &nonce, &policy(MEASUREMENT), 0).unwrap_err();
    assert!(matches!(err, ConfidentialError::KeyNotAttested { .. }), "{err}");
    // An old offer replayed for a new nonce.
    let err = check_key_offer(&config, &offer(&key, &[1; 32]), &[1; 32], &nonce, &policy(MEASUREMENT), 0).unwrap_err();
    assert!(matches!(err, ConfidentialError::StaleOffer { .. }), "{err}");
    // An enclave whose measurement is not in the client's policy.
    let err = check_key_offer(&config, &offer(&key, &nonce), &nonce, &nonce, &policy([6; 48]), 0).unwrap_err();
    assert!(err.to_string().contains("simulated measurement"), "{err}");
    // Simulated evidence under a policy that does not allow it.
    let err = check_key_offer(&config, &offer(&key, &nonce), &nonce, &nonce, &Policy::default(), 0).unwrap_err();
    assert!(matches!(err, ConfidentialError::Attestation(TeeError::SimulatedNotAllowed)), "{err}");
}

#[test]
fn a_reader_opens_the_stream_in_order_and_its_end_only_after_the_pieces_read() {
    let key = enclave();
    let (sealed, client) = seal_request(&key.config(), b"prompt", [9; 32]).unwrap();
    let (_, server) = key.open(&sealed).unwrap();
    let response_nonce = [3; RESPONSE_NONCE_LEN];
    let seal = server.answer(&response_nonce);
    let mut reader = AnswerReader::new(client);
    assert!(reader.piece(&[1; 5]).is_err(), "a stream must open with its response nonce");
    assert_eq!(reader.piece(&response_nonce).unwrap(), b"");
    assert_eq!(reader.piece(&seal.seal(0, b"Hi", false)).unwrap(), b"Hi");
    let last = seal.seal(1, b"{}", true);
    assert_eq!(reader.last(&response_nonce, 1, &last, true).unwrap(), b"{}");
    let early = seal.seal(0, b"{}", true);
    assert!(matches!(reader.last(&response_nonce, 0, &early, true), Err(ConfidentialError::Answer(_))));
    assert_eq!(reader.last(&response_nonce, 0, &early, false).unwrap(), b"{}", "not streamed: any index");
}
