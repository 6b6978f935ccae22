//! The node: push models, run inference, sign and log claims.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use veritas_hub::{Hub, ModelFormat, ModelStore, ModelVersion, PushOutcome, Staged, Stager};
use veritas_primitives::{
    Address, B256, Claim, ClaimDomain, Mode, Params, Receipt, ReceiptBody, Values, WorkerKey, values::values_hash,
};
use veritas_runtime::{OnnxRuntime, init_onnxruntime, inspect_onnx, parse_inputs};

use crate::{ClaimLog, NodeConfig, NodeError, NodeResult, identity::load_or_create_key, metrics::Metrics};

/// A request to run a model.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    /// The model: `name`, `name@version` or a model id.
    pub model: String,
    /// Named inputs: nested arrays typed by the model's schema, or `{"dtype","shape","data"}`.
    pub input: serde_json::Value,
    /// The verification mode.
    #[serde(default)]
    pub mode: Mode,
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
    key: Arc<WorkerKey>,
    domain: ClaimDomain,
    chain: Option<Arc<std::sync::Mutex<veritas_chain::embedded::EmbeddedChain>>>,
    batcher: Option<Arc<crate::settle::Batcher>>,
    /// Requests between their payment check and their claim-log write.
    reserved: std::sync::atomic::AtomicU64,
    hub: Arc<dyn ModelStore>,
    runtime: Arc<OnnxRuntime>,
    claims: Arc<ClaimLog>,
    metrics: Metrics,
}

fn now_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Node {
    /// Opens the node's state and loads ONNX Runtime.
    pub fn open(config: &NodeConfig) -> NodeResult<Node> {
        std::fs::create_dir_all(&config.home)?;
        init_onnxruntime(&config.onnxruntime)?;
        let key = load_or_create_key(&config.home.join("worker.key"), config.key_hex.as_deref())?;
        let hub = Hub::open(&config.hub)?;
        let claims = ClaimLog::open(&config.home.join("claims.redb"))?;
        let (chain, domain, batcher) = if config.embedded_chain {
            let mut chain = crate::devnet::open_dev_chain(&config.home.join("chain.redb"), now_seconds())?;
            let domain = chain.contracts().domain(chain.chain_id());
            let dev_keys = crate::devnet::dev_keys();
            let validator = load_or_create_key(&config.home.join("validator.key"), None)?;
            let payer = WorkerKey::from_bytes(&dev_keys[1].secret())?;
            let batcher = crate::settle::Batcher {
                validator,
                payer,
                worker: key.address(),
                fee_per_claim: config.fee_per_request.unwrap_or_else(crate::settle::dev_fee_per_claim),
            };
            crate::settle::bootstrap(&mut chain, &dev_keys[0], &batcher, &key, now_seconds())?;
            (Some(Arc::new(std::sync::Mutex::new(chain))), domain, Some(Arc::new(batcher)))
        } else {
            (None, config.domain, None)
        };
        tracing::info!(worker = %key.address(), home = %config.home.display(), "node opened");
        Ok(Node {
            key: Arc::new(key),
            domain,
            chain,
            batcher,
            reserved: Default::default(),
            hub: Arc::new(hub),
            runtime: Arc::new(OnnxRuntime::new(config.threads)),
            claims: Arc::new(claims),
            metrics: Metrics::new(),
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
        let (Some(chain), Some(batcher)) = (self.chain.clone(), self.batcher.clone()) else {
            return Ok(None);
        };
        let claims = self.claims.clone();
        let domain = self.domain;
        tokio::task::spawn_blocking(move || batcher.settle(&chain, &claims, &domain, now_seconds())).await?
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

    /// The embedded chain, when this node runs one.
    pub fn chain(&self) -> Option<Arc<std::sync::Mutex<veritas_chain::embedded::EmbeddedChain>>> {
        self.chain.clone()
    }

    /// Where uploads are staged, with the size limit.
    pub fn stager(&self) -> &Stager {
        self.hub.stager()
    }

    /// Inspects an upload and commits it as a model version. Anything the runtime cannot load
    /// is refused here, not at inference.
    pub async fn push_model(&self, request: PushRequest) -> NodeResult<PushOutcome> {
        veritas_hub::validate_name(&request.name)?;
        let inspection = match request.format {
            ModelFormat::Onnx => {
                let path = request.staged.path().to_owned();
                tokio::task::spawn_blocking(move || -> NodeResult<_> {
                    let bytes = std::fs::read(path)?;
                    Ok(inspect_onnx(&bytes)?)
                })
                .await??
            }
            ModelFormat::Gguf => {
                return Err(NodeError::UnsupportedFormat { model: request.name, format: request.format });
            }
        };
        let outcome = self
            .hub
            .push(&request.name, request.staged, request.format, inspection.schema, inspection.metadata)
            .await?;
        if outcome.created {
            self.metrics.models_pushed.inc();
        }
        Ok(outcome)
    }

    /// Every model with its latest version.
    pub async fn models(&self) -> NodeResult<Vec<ModelVersion>> {
        Ok(self.hub.list().await?)
    }

    /// Every version of a model name.
    pub async fn model_versions(&self, name: &str) -> NodeResult<Vec<ModelVersion>> {
        Ok(self.hub.versions(name).await?)
    }

    /// One model version by reference.
    pub async fn model(&self, reference: &str) -> NodeResult<ModelVersion> {
        Ok(self.hub.resolve(reference).await?)
    }

    /// The bytes of a model version, digest-checked.
    pub async fn model_bytes(&self, reference: &str) -> NodeResult<(ModelVersion, Vec<u8>)> {
        let version = self.hub.resolve(reference).await?;
        let (_, bytes) = self.hub.load(&version.id).await?;
        Ok((version, bytes))
    }

    /// Runs a model, signs the claim and logs the receipt before returning it.
    pub async fn infer(&self, request: InferRequest) -> NodeResult<InferResponse> {
        let started = Instant::now();
        let model = request.model.clone();
        let result = self.infer_inner(request).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        self.metrics.count_inference(&model, outcome);
        if result.is_ok() {
            self.metrics.inference_seconds.observe(started.elapsed().as_secs_f64());
        }
        result
    }

    async fn infer_inner(&self, request: InferRequest) -> NodeResult<InferResponse> {
        if request.mode != Mode::Signed {
            return Err(NodeError::UnsupportedMode { mode: request.mode, available: "signed" });
        }
        let model = self.hub.resolve(&request.model).await?;
        if model.manifest.format != ModelFormat::Onnx {
            return Err(NodeError::UnsupportedFormat { model: request.model, format: model.manifest.format });
        }
        let inputs = parse_inputs(&model.manifest.schema, &request.input)?;
        let _reservation = self.reserve_payment()?;
        if !self.runtime.is_loaded(&model.id) {
            let (_, bytes) = self.hub.load(&model.id).await?;
            let runtime = self.runtime.clone();
            let id = model.id;
            tokio::task::spawn_blocking(move || runtime.load(&id, &bytes)).await??;
            tracing::info!(model = %model.name, version = model.version, id = %model.id, "model loaded");
        }
        // Inference, hashing, signing and the durable log write are blocking work: one hop to
        // the blocking pool for all of them.
        let runtime = self.runtime.clone();
        let key = self.key.clone();
        let claims = self.claims.clone();
        let (domain, mode, timestamp) = (self.domain, request.mode, now_seconds());
        let manifest_json = model.manifest.to_json();
        let (model_id, model_name, model_version) = (model.id, model.name.clone(), model.version);
        let receipt = tokio::task::spawn_blocking(move || -> NodeResult<Receipt> {
            let outputs = runtime.run(&model_id, &inputs)?;
            let params = Params(BTreeMap::new());
            let claim = Claim {
                request_id: claims.next_request_id(&key.address()),
                model_id,
                input_hash: values_hash(&inputs),
                output_hash: values_hash(&outputs),
                params_hash: params.hash(),
                mode,
                worker: key.address(),
                timestamp,
            };
            let mut receipt = Receipt::new(domain, key.sign_claim(claim, &domain)?);
            receipt.body = ReceiptBody {
                model_name: Some(model_name),
                model_version: Some(model_version),
                manifest: Some(manifest_json),
                input: Some(inputs),
                output: Some(outputs),
                params: Some(params),
            };
            claims.append(&receipt)?;
            Ok(receipt)
        })
        .await??;
        self.metrics.claims_logged.inc();
        let output = receipt.body.output.clone().unwrap_or_default();
        Ok(InferResponse { receipt_id: receipt.id(), model, output, receipt })
    }

    /// Checks that the paying account can cover this request on top of its unsettled ones, and
    /// holds the reservation until the claim is logged (then the claim log counts it).
    fn reserve_payment(&self) -> NodeResult<Option<Reservation<'_>>> {
        let (Some(chain), Some(batcher)) = (&self.chain, &self.batcher) else { return Ok(None) };
        let reservation = Reservation::new(&self.reserved);
        let price = batcher.fee_per_claim;
        let account = batcher.payer.address();
        let balance = {
            let mut chain = chain.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let settlement = chain.contracts().settlement;
            chain.view(settlement, veritas_chain::contracts::Settlement::balanceOfCall { account })?
        };
        let others = self.claims.pending_count()? + reservation.others;
        let committed = price * alloy_primitives::U256::from(others);
        if balance < committed + price {
            return Err(NodeError::InsufficientFunds { account, balance, committed, price });
        }
        Ok(Some(reservation))
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

    /// The Prometheus text exposition of the node's metrics.
    pub fn metrics_text(&self) -> String {
        self.metrics.render()
    }
}

/// One request's hold on the payer's escrow, released when dropped.
struct Reservation<'a> {
    counter: &'a std::sync::atomic::AtomicU64,
    /// Requests that held a reservation before this one.
    others: u64,
}

impl<'a> Reservation<'a> {
    fn new(counter: &'a std::sync::atomic::AtomicU64) -> Reservation<'a> {
        let others = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Reservation { counter, others }
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
