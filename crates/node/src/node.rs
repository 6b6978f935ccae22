//! The node: its state and start (per role and chain), inference, signing and logging claims.
//! Payments are in `payment`, models in `models`, chat in `chat`, a gateway's dispatch in
//! `gateway`, verdicts in `validate` and `quorum`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::U256;
use veritas_chain::{
    AnyChain, Chain, Confirmations, RpcChain, contracts::NodeRegistry, embedded::SharedChain, genesis::Contracts,
};

use serde::{Deserialize, Serialize};
use veritas_hub::{Hub, ModelFormat, ModelStore, ModelVersion, Staged};
use veritas_primitives::{
    Address, B256, Claim, ClaimDomain, Mode, ModelId, Params, Receipt, ReceiptBody, Values, WorkerKey,
    values::values_hash,
};
use veritas_runtime::{OnnxRuntime, init_onnxruntime, parse_inputs};

use crate::{
    ChainConfig, Charge, ClaimLog, NodeConfig, NodeError, NodeResult, identity::load_or_create_key, metrics::Metrics,
};

/// A request to run a model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    /// The model: `name`, `name@version` or a model id.
    pub model: String,
    /// Named inputs: nested arrays typed by the model's schema, or `{"dtype","shape","data"}`.
    pub input: serde_json::Value,
    /// The verification mode; the node's default (`signed`, or what it was started with) if
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// The request id the claim carries; a fresh one if absent. A contract's request is
    /// answered with its on-chain id, which `fulfill` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<B256>,
    /// A `tee` request's nonce (hex, at most 64 bytes), bound into the attestation with the
    /// claim so that the client knows the evidence was made for its request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The answer to an inference request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InferResponse {
    /// The receipt's id.
    pub receipt_id: B256,
    /// The model that ran.
    pub model: ModelVersion,
    /// The outputs.
    pub output: Values,
    /// The receipt, with the inputs, outputs and manifest it covers.
    pub receipt: Receipt,
}

/// What to push.
pub struct PushRequest {
    /// The repository name.
    pub name: String,
    /// The uploaded bytes.
    pub staged: Staged,
    /// The declared format.
    pub format: ModelFormat,
}

/// A running node.
pub struct Node {
    pub(crate) key: Arc<WorkerKey>,
    pub(crate) domain: ClaimDomain,
    pub(crate) settlement: Option<Arc<Settlement>>,
    pub(crate) hub: Arc<dyn ModelStore>,
    runtime: Arc<OnnxRuntime>,
    /// Quantized models' proving keys.
    pub(crate) proving_keys: crate::zk::ProvingKeys,
    pub(crate) claims: Arc<ClaimLog>,
    pub(crate) metrics: Metrics,
    /// The data directory.
    pub(crate) home: std::path::PathBuf,
    /// llama.cpp threads per generation.
    pub(crate) llm_threads: usize,
    /// Loaded language models.
    pub(crate) llms: std::sync::Mutex<HashMap<ModelId, Arc<veritas_llm::LlmModel>>>,
    /// Held while a language model loads.
    pub(crate) llm_loading: tokio::sync::Mutex<()>,
    /// Generations that may run at once; the others wait their turn, in order, so that memory
    /// (a context and its KV cache each) stays bounded however many requests arrive.
    pub(crate) generations: tokio::sync::Semaphore,
    /// Decodes that may run at once: as many as the cores hold at `llm_threads` each.
    pub(crate) decode_slots: Arc<veritas_llm::DecodeSlots>,
    /// Digests of signed requests already served, with their times, to refuse replays.
    pub(crate) seen_signatures: std::sync::Mutex<HashMap<B256, u64>>,
    /// What this node does in the network.
    pub(crate) role: crate::NodeRole,
    /// The key verdicts and batch signatures are made with (standalone: `validator.key`;
    /// validators: the node key); none on gateways and inference nodes.
    pub(crate) validator: Option<Arc<WorkerKey>>,
    /// The HTTP client for peers.
    pub(crate) peers: crate::peers::Peers,
    /// Where missing models are fetched from.
    pub(crate) hub_url: Option<String>,
    /// The share of `reexec` claims this validator re-executes.
    pub(crate) reexec_sampling: f64,
    /// The mode of requests that name none.
    pub(crate) default_mode: Mode,
    /// A deliberate lie, for byzantine tests.
    pub(crate) fault: Option<crate::Fault>,
    /// The registry as last read, with when.
    pub(crate) registry_cache: tokio::sync::Mutex<Option<(crate::network::Registry, Instant)>>,
    /// Verification state of claims awaiting a quorum (gateway, standalone).
    pub(crate) verification: crate::quorum::Verification,
    /// Held while a model is fetched from the hub at `hub_url`.
    pub(crate) fetching: tokio::sync::Mutex<()>,
    /// Which worker the next request goes to first (round robin).
    pub(crate) next_worker: std::sync::atomic::AtomicUsize,
    /// When the node started.
    pub(crate) started: Instant,
    /// Slashes and disputes read from the chain, for the explorer.
    pub(crate) chain_events: tokio::sync::Mutex<crate::explorer::ChainEvents>,
    /// The enclave `tee` claims come from (`--tee`); a gateway only offers the mode.
    pub(crate) tee: Option<crate::TeeBackend>,
    /// The enclave this node attests with (standalone and inference nodes with `--tee`).
    pub(crate) enclave: Option<crate::enclave::Enclave>,
    /// The enclaves accepted in `tee` claims.
    pub(crate) tee_policy: Arc<veritas_verifier::tee::Policy>,
}

/// Where and how the node settles, and who pays by default.
pub(crate) struct Settlement {
    pub(crate) batcher: crate::settle::Batcher,
    /// The embedded chain, when the node runs it.
    pub(crate) embedded: Option<SharedChain>,
    /// Pays requests that name no account (development account 1 on the embedded chain).
    pub(crate) default_payer: Option<Address>,
    /// The price of a model the model registry does not list.
    pub(crate) default_fee: U256,
    /// Requests between their payment check and their claim-log write, by payer.
    pub(crate) reserved: std::sync::Mutex<HashMap<Address, U256>>,
    /// Model prices read from the registry, with when they were read.
    pub(crate) prices: std::sync::Mutex<HashMap<ModelId, (crate::payment::Prices, Instant)>>,
    /// The last escrow balance read per payer, for when the chain is unreachable.
    pub(crate) escrows: std::sync::Mutex<HashMap<Address, U256>>,
}

/// Generations under way at once by default; they take turns decoding, a token at a time.
const DEFAULT_GENERATIONS: usize = 4;

pub(crate) fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Node {
    /// Opens the node's state, loads ONNX Runtime and connects to its chain (on the embedded
    /// chain, registering its keys on first start).
    pub async fn open(config: &NodeConfig) -> NodeResult<Node> {
        use crate::NodeRole;
        std::fs::create_dir_all(&config.home)?;
        init_onnxruntime(&config.onnxruntime)?;
        let key = Arc::new(load_or_create_key(&config.home.join("worker.key"), config.key_hex.as_deref())?);
        let hub = Hub::open(&config.hub)?;
        let claims = ClaimLog::open(&config.home.join("claims.redb"))?;
        let default_fee = config.fee_per_request.unwrap_or_else(crate::settle::dev_fee_per_claim);
        let role = config.role;
        // Standalone nodes judge with a second key of their own; validators with their node key.
        let validator = match role {
            NodeRole::Standalone if !matches!(config.chain, ChainConfig::None) => {
                Some(Arc::new(load_or_create_key(&config.home.join("validator.key"), None)?))
            }
            NodeRole::Validator => Some(key.clone()),
            _ => None,
        };
        let settlement = match &config.chain {
            ChainConfig::None => None,
            ChainConfig::Embedded { block_time } => {
                if matches!(role, NodeRole::Inference | NodeRole::Validator) {
                    return Err(NodeError::Config(format!(
                        "a node in the {} role joins a gateway's chain (--chain-rpc), it does not run one",
                        role.name()
                    )));
                }
                let path = config.home.join("chain.redb");
                let chain =
                    tokio::task::spawn_blocking(move || crate::devnet::open_dev_chain(&path, now_seconds())).await??;
                let chain = SharedChain::new(chain);
                match &validator {
                    Some(validator) => crate::devnet::bootstrap(&chain, &key, validator).await?,
                    None => crate::devnet::bootstrap_gateway(&chain, &key).await?,
                }
                if let Some(interval) = *block_time {
                    chain.lock().set_automine(false);
                    spawn_miner(chain.clone(), interval);
                }
                let confirmations = Confirmations { poll: block_time.map_or(POLL, |t| t / 4), ..Default::default() };
                let batcher = crate::settle::Batcher {
                    chain: AnyChain::Embedded(chain.clone()),
                    contracts: chain.contracts(),
                    sender: validator.clone().unwrap_or_else(|| key.clone()),
                    confirmations,
                };
                let payer = crate::devnet::dev_accounts()[1];
                Some(Settlement::new(batcher, Some(chain), Some(payer), default_fee))
            }
            ChainConfig::Rpc { url, contracts, confirmations, from_block } => {
                let chain = RpcChain::connect(url).await?;
                if claims.requests_cursor()?.is_none() {
                    claims.set_requests_cursor(*from_block)?;
                }
                let mut needed = Vec::new();
                match role {
                    NodeRole::Standalone => {
                        needed.push((key.address(), "inference", 1u8));
                        if let Some(validator) = &validator {
                            needed.push((validator.address(), "validator", 2u8));
                        }
                    }
                    NodeRole::Inference => needed.push((key.address(), "inference", 1u8)),
                    NodeRole::Validator => needed.push((key.address(), "validator", 2u8)),
                    NodeRole::Gateway => {}
                }
                for (signer, role_name, role_code) in needed {
                    let node = chain.view(contracts.registry, NodeRegistry::nodeOfCall { signer }).await?;
                    if node.operator == Address::ZERO || node.role != role_code {
                        return Err(NodeError::NotRegistered { signer, role: role_name, registry: contracts.registry });
                    }
                }
                let confirmations = Confirmations { depth: (*confirmations).max(1), ..Default::default() };
                let batcher = crate::settle::Batcher {
                    chain: AnyChain::Rpc(chain),
                    contracts: *contracts,
                    sender: validator.clone().unwrap_or_else(|| key.clone()),
                    confirmations,
                };
                Some(Settlement::new(batcher, None, None, default_fee))
            }
        };
        let domain = settlement.as_ref().map_or(config.domain, |s| s.batcher.domain());
        if let Some(fault) = config.fault
            && domain.chain_id != crate::devnet::DEV_CHAIN_ID
        {
            return Err(NodeError::Config(format!(
                "the test fault {} is only allowed on the development chain ({}), this is chain {}",
                fault.name(),
                crate::devnet::DEV_CHAIN_ID,
                domain.chain_id
            )));
        }
        if let Some(fault) = config.fault {
            tracing::warn!(fault = fault.name(), "THIS NODE LIES ON PURPOSE (byzantine test fault)");
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let llm_threads = config.llm_threads.unwrap_or(cores).max(1);
        let max_generations = config.max_generations.unwrap_or(DEFAULT_GENERATIONS).max(1);
        let enclave = match (config.tee, role) {
            (Some(backend), NodeRole::Standalone | NodeRole::Inference) => {
                Some(crate::enclave::Enclave::open(backend)?)
            }
            _ => None,
        };
        config.tee_policy.check().map_err(|err| NodeError::Config(err.to_string()))?;
        tracing::info!(role = role.name(), key = %key.address(), home = %config.home.display(), "node opened");
        Ok(Node {
            key,
            domain,
            settlement,
            hub: Arc::new(hub),
            runtime: Arc::new(OnnxRuntime::new(config.threads)),
            proving_keys: Default::default(),
            claims: Arc::new(claims),
            metrics: Metrics::new(),
            seen_signatures: Default::default(),
            home: config.home.clone(),
            llm_threads,
            llms: Default::default(),
            llm_loading: Default::default(),
            generations: tokio::sync::Semaphore::new(max_generations),
            decode_slots: Arc::new(veritas_llm::DecodeSlots::new(cores / llm_threads)),
            role,
            validator,
            peers: crate::peers::Peers::new(),
            hub_url: config.hub_url.clone(),
            reexec_sampling: config.reexec_sampling.clamp(0.0, 1.0),
            default_mode: config.default_mode,
            fault: config.fault,
            registry_cache: Default::default(),
            verification: Default::default(),
            fetching: Default::default(),
            next_worker: Default::default(),
            started: Instant::now(),
            chain_events: Default::default(),
            tee: config.tee,
            enclave,
            tee_policy: Arc::new(config.tee_policy.clone()),
        })
    }

    /// The worker's address.
    pub fn worker(&self) -> Address {
        self.key.address()
    }

    /// The domain claims are signed in.
    pub fn domain(&self) -> ClaimDomain {
        self.domain
    }

    /// Settles the next batch of pending receipts on the node's chain (or finishes the batch in
    /// flight); `None` when there is nothing to settle or no chain.
    pub async fn settle_pending(&self) -> NodeResult<Option<crate::SettledBatch>> {
        let Some(settlement) = &self.settlement else { return Ok(None) };
        if !matches!(self.role, crate::NodeRole::Standalone | crate::NodeRole::Gateway) {
            return Ok(None);
        }
        let batcher = &settlement.batcher;
        if let Some(batch) = self.claims.inflight()? {
            return batcher.resume(&self.claims, batch).await;
        }
        self.verify_pending().await?;
        // Contracts' verified answers go out one by one, from the same key, between batches.
        if let Err(err) = self.fulfill_requests().await {
            tracing::warn!(%err, "delivering contracts' answers failed; they stay queued");
        }
        let Some(plan) = batcher.plan(&self.claims).await? else { return Ok(None) };
        let signatures = self.batch_signatures(&plan).await?;
        let batch = batcher.commit(&self.claims, &plan, signatures).await?;
        batcher.resume(&self.claims, batch).await
    }

    /// Settles pending receipts every `interval` until the task is dropped; after a failure it
    /// waits twice as long (up to a minute) before trying again, and nothing is lost meanwhile.
    pub fn spawn_batcher(self: &Arc<Self>, interval: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let node = Arc::clone(self);
        tokio::spawn(async move {
            let mut wait = interval;
            loop {
                tokio::time::sleep(wait).await;
                match node.settle_pending().await {
                    Ok(_) => wait = interval,
                    Err(err) => {
                        wait = (wait * 2).min(std::time::Duration::from_secs(60));
                        tracing::warn!(%err, retry_in = ?wait, "settlement failed; the receipts stay queued");
                    }
                }
            }
        })
    }

    /// Whether this node settles on a chain.
    pub fn settles(&self) -> bool {
        self.settlement.is_some()
    }

    /// The embedded chain, when this node runs one.
    pub fn chain(&self) -> Option<SharedChain> {
        self.settlement.as_ref().and_then(|s| s.embedded.clone())
    }

    /// The chain this node settles on and where its contracts are.
    pub fn network(&self) -> Option<(AnyChain, Contracts)> {
        self.settlement.as_ref().map(|s| (s.batcher.chain.clone(), s.batcher.contracts))
    }

    /// The account that pays for requests naming none (development account 1 on the embedded
    /// chain; none elsewhere).
    pub fn default_payer(&self) -> Option<Address> {
        self.settlement.as_ref().and_then(|s| s.default_payer)
    }

    /// Runs a model, signs the claim and logs the receipt before returning it; `account` pays
    /// (the node's default payer when `None`).
    pub async fn infer(&self, request: InferRequest, account: Option<Address>) -> NodeResult<InferResponse> {
        let started = Instant::now();
        let model = request.model.clone();
        let result = self.infer_inner(request, account).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics.count_inference(&model, outcome);
        if result.is_ok() {
            self.metrics.inference_seconds.observe(started.elapsed().as_secs_f64());
        }
        result
    }

    async fn infer_inner(&self, request: InferRequest, account: Option<Address>) -> NodeResult<InferResponse> {
        let mode = self.mode(request.mode)?;
        let model = self.resolve_model(&request.model).await?;
        if !matches!(model.manifest.format, ModelFormat::Onnx | ModelFormat::Quantized) {
            return Err(NodeError::UnsupportedFormat { model: request.model, format: model.manifest.format });
        }
        check_zk_format(mode, &model)?;
        let inputs = parse_inputs(&model.manifest.schema, &request.input)?;
        let (charge, _reservation) = self.reserve_payment(&model.id, account, 0).await?;
        let queue = if self.role == crate::NodeRole::Inference { Queue::Record } else { Queue::Paid(charge) };
        let ask = Ask { mode, request_id: request.request_id, nonce: request.nonce };
        self.run_and_log(model, inputs, request.input, ask, queue).await
    }

    /// Runs a checked request (or has a worker run it, on a gateway) and logs its receipt.
    pub(crate) async fn run_and_log(
        &self,
        model: ModelVersion,
        inputs: Values,
        input: serde_json::Value,
        ask: Ask,
        queue: Queue,
    ) -> NodeResult<InferResponse> {
        let started = Instant::now();
        let Ask { mode, request_id, nonce } = ask;
        if self.role == crate::NodeRole::Gateway {
            let request = InferRequest { model: model.id.to_string(), input, mode: Some(mode), request_id, nonce };
            return self.dispatch_infer(model, &inputs, request, queue).await;
        }
        let attest = self.attester(mode, nonce.as_deref())?;
        let quantized = if model.manifest.format == ModelFormat::Quantized {
            let proving_key = self.proving_key(&model).await?;
            let checked = inputs.clone();
            let run =
                tokio::task::spawn_blocking(move || crate::zk::run(&proving_key, &checked, mode == Mode::Zk)).await??;
            // The proof is in the hub before the receipt that names it leaves.
            if let Some(proof) = &run.proof {
                self.hub.put_blob(proof.clone()).await?;
            }
            Some(run)
        } else {
            None
        };
        let faulty =
            if self.fault.is_some() && quantized.is_none() { self.faulty_onnx(&model, &inputs).await? } else { None };
        if faulty.is_none() && quantized.is_none() {
            self.load_onnx(&model).await?;
        }
        // Inference, hashing, signing and the durable log write are blocking work: one hop to
        // the blocking pool for all of them.
        let runtime = self.runtime.clone();
        let key = self.key.clone();
        let claims = self.claims.clone();
        let (domain, timestamp) = (self.domain, now_seconds());
        let manifest_json = model.manifest.to_json();
        let (model_id, model_name, model_version) = (model.id, model.name.clone(), model.version);
        let receipt = tokio::task::spawn_blocking(move || -> NodeResult<Receipt> {
            let (outputs, zk_proof) = match (quantized, faulty) {
                (Some(run), _) => (run.outputs, run.proof),
                (None, Some(outputs)) => (outputs, None),
                (None, None) => (runtime.run(&model_id, &inputs)?, None),
            };
            let answer = Answer {
                model_id,
                model_name,
                model_version,
                manifest: manifest_json,
                mode,
                timestamp,
                input: inputs,
                output: outputs,
                params: Params(BTreeMap::new()),
                request_id,
                zk_proof,
            };
            sign_and_log(&key, &claims, domain, answer, attest, queue, started)
        })
        .await??;
        self.metrics.claims_logged.inc();
        self.verification.wake.notify_one();
        let output = receipt.body.output.clone().unwrap_or_default();
        Ok(InferResponse { receipt_id: receipt.id(), model, output, receipt })
    }

    /// The mode a request runs in: the one it names, else the node's default; only modes the
    /// node can serve.
    pub(crate) fn mode(&self, requested: Option<Mode>) -> NodeResult<Mode> {
        let mode = requested.unwrap_or(self.default_mode);
        let available = if self.tee.is_some() {
            "signed, reexec, zk, tee"
        } else {
            "signed, reexec, zk (start with --tee for tee)"
        };
        let served = match mode {
            // zk: any node proves a quantized model (the model's format is checked with it).
            Mode::Signed | Mode::Reexec | Mode::Zk => true,
            Mode::Tee => self.tee.is_some(),
        };
        if !served {
            return Err(NodeError::UnsupportedMode { mode, available });
        }
        Ok(mode)
    }

    /// Loads an ONNX model version into the runtime (digest-checked), unless it is loaded.
    async fn load_onnx(&self, model: &ModelVersion) -> NodeResult<()> {
        if !self.runtime.is_loaded(&model.id) {
            let (_, bytes) = self.hub.load(&model.id).await?;
            let runtime = self.runtime.clone();
            let id = model.id;
            tokio::task::spawn_blocking(move || runtime.load(&id, &bytes)).await??;
            tracing::info!(model = %model.name, version = model.version, id = %model.id, "model loaded");
        }
        Ok(())
    }

    /// Runs an ONNX model version on inputs already checked (a validator's re-execution).
    pub(crate) async fn run_onnx(&self, model: &ModelVersion, inputs: Values) -> NodeResult<Values> {
        self.load_onnx(model).await?;
        let runtime = self.runtime.clone();
        let id = model.id;
        Ok(tokio::task::spawn_blocking(move || runtime.run(&id, &inputs)).await??)
    }

    /// The key this node signs verdicts and batches with, if it judges claims.
    pub(crate) fn validator_key(&self) -> Option<&WorkerKey> {
        self.validator.as_deref()
    }

    /// What this node does in the network.
    pub fn role(&self) -> crate::NodeRole {
        self.role
    }

    /// A logged receipt by id.
    pub async fn receipt(&self, id: &B256) -> NodeResult<Receipt> {
        let claims = self.claims.clone();
        let id = *id;
        tokio::task::spawn_blocking(move || claims.get(&id))
            .await??
            .ok_or_else(|| NodeError::UnknownReceipt(id.to_string()))
    }

    /// How many receipts the claim log holds.
    pub fn claims_logged(&self) -> NodeResult<u64> {
        self.claims.len()
    }

    /// What this node has done, for `veritas network status`.
    pub fn counts(&self) -> NodeResult<serde_json::Value> {
        use crate::metrics::Metrics as M;
        let m = &self.metrics;
        Ok(serde_json::json!({
            "claims_logged": self.claims.len()?,
            "awaiting_verdicts": self.claims.awaiting_count()?,
            "pending_settlement": self.claims.pending_count()?,
            "verdicts_valid": m.verdicts_signed(true),
            "verdicts_invalid": m.verdicts_signed(false),
            "quorums_valid": M::value(&m.quorums, "outcome", "valid"),
            "quorums_invalid": M::value(&m.quorums, "outcome", "invalid"),
            "disputes_opened": M::value(&m.disputes, "event", "opened"),
            "validators_slashed": M::value(&m.disputes, "event", "validator_slashed"),
            "workers_slashed": M::value(&m.disputes, "event", "resolved_invalid"),
            "verdicts_refused": m.verdicts_refused_total(),
            "verdict_ms_p50": m.verdict_percentiles().map(|p| p.0),
            "verdict_ms_p90": m.verdict_percentiles().map(|p| p.1),
            "reexecuted_percent": percent(m.verdicts_checked("reexec"), m.verdicts_signed(true) + m.verdicts_signed(false)),
        }))
    }

    /// The Prometheus text exposition of the node's metrics.
    pub fn metrics_text(&self) -> String {
        self.metrics.render()
    }
}

/// `part` in percent of `whole`, none of none.
fn percent(part: u64, whole: u64) -> Option<u64> {
    (whole > 0).then(|| part * 100 / whole)
}

/// What a receipt records of one answer, before it is signed.
pub(crate) struct Answer {
    pub model_id: ModelId,
    pub model_name: String,
    pub model_version: u64,
    pub manifest: serde_json::Value,
    pub mode: Mode,
    pub timestamp: u64,
    pub input: Values,
    pub output: Values,
    pub params: Params,
    /// The request id to claim; a fresh one when `None`.
    pub request_id: Option<B256>,
    /// A `zk` claim's proof.
    pub zk_proof: Option<Vec<u8>>,
}

/// `zk` mode proves quantized models only.
pub(crate) fn check_zk_format(mode: Mode, model: &ModelVersion) -> NodeResult<()> {
    if mode == Mode::Zk && model.manifest.format != ModelFormat::Quantized {
        return Err(NodeError::BadRequest(format!(
            "zk mode proves quantized models, and {} ({}) is {:?}: push a quantized version (veritas model push \
             MODEL.onnx --zk-calibration SAMPLES.json)",
            model.name, model.id, model.manifest.format
        )));
    }
    Ok(())
}

/// What a request asks of its claim besides the computation.
pub(crate) struct Ask {
    /// The verification mode.
    pub mode: Mode,
    /// The request id to claim; a fresh one when `None`.
    pub request_id: Option<B256>,
    /// A `tee` request's nonce, hex.
    pub nonce: Option<String>,
}

/// How a logged receipt waits for the rest of the network.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Queue {
    /// Queued for verdicts and batch settlement, charged to an escrow account.
    Paid(Charge),
    /// Queued for verdicts, then delivered to a contract's on-chain request (by its id), which
    /// pays from its own escrow.
    Contract(u64),
    /// Only recorded: an inference node's, which its gateway queues.
    Record,
}

/// Signs the claim over an answer and writes its receipt to the claim log (blocking: the write
/// is durable before this returns), queued as `queue` says, for a request that arrived at
/// `started`.
pub(crate) fn sign_and_log(
    key: &WorkerKey,
    claims: &ClaimLog,
    domain: ClaimDomain,
    answer: Answer,
    attest: Option<crate::enclave::Attest>,
    queue: Queue,
    started: Instant,
) -> NodeResult<Receipt> {
    let claim = Claim {
        request_id: answer.request_id.unwrap_or_else(|| claims.next_request_id(&key.address())),
        model_id: answer.model_id,
        input_hash: values_hash(&answer.input),
        output_hash: values_hash(&answer.output),
        params_hash: answer.params.hash(),
        mode: answer.mode,
        worker: key.address(),
        timestamp: answer.timestamp,
    };
    let mut receipt = Receipt::new(domain, key.sign_claim(claim, &domain)?);
    receipt.body = ReceiptBody {
        model_name: Some(answer.model_name),
        model_version: Some(answer.model_version),
        manifest: Some(answer.manifest),
        input: Some(answer.input),
        output: Some(answer.output),
        params: Some(answer.params),
        registry: None,
        zk_proof: None,
    };
    if let Some(attest) = attest {
        receipt.evidence.push(attest.evidence(&receipt.id())?);
    }
    if let Some(proof) = answer.zk_proof {
        let digest = <sha2::Sha256 as sha2::Digest>::digest(&proof);
        receipt.evidence.push(veritas_primitives::Evidence {
            kind: veritas_verifier::zk::EVIDENCE_KIND.into(),
            data: digest.to_vec().into(),
        });
        receipt.body.zk_proof = Some(proof.into());
    }
    log_receipt(claims, &receipt, queue, crate::Timing::since(started))?;
    Ok(receipt)
}

/// Writes a receipt to the claim log as `queue` says (blocking, durable).
pub(crate) fn log_receipt(claims: &ClaimLog, receipt: &Receipt, queue: Queue, timing: crate::Timing) -> NodeResult<()> {
    match queue {
        Queue::Paid(charge) => claims.append(receipt, charge, timing),
        Queue::Contract(request) => claims.append_contract(receipt, request, timing),
        Queue::Record => claims.record(receipt, timing),
    }
}

impl Settlement {
    fn new(
        batcher: crate::settle::Batcher,
        embedded: Option<SharedChain>,
        default_payer: Option<Address>,
        default_fee: U256,
    ) -> Arc<Settlement> {
        Arc::new(Settlement {
            batcher,
            embedded,
            default_payer,
            default_fee,
            reserved: Default::default(),
            prices: Default::default(),
            escrows: Default::default(),
        })
    }
}

/// How often to look for a transaction's receipt.
const POLL: Duration = Duration::from_millis(100);

/// Mines the embedded chain's block every `interval`.
fn spawn_miner(chain: SharedChain, interval: Duration) {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            if let Err(err) = chain.mine().await {
                tracing::warn!(%err, "mining a block failed");
            }
        }
    });
}
