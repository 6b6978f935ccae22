//! Tests of the Nitro certificate chain alone: valid at the document's timestamp only, and never
//! trusting a root other than the pinned one.

use super::super::{TeeError, nitro_chain};
use super::Document;
use coset::CborSerializable;

const PROD_0907: &[u8] = include_bytes!("../../tests/vectors/tee/nitro_blocky_prod_2024-09-07.cose");
const DEBUG_0907: &[u8] = include_bytes!("../../tests/vectors/tee/nitro_blocky_debug_2024-09-07.cose");

fn document(bytes: &[u8]) -> Document {
    let sign1 = coset::CoseSign1::from_slice(bytes).unwrap();
    Document::parse(&sign1.payload.unwrap()).unwrap()
}

#[test]
fn the_chain_holds_at_the_timestamp_and_not_four_hours_later_nor_before() {
    let doc = document(PROD_0907);
    nitro_chain::verify(&doc.certificate, &doc.cabundle, doc.timestamp_ms).unwrap();
    let err = nitro_chain::verify(&doc.certificate, &doc.cabundle, doc.timestamp_ms + 4 * 3_600_000).unwrap_err();
    assert!(matches!(&err, TeeError::Time(m) if m.starts_with("the leaf certificate")), "{err}");
    // cabundle[3] starts at 2024-09-07T13:06:36Z, the leaf at 14:37:36Z.
    let err = nitro_chain::verify(&doc.certificate, &doc.cabundle, doc.timestamp_ms - 3_600_000).unwrap_err();
    assert!(matches!(&err, TeeError::Time(m) if m.starts_with("the leaf certificate")), "{err}");
}

#[test]
fn the_chain_needs_the_pinned_root_first_and_linked_issuers() {
    let doc = document(PROD_0907);
    let mut bundle = doc.cabundle.clone();
    bundle[0] = bundle[1].clone();
    let err = nitro_chain::verify(&doc.certificate, &bundle, doc.timestamp_ms).unwrap_err();
    assert!(matches!(&err, TeeError::Chain(m) if m.contains("cabundle[0]")), "{err}");
    // Without an intermediate, the next one's issuer is not the root.
    let mut short = doc.cabundle.clone();
    short.remove(1);
    let err = nitro_chain::verify(&doc.certificate, &short, doc.timestamp_ms).unwrap_err();
    assert!(matches!(err, TeeError::Chain(_)), "{err}");
    // Another enclave's leaf, under this bundle: its issuer matches, its signature does not
    // (the debug document's leaf is signed by the same instance CA, so it verifies; swap the
    // leaf for an intermediate instead, which is a CA).
    let err = nitro_chain::verify(&doc.cabundle[3], &doc.cabundle[..3], doc.timestamp_ms).unwrap_err();
    assert!(matches!(&err, TeeError::Chain(m) if m.contains("is a CA")), "{err}");
    let debug = document(DEBUG_0907);
    nitro_chain::verify(&debug.certificate, &doc.cabundle, debug.timestamp_ms).unwrap();
}

const PROD_2025: &[u8] = include_bytes!("../../tests/vectors/tee/nitro_dstack_prod_2025-12-25T1604.cose");

fn payload(bytes: &[u8]) -> Vec<u8> {
    coset::CoseSign1::from_slice(bytes).unwrap().payload.unwrap()
}

/// Why a payload does not parse.
fn parse_error(payload: &[u8]) -> String {
    match Document::parse(payload) {
        Ok(_) => panic!("the payload parsed"),
        Err(err) => err.to_string(),
    }
}

/// `check_items` on one item: `Ok(end)` or the error's text.
fn check(cbor: &str, expected: Result<usize, &str>) {
    let bytes = veritas_primitives::hex::decode(cbor).unwrap();
    match (super::check_items(&bytes, 0, 0), expected) {
        (Ok(end), Ok(want)) => assert_eq!(end, want, "{cbor}"),
        (Err(err), Err(want)) => assert!(err.to_string().contains(want), "{cbor}: {err}"),
        (got, want) => panic!("{cbor}: got {got:?}, expected {want:?}"),
    }
}

#[test]
fn cbor_items_of_either_length_form_pass_and_nothing_else_does() {
    check("a1616100", Ok(4));
    check("bf616100ff", Ok(5));
    check("9f0102ff", Ok(4));
    check("bf6161bf0001ffff", Ok(8));
    check("a0", Ok(1));
    check("bfff", Ok(2));
    check("f6", Ok(1));
    check("1817", Err("shortest encoding"));
    check("590001ff", Err("shortest encoding"));
    check("5f4101ff", Err("indefinite-length string"));
    check("7f6161ff", Err("indefinite-length string"));
    check("c240", Err("tag"));
    check("f93c00", Err("float"));
    check("f7", Err("simple value"));
    check("bf6161", Err("ends inside an item"));
    check("bf616100", Err("ends inside an item"));
    check("bf6161ff", Err("a key but no value"));
    check("ff", Err("a break outside"));
    check("a2616100", Err("more items than the payload"));
    check("5a00010000", Err("longer than the payload"));
    check("1c", Err("reserved"));
    check("1f", Err("indefinite length"));
    check("8181818181", Err("nested over 4 deep"));
    check("9f9f9f9fffffffff", Ok(8));
    check("9f9f9f9f9fffffffffff", Err("nested over 4 deep"));
}

#[test]
fn payloads_parse_with_either_map_form_and_keys_stay_strict() {
    let indefinite = payload(PROD_2025);
    assert_eq!(indefinite[0], 0xbf);
    let doc = Document::parse(&indefinite).unwrap();
    assert_eq!(doc.timestamp_ms, 1_766_678_659_346);
    // The same map with a definite length: `a9`, and no break at the end.
    let mut definite = indefinite.clone();
    definite[0] = 0xa9;
    assert_eq!(definite.pop(), Some(0xff));
    assert_eq!(Document::parse(&definite).unwrap().timestamp_ms, doc.timestamp_ms);
    // Trailing bytes, a missing break, a duplicate key (user_data renamed timestamp).
    let mut longer = indefinite.clone();
    longer.push(0);
    assert!(parse_error(&longer).contains("after the payload's map"));
    let unterminated = &indefinite[..indefinite.len() - 1];
    assert!(parse_error(unterminated).contains("ends inside an item"));
    let at = indefinite.windows(10).position(|w| w == b"\x69user_data").unwrap();
    let mut duplicate = indefinite.clone();
    duplicate[at + 1..at + 10].copy_from_slice(b"timestamp");
    assert!(parse_error(&duplicate).contains("\"timestamp\" appears twice"));
    // An unknown key of the same length.
    duplicate[at + 1..at + 10].copy_from_slice(b"user_date");
    assert!(parse_error(&duplicate).contains("unknown payload key"));
}
