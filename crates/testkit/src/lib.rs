//! veritas testkit: what the integration tests share to start what they test. [`node`] opens
//! nodes in the test's own process (with the example models, serving their API on 127.0.0.1);
//! [`network`] starts `veritas up`, a local network of processes, and drives it through the CLI
//! and HTTP. Real parts only: ONNX Runtime and the default language model as `cargo xtask test`
//! fetches them, the embedded chain, real sockets.

pub mod network;
pub mod node;

use std::path::PathBuf;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The example models.
pub fn examples() -> PathBuf {
    root().join("examples/models")
}

/// ONNX Runtime, as `cargo xtask test` fetches it.
pub fn ort() -> PathBuf {
    std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH; `cargo xtask test` sets it").into()
}

/// The default language model, as `cargo xtask test` fetches it.
pub fn gguf() -> PathBuf {
    std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF; `cargo xtask test` fetches the model").into()
}

/// The example sentence-embedding model (all-MiniLM-L6-v2 as a GGUF), as `cargo xtask test`
/// fetches and converts it.
pub fn embedding_gguf() -> PathBuf {
    std::env::var("VERITAS_TEST_EMBEDDING_GGUF")
        .expect("VERITAS_TEST_EMBEDDING_GGUF; `cargo xtask test` fetches the embedding model")
        .into()
}
