//! ONNX float networks imported, run in f32, calibrated and quantized to int8 for the integer
//! executor of `veritas-quant` (docs/zk.md, "Quantization").
//!
//! [`import()`] decodes an ONNX model into a [`FloatModel`] (f32 reference executor);
//! [`quantize()`] calibrates per-tensor symmetric scales on sample inputs and converts it to a
//! [`QuantizedModel`], whose [`QuantizedModel::run`] is the definition of the statement;
//! [`compare`] measures how far the two are apart. Pure: no I/O, no clock, no randomness.

use veritas_quant::{QuantError, QuantizedModel};

pub mod accuracy;
pub mod calibrate;
pub mod float;
pub mod import;
pub mod onnx;

pub use accuracy::{AccuracyReport, compare};
pub use float::FloatModel;
pub use import::import;

/// What can go wrong importing, calibrating or quantizing a network.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The model bytes are not a protobuf `ModelProto`.
    #[error("model does not decode: {0}")]
    Decode(String),
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
    /// What the executor's checks reject, and the limits and structural errors shared with them.
    #[error(transparent)]
    Quant(#[from] QuantError),
}

/// The crate's result.
pub type Result<T, E = QuantizeError> = std::result::Result<T, E>;

/// Imports ONNX `model_bytes`, calibrates on `calibration_inputs` (one flat f32 sample each) and
/// quantizes.
pub fn quantize(model_bytes: &[u8], calibration_inputs: &[Vec<f32>]) -> Result<QuantizedModel> {
    calibrate::quantize_model(&import(model_bytes)?, calibration_inputs)
}
