//! AWS Nitro Enclaves attestation documents: a COSE_Sign1 (ES384) over a CBOR map, parsed
//! strictly, its signature checked with the leaf certificate's key, the chain to the pinned AWS
//! root, the timestamp within the policy's window of the claim's time, no debug enclave, and
//! PCR0/1/2 on the allowlist. Returns the document's `user_data` as the bound data.
//!
//! The payload's CBOR is checked item by item ([`check_items`]) rather than by re-encoding:
//! Nitro hypervisors write the top-level map with an indefinite length (documents from 2025 on
//! begin `bf`), older ones with a definite length, and the signature covers the exact bytes
//! either way. Maps and arrays may have either length form; every head must use its shortest
//! argument encoding, and byte and text strings must have a definite length (no real document
//! chunks a string, and chunks would let the same value take many encodings).

use ciborium::Value;
use coset::{CborSerializable, CoseSign1, TaggedCborSerializable};
use p384::ecdsa::{Signature, signature::Verifier};
use veritas_primitives::hex;

use super::{TeeError, TeeKind, TeeReport, TeeResult, nitro_chain, policy::NitroPolicy};

/// The largest document accepted (bytes); the documents seen are 5–8 KiB.
const MAX_DOCUMENT: usize = 32 * 1024;
/// The largest `certificate` or `cabundle` entry (bytes), as AWS documents it.
const MAX_CERTIFICATE: usize = 1024;
/// The largest `public_key`, `user_data` or `nonce` (bytes). AWS documents 1024 for
/// `public_key` and 512 for the others, but real documents carry 1024 bytes of each.
const MAX_FIELD: usize = 1024;
/// The largest `module_id` (bytes).
const MAX_MODULE_ID: usize = 256;
/// The most PCRs a document may carry (AWS: 0–31).
const MAX_PCRS: usize = 32;
/// The protected header every document carries: `{1: -35}` (alg: ES384).
const PROTECTED_ES384: [u8; 4] = [0xa1, 0x01, 0x38, 0x22];
/// The deepest nesting of maps and arrays in a payload (a document nests 2: `pcrs` in the map).
const MAX_DEPTH: usize = 4;
/// The payload's keys, in the order the Nitro Secure Module writes them.
const KEYS: [&str; 9] =
    ["module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle", "public_key", "user_data", "nonce"];

/// The payload of an attestation document.
struct Document {
    timestamp_ms: u64,
    pcrs: Vec<(u64, Vec<u8>)>,
    certificate: Vec<u8>,
    cabundle: Vec<Vec<u8>>,
    user_data: Vec<u8>,
}

fn layout(what: impl core::fmt::Display) -> TeeError {
    TeeError::Layout(format!("nitro document: {what}"))
}

/// Decodes the COSE_Sign1 (untagged, or with CBOR tag 18) strictly: the bytes must be its
/// canonical encoding, the protected header exactly `{1: -35}`, the unprotected header empty, a
/// payload present and a 96-byte signature.
fn parse_cose(document: &[u8]) -> TeeResult<CoseSign1> {
    let tagged = document.first() == Some(&0xd2);
    let sign1 = if tagged { CoseSign1::from_tagged_slice(document) } else { CoseSign1::from_slice(document) }
        .map_err(|e| layout(format!("not a COSE_Sign1: {e}")))?;
    let encoded = if tagged { sign1.clone().to_tagged_vec() } else { sign1.clone().to_vec() };
    if encoded.ok().as_deref() != Some(document) {
        return Err(layout("the COSE_Sign1 is not in canonical form (re-encoding differs)"));
    }
    if sign1.protected.original_data.as_deref() != Some(&PROTECTED_ES384[..]) {
        return Err(layout("the protected header is not exactly {1: -35} (alg ES384)"));
    }
    if !sign1.unprotected.is_empty() {
        return Err(layout("the unprotected header is not empty"));
    }
    if sign1.payload.is_none() {
        return Err(layout("the payload is detached"));
    }
    if sign1.signature.len() != 96 {
        return Err(layout(format!("a signature of {} bytes; ES384 has 96 (r‖s)", sign1.signature.len())));
    }
    Ok(sign1)
}

/// Where a payload breaks the CBOR subset that [`check_items`] accepts.
fn cbor_error(at: usize, what: impl core::fmt::Display) -> TeeError {
    layout(format!("payload: {what} at byte {at}"))
}

/// Checks the CBOR item at `at` (nested `depth` deep) and everything inside it, returning the
/// offset just past it: well-formed, every head's argument in its shortest encoding, strings of
/// definite length, maps and arrays of definite or indefinite length at most [`MAX_DEPTH`]
/// deep, no tags, and no simple values other than false, true and null, nor floats (no payload
/// field is one).
fn check_items(payload: &[u8], at: usize, depth: usize) -> TeeResult<usize> {
    let initial = *payload.get(at).ok_or_else(|| cbor_error(at, "the payload ends inside an item"))?;
    let (major, info) = (initial >> 5, initial & 0x1f);
    let mut next = at + 1;
    let argument = match info {
        0..=23 => Some(u64::from(info)),
        24..=27 => {
            let len = 1usize << (info - 24);
            let bytes =
                payload.get(next..next + len).ok_or_else(|| cbor_error(at, "the payload ends inside a head"))?;
            next += len;
            let value = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            // The shortest encoding: one byte for below 24, else the fewest bytes that hold it.
            let shortest = match value {
                0..=23 => 0,
                24..=0xff => 24,
                0x100..=0xffff => 25,
                0x1_0000..=0xffff_ffff => 26,
                _ => 27,
            };
            if major != 7 && info != shortest {
                return Err(cbor_error(at, "an argument not in its shortest encoding"));
            }
            Some(value)
        }
        31 => None,
        _ => return Err(cbor_error(at, format!("reserved additional information {info}"))),
    };
    let remaining = |from: usize| payload.len().saturating_sub(from) as u64;
    match (major, argument) {
        (0 | 1, Some(_)) => Ok(next),
        (0 | 1, None) => Err(cbor_error(at, "an integer of indefinite length")),
        (2 | 3, Some(len)) if len <= remaining(next) => Ok(next + len as usize),
        (2 | 3, Some(_)) => Err(cbor_error(at, "a string longer than the payload")),
        (2 | 3, None) => Err(cbor_error(at, "an indefinite-length string")),
        (4 | 5, _) if depth >= MAX_DEPTH => Err(cbor_error(at, format!("maps or arrays nested over {MAX_DEPTH} deep"))),
        (4 | 5, Some(count)) => {
            let items = if major == 5 { count.saturating_mul(2) } else { count };
            // Each item takes at least one byte, so a count beyond the rest cannot hold.
            if items > remaining(next) {
                return Err(cbor_error(at, "a map or array with more items than the payload has bytes"));
            }
            for _ in 0..items {
                next = check_items(payload, next, depth + 1)?;
            }
            Ok(next)
        }
        (4 | 5, None) => {
            let mut items = 0usize;
            while payload.get(next) != Some(&0xff) {
                next = check_items(payload, next, depth + 1)?;
                items += 1;
            }
            if major == 5 && items % 2 == 1 {
                return Err(cbor_error(at, "an indefinite-length map with a key but no value"));
            }
            Ok(next + 1)
        }
        (6, _) => Err(cbor_error(at, "a CBOR tag")),
        (7, Some(20..=22)) if info < 24 => Ok(next),
        (7, None) => Err(cbor_error(at, "a break outside an indefinite-length map or array")),
        _ => Err(cbor_error(at, "a float or a simple value other than false, true and null")),
    }
}

fn bytes(value: Value, key: &str, min: usize, max: usize) -> TeeResult<Vec<u8>> {
    match value {
        Value::Bytes(b) if (min..=max).contains(&b.len()) => Ok(b),
        Value::Bytes(b) => Err(layout(format!("{key} has {} bytes, expected {min} to {max}", b.len()))),
        _ => Err(layout(format!("{key} is not a byte string"))),
    }
}

/// A byte string or null (as empty) of at most [`MAX_FIELD`] bytes.
fn optional_bytes(value: Value, key: &str) -> TeeResult<Vec<u8>> {
    match value {
        Value::Null => Ok(Vec::new()),
        value => bytes(value, key, 0, MAX_FIELD),
    }
}

impl Document {
    /// Decodes the payload: one CBOR item that passes [`check_items`], a map of exactly the 9
    /// keys, each of its type and size.
    fn parse(payload: &[u8]) -> TeeResult<Document> {
        let end = check_items(payload, 0, 0)?;
        if end != payload.len() {
            return Err(layout(format!("{} bytes after the payload's map", payload.len() - end)));
        }
        let value: Value = ciborium::from_reader(payload).map_err(|e| layout(format!("payload: {e}")))?;
        let Value::Map(entries) = value else { return Err(layout("the payload is not a map")) };
        if entries.len() != KEYS.len() {
            return Err(layout(format!("the payload has {} keys, expected the 9 of {KEYS:?}", entries.len())));
        }
        let mut fields: [Option<Value>; 9] = Default::default();
        for (key, value) in entries {
            let Value::Text(key) = key else { return Err(layout("a payload key is not text")) };
            let index =
                KEYS.iter().position(|k| *k == key).ok_or_else(|| layout(format!("unknown payload key {key:?}")))?;
            if fields[index].replace(value).is_some() {
                return Err(layout(format!("payload key {key:?} appears twice")));
            }
        }
        let mut fields = fields.into_iter().map(|f| f.expect("9 distinct keys of 9"));
        let mut next = || fields.next().expect("9 fields");
        match next() {
            Value::Text(id) if !id.is_empty() && id.len() <= MAX_MODULE_ID => {}
            _ => return Err(layout(format!("module_id is not a text of 1 to {MAX_MODULE_ID} bytes"))),
        }
        match next() {
            Value::Text(digest) if digest == "SHA384" => {}
            _ => return Err(layout("digest is not \"SHA384\"")),
        }
        let timestamp_ms = match next() {
            Value::Integer(t) => u64::try_from(t).ok().filter(|t| *t > 0),
            _ => None,
        }
        .ok_or_else(|| layout("timestamp is not a positive integer (milliseconds)"))?;
        let Value::Map(pcr_entries) = next() else { return Err(layout("pcrs is not a map")) };
        if pcr_entries.is_empty() || pcr_entries.len() > MAX_PCRS {
            return Err(layout(format!("{} PCRs, expected 1 to {MAX_PCRS}", pcr_entries.len())));
        }
        let mut pcrs = Vec::with_capacity(pcr_entries.len());
        for (index, value) in pcr_entries {
            let index = match index {
                Value::Integer(i) => u64::try_from(i).ok().filter(|i| *i < MAX_PCRS as u64),
                _ => None,
            }
            .ok_or_else(|| layout(format!("a PCR index is not an integer below {MAX_PCRS}")))?;
            if pcrs.iter().any(|(i, _)| *i == index) {
                return Err(layout(format!("PCR{index} appears twice")));
            }
            pcrs.push((index, bytes(value, "a PCR", 48, 48)?));
        }
        let certificate = bytes(next(), "certificate", 1, MAX_CERTIFICATE)?;
        let Value::Array(bundle) = next() else { return Err(layout("cabundle is not an array")) };
        let cabundle = bundle
            .into_iter()
            .map(|cert| bytes(cert, "a cabundle entry", 1, MAX_CERTIFICATE))
            .collect::<TeeResult<Vec<_>>>()?;
        optional_bytes(next(), "public_key")?;
        let user_data = optional_bytes(next(), "user_data")?;
        optional_bytes(next(), "nonce")?;
        Ok(Document { timestamp_ms, pcrs, certificate, cabundle, user_data })
    }

    fn pcr(&self, index: u64) -> TeeResult<&[u8]> {
        self.pcrs
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, v)| v.as_slice())
            .ok_or_else(|| layout(format!("PCR{index} is missing")))
    }
}

pub(super) fn verify(document: &[u8], policy: &NitroPolicy, time: u64) -> TeeResult<(TeeReport, Vec<u8>)> {
    if document.len() > MAX_DOCUMENT {
        return Err(layout(format!("{} bytes, at most {MAX_DOCUMENT}", document.len())));
    }
    let sign1 = parse_cose(document)?;
    let doc = Document::parse(sign1.payload.as_deref().unwrap_or_default())?;

    // The document's signature with the leaf's key, then the chain from the leaf to the pinned
    // root at the document's timestamp (in this order only because one signature is cheaper than
    // the chain's four: both must hold).
    let leaf_key = nitro_chain::leaf_key(&doc.certificate)?;
    let signature = Signature::from_slice(&sign1.signature)
        .map_err(|_| TeeError::Signature("nitro document: the ES384 signature's r or s is out of range".into()))?;
    // High-s signatures are accepted: the Nitro Secure Module does not normalize s.
    sign1.verify_signature(b"", |_, tbs| {
        leaf_key.verify(tbs, &signature).map_err(|_| {
            TeeError::Signature("nitro document: the ES384 signature does not verify with the leaf's key".into())
        })
    })?;
    let chain_key = nitro_chain::verify(&doc.certificate, &doc.cabundle, doc.timestamp_ms)?;
    debug_assert_eq!(chain_key, leaf_key);

    // The document's time against the claim's.
    let attested_at = doc.timestamp_ms / 1000;
    let distance = attested_at.abs_diff(time);
    if distance > policy.window_secs {
        return Err(TeeError::Time(format!(
            "nitro document made at {attested_at} (Unix seconds), {distance} s from the claim's time {time}; \
             the policy's window is {} s",
            policy.window_secs
        )));
    }

    let (pcr0, pcr1, pcr2) = (doc.pcr(0)?, doc.pcr(1)?, doc.pcr(2)?);
    // A debug enclave reports zeros; a zero register is never an image's measurement.
    let zero: Vec<&str> = [("PCR0", pcr0), ("PCR1", pcr1), ("PCR2", pcr2)]
        .into_iter()
        .filter(|(_, pcr)| pcr.iter().all(|b| *b == 0))
        .map(|(name, _)| name)
        .collect();
    if !zero.is_empty() {
        return Err(TeeError::Debug(format!(
            "nitro document: {} all zero (a debug enclave, or no measurement)",
            zero.join(", ")
        )));
    }
    let on_list = |m: &super::policy::NitroMeasurement| {
        [(&m.pcr0, pcr0), (&m.pcr1, pcr1), (&m.pcr2, pcr2)]
            .iter()
            .all(|(want, got)| super::policy::measurement(want).is_ok_and(|w| w.as_slice() == *got))
    };
    if !policy.measurements.iter().any(on_list) {
        // Name the first register that no entry matches, with the others already matching.
        let name = if !policy.measurements.iter().any(|m| super::policy::measurement(&m.pcr0).is_ok_and(|w| w == pcr0))
        {
            "PCR0"
        } else if !policy.measurements.iter().any(|m| super::policy::measurement(&m.pcr1).is_ok_and(|w| w == pcr1)) {
            "PCR1"
        } else {
            "PCR2"
        };
        let value = hex::encode(match name {
            "PCR0" => pcr0,
            "PCR1" => pcr1,
            _ => pcr2,
        });
        let hint = if policy.measurements.is_empty() { " (the allowlist is empty)" } else { "" };
        return Err(TeeError::Measurement { name, value, hint });
    }

    let report = TeeReport {
        kind: TeeKind::Nitro,
        insecure: false,
        measurements: vec![
            ("PCR0".into(), hex::encode(pcr0)),
            ("PCR1".into(), hex::encode(pcr1)),
            ("PCR2".into(), hex::encode(pcr2)),
        ],
        vendor_root: format!("AWS Nitro Enclaves Root-G1 (SHA-256 of DER {})", nitro_chain::AWS_NITRO_ROOT_G1_SHA256),
        tcb_status: None,
        advisories: Vec::new(),
        attested_at: Some(attested_at),
    };
    Ok((report, doc.user_data))
}

#[cfg(test)]
#[path = "nitro_tests.rs"]
mod tests;
