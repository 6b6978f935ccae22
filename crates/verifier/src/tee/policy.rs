//! What a verifier accepts as an enclave: the measurements on its allowlist, the platform states
//! it tolerates, and whether simulated evidence may pass (never by default). A network publishes
//! its policy as JSON (`veritas node --tee-policy`, `GET /v1/tee/policy`); a reader of a receipt
//! chooses the policy it trusts.

use serde::{Deserialize, Serialize};
use veritas_primitives::hex;

use super::{TeeError, TeeResult};

/// A verifier's policy for TEE evidence. The default accepts nothing: every allowlist is empty.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// AWS Nitro Enclaves.
    pub nitro: NitroPolicy,
    /// Intel TDX.
    pub tdx: TdxPolicy,
    /// The simulated development enclave.
    pub simulated: SimulatedPolicy,
}

/// What a Nitro attestation document must show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NitroPolicy {
    /// Accepted enclave images: each entry's PCR0, PCR1 and PCR2 must all match.
    pub measurements: Vec<NitroMeasurement>,
    /// How far, in seconds, the document's timestamp may lie from the claim's.
    pub window_secs: u64,
}

impl Default for NitroPolicy {
    fn default() -> NitroPolicy {
        NitroPolicy { measurements: Vec::new(), window_secs: 600 }
    }
}

/// One accepted Nitro enclave image (48-byte SHA-384 PCRs, hex).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NitroMeasurement {
    /// PCR0: the enclave image file.
    pub pcr0: String,
    /// PCR1: the kernel and bootstrap.
    pub pcr1: String,
    /// PCR2: the application.
    pub pcr2: String,
}

/// What a TDX quote must show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TdxPolicy {
    /// Accepted trust domains: MRTD, and each RTMR that an entry names.
    pub measurements: Vec<TdxMeasurement>,
    /// Accepted TCB statuses (as Intel names them: `UpToDate`, `SWHardeningNeeded`, …).
    pub tcb_statuses: Vec<String>,
    /// Security advisories (`INTEL-SA-…`) that may be open on an accepted platform.
    pub advisories: Vec<String>,
    /// Accept a platform with dynamic platform configuration (TDX module updates at run time).
    pub allow_dynamic_platform: bool,
    /// Accept a platform whose keys are cached.
    pub allow_cached_keys: bool,
    /// Accept a platform with simultaneous multithreading on.
    pub allow_smt: bool,
}

impl Default for TdxPolicy {
    fn default() -> TdxPolicy {
        TdxPolicy {
            measurements: Vec::new(),
            tcb_statuses: vec!["UpToDate".into()],
            advisories: Vec::new(),
            allow_dynamic_platform: false,
            allow_cached_keys: false,
            allow_smt: false,
        }
    }
}

/// One accepted trust domain (48-byte registers, hex); an RTMR left out matches any value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TdxMeasurement {
    /// The trust domain's build-time measurement.
    pub mrtd: String,
    /// Run-time measurement registers 0–3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr0: Option<String>,
    /// RTMR1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr1: Option<String>,
    /// RTMR2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr2: Option<String>,
    /// RTMR3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rtmr3: Option<String>,
}

/// Whether simulated evidence may pass; it proves nothing, so only for development.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatedPolicy {
    /// Accept simulated evidence (always reported UNTRUSTED / SIMULATED).
    pub allow: bool,
    /// When not empty, the simulated measurements accepted.
    pub measurements: Vec<String>,
}

impl Policy {
    /// Parses a policy's JSON and checks that every measurement is well-formed hex of its size.
    pub fn from_json(json: &[u8]) -> TeeResult<Policy> {
        let policy: Policy = serde_json::from_slice(json).map_err(|err| TeeError::Policy(err.to_string()))?;
        policy.check()?;
        Ok(policy)
    }

    /// A policy that accepts the simulated enclave and nothing else.
    pub fn simulated_only() -> Policy {
        Policy { simulated: SimulatedPolicy { allow: true, measurements: Vec::new() }, ..Policy::default() }
    }

    /// Checks that every measurement is 48 bytes of lowercase or uppercase hex.
    pub fn check(&self) -> TeeResult<()> {
        let nitro = self.nitro.measurements.iter().flat_map(|m| [&m.pcr0, &m.pcr1, &m.pcr2]);
        let tdx = self.tdx.measurements.iter().flat_map(|m| {
            [Some(&m.mrtd), m.rtmr0.as_ref(), m.rtmr1.as_ref(), m.rtmr2.as_ref(), m.rtmr3.as_ref()]
                .into_iter()
                .flatten()
        });
        for value in nitro.chain(tdx).chain(&self.simulated.measurements) {
            measurement(value)?;
        }
        if self.nitro.window_secs > 86_400 {
            return Err(TeeError::Policy(format!(
                "nitro.window_secs is {}: at most 86400 (a day); a document lives about 3 hours",
                self.nitro.window_secs
            )));
        }
        Ok(())
    }
}

/// Decodes a 48-byte measurement from hex (an optional `0x`, either case).
pub fn measurement(text: &str) -> TeeResult<[u8; 48]> {
    let bytes = hex::decode(text.trim_start_matches("0x"))
        .map_err(|err| TeeError::Policy(format!("measurement {text:?} is not hex: {err}")))?;
    bytes.try_into().map_err(|bytes: Vec<u8>| {
        TeeError::Policy(format!("measurement {text:?} has {} bytes; SHA-384 measurements have 48", bytes.len()))
    })
}
