//! TEE mode: attestation evidence that binds a claim to an enclave, and its verification.
//!
//! A node inside an enclave signs its claim, then asks the enclave's hardware for evidence whose
//! 64 bytes of user data (Nitro `user_data`, TDX `report_data`) are [`binding`]: a
//! domain-separated SHA-512 of the claim's EIP-712 digest and the client's nonce. The receipt
//! carries the evidence as [`veritas_primitives::Evidence`] with its own kind per format
//! (`tee-nitro`, `tee-tdx`, `tee-simulated`: the simulated enclave is never a zero-filled real
//! type) and data in the Solidity ABI encoding, decoded strictly.
//!
//! [`verify`] checks evidence against a [`Policy`] at the claim's time: the vendor's signatures
//! and certificate chain to a pinned root, validity at that time, no debug enclave, the platform
//! state, the measurements on the allowlist, and the binding. It reads no clock: the time is the
//! claim's.

use alloy_sol_types::SolValue;
use sha2::{Digest, Sha512};
use veritas_primitives::{B256, Evidence, hex};

mod dcap;
mod error;
mod nitro;
mod nitro_chain;
pub mod policy;
mod simulated;
mod tdx;
mod tdx_layout;

pub use error::{TeeError, TeeResult};
pub use nitro_chain::{AWS_NITRO_ROOT_G1_DER, AWS_NITRO_ROOT_G1_SHA256};
pub use policy::Policy;
pub use simulated::simulated_evidence;
pub use tdx_layout::{INTEL_SGX_ROOT_CA_DER, INTEL_SGX_ROOT_CA_SHA256};

/// The domain tag of [`binding`].
pub const BINDING_DOMAIN: &[u8] = b"veritas/tee-binding/v1";
/// The longest nonce a client may bind (bytes).
pub const MAX_NONCE: usize = 64;
/// The largest evidence accepted (bytes): a TDX quote with its collateral is about 25 KiB.
pub const MAX_EVIDENCE: usize = 256 * 1024;

/// The 64 bytes an attestation must carry for a claim and a client's nonce:
/// `SHA-512("veritas/tee-binding/v1" ‖ claim digest ‖ nonce)`. The tag and the digest have fixed
/// lengths, so the nonce is unambiguous.
pub fn binding(claim_digest: &B256, nonce: &[u8]) -> [u8; 64] {
    let mut hasher = Sha512::new();
    hasher.update(BINDING_DOMAIN);
    hasher.update(claim_digest);
    hasher.update(nonce);
    hasher.finalize().into()
}

/// The kind of enclave that produced evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TeeKind {
    /// An AWS Nitro Enclave.
    Nitro,
    /// An Intel TDX trust domain.
    Tdx,
    /// The development enclave: no hardware, no guarantee.
    Simulated,
}

impl TeeKind {
    /// The evidence kind in a receipt: `tee-nitro`, `tee-tdx` or `tee-simulated`.
    pub fn evidence_kind(self) -> &'static str {
        match self {
            TeeKind::Nitro => "tee-nitro",
            TeeKind::Tdx => "tee-tdx",
            TeeKind::Simulated => "tee-simulated",
        }
    }

    /// The kind of a receipt's evidence kind, if it is TEE evidence.
    pub fn of_evidence_kind(kind: &str) -> Option<TeeKind> {
        [TeeKind::Nitro, TeeKind::Tdx, TeeKind::Simulated].into_iter().find(|k| k.evidence_kind() == kind)
    }
}

/// What the enclave's hardware signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attestation {
    /// An AWS Nitro Enclaves attestation document (COSE_Sign1, ES384).
    Nitro {
        /// The document's bytes.
        document: Vec<u8>,
    },
    /// An Intel TDX DCAP quote with its collateral, so that it verifies offline.
    Tdx {
        /// The quote's bytes.
        quote: Vec<u8>,
        /// Its collateral: `QuoteCollateralV3` JSON (TCB info, QE identity, CRLs, issuer chains).
        collateral: Vec<u8>,
    },
    /// The development enclave's statement: it measures and signs nothing.
    Simulated {
        /// What the simulated enclave reports as its measurement (SHA-384 of the node's binary).
        measurement: [u8; 48],
        /// The bound data.
        report_data: [u8; 64],
    },
}

/// TEE evidence as a receipt carries it: the attestation and the client's nonce it binds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeeEvidence {
    /// The client's nonce (at most [`MAX_NONCE`] bytes; may be empty).
    pub nonce: Vec<u8>,
    /// The attestation.
    pub attestation: Attestation,
}

type NitroData = (alloy_primitives::Bytes, alloy_primitives::Bytes);
type TdxData = (alloy_primitives::Bytes, alloy_primitives::Bytes, alloy_primitives::Bytes);
type SimulatedData = (alloy_primitives::Bytes, alloy_primitives::Bytes, alloy_primitives::Bytes);

impl TeeEvidence {
    /// The kind of enclave.
    pub fn kind(&self) -> TeeKind {
        match self.attestation {
            Attestation::Nitro { .. } => TeeKind::Nitro,
            Attestation::Tdx { .. } => TeeKind::Tdx,
            Attestation::Simulated { .. } => TeeKind::Simulated,
        }
    }

    /// The receipt's form: the kind, and the ABI encoding of `(nonce, document)`,
    /// `(nonce, quote, collateral)` or `(nonce, measurement, report_data)`.
    pub fn to_evidence(&self) -> Evidence {
        let nonce = alloy_primitives::Bytes::copy_from_slice(&self.nonce);
        let bytes = |data: &[u8]| alloy_primitives::Bytes::copy_from_slice(data);
        let data = match &self.attestation {
            Attestation::Nitro { document } => (nonce, bytes(document)).abi_encode_params(),
            Attestation::Tdx { quote, collateral } => (nonce, bytes(quote), bytes(collateral)).abi_encode_params(),
            Attestation::Simulated { measurement, report_data } => {
                (nonce, bytes(measurement), bytes(report_data)).abi_encode_params()
            }
        };
        Evidence { kind: self.kind().evidence_kind().into(), data: data.into() }
    }

    /// Decodes a receipt's evidence strictly (re-encoding must give the same bytes); `None` when
    /// it is not TEE evidence.
    pub fn from_evidence(evidence: &Evidence) -> Option<TeeResult<TeeEvidence>> {
        let kind = TeeKind::of_evidence_kind(&evidence.kind)?;
        Some(Self::decode(kind, &evidence.data))
    }

    fn decode(kind: TeeKind, data: &[u8]) -> TeeResult<TeeEvidence> {
        if data.len() > MAX_EVIDENCE {
            return Err(decode_error(format!("{} bytes, at most {MAX_EVIDENCE}", data.len())));
        }
        let evidence = match kind {
            TeeKind::Nitro => {
                let (nonce, document) = NitroData::abi_decode_params(data).map_err(|e| decode_error(e.to_string()))?;
                TeeEvidence { nonce: nonce.to_vec(), attestation: Attestation::Nitro { document: document.to_vec() } }
            }
            TeeKind::Tdx => {
                let (nonce, quote, collateral) =
                    TdxData::abi_decode_params(data).map_err(|e| decode_error(e.to_string()))?;
                TeeEvidence {
                    nonce: nonce.to_vec(),
                    attestation: Attestation::Tdx { quote: quote.to_vec(), collateral: collateral.to_vec() },
                }
            }
            TeeKind::Simulated => {
                let (nonce, measurement, report_data) =
                    SimulatedData::abi_decode_params(data).map_err(|e| decode_error(e.to_string()))?;
                let measurement = measurement.to_vec().try_into().map_err(|m: Vec<u8>| {
                    decode_error(format!("simulated measurement of {} bytes, expected 48", m.len()))
                })?;
                let report_data = report_data.to_vec().try_into().map_err(|r: Vec<u8>| {
                    decode_error(format!("simulated report data of {} bytes, expected 64", r.len()))
                })?;
                TeeEvidence { nonce: nonce.to_vec(), attestation: Attestation::Simulated { measurement, report_data } }
            }
        };
        if evidence.nonce.len() > MAX_NONCE {
            return Err(decode_error(format!("a nonce of {} bytes, at most {MAX_NONCE}", evidence.nonce.len())));
        }
        if evidence.to_evidence().data.as_ref() != data {
            return Err(decode_error("not in canonical ABI form (re-encoding differs)".into()));
        }
        Ok(evidence)
    }
}

fn decode_error(reason: String) -> TeeError {
    TeeError::Decode { what: "evidence", reason }
}

/// What verified evidence shows, and the assumptions it rests on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeeReport {
    /// The kind of enclave.
    pub kind: TeeKind,
    /// True for the simulated enclave: nothing is attested.
    pub insecure: bool,
    /// The measurements found on the allowlist, by name (`PCR0`, `MRTD`, …), hex.
    pub measurements: Vec<(String, String)>,
    /// The root of trust the evidence chains to.
    pub vendor_root: String,
    /// The platform's TCB status (TDX).
    pub tcb_status: Option<String>,
    /// Open security advisories the policy tolerated (TDX).
    pub advisories: Vec<String>,
    /// When the hardware made the evidence, Unix seconds, where it says so.
    pub attested_at: Option<u64>,
}

impl TeeReport {
    /// The label every user interface shows: `UNTRUSTED / SIMULATED` for the development
    /// enclave, else the vendor's name.
    pub fn label(&self) -> &'static str {
        match self.kind {
            TeeKind::Simulated => "UNTRUSTED / SIMULATED",
            TeeKind::Nitro => "AWS Nitro Enclave",
            TeeKind::Tdx => "Intel TDX",
        }
    }

    /// What was proven, and under which assumptions, one line each.
    pub fn assumptions(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.insecure {
            lines.push(
                "UNTRUSTED / SIMULATED: a development enclave with no hardware behind it; it proves nothing \
                 beyond the worker's own signature"
                    .into(),
            );
        }
        lines.push(format!("root of trust: {}", self.vendor_root));
        for (name, value) in &self.measurements {
            lines.push(format!("measurement {name} = {value} (on the policy's allowlist)"));
        }
        if let Some(status) = &self.tcb_status {
            lines.push(format!("TCB status: {status}"));
        }
        if !self.advisories.is_empty() {
            lines.push(format!("open advisories tolerated by the policy: {}", self.advisories.join(", ")));
        }
        lines
    }
}

/// Verifies an attestation against a policy at a time (Unix seconds), without the binding:
/// returns what it shows and the data it binds (TDX `report_data`: 64 bytes; Nitro `user_data`:
/// as the document carries it, 0 to 1024 bytes, and [`verify`] requires 64).
pub fn verify_attestation(attestation: &Attestation, policy: &Policy, time: u64) -> TeeResult<(TeeReport, Vec<u8>)> {
    policy.check()?;
    match attestation {
        Attestation::Nitro { document } => nitro::verify(document, &policy.nitro, time),
        Attestation::Tdx { quote, collateral } => tdx::verify(quote, collateral, &policy.tdx, time),
        Attestation::Simulated { measurement, report_data } => {
            simulated::verify(measurement, report_data, &policy.simulated)
        }
    }
}

/// Verifies evidence for a claim (its EIP-712 digest, signed at `claim_time`, Unix seconds):
/// the attestation under the policy at the claim's time, then that it binds this claim and the
/// evidence's nonce.
pub fn verify(evidence: &TeeEvidence, claim_digest: &B256, claim_time: u64, policy: &Policy) -> TeeResult<TeeReport> {
    let (report, bound) = verify_attestation(&evidence.attestation, policy, claim_time)?;
    if bound.len() != 64 {
        let field = if evidence.kind() == TeeKind::Nitro { "user_data" } else { "report_data" };
        return Err(TeeError::BindingLength { field, len: bound.len() });
    }
    let expected = binding(claim_digest, &evidence.nonce);
    if bound != expected {
        return Err(TeeError::Binding { expected: hex::encode(expected), got: hex::encode(bound) });
    }
    Ok(report)
}

#[cfg(test)]
mod tests;
