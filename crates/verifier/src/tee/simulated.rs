//! The simulated enclave, for development where no TEE exists: it "attests" whatever the node
//! says, so it proves nothing. It has its own evidence kind, passes only a policy that allows it,
//! and every report of it is labelled UNTRUSTED / SIMULATED.

use super::{Attestation, TeeError, TeeKind, TeeReport, TeeResult, policy::SimulatedPolicy};
use veritas_primitives::{B256, hex};

/// The simulated enclave's evidence for a claim and a nonce.
pub fn simulated_evidence(measurement: [u8; 48], claim_digest: &B256, nonce: &[u8]) -> super::TeeEvidence {
    super::TeeEvidence {
        nonce: nonce.to_vec(),
        attestation: Attestation::Simulated { measurement, report_data: super::binding(claim_digest, nonce) },
    }
}

pub(super) fn verify(
    measurement: &[u8; 48],
    report_data: &[u8; 64],
    policy: &SimulatedPolicy,
) -> TeeResult<(TeeReport, Vec<u8>)> {
    if !policy.allow {
        return Err(TeeError::SimulatedNotAllowed);
    }
    let value = hex::encode(measurement);
    if !policy.measurements.is_empty()
        && !policy.measurements.iter().any(|m| super::policy::measurement(m).is_ok_and(|m| &m == measurement))
    {
        return Err(TeeError::Measurement { name: "simulated measurement", value, hint: "" });
    }
    let report = TeeReport {
        kind: TeeKind::Simulated,
        insecure: true,
        measurements: vec![("simulated measurement".into(), value)],
        vendor_root: "none: the simulated enclave is not hardware, and the policy chose to accept it".into(),
        tcb_status: None,
        advisories: Vec::new(),
        attested_at: None,
    };
    Ok((report, report_data.to_vec()))
}
