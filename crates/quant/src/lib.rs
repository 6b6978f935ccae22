//! Quantization of ONNX float networks to int8, and the bit-exact integer executor whose
//! execution a ZK proof proves (docs/zk.md, "Quantization").
//!
//! [`import`] decodes an ONNX model into a [`FloatModel`] (f32 reference executor);
//! [`quantize`] calibrates per-tensor symmetric scales on sample inputs and converts it to a
//! [`QuantizedModel`], whose [`QuantizedModel::run`] is the definition of the statement.
//! Pure: no I/O, no clock, no randomness.

pub mod accuracy;
pub mod calibrate;
pub mod float;
pub mod geometry;
pub mod import;
pub mod onnx;
pub mod quantized;
pub mod requant;

pub use accuracy::{AccuracyReport, compare};
pub use float::FloatModel;
pub use import::import;
pub use quantized::{QuantLayer, QuantOp, QuantizedModel};
pub use requant::Requant;

/// What can go wrong importing, quantizing or running a network.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// The model bytes are not a protobuf `ModelProto`.
    #[error("model does not decode: {0}")]
    Decode(String),
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
    /// An operator, or an operator's form, the importer does not support.
    #[error("unsupported {op} at node {node}: {reason}")]
    Unsupported {
        /// The ONNX op type.
        op: String,
        /// The node's name (or first output).
        node: String,
        /// What about it.
        reason: String,
    },
    /// An initializer that cannot be read.
    #[error("tensor {name}: {reason}")]
    BadTensor {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        reason: String,
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

/// Imports ONNX `model_bytes`, calibrates on `calibration_inputs` (one flat f32 sample each) and
/// quantizes.
pub fn quantize(model_bytes: &[u8], calibration_inputs: &[Vec<f32>]) -> Result<QuantizedModel> {
    calibrate::quantize_model(&import(model_bytes)?, calibration_inputs)
}
