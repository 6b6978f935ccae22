//! `veritas-bench llm-drift [GENERATIONS] [THREADS] [CONCURRENCY]`: how far teacher-forced
//! scoring (the whole completion in one pass, alone) drifts from the log-probabilities seen
//! during batched generation (concurrent generations decoding together, as a node runs them),
//! on honest sampled generations of the default model; and what scoring costs next to
//! generating. The verification network's acceptance tolerance comes from this.

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
    let concurrency: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let gguf = std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF: `cargo xtask setup` fetches the model");
    // Generations decode together, `concurrency` at a time, in one context as a node runs
    // them; each is then scored alone, teacher-forced, as a validator scores it.
    let options = veritas_llm::BatchOptions { threads, sequences: concurrency, context: 8192 };
    let model =
        LlmModel::load_with(gguf.as_ref(), options, std::sync::Arc::new(veritas_llm::DecodeSlots::new(1))).unwrap();
    let params = |i: usize| SamplingParams {
        temperature: [0.0, 0.7, 1.0][i % 3],
        top_p: 0.95,
        top_k: 40,
        seed: i as u32,
        max_tokens: 16 + (i % 5) as u32 * 8,
        stop: vec![],
    };
    let prompt =
        |i: usize| format!("<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n", PROMPTS[i % PROMPTS.len()]);
    let mut deltas = Vec::new();
    let (mut tokens, mut inconsistent, mut rank_above_top_k, mut far) = (0usize, 0usize, 0usize, 0usize);
    let mut per_generation: Vec<(usize, usize)> = Vec::new();
    let (mut generate_s, mut score_s) = (0.0f64, 0.0f64);
    for wave in (0..generations).collect::<Vec<_>>().chunks(concurrency) {
        let started = Instant::now();
        let made: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = wave
                .iter()
                .map(|&i| {
                    let model = &model;
                    scope.spawn(move || {
                        let extras = veritas_llm::Extras { logprobs: true, ..Default::default() };
                        (i, model.generate(&prompt(i), &params(i), &extras, |_| ControlFlow::Continue(())).unwrap())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        generate_s += started.elapsed().as_secs_f64();
        for (i, generation) in made {
            let started = Instant::now();
            let scores = model.score(&prompt(i), &generation.tokens, &params(i), None).unwrap();
            score_s += started.elapsed().as_secs_f64();
            let mut outside = 0;
            for (score, at_generation) in scores.iter().zip(&generation.logprobs) {
                deltas.push((score.logprob - at_generation).abs());
                tokens += 1;
                outside += usize::from(!score.consistent);
                far += usize::from(!score.near);
                rank_above_top_k += usize::from(score.rank > params(i).top_k);
            }
            inconsistent += outside;
            per_generation.push((outside, scores.len()));
        }
    }
    deltas.sort_by(f64::total_cmp);
    println!(
        "{generations} generations ({tokens} tokens) decoded {concurrency} at a time in one batch, temperatures 0 / 0.7 / 1, \
         top_p 0.95, top_k 40, {threads} threads"
    );
    println!("| |logprob(scored) − logprob(generated)| | value |\n|---|---|");
    for (name, p) in [("median", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
        println!("| {name} | {:.2e} |", percentile(&deltas, p));
    }
    println!("| max | {:.2e} |", deltas.last().copied().unwrap_or(0.0));
    println!("| tokens the sampler could not have picked (scored) | {inconsistent} of {tokens} |");
    println!("| tokens ranked below top-k when scored | {rank_above_top_k} |");
    let most = per_generation.iter().map(|&(outside, _)| outside).max().unwrap_or(0);
    println!("| most such tokens in one generation | {most} |");
    println!(
        "| tokens far outside it (not even with logits moved by {} nat) | {far} |",
        veritas_llm::LOGPROB_TOLERANCE
    );
    for (name, share, floor) in [
        ("at most 3%, at least 1 (the rule before)", 0.03, 1usize),
        ("3% + 3 (the validators' rule)", veritas_llm::INCONSISTENT_TOLERANCE, veritas_llm::INCONSISTENT_FLOOR),
    ] {
        let refused = per_generation
            .iter()
            .filter(|&&(outside, n)| {
                let allowed = (n as f64 * share).floor() as usize;
                outside > if floor == 1 { allowed.max(1) } else { allowed + floor }
            })
            .count();
        println!("| honest generations refused by {name} | {refused} of {} |", per_generation.len());
    }
    println!(
        "| scoring time / generation time | {:.1}% ({score_s:.2} s / {generate_s:.2} s wall, batched) |",
        100.0 * score_s / generate_s
    );
}

/// `veritas-bench llm [THREADS]`: prefill and decode speed through veritas against llama.cpp
/// itself (llama-cpp-2, the same vendored build) on the default model; time to first token over
/// HTTP; throughput with 1, 4 and 16 concurrent chats; scoring against generating 256 tokens.
pub fn speed(mut args: impl Iterator<Item = String>) {
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let gguf = std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF: `cargo xtask setup` fetches the model");
    let prompt = format!(
        "<|im_start|>user\n{}<|im_end|>\n<|im_start|>assistant\n",
        "Summarise the following: the sea is wide and deep, and ships cross it every day. ".repeat(8)
    );
    let decode_tokens = 128u32;
    let runs = 5;

    // The peer: llama.cpp through llama-cpp-2 directly, greedy, one context per run.
    let (raw_prefill, raw_decode) = raw_llama(&gguf, &prompt, decode_tokens, threads, runs);

    let model = LlmModel::load(gguf.as_ref(), threads).unwrap();
    let params = SamplingParams { temperature: 0.0, max_tokens: decode_tokens, ..Default::default() };
    let mut prefill = Vec::new();
    let mut decode = Vec::new();
    for run in 0..runs {
        // Each run's prompt begins differently, so that none reuses an earlier one's cached
        // prefix: the prefill is read in full every time, as llama.cpp's is.
        let prompt = prompt.replacen("Summarise", &format!("{run}. Summarise"), 1);
        let prompt_tokens = model.tokenize(&prompt).len();
        let started = Instant::now();
        let mut first = None;
        let generation = model
            .generate(&prompt, &params, &veritas_llm::Extras::default(), |_| {
                first.get_or_insert_with(|| started.elapsed().as_secs_f64());
                ControlFlow::Continue(())
            })
            .unwrap();
        let total = started.elapsed().as_secs_f64();
        let first = first.unwrap_or(total);
        prefill.push(prompt_tokens as f64 / first);
        decode.push((generation.tokens.len() - 1) as f64 / (total - first));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (veritas_prefill, veritas_decode) = (median(&mut prefill), median(&mut decode));
    println!(
        "SmolLM2-135M-Instruct Q4_1, {threads} threads, prompt {} tokens, {decode_tokens} greedy tokens, median of {runs}",
        model.tokenize(&prompt).len()
    );
    println!("| | llama.cpp (llama-cpp-2) | veritas engine | ratio |\n|---|---|---|---|");
    println!("| prefill tokens/s | {raw_prefill:.0} | {veritas_prefill:.0} | {:.2}× |", veritas_prefill / raw_prefill);
    println!("| decode tokens/s | {raw_decode:.1} | {veritas_decode:.1} | {:.2}× |", veritas_decode / raw_decode);
    println!("(veritas' prefill figure includes sampling and decoding the first token)");

    // Scoring 256 tokens against generating them: a story, sampled, long enough.
    let story = "<|im_start|>user\nWrite a long story about a lighthouse keeper.<|im_end|>\n<|im_start|>assistant\n";
    let (mut generate_s, mut generation) = (0.0, None);
    for seed in 0..40 {
        let long = SamplingParams { temperature: 1.0, seed, max_tokens: 256, ..Default::default() };
        let started = Instant::now();
        let candidate =
            model.generate(story, &long, &veritas_llm::Extras::default(), |_| ControlFlow::Continue(())).unwrap();
        if candidate.tokens.len() == 256 {
            generate_s = started.elapsed().as_secs_f64();
            generation = Some((candidate, long));
            break;
        }
    }
    let (generation, long) = generation.expect("a 256-token story within 40 seeds");
    let started = Instant::now();
    model.score(story, &generation.tokens, &long, None).unwrap();
    let score_s = started.elapsed().as_secs_f64();
    println!(
        "\n| scoring {} tokens / generating them | {:.1}% ({:.3} s / {:.3} s) |",
        generation.tokens.len(),
        100.0 * score_s / generate_s,
        score_s,
        generate_s
    );
    drop(model);
    http(&gguf, threads);
}

fn raw_llama(gguf: &str, prompt: &str, decode_tokens: u32, threads: usize, runs: usize) -> (f64, f64) {
    use std::num::NonZeroU32;

    use llama_cpp_2::{
        context::params::LlamaContextParams, llama_backend::LlamaBackend, llama_batch::LlamaBatch, model::LlamaModel,
        model::params::LlamaModelParams, sampling::LlamaSampler,
    };
    llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default().with_logs_enabled(false));
    let backend = LlamaBackend::init().unwrap();
    let model = LlamaModel::load_from_file(&backend, gguf, &LlamaModelParams::default()).unwrap();
    let tokens = model.vocab().tokenize(prompt.as_bytes(), true, true);
    let (mut prefill, mut decode) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let params = LlamaContextParams::default()
            .with_n_ctx(NonZeroU32::new(tokens.len() as u32 + decode_tokens))
            .with_n_batch(512)
            .with_n_ubatch(512)
            .with_n_threads(threads as i32)
            .with_n_threads_batch(threads as i32);
        let mut ctx = model.new_context(&backend, params).unwrap();
        let mut batch = LlamaBatch::new(512, 1);
        for (i, token) in tokens.iter().enumerate() {
            batch.add(*token, i as i32, &[0], i + 1 == tokens.len()).unwrap();
        }
        let started = Instant::now();
        ctx.decode(&mut batch).unwrap();
        prefill.push(tokens.len() as f64 / started.elapsed().as_secs_f64());
        let mut sampler = LlamaSampler::greedy();
        let started = Instant::now();
        let mut position = tokens.len() as i32;
        let mut generated = 0;
        for _ in 0..decode_tokens {
            let token = sampler.sample(&ctx, batch.n_tokens() - 1);
            if model.vocab().is_eog(token) {
                break;
            }
            let _ = model.vocab().token_to_piece(token, false, None);
            generated += 1;
            batch.clear();
            batch.add(token, position, &[0], true).unwrap();
            ctx.decode(&mut batch).unwrap();
            position += 1;
        }
        decode.push(generated as f64 / started.elapsed().as_secs_f64());
    }
    prefill.sort_by(f64::total_cmp);
    decode.sort_by(f64::total_cmp);
    (prefill[runs / 2], decode[runs / 2])
}

#[tokio::main]
async fn http(gguf: &str, threads: usize) {
    use serde_json::{Value, json};
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH: `cargo xtask setup` fetches one");
    let home = tempfile::tempdir().unwrap();
    let mut config = veritas_node::NodeConfig::new(home.path().to_owned(), ort.into());
    config.llm_threads = Some(threads);
    let node = veritas_node::Node::open(&config).await.unwrap();
    let staged = node.core().stager().stage_file(gguf.as_ref()).await.unwrap();
    let push = veritas_node::PushRequest { name: "smollm2".into(), staged, format: veritas_node::ModelFormat::Gguf };
    node.core().push_model(push).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
    let mut handle = veritas_node::NodeHandle::new(node.clone());
    veritas_api::serve(&mut handle, listener, Default::default());
    let http = reqwest::Client::new();
    // Every request numbered, so that none reuses another's cached prompt (but for the chat
    // template's system prompt, which every chat shares).
    let sent = std::sync::atomic::AtomicUsize::new(0);
    let body = |stream: bool, max_tokens: u32| {
        let n = sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        json!({"model": "smollm2", "messages": [{"role": "user", "content": format!("{n}. Tell me about the sea.")}],
               "temperature": 0, "max_tokens": max_tokens, "stream": stream})
    };
    // Warm up: load the model.
    http.post(&url).json(&body(false, 4)).send().await.unwrap().text().await.unwrap();
    let mut ttft = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let mut response = http.post(&url).json(&body(true, 16)).send().await.unwrap();
        let mut first = None;
        while let Some(chunk) = response.chunk().await.unwrap() {
            if first.is_none() && String::from_utf8_lossy(&chunk).contains("\"content\":\"") {
                let text = String::from_utf8_lossy(&chunk).into_owned();
                if !text.contains("\"content\":\"\"") {
                    first = Some(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
        }
        ttft.push(first.unwrap_or(f64::NAN));
    }
    ttft.sort_by(f64::total_cmp);
    println!("\n| time to first token over HTTP (streamed chat, median of 10) | {:.1} ms |", ttft[5]);
    println!("\n| concurrent chats (64 tokens each) | completion tokens/s, all chats | wall s |\n|---|---|---|");
    for concurrent in [1usize, 4, 16] {
        let started = Instant::now();
        let tasks: Vec<_> = (0..concurrent)
            .map(|_| {
                let (http, url, body) = (http.clone(), url.clone(), body(false, 64));
                tokio::spawn(async move {
                    let answer: Value = http.post(&url).json(&body).send().await.unwrap().json().await.unwrap();
                    answer["usage"]["completion_tokens"].as_u64().unwrap_or(0)
                })
            })
            .collect();
        let mut tokens = 0;
        for task in tasks {
            tokens += task.await.unwrap();
        }
        let wall = started.elapsed().as_secs_f64();
        println!("| {concurrent} | {:.1} | {wall:.2} |", tokens as f64 / wall);
    }
}
