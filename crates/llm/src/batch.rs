//! Continuous batching: every generation of a model decodes in one llama.cpp context, one
//! sequence each, sharing its KV cache and its thread pool.
//!
//! One thread per loaded model owns the context and runs steps. A step is one `llama_decode` of
//! one batch: the last sampled token of every sequence that is generating, then prompt tokens of
//! sequences still reading their prompt, in chunks, so that a long prompt takes a few steps
//! beside the others instead of stalling them. After the step each sequence whose logits came
//! out samples its next token with its own seeded sampler chain. New requests join between
//! steps; finished ones leave and free their KV cells.
//!
//! A request is admitted when a sequence is free and the KV cache has room for its prompt and
//! its whole token budget (reserved at admission, so that a step never runs out of cells); the
//! others wait in order. Nothing the callers pass runs on this thread: text goes back over a
//! channel, and a caller that stops listening (or sets its cancel flag) ends its sequence at
//! the next step.

use std::{
    collections::VecDeque,
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
        mpsc::{Receiver, Sender},
    },
};

use llama_cpp_2::{
    context::{LlamaContext, params::LlamaContextParams},
    llama_batch::LlamaBatch,
    model::LlamaModel,
    sampling::LlamaSampler,
    token::LlamaToken,
};

use crate::{
    BatchOptions, DecodeSlots, Extras, FinishReason, Generation, LlmError, LlmResult, SamplingParams,
    engine::{log_softmax_at, sampler, top_logprobs},
    text::TextStream,
};

/// The most tokens one step decodes (llama.cpp's `n_batch`).
pub(crate) const STEP_TOKENS: usize = 512;

/// The most prompt tokens one step reads while other sequences are generating: a long prompt
/// costs the others about this many tokens' worth of prefill per step (≈ 0.3 s on 2 cores for
/// a 135M model) instead of its whole length.
const PREFILL_BESIDE_DECODING: usize = 128;

/// The shortest prefix worth sharing, in tokens.
const MIN_SHARED: usize = 8;

/// A finished sequence whose prompt's KV cells are kept for prompts that begin the same way.
struct Kept {
    id: i32,
    tokens: Vec<u32>,
    /// When it last served (the loop's admission count).
    used: u64,
}

/// What the loop has done, for tests and metrics.
#[derive(Debug, Default)]
pub struct BatchStats {
    /// Prompt tokens not read because their KV cells were shared with an earlier prompt.
    pub shared: std::sync::atomic::AtomicU64,
    /// Decodes run.
    pub steps: std::sync::atomic::AtomicU64,
}

/// One generation asked of the loop.
pub(crate) struct Job {
    pub prompt: Vec<u32>,
    pub params: SamplingParams,
    pub extras: Extras,
    /// Tokens it may generate at most.
    pub budget: usize,
    pub events: Sender<Event>,
    pub cancel: Arc<AtomicBool>,
}

impl Job {
    fn cells(&self) -> usize {
        self.prompt.len() + self.budget
    }
}

/// What the loop sends back about a job.
pub(crate) enum Event {
    /// A piece of final text.
    Text(String),
    /// The end.
    Done(LlmResult<Generation>),
}

/// A sequence in the context.
struct Seq {
    id: i32,
    /// Its place in the order of admission.
    arrival: u64,
    job: Job,
    sampler: LlamaSampler,
    stream: TextStream,
    /// Prompt tokens decoded so far.
    read: usize,
    tokens: Vec<u32>,
    logprobs: Vec<f64>,
    top: Vec<Vec<(u32, f64)>>,
    /// The token sampled last, to be decoded next step.
    next: Option<LlamaToken>,
    /// Where its logits are in this step's batch.
    logits_at: Option<i32>,
    finish: Option<FinishReason>,
}

impl Seq {
    fn send(&mut self, text: String) {
        if !text.is_empty() && self.job.events.send(Event::Text(text)).is_err() {
            self.job.cancel.store(true, Ordering::Relaxed);
        }
    }

    fn generation(&mut self, finish: FinishReason) -> Generation {
        Generation {
            text: self.stream.text().to_owned(),
            tokens: std::mem::take(&mut self.tokens),
            prompt_tokens: self.job.prompt.len(),
            finish_reason: finish,
            logprobs: std::mem::take(&mut self.logprobs),
            top_logprobs: std::mem::take(&mut self.top),
        }
    }
}

/// Runs the loop until every sender of `jobs` is gone and the last sequence finished.
pub(crate) fn run(
    model: Arc<LlamaModel>,
    options: BatchOptions,
    slots: Arc<DecodeSlots>,
    stats: Arc<BatchStats>,
    jobs: Receiver<Job>,
) {
    let ctx = match context(&model, options) {
        Ok(ctx) => ctx,
        Err(err) => {
            // Nothing can run: every job is told why.
            while let Ok(job) = jobs.recv() {
                let _ = job.events.send(Event::Done(Err(LlmError::Engine(err.to_string()))));
            }
            return;
        }
    };
    Loop {
        model: &model,
        ctx,
        options,
        slots,
        stats,
        batch: LlamaBatch::new(STEP_TOKENS, 1),
        active: Vec::new(),
        waiting: VecDeque::new(),
        free: (0..options.sequences as i32).rev().collect(),
        reserved: 0,
        kept: Vec::new(),
        kept_cells: 0,
        admitted: 0,
    }
    .run(&jobs);
}

fn context(model: &LlamaModel, options: BatchOptions) -> LlmResult<LlamaContext<'_>> {
    let threads = options.threads as i32;
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(options.context.max(1) as u32))
        .with_n_batch(STEP_TOKENS as u32)
        .with_n_ubatch(STEP_TOKENS as u32)
        .with_n_seq_max(options.sequences.max(1) as u32)
        .with_kv_unified(true)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    crate::engine::new_context(model, params)
}

struct Loop<'m> {
    model: &'m LlamaModel,
    ctx: LlamaContext<'m>,
    options: BatchOptions,
    slots: Arc<DecodeSlots>,
    stats: Arc<BatchStats>,
    batch: LlamaBatch<'static>,
    active: Vec<Seq>,
    waiting: VecDeque<Job>,
    /// Sequence ids not in use.
    free: Vec<i32>,
    /// KV cells promised to active sequences.
    reserved: usize,
    /// Finished sequences' prompts kept in the cache, and the cells they hold.
    kept: Vec<Kept>,
    kept_cells: usize,
    /// Sequences admitted so far.
    admitted: u64,
}

impl Loop<'_> {
    fn run(mut self, jobs: &Receiver<Job>) {
        loop {
            if self.active.is_empty() && self.waiting.is_empty() {
                match jobs.recv() {
                    Ok(job) => self.waiting.push_back(job),
                    Err(_) => return,
                }
            }
            while let Ok(job) = jobs.try_recv() {
                self.waiting.push_back(job);
            }
            self.admit();
            if self.active.is_empty() {
                // Nothing runs and the first waiting job was not admitted: it never will be.
                if let Some(job) = self.waiting.pop_front() {
                    let message = format!("{} tokens do not fit the KV cache of {}", job.cells(), self.options.context);
                    let _ = job.events.send(Event::Done(Err(LlmError::Engine(message))));
                }
                continue;
            }
            self.step();
        }
    }

    /// Starts waiting jobs, in order, while a sequence and room for them are free.
    fn admit(&mut self) {
        // A job cancelled while it waited ends without running.
        self.waiting.retain(|job| {
            let cancelled = job.cancel.load(Ordering::Relaxed);
            if cancelled {
                let _ = job.events.send(Event::Done(Ok(Generation {
                    text: String::new(),
                    tokens: Vec::new(),
                    prompt_tokens: job.prompt.len(),
                    finish_reason: FinishReason::Cancelled,
                    logprobs: Vec::new(),
                    top_logprobs: Vec::new(),
                })));
            }
            !cancelled
        });
        while let Some(job) = self.waiting.front() {
            // The longest prefix it shares with a running or kept sequence's prompt.
            let (mut shared, mut source) = self.longest_prefix(&job.prompt);
            if shared < MIN_SHARED {
                (shared, source) = (0, None);
            }
            let cells = job.cells();
            // Room: a kept prompt it shares is taken over (its sequence and cells become this
            // one's); other kept prompts go, least recently used first, until a sequence and
            // the cells are free; the one to share goes last.
            let fits = loop {
                let taken =
                    source.and_then(|id| self.kept.iter().find(|kept| kept.id == id)).map(|kept| kept.tokens.len());
                let kept_cells = self.kept_cells - taken.unwrap_or(0);
                if (taken.is_some() || !self.free.is_empty())
                    && self.reserved + kept_cells + cells <= self.options.context
                {
                    break true;
                }
                let oldest = self
                    .kept
                    .iter()
                    .enumerate()
                    .filter(|(_, kept)| Some(kept.id) != source)
                    .min_by_key(|(_, kept)| kept.used)
                    .map(|(i, _)| i);
                match oldest {
                    Some(oldest) => {
                        let kept = self.kept.swap_remove(oldest);
                        self.forget(kept);
                    }
                    None if taken.is_some() => (shared, source) = (0, None),
                    None => break false,
                }
            };
            if !fits {
                break;
            }
            let Some(job) = self.waiting.pop_front() else { break };
            let taken = source.and_then(|id| self.kept.iter().position(|kept| kept.id == id));
            let id = match taken {
                Some(at) => {
                    // Its cells past the shared prefix go; the prefix is this sequence's now.
                    let kept = self.kept.swap_remove(at);
                    self.kept_cells -= kept.tokens.len();
                    let _ = self.ctx.clear_kv_cache_seq(Some(kept.id as u32), Some(shared as u32), None);
                    kept.id
                }
                None => match self.free.pop() {
                    Some(id) => {
                        if let Some(source) = source
                            && self.ctx.copy_kv_cache_seq(source, id, Some(0), Some(shared as u32)).is_err()
                        {
                            shared = 0;
                        }
                        id
                    }
                    None => {
                        self.waiting.push_front(job);
                        break;
                    }
                },
            };
            let sampler = match sampler(self.model, &job.params, job.extras.grammar.as_ref()) {
                Ok(sampler) => sampler,
                Err(err) => {
                    let _ = self.ctx.clear_kv_cache_seq(Some(id as u32), None, None);
                    self.free.push(id);
                    let _ = job.events.send(Event::Done(Err(err)));
                    continue;
                }
            };
            self.admitted += 1;
            let read = shared;
            self.stats.shared.fetch_add(shared as u64, Ordering::Relaxed);
            self.reserved += cells;
            self.active.push(Seq {
                id,
                arrival: self.admitted,
                stream: TextStream::new(&job.params.stop),
                job,
                sampler,
                read,
                tokens: Vec::new(),
                logprobs: Vec::new(),
                top: Vec::new(),
                next: None,
                logits_at: None,
                finish: None,
            });
        }
    }

    /// The longest prefix of `prompt` whose KV cells a running or kept sequence holds (at most
    /// all but its last token, whose logits must be computed), and that sequence.
    fn longest_prefix(&self, prompt: &[u32]) -> (usize, Option<i32>) {
        let common = |held: &[u32]| held.iter().zip(prompt).take_while(|(a, b)| a == b).count();
        let running = self.active.iter().map(|seq| (seq.id, &seq.job.prompt[..seq.read]));
        let kept = self.kept.iter().map(|kept| (kept.id, &kept.tokens[..]));
        running
            .chain(kept)
            .map(|(id, held)| (common(held).min(prompt.len().saturating_sub(1)), Some(id)))
            .max_by_key(|(shared, _)| *shared)
            .unwrap_or((0, None))
    }

    /// Drops a kept prompt's cells and frees its sequence.
    fn forget(&mut self, kept: Kept) {
        let _ = self.ctx.clear_kv_cache_seq(Some(kept.id as u32), None, None);
        self.kept_cells -= kept.tokens.len();
        self.free.push(kept.id);
    }

    /// One decode of every sequence's next token and of prompt chunks, then sampling.
    fn step(&mut self) {
        self.batch.clear();
        let mut added = Ok(());
        for seq in &mut self.active {
            seq.logits_at = None;
            if seq.job.cancel.load(Ordering::Relaxed) {
                seq.finish = Some(FinishReason::Cancelled);
                continue;
            }
            if let Some(token) = seq.next.take() {
                let position = seq.job.prompt.len() + seq.tokens.len() - 1;
                seq.logits_at = Some(self.batch.n_tokens());
                added = added.and(self.batch.add(token, position as i32, &[seq.id], true));
            }
        }
        let decoding = self.batch.n_tokens() > 0;
        let mut room = if decoding { PREFILL_BESIDE_DECODING } else { STEP_TOKENS };
        room = room.min(STEP_TOKENS - self.batch.n_tokens() as usize);
        for seq in &mut self.active {
            if room == 0 || seq.finish.is_some() || seq.read == seq.job.prompt.len() {
                continue;
            }
            let take = (seq.job.prompt.len() - seq.read).min(room);
            for position in seq.read..seq.read + take {
                let last = position + 1 == seq.job.prompt.len();
                if last {
                    seq.logits_at = Some(self.batch.n_tokens());
                }
                let token = LlamaToken(seq.job.prompt[position] as i32);
                added = added.and(self.batch.add(token, position as i32, &[seq.id], last));
            }
            seq.read += take;
            room -= take;
        }
        if self.batch.n_tokens() > 0 {
            let decoded = added.map_err(crate::error::engine).and_then(|()| {
                let _turn = self.slots.acquire();
                self.stats.steps.fetch_add(1, Ordering::Relaxed);
                self.ctx.decode(&mut self.batch).map_err(crate::error::engine)
            });
            if let Err(err) = decoded {
                // A failed decode leaves the context's state unknown for every sequence in it.
                for seq in std::mem::take(&mut self.active) {
                    let _ = seq.job.events.send(Event::Done(Err(LlmError::Engine(err.to_string()))));
                    self.release(seq.id, seq.job.cells());
                }
                for kept in std::mem::take(&mut self.kept) {
                    self.forget(kept);
                }
                return;
            }
        }
        for i in 0..self.active.len() {
            if let Some(at) = self.active[i].logits_at {
                self.sample(i, at);
            }
        }
        let mut i = 0;
        while i < self.active.len() {
            if self.active[i].finish.is_some() {
                let seq = self.active.swap_remove(i);
                self.finish(seq);
            } else {
                i += 1;
            }
        }
        // Prompts are read in order of arrival (swap_remove disturbs it).
        self.active.sort_by_key(|seq| seq.arrival);
    }

    /// Samples sequence `i`'s next token from the logits at batch index `at`.
    fn sample(&mut self, i: usize, at: i32) {
        let vocab = self.model.vocab();
        let seq = &mut self.active[i];
        let token = seq.sampler.sample(&self.ctx, at);
        if vocab.is_eog(token) {
            seq.finish = Some(FinishReason::Stop);
            return;
        }
        seq.tokens.push(token.0 as u32);
        if seq.job.extras.logprobs || seq.job.extras.top_logprobs > 0 {
            let logits = self.ctx.get_logits_ith(at);
            seq.logprobs.push(log_softmax_at(logits, token.0 as u32));
            if seq.job.extras.top_logprobs > 0 {
                seq.top.push(top_logprobs(logits, usize::from(seq.job.extras.top_logprobs)));
            }
        }
        let text = seq.stream.push(&vocab.token_to_piece(token, false, None));
        seq.send(text);
        if seq.stream.stopped() {
            seq.finish = Some(FinishReason::Stop);
        } else if seq.tokens.len() >= seq.job.budget {
            seq.finish = Some(FinishReason::Length);
        } else {
            seq.next = Some(token);
        }
    }

    fn finish(&mut self, mut seq: Seq) {
        let finish = seq.finish.unwrap_or(FinishReason::Stop);
        if finish != FinishReason::Cancelled {
            let rest = seq.stream.finish();
            seq.send(rest);
        }
        let generation = seq.generation(finish);
        let _ = seq.job.events.send(Event::Done(Ok(generation)));
        self.reserved -= seq.job.cells();
        // Its prompt's cells stay for a prompt that begins the same way; the answer's go.
        let prompt = std::mem::take(&mut seq.job.prompt);
        if seq.read == prompt.len()
            && prompt.len() >= MIN_SHARED
            && self.ctx.clear_kv_cache_seq(Some(seq.id as u32), Some(prompt.len() as u32), None).unwrap_or(false)
        {
            self.kept_cells += prompt.len();
            self.kept.push(Kept { id: seq.id, tokens: prompt, used: self.admitted });
        } else {
            let _ = self.ctx.clear_kv_cache_seq(Some(seq.id as u32), None, None);
            self.free.push(seq.id);
        }
    }

    fn release(&mut self, id: i32, cells: usize) {
        let _ = self.ctx.clear_kv_cache_seq(Some(id as u32), None, None);
        self.free.push(id);
        self.reserved -= cells;
    }
}
