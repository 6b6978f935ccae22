//! `veritas-bench llm-drift [GENERATIONS] [THREADS]`: how far teacher-forced scoring (the whole
//! completion in one batched pass) drifts from the log-probabilities seen during incremental
//! generation, on honest sampled generations of the default model; and what scoring costs
//! next to generating. The verification network's acceptance tolerance comes from this.

use std::{ops::ControlFlow, time::Instant};

use veritas_llm::{LlmModel, SamplingParams};

const PROMPTS: [&str; 12] = [
    "Write one sentence about the sea.",
    "What is the capital of France?",
    "Give me three tips for learning to cook.",
    "Explain what a hash function is, briefly.",
    "Tell a very short story about a cat.",
    "List four colours of the rainbow.",
    "Why is the sky blue?",
    "Describe a good breakfast.",
    "What does a verifier check in a receipt?",
    "Say hello in five languages.",
    "How do plants make food?",
    "Write a haiku about rain.",
];

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

pub fn run(mut args: impl Iterator<Item = String>) {
    let generations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let gguf = std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF: `cargo xtask setup` fetches the model");
    let model = LlmModel::load(gguf.as_ref(), threads).unwrap();
    let mut deltas = Vec::new();
    let (mut tokens, mut inconsistent, mut rank_above_top_k) = (0usize, 0usize, 0usize);
    let (mut generate_s, mut score_s) = (0.0f64, 0.0f64);
    for i in 0..generations {
        let prompt = format!("<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n", PROMPTS[i % PROMPTS.len()]);
        let params = SamplingParams {
            temperature: [0.0, 0.7, 1.0][i % 3],
            top_p: 0.95,
            top_k: 40,
            seed: i as u32,
            max_tokens: 48,
            stop: vec![],
        };
        let started = Instant::now();
        let generation = model.generate(&prompt, &params, true, |_| ControlFlow::Continue(())).unwrap();
        generate_s += started.elapsed().as_secs_f64();
        let started = Instant::now();
        let scores = model.score(&prompt, &generation.tokens, &params).unwrap();
        score_s += started.elapsed().as_secs_f64();
        for (score, at_generation) in scores.iter().zip(&generation.logprobs) {
            deltas.push((score.logprob - at_generation).abs());
            tokens += 1;
            inconsistent += usize::from(!score.consistent);
            rank_above_top_k += usize::from(score.rank > params.top_k);
        }
    }
    deltas.sort_by(f64::total_cmp);
    println!(
        "{generations} generations ({tokens} tokens), temperatures 0 / 0.7 / 1, top_p 0.95, top_k 40, {threads} threads"
    );
    println!("| |logprob(scored) − logprob(generated)| | value |\n|---|---|");
    for (name, p) in [("median", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
        println!("| {name} | {:.2e} |", percentile(&deltas, p));
    }
    println!("| max | {:.2e} |", deltas.last().copied().unwrap_or(0.0));
    println!("| tokens the sampler could not have picked (scored) | {inconsistent} of {tokens} |");
    println!("| tokens ranked below top-k when scored | {rank_above_top_k} |");
    println!(
        "| scoring time / generation time | {:.1}% ({score_s:.2} s / {generate_s:.2} s) |",
        100.0 * score_s / generate_s
    );
}
