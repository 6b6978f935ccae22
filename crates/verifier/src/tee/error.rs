//! Why TEE evidence does not hold: each variant names the check that failed.

/// A failed check of TEE evidence.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TeeError {
    /// The evidence bytes could not be decoded.
    #[error("tee evidence: cannot decode {what}: {reason}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The attestation binds other data than this claim and nonce.
    #[error("tee binding: the attestation binds {got}, but this claim and nonce give {expected}")]
    Binding {
        /// The binding of this receipt's claim and nonce, hex.
        expected: String,
        /// The data the attestation carries, hex.
        got: String,
    },
    /// The attestation's bound data is not 64 bytes, so it cannot hold a binding.
    #[error("tee binding: the attestation's {field} has {len} bytes; a binding has 64")]
    BindingLength {
        /// Which field (`user_data`, `report_data`).
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// Simulated evidence under a policy that does not allow it.
    #[error(
        "tee: SIMULATED enclave (UNTRUSTED: no hardware attests it); rejected unless the policy allows simulated evidence"
    )]
    SimulatedNotAllowed,
    /// A measurement that the policy's allowlist does not hold.
    #[error("tee measurement: {name} {value} is not on the policy's allowlist{hint}")]
    Measurement {
        /// Which measurement (PCR0, MRTD, …).
        name: &'static str,
        /// Its value, hex.
        value: String,
        /// Why, when the allowlist is empty.
        hint: &'static str,
    },
    /// A debug enclave: its memory can be read and changed from outside.
    #[error("tee debug: {0}")]
    Debug(String),
    /// The certificate chain to the vendor's pinned root does not hold.
    #[error("tee certificate chain: {0}")]
    Chain(String),
    /// A signature over the evidence does not hold.
    #[error("tee signature: {0}")]
    Signature(String),
    /// DCAP quote verification by dcap-qvl failed (its message names the check).
    #[error("tee quote verification (dcap-qvl): {0}")]
    Quote(String),
    /// The evidence is not valid at the time it is checked at.
    #[error("tee time: {0}")]
    Time(String),
    /// The platform's TCB status, advisories or flags are outside the policy.
    #[error("tee platform: {0}")]
    Platform(String),
    /// The evidence is laid out other than its format strictly allows.
    #[error("tee layout: {0}")]
    Layout(String),
    /// The policy itself is unusable.
    #[error("tee policy: {0}")]
    Policy(String),
}

/// Result alias of TEE checks.
pub type TeeResult<T> = Result<T, TeeError>;
