//! The engines a node runs models on, shared by its worker (inference) and its validator
//! (re-execution): ONNX Runtime sessions, language models on llama.cpp (loaded from a
//! digest-checked copy on local disk, one load at a time), and the quantized executor with its
//! proving keys (`quantized`).

use std::{collections::HashMap, path::PathBuf, sync::Arc};

use veritas_hub::ModelVersion;
use veritas_llm::DecodeSlots;
use veritas_primitives::{ModelId, Values};
use veritas_runtime::OnnxRuntime;

use super::{Core, LlmModel, quantized::ProvingKeys};
use crate::{NodeConfig, NodeResult};

pub(crate) use super::quantized::QuantRun;

/// Generations of one model decoded together unless configured (`NodeConfig::max_generations`).
pub(crate) const DEFAULT_GENERATIONS: usize = 16;

/// The engines, with what they have loaded.
pub(crate) struct Engines {
    pub(crate) onnx: Arc<OnnxRuntime>,
    pub(crate) proving_keys: ProvingKeys,
    /// llama.cpp threads per model's decode loop.
    pub(crate) llm_threads: usize,
    /// Generations of one model decoded together, and the KV cache cells they share.
    llm_batch: (usize, usize),
    /// Decodes that may run at once: as many as the cores hold at `llm_threads` each.
    decode_slots: Arc<DecodeSlots>,
    /// Loaded language models, each with when it was last used.
    llms: std::sync::Mutex<HashMap<ModelId, (Arc<LlmModel>, std::time::Instant)>>,
    /// Inferences (ONNX and quantized) running at once, one per core, and those waiting.
    pub(crate) inference: super::lane::Lane,
    /// Language models kept loaded.
    max_llms: usize,
    /// Held while a language model loads.
    llm_loading: tokio::sync::Mutex<()>,
    /// Where language models are copied to be loaded.
    llm_dir: PathBuf,
}

impl Engines {
    pub(crate) fn new(config: &NodeConfig) -> Engines {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let llm_threads = config.llm_threads.unwrap_or(cores).max(1);
        Engines {
            onnx: Arc::new(OnnxRuntime::with_capacity(config.threads, config.max_sessions)),
            inference: super::lane::Lane::new("inference", cores, config.max_queue),
            max_llms: config.max_language_models.max(1),
            proving_keys: Default::default(),
            llm_threads,
            llm_batch: (config.max_generations.unwrap_or(DEFAULT_GENERATIONS).max(1), config.llm_context.max(1)),
            decode_slots: Arc::new(DecodeSlots::new(cores / llm_threads)),
            llms: Default::default(),
            llm_loading: Default::default(),
            llm_dir: super::llm_cache_dir(&config.home),
        }
    }
}

impl Core {
    /// Loads an ONNX model version into the runtime (digest-checked), unless it is loaded.
    pub(crate) async fn load_onnx(&self, model: &ModelVersion) -> NodeResult<()> {
        let runtime = &self.engines.onnx;
        if !runtime.is_loaded(&model.id) {
            let (_, bytes) = self.hub.load(&model.id).await?;
            let runtime = runtime.clone();
            let id = model.id;
            tokio::task::spawn_blocking(move || runtime.load(&id, &bytes)).await??;
            tracing::info!(model = %model.name, version = model.version, id = %model.id, "model loaded");
        }
        Ok(())
    }

    /// Runs an ONNX model version on inputs already checked.
    pub(crate) async fn run_onnx(&self, model: &ModelVersion, inputs: Values) -> NodeResult<Values> {
        let _place = self.engines.inference.enter().await?;
        let inputs = Arc::new(inputs);
        // A session dropped (least recently used) between its load and the run is loaded again.
        for _ in 0..3 {
            self.load_onnx(model).await?;
            let (runtime, id, inputs) = (self.engines.onnx.clone(), model.id, inputs.clone());
            match tokio::task::spawn_blocking(move || runtime.run(&id, &inputs)).await? {
                Err(veritas_runtime::RuntimeError::NotLoaded(_)) => continue,
                outcome => return Ok(outcome?),
            }
        }
        Err(veritas_runtime::RuntimeError::NotLoaded(model.id).into())
    }

    /// Runs a quantized model version on inputs already checked (blocking work off the async
    /// threads), proving the run when `zk`.
    pub(crate) async fn run_quantized(&self, model: &ModelVersion, inputs: Values, zk: bool) -> NodeResult<QuantRun> {
        let key = self.proving_key(model).await?;
        let _place = self.engines.inference.enter().await?;
        tokio::task::spawn_blocking(move || super::quantized::run(&key, &inputs, zk)).await?
    }

    /// Embeds the texts of a checked `input` tensor with a sentence-embedding model (GGUF),
    /// in one of the inference lane's places: the `embeddings` output (one L2-normalised row
    /// per text) and the receipt's parameters (engine, pooling, tokens read).
    pub(crate) async fn embed(
        &self,
        model: &ModelVersion,
        inputs: &Values,
    ) -> NodeResult<(Values, veritas_primitives::Params)> {
        use veritas_primitives::{Tensor, TensorData, Value};
        let texts = match inputs.get("input") {
            Some(Value::Tensor(Tensor { data: TensorData::String(texts), .. })) => texts.clone(),
            _ => return Err(veritas_llm::LlmError::InvalidMessages("an embedding takes `input`: texts".into()).into()),
        };
        if texts.is_empty() {
            return Err(veritas_llm::LlmError::InvalidMessages("`input` holds no text".into()).into());
        }
        let llm = self.llm(model).await?;
        let _place = self.engines.inference.enter().await?;
        let (vectors, tokens) = tokio::task::spawn_blocking(move || llm.embed(&texts)).await??;
        let rows = vectors.len() as u64;
        let width = vectors.first().map_or(0, Vec::len) as u64;
        let tensor = Tensor::new("embeddings", vec![rows, width], TensorData::Float32(vectors.concat()))?;
        let outputs = Values::from([("embeddings".to_owned(), Value::Tensor(tensor))]);
        let params = veritas_primitives::Params(std::collections::BTreeMap::from([
            ("engine".to_owned(), veritas_llm::ENGINE.into()),
            ("pooling".to_owned(), model.manifest.metadata.get("pooling").cloned().unwrap_or_default().into()),
            ("normalized".to_owned(), true.into()),
            ("prompt_tokens".to_owned(), tokens.into()),
        ]));
        Ok((outputs, params))
    }

    /// The loaded language model for a version, loading it (from a digest-checked copy on local
    /// disk) on first use.
    pub(crate) async fn llm(&self, version: &ModelVersion) -> NodeResult<Arc<LlmModel>> {
        let engines = &self.engines;
        let loaded = || {
            let mut llms = engines.llms.lock().unwrap_or_else(|p| p.into_inner());
            llms.get_mut(&version.id).map(|(model, used)| {
                *used = std::time::Instant::now();
                model.clone()
            })
        };
        if let Some(model) = loaded() {
            return Ok(model);
        }
        // One load at a time: concurrent first requests wait for it instead of loading (and
        // writing the cached copy) again.
        let _loading = engines.llm_loading.lock().await;
        if let Some(model) = loaded() {
            return Ok(model);
        }
        let manifest = &version.manifest;
        let file = manifest.main_file().cloned().ok_or_else(|| {
            veritas_hub::HubError::UnknownModel(format!("{} (its manifest names no file)", version.id))
        })?;
        let dir = engines.llm_dir.clone();
        let path: PathBuf = dir.join(format!("{}.gguf", file.sha256));
        // The digest-checked copy on local disk, streamed from the hub rather than held in memory.
        if tokio::fs::metadata(&path).await.map(|m| m.len()).ok() != Some(file.size) {
            use futures_util::StreamExt;
            use tokio::io::AsyncWriteExt;
            tokio::fs::create_dir_all(&dir).await?;
            let partial = path.with_extension("part");
            let (_, mut chunks) = self.hub.stream(&version.id).await?;
            let mut out = tokio::fs::File::create(&partial).await?;
            while let Some(chunk) = chunks.next().await {
                out.write_all(&chunk?).await?;
            }
            out.sync_all().await?;
            tokio::fs::rename(&partial, &path).await?;
        }
        let (sequences, context) = engines.llm_batch;
        let options = veritas_llm::BatchOptions { threads: engines.llm_threads, sequences, context };
        let slots = engines.decode_slots.clone();
        let model = tokio::task::spawn_blocking(move || -> NodeResult<LlmModel> {
            Ok(LlmModel::load_with(&path, options, slots)?)
        })
        .await??;
        let model = Arc::new(model);
        tracing::info!(model = %version.name, version = version.version, id = %version.id, "language model loaded");
        let mut llms = engines.llms.lock().unwrap_or_else(|p| p.into_inner());
        // Past the limit, the least recently used goes (generations under way keep theirs).
        while llms.len() >= engines.max_llms {
            let Some(oldest) = llms.iter().min_by_key(|(_, (_, used))| *used).map(|(id, _)| *id) else { break };
            llms.remove(&oldest);
            tracing::info!(model = %oldest, "language model unloaded (least recently used)");
        }
        llms.insert(version.id, (model.clone(), std::time::Instant::now()));
        Ok(model)
    }
}
