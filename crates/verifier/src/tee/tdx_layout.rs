//! The strict layout of a DCAP quote, checked before dcap-qvl verifies it, so that the bytes
//! dcap-qvl does not read or does not cover by a signature (see the vectors' MANIFEST.md) cannot
//! change: exact lengths, no trailing bytes, known types only, and the PCK chain in canonical PEM
//! ending with the pinned Intel SGX Root CA.
//!
//! Accepted layouts (little-endian integers; offsets in bytes):
//! - TDX, quote v4: header (48: version 4, attestation key type 2 = ECDSA P-256, TEE type 0x81),
//!   TD report 1.0 (584), signature data length (4) = the bytes that follow, then: ECDSA
//!   signature (64), attestation key (64), certification data type 6 (QE report certification
//!   data) with its size (4) = the bytes that follow, QE report (384), its signature (64), QE
//!   authentication data (2-byte size, data), then certification data type 5 (PCK certificate
//!   chain) with its size (4) = the bytes that follow.
//! - TDX, quote v5 (TDX 1.5 platforms): the header with version 5, then a body descriptor, body
//!   type (2) and body size (4): type 2 with size 584 (TD report 1.0) or type 3 with size 648
//!   (TD report 1.5: TD report 1.0, TEE_TCB_SVN2 (16), MRSERVICETD (48)), then the report and
//!   the signature data laid out as in v4. Other body types (1: SGX, 4: TD report 1.5 with the
//!   service-TD extension) are refused: no evidence of them has been seen to test against.
//! - SGX, quote v3 (only for [`super::dcap`]'s own tests of the TCB-status path; `tee-tdx`
//!   evidence rejects it): header (48, TEE type 0), enclave report (384), signature data length
//!   (4), ECDSA signature, attestation key, QE report, its signature, QE authentication data,
//!   certification data type 5 with its size.
//!
//! The PCK chain is exactly three certificates (PCK, PCK CA, Intel SGX Root CA), each in the
//! canonical PEM that RFC 7468 describes as strict: `-----BEGIN CERTIFICATE-----\n`, base64 lines
//! of 64 characters (the last one shorter) each ending in `\n`, `-----END CERTIFICATE-----\n`;
//! the blocks follow one another directly and the chain ends with one NUL byte, as Intel's
//! quoting enclave writes it. The third certificate must be the pinned root, byte for byte.

use super::TeeError;

/// The DER of the Intel SGX Root CA certificate (as Intel publishes it; the same that dcap-qvl
/// pins; SHA-256 [`INTEL_SGX_ROOT_CA_SHA256`]).
pub const INTEL_SGX_ROOT_CA_DER: &[u8] = include_bytes!("roots/intel_sgx_root_ca.der");
/// The SHA-256 of [`INTEL_SGX_ROOT_CA_DER`].
pub const INTEL_SGX_ROOT_CA_SHA256: &str = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";

const HEADER: usize = 48;
const TD_REPORT10: usize = 584;
const TD_REPORT15: usize = 648;
const BODY_TD_REPORT10: u16 = 2;
const BODY_TD_REPORT15: u16 = 3;
const SGX_REPORT: usize = 384;
const QE_REPORT: usize = 384;
const ECDSA_SIGNATURE: usize = 64;
const ATTESTATION_KEY: usize = 64;
const TEE_TYPE_SGX: u32 = 0;
const TEE_TYPE_TDX: u32 = 0x81;
const ECDSA_P256: u16 = 2;
const QE_REPORT_CERTIFICATION_DATA: u16 = 6;
const PCK_CERT_CHAIN: u16 = 5;

/// The kind of a quote that passed the layout check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum QuoteKind {
    /// A TDX quote (v4 or v5, TD report 1.0 or 1.5).
    Tdx,
    /// An SGX quote (v3).
    Sgx,
}

/// What the layout check found: the kind, the TD report's MRSERVICETD (TD report 1.5 only), and
/// the certificates of the PCK chain, DER: the PCK certificate, its CA, the root.
pub(super) struct Layout {
    pub(super) kind: QuoteKind,
    pub(super) mr_service_td: Option<[u8; 48]>,
    pub(super) pck_chain: [Vec<u8>; 3],
}

fn layout(what: impl core::fmt::Display) -> TeeError {
    TeeError::Layout(format!("dcap quote: {what}"))
}

/// Reads the fixed-layout fields in order, each a named, exact length.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize, what: &str) -> Result<&'a [u8], TeeError> {
        let end = self.at.checked_add(len).filter(|end| *end <= self.bytes.len()).ok_or_else(|| {
            layout(format!("{what} ({len} bytes at offset {}) runs past the end ({} bytes)", self.at, self.bytes.len()))
        })?;
        let field = &self.bytes[self.at..end];
        self.at = end;
        Ok(field)
    }

    fn u16(&mut self, what: &str) -> Result<u16, TeeError> {
        let b = self.take(2, what)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &str) -> Result<u32, TeeError> {
        let b = self.take(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// A declared size that must equal the bytes that follow.
    fn size_of_rest(&mut self, what: &str) -> Result<(), TeeError> {
        let declared = self.u32(what)?;
        if usize::try_from(declared).ok() != Some(self.remaining()) {
            return Err(layout(format!("{what} is {declared}, but {} bytes follow", self.remaining())));
        }
        Ok(())
    }
}

/// Checks a quote's layout strictly; returns its kind and PCK chain.
pub(super) fn parse(quote: &[u8]) -> Result<Layout, TeeError> {
    let mut r = Reader { bytes: quote, at: 0 };
    let version = r.u16("version")?;
    let key_type = r.u16("attestation key type")?;
    let tee_type = r.u32("TEE type")?;
    r.take(HEADER - 8, "header")?;
    if key_type != ECDSA_P256 {
        return Err(layout(format!("attestation key type {key_type}; only 2 (ECDSA P-256) is known")));
    }
    let (kind, report_len) = match (version, tee_type) {
        (4, TEE_TYPE_TDX) => (QuoteKind::Tdx, TD_REPORT10),
        (5, TEE_TYPE_TDX) => (QuoteKind::Tdx, body_descriptor(&mut r)?),
        (3, TEE_TYPE_SGX) => (QuoteKind::Sgx, SGX_REPORT),
        _ => {
            return Err(layout(format!(
                "version {version} with TEE type {tee_type:#x}; known: TDX quote v4 or v5 (0x81), SGX quote v3 (0)"
            )));
        }
    };
    let report = r.take(report_len, "report body")?;
    // TD report 1.5 ends with MRSERVICETD.
    let mr_service_td = (report_len == TD_REPORT15).then(|| {
        let mut mr = [0; 48];
        mr.copy_from_slice(&report[TD_REPORT15 - 48..]);
        mr
    });
    r.size_of_rest("signature data length")?;
    r.take(ECDSA_SIGNATURE, "quote signature")?;
    r.take(ATTESTATION_KEY, "attestation key")?;
    if kind == QuoteKind::Tdx {
        let outer = r.u16("certification data type")?;
        if outer != QE_REPORT_CERTIFICATION_DATA {
            return Err(layout(format!("certification data type {outer}; a TDX quote has 6 (QE report)")));
        }
        r.size_of_rest("QE report certification data size")?;
    }
    r.take(QE_REPORT, "QE report")?;
    r.take(ECDSA_SIGNATURE, "QE report signature")?;
    let auth = r.u16("QE authentication data size")?;
    r.take(usize::from(auth), "QE authentication data")?;
    let inner = r.u16("PCK certification data type")?;
    if inner != PCK_CERT_CHAIN {
        return Err(layout(format!("PCK certification data type {inner}; only 5 (PCK certificate chain) is known")));
    }
    r.size_of_rest("PCK certification data size")?;
    let chain = r.take(r.remaining(), "PCK certificate chain")?;
    let pck_chain = pem_chain(chain, 3, true, "the quote's PCK certificate chain")?;
    let pck_chain: [Vec<u8>; 3] = pck_chain.try_into().map_err(|_| layout("not 3 certificates"))?;
    Ok(Layout { kind, mr_service_td, pck_chain })
}

/// A v5 quote's body descriptor: a known TD report type with its exact size; returns the size.
fn body_descriptor(r: &mut Reader<'_>) -> Result<usize, TeeError> {
    let body_type = r.u16("body type")?;
    let body_size = r.u32("body size")?;
    let expected = match body_type {
        BODY_TD_REPORT10 => TD_REPORT10,
        BODY_TD_REPORT15 => TD_REPORT15,
        _ => {
            return Err(layout(format!(
                "body type {body_type}; known in a TDX quote v5: 2 (TD report 1.0), 3 (TD report 1.5)"
            )));
        }
    };
    if usize::try_from(body_size).ok() != Some(expected) {
        return Err(layout(format!("body size {body_size} for body type {body_type}; expected {expected}")));
    }
    Ok(expected)
}

/// Decodes `count` certificates in canonical PEM (see the module's documentation), ending with
/// one NUL byte if `nul`, the last one the pinned Intel root; returns their DER.
pub(super) fn pem_chain(text: &[u8], count: usize, nul: bool, what: &str) -> Result<Vec<Vec<u8>>, TeeError> {
    let pem_text = if nul {
        text.strip_suffix(b"\0").ok_or_else(|| layout(format!("{what} does not end with one NUL byte")))?
    } else {
        text
    };
    let blocks = pem::parse_many(pem_text).map_err(|e| layout(format!("{what}: {e}")))?;
    if blocks.len() != count {
        return Err(layout(format!("{what} holds {} certificates, expected {count}", blocks.len())));
    }
    let config = pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF).set_line_wrap(64);
    let canonical: String = blocks
        .iter()
        .map(|block| pem::encode_config(&pem::Pem::new("CERTIFICATE", block.contents()), config))
        .collect();
    if canonical.as_bytes() != pem_text {
        return Err(layout(format!(
            "{what} is not canonical PEM (CERTIFICATE blocks without headers, 64-character base64 lines, \\n line ends, no other bytes)"
        )));
    }
    let ders: Vec<Vec<u8>> = blocks.into_iter().map(|block| block.into_contents()).collect();
    if ders.last().map(Vec::as_slice) != Some(INTEL_SGX_ROOT_CA_DER) {
        return Err(TeeError::Chain(format!("{what}: its root is not the pinned Intel SGX Root CA")));
    }
    Ok(ders)
}
