//! Intel TDX DCAP quotes with their collateral: the strict layout ([`super::tdx_layout`]), the
//! DCAP verification and platform policy ([`super::dcap`]), no debug TD, and MRTD (with any RTMR
//! an allowlist entry names) on the allowlist. Returns the TD's `report_data` as the bound data.
//!
//! A TD report 1.5 (quote v5) adds two fields. TEE_TCB_SVN2, the TDX module's current TCB, is
//! appraised by dcap-qvl against the TCB info next to the launch TCB, and the TCB status the
//! policy sees accounts for both. MRSERVICETD must be all zero: a service TD bound to the TD (a
//! migration TD, for one) can export and change its state, so no allowlisted measurement would
//! describe what runs.

use dcap_qvl::quote::Report;
use veritas_primitives::hex;

use super::{
    TeeError, TeeKind, TeeReport, TeeResult, dcap,
    policy::{TdxMeasurement, TdxPolicy},
    tdx_layout::{self, INTEL_SGX_ROOT_CA_SHA256, QuoteKind},
};

pub(super) fn verify(
    quote: &[u8],
    collateral: &[u8],
    policy: &TdxPolicy,
    time: u64,
) -> TeeResult<(TeeReport, Vec<u8>)> {
    let layout = tdx_layout::parse(quote)?;
    if layout.kind != QuoteKind::Tdx {
        return Err(TeeError::Layout("dcap quote: an SGX quote; tee-tdx evidence accepts TDX quotes only".into()));
    }
    if let Some(mr_service_td) = layout.mr_service_td.filter(|mr| mr.iter().any(|b| *b != 0)) {
        return Err(TeeError::Platform(format!(
            "tdx quote: MRSERVICETD {} is not zero: a service TD is bound to this TD and can export \
             and change its state",
            hex::encode(mr_service_td)
        )));
    }
    let claims = dcap::verify(quote, &layout, collateral, time)?;
    let (status, advisories) = dcap::platform(&claims, policy)?;
    // The layout fixed the report's version; dcap-qvl decoded the same bytes.
    let td = match &claims.report {
        Report::TD10(td) if layout.mr_service_td.is_none() => td,
        Report::TD15(td) if layout.mr_service_td == Some(td.mr_service_td) => &td.base,
        _ => return Err(TeeError::Layout("dcap quote: the report is not the TD report its layout declares".into())),
    };
    // TUD (bits 7:0 of TD attributes): DEBUG and the profiling bits. Any of them makes the TD
    // readable and changeable by the host.
    if td.td_attributes[0] != 0 {
        return Err(TeeError::Debug(format!(
            "tdx quote: TD attributes {} set TUD bits (debug or profiling)",
            hex::encode(td.td_attributes)
        )));
    }
    let registers = [
        ("MRTD", &td.mr_td),
        ("RTMR0", &td.rt_mr0),
        ("RTMR1", &td.rt_mr1),
        ("RTMR2", &td.rt_mr2),
        ("RTMR3", &td.rt_mr3),
    ];
    let matches = |want: Option<&String>, got: &[u8; 48]| {
        want.is_none_or(|w| super::policy::measurement(w).is_ok_and(|w| &w == got))
    };
    let entry = policy
        .measurements
        .iter()
        .find(|m| wanted(m).iter().zip(&registers).all(|(want, (_, got))| matches(*want, got)));
    let Some(entry) = entry else {
        // Name the first register that no entry matching the ones before it matches.
        let mut candidates: Vec<&TdxMeasurement> = policy.measurements.iter().collect();
        let mut failed = registers[0];
        for (i, register) in registers.iter().enumerate() {
            let next: Vec<_> = candidates.iter().copied().filter(|m| matches(wanted(m)[i], register.1)).collect();
            if next.is_empty() {
                failed = *register;
                break;
            }
            candidates = next;
        }
        let hint = if policy.measurements.is_empty() { " (the allowlist is empty)" } else { "" };
        return Err(TeeError::Measurement { name: failed.0, value: hex::encode(failed.1), hint });
    };
    let measurements = wanted(entry)
        .iter()
        .zip(&registers)
        .filter(|(want, _)| want.is_some())
        .map(|(_, (name, value))| (name.to_string(), hex::encode(value)))
        .collect();
    let report = TeeReport {
        kind: TeeKind::Tdx,
        insecure: false,
        measurements,
        vendor_root: format!("Intel SGX Root CA (SHA-256 of DER {INTEL_SGX_ROOT_CA_SHA256})"),
        tcb_status: Some(status),
        advisories,
        attested_at: None,
    };
    Ok((report, td.report_data.to_vec()))
}

/// The registers an allowlist entry names: MRTD, then RTMR0–3 where given.
fn wanted(m: &TdxMeasurement) -> [Option<&String>; 5] {
    [Some(&m.mrtd), m.rtmr0.as_ref(), m.rtmr1.as_ref(), m.rtmr2.as_ref(), m.rtmr3.as_ref()]
}

#[cfg(test)]
#[path = "tdx_tests.rs"]
mod tests;
