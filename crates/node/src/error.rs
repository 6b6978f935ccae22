//! The error type of the node.

use veritas_hub::HubError;
use veritas_runtime::RuntimeError;

/// What went wrong serving a request.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The hub failed or refused.
    #[error(transparent)]
    Hub(#[from] HubError),
    /// The runtime failed or refused.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// A mode this node cannot serve.
    #[error("mode {mode} is not available on this node; it serves: {available}")]
    UnsupportedMode {
        /// The mode asked for.
        mode: veritas_primitives::Mode,
        /// The modes it serves.
        available: &'static str,
    },
    /// A mode the model cannot be served in (`zk` needs a quantized model).
    #[error("mode {mode} is not available for {model}: {reason}")]
    ModeForModel {
        /// The mode asked for.
        mode: veritas_primitives::Mode,
        /// The model, by name and id.
        model: String,
        /// Why, and what to do.
        reason: String,
    },
    /// A model format this node cannot run.
    #[error("model {model} is {format:?}, which this node cannot run")]
    UnsupportedFormat {
        /// The model reference.
        model: String,
        /// Its format.
        format: veritas_hub::ModelFormat,
    },
    /// The paying account cannot cover the price; nothing was run.
    #[error(
        "insufficient funds: account {account} has {balance} in escrow, {committed} of it committed to unsettled requests, and the price is {price} (amounts in the token's smallest unit)"
    )]
    InsufficientFunds {
        /// The paying account.
        account: veritas_primitives::Address,
        /// Its escrow balance on chain.
        balance: alloy_primitives::U256,
        /// What its unsettled requests will take.
        committed: alloy_primitives::U256,
        /// The price of this request.
        price: alloy_primitives::U256,
    },
    /// The request names no paying account and the node has no default payer.
    #[error(
        "payment required: this node needs an API key (Authorization: Bearer …) or a request signed by the paying account (X-Veritas-Account, X-Veritas-Timestamp, X-Veritas-Signature)"
    )]
    PaymentRequired,
    /// The node settles nowhere.
    #[error("this node runs without a chain (started with --no-chain)")]
    NoChain,
    /// An API key the node does not know.
    #[error("unknown API key")]
    UnknownApiKey,
    /// A request signature that does not hold.
    #[error("bad request signature: {0}")]
    BadSignature(String),
    /// A node key that the node registry does not list.
    #[error(
        "the {role} key {signer} is not registered in the node registry at {registry}: run `veritas node register --role {role}`"
    )]
    NotRegistered {
        /// The key's address.
        signer: veritas_primitives::Address,
        /// Its role.
        role: &'static str,
        /// The registry.
        registry: veritas_primitives::Address,
    },
    /// A claim made for another network (chain or settlement contract).
    #[error("the claim belongs to another network: {0}")]
    ForeignClaim(String),
    /// A chat request to a model that is not a language model.
    #[error("{model} is a {format:?} model, not a language model (GGUF): use /v1/infer")]
    NotAnLlm {
        /// The model as named.
        model: String,
        /// Its format.
        format: veritas_hub::ModelFormat,
    },
    /// No receipt with that id.
    #[error("unknown receipt {0}")]
    UnknownReceipt(String),
    /// The claim log failed; nothing was acknowledged.
    #[error("claim log: {0}")]
    ClaimLog(String),
    /// The worker key could not be loaded or created.
    #[error("worker key: {0}")]
    Key(String),
    /// Signing failed.
    #[error(transparent)]
    Primitive(#[from] veritas_primitives::PrimitiveError),
    /// The chain failed.
    #[error("chain: {0}")]
    Chain(#[from] veritas_chain::ChainError),
    /// A language model or a request to it.
    #[error(transparent)]
    Llm(#[from] veritas_llm::LlmError),
    /// A local file operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A peer (inference node, validator, hub) could not be reached or answered with an error.
    #[error("peer: {0}")]
    Peer(String),
    /// A peer refused the request itself (400 or 422): it would be refused anywhere.
    #[error("peer: {0}")]
    PeerRejected(String),
    /// No registered inference node could take the request.
    #[error("no inference node serves this network now: {0}")]
    NoWorkers(String),
    /// A validator's work was asked of a node that is not one.
    #[error("this node is not a validator")]
    NotAValidator,
    /// A validator refused to sign (a batch without a quorum behind every claim, …).
    #[error("refused: {0}")]
    Refused(String),
    /// A worker's answer does not match what it was asked, or a hub sent other bytes.
    #[error("the worker's answer does not hold: {0}")]
    BadWork(String),
    /// The client went away.
    #[error("the request was cancelled")]
    Cancelled,
    /// A request the node cannot take as it stands (a malformed nonce, …).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The node's enclave failed to attest.
    #[error("tee: {0}")]
    Tee(String),
    /// The node's configuration cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// A background task died.
    #[error("internal: {0}")]
    Internal(String),
}

/// Result alias of the node.
pub type NodeResult<T> = Result<T, NodeError>;

macro_rules! log_errors {
    ($($ty:ty),*) => {$(
        impl From<$ty> for NodeError {
            fn from(err: $ty) -> NodeError {
                NodeError::ClaimLog(err.to_string())
            }
        }
    )*};
}
log_errors!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

impl From<tokio::task::JoinError> for NodeError {
    fn from(err: tokio::task::JoinError) -> NodeError {
        NodeError::Internal(err.to_string())
    }
}
