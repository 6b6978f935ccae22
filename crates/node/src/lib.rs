//! veritas node: the daemon as a library. A node is a [`core::Core`] (its key, chain, model hub,
//! engines, store, peers client and metrics) and the services of its role: a [`Gateway`] serves
//! clients (admission, payment, dispatch, verdict collection, settlement, contracts'
//! requests), a [`Worker`] runs models and signs claims, a [`Validator`] judges claims and signs
//! verdicts and batches; a standalone node runs all three. [`Node::open`] assembles them and
//! [`launch`] starts their background rounds in one [`NodeHandle`]. The protocol's decisions are
//! pure functions in [`protocol`]; the store's domains are typed accessors in [`store`].

mod claims;
mod config;
pub mod core;
pub mod devnet;
mod error;
mod explorer;
pub mod gateway;
mod identity;
mod launch;
mod metrics;
mod network;
mod peers;
pub mod protocol;
pub mod store;
pub mod validator;
pub mod worker;

pub use crate::core::models::PushRequest;
pub use config::{ChainConfig, ConfigError, Fault, Intervals, NodeConfig, NodeRole, Services};
pub use error::{NodeError, NodeResult};
pub use explorer::{ClaimSummary, Explorer, Figures, Minute, NodeSummary};
pub use gateway::{ChatRequest, Gateway, MAX_BATCH, SettledBatch};
pub use identity::{KeyError, load_or_create_key};
pub use launch::{Node, NodeHandle, Stopping, launch};
pub use network::read_registry;
pub use peers::{Forwarded, PeerError, Upstream};
pub use store::StoreError;
pub use validator::Validator;
pub use worker::{
    ChatResponse, ENGINE, EnclaveError, SIMULATED_WARNING, TeeBackend, Worker, completion_id, parse_nonce,
    simulated_measurement,
};

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
/// The HTTP API's bodies.
pub use veritas_wire as wire;
