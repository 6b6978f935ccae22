//! The node's enclave: what attests a `tee` claim. Inside an AWS Nitro Enclave (the NSM device
//! `/dev/nsm` present) each claim gets an attestation document from the Nitro Secure Module,
//! whose `user_data` is the claim's binding; elsewhere the simulated enclave, for development
//! only, makes evidence that proves nothing and says so.

use std::sync::Arc;

use sha2::{Digest, Sha384};
use veritas_primitives::{B256, Evidence};
use veritas_verifier::{
    confidential::{EnclaveKey, KeyConfig, key_binding},
    tee::{Attestation, MAX_NONCE, TeeEvidence, binding},
};

use crate::{NodeError, NodeResult};

/// Why the node's enclave cannot attest.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    /// The simulated enclave cannot read this program to measure it.
    #[error("the simulated enclave cannot read this program to measure it: {0}")]
    Measure(String),
    /// The Nitro Secure Module is not there (not a Nitro Enclave).
    #[error(
        "--tee nitro needs the Nitro Secure Module (/dev/nsm), which only a Nitro Enclave has; for development use --tee simulated"
    )]
    NoDevice,
    /// The Nitro Secure Module's device cannot be opened.
    #[error("cannot open the Nitro Secure Module (/dev/nsm)")]
    Open,
    /// The Nitro Secure Module refused or answered something else.
    #[error("the NSM {0}")]
    Attest(String),
    /// This platform has no such enclave.
    #[error("Nitro Enclaves run Linux; this node does not")]
    Platform,
}

/// Which enclave a node runs in (`--tee`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TeeBackend {
    /// An AWS Nitro Enclave, through its NSM device.
    Nitro,
    /// The development enclave: no hardware; UNTRUSTED / SIMULATED.
    Simulated,
}

impl TeeBackend {
    /// Its name, as `--tee` takes it.
    pub fn name(self) -> &'static str {
        match self {
            TeeBackend::Nitro => "nitro",
            TeeBackend::Simulated => "simulated",
        }
    }
}

/// The warning a simulated enclave prints when a node starts with it.
pub const SIMULATED_WARNING: &str = "WARNING: --tee simulated: this node's TEE evidence is SIMULATED and UNTRUSTED. \
No hardware attests it: a `tee` receipt from it proves nothing beyond the worker's signature, and every \
verifier rejects it unless its policy explicitly allows simulated evidence. For development only.";

/// What the simulated enclave reports as its measurement: the SHA-384 of this program, as a
/// real enclave would measure its image. Only the node's own word.
/// Measured once per process: the program is read and hashed the first time only.
pub fn simulated_measurement() -> NodeResult<[u8; 48]> {
    static MEASUREMENT: std::sync::OnceLock<Result<[u8; 48], String>> = std::sync::OnceLock::new();
    MEASUREMENT
        .get_or_init(|| {
            let exe = std::env::current_exe().and_then(std::fs::read).map_err(|err| err.to_string())?;
            Ok(Sha384::digest(&exe).into())
        })
        .clone()
        .map_err(|err| EnclaveError::Measure(err).into())
}

/// An enclave that attests claims.
#[derive(Clone)]
pub(crate) enum Enclave {
    Simulated {
        measurement: [u8; 48],
    },
    #[cfg(target_os = "linux")]
    Nitro(Arc<nitro::Nsm>),
}

impl Enclave {
    /// Opens the enclave a node was started with.
    pub(crate) fn open(backend: TeeBackend) -> NodeResult<Enclave> {
        match backend {
            TeeBackend::Simulated => {
                tracing::warn!("{SIMULATED_WARNING}");
                Ok(Enclave::Simulated { measurement: simulated_measurement()? })
            }
            #[cfg(target_os = "linux")]
            TeeBackend::Nitro => Ok(Enclave::Nitro(Arc::new(nitro::Nsm::open()?))),
            #[cfg(not(target_os = "linux"))]
            TeeBackend::Nitro => Err(EnclaveError::Platform.into()),
        }
    }

    /// Evidence that binds a claim (its EIP-712 digest) and the client's nonce, checked by
    /// [`parse_nonce`] (blocking: the NSM answers through an ioctl).
    pub(crate) fn attest(&self, claim_digest: &B256, nonce: &[u8]) -> NodeResult<Evidence> {
        Ok(self.evidence(binding(claim_digest, nonce), nonce)?.to_evidence())
    }

    /// Evidence that binds the enclave's key configuration and a client's nonce: the key offer
    /// of a confidential request (blocking).
    pub(crate) fn attest_key(&self, config: &KeyConfig, nonce: &[u8]) -> NodeResult<Evidence> {
        Ok(self.evidence(key_binding(config, nonce), nonce)?.to_evidence())
    }

    /// Evidence whose bound data is `bound`, carrying `nonce`.
    fn evidence(&self, bound: [u8; 64], nonce: &[u8]) -> NodeResult<TeeEvidence> {
        let attestation = match self {
            Enclave::Simulated { measurement } => {
                Attestation::Simulated { measurement: *measurement, report_data: bound }
            }
            #[cfg(target_os = "linux")]
            Enclave::Nitro(nsm) => Attestation::Nitro { document: nsm.attest(&bound)? },
        };
        Ok(TeeEvidence { nonce: nonce.to_vec(), attestation })
    }
}

/// The enclave's key for confidential requests: an X25519 key pair made inside the enclave when
/// the node starts, from 32 random bytes of its own; the private key never leaves its memory.
pub(crate) fn sealing_key() -> EnclaveKey {
    let seed = B256::random();
    EnclaveKey::from_seed(0, &seed.0)
}

/// Decodes a client's nonce: hex (an optional `0x`), at most [`MAX_NONCE`] bytes.
pub fn parse_nonce(text: &str) -> NodeResult<Vec<u8>> {
    let bytes = veritas_primitives::hex::decode(text.trim_start_matches("0x"))
        .map_err(|err| NodeError::BadNonce(format!("not hex: {err}")))?;
    if bytes.len() > MAX_NONCE {
        return Err(NodeError::BadNonce(format!("{} bytes; at most {MAX_NONCE}", bytes.len())));
    }
    Ok(bytes)
}

#[cfg(target_os = "linux")]
mod nitro {
    use aws_nitro_enclaves_nsm_api::{
        api::{Request, Response},
        driver,
    };
    use serde_bytes::ByteBuf;

    use super::EnclaveError;
    use crate::NodeResult;

    /// The Nitro Secure Module's device, open.
    pub(crate) struct Nsm(i32);

    impl Nsm {
        pub(crate) fn open() -> NodeResult<Nsm> {
            if !std::path::Path::new("/dev/nsm").exists() {
                return Err(EnclaveError::NoDevice.into());
            }
            let fd = driver::nsm_init();
            if fd < 0 {
                return Err(EnclaveError::Open.into());
            }
            Ok(Nsm(fd))
        }

        /// An attestation document whose `user_data` is `user_data`.
        pub(crate) fn attest(&self, user_data: &[u8; 64]) -> NodeResult<Vec<u8>> {
            let request = Request::Attestation {
                user_data: Some(ByteBuf::from(user_data.to_vec())),
                nonce: None,
                public_key: None,
            };
            match driver::nsm_process_request(self.0, request) {
                Response::Attestation { document } => Ok(document),
                Response::Error(code) => Err(EnclaveError::Attest(format!("refused an attestation: {code:?}")).into()),
                other => Err(EnclaveError::Attest(format!("answered an attestation request with {other:?}")).into()),
            }
        }
    }

    impl Drop for Nsm {
        fn drop(&mut self) {
            driver::nsm_exit(self.0);
        }
    }
}

/// A claim's attestation to make once it is signed: the enclave and the client's nonce.
pub(crate) struct Attest {
    pub(crate) enclave: Enclave,
    pub(crate) nonce: Vec<u8>,
}

impl Attest {
    /// The evidence for the signed claim (blocking).
    pub(crate) fn evidence(&self, claim_digest: &B256) -> NodeResult<Evidence> {
        self.enclave.attest(claim_digest, &self.nonce)
    }
}
