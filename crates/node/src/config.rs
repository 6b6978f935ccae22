//! The node's configuration.

use std::path::PathBuf;

use veritas_hub::HubConfig;
use veritas_primitives::ClaimDomain;

/// How to start a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The data directory: key, hub, claim log.
    pub home: PathBuf,
    /// The model hub.
    pub hub: HubConfig,
    /// The ONNX Runtime shared library.
    pub onnxruntime: PathBuf,
    /// The EIP-712 domain claims are signed in.
    pub domain: ClaimDomain,
    /// Intra-op threads per ONNX session; ONNX Runtime's default if `None`.
    pub threads: Option<usize>,
    /// The worker key as hex, overriding the key file (from `VERITAS_WORKER_KEY`).
    pub key_hex: Option<String>,
    /// Run the embedded development chain (state in `home/chain.redb`); claims are then signed
    /// in its settlement contract's domain.
    pub embedded_chain: bool,
    /// The price of one request on the embedded chain, in the token's smallest unit; 0.001
    /// token if `None`.
    pub fee_per_request: Option<alloy_primitives::U256>,
}

impl NodeConfig {
    /// A configuration with everything under `home`.
    pub fn new(home: PathBuf, onnxruntime: PathBuf) -> NodeConfig {
        NodeConfig {
            hub: HubConfig::local(home.join("hub")),
            home,
            onnxruntime,
            domain: ClaimDomain::dev(),
            threads: None,
            key_hex: None,
            embedded_chain: false,
            fee_per_request: None,
        }
    }
}
