//! The core every service of a node shares: its key and claim domain, its chain, the model hub
//! (with the hub it fetches missing models from), the engines that run models (ONNX Runtime,
//! llama.cpp, the quantized executor and its prover), the store, the HTTP client for peers and
//! the metrics. Nothing here belongs to one role: the gateway, worker and validator services
//! (`crate::gateway`, `crate::worker`, `crate::validator`) hold their own state.

mod chain;
pub(crate) mod engines;
pub(crate) mod lane;
pub(crate) mod models;
#[cfg(not(feature = "llm"))]
mod no_llm;
mod quantized;

#[cfg(not(feature = "llm"))]
pub(crate) use no_llm::{LlmModel, inspect_gguf};
/// A loaded language model (llama.cpp), or none in a build without the `llm` feature.
#[cfg(feature = "llm")]
pub(crate) use veritas_llm::{LlmModel, inspect_gguf};

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use alloy_primitives::U256;
use veritas_chain::Chain;
use veritas_hub::{Hub, ModelStore};
use veritas_primitives::{Address, B256, ClaimDomain, Receipt, WorkerKey};
use veritas_runtime::init_onnxruntime;

pub use chain::ChainLink;
pub(crate) use engines::Engines;

use crate::{
    ConfigError, NodeConfig, NodeError, NodeResult, Services, identity::load_or_create_key, metrics::Metrics,
    peers::Peers, protocol::Offer, store::Store,
};

/// Unix seconds now.
pub(crate) fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What every service of a node shares.
pub struct Core {
    /// The node's key: a worker signs claims with it, a gateway sends its transactions with it,
    /// a validator (other than a standalone node's) signs verdicts with it.
    pub(crate) key: Arc<WorkerKey>,
    /// The domain claims, verdicts and batches are signed in.
    pub(crate) domain: ClaimDomain,
    /// The chain, unless the node runs without one.
    pub(crate) chain: Option<ChainLink>,
    pub(crate) hub: Arc<dyn ModelStore>,
    /// Where missing models are fetched from (a gateway's API), by id, digest-checked.
    pub(crate) hub_url: Option<String>,
    /// Held while a model is fetched from `hub_url`.
    pub(crate) fetching: tokio::sync::Mutex<()>,
    pub(crate) engines: Engines,
    pub(crate) store: Arc<Store>,
    pub(crate) metrics: Metrics,
    pub(crate) peers: Peers,
    /// What the network offers clients: the default mode and the enclave of `tee` claims.
    pub(crate) offer: Offer,
    /// The enclaves accepted in `tee` claims.
    pub(crate) tee_policy: Arc<veritas_verifier::tee::Policy>,
    /// The price of a request of a model the model registry does not list.
    pub(crate) default_fee: U256,
    /// Woken whenever a claim is logged.
    pub(crate) logged: tokio::sync::Notify,
    /// What the node was started as, for `/healthz`.
    pub(crate) role: crate::NodeRole,
    started: Instant,
}

impl Core {
    /// Opens the node's state, loads ONNX Runtime and connects to its chain (on the embedded
    /// chain, registering its keys on first start); returns the core and, when the node judges
    /// claims, its validator key (a standalone node's `validator.key`, else the node key).
    pub(crate) async fn open(config: &NodeConfig, services: Services) -> NodeResult<(Core, Option<Arc<WorkerKey>>)> {
        std::fs::create_dir_all(&config.home)?;
        init_onnxruntime(&config.onnxruntime)?;
        let key = Arc::new(load_or_create_key(&config.home.join("worker.key"), config.key_hex.as_deref())?);
        let hub = Hub::open(&config.hub)?;
        // A store that cannot be used (no bucket, credentials refused, unreachable) stops the
        // start, naming why.
        hub.check().await?;
        let store = Store::open(&config.home.join("claims.redb"))?;
        let has_chain = !matches!(config.chain, crate::ChainConfig::None);
        // A standalone node judges with a second key of its own; a validator with its node key.
        let validator = match (services.validator, services.worker) {
            (true, true) if has_chain => Some(Arc::new(load_or_create_key(&config.home.join("validator.key"), None)?)),
            (true, false) => Some(key.clone()),
            _ => None,
        };
        let keys = chain::Keys {
            node: &key,
            worker: services.worker,
            validator: validator.as_deref(),
            gateway: services.gateway,
        };
        let mut chain = ChainLink::open(&config.chain, &config.home, &store, keys, now_seconds()).await?;
        if !config.dev_payer
            && let Some(link) = chain.as_mut()
        {
            link.default_payer = None;
        }
        let domain = chain.as_ref().map_or(config.domain, |c| c.contracts.domain(c.chain.chain_id()));
        if let Some(fault) = config.fault {
            if domain.chain_id != crate::devnet::DEV_CHAIN_ID {
                return Err(ConfigError::FaultOffDevChain {
                    fault: fault.name(),
                    dev: crate::devnet::DEV_CHAIN_ID,
                    chain: domain.chain_id,
                }
                .into());
            }
            tracing::warn!(fault = fault.name(), "THIS NODE LIES ON PURPOSE (byzantine test fault)");
        }
        config.tee_policy.check().map_err(ConfigError::from)?;
        tracing::info!(role = config.role.name(), key = %key.address(), home = %config.home.display(), "node opened");
        let core = Core {
            key,
            domain,
            chain,
            hub: Arc::new(hub),
            hub_url: config.hub_url.clone(),
            fetching: Default::default(),
            engines: Engines::new(config),
            store: Arc::new(store),
            metrics: Metrics::new(),
            peers: Peers::new(),
            offer: Offer { default_mode: config.default_mode, tee: config.tee },
            tee_policy: Arc::new(config.tee_policy.clone()),
            default_fee: config.fee_per_request.unwrap_or_else(crate::gateway::dev_fee_per_claim),
            logged: Default::default(),
            role: config.role,
            started: Instant::now(),
        };
        Ok((core, validator))
    }

    /// The node's key's address (a worker's claims are signed by it).
    pub fn key(&self) -> Address {
        self.key.address()
    }

    /// The domain claims are signed in.
    pub fn domain(&self) -> ClaimDomain {
        self.domain
    }

    /// The chain, when the node settles on one.
    pub fn chain(&self) -> Option<&ChainLink> {
        self.chain.as_ref()
    }

    /// The node registry on chain, read at most once a second.
    pub async fn registry(&self) -> NodeResult<veritas_wire::Registry> {
        self.chain_or_err()?.registry().await
    }

    /// Whether `signer` is a registered gateway with stake: who may call this node's work,
    /// verdict and batch routes. [`NodeError::NoChain`] without a chain.
    pub async fn is_gateway(&self, signer: Address) -> NodeResult<bool> {
        self.chain_or_err()?.is_gateway(signer).await
    }

    /// The embedded development chain, when this node runs it.
    pub fn embedded(&self) -> Option<&veritas_chain::embedded::SharedChain> {
        self.chain.as_ref().and_then(|c| c.embedded.as_ref())
    }

    /// The chain, or the error of a node that runs without one.
    pub(crate) fn chain_or_err(&self) -> NodeResult<&ChainLink> {
        self.chain.as_ref().ok_or(NodeError::NoChain)
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether `seen` (a signed request's or a call's nonce) is used here for the first time,
    /// keeping it until `keep_until`, on disk with the request's own durable write (see
    /// [`crate::store::Nonces::first_use_lazily`]); the write runs off the async threads.
    pub async fn first_use(&self, seen: veritas_primitives::B256, keep_until: u64, now: u64) -> NodeResult<bool> {
        let store = self.store.clone();
        Ok(tokio::task::spawn_blocking(move || store.nonces().first_use_lazily(&seen, keep_until, now)).await??)
    }

    /// What the network offers: the default mode and the enclave `tee` claims come from.
    pub fn offer(&self) -> Offer {
        self.offer
    }

    /// The enclaves this node accepts in `tee` claims, as it publishes them.
    pub fn tee_policy(&self) -> &veritas_verifier::tee::Policy {
        &self.tee_policy
    }

    /// The account that pays for requests naming none (development account 1 on the embedded
    /// chain; none elsewhere).
    pub fn default_payer(&self) -> Option<Address> {
        self.chain.as_ref().and_then(|c| c.default_payer)
    }

    /// What the node was started as.
    pub fn role(&self) -> crate::NodeRole {
        self.role
    }

    /// How long the node has been running.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// A logged receipt by id.
    pub async fn receipt(&self, id: &B256) -> NodeResult<Receipt> {
        let store = self.store.clone();
        let id = *id;
        tokio::task::spawn_blocking(move || store.receipts().get(&id)).await??.ok_or(NodeError::UnknownReceipt(id))
    }

    /// The account an API key pays from, or an error naming the key as unknown.
    pub fn api_key_account(&self, key: &str) -> NodeResult<Address> {
        self.store.accounts().api_key_account(&api_key_hash(key))?.ok_or(NodeError::UnknownApiKey)
    }

    /// Creates an API key for `account`: returned once, stored only as its SHA-256.
    pub fn create_api_key(&self, account: Address) -> NodeResult<String> {
        let key = format!("vk_{}", alloy_primitives::hex::encode(B256::random()));
        self.store.accounts().add_api_key(&api_key_hash(&key), &account)?;
        Ok(key)
    }

    /// The Prometheus text exposition of the node's metrics.
    pub fn metrics_text(&self) -> String {
        self.metrics.render()
    }

    /// What this node has done, for `veritas network status`.
    pub fn counts(&self) -> NodeResult<veritas_wire::Counts> {
        let m = &self.metrics;
        let queue = self.store.settlement();
        let percentiles = m.verdict_percentiles();
        let checked = m.verdicts_signed(true) + m.verdicts_signed(false);
        Ok(veritas_wire::Counts {
            claims_logged: self.store.receipts().len()?,
            awaiting_verdicts: queue.awaiting_count()?,
            pending_settlement: queue.pending_count()?,
            verdicts_valid: m.verdicts_signed(true),
            verdicts_invalid: m.verdicts_signed(false),
            quorums_valid: Metrics::value(&m.quorums, "outcome", "valid"),
            quorums_invalid: Metrics::value(&m.quorums, "outcome", "invalid"),
            disputes_opened: Metrics::value(&m.disputes, "event", "opened"),
            validators_slashed: Metrics::value(&m.disputes, "event", "validator_slashed"),
            workers_slashed: Metrics::value(&m.disputes, "event", "resolved_invalid"),
            verdicts_refused: m.verdicts_refused_total(),
            verdict_ms_p50: percentiles.map(|p| p.0),
            verdict_ms_p90: percentiles.map(|p| p.1),
            reexecuted_percent: (checked > 0).then(|| m.verdicts_checked("reexec") * 100 / checked),
        })
    }

    /// What signs and logs this node's claims.
    pub(crate) fn signer(&self) -> crate::claims::Signer {
        crate::claims::Signer { key: self.key.clone(), store: self.store.clone(), domain: self.domain }
    }

    /// Notes that a claim was logged: counted, and the gateway's verdict collection woken.
    pub(crate) fn claim_logged(&self) {
        self.metrics.claims_logged.inc();
        self.logged.notify_one();
    }
}

/// The SHA-256 an API key is stored as.
fn api_key_hash(key: &str) -> B256 {
    use sha2::Digest;
    B256::from_slice(&sha2::Sha256::digest(key.as_bytes()))
}

/// A path under the node's home.
pub(crate) fn llm_cache_dir(home: &std::path::Path) -> PathBuf {
    home.join("llm-cache")
}
