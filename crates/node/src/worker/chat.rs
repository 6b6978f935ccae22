//! Chat and completions with language models: the prompt (from the model's own chat template),
//! generation on llama.cpp, and a signed receipt for what was generated.
//!
//! The receipt's input is the messages (as JSON) and the rendered prompt; its output the text
//! and the token ids; its parameters the sampling parameters with the engine and thread count,
//! which together make a generation reproducible.

use std::{collections::BTreeMap, ops::ControlFlow, time::Instant};

use veritas_hub::{ModelFormat, ModelVersion};
use veritas_llm::{Constraint, Extras, FinishReason, SamplingParams};
use veritas_primitives::{B256, Mode, Params, Receipt, Tensor, TensorData, Value, Values};
use veritas_wire::{ChatInput, WorkChat};

use super::Worker;
use crate::{
    NodeError, NodeResult,
    claims::{Answer, Queue, sign_and_log},
    core::now_seconds,
    protocol::check_zk_format,
};

/// A chat request, checked: what to complete and how.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatJob {
    /// The conversation or prompt.
    pub input: ChatInput,
    /// Sampling.
    pub sampling: SamplingParams,
    /// Whether to record each token's log-probability.
    pub logprobs: bool,
    /// The verification mode.
    pub mode: Mode,
    /// A `tee` request's nonce (hex, at most 64 bytes), bound into the attestation.
    pub nonce: Option<String>,
    /// How many of the most likely alternatives to record at each position.
    pub top_logprobs: u8,
    /// Tools and structured output.
    pub constraint: Constraint,
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
    /// The pieces of each position's most likely alternatives, when asked for (else empty).
    pub top_pieces: Vec<Vec<String>>,
    /// The receipt (logged before this returns).
    pub receipt: Receipt,
    /// A confidential request's answer, sealed to the client; the generation then holds no text,
    /// tokens or log-probabilities.
    pub sealed: Option<veritas_wire::SealedAnswer>,
}

/// What gets each piece of text as it is generated.
type OnText = Box<dyn FnMut(&str) -> ControlFlow<()> + Send>;

pub use veritas_llm::ENGINE;

fn string_tensor(name: &str, text: String) -> NodeResult<Value> {
    Ok(Value::Tensor(Tensor::new(name, vec![1], TensorData::String(vec![text]))?))
}

impl Worker {
    /// Runs a gateway's chat request (`POST /v1/work/chat` on an inference node): `on_text`
    /// gets each piece of final text as it is generated; the receipt is recorded before this
    /// returns, and the gateway queues and charges it.
    pub async fn work_chat(
        &self,
        work: WorkChat,
        on_text: impl FnMut(&str) -> ControlFlow<()> + Send + 'static,
    ) -> NodeResult<ChatResponse> {
        work.sampling.validate()?;
        let mode = self.core.offer.mode(Some(work.mode))?;
        let version = self.core.resolve_model(&work.model).await?;
        if version.manifest.format != ModelFormat::Gguf {
            return Err(NodeError::NotAnLlm { model: work.model, format: version.manifest.format });
        }
        if version.manifest.is_embedding() {
            return Err(NodeError::EmbeddingModel(work.model));
        }
        check_zk_format(mode, &version)?;
        let job = ChatJob {
            input: work.input,
            sampling: work.sampling,
            logprobs: work.logprobs,
            mode,
            nonce: work.nonce,
            top_logprobs: work.top_logprobs,
            constraint: work.constraint.unwrap_or_default(),
        };
        self.chat(version, job, Queue::Record, on_text).await
    }

    /// Runs a chat or completion request: `on_text` gets each piece of final text as it is
    /// generated (returning `Break` cancels: a client that went away); the receipt covers what
    /// was generated, cancelled or not, and is logged as `queue` says before this returns.
    pub(crate) async fn chat(
        &self,
        version: ModelVersion,
        job: ChatJob,
        queue: Queue,
        on_text: impl FnMut(&str) -> ControlFlow<()> + Send + 'static,
    ) -> NodeResult<ChatResponse> {
        let started = Instant::now();
        let core = &self.core;
        let (input, attest, sealer) = match job.input.clone() {
            ChatInput::Sealed(sealed) => {
                if job.logprobs {
                    return Err(NodeError::Confidential(
                        "log-probabilities are not offered on a confidential request".into(),
                    ));
                }
                let opened = self.open_sealed(&sealed, &version.id)?;
                let input: ChatInput = serde_json::from_value(opened.input)
                    .ok()
                    .filter(|input| !matches!(input, ChatInput::Sealed(_)))
                    .ok_or_else(|| {
                        NodeError::Confidential(
                            "the sealed input is not `{\"messages\": […]}` or `{\"prompt\": \"…\"}`".into(),
                        )
                    })?;
                (input, Some(opened.attest), Some(std::sync::Arc::new(std::sync::Mutex::new(opened.sealer))))
            }
            input => (input, self.attester(job.mode, job.nonce.as_deref())?, None),
        };
        let model = core.llm(&version).await?;
        let constraint = &job.constraint;
        let prompt = match &input {
            ChatInput::Messages(messages) => model.chat_prompt(messages, constraint)?,
            ChatInput::Prompt(_) if !constraint.tools_in_play().is_empty() => {
                return Err(veritas_llm::LlmError::InvalidMessages(
                    "tools need a conversation (messages), not a raw prompt".into(),
                )
                .into());
            }
            ChatInput::Prompt(prompt) => prompt.clone(),
            ChatInput::Sealed(_) => unreachable!("opened above"),
        };
        let grammar = {
            let constraint = constraint.clone();
            tokio::task::spawn_blocking(move || constraint.grammar()).await??
        };
        // A confidential answer streams sealed: the response nonce first, then each piece.
        let on_text: OnText = match &sealer {
            None => Box::new(on_text),
            Some(sealer) => {
                let (sealer, mut on_text, mut opened) = (sealer.clone(), on_text, false);
                Box::new(move |text: &str| {
                    let mut sealer = sealer.lock().unwrap_or_else(|p| p.into_inner());
                    if !std::mem::replace(&mut opened, true) && on_text(&sealer.opening_piece()).is_break() {
                        return ControlFlow::Break(());
                    }
                    let piece = sealer.piece(text);
                    on_text(&piece)
                })
            }
        };
        let _turn = self.generations.enter().await?;
        let sampling = job.sampling.clone();
        let extras = Extras { logprobs: job.logprobs, top_logprobs: job.top_logprobs, grammar };
        let (generating, prompt_for_run) = (model.clone(), prompt.clone());
        let mut generation = match self.fault {
            None => {
                tokio::task::spawn_blocking(move || generating.generate(&prompt_for_run, &sampling, &extras, on_text))
                    .await??
            }
            Some(fault) => {
                let model = model.clone();
                tokio::task::spawn_blocking(move || {
                    super::faults::lie(fault, &model, &prompt_for_run, &sampling, &extras, on_text)
                })
                .await??
            }
        };
        // Token texts are only shown with logprobs.
        let pieces =
            if job.logprobs { generation.tokens.iter().map(|t| model.piece(*t)).collect() } else { Vec::new() };
        let top_pieces = generation
            .top_logprobs
            .iter()
            .map(|top| top.iter().map(|(token, _)| model.piece(*token)).collect())
            .collect();

        let mut input_values = Values::new();
        input_values.insert("messages".into(), string_tensor("messages", input.messages_json())?);
        input_values.insert("prompt".into(), string_tensor("prompt", prompt)?);
        let mut output = Values::new();
        output.insert("text".into(), string_tensor("text", generation.text.clone())?);
        let tokens: Vec<i64> = generation.tokens.iter().map(|t| i64::from(*t)).collect();
        output.insert(
            "tokens".into(),
            Value::Tensor(Tensor::new("tokens", vec![tokens.len() as u64], TensorData::Int64(tokens))?),
        );
        // Charged for the tokens produced, not the most that were allowed.
        let produced = generation.tokens.len() as u64;
        let mut params = llm_params(&job.sampling, core.engines.llm_threads, generation.finish_reason, constraint);
        let (mut commitments, mut sealed) = (None, None);
        if let Some(sealer) = &sealer {
            let sealer = sealer.lock().unwrap_or_else(|p| p.into_inner());
            params = super::confidential::confidential_params(params, Some(produced));
            commitments = Some(sealer.commitments(&input_values, &output));
            sealed = Some(sealer.finish(input_values.clone(), output.clone())?);
            // Nothing of the answer leaves the enclave but sealed.
            generation.text.clear();
            generation.tokens.clear();
            generation.logprobs.clear();
            generation.top_logprobs.clear();
        }
        let answer = Answer {
            model_id: version.id,
            model_name: version.name.clone(),
            model_version: version.version,
            manifest: version.manifest.to_json(),
            mode: job.mode,
            timestamp: now_seconds(),
            input: input_values,
            output,
            params,
            request_id: None,
            zk_proof: None,
            commitments,
        };
        let signer = core.signer();
        let receipt =
            tokio::task::spawn_blocking(move || sign_and_log(&signer, answer, attest, queue, produced, started))
                .await??;
        core.claim_logged();
        let top_pieces = if sealed.is_some() { Vec::new() } else { top_pieces };
        Ok(ChatResponse { model: version, generation, pieces, top_pieces, receipt, sealed })
    }
}

/// The receipt's parameters of a generation: the sampling, the engine, why it ended and, when
/// tools or a response format shaped it, the constraint (`constraint`) the validators enforce.
fn llm_params(sampling: &SamplingParams, threads: usize, finish: FinishReason, constraint: &Constraint) -> Params {
    let mut params = BTreeMap::from([
        ("engine".to_owned(), ENGINE.into()),
        ("threads".to_owned(), threads.into()),
        ("temperature".to_owned(), f64::from(sampling.temperature).into()),
        ("top_p".to_owned(), f64::from(sampling.top_p).into()),
        ("top_k".to_owned(), sampling.top_k.into()),
        ("seed".to_owned(), sampling.seed.into()),
        ("max_tokens".to_owned(), sampling.max_tokens.into()),
        ("stop".to_owned(), sampling.stop.clone().into()),
        ("finish_reason".to_owned(), serde_json::to_value(finish).unwrap_or_default()),
    ]);
    if !constraint.is_empty() {
        params.insert("constraint".to_owned(), serde_json::to_value(constraint).unwrap_or_default());
    }
    Params(params)
}

/// A receipt id as OpenAI-style completion id.
pub fn completion_id(receipt: &B256) -> String {
    format!("chatcmpl-{}", alloy_primitives::hex::encode(&receipt[..12]))
}
