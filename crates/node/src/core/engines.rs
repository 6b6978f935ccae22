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

/// The engines, with what they have loaded.
pub(crate) struct Engines {
    pub(crate) onnx: Arc<OnnxRuntime>,
    pub(crate) proving_keys: ProvingKeys,
    /// llama.cpp threads per generation.
    pub(crate) llm_threads: usize,
    /// Decodes that may run at once: as many as the cores hold at `llm_threads` each.
    decode_slots: Arc<DecodeSlots>,
    /// Loaded language models.
    llms: std::sync::Mutex<HashMap<ModelId, Arc<LlmModel>>>,
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
            onnx: Arc::new(OnnxRuntime::new(config.threads)),
            proving_keys: Default::default(),
            llm_threads,
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
        self.load_onnx(model).await?;
        let runtime = self.engines.onnx.clone();
        let id = model.id;
        Ok(tokio::task::spawn_blocking(move || runtime.run(&id, &inputs)).await??)
    }

    /// Runs a quantized model version on inputs already checked (blocking work off the async
    /// threads), proving the run when `zk`.
    pub(crate) async fn run_quantized(&self, model: &ModelVersion, inputs: Values, zk: bool) -> NodeResult<QuantRun> {
        let key = self.proving_key(model).await?;
        tokio::task::spawn_blocking(move || super::quantized::run(&key, &inputs, zk)).await?
    }

    /// The loaded language model for a version, loading it (from a digest-checked copy on local
    /// disk) on first use.
    pub(crate) async fn llm(&self, version: &ModelVersion) -> NodeResult<Arc<LlmModel>> {
        let engines = &self.engines;
        if let Some(model) = engines.llms.lock().unwrap_or_else(|p| p.into_inner()).get(&version.id) {
            return Ok(model.clone());
        }
        // One load at a time: concurrent first requests wait for it instead of loading (and
        // writing the cached copy) again.
        let _loading = engines.llm_loading.lock().await;
        if let Some(model) = engines.llms.lock().unwrap_or_else(|p| p.into_inner()).get(&version.id) {
            return Ok(model.clone());
        }
        let (manifest, bytes) = self.hub.load(&version.id).await?;
        let sha = manifest.main_file().map(|f| f.sha256.clone()).unwrap_or_default();
        let dir = engines.llm_dir.clone();
        let path: PathBuf = dir.join(format!("{sha}.gguf"));
        let threads = engines.llm_threads;
        let slots = engines.decode_slots.clone();
        let model = tokio::task::spawn_blocking(move || -> NodeResult<LlmModel> {
            if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(bytes.len() as u64) {
                std::fs::create_dir_all(&dir)?;
                let partial = path.with_extension("part");
                std::fs::write(&partial, &bytes)?;
                std::fs::rename(&partial, &path)?;
            }
            drop(bytes);
            Ok(LlmModel::load_with_slots(&path, threads, slots)?)
        })
        .await??;
        let model = Arc::new(model);
        tracing::info!(model = %version.name, version = version.version, id = %version.id, "language model loaded");
        engines.llms.lock().unwrap_or_else(|p| p.into_inner()).insert(version.id, model.clone());
        Ok(model)
    }
}
