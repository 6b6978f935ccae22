//! The error type of the runtime.

/// What went wrong running a model.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// ONNX Runtime could not be loaded.
    #[error("cannot load ONNX Runtime from {path}: {reason}")]
    Library {
        /// The library path tried.
        path: String,
        /// Why it failed.
        reason: String,
    },
    /// The bytes are not a model ONNX Runtime can load.
    #[error("not a loadable ONNX model: {0}")]
    InvalidModel(String),
    /// The request's inputs do not fit the model.
    #[error("{0}")]
    Input(String),
    /// ONNX Runtime failed while running.
    #[error("inference failed: {0}")]
    Inference(String),
    /// The model's session is not loaded (never, or dropped as least recently used): load it
    /// and run again.
    #[error("model {0} is not loaded")]
    NotLoaded(veritas_primitives::ModelId),
    /// The model produced an output this runtime cannot represent.
    #[error("unsupported output {name:?}: {reason}")]
    UnsupportedOutput {
        /// The output's name.
        name: String,
        /// What is unsupported.
        reason: String,
    },
}

/// Result alias of the runtime.
pub type RuntimeResult<T> = Result<T, RuntimeError>;
