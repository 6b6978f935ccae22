//! veritas llm: GGUF language models on llama.cpp (through `llama-cpp-2`): inspection of an
//! upload, generation with seeded sampling, and teacher-forced scoring of a claimed completion.
//! The engine is the `engine` feature (on by default); without it, the crate is the values that
//! cross the wire (messages, sampling parameters, generations) and chat-template rendering, and
//! needs no C++ toolchain.
//!
//! Determinism: the same prompt, sampling parameters (seed included), engine build and thread
//! count give the same tokens: the prompt is decoded in fixed chunks, then one token per
//! decode, and the sampler is `llama.cpp`'s seeded chain.

#[cfg(feature = "engine")]
mod batch;
mod chat;
#[cfg(feature = "engine")]
mod engine;
mod error;
mod sampling;
mod slots;
mod structured;
#[cfg(feature = "engine")]
mod text;
mod tool_calls;
mod types;

#[cfg(feature = "engine")]
pub use batch::BatchStats;
pub use chat::{ChatMessage, ROLES, render_chat};
#[cfg(feature = "engine")]
pub use engine::{EMBED_BATCH_TOKENS, LlmModel, inspect_gguf};
pub use error::{LlmError, LlmResult};
pub use sampling::SamplingParams;
pub use slots::{DecodeSlots, Slot};
pub use structured::{Constraint, Function, JsonSchema, NamedFunction, ResponseFormat, Tool, ToolChoice, ToolMode};
pub use tool_calls::{
    FunctionCall, Piece, TOOL_CALL_CLOSE, TOOL_CALL_OPEN, ToolCall, ToolStream, messages_for_template, read_tool_calls,
};
pub use types::{BatchOptions, Extras, FinishReason, Generation, GgufInfo, Grammar, TokenScore};

/// The most alternatives `top_logprobs` may ask for at each position (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: u8 = 20;

/// The engine named in every language model receipt's parameters (generations and embeddings).
pub const ENGINE: &str = "llama.cpp (llama-cpp-2 0.1.160)";

/// How far (in nats) a claimed token log-probability may be from the scored one and still
/// match, and how far logits may move before a token outside the sampler's support counts as
/// far outside it: 1.5× the largest drift measured between batched generation (16 chats
/// decoding together) and teacher-forced scoring on 320 honest generations of the default
/// model (`docs/llm.md`, `bench/RESULTS.md`).
pub const LOGPROB_TOLERANCE: f64 = 1.0;

/// The share of a completion's tokens that may fall (near) outside the sampler's support as
/// scored, beyond [`INCONSISTENT_FLOOR`], before the completion is judged inconsistent with its
/// sampling parameters: the honest rate measured under batching is 1.05%, at most 3 tokens in
/// one generation of ≤ 48.
pub const INCONSISTENT_TOLERANCE: f64 = 0.03;

/// Tokens (near) outside the support that any completion may have, however short.
pub const INCONSISTENT_FLOOR: usize = 3;

/// How far (absolute, per component of an L2-normalised vector) a validator's re-computed
/// embedding may be from the claimed one: 10× the largest difference measured between texts
/// embedded alone and packed with others (`docs/llm.md`, "Embeddings").
pub const EMBEDDING_TOLERANCE: f64 = 1e-3;
