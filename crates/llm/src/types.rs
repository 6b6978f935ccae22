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
    /// How an embedding model pools its tokens into one vector (`mean`, `cls`, `last`); absent
    /// for a language model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<String>,
    /// The width of its hidden states (an embedding model's vector length).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_length: Option<u64>,
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
    /// For each token, the most likely alternatives at its position (token, log-probability),
    /// most likely first, when asked for (`top_logprobs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_logprobs: Vec<Vec<(u32, f64)>>,
}

/// A constraint on what may be generated: a llama.cpp grammar (GBNF) whose root rule is `root`.
/// With a `trigger`, the grammar is lazy: text is free until the trigger appears, and from the
/// trigger on it must follow the grammar (a tool call inside free text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grammar {
    /// The grammar, in llama.cpp's GBNF.
    pub gbnf: String,
    /// The text that starts the constrained part, for a lazy grammar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
}

/// What a generation is asked for beyond its sampling parameters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Extras {
    /// Record each token's log-probability.
    pub logprobs: bool,
    /// How many of the most likely alternatives to record at each position (0 to 20).
    pub top_logprobs: u8,
    /// The grammar every generated token must follow.
    pub grammar: Option<Grammar>,
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
    /// and inside the top-p nucleus of what top-k left, at the raw logits (llama.cpp's order).
    pub consistent: bool,
    /// Whether it is consistent, or would be with logits moved by at most
    /// [`LOGPROB_TOLERANCE`](crate::LOGPROB_TOLERANCE) (a near-tie under greedy, just outside
    /// the nucleus or the top-k): what batch shape does to an honest token. A token that is not
    /// even near was not sampled with these parameters.
    #[serde(default = "allowed")]
    pub near: bool,
    /// Whether the request's grammar allowed it (always, without a grammar).
    #[serde(default = "allowed")]
    pub allowed: bool,
}

fn allowed() -> bool {
    true
}

/// How a model's decode loop is sized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchOptions {
    /// llama.cpp threads.
    pub threads: usize,
    /// Sequences decoded together at most.
    pub sequences: usize,
    /// KV cache cells shared by all sequences (tokens of prompt and answer together).
    pub context: usize,
}
