//! veritas llm: GGUF language models on llama.cpp (through `llama-cpp-2`): inspection of an
//! upload, generation with seeded sampling, and teacher-forced scoring of a claimed completion.
//!
//! Determinism: the same prompt, sampling parameters (seed included), engine build and thread
//! count give the same tokens: the prompt is decoded in fixed chunks, then one token per
//! decode, and the sampler is `llama.cpp`'s seeded chain.

mod chat;
mod engine;
mod error;
mod sampling;
mod text;

pub use chat::{ChatMessage, ROLES, render_chat};
pub use engine::{FinishReason, Generation, GgufInfo, LlmModel, TokenScore, inspect_gguf};
pub use error::{LlmError, LlmResult};
pub use sampling::SamplingParams;
