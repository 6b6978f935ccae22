//! The engine: one llama.cpp backend per process, models loaded from GGUF files, a fresh
//! context per request.

use crate::MAX_TOP_LOGPROBS;
use std::{
    io::Read,
    num::NonZeroU32,
    ops::ControlFlow,
    path::Path,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, Ordering},
        mpsc::Sender,
    },
};

use llama_cpp_2::{
    context::{LlamaContext, params::LlamaContextParams},
    gguf::GgufContext,
    llama_backend::LlamaBackend,
    llama_batch::LlamaBatch,
    model::{LlamaModel, params::LlamaModelParams},
    sampling::LlamaSampler,
    token::{LlamaToken, data::LlamaTokenData, data_array::LlamaTokenDataArray},
};

use crate::{
    BatchOptions, Extras, Generation, GgufInfo, Grammar, LlmError, LlmResult, SamplingParams, TokenScore,
    batch::{Event, Job},
    error::engine,
    text::TextStream,
};

/// The most tokens one embedding pass reads (texts packed together).
pub const EMBED_BATCH_TOKENS: usize = 2048;
/// The most texts one embedding pass reads.
const EMBED_BATCH_SEQUENCES: usize = 64;

/// Tokens decoded per llama.cpp call while reading a prompt.
const PROMPT_CHUNK: usize = 512;

static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();

/// llama.cpp's context creation is not safe to run in parallel on one model
/// (`LlamaModel::new_context`'s documentation): contexts are created one at a time.
static NEW_CONTEXT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A context of `model`, made one at a time (see [`NEW_CONTEXT`]).
pub(crate) fn new_context(model: &LlamaModel, params: LlamaContextParams) -> LlmResult<LlamaContext<'_>> {
    let _one_at_a_time = NEW_CONTEXT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    model.new_context(backend()?, params).map_err(engine)
}

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
    let number = |key: String| {
        let index = gguf.find_key(&key);
        (index >= 0).then(|| u64::from(gguf.val_u32(index)))
    };
    let context_length = number(format!("{architecture}.context_length"));
    let pooling = number(format!("{architecture}.pooling_type")).and_then(|pooling| match pooling {
        1 => Some("mean".to_owned()),
        2 => Some("cls".to_owned()),
        3 => Some("last".to_owned()),
        _ => None,
    });
    let embedding_length = number(format!("{architecture}.embedding_length"));
    let info = GgufInfo {
        name: string("general.name"),
        chat_template: string("tokenizer.chat_template"),
        context_length,
        tensors: u64::try_from(gguf.n_tensors()).unwrap_or(0),
        architecture,
        pooling,
        embedding_length,
    };
    let params = LlamaModelParams::default().with_vocab_only(true);
    LlamaModel::load_from_file(backend, path, &params).map_err(|err| LlmError::UnsupportedArchitecture {
        architecture: info.architecture.clone(),
        reason: err.to_string(),
    })?;
    Ok(info)
}

/// A loaded GGUF model, with the decode loop its generations share (started at the first).
pub struct LlmModel {
    model: Arc<LlamaModel>,
    info: GgufInfo,
    options: BatchOptions,
    slots: Arc<crate::DecodeSlots>,
    stats: Arc<crate::batch::BatchStats>,
    jobs: OnceLock<Sender<Job>>,
}

impl LlmModel {
    /// Loads a model (after [`inspect_gguf`]) that decodes with `threads` llama.cpp threads,
    /// one generation at a time.
    pub fn load(path: &Path, threads: usize) -> LlmResult<LlmModel> {
        let options = BatchOptions { threads, sequences: 1, context: usize::MAX };
        LlmModel::load_with(path, options, Arc::new(crate::DecodeSlots::new(1)))
    }

    /// Loads a model whose generations decode together as `options` says, taking turns in
    /// `slots` with other models on the same cores.
    pub fn load_with(path: &Path, options: BatchOptions, slots: Arc<crate::DecodeSlots>) -> LlmResult<LlmModel> {
        let info = inspect_gguf(path)?;
        let model = LlamaModel::load_from_file(backend()?, path, &LlamaModelParams::default()).map_err(engine)?;
        let context = options.context.min(model.n_ctx_train() as usize).max(1);
        let options =
            BatchOptions { threads: options.threads.clamp(1, 256), sequences: options.sequences.max(1), context };
        Ok(LlmModel { model: Arc::new(model), info, options, slots, stats: Default::default(), jobs: OnceLock::new() })
    }

    /// What the file says about itself.
    pub fn info(&self) -> &GgufInfo {
        &self.info
    }

    /// The context the model was trained with, in tokens.
    pub fn context_length(&self) -> usize {
        self.model.n_ctx_train() as usize
    }

    /// The most tokens (prompt and answer) one generation may hold: the trained context, or
    /// the decode loop's KV cache if smaller.
    pub fn generation_context(&self) -> usize {
        self.options.context
    }

    /// The prompt for a conversation: the GGUF's own chat template, rendered, ending with the
    /// assistant's turn opened. A model without a template is refused.
    pub fn chat_prompt(&self, messages: &[crate::ChatMessage], constraint: &crate::Constraint) -> LlmResult<String> {
        let template = self.info.chat_template.as_deref().ok_or_else(|| {
            LlmError::InvalidMessages("this model has no chat template; use a plain completion".into())
        })?;
        let vocab = self.model.vocab();
        let piece = |token| String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned();
        crate::render_chat(template, messages, constraint, &piece(vocab.bos()), &piece(vocab.eos()))
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
        let threads = self.options.threads as i32;
        let params = LlamaContextParams::default()
            .with_n_ctx(n_ctx)
            .with_n_batch(PROMPT_CHUNK as u32)
            .with_n_ubatch(PROMPT_CHUNK as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        new_context(&self.model, params)
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

    /// Generates a completion of `prompt` (already in the model's chat format, if any) in the
    /// model's decode loop, beside whatever else it generates, calling `on_text` (on this
    /// thread) with each piece of final text; `on_text` returning `ControlFlow::Break` cancels
    /// (the loop stops the sequence at its next step, so a token or two more may be in the
    /// result). With `extras.logprobs`, each token's log-probability under the raw logits at
    /// generation time is recorded; with `extras.grammar`, every token follows it.
    pub fn generate(
        &self,
        prompt: &str,
        params: &SamplingParams,
        extras: &Extras,
        mut on_text: impl FnMut(&str) -> ControlFlow<()>,
    ) -> LlmResult<Generation> {
        params.validate()?;
        if extras.top_logprobs > MAX_TOP_LOGPROBS {
            return Err(LlmError::InvalidSampling(format!(
                "top_logprobs must be at most {MAX_TOP_LOGPROBS}, got {}",
                extras.top_logprobs
            )));
        }
        let prompt = self.tokenize(prompt);
        let context = self.generation_context();
        if prompt.is_empty() || prompt.len() >= context {
            return Err(LlmError::PromptTooLong { prompt_tokens: prompt.len(), context });
        }
        let budget = (params.max_tokens as usize).min(context - prompt.len());
        let (events, received) = std::sync::mpsc::channel();
        let cancel = Arc::new(AtomicBool::new(false));
        let job =
            Job { prompt, params: params.clone(), extras: extras.clone(), budget, events, cancel: cancel.clone() };
        self.jobs().send(job).map_err(|_| LlmError::Engine("the decode loop has stopped".into()))?;
        for event in received {
            match event {
                Event::Text(text) => {
                    if !cancel.load(Ordering::Relaxed) && on_text(&text).is_break() {
                        cancel.store(true, Ordering::Relaxed);
                    }
                }
                Event::Done(generation) => return generation,
            }
        }
        Err(LlmError::Engine("the decode loop stopped before the generation ended".into()))
    }

    /// The decode loop's queue, its thread started at the first call.
    fn jobs(&self) -> &Sender<Job> {
        self.jobs.get_or_init(|| {
            let (jobs, received) = std::sync::mpsc::channel();
            let (model, options, slots, stats) =
                (self.model.clone(), self.options, self.slots.clone(), self.stats.clone());
            let spawned = std::thread::Builder::new()
                .name("llm-decode".into())
                .spawn(move || crate::batch::run(model, options, slots, stats, received));
            if let Err(err) = spawned {
                tracing::error!(%err, "the decode loop's thread did not start");
            }
            jobs
        })
    }

    /// What its decode loop has done.
    pub fn stats(&self) -> &crate::batch::BatchStats {
        &self.stats
    }

    /// Whether this is a sentence-embedding model (its GGUF names a pooling of its tokens).
    pub fn is_embedding(&self) -> bool {
        self.info.pooling.is_some()
    }

    /// Embeds each text: the model's pooled output (its own pooling: mean, CLS or last token),
    /// L2-normalised, as sentence-transformers gives it. Texts are packed into as few encoder
    /// passes as fit (at most [`EMBED_BATCH_TOKENS`] tokens and 64 texts each), in order, so the
    /// same list is always packed the same way. Returns the vectors and the tokens read.
    pub fn embed(&self, texts: &[String]) -> LlmResult<(Vec<Vec<f32>>, usize)> {
        if !self.is_embedding() {
            return Err(LlmError::InvalidMessages(
                "this model is not an embedding model (its GGUF names no pooling)".into(),
            ));
        }
        let context = self.context_length().min(EMBED_BATCH_TOKENS);
        let mut tokenized = Vec::with_capacity(texts.len());
        for (i, text) in texts.iter().enumerate() {
            let tokens = self.tokenize(text);
            if tokens.len() > context {
                return Err(LlmError::InvalidMessages(format!(
                    "input {i} is {} tokens; this model reads at most {context}",
                    tokens.len()
                )));
            }
            tokenized.push(tokens);
        }
        let threads = self.options.threads as i32;
        let params = LlamaContextParams::default()
            .with_embeddings(true)
            .with_n_ctx(NonZeroU32::new(EMBED_BATCH_TOKENS as u32))
            .with_n_batch(EMBED_BATCH_TOKENS as u32)
            .with_n_ubatch(EMBED_BATCH_TOKENS as u32)
            .with_n_seq_max(EMBED_BATCH_SEQUENCES as u32)
            .with_n_threads(threads)
            .with_n_threads_batch(threads);
        let mut ctx = new_context(&self.model, params)?;
        let mut batch = LlamaBatch::new(EMBED_BATCH_TOKENS, 1);
        let mut vectors = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < tokenized.len() {
            // As many texts as fit, in order.
            let (mut end, mut tokens) = (start, 0);
            while end < tokenized.len()
                && end - start < EMBED_BATCH_SEQUENCES
                && tokens + tokenized[end].len().max(1) <= EMBED_BATCH_TOKENS
            {
                tokens += tokenized[end].len().max(1);
                end += 1;
            }
            batch.clear();
            for (seq, text) in tokenized[start..end].iter().enumerate() {
                for (position, token) in text.iter().enumerate() {
                    batch.add(LlamaToken(*token as i32), position as i32, &[seq as i32], true).map_err(engine)?;
                }
            }
            {
                let _turn = self.slots.acquire();
                ctx.clear_kv_cache();
                ctx.decode(&mut batch).map_err(engine)?;
            }
            for seq in 0..end - start {
                let pooled = ctx.embeddings_seq_ith(seq as i32).map_err(engine)?;
                let norm = pooled.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt().max(1e-12);
                vectors.push(pooled.iter().map(|x| (f64::from(*x) / norm) as f32).collect());
            }
            start = end;
        }
        Ok((vectors, tokenized.iter().map(Vec::len).sum()))
    }

    /// Teacher-forced scoring: decodes `prompt` and the claimed `completion` tokens in one pass
    /// and scores each completion token against the model's distribution at its position. With
    /// a `grammar`, each token is also checked against it (`TokenScore::allowed`; the scores
    /// stop after the first token outside it) and the sampler's support is the grammar's.
    pub fn score(
        &self,
        prompt: &str,
        completion: &[u32],
        params: &SamplingParams,
        grammar: Option<&Grammar>,
    ) -> LlmResult<Vec<TokenScore>> {
        params.validate()?;
        let mut grammar = grammar.map(|grammar| grammar_sampler(&self.model, grammar)).transpose()?;
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
                let token = all[position + 1];
                let score = match grammar.as_mut() {
                    None => score_token(logits, token, params),
                    Some(grammar) => {
                        let masked = mask(logits, grammar);
                        let allowed =
                            masked[token as usize].is_finite() && grammar.try_accept(LlamaToken(token as i32)).is_ok();
                        if !allowed {
                            let logprob = log_softmax_at(logits, token);
                            scores.push(TokenScore {
                                token,
                                logprob,
                                rank: u32::MAX,
                                consistent: false,
                                near: false,
                                allowed,
                            });
                            return Ok(scores);
                        }
                        TokenScore { logprob: log_softmax_at(logits, token), ..score_token(&masked, token, params) }
                    }
                };
                scores.push(score);
            }
        }
        Ok(scores)
    }
}

/// The log-probability of `token` under `logits`.
pub(crate) fn log_softmax_at(logits: &[f32], token: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum = f64::from(max) + logits.iter().map(|&x| f64::from(x - max).exp()).sum::<f64>().ln();
    f64::from(logits[token as usize]) - log_sum
}

/// Scores `token` against one position's logits: its log-probability, its rank, and whether
/// the seeded sampler could have drawn it, as llama.cpp's chain draws: within the top-k, then
/// inside the top-p nucleus of what top-k left, at the raw logits (llama.cpp's top-p comes
/// before the temperature). A token outside is still `near` when logits moved by
/// [`LOGPROB_TOLERANCE`](crate::LOGPROB_TOLERANCE) could have put it inside: what batch shape
/// does to an honest generation.
fn score_token(logits: &[f32], token: u32, params: &SamplingParams) -> TokenScore {
    let margin = crate::LOGPROB_TOLERANCE;
    let target = logits[token as usize];
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut rank, mut sum, mut above) = (1u32, 0.0f64, 0.0f64);
    for &x in logits {
        let e = f64::from(x - max).exp();
        sum += e;
        if x > target {
            rank += 1;
            above += e;
        }
    }
    let (consistent, near) = if params.greedy() {
        (rank == 1, f64::from(max) - f64::from(target) <= margin)
    } else {
        let k = params.top_k as usize;
        let (within_k, near_k) = if k == 0 || rank as usize <= k {
            (true, true)
        } else {
            // The k-th largest logit: the least a token in the top-k has.
            let mut sorted = logits.to_vec();
            sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
            (false, f64::from(sorted[k - 1]) - f64::from(target) <= margin)
        };
        let share = if params.top_p >= 1.0 { 0.0 } else { above / kept_mass(logits, params.top_k, max, sum) };
        let top_p = f64::from(params.top_p);
        (within_k && share < top_p, near_k && share < top_p * margin.exp())
    };
    let logprob = f64::from(target) - (f64::from(max) + sum.ln());
    TokenScore { token, logprob, rank, consistent, near: consistent || near, allowed: true }
}

/// The unnormalised mass (relative to `max`) of the tokens top-k keeps: all of it (`sum`)
/// without top-k.
fn kept_mass(logits: &[f32], top_k: u32, max: f32, sum: f64) -> f64 {
    let k = top_k as usize;
    if k == 0 || k >= logits.len() {
        return sum;
    }
    let mut sorted = logits.to_vec();
    sorted.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    sorted[..k].iter().map(|&x| f64::from(x - max).exp()).sum()
}

/// `logits` with every token `grammar` refuses at this point set to −∞.
fn mask(logits: &[f32], grammar: &mut LlamaSampler) -> Vec<f32> {
    let data = logits.iter().enumerate().map(|(i, &logit)| LlamaTokenData::new(LlamaToken(i as i32), logit, 0.0));
    let mut array = LlamaTokenDataArray::from_iter(data, false);
    array.apply_sampler(grammar);
    let mut masked = vec![f32::NEG_INFINITY; logits.len()];
    for data in &array.data {
        if let Some(slot) = masked.get_mut(data.id().0 as usize) {
            *slot = data.logit();
        }
    }
    masked
}

/// The `n` most likely tokens under `logits` with their log-probabilities, most likely first.
pub(crate) fn top_logprobs(logits: &[f32], n: usize) -> Vec<(u32, f64)> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let log_sum = f64::from(max) + logits.iter().map(|&x| f64::from(x - max).exp()).sum::<f64>().ln();
    let mut best: Vec<(u32, f32)> = Vec::with_capacity(n + 1);
    for (i, &x) in logits.iter().enumerate() {
        if best.len() == n && best.last().is_some_and(|&(_, worst)| x <= worst) {
            continue;
        }
        let at = best.partition_point(|&(_, y)| y >= x);
        best.insert(at, (i as u32, x));
        best.truncate(n);
    }
    best.into_iter().map(|(token, x)| (token, f64::from(x) - log_sum)).collect()
}

/// A grammar's sampler (lazy when it has a trigger).
fn grammar_sampler(model: &LlamaModel, grammar: &Grammar) -> LlmResult<LlamaSampler> {
    let made = match &grammar.trigger {
        None => LlamaSampler::grammar(model, &grammar.gbnf, "root"),
        Some(trigger) => LlamaSampler::grammar_lazy(model, &grammar.gbnf, "root", [trigger.as_bytes()], &[]),
    };
    made.map_err(|err| LlmError::InvalidGrammar(format!("llama.cpp refused the grammar: {err}")))
}

/// The llama.cpp sampler chain of a request's parameters: the grammar if any, top-k, top-p,
/// temperature, then a seeded draw.
pub(crate) fn sampler(
    model: &LlamaModel,
    params: &SamplingParams,
    grammar: Option<&Grammar>,
) -> LlmResult<LlamaSampler> {
    let mut chain = Vec::with_capacity(5);
    if let Some(grammar) = grammar {
        chain.push(grammar_sampler(model, grammar)?);
    }
    if params.greedy() {
        chain.push(LlamaSampler::greedy());
        return Ok(LlamaSampler::chain_simple(chain));
    }
    if params.top_k > 0 {
        chain.push(LlamaSampler::top_k(params.top_k as i32));
    }
    if params.top_p < 1.0 {
        chain.push(LlamaSampler::top_p(params.top_p, 1));
    }
    chain.push(LlamaSampler::temp(params.temperature));
    chain.push(LlamaSampler::dist(params.seed));
    Ok(LlamaSampler::chain_simple(chain))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scoring as llama.cpp's chain reads (top-k, then top-p over what is left at the raw
    /// logits), with a full sort.
    fn naive(logits: &[f32], token: u32, params: &SamplingParams) -> (f64, u32, bool) {
        let target = logits[token as usize];
        let rank = 1 + logits.iter().filter(|&&x| x > target).count() as u32;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sorted = logits.to_vec();
        sorted.sort_by(|a, b| b.total_cmp(a));
        if params.top_k > 0 {
            sorted.truncate(params.top_k as usize);
        }
        let weight = |x: f32| f64::from(x - max).exp();
        let total: f64 = sorted.iter().map(|&x| weight(x)).sum();
        let above: f64 = sorted.iter().filter(|&&x| x > target).map(|&x| weight(x)).sum();
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
