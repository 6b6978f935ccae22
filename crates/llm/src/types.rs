//! What generation and inspection give, as plain values: a GGUF file's facts, a finished
//! generation and why it ended, a claimed token's score. They cross the wire and the receipt,
//! so they are here without the engine (the `engine` feature).

use serde::{Deserialize, Serialize};

/// What a GGUF file says about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GgufInfo {
    /// `general.architecture` (e.g. `llama`).
    pub architecture: String,
    /// `general.name`, if present.
    pub name: Option<String>,
    /// The context length it was trained with (`<arch>.context_length`).
    pub context_length: Option<u64>,
    /// `tokenizer.chat_template` (Jinja), if present.
    pub chat_template: Option<String>,
    /// How many tensors it holds.
    pub tensors: u64,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn or a stop sequence came.
    Stop,
    /// `max_tokens` were generated, or the context is full.
    Length,
    /// The caller stopped it (a client that went away).
    Cancelled,
}

/// A finished generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// The text (cut before a stop sequence).
    pub text: String,
    /// The generated tokens, the end-of-turn token excluded.
    pub tokens: Vec<u32>,
    /// The prompt's length in tokens.
    pub prompt_tokens: usize,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// Each token's log-probability at generation time, when asked for.
    pub logprobs: Vec<f64>,
}

/// One completion token scored against the model's distribution at its position.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenScore {
    /// The token.
    pub token: u32,
    /// Its log-probability under the raw logits (before temperature and truncation).
    pub logprob: f64,
    /// 1 for the most likely token.
    pub rank: u32,
    /// Whether the sampler could have picked it: rank 1 when greedy; otherwise within top-k
    /// and inside the top-p nucleus of the temperature-scaled distribution.
    pub consistent: bool,
}
