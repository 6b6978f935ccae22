//! veritas runtime: runs ONNX models through ONNX Runtime (the `ort` crate, loading
//! `libonnxruntime` at run time).
//!
//! Requests arrive as JSON; [`parse_inputs`] checks them against the model's schema and
//! [`OnnxRuntime::run`] executes them on a cached session.

mod error;
mod inputs;
mod onnx;

pub use error::{RuntimeError, RuntimeResult};
pub use inputs::parse_inputs;
pub use onnx::{Inspection, OnnxRuntime, init_onnxruntime, inspect_onnx};
