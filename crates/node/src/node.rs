//! The node: its state and start (per role and chain), settlement's start and the development
//! chain's miner. Inference and the signing and logging of claims are in `infer`, payments in
//! `payment`, models in `models`, chat in `chat`, a gateway's dispatch in `gateway`, verdicts in
//! `validate` and `quorum`, quantized models in `zk`.

use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::U256;
use veritas_chain::{
    AnyChain, Chain, Confirmations, RpcChain, contracts::NodeRegistry, embedded::SharedChain, genesis::Contracts,
};

use veritas_hub::{Hub, ModelFormat, ModelStore, Staged};
use veritas_primitives::{Address, B256, ClaimDomain, Mode, ModelId, Receipt, WorkerKey};
use veritas_runtime::{OnnxRuntime, init_onnxruntime};

use crate::{ChainConfig, ClaimLog, NodeConfig, NodeError, NodeResult, identity::load_or_create_key, metrics::Metrics};

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
    pub(crate) runtime: Arc<OnnxRuntime>,
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
