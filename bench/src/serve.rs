//! `veritas-bench llm-serve [THREADS] [LLAMA_SERVER]`: many users at once, over HTTP, against
//! llama.cpp's own server.
//!
//! Both sides serve the default model on the same cores with 16 parallel sequences and
//! continuous batching: a veritas node (standalone: it signs, logs and stores a receipt per
//! answer) and `llama-server` (built by `bench/llama-server.sh` from the llama.cpp source
//! veritas links; `-np 16 -c 16384 -kvu -t THREADS`, its other settings its defaults, prompt
//! cache included). The same chat requests (16 questions, each sent numbered so that no two
//! prompts are the same; greedy, at most 96 tokens) go to both through their OpenAI-compatible
//! endpoints, 1, 4 and 16 at a time; then 16 streamed at once give the time to first token. The two sides run one after the other, in
//! the same run.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

const QUESTIONS: [&str; 16] = [
    "Tell me about the sea.",
    "What is the capital of France, and why is it famous?",
    "Explain how a bicycle works.",
    "Write a short poem about autumn leaves.",
    "Why do cats purr?",
    "Give me three tips for learning to cook.",
    "What is a hash function?",
    "Describe a good breakfast.",
    "How do plants make food?",
    "What makes a good friend?",
    "Explain what a rainbow is.",
    "Tell a very short story about a robot.",
    "Why is exercise important?",
    "What are the planets of the solar system?",
    "How does a refrigerator keep food cold?",
    "What is the difference between weather and climate?",
];

const MAX_TOKENS: u32 = 96;

/// Requests sent so far: each is numbered, so that no two prompts are the same (both servers
/// reuse a prompt's cached prefix; only the chat template's system prompt is shared here, as
/// between different users).
static SENT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn body(i: usize, model: &str, stream: bool) -> Value {
    let n = SENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({
        "model": model,
        "messages": [{"role": "user", "content": format!("Question {n}. {}", QUESTIONS[i % QUESTIONS.len()])}],
        "temperature": 0, "max_tokens": MAX_TOKENS, "stream": stream,
    })
}

/// One side: where its chat endpoint is and what it calls the model.
struct Side {
    name: &'static str,
    url: String,
    model: &'static str,
}

/// Completion tokens per second over all chats, `clients` at a time, each sending `rounds`
/// requests one after another; and the wall time.
async fn throughput(http: &reqwest::Client, side: &Side, clients: usize, rounds: usize) -> (f64, f64, usize) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (http, url, model) = (http.clone(), side.url.clone(), side.model);
            tokio::spawn(async move {
                let mut tokens = 0;
                for round in 0..rounds {
                    let answer: Value = http
                        .post(&url)
                        .json(&body(client + round * clients, model, false))
                        .send()
                        .await
                        .unwrap()
                        .json()
                        .await
                        .unwrap();
                    tokens +=
                        answer["usage"]["completion_tokens"].as_u64().unwrap_or_else(|| panic!("{answer}")) as usize;
                }
                tokens
            })
        })
        .collect();
    let mut tokens = 0;
    for task in tasks {
        tokens += task.await.unwrap();
    }
    let wall = started.elapsed().as_secs_f64();
    (tokens as f64 / wall, wall, tokens)
}

/// Times to the first streamed text of `clients` chats sent at once, sorted (seconds).
async fn first_tokens(http: &reqwest::Client, side: &Side, clients: usize) -> Vec<f64> {
    use futures_util::StreamExt;
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (http, url, model) = (http.clone(), side.url.clone(), side.model);
            tokio::spawn(async move {
                let started = Instant::now();
                let response = http.post(&url).json(&body(client, model, true)).send().await.unwrap();
                let mut stream = response.bytes_stream();
                let mut seen = String::new();
                let mut first = None;
                while let Some(chunk) = stream.next().await {
                    seen.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
                    if first.is_none() && has_content(&seen) {
                        first = Some(started.elapsed().as_secs_f64());
                    }
                }
                first.unwrap_or(f64::NAN)
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.push(task.await.unwrap());
    }
    times.sort_by(f64::total_cmp);
    times
}

/// Whether a stream so far holds a chunk with text.
fn has_content(seen: &str) -> bool {
    seen.lines().filter_map(|line| line.strip_prefix("data: ")).any(|data| {
        serde_json::from_str::<Value>(data)
            .ok()
            .is_some_and(|chunk| chunk["choices"][0]["delta"]["content"].as_str().is_some_and(|text| !text.is_empty()))
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn measure(side: &Side) -> (Vec<(usize, f64, f64, usize)>, Vec<f64>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(600)).build().unwrap();
    // Warm up: the model loaded, the first requests' allocations made.
    throughput(&http, side, 4, 1).await;
    let mut rows = Vec::new();
    for (clients, rounds) in [(1, 4), (4, 2), (16, 2)] {
        let (rate, wall, tokens) = throughput(&http, side, clients, rounds).await;
        eprintln!("{}: {clients} at a time: {rate:.1} tokens/s ({tokens} tokens, {wall:.2} s)", side.name);
        rows.push((clients, rate, wall, tokens));
    }
    let ttft = first_tokens(&http, side, 16).await;
    (rows, ttft)
}

fn llama_server(binary: &str, gguf: &str, threads: usize, port: u16) -> Child {
    let child = Command::new(binary)
        .args(["-m", gguf, "--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["-np", "16", "-c", "16384", "-kvu", "-t", &threads.to_string(), "-tb", &threads.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|err| panic!("{binary}: {err} (build it with bench/llama-server.sh)"));
    // Ready when /health says so.
    for _ in 0..600 {
        let ok = std::process::Command::new("curl")
            .args(["-sf", &format!("http://127.0.0.1:{port}/health")])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return child;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("llama-server did not become ready");
}

pub fn run(mut args: impl Iterator<Item = String>) {
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let binary = args.next().unwrap_or_else(|| "target/llama-server/bin/llama-server".into());
    let gguf = std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF: `cargo xtask setup` fetches the model");
    let runtime = tokio::runtime::Runtime::new().unwrap();

    // llama.cpp's server first, alone on the machine.
    let port = 18_977;
    let mut server = llama_server(&binary, &gguf, threads, port);
    let peer =
        Side { name: "llama-server", url: format!("http://127.0.0.1:{port}/v1/chat/completions"), model: "smollm2" };
    let (peer_rows, peer_ttft) = runtime.block_on(measure(&peer));
    let _ = server.kill();
    let _ = server.wait();

    // Then a veritas node, alone on the machine, asked the very same requests.
    SENT.store(0, std::sync::atomic::Ordering::Relaxed);
    let (ours_rows, ours_ttft) = runtime.block_on(async {
        let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH: `cargo xtask setup` fetches one");
        let home = tempfile::tempdir().unwrap();
        let mut config = veritas_node::NodeConfig::new(home.path().to_owned(), ort.into());
        config.llm_threads = Some(threads);
        config.max_generations = Some(16);
        config.llm_context = 16_384;
        let node = veritas_node::Node::open(&config).await.unwrap();
        let staged = node.core().stager().stage_file(gguf.as_ref()).await.unwrap();
        let push =
            veritas_node::PushRequest { name: "smollm2".into(), staged, format: veritas_node::ModelFormat::Gguf };
        node.core().push_model(push).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1/chat/completions", listener.local_addr().unwrap());
        let mut handle = veritas_node::NodeHandle::new(node.clone());
        veritas_api::serve(&mut handle, listener, Default::default());
        let ours = Side { name: "veritas", url, model: "smollm2" };
        let measured = measure(&ours).await;
        drop(handle);
        measured
    });

    println!("{threads} threads, 16 parallel sequences each, greedy chats of at most {MAX_TOKENS} tokens");
    println!("\n| chats at once | llama-server tokens/s | veritas tokens/s | ratio |\n|---|---|---|---|");
    for (peer, ours) in peer_rows.iter().zip(&ours_rows) {
        println!(
            "| {} | {:.1} ({} tokens, {:.1} s) | {:.1} ({} tokens, {:.1} s) | {:.2}× |",
            peer.0,
            peer.1,
            peer.3,
            peer.2,
            ours.1,
            ours.3,
            ours.2,
            ours.1 / peer.1
        );
    }
    println!("\n| time to first token, 16 streamed chats at once | llama-server | veritas |\n|---|---|---|");
    for (name, p) in [("median", 0.5), ("p90", 0.9)] {
        println!(
            "| {name} | {:.0} ms | {:.0} ms |",
            1000.0 * percentile(&peer_ttft, p),
            1000.0 * percentile(&ours_ttft, p)
        );
    }
}
