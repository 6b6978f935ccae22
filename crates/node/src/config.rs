//! The node's configuration.

use std::path::PathBuf;

use veritas_chain::genesis::Contracts;
use veritas_hub::HubConfig;
use veritas_primitives::ClaimDomain;

/// Where a node settles.
#[derive(Clone, Debug, Default)]
pub enum ChainConfig {
    /// Nowhere: receipts are signed in the configured domain and stay queued.
    #[default]
    None,
    /// The embedded development chain (state in `home/chain.redb`), with its funded
    /// development accounts; development account 1 pays requests that name no account.
    Embedded {
        /// Mine a block every this often; each transaction at once when `None`.
        block_time: Option<std::time::Duration>,
    },
    /// Any EVM chain over JSON-RPC, where the contracts were deployed (`veritas chain deploy`)
    /// and the node's worker and validator keys registered (`veritas node register`).
    Rpc {
        /// The JSON-RPC endpoint.
        url: String,
        /// Where the contracts are.
        contracts: Contracts,
        /// Blocks a settlement must be under before its receipts say so (1: mined).
        confirmations: u64,
    },
}

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
    /// llama.cpp threads per generation; all cores if `None`.
    pub llm_threads: Option<usize>,
    /// Generations under way at once (each holds a context and its KV cache); further chat
    /// requests queue. They take turns decoding, a token at a time, so that all advance; only
    /// as many decodes run at once as the cores hold at `llm_threads` each (llama.cpp's threads
    /// spin: more slows every generation down many times over). `None`: 4.
    pub max_generations: Option<usize>,
    /// The worker key as hex, overriding the key file (from `VERITAS_WORKER_KEY`).
    pub key_hex: Option<String>,
    /// Where results settle.
    pub chain: ChainConfig,
    /// The price of one request of a model the model registry does not list, in the token's
    /// smallest unit; 0.001 token if `None`.
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
            llm_threads: None,
            max_generations: None,
            key_hex: None,
            chain: ChainConfig::None,
            fee_per_request: None,
        }
    }
}
