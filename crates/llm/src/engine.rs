//! The engine: one llama.cpp backend per process, models loaded from GGUF files, a fresh
//! context per request.

use std::{io::Read, num::NonZeroU32, ops::ControlFlow, path::Path, sync::OnceLock};

use llama_cpp_2::{
    context::{LlamaContext, params::LlamaContextParams},
    gguf::GgufContext,
    llama_backend::LlamaBackend,
    llama_batch::LlamaBatch,
    model::{LlamaModel, params::LlamaModelParams},
    sampling::LlamaSampler,
    token::LlamaToken,
};

use crate::{
    FinishReason, Generation, GgufInfo, LlmError, LlmResult, SamplingParams, TokenScore, error::engine,
    text::TextStream,
};

/// Tokens decoded per llama.cpp call while reading a prompt.
const PROMPT_CHUNK: usize = 512;

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// llama.cpp's context creation is not safe to run in parallel on one model
/// (`LlamaModel::new_context`'s documentation): contexts are created one at a time.
static NEW_CONTEXT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The process's llama.cpp backend, initialised once with llama.cpp's own logging silenced.
fn backend() -> LlmResult<&'static LlamaBackend> {
    BACKEND
        .get_or_init(|| {
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
            LlamaBackend::init().map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|err| LlmError::Engine(err.clone()))
}

/// Reads a GGUF file's header and checks that llama.cpp can load its architecture (by loading
/// its vocabulary only): what a push of an LLM checks before accepting it.
pub fn inspect_gguf(path: &Path) -> LlmResult<GgufInfo> {
    let mut magic = [0u8; 4];
    let read = std::fs::File::open(path)?.read(&mut magic)?;
    if read < 4 || &magic != b"GGUF" {
        return Err(LlmError::NotGguf);
    }
    let backend = backend()?;
    let gguf = GgufContext::from_file(path).ok_or_else(|| LlmError::Malformed("its header cannot be parsed".into()))?;
    let string = |key: &str| {
        let index = gguf.find_key(key);
        (index >= 0).then(|| gguf.val_str(index).map(str::to_owned)).flatten()
    };
    let architecture =
        string("general.architecture").ok_or_else(|| LlmError::Malformed("it has no `general.architecture`".into()))?;
    let context_key = format!("{architecture}.context_length");
    let index = gguf.find_key(&context_key);
    let context_length = (index >= 0).then(|| u64::from(gguf.val_u32(index)));
    let info = GgufInfo {
        name: string("general.name"),
        chat_template: string("tokenizer.chat_template"),
        context_length,
        tensors: u64::try_from(gguf.n_tensors()).unwrap_or(0),
        architecture,
    };
    let params = LlamaModelParams::default().with_vocab_only(true);
    LlamaModel::load_from_file(backend, path, &params).map_err(|err| LlmError::UnsupportedArchitecture {
        architecture: info.architecture.clone(),
        reason: err.to_string(),
    })?;
    Ok(info)
}

/// A loaded GGUF model.
pub struct LlmModel {
    model: LlamaModel,
    info: GgufInfo,
    threads: i32,
    slots: std::sync::Arc<crate::DecodeSlots>,
}

impl LlmModel {
    /// Loads a model (after [`inspect_gguf`]) that decodes with `threads` llama.cpp threads,
    /// one decode at a time.
    pub fn load(path: &Path, threads: usize) -> LlmResult<LlmModel> {
        LlmModel::load_with_slots(path, threads, std::sync::Arc::new(crate::DecodeSlots::new(1)))
    }

    /// Loads a model whose decodes take turns in `slots`, shared with other models on the same
    /// cores.
    pub fn load_with_slots(
        path: &Path,
        threads: usize,
        slots: std::sync::Arc<crate::DecodeSlots>,
    ) -> LlmResult<LlmModel> {
        let info = inspect_gguf(path)?;
        let model = LlamaModel::load_from_file(backend()?, path, &LlamaModelParams::default()).map_err(engine)?;
        Ok(LlmModel { model, info, threads: threads.clamp(1, 256) as i32, slots })
    }

    /// What the file says about itself.
    pub fn info(&self) -> &GgufInfo {
        &self.info
    }

    /// The context the model was trained with, in tokens.
    pub fn context_length(&self) -> usize {
        self.model.n_ctx_train() as usize
    }

    /// The prompt for a conversation: the GGUF's own chat template, rendered, ending with the
    /// assistant's turn opened. A model without a template is refused.
    pub fn chat_prompt(&self, messages: &[crate::ChatMessage]) -> LlmResult<String> {
        let template = self.info.chat_template.as_deref().ok_or_else(|| {
            LlmError::InvalidMessages("this model has no chat template; use a plain completion".into())
        })?;
        let vocab = self.model.vocab();
        let piece = |token| String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned();
        crate::render_chat(template, messages, &piece(vocab.bos()), &piece(vocab.eos()))
    }

    /// The end-of-sequence token.
    pub fn eos(&self) -> u32 {
        self.model.vocab().eos().0 as u32
    }

    /// The text a sequence of tokens spells, decoded as generation decodes it: the tokens'
    /// bytes joined first, so that a character split across tokens comes out whole (only an
    /// incomplete character at the very end becomes U+FFFD).
    pub fn spell(&self, tokens: &[u32]) -> String {
        let vocab = self.model.vocab();
        let mut stream = TextStream::new(&[]);
        for token in tokens {
            stream.push(&vocab.token_to_piece(LlamaToken(*token as i32), false, None));
        }
        stream.finish();
        stream.text().to_owned()
    }

    /// A token's text (lossy for a piece of a character).
    pub fn piece(&self, token: u32) -> String {
        String::from_utf8_lossy(&self.model.vocab().token_to_piece(LlamaToken(token as i32), false, None)).into_owned()
    }

    /// Tokenizes text, special tokens (`<|im_start|>`) included, with the BOS the model asks for.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        self.model.vocab().tokenize(text.as_bytes(), true, true).into_iter().map(|t| t.0 as u32).collect()
    }

    fn context(&self, tokens: usize) -> LlmResult<LlamaContext<'_>> {
        let n_ctx = NonZeroU32::new(tokens.min(self.context_length()).max(1) as u32);
        let params = LlamaContextParams::default()
            .with_n_ctx(n_ctx)
            .with_n_batch(PROMPT_CHUNK as u32)
            .with_n_ubatch(PROMPT_CHUNK as u32)
            .with_n_threads(self.threads)
            .with_n_threads_batch(self.threads);
        let _one_at_a_time = NEW_CONTEXT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.model.new_context(backend()?, params).map_err(engine)
    }

    /// Decodes `tokens` at positions `start..` in chunks; logits are kept for the positions
    /// `want` says, and the batch indexes of the last chunk are what `get_logits_ith` takes.
    fn decode(
        &self,
        ctx: &mut LlamaContext<'_>,
        batch: &mut LlamaBatch,
        tokens: &[u32],
        start: usize,
        want: impl Fn(usize) -> bool,
    ) -> LlmResult<()> {
        for (chunk_index, chunk) in tokens.chunks(PROMPT_CHUNK).enumerate() {
            batch.clear();
            for (i, token) in chunk.iter().enumerate() {
                let position = start + chunk_index * PROMPT_CHUNK + i;
                batch.add(LlamaToken(*token as i32), position as i32, &[0], want(position)).map_err(engine)?;
            }
            let _turn = self.slots.acquire();
            ctx.decode(batch).map_err(engine)?;
        }
        Ok(())
    }

    /// Generates a completion of `prompt` (already in the model's chat format, if any),
    /// calling `on_text` with each piece of final text; `on_text` returning
    /// `ControlFlow::Break` cancels. With `logprobs`, each token's log-probability under the
    /// raw logits at generation time is recorded (it costs a pass over the vocabulary a token).
    pub fn generate(
        &self,
        prompt: &str,
        params: &SamplingParams,
        logprobs: bool,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> LlmResult<Generation> {
        params.validate()?;
        let prompt_tokens = self.tokenize(prompt);
        let context = self.context_length();
        if prompt_tokens.is_empty() || prompt_tokens.len() >= context {
            return Err(LlmError::PromptTooLong { prompt_tokens: prompt_tokens.len(), context });
        }
        let budget = (params.max_tokens as usize).min(context - prompt_tokens.len());
        let mut ctx = self.context(prompt_tokens.len() + budget)?;
        let mut batch = LlamaBatch::new(PROMPT_CHUNK, 1);
        let last = prompt_tokens.len() - 1;
        self.decode(&mut ctx, &mut batch, &prompt_tokens, 0, |position| position == last)?;
        let mut sampler = sampler(params);
        let vocab = self.model.vocab();
        let mut stream = TextStream::new(&params.stop);
        let mut tokens = Vec::new();
        let mut token_logprobs = Vec::new();
        let mut finish = FinishReason::Length;
        let mut position = prompt_tokens.len();
        while tokens.len() < budget {
            let token = sampler.sample(&ctx, batch.n_tokens() - 1);
            if vocab.is_eog(token) {
                finish = FinishReason::Stop;
                break;
            }
            tokens.push(token.0 as u32);
            if logprobs {
                token_logprobs.push(log_softmax_at(ctx.get_logits_ith(batch.n_tokens() - 1), token.0 as u32));
            }
            let piece = vocab.token_to_piece(token, false, None);
            let text = stream.push(&piece);
            if !text.is_empty() && on_text(&text).is_break() {
                finish = FinishReason::Cancelled;
                break;
            }
            if stream.stopped() {
                finish = FinishReason::Stop;
                break;
            }
            if tokens.len() == budget {
                break;
            }
            batch.clear();
            batch.add(token, position as i32, &[0], true).map_err(engine)?;
            let _turn = self.slots.acquire();
            ctx.decode(&mut batch).map_err(engine)?;
            position += 1;
        }
        if finish != FinishReason::Cancelled {
            let rest = stream.finish();
            if !rest.is_empty() && on_text(&rest).is_break() {
                finish = FinishReason::Cancelled;
            }
        }
        Ok(Generation {
            text: stream.text().to_owned(),
            tokens,
            prompt_tokens: prompt_tokens.len(),
            finish_reason: finish,
            logprobs: token_logprobs,
        })
    }

    /// Teacher-forced scoring: decodes `prompt` and the claimed `completion` tokens in one pass
    /// and scores each completion token against the model's distribution at its position.
    pub fn score(&self, prompt: &str, completion: &[u32], params: &SamplingParams) -> LlmResult<Vec<TokenScore>> {
        params.validate()?;
        let prompt_tokens = self.tokenize(prompt);
        let total = prompt_tokens.len() + completion.len();
        let context = self.context_length();
        if prompt_tokens.is_empty() || total > context {
            return Err(LlmError::PromptTooLong { prompt_tokens: total, context });
        }
        let n_vocab = self.model.n_vocab() as u32;
        if let Some(bad) = completion.iter().find(|t| **t >= n_vocab) {
            return Err(LlmError::Engine(format!("token {bad} is not in the vocabulary of {n_vocab}")));
        }
        let all: Vec<u32> = prompt_tokens.iter().chain(completion).copied().collect();
        let mut ctx = self.context(total)?;
        let mut scores = Vec::with_capacity(completion.len());
        // Decode chunk by chunk, scoring the completion tokens predicted inside each chunk.
        let first = prompt_tokens.len() - 1;
        let mut batch = LlamaBatch::new(PROMPT_CHUNK, 1);
        for (chunk_index, chunk) in all.chunks(PROMPT_CHUNK).enumerate() {
            let start = chunk_index * PROMPT_CHUNK;
            let wanted = |position: usize| position >= first && position + 1 < total;
            self.decode(&mut ctx, &mut batch, chunk, start, wanted)?;
            for offset in 0..chunk.len() {
                let position = start + offset;
                if !wanted(position) {
                    continue;
                }
                let logits = ctx.get_logits_ith(offset as i32);
                scores.push(score_token(logits, all[position + 1], params));
            }
        }
        Ok(scores)
    }
}

/// The log-probability of `token` under `logits`.
fn log_softmax_at(logits: &[f32], token: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum = f64::from(max) + logits.iter().map(|&x| f64::from(x - max).exp()).sum::<f64>().ln();
    f64::from(logits[token as usize]) - log_sum
}

/// Scores `token` against one position's logits, in two passes over the vocabulary: its
/// log-probability, its rank, and whether the seeded sampler could have drawn it (top-k and the
/// nucleus at the sampling temperature).
fn score_token(logits: &[f32], token: u32, params: &SamplingParams) -> TokenScore {
    let target = logits[token as usize];
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let t = f64::from(params.temperature);
    let nucleus = !params.greedy() && params.top_p < 1.0;
    let (mut rank, mut sum, mut scaled_total, mut scaled_above) = (1u32, 0.0f64, 0.0f64, 0.0f64);
    for &x in logits {
        let shifted = f64::from(x - max);
        let e = shifted.exp();
        sum += e;
        let above = x > target;
        rank += u32::from(above);
        if nucleus {
            // At temperature 1 the scaled weight is the unscaled one.
            let scaled = if t == 1.0 { e } else { (shifted / t).exp() };
            scaled_total += scaled;
            if above {
                scaled_above += scaled;
            }
        }
    }
    let consistent = if params.greedy() {
        rank == 1
    } else {
        let within_k = params.top_k == 0 || rank <= params.top_k;
        within_k && (!nucleus || scaled_above / scaled_total < f64::from(params.top_p))
    };
    let logprob = f64::from(target) - (f64::from(max) + sum.ln());
    TokenScore { token, logprob, rank, consistent }
}

/// The llama.cpp sampler chain of a request's parameters: top-k, top-p, temperature, then a
/// seeded draw.
pub(crate) fn sampler(params: &SamplingParams) -> LlamaSampler {
    if params.greedy() {
        return LlamaSampler::greedy();
    }
    let mut chain = Vec::with_capacity(4);
    if params.top_k > 0 {
        chain.push(LlamaSampler::top_k(params.top_k as i32));
    }
    if params.top_p < 1.0 {
        chain.push(LlamaSampler::top_p(params.top_p, 1));
    }
    chain.push(LlamaSampler::temp(params.temperature));
    chain.push(LlamaSampler::dist(params.seed));
    LlamaSampler::chain_simple(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scoring as its definition reads, one quantity per pass.
    fn naive(logits: &[f32], token: u32, params: &SamplingParams) -> (f64, u32, bool) {
        let target = logits[token as usize];
        let rank = 1 + logits.iter().filter(|&&x| x > target).count() as u32;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let t = f64::from(params.temperature);
        let weight = |x: f32| (f64::from(x - max) / t).exp();
        let total: f64 = logits.iter().map(|&x| weight(x)).sum();
        let above: f64 = logits.iter().filter(|&&x| x > target).map(|&x| weight(x)).sum();
        let consistent = if params.greedy() {
            rank == 1
        } else {
            (params.top_k == 0 || rank <= params.top_k)
                && (params.top_p >= 1.0 || above / total < f64::from(params.top_p))
        };
        (log_softmax_at(logits, token), rank, consistent)
    }

    #[test]
    fn one_pass_scoring_agrees_with_the_definition() {
        // Deterministic pseudo-random logits over a small vocabulary.
        let logits: Vec<f32> =
            (0u32..5000).map(|i| ((i.wrapping_mul(2_654_435_761) % 10_007) as f32) / 700.0).collect();
        for (temperature, top_k, top_p) in
            [(0.0, 40, 0.95), (0.7, 40, 0.95), (1.0, 0, 0.9), (1.3, 0, 1.0), (1.0, 5, 0.5)]
        {
            let params = SamplingParams { temperature, top_k, top_p, ..Default::default() };
            for token in (0..5000).step_by(97) {
                let score = score_token(&logits, token, &params);
                let (logprob, rank, consistent) = naive(&logits, token, &params);
                assert!((score.logprob - logprob).abs() < 1e-9, "{temperature} {token}");
                assert_eq!((score.rank, score.consistent), (rank, consistent), "{temperature} {top_k} {top_p} {token}");
            }
        }
    }
}
