//! DCAP quote verification with dcap-qvl: the collateral decoded as dcap-qvl decodes it, then its
//! values checked (canonical PEM issuer chains whose root is the pinned Intel root, and a PCK CRL
//! issuer chain equal to the quote's own PCK CA and root), then dcap-qvl's cryptographic
//! verification against the pinned Intel SGX Root CA at the claim's time, and the platform part of
//! the policy (TCB status, advisories, platform flags).
//!
//! The collateral is dcap-qvl's `QuoteCollateralV3` JSON in any layout serde_json reads
//! (whitespace, field order, escapes, hex in either case are free), with two limits on its
//! shape: no field other than `QuoteCollateralV3`'s, and none twice, so that every byte that
//! reaches the verifier is a value it checks.

use dcap_qvl::{PckCertFlag, QuoteClaims, QuoteCollateralV3, verify::QuoteVerifier};
use serde::Deserialize;
use serde::de::IgnoredAny;

use super::{
    TeeError, TeeResult,
    policy::TdxPolicy,
    tdx_layout::{self, INTEL_SGX_ROOT_CA_DER, Layout},
};

/// The largest collateral accepted (bytes): the vectors' are 14–16 KiB.
const MAX_COLLATERAL: usize = 128 * 1024;

/// The fields of `QuoteCollateralV3`, read only to refuse unknown and repeated ones (serde
/// rejects a repeated field of a derived struct; `deny_unknown_fields` an unknown one), which
/// dcap-qvl's own type would let through.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[expect(dead_code, reason = "the fields are parsed for their names; dcap-qvl reads the values")]
struct Fields {
    pck_crl_issuer_chain: IgnoredAny,
    root_ca_crl: IgnoredAny,
    pck_crl: IgnoredAny,
    tcb_info_issuer_chain: IgnoredAny,
    tcb_info: IgnoredAny,
    tcb_info_signature: IgnoredAny,
    qe_identity_issuer_chain: IgnoredAny,
    qe_identity: IgnoredAny,
    qe_identity_signature: IgnoredAny,
    #[serde(default)]
    pck_certificate_chain: Option<IgnoredAny>,
}

fn collateral_error(what: impl core::fmt::Display) -> TeeError {
    TeeError::Layout(format!("dcap collateral: {what}"))
}

/// Decodes the collateral as dcap-qvl does, refusing unknown and repeated fields, and checks its
/// issuer chains against the quote's. A `pck_certificate_chain` must be absent or null: the
/// quote carries its own, and dcap-qvl would prefer the collateral's.
fn collateral(json: &[u8], layout: &Layout) -> TeeResult<QuoteCollateralV3> {
    if json.len() > MAX_COLLATERAL {
        return Err(collateral_error(format!("{} bytes, at most {MAX_COLLATERAL}", json.len())));
    }
    serde_json::from_slice::<Fields>(json).map_err(|e| collateral_error(e.to_string()))?;
    let c: QuoteCollateralV3 = serde_json::from_slice(json).map_err(|e| collateral_error(e.to_string()))?;
    if c.pck_certificate_chain.is_some() {
        return Err(collateral_error("pck_certificate_chain is given; the PCK chain must be the quote's own"));
    }
    let pck_crl_issuers = tdx_layout::pem_chain(c.pck_crl_issuer_chain.as_bytes(), 2, false, "pck_crl_issuer_chain")?;
    if pck_crl_issuers[0] != layout.pck_chain[1] {
        return Err(TeeError::Chain("pck_crl_issuer_chain is not the quote's PCK CA, which issues the PCK CRL".into()));
    }
    tdx_layout::pem_chain(c.tcb_info_issuer_chain.as_bytes(), 2, false, "tcb_info_issuer_chain")?;
    tdx_layout::pem_chain(c.qe_identity_issuer_chain.as_bytes(), 2, false, "qe_identity_issuer_chain")?;
    Ok(c)
}

/// dcap-qvl's error, as a time error where it is one (expired or not yet valid collateral or
/// certificates), else as a quote verification error.
fn dcap_error(err: anyhow::Error) -> TeeError {
    let message = format!("{err:#}");
    let lower = message.to_lowercase();
    if ["expired", "in the future", "not valid", "notvalidyet", "not yet valid"].iter().any(|w| lower.contains(w)) {
        TeeError::Time(format!("dcap collateral or certificates at the claim's time: {message}"))
    } else {
        TeeError::Quote(message)
    }
}

/// Verifies a quote that passed [`tdx_layout::parse`] with its collateral at `time`: the
/// signatures and chains to the pinned Intel root, the CRLs, the TCB info and QE identity, and
/// the collateral's validity window. Debug is left to the caller (it reads the report).
pub(super) fn verify(quote: &[u8], layout: &Layout, collateral_json: &[u8], time: u64) -> TeeResult<QuoteClaims> {
    let collateral = collateral(collateral_json, layout)?;
    let claims = QuoteVerifier::new(INTEL_SGX_ROOT_CA_DER.to_vec())
        .allow_debug(true)
        .verify_with_policy(quote, collateral, time, &AcceptAll)
        .map_err(dcap_error)?;
    if time < claims.latest_issue_date || time > claims.earliest_expiration_date {
        return Err(TeeError::Time(format!(
            "the collateral is valid from {} to {} (Unix seconds), not at the claim's time {time}",
            claims.latest_issue_date, claims.earliest_expiration_date
        )));
    }
    Ok(claims)
}

/// dcap-qvl's policy hook, left open: [`platform`] applies the verifier's own policy.
struct AcceptAll;

impl dcap_qvl::Policy for AcceptAll {
    fn validate(&self, _claims: &QuoteClaims) -> anyhow::Result<()> {
        Ok(())
    }
}

/// The platform part of the policy: the TCB status, every open advisory, and the PCK
/// certificate's platform flags. Returns the status and advisories for the report.
pub(super) fn platform(claims: &QuoteClaims, policy: &TdxPolicy) -> TeeResult<(String, Vec<String>)> {
    let status = claims.tcb.status.to_string();
    if !policy.tcb_statuses.contains(&status) {
        return Err(TeeError::Platform(format!(
            "TCB status {status} is not among the policy's accepted statuses {:?}",
            policy.tcb_statuses
        )));
    }
    let advisories = claims.tcb.advisory_ids.clone();
    if let Some(open) = advisories.iter().find(|id| !policy.advisories.contains(id)) {
        return Err(TeeError::Platform(format!("advisory {open} is open and the policy does not tolerate it")));
    }
    let pck = &claims.platform.pck;
    for (flag, allowed, name) in [
        (pck.dynamic_platform, policy.allow_dynamic_platform, "dynamic platform"),
        (pck.cached_keys, policy.allow_cached_keys, "cached keys"),
        (pck.smt_enabled, policy.allow_smt, "SMT (simultaneous multithreading)"),
    ] {
        if flag == PckCertFlag::True && !allowed {
            return Err(TeeError::Platform(format!("{name} is set on this platform and the policy does not allow it")));
        }
    }
    Ok((status, advisories))
}
