//! veritas node: the daemon as a library. It holds the worker's identity, the model hub, the
//! runtime and the claim log, and serves inference: every result is signed as a claim and written
//! to the log before it is returned.

mod chat;
mod claim_log;
mod config;
pub mod devnet;
mod enclave;
mod error;
mod explorer;
mod faults;
mod gateway;
mod identity;
mod infer;
mod metrics;
mod models;
mod network;
mod node;
mod payment;
mod peers;
mod quorum;
mod requests;
mod settle;
mod validate;
mod zk;

pub use chat::{ChatInput, ChatRequest, ChatResponse, ENGINE, completion_id};
pub use claim_log::{Activity, Charge, ClaimLog, Entry, InflightBatch, Judged, Origin, Queued, Served, Timing};
pub use config::{ChainConfig, Fault, NodeConfig, NodeRole};
pub use enclave::{SIMULATED_WARNING, TeeBackend, parse_nonce, simulated_measurement};
pub use error::{NodeError, NodeResult};
pub use explorer::{ClaimSummary, Figures, Minute, NodeSummary};
pub use identity::load_or_create_key;
pub use infer::{InferRequest, InferResponse};
pub use network::{Member, Registry, sampled};
pub use node::{Node, PushRequest};
pub use peers::{BatchSignature, WorkChat, WorkChatDone, WorkChatEvent};
pub use settle::{MAX_BATCH, SettledBatch};
pub use validate::{CheckMode, Judgement};
/// The chain layer, for the API's JSON-RPC endpoint.
pub use veritas_chain as chain;
pub use veritas_hub::{
    HubError, Manifest, ModelFormat, ModelVersion, PushOutcome, StoreLocation, Tolerance, validate_name,
    validate_tolerance,
};
pub use veritas_llm::{self as llm, LlmError};
pub use veritas_primitives::batch::{BatchToSign, ClaimVerdicts};
pub use veritas_runtime::{RuntimeError, parse_inputs};
pub use veritas_verifier::tee::Policy as TeePolicy;
