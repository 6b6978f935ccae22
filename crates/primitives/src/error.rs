//! The error type of the primitives crate.

/// Why an identifier, encoding or signature was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrimitiveError {
    /// A model id string is not a CIDv1 with a SHA-256 multihash.
    #[error("invalid model id {input:?}: {reason}")]
    ModelId {
        /// The text that was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A tensor's values do not agree with its declared shape or type.
    #[error("tensor {name:?}: {reason}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Bytes that should hold a canonical encoding do not.
    #[error("malformed {what}: {reason}")]
    Decode {
        /// Which structure was being decoded.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A receipt of a version this build does not know.
    #[error("unsupported receipt version: expected {expected}, got {got}")]
    Version {
        /// The version this build reads.
        expected: u8,
        /// The version found.
        got: u8,
    },
    /// A signature that cannot be parsed or recovered.
    #[error("invalid signature: {0}")]
    Signature(String),
    /// A private key that cannot be used.
    #[error("invalid private key: {0}")]
    Key(String),
}

/// Result alias of the primitives crate.
pub type PrimitiveResult<T> = Result<T, PrimitiveError>;
