//! Inference, chat and verification as they cross the wire: a client's or a gateway's request
//! to run a model, a gateway's chat request to an inference node and its streamed answer, a
//! validator's judgement and batch signature.

use alloy_primitives::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use veritas_hub::ModelVersion;
use veritas_llm::{ChatMessage, Generation, SamplingParams};
use veritas_primitives::{Address, B256, Mode, Receipt, Values, Verdict};

/// A request to run a model (`POST /v1/infer`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InferRequest {
    /// The model: `name`, `name@version` or a model id.
    pub model: String,
    /// Named inputs: nested arrays typed by the model's schema, or `{"dtype","shape","data"}`.
    #[schema(value_type = crate::schema::Values)]
    pub input: serde_json::Value,
    /// The verification mode; the node's default (`signed`, or what it was started with) if
    /// absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Mode>)]
    pub mode: Option<Mode>,
    /// The request id the claim carries; a fresh one if absent. A contract's request is
    /// answered with its on-chain id, which `fulfill` checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Hash32>)]
    pub request_id: Option<B256>,
    /// A `tee` request's nonce (hex, at most 64 bytes), bound into the attestation with the
    /// claim so that the client knows the evidence was made for its request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// A confidential request: the inputs sealed to an enclave's attested key (docs/tee.md);
    /// then `input` is `null`, the mode `tee`, and the answer's outputs are sealed too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<crate::SealedRequest>,
}

/// The answer to an inference request.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct InferResponse {
    /// The receipt's id (also in the `X-Veritas-Receipt` header).
    #[schema(value_type = crate::schema::Hash32)]
    pub receipt_id: B256,
    /// The model that ran.
    #[schema(value_type = crate::schema::ModelVersion)]
    pub model: ModelVersion,
    /// The outputs (empty for a confidential request: they are in `sealed`).
    #[schema(value_type = crate::schema::Values)]
    pub output: Values,
    /// The receipt, with the inputs, outputs and manifest it covers (a confidential one carries
    /// only their commitments).
    #[schema(value_type = crate::schema::Receipt)]
    pub receipt: Receipt,
    /// A confidential request's answer, sealed to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<crate::SealedAnswer>,
}

/// What to complete: a conversation, or a raw prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatInput {
    /// Messages, rendered with the model's chat template.
    Messages(Vec<ChatMessage>),
    /// A prompt used as it is.
    Prompt(String),
    /// Messages or a prompt sealed to an enclave's key: a confidential request.
    Sealed(crate::SealedRequest),
}

impl ChatInput {
    /// The messages as the receipt records them (JSON); empty for a raw prompt.
    pub fn messages_json(&self) -> String {
        match self {
            ChatInput::Messages(messages) => serde_json::to_string(messages).unwrap_or_default(),
            ChatInput::Prompt(_) | ChatInput::Sealed(_) => String::new(),
        }
    }

    /// The raw prompt, if this is one.
    pub fn prompt(&self) -> Option<&str> {
        match self {
            ChatInput::Messages(_) | ChatInput::Sealed(_) => None,
            ChatInput::Prompt(prompt) => Some(prompt),
        }
    }
}

/// A chat request as a gateway sends it to an inference node (`POST /v1/work/chat`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkChat {
    /// The model id (a gateway resolves names first).
    pub model: String,
    /// The conversation or prompt: `{"messages": [{"role", "content"}, …]}` or `{"prompt": "…"}`.
    #[schema(value_type = Object)]
    pub input: ChatInput,
    /// Sampling: `{"temperature", "top_p", "top_k", "seed", "max_tokens", "stop"}`.
    #[schema(value_type = Object)]
    pub sampling: SamplingParams,
    /// Whether to record log-probabilities.
    pub logprobs: bool,
    /// The claim's mode.
    #[schema(value_type = crate::schema::Mode)]
    pub mode: Mode,
    /// A `tee` request's nonce, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// How many of the most likely alternatives to record at each position (0 to 20).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub top_logprobs: u8,
    /// Tools and structured output: what shapes the answer (recorded in the receipt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub constraint: Option<veritas_llm::Constraint>,
}

fn is_zero(value: &u8) -> bool {
    *value == 0
}

/// One line of an inference node's streamed chat answer (newline-delimited JSON).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum WorkChatEvent {
    /// A piece of final text.
    Text(String),
    /// The finished generation with its receipt.
    Done(Box<WorkChatDone>),
    /// The generation failed.
    Error(String),
}

/// The end of a streamed chat answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkChatDone {
    /// The generation: `{"text", "tokens", "prompt_tokens", "finish_reason", "logprobs"}`.
    #[schema(value_type = Object)]
    pub generation: Generation,
    /// Token pieces (with logprobs only).
    pub pieces: Vec<String>,
    /// The pieces of each position's most likely alternatives (with top_logprobs only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_pieces: Vec<Vec<String>>,
    /// The signed receipt.
    #[schema(value_type = crate::schema::Receipt)]
    pub receipt: Receipt,
    /// A confidential request's answer, sealed to the client (the generation then holds no text
    /// or tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<crate::SealedAnswer>,
}

/// How a validator checks a claim: the primitives' [`veritas_primitives::Check`], which the
/// signed verdict names.
pub use veritas_primitives::Check as CheckMode;

/// A validator's judgement of a claim (`POST /v1/verdicts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Judgement {
    /// The claim judged.
    #[schema(value_type = crate::schema::Hash32)]
    pub receipt_id: B256,
    /// Whether the claim holds.
    pub valid: bool,
    /// How it was checked (the verdict signs it too).
    #[schema(value_type = crate::schema::Check)]
    pub check: CheckMode,
    /// Why, for people.
    pub reason: String,
    /// The signed verdict (EIP-712 `Verdict(claimDigest, valid, check)` in the node's domain).
    #[schema(value_type = crate::schema::Verdict)]
    pub verdict: Verdict,
}

/// The most claims one `POST /v1/verdicts/batch` carries.
pub const MAX_JUDGE_BATCH: usize = 128;

/// Claims for a validator to judge at once (`POST /v1/verdicts/batch`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JudgeMany {
    /// The receipts, at most [`MAX_JUDGE_BATCH`].
    #[schema(value_type = Vec<crate::schema::Receipt>)]
    pub receipts: Vec<Receipt>,
}

/// A validator's answer about each claim of a [`JudgeMany`], in its order.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Judgements {
    /// One per receipt asked about.
    pub answers: Vec<JudgementOrError>,
}

/// A judgement, or why there is none (the error a single `POST /v1/verdicts` would answer).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JudgementOrError {
    /// The judgement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judgement: Option<Judgement>,
    /// Why there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<crate::ErrorDetail>,
}

/// A validator's signature on a batch (`POST /v1/batches/sign`).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchSignature {
    /// The validator.
    #[schema(value_type = crate::schema::Address)]
    pub validator: Address,
    /// Its signature over the batch's EIP-712 digest.
    #[schema(value_type = crate::schema::Bytes)]
    pub signature: Bytes,
}
