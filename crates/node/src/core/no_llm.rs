//! Language models in a build without llama.cpp (the `llm` feature off): no model can be
//! loaded, so no [`LlmModel`] value exists, and every request that needs one (a push of a GGUF
//! file, a chat, a validator's rescoring) is refused with [`NodeError::NoLanguageModels`].

use std::{ops::ControlFlow, path::Path, sync::Arc};

use veritas_llm::{
    BatchOptions, ChatMessage, Constraint, DecodeSlots, Extras, Generation, GgufInfo, Grammar, LlmResult,
    SamplingParams, TokenScore,
};

use crate::{NodeError, NodeResult};

/// A loaded language model: none, in this build.
pub(crate) enum LlmModel {}

/// Why no language model loads in this build.
pub(crate) struct NotBuilt;

impl From<NotBuilt> for NodeError {
    fn from(_: NotBuilt) -> NodeError {
        NodeError::NoLanguageModels
    }
}

impl LlmModel {
    pub(crate) fn load_with(
        _path: &Path,
        _options: BatchOptions,
        _slots: Arc<DecodeSlots>,
    ) -> Result<LlmModel, NotBuilt> {
        Err(NotBuilt)
    }

    pub(crate) fn chat_prompt(&self, _messages: &[ChatMessage], _constraint: &Constraint) -> LlmResult<String> {
        match *self {}
    }

    pub(crate) fn embed(&self, _texts: &[String]) -> LlmResult<(Vec<Vec<f32>>, usize)> {
        match *self {}
    }

    pub(crate) fn eos(&self) -> u32 {
        match *self {}
    }

    pub(crate) fn spell(&self, _tokens: &[u32]) -> String {
        match *self {}
    }

    pub(crate) fn piece(&self, _token: u32) -> String {
        match *self {}
    }

    pub(crate) fn tokenize(&self, _text: &str) -> Vec<u32> {
        match *self {}
    }

    pub(crate) fn generate(
        &self,
        _prompt: &str,
        _params: &SamplingParams,
        _extras: &Extras,
        _on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> LlmResult<Generation> {
        match *self {}
    }

    pub(crate) fn score(
        &self,
        _prompt: &str,
        _completion: &[u32],
        _params: &SamplingParams,
        _grammar: Option<&Grammar>,
    ) -> LlmResult<Vec<TokenScore>> {
        match *self {}
    }
}

/// A GGUF upload cannot be checked without llama.cpp: refused.
pub(crate) fn inspect_gguf(_path: &Path) -> NodeResult<GgufInfo> {
    Err(NodeError::NoLanguageModels)
}
