//! The error type of the llm crate.

/// What went wrong with a language model or a request to it.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The file does not start with the GGUF magic.
    #[error("not a GGUF file (it does not start with the bytes `GGUF`)")]
    NotGguf,
    /// A GGUF file whose header cannot be read.
    #[error("malformed GGUF file: {0}")]
    Malformed(String),
    /// A GGUF of an architecture llama.cpp cannot run.
    #[error("unsupported model architecture `{architecture}`: llama.cpp cannot load it ({reason})")]
    UnsupportedArchitecture {
        /// `general.architecture` from the file.
        architecture: String,
        /// What llama.cpp said.
        reason: String,
    },
    /// A prompt that does not fit the context with room for one generated token.
    #[error(
        "the prompt is {prompt_tokens} tokens but the model's context holds {context} (one more is needed to answer)"
    )]
    PromptTooLong {
        /// The prompt's length in tokens.
        prompt_tokens: usize,
        /// The context size.
        context: usize,
    },
    /// A conversation that cannot be rendered; the message says why.
    #[error("invalid messages: {0}")]
    InvalidMessages(String),
    /// A sampling parameter out of its range; the message names it.
    #[error("invalid sampling parameter: {0}")]
    InvalidSampling(String),
    /// A structured-output or tool constraint that cannot be turned into a grammar; the message
    /// says why.
    #[error("invalid constraint: {0}")]
    InvalidGrammar(String),
    /// llama.cpp failed.
    #[error("llama.cpp: {0}")]
    Engine(String),
    /// Reading the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result alias of the llm crate.
pub type LlmResult<T> = Result<T, LlmError>;

#[cfg(feature = "engine")]
pub(crate) fn engine<E: std::fmt::Display>(err: E) -> LlmError {
    LlmError::Engine(err.to_string())
}
