//! The gateway: the service that serves clients. It admits and charges requests, has a worker
//! run them (its own, on a standalone node, or a registered inference node, whose answer it
//! checks before logging it), collects validators' verdicts and settles what a quorum judged
//! valid (`quorum`, `settle`), and serves contracts' on-chain requests (`requests`).

mod dispatch;
mod payment;
mod quorum;
mod requests;
mod settle;

use std::{ops::ControlFlow, sync::Arc, time::Instant};

use veritas_hub::ModelFormat;
use veritas_llm::SamplingParams;
use veritas_primitives::{Address, Mode, WorkerKey};
use veritas_wire::{ChatInput, InferRequest, InferResponse};

pub(crate) use quorum::PARALLEL_ROUNDS;
pub use settle::{MAX_BATCH, SettledBatch, dev_fee_per_claim};

use crate::{
    NodeError, NodeResult,
    claims::Queue,
    core::Core,
    protocol::check_zk_format,
    store::Served,
    validator::Validator,
    worker::{ChatJob, ChatResponse, Job, Worker},
};

/// A request to a language model, as a client asks it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    /// The model: `name`, `name@version` or a model id.
    pub model: String,
    /// The conversation or prompt.
    pub input: ChatInput,
    /// Sampling.
    pub sampling: SamplingParams,
    /// Whether to record each token's log-probability.
    pub logprobs: bool,
    /// The verification mode; the network's default if `None`.
    pub mode: Option<Mode>,
    /// A `tee` request's nonce (hex, at most 64 bytes), bound into the attestation.
    pub nonce: Option<String>,
    /// How many of the most likely alternatives to return at each position (0 to 20).
    pub top_logprobs: u8,
    /// Tools and structured output.
    pub constraint: veritas_llm::Constraint,
}

/// Where a gateway's work and verdicts come from.
pub(crate) enum Backends {
    /// This process's own worker and (with a chain) validator: a standalone node.
    Local { worker: Arc<Worker>, validator: Option<Arc<Validator>> },
    /// The inference nodes and validators the registry lists, over HTTP.
    Network,
}

/// A gateway's service.
pub struct Gateway {
    core: Arc<Core>,
    backends: Backends,
    /// Signs and pays for settlement transactions: batches, disputes, deliveries.
    sender: Arc<WorkerKey>,
    payments: payment::Payments,
    verification: quorum::Verification,
    /// Which worker the next request goes to first (round robin).
    next_worker: std::sync::atomic::AtomicUsize,
    /// How often its rounds run, and how long a contract's request is retried.
    intervals: crate::Intervals,
    /// Claims awaiting verdicts past which new requests are refused (503).
    max_backlog: u64,
}

impl Gateway {
    pub(crate) fn new(
        core: Arc<Core>,
        backends: Backends,
        sender: Arc<WorkerKey>,
        config: &crate::NodeConfig,
    ) -> Gateway {
        Gateway {
            core,
            backends,
            sender,
            intervals: config.intervals,
            max_backlog: config.max_backlog,
            payments: Default::default(),
            verification: Default::default(),
            next_worker: Default::default(),
        }
    }

    /// The gateway's address: the key that signs its settlement transactions and its calls to
    /// other nodes, that payers allow to charge them, and that signed requests name.
    pub fn address(&self) -> Address {
        self.sender.address()
    }

    /// A call to the node registered as `to`, signed by this gateway.
    pub(crate) fn caller(&self, to: Address) -> crate::peers::Caller<'_> {
        crate::peers::Caller { key: &self.sender, domain: self.core.domain, to }
    }

    /// Whether this gateway settles on a chain (and so collects verdicts and serves contracts).
    pub fn settles(&self) -> bool {
        self.core.chain.is_some()
    }

    /// Runs a model for a client, charged to `account` (the network's default payer when
    /// `None`): the request is checked, the payer's escrow must cover it, a worker runs it and
    /// the receipt is logged, queued for verdicts and settlement, before it is returned.
    pub async fn infer(&self, request: InferRequest, account: Option<Address>) -> NodeResult<InferResponse> {
        let started = Instant::now();
        let model = request.model.clone();
        let result = async {
            self.check_backlog()?;
            let job = self.core.admit_infer(&request).await?;
            let (bill, _reservation) = self.reserve(&job.model.id, account, 0).await?;
            self.run(job, request.input, Queue::Paid(bill)).await
        }
        .await;
        self.core.metrics.observe_inference(&model, started, result.is_ok());
        result
    }

    /// Refuses new work while the claims awaiting verdicts are past the bound: the backlog
    /// (and the time until a receipt is verified and settled) stays bounded under any load, and
    /// clients are told to come back (503, `Retry-After`).
    fn check_backlog(&self) -> NodeResult<()> {
        if !self.settles() {
            return Ok(());
        }
        let awaiting = self.core.store.settlement().awaiting_count()?;
        if awaiting >= self.max_backlog {
            return Err(NodeError::Overloaded {
                what: "verification",
                waiting: usize::try_from(awaiting).unwrap_or(usize::MAX),
            });
        }
        Ok(())
    }

    /// Has a worker run a checked request (`input`: its inputs as the client sent them) and
    /// logs the receipt as `queue` says.
    pub(crate) async fn run(&self, job: Job, input: serde_json::Value, queue: Queue) -> NodeResult<InferResponse> {
        match &self.backends {
            Backends::Local { worker, .. } => worker.run(job, queue).await,
            Backends::Network => self.dispatch_infer(job, input, queue).await,
        }
    }

    /// Runs a chat or completion request for a client, charged to `account`: `on_text` gets
    /// each piece of final text as it is generated (returning `Break` cancels: a client that
    /// went away); the receipt covers what was generated and is logged before this returns.
    pub async fn chat(
        &self,
        request: ChatRequest,
        account: Option<Address>,
        on_text: impl FnMut(&str) -> ControlFlow<()> + Send + 'static,
    ) -> NodeResult<ChatResponse> {
        self.check_backlog()?;
        request.sampling.validate()?;
        request.constraint.validate()?;
        // A schema llama.cpp cannot turn into a grammar is the client's error, found here
        // rather than as every remote worker's refusal (this node's own worker says it itself).
        #[cfg(feature = "llm")]
        if matches!(self.backends, Backends::Network) && !request.constraint.is_empty() {
            let constraint = request.constraint.clone();
            tokio::task::spawn_blocking(move || constraint.grammar()).await??;
        }
        let sealed = matches!(request.input, ChatInput::Sealed(_));
        if sealed && (request.top_logprobs > 0 || !request.constraint.is_empty()) {
            return Err(NodeError::Confidential(
                "tools, response_format and top_logprobs are not offered on a confidential request".into(),
            ));
        }
        // A confidential request is a tee request.
        let mode = self.core.offer.mode(request.mode.or(sealed.then_some(Mode::Tee)))?;
        if sealed && mode != Mode::Tee {
            return Err(NodeError::Confidential(format!("a confidential request is a tee request, not {mode}")));
        }
        let version = self.core.resolve_model(&request.model).await?;
        if version.manifest.format != ModelFormat::Gguf {
            return Err(NodeError::NotAnLlm { model: request.model, format: version.manifest.format });
        }
        if version.manifest.is_embedding() {
            return Err(NodeError::EmbeddingModel(request.model));
        }
        check_zk_format(mode, &version)?;
        let max_tokens = u64::from(request.sampling.max_tokens);
        let (bill, _reservation) = self.reserve(&version.id, account, max_tokens).await?;
        let job = ChatJob {
            input: request.input,
            sampling: request.sampling,
            logprobs: request.logprobs,
            mode,
            nonce: request.nonce,
            top_logprobs: request.top_logprobs,
            constraint: request.constraint,
        };
        match &self.backends {
            Backends::Local { worker, .. } => worker.chat(version, job, Queue::Paid(bill), on_text).await,
            Backends::Network => self.dispatch_chat(version, job, bill, on_text).await,
        }
    }

    /// What this gateway did with contract request `id`: served (by which receipt) or refused.
    pub fn contract_request(&self, id: u64) -> NodeResult<Option<Served>> {
        Ok(self.core.store.requests().served(id)?)
    }

    /// The node registry, read at most once a second.
    pub async fn registry(&self) -> NodeResult<veritas_wire::Registry> {
        self.core.chain_or_err()?.registry().await
    }

    /// The chain, for sending this gateway's transactions.
    fn link(&self) -> NodeResult<&crate::core::ChainLink> {
        self.core.chain_or_err()
    }
}
