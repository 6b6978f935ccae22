//! The bit-exact integer executor of int8 networks, whose execution a ZK proof proves (docs/zk.md,
//! "Quantization").
//!
//! [`QuantizedModel::run`] is the definition of the statement; [`requant`] is its one rounding
//! and [`geometry`] the index arithmetic of its convolutions and pools. Making a
//! [`QuantizedModel`] from an ONNX float network is `veritas-quantize`'s work, so that the
//! verifier, which runs this crate, never links an ONNX decoder. Pure: no I/O, no clock, no
//! randomness.

pub mod geometry;
pub mod quantized;
pub mod requant;

pub use quantized::{QuantLayer, QuantOp, QuantizedModel};
pub use requant::Requant;

/// What can go wrong validating or running a network.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// An input beyond a size limit.
    #[error("{what}: limit {limit}, got {got}")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// The limit.
        limit: usize,
        /// The size found.
        got: usize,
    },
    /// An input of the wrong length.
    #[error("input length: expected {expected}, got {got}")]
    InputLength {
        /// The model's input length.
        expected: usize,
        /// The given length.
        got: usize,
    },
    /// A real multiplier that has no `(multiplier, shift)` form.
    #[error("multiplier {real} out of range")]
    Multiplier {
        /// The real multiplier.
        real: f64,
    },
    /// A layer whose worst-case accumulator could leave `i32`.
    #[error("layer {layer}: worst-case accumulator {bound} exceeds i32")]
    Accumulator {
        /// The layer index.
        layer: usize,
        /// The bound.
        bound: i64,
    },
    /// A structurally invalid model.
    #[error("invalid model: {0}")]
    Invalid(String),
}

/// The crate's result.
pub type Result<T, E = QuantError> = std::result::Result<T, E>;
