//! The node's errors: one enum whose variants keep the errors of the domains below them (the
//! hub, the runtime, the store, the chain, peers, the enclave, language models) as their
//! sources, and say whether an operation that failed with them is worth trying again.

use veritas_hub::HubError;
use veritas_primitives::{Address, B256, ClaimDomain};
use veritas_runtime::RuntimeError;

use crate::{ConfigError, EnclaveError, KeyError, PeerError, StoreError, protocol::Refusal};

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
        "insufficient funds: account {account} has {balance} in escrow that this gateway may charge (its escrow, capped by its allowance for the gateway), {committed} of it committed to unsettled requests, and the price is {price} (amounts in the token's smallest unit)"
    )]
    InsufficientFunds {
        /// The paying account.
        account: Address,
        /// Its escrow balance on chain.
        balance: alloy_primitives::U256,
        /// What its unsettled requests will take.
        committed: alloy_primitives::U256,
        /// The price of this request.
        price: alloy_primitives::U256,
    },
    /// A model's prices put the request past 2^256 token units: refused, never wrapped.
    #[error("the price of model {model} for {tokens} tokens does not fit 256 bits; its listed prices are absurd")]
    PriceOverflow {
        /// The model.
        model: veritas_primitives::ModelId,
        /// The most tokens the request may produce.
        tokens: u64,
    },
    /// The request names no paying account and the node has no default payer.
    #[error(
        "payment required: this node needs an API key (Authorization: Bearer …) or a request signed by the paying account (X-Veritas-Account, X-Veritas-Timestamp, X-Veritas-Nonce, X-Veritas-Signature)"
    )]
    PaymentRequired,
    /// The node settles nowhere.
    #[error("this node runs without a chain (started with --no-chain)")]
    NoChain,
    /// An API key the node does not know.
    #[error("unknown API key")]
    UnknownApiKey,
    /// A node key that the node registry does not list.
    #[error(
        "the {role} key {signer} is not registered in the node registry at {registry}: run `veritas node register {command}`"
    )]
    NotRegistered {
        /// The key's address.
        signer: Address,
        /// Its role.
        role: &'static str,
        /// The options of `veritas node register` that register it.
        command: &'static str,
        /// The registry.
        registry: Address,
    },
    /// A claim made for another network (chain or settlement contract).
    #[error(
        "the claim belongs to another network: signed for chain {} and contract {}, this network is chain {} and contract {}",
        claim.chain_id, claim.verifying_contract, ours.chain_id, ours.verifying_contract
    )]
    ForeignClaim {
        /// The domain the claim was signed in.
        claim: ClaimDomain,
        /// This network's.
        ours: ClaimDomain,
    },
    /// A chat request to a sentence-embedding model.
    #[error("{0} is a sentence-embedding model, not a language model: use /v1/embeddings")]
    EmbeddingModel(String),
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
    UnknownReceipt(B256),
    /// The store failed; nothing was acknowledged.
    #[error("claim log: {0}")]
    Store(#[from] StoreError),
    /// The node's key could not be loaded or created.
    #[error("worker key: {0}")]
    Key(#[from] KeyError),
    /// Signing failed.
    #[error(transparent)]
    Primitive(#[from] veritas_primitives::PrimitiveError),
    /// The chain failed.
    #[error("chain: {0}")]
    Chain(#[from] veritas_chain::ChainError),
    /// A language model or a request to it.
    #[error(transparent)]
    Llm(#[from] veritas_llm::LlmError),
    /// This node was built without language models (the `llm` feature).
    #[error("this node was built without language models (llama.cpp): build it with the `llm` feature")]
    NoLanguageModels,
    /// A local file operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// A peer (inference node, validator, hub) could not be reached, answered with an error or
    /// refused the request itself.
    #[error("peer: {0}")]
    Peer(#[from] PeerError),
    /// No registered inference node could take the request: each one's failure.
    #[error("no inference node serves this network now: {}", describe_failures(.0))]
    NoWorkers(Vec<(Address, String)>),
    /// A gateway's work asked of a node that runs no gateway.
    #[error("this node is not a gateway")]
    NotAGateway,
    /// An inference node's work asked of a node that runs no worker.
    #[error("this node is not an inference node")]
    NotAWorker,
    /// A validator's work was asked of a node that is not one.
    #[error("this node is not a validator")]
    NotAValidator,
    /// A verdict asked with another check than the claim calls for: the check follows from the
    /// claim's mode (and, for `reexec`, its digest), never from the caller. Nothing was signed.
    #[error("bad request: this {mode} claim is checked {derived}, not {asked}: the check follows from the claim")]
    OtherCheck {
        /// The claim's mode.
        mode: veritas_primitives::Mode,
        /// The check its mode and digest call for.
        derived: veritas_wire::CheckMode,
        /// The check asked for.
        asked: veritas_wire::CheckMode,
    },
    /// A receipt whose own parts do not hold (its signature, the data its claim hashes, its
    /// evidence): nothing can be said of the claim from it, so nothing was signed. A verdict is
    /// only ever about the claim, never about how a copy of it was presented.
    #[error("refused: no verdict: the receipt does not hold: {0}")]
    Unjudgeable(String),
    /// A validator refused to sign a batch (a claim without a quorum behind it, …).
    #[error("refused: {0}")]
    BatchRefused(String),
    /// A contract's on-chain request that will never be served, and why.
    #[error("refused: request {request}: {reason}")]
    RequestRefused {
        /// The on-chain request id.
        request: u64,
        /// Why.
        reason: String,
    },
    /// A worker's answer does not match what it was asked.
    #[error("the worker's answer does not hold: worker {worker}: {refusal}")]
    BadWork {
        /// The worker asked.
        worker: Address,
        /// What does not hold.
        refusal: Refusal,
    },
    /// A hub sent model bytes that hash to another model id.
    #[error("the worker's answer does not hold: the hub at {hub} sent model bytes that hash to {got}, not {expected}")]
    HubMismatch {
        /// The hub asked.
        hub: String,
        /// The model id of the bytes it sent.
        got: veritas_primitives::ModelId,
        /// The model id asked for.
        expected: veritas_primitives::ModelId,
    },
    /// The client went away.
    #[error("the request was cancelled")]
    Cancelled,
    /// A `tee` request's nonce that is not hex of at most 64 bytes.
    #[error("bad request: nonce: {0}")]
    BadNonce(String),
    /// A confidential request that cannot be served; the reason never quotes the plaintext.
    #[error("bad request: confidential request: {0}")]
    Confidential(String),
    /// A quantized model that cannot be used, or an input it cannot take.
    #[error("bad request: quantized model: {0}")]
    BadQuantized(String),
    /// The node's enclave failed to attest.
    #[error("tee: {0}")]
    Tee(#[from] EnclaveError),
    /// The node's configuration cannot work.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),
    /// Too few validators signed a batch.
    #[error(
        "peer: the batch is signed by {signers} validators holding {stake} of {total} stake; more than 2/3 is \
         needed; the others: {refusals}"
    )]
    NoBatchQuorum {
        /// How many signed.
        signers: usize,
        /// Their stake.
        stake: alloy_primitives::U256,
        /// All validators' stake.
        total: alloy_primitives::U256,
        /// Why each of the others gave no signature.
        refusals: String,
    },
    /// A settlement transaction was mined and reverted; its receipts stay queued.
    #[error("internal: settlement transaction {0} reverted")]
    SettlementReverted(B256),
    /// A deliberate lie cannot be told (byzantine test faults).
    #[error("internal: test fault {0}")]
    Fault(String),
    /// The node is shutting down.
    #[error("internal: the node is shutting down")]
    ShuttingDown,
    /// Too much of one kind of work is waiting already: try again shortly.
    #[error("overloaded: {waiting} {what} requests are waiting already; try again shortly")]
    Overloaded {
        /// The kind of work.
        what: &'static str,
        /// How many may wait.
        waiting: usize,
    },
    /// A background task died.
    #[error("internal: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Result alias of the node.
pub type NodeResult<T> = Result<T, NodeError>;

fn describe_failures(failures: &[(Address, String)]) -> String {
    if failures.is_empty() {
        return "the registry lists no staked inference node with an endpoint".into();
    }
    failures.iter().map(|(worker, why)| format!("{worker}: {why}")).collect::<Vec<_>>().join("; ")
}

impl NodeError {
    /// Whether the operation that failed may succeed if tried again as it is: a peer or the
    /// chain could not be reached or failed, no worker answered, the disk failed. A refusal
    /// (bad input, a peer refusing the request itself, a lie caught, a cancelled request) is
    /// not.
    pub fn retryable(&self) -> bool {
        match self {
            NodeError::Peer(err) => !err.rejected(),
            NodeError::NoWorkers(_) | NodeError::NoBatchQuorum { .. } | NodeError::Chain(_) | NodeError::NoChain => {
                true
            }
            NodeError::Io(_) | NodeError::Store(_) | NodeError::Join(_) | NodeError::Overloaded { .. } => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PeerError;

    #[test]
    fn what_may_pass_is_retried_and_what_was_refused_is_not() {
        let status = |code: u16| {
            NodeError::Peer(PeerError::Status {
                url: "http://w".into(),
                status: reqwest::StatusCode::from_u16(code).unwrap(),
                message: String::new(),
            })
        };
        let io = || NodeError::Io(std::io::Error::other("disk"));
        let cases: Vec<(NodeError, bool)> = vec![
            (status(500), true),
            (status(503), true),
            (status(400), false),
            (status(422), false),
            (NodeError::Peer(PeerError::TooLarge { url: "http://w".into() }), true),
            (NodeError::NoWorkers(Vec::new()), true),
            (NodeError::Chain(veritas_chain::ChainError::Rpc("down".into())), true),
            (NodeError::NoChain, true),
            (io(), true),
            (NodeError::Cancelled, false),
            (NodeError::PaymentRequired, false),
            (NodeError::UnknownApiKey, false),
            (NodeError::BatchRefused("no quorum".into()), false),
            (NodeError::RequestRefused { request: 1, reason: "late".into() }, false),
            (NodeError::BadNonce("not hex".into()), false),
        ];
        for (err, retryable) in cases {
            assert_eq!(err.retryable(), retryable, "{err}");
        }
    }
}
