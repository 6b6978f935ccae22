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
