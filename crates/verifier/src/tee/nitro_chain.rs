//! The certificate chain of a Nitro attestation document: the leaf `certificate` through
//! `cabundle[n-1]` … `cabundle[1]` to the pinned AWS Nitro Enclaves Root-G1, every link checked
//! (issuer name, ECDSA P-384 / SHA-384 signature, CA basic constraints, key usage, path length)
//! and every certificate valid at the document's timestamp. `cabundle[0]` must be the pinned root
//! byte for byte; it is never trusted on its own.

use p384::ecdsa::{Signature, VerifyingKey, signature::Verifier};
use x509_cert::{
    Certificate, Version,
    der::{Decode, Encode, oid::ObjectIdentifier, referenced::OwnedToRef},
    ext::pkix::{BasicConstraints, KeyUsage},
};

use super::{TeeError, TeeResult};

/// The DER of the AWS Nitro Enclaves Root-G1 certificate (from AWS, as published in
/// `AWS_NitroEnclaves_Root-G1.pem`).
pub const AWS_NITRO_ROOT_G1_DER: &[u8] = include_bytes!("roots/aws_nitro_enclaves_root_g1.der");
/// The SHA-256 of [`AWS_NITRO_ROOT_G1_DER`], as AWS publishes it.
pub const AWS_NITRO_ROOT_G1_SHA256: &str = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b";

/// The longest chain accepted below the root (the documents carry 3 intermediates).
const MAX_INTERMEDIATES: usize = 8;

const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");

fn chain_error(what: impl core::fmt::Display) -> TeeError {
    TeeError::Chain(what.to_string())
}

/// Parses a certificate strictly: DER that re-encodes to the same bytes, X.509 v3.
fn parse(der: &[u8], name: &str) -> TeeResult<Certificate> {
    let cert = Certificate::from_der(der).map_err(|e| chain_error(format!("{name}: not a DER certificate: {e}")))?;
    if cert.to_der().ok().as_deref() != Some(der) {
        return Err(chain_error(format!("{name}: not in canonical DER")));
    }
    if cert.tbs_certificate().version() != Version::V3 {
        return Err(chain_error(format!("{name}: not an X.509 v3 certificate")));
    }
    Ok(cert)
}

/// The certificate's P-384 public key (id-ecPublicKey on secp384r1).
fn public_key(cert: &Certificate, name: &str) -> TeeResult<VerifyingKey> {
    VerifyingKey::try_from(cert.tbs_certificate().subject_public_key_info().owned_to_ref())
        .map_err(|e| chain_error(format!("{name}: its key is not an ECDSA P-384 public key: {e}")))
}

/// Checks that `child` is signed by `parent_key` with ECDSA P-384 / SHA-384.
fn check_signature(child: &Certificate, parent_key: &VerifyingKey, name: &str) -> TeeResult<()> {
    let tbs = child.tbs_certificate();
    for alg in [tbs.signature(), child.signature_algorithm()] {
        if alg.oid != ECDSA_WITH_SHA384 || alg.parameters.is_some() {
            return Err(chain_error(format!("{name}: signature algorithm {} is not ecdsa-with-SHA384", alg.oid)));
        }
    }
    let signature = child
        .signature()
        .as_bytes()
        .and_then(|der| Signature::from_der(der).ok())
        .ok_or_else(|| chain_error(format!("{name}: malformed ECDSA signature")))?;
    let message = tbs.to_der().map_err(|e| chain_error(format!("{name}: {e}")))?;
    parent_key
        .verify(&message, &signature)
        .map_err(|_| chain_error(format!("{name}: its signature does not verify with its issuer's key")))
}

/// Checks the validity period at `at_ms` (milliseconds since the epoch), inclusive.
fn check_validity(cert: &Certificate, at_ms: u64, name: &str) -> TeeResult<()> {
    let validity = cert.tbs_certificate().validity();
    let not_before = validity.not_before.to_unix_duration().as_millis();
    let not_after = validity.not_after.to_unix_duration().as_millis();
    let at = u128::from(at_ms);
    if at < not_before || at > not_after {
        return Err(TeeError::Time(format!(
            "{name} is valid from {} to {} (Unix seconds), not at the document's timestamp {}.{:03}",
            not_before / 1000,
            not_after / 1000,
            at_ms / 1000,
            at_ms % 1000
        )));
    }
    Ok(())
}

/// The extensions: no critical one other than basic constraints and key usage; returns the basic
/// constraints and key usage (if present).
fn extensions(cert: &Certificate, name: &str) -> TeeResult<(Option<BasicConstraints>, Option<KeyUsage>)> {
    let tbs = cert.tbs_certificate();
    for ext in tbs.extensions().map(|e| e.as_slice()).unwrap_or_default() {
        if ext.critical && ext.extn_id != BASIC_CONSTRAINTS && ext.extn_id != KEY_USAGE {
            return Err(chain_error(format!("{name}: unknown critical extension {}", ext.extn_id)));
        }
    }
    let basic = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|e| chain_error(format!("{name}: basic constraints: {e}")))?
        .map(|(_, b)| b);
    let usage =
        tbs.get_extension::<KeyUsage>().map_err(|e| chain_error(format!("{name}: key usage: {e}")))?.map(|(_, u)| u);
    Ok((basic, usage))
}

/// The leaf certificate's key, which signs the document (the chain is checked by [`verify`]).
pub(super) fn leaf_key(leaf: &[u8]) -> TeeResult<VerifyingKey> {
    public_key(&parse(leaf, "the leaf certificate")?, "the leaf certificate")
}

/// Verifies `leaf` → `cabundle[n-1]` … `cabundle[1]` → the pinned root at `at_ms`; returns the
/// leaf's key, which signs the document.
pub(super) fn verify(leaf: &[u8], cabundle: &[Vec<u8>], at_ms: u64) -> TeeResult<VerifyingKey> {
    match cabundle.first() {
        None => return Err(chain_error("cabundle is empty; it must start with the AWS Nitro root")),
        Some(first) if first.as_slice() != AWS_NITRO_ROOT_G1_DER => {
            return Err(chain_error("cabundle[0] is not the pinned AWS Nitro Enclaves Root-G1"));
        }
        Some(_) => {}
    }
    if cabundle.len() - 1 > MAX_INTERMEDIATES {
        return Err(chain_error(format!("{} intermediates, at most {MAX_INTERMEDIATES}", cabundle.len() - 1)));
    }
    // The path from the root down: the pinned root, cabundle[1..], the leaf.
    let mut path = vec![(parse(AWS_NITRO_ROOT_G1_DER, "the pinned root")?, "the pinned root".to_string())];
    for (i, der) in cabundle.iter().enumerate().skip(1) {
        let name = format!("cabundle[{i}]");
        path.push((parse(der, &name)?, name));
    }
    path.push((parse(leaf, "the leaf certificate")?, "the leaf certificate".to_string()));

    let intermediates = path.len() - 2;
    let mut parent_key = public_key(&path[0].0, "the pinned root")?;
    for (depth, (cert, name)) in path.iter().enumerate() {
        check_validity(cert, at_ms, name)?;
        let (basic, usage) = extensions(cert, name)?;
        let is_leaf = depth == path.len() - 1;
        if is_leaf {
            if basic.as_ref().is_some_and(|b| b.ca) {
                return Err(chain_error("the leaf certificate is a CA"));
            }
            if usage.is_some_and(|u| !u.digital_signature()) {
                return Err(chain_error("the leaf certificate's key usage excludes digital signatures"));
            }
        } else {
            let basic = basic.filter(|b| b.ca).ok_or_else(|| chain_error(format!("{name} is not a CA")))?;
            if usage.is_some_and(|u| !u.key_cert_sign()) {
                return Err(chain_error(format!("{name}: its key usage excludes certificate signing")));
            }
            // The intermediates below this one (excluding the leaf).
            let below = intermediates - depth;
            if basic.path_len_constraint.is_some_and(|max| below > usize::from(max)) {
                return Err(chain_error(format!("{name}: path length constraint exceeded")));
            }
        }
        if depth > 0 {
            let parent = &path[depth - 1].0;
            if cert.tbs_certificate().issuer() != parent.tbs_certificate().subject() {
                return Err(chain_error(format!("{name}: its issuer is not {}'s subject", path[depth - 1].1)));
            }
            check_signature(cert, &parent_key, name)?;
            parent_key = public_key(cert, name)?;
        }
    }
    Ok(parent_key)
}
