//! Chat and completions with language models: the prompt (from the model's own chat template),
//! generation on llama.cpp, and a signed receipt for what was generated.
//!
//! The receipt's input is the messages (as JSON) and the rendered prompt; its output the text
//! and the token ids; its parameters the sampling parameters with the engine and thread count,
//! which together make a generation reproducible.

use std::{collections::BTreeMap, ops::ControlFlow, path::PathBuf, sync::Arc};

use serde::{Deserialize, Serialize};
use veritas_hub::{ModelFormat, ModelVersion};
use veritas_llm::{ChatMessage, FinishReason, LlmModel, SamplingParams};
use veritas_primitives::{Address, B256, Mode, Params, Receipt, Tensor, TensorData, Value, Values};

use crate::{
    Node, NodeError, NodeResult,
    infer::{Answer, Queue, sign_and_log},
    node::now_seconds,
};

/// What to complete: a conversation, or a raw prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatInput {
    /// Messages, rendered with the model's chat template.
    Messages(Vec<ChatMessage>),
    /// A prompt used as it is.
    Prompt(String),
}

impl ChatInput {
    /// The messages as the receipt records them (JSON); empty for a raw prompt.
    pub(crate) fn messages_json(&self) -> String {
        match self {
            ChatInput::Messages(messages) => serde_json::to_string(messages).unwrap_or_default(),
            ChatInput::Prompt(_) => String::new(),
        }
    }
}

/// A request to a language model.
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
    /// The verification mode; the node's default if `None`.
    pub mode: Option<Mode>,
    /// A `tee` request's nonce (hex, at most 64 bytes), bound into the attestation.
    pub nonce: Option<String>,
}

/// A finished chat answer with its receipt.
#[derive(Clone, Debug)]
pub struct ChatResponse {
    /// The model version that ran.
    pub model: ModelVersion,
    /// The generation.
    pub generation: veritas_llm::Generation,
    /// The token pieces of the generation, when logprobs were asked for (else empty).
    pub pieces: Vec<String>,
    /// The receipt (logged before this returns).
    pub receipt: Receipt,
}

/// The engine named in every LLM receipt's parameters.
pub const ENGINE: &str = "llama.cpp (llama-cpp-2 0.1.160)";

fn string_tensor(name: &str, text: String) -> NodeResult<Value> {
    Ok(Value::Tensor(Tensor::new(name, vec![1], TensorData::String(vec![text]))?))
}

impl Node {
    /// The loaded language model for a version, loading it (from a digest-checked copy on local
    /// disk) on first use.
    pub(crate) async fn llm(&self, version: &ModelVersion) -> NodeResult<Arc<LlmModel>> {
        if let Some(model) = self.llms.lock().unwrap_or_else(|p| p.into_inner()).get(&version.id) {
            return Ok(model.clone());
        }
        // One load at a time: concurrent first requests wait for it instead of loading (and
        // writing the cached copy) again.
        let _loading = self.llm_loading.lock().await;
        if let Some(model) = self.llms.lock().unwrap_or_else(|p| p.into_inner()).get(&version.id) {
            return Ok(model.clone());
        }
        let (manifest, bytes) = self.hub.load(&version.id).await?;
        let sha = manifest.main_file().map(|f| f.sha256.clone()).unwrap_or_default();
        let dir = self.home.join("llm-cache");
        let path: PathBuf = dir.join(format!("{sha}.gguf"));
        let threads = self.llm_threads;
        let slots = self.decode_slots.clone();
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
        self.llms.lock().unwrap_or_else(|p| p.into_inner()).insert(version.id, model.clone());
        Ok(model)
    }

    /// Runs a chat or completion request: `on_text` gets each piece of final text as it is
    /// generated (returning `Break` cancels: a client that went away); the receipt covers what
    /// was generated, cancelled or not, and is logged before this returns.
    pub async fn chat(
        &self,
        request: ChatRequest,
        account: Option<Address>,
        on_text: impl FnMut(&str) -> ControlFlow<()> + Send + 'static,
    ) -> NodeResult<ChatResponse> {
        let started = std::time::Instant::now();
        request.sampling.validate()?;
        let mode = self.mode(request.mode)?;
        let version = self.resolve_model(&request.model).await?;
        if version.manifest.format != ModelFormat::Gguf {
            return Err(NodeError::NotAnLlm { model: request.model, format: version.manifest.format });
        }
        crate::infer::check_zk_format(mode, &version)?;
        if self.role == crate::NodeRole::Gateway {
            let max_tokens = u64::from(request.sampling.max_tokens);
            let (charge, _reservation) = self.reserve_payment(&version.id, account, max_tokens).await?;
            let work = crate::WorkChat {
                model: version.id.to_string(),
                input: request.input,
                sampling: request.sampling,
                logprobs: request.logprobs,
                mode,
                nonce: request.nonce,
            };
            return self.dispatch_chat(version, work, charge, on_text).await;
        }
        let attest = self.attester(mode, request.nonce.as_deref())?;
        let model = self.llm(&version).await?;
        let prompt = match &request.input {
            ChatInput::Messages(messages) => model.chat_prompt(messages)?,
            ChatInput::Prompt(prompt) => prompt.clone(),
        };
        let max_tokens = u64::from(request.sampling.max_tokens);
        let (mut charge, _reservation) = self.reserve_payment(&version.id, account, max_tokens).await?;
        let _turn = self
            .generations
            .acquire()
            .await
            .map_err(|_| NodeError::Internal("the generation queue is closed".into()))?;
        let sampling = request.sampling.clone();
        let logprobs = request.logprobs;
        let generating = model.clone();
        let prompt_for_run = prompt.clone();
        let mut generation = if self.fault == Some(crate::Fault::MadeUp) {
            crate::faults::made_up_generation(&model, &prompt)
        } else {
            tokio::task::spawn_blocking(move || generating.generate(&prompt_for_run, &sampling, logprobs, on_text))
                .await??
        };
        if let Some(fault) = self.fault {
            crate::faults::alter_generation(fault, &model, &mut generation);
        }
        // Token texts are only shown with logprobs.
        let pieces = if logprobs { generation.tokens.iter().map(|t| model.piece(*t)).collect() } else { Vec::new() };
        // Charged for the tokens produced, not the most that were allowed.
        charge.fee = charge.fee.min(self.price_for(&version.id, generation.tokens.len() as u64).await?);

        let mut input = Values::new();
        let messages = request.input.messages_json();
        input.insert("messages".into(), string_tensor("messages", messages)?);
        input.insert("prompt".into(), string_tensor("prompt", prompt)?);
        let mut output = Values::new();
        output.insert("text".into(), string_tensor("text", generation.text.clone())?);
        let tokens: Vec<i64> = generation.tokens.iter().map(|t| i64::from(*t)).collect();
        output.insert(
            "tokens".into(),
            Value::Tensor(Tensor::new("tokens", vec![tokens.len() as u64], TensorData::Int64(tokens))?),
        );
        let params = llm_params(&request.sampling, self.llm_threads, generation.finish_reason);
        let answer = Answer {
            model_id: version.id,
            model_name: version.name.clone(),
            model_version: version.version,
            manifest: version.manifest.to_json(),
            mode,
            timestamp: now_seconds(),
            input,
            output,
            params,
            request_id: None,
            zk_proof: None,
        };
        let (key, claims, domain) = (self.key.clone(), self.claims.clone(), self.domain);
        let queue = if self.role == crate::NodeRole::Inference { Queue::Record } else { Queue::Paid(charge) };
        let receipt =
            tokio::task::spawn_blocking(move || sign_and_log(&key, &claims, domain, answer, attest, queue, started))
                .await??;
        self.metrics.claims_logged.inc();
        self.verification.wake.notify_one();
        Ok(ChatResponse { model: version, generation, pieces, receipt })
    }
}

/// The receipt's parameters of a generation.
fn llm_params(sampling: &SamplingParams, threads: usize, finish: FinishReason) -> Params {
    Params(BTreeMap::from([
        ("engine".to_owned(), ENGINE.into()),
        ("threads".to_owned(), threads.into()),
        ("temperature".to_owned(), f64::from(sampling.temperature).into()),
        ("top_p".to_owned(), f64::from(sampling.top_p).into()),
        ("top_k".to_owned(), sampling.top_k.into()),
        ("seed".to_owned(), sampling.seed.into()),
        ("max_tokens".to_owned(), sampling.max_tokens.into()),
        ("stop".to_owned(), sampling.stop.clone().into()),
        ("finish_reason".to_owned(), serde_json::to_value(finish).unwrap_or_default()),
    ]))
}

/// A receipt id as OpenAI-style completion id.
pub fn completion_id(receipt: &B256) -> String {
    format!("chatcmpl-{}", alloy_primitives::hex::encode(&receipt[..12]))
}
