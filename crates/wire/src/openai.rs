//! The OpenAI-compatible endpoints' bodies (`POST /v1/chat/completions`, `POST
//! /v1/completions`), in OpenAI's shapes, with the extensions `top_k`, `veritas_mode` and
//! `veritas_nonce`, and every answer's receipt under `veritas` (in the last chunk when
//! streaming). Unknown parameters are kept so that the server can refuse them by name.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use veritas_llm::ChatMessage;
use veritas_primitives::{B256, Mode, ModelId, Receipt};

/// `POST /v1/chat/completions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// The conversation, rendered with the model's own chat template.
    /// Empty when `veritas_sealed` carries them.
    #[schema(value_type = Vec<crate::schema::Message>)]
    #[serde(default)]
    pub messages: Vec<ChatMessage>,
    /// Whether to return each generated token's log-probability.
    #[serde(default)]
    pub logprobs: bool,
    /// With `logprobs`, how many of the most likely alternatives to return at each position
    /// (0 to 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_logprobs: Option<u32>,
    /// Functions the model may call (`{"type": "function", "function": {"name", "description",
    /// "parameters"}}`); their calls come back in `tool_calls`, their arguments always
    /// matching the function's JSON Schema.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub tools: Vec<veritas_llm::Tool>,
    /// `none`, `auto` (the default), `required`, or `{"type": "function", "function": {"name"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub tool_choice: Option<veritas_llm::ToolChoice>,
    /// Whether several calls may come in one answer (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// `{"type": "text"}`, `{"type": "json_object"}` or `{"type": "json_schema", "json_schema":
    /// {"name", "schema", "strict"}}`: the answer is then JSON that matches, enforced by
    /// grammar-constrained sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub response_format: Option<veritas_llm::ResponseFormat>,
    /// What both endpoints take.
    #[serde(flatten)]
    pub options: CompletionOptions,
}

impl ChatCompletionRequest {
    /// What shapes the answer: tools and response format, as asked.
    pub fn constraint(&self) -> veritas_llm::Constraint {
        veritas_llm::Constraint {
            tools: self.tools.clone(),
            tool_choice: self.tool_choice.clone().unwrap_or_default(),
            parallel_tool_calls: self.parallel_tool_calls.unwrap_or(true),
            response_format: self.response_format.clone(),
        }
    }
}

/// `POST /v1/completions`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompletionRequest {
    /// The prompt, used as it is.
    pub prompt: String,
    /// Whether to return log-probabilities (any number: each token's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logprobs: Option<u32>,
    /// What both endpoints take.
    #[serde(flatten)]
    pub options: CompletionOptions,
}

/// What both endpoints take.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CompletionOptions {
    /// The model: a name, `name@version` or a model id.
    pub model: String,
    /// Softmax temperature (default 1; 0 is greedy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// Nucleus sampling (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// An extension: only the `top_k` most likely tokens (default 0: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// An extension: the verification mode (`signed`, `reexec` or, on a network with an enclave,
    /// `tee`); the network's default if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Mode>)]
    pub veritas_mode: Option<Mode>,
    /// An extension: a `tee` request's nonce (hex, at most 64 bytes), bound into the attestation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veritas_nonce: Option<String>,
    /// An extension: a confidential request, its messages (or prompt) sealed to an enclave's
    /// attested key (docs/tee.md, "Confidential requests"); `messages` is then empty, the mode
    /// `tee`, and the answer's text comes sealed: each streamed `content` is one sealed chunk
    /// (hex), the first the response nonce, and `veritas.sealed` the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veritas_sealed: Option<crate::SealedRequest>,
    /// The sampler's seed (0 to 2^32 − 1); a fresh one, recorded in the receipt, if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// The most tokens to generate (default 512).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The same, under its newer name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_completion_tokens: Option<u32>,
    /// Generation stops before the first of these (one string or up to four).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop: Option<Stop>,
    /// Server-sent events instead of one answer.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_options: Option<StreamOptions>,
    /// Only 1 is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Only 0 is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f32>,
    /// Only 0 is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f32>,
    /// Accepted and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Anything else: refused by name.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// `stop`: one string or a list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Stop {
    /// One stop sequence.
    One(String),
    /// Several.
    Many(Vec<String>),
}

impl Stop {
    /// The stop sequences.
    pub fn sequences(&self) -> Vec<String> {
        match self {
            Stop::One(one) => vec![one.clone()],
            Stop::Many(many) => many.clone(),
        }
    }
}

/// Streaming options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StreamOptions {
    /// Send a last chunk with the usage.
    #[serde(default)]
    pub include_usage: bool,
}

/// Tokens in and out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// The prompt's tokens.
    pub prompt_tokens: usize,
    /// The generated tokens.
    pub completion_tokens: usize,
    /// Both.
    pub total_tokens: usize,
}

/// The receipt of an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VeritasReceipt {
    /// The receipt's id.
    #[schema(value_type = crate::schema::Hash32)]
    pub receipt_id: B256,
    /// The model version that ran.
    #[schema(value_type = crate::schema::ModelId)]
    pub model_id: ModelId,
    /// The receipt, logged before the answer was sent.
    #[schema(value_type = crate::schema::Receipt)]
    pub receipt: Receipt,
    /// A confidential request's answer, sealed to the client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<crate::SealedAnswer>,
}

/// A chat answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-` and the receipt id's first 12 bytes.
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model's name.
    pub model: String,
    /// The one choice.
    pub choices: Vec<ChatChoice>,
    /// Tokens in and out.
    pub usage: Usage,
    /// The receipt.
    pub veritas: VeritasReceipt,
}

/// A chat answer's choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatChoice {
    /// Always 0.
    pub index: u32,
    /// The assistant's message.
    pub message: AssistantMessage,
    /// `stop` or `length`.
    pub finish_reason: String,
    /// Each token's log-probability, when asked for.
    pub logprobs: Option<ChatLogprobs>,
}

/// The assistant's message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssistantMessage {
    /// `assistant`.
    pub role: String,
    /// The text (null when the answer is only tool calls).
    pub content: Option<String>,
    /// The tools it calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub tool_calls: Vec<veritas_llm::ToolCall>,
}

/// A chat answer's log-probabilities.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatLogprobs {
    /// One per generated token.
    pub content: Vec<TokenLogprob>,
}

/// One generated token's log-probability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TokenLogprob {
    /// The token's text.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
    /// The text's UTF-8 bytes.
    pub bytes: Vec<u8>,
    /// The most likely tokens at this position, most likely first (`top_logprobs` of them).
    pub top_logprobs: Vec<TopLogprob>,
}

/// One of the most likely tokens at a position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TopLogprob {
    /// The token's text.
    pub token: String,
    /// Its log-probability.
    pub logprob: f64,
    /// The text's UTF-8 bytes.
    pub bytes: Vec<u8>,
}

/// A completion answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextCompletion {
    /// `chatcmpl-` and the receipt id's first 12 bytes.
    pub id: String,
    /// `text_completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model's name.
    pub model: String,
    /// The one choice.
    pub choices: Vec<TextChoice>,
    /// Tokens in and out.
    pub usage: Usage,
    /// The receipt.
    pub veritas: VeritasReceipt,
}

/// A completion answer's choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextChoice {
    /// Always 0.
    pub index: u32,
    /// The text.
    pub text: String,
    /// `stop` or `length`.
    pub finish_reason: String,
    /// Each token's log-probability, when asked for.
    pub logprobs: Option<TextLogprobs>,
}

/// A completion's log-probabilities, in the legacy shape.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextLogprobs {
    /// The tokens' texts.
    pub tokens: Vec<String>,
    /// Their log-probabilities.
    pub token_logprobs: Vec<f64>,
    /// Always null (not supported).
    #[schema(value_type = Option<Object>)]
    pub top_logprobs: Option<serde_json::Value>,
    /// Always null (not supported).
    #[schema(value_type = Option<Object>)]
    pub text_offset: Option<serde_json::Value>,
}

/// One server-sent event of a streamed chat answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatChunk {
    /// The stream's id.
    pub id: String,
    /// `chat.completion.chunk`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model as asked for.
    pub model: String,
    /// The one choice (none in the usage chunk).
    pub choices: Vec<ChunkChoice>,
    /// Tokens in and out (the usage chunk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The receipt (the last chunk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veritas: Option<VeritasReceipt>,
}

/// A streamed chat answer's choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChunkChoice {
    /// Always 0.
    pub index: u32,
    /// What this chunk adds.
    pub delta: Delta,
    /// Null until the last chunk.
    pub finish_reason: Option<String>,
    /// In the last chunk, when asked for.
    pub logprobs: Option<ChatLogprobs>,
}

/// What a chunk adds to the message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Delta {
    /// `assistant`, in the first chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// A piece of text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// Tool calls, each in two chunks: its id, type and name, then its arguments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

/// A piece of a streamed tool call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ToolCallDelta {
    /// The call's place in the answer.
    pub index: usize,
    /// Its id (first chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function` (first chunk).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The function's name and a piece of its arguments.
    pub function: FunctionDelta,
}

/// A piece of a streamed function call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct FunctionDelta {
    /// The name (first chunk).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A piece of the arguments' JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

/// One server-sent event of a streamed completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextChunk {
    /// The stream's id.
    pub id: String,
    /// `text_completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model as asked for.
    pub model: String,
    /// The one choice (none in the usage chunk).
    pub choices: Vec<TextChunkChoice>,
    /// Tokens in and out (the usage chunk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The receipt (the last chunk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veritas: Option<VeritasReceipt>,
}

/// A streamed completion's choice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TextChunkChoice {
    /// Always 0.
    pub index: u32,
    /// A piece of text (empty in the last chunk).
    pub text: String,
    /// Null until the last chunk.
    pub finish_reason: Option<String>,
    /// In the last chunk, when asked for.
    pub logprobs: Option<TextLogprobs>,
}

/// `POST /v1/embeddings`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingRequest {
    /// The embedding model: a name, `name@version` or a model id.
    pub model: String,
    /// One text or a list of texts (at most 2048).
    pub input: EmbeddingInput,
    /// `float` (the default) or `base64` (each vector's little-endian f32 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    /// The vectors' length: only the model's own is supported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    /// Accepted and not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// An extension: the verification mode; the network's default if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::schema::Mode>)]
    pub veritas_mode: Option<Mode>,
    /// An extension: a `tee` request's nonce (hex, at most 64 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veritas_nonce: Option<String>,
    /// Anything else: refused by name.
    #[serde(flatten)]
    #[schema(ignore)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

/// `input`: one text, texts, or token ids (refused: texts only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum EmbeddingInput {
    /// One text.
    One(String),
    /// Several.
    Many(Vec<String>),
    /// Token ids, one list or several (not supported).
    #[schema(value_type = Object)]
    Tokens(serde_json::Value),
}

/// The embeddings of a request's texts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingResponse {
    /// `list`.
    pub object: String,
    /// One per text, in order.
    pub data: Vec<Embedding>,
    /// The model's name.
    pub model: String,
    /// Tokens read.
    pub usage: EmbeddingUsage,
    /// The receipt.
    pub veritas: VeritasReceipt,
}

/// One text's embedding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Embedding {
    /// `embedding`.
    pub object: String,
    /// The text's place in the request.
    pub index: usize,
    /// The vector (L2-normalised): numbers, or base64 of its little-endian f32 bytes.
    #[schema(value_type = Object)]
    pub embedding: serde_json::Value,
}

/// Tokens an embedding request read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EmbeddingUsage {
    /// The texts' tokens.
    pub prompt_tokens: usize,
    /// The same.
    pub total_tokens: usize,
}
