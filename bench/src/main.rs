//! Benchmarks of veritas against its peers, same machine, same run.
//!
//!     ORT_DYLIB_PATH=$(cargo xtask setup) cargo run --release --manifest-path bench/Cargo.toml -- onnx [ITERATIONS] [THREADS]
//!     cargo run --release --manifest-path bench/Cargo.toml -- settlement
//!     VERITAS_BIN=target/release/veritas cargo run --release --manifest-path bench/Cargo.toml -- verification
//!     bench/zk/run.sh    (zk: veritas and EZKL on the same models; see bench/zk/)
//!
//! `onnx`: against onnxruntime from Python.
//! Per example model: batch-1 latency of onnxruntime-python (the peer), of veritas' runtime
//! alone, of a whole `Node::infer` in-process (input checks, inference, hashing, signing, the
//! durable claim-log write), and over HTTP on loopback. Then the cost of signing a claim and of
//! logging one. Prints a Markdown table for bench/RESULTS.md.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use serde_json::{Value, json};
use veritas_node::{ModelFormat, NodeConfig, PushRequest, wire::InferRequest};
use veritas_primitives::{B256, Claim, ClaimDomain, Mode, ModelId, Receipt, WorkerKey, keccak256};
use veritas_runtime::{OnnxRuntime, inspect_onnx, parse_inputs};

mod clients;
mod confidential;
mod llm;
mod load;
mod serve;
mod settlement;
mod verification;
mod zk;

const MODELS: [&str; 5] = ["iris-logreg", "iris-svm", "diabetes-gbr", "mnist-mlp", "mnist-cnn"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn median_p90(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (samples[samples.len() / 2], samples[samples.len() * 9 / 10])
}

fn time_us(iterations: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..iterations.div_ceil(10) {
        f();
    }
    let samples = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    median_p90(samples)
}

async fn time_us_async<F: std::future::Future<Output = ()>>(iterations: usize, mut f: impl FnMut() -> F) -> (f64, f64) {
    for _ in 0..iterations.div_ceil(10) {
        f().await;
    }
    let mut samples = Vec::with_capacity(iterations);
    for _ in 0..iterations {
        let start = Instant::now();
        f().await;
        samples.push(start.elapsed().as_secs_f64() * 1e6);
    }
    median_p90(samples)
}

fn peer(model: &Path, input: &Path, iterations: usize, threads: usize) -> Value {
    let output = Command::new("python3")
        .arg(root().join("bench/onnxruntime_peer.py"))
        .args([model.as_os_str(), input.as_os_str()])
        .args([iterations.to_string(), threads.to_string()])
        .output()
        .expect("python3 runs the peer");
    assert!(output.status.success(), "peer failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("the peer prints JSON")
}

/// The allocator of the `veritas` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args = std::env::args().skip(1);
    match args.next().as_deref() {
        Some("onnx") => onnx(args),
        Some("settlement") => settlement::run(),
        Some("llm-drift") => llm::run(args),
        Some("llm") => llm::speed(args),
        Some("llm-serve") => serve::run(args),
        Some("verification") => verification::run(args),
        Some("confidential") => confidential::run(args),
        Some("clients") => clients::run(args),
        Some("load") => load::run(args),
        Some("zk") => {
            let iterations = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
            zk::run(iterations, args.next().as_deref());
        }
        Some("zk-one") => {
            let rest: Vec<String> = args.collect();
            let [name, model, input, iterations] = rest.as_slice() else {
                eprintln!("usage: veritas-bench zk-one NAME MODEL INPUT ITERATIONS");
                std::process::exit(2);
            };
            zk::one(name, model, input, iterations.parse().unwrap_or(5));
        }
        _ => {
            eprintln!(
                "usage: veritas-bench onnx [ITERATIONS] [THREADS] | settlement | llm [RUNS] | llm-drift [GENERATIONS] [THREADS] [CONCURRENCY] | llm-serve [THREADS] [LLAMA_SERVER] | verification [ITERATIONS] [REQUESTS] | confidential [ITERATIONS] | clients [REQUESTS] | load [SECONDS] [SOAK_SECONDS] | zk [ITERATIONS] [OUT.json]"
            );
            std::process::exit(2);
        }
    }
}

#[tokio::main]
async fn onnx(mut args: impl Iterator<Item = String>) {
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2000);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH: run `cargo xtask setup` to get one");
    let home = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(home.path().to_owned(), ort.into());
    config.threads = Some(threads);
    let mut handle = veritas_node::launch(&config).await.unwrap();
    let node = handle.node().clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/infer", listener.local_addr().unwrap());
    veritas_api::serve(&mut handle, listener, Default::default());
    let http = reqwest::Client::new();
    let examples = root().join("examples/models");

    println!(
        "{iterations} iterations per figure, batch 1, {threads} intra-op thread(s); latencies in µs, median (p90)\n"
    );
    println!(
        "| model | onnxruntime-python | veritas runtime | ratio | Node::infer in-process | HTTP round trip | HTTP − in-process |"
    );
    println!("|---|---|---|---|---|---|---|");
    for name in MODELS {
        let model_path = examples.join(format!("{name}.onnx"));
        let input_path = examples.join(format!("{name}.input.json"));
        let input: Value = serde_json::from_str(&std::fs::read_to_string(&input_path).unwrap()).unwrap();
        let bytes = std::fs::read(&model_path).unwrap();

        let peer = peer(&model_path, &input_path, iterations, threads);
        let peer_median = peer["median_us"].as_f64().unwrap();

        let runtime = OnnxRuntime::new(Some(threads));
        let id = ModelId::of_manifest(name.as_bytes());
        runtime.load(&id, &bytes).unwrap();
        let inputs = parse_inputs(&inspect_onnx(&bytes).unwrap().schema, &input).unwrap();
        let (runtime_median, runtime_p90) = time_us(iterations, || {
            runtime.run(&id, &inputs).unwrap();
        });

        let staged = node.core().stager().stage_file(&model_path).await.unwrap();
        node.core().push_model(PushRequest { name: name.into(), staged, format: ModelFormat::Onnx }).await.unwrap();
        let request = InferRequest {
            model: name.into(),
            input: input.clone(),
            mode: Some(Mode::Signed),
            request_id: None,
            nonce: None,
            sealed: None,
        };
        let (node_median, node_p90) = time_us_async(iterations, || {
            let node = node.clone();
            let request = request.clone();
            async move {
                node.infer(request, None).await.unwrap();
            }
        })
        .await;

        let body = json!({"model": name, "input": input}).to_string();
        let (http_median, http_p90) = time_us_async(iterations, || {
            let call = http.post(&url).header("content-type", "application/json").body(body.clone()).send();
            async move {
                let response = call.await.unwrap();
                assert!(response.status().is_success());
                response.bytes().await.unwrap();
            }
        })
        .await;

        println!(
            "| {name} | {peer_median:.1} ({:.1}) | {runtime_median:.1} ({runtime_p90:.1}) | {:.2}× | {node_median:.1} ({node_p90:.1}) | {http_median:.1} ({http_p90:.1}) | {:.1} |",
            peer["p90_us"].as_f64().unwrap(),
            runtime_median / peer_median,
            http_median - node_median,
        );
    }

    let key = WorkerKey::random();
    let domain = ClaimDomain::dev();
    let claim = |i: u64| Claim {
        request_id: keccak256(i.to_be_bytes()),
        model_id: ModelId::of_manifest(b"bench"),
        input_hash: B256::ZERO,
        output_hash: B256::ZERO,
        params_hash: B256::ZERO,
        mode: Mode::Signed,
        worker: key.address(),
        timestamp: i,
    };
    let mut i = 0;
    let (sign_median, sign_p90) = time_us(iterations, || {
        i += 1;
        key.sign_claim(claim(i), &domain).unwrap();
    });
    let log_dir = tempfile::tempdir().unwrap();
    let store = veritas_node::store::Store::open(&log_dir.path().join("claims.redb")).unwrap();
    let (log_median, log_p90) = time_us(iterations.min(500), || {
        i += 1;
        let charge = veritas_node::store::Charge { payer: key.address(), fee: alloy_primitives::U256::from(1u64) };
        let timing = veritas_node::store::Timing::since(std::time::Instant::now());
        let receipt = Receipt::new(domain, key.sign_claim(claim(i), &domain).unwrap());
        store.settlement().append(&receipt, charge, timing).unwrap();
    });
    println!("\n| claim cost | median (p90) µs |\n|---|---|");
    println!("| sign (EIP-712 digest + secp256k1) | {sign_median:.1} ({sign_p90:.1}) |");
    println!("| sign + durable claim-log append (redb, fsync) | {log_median:.1} ({log_p90:.1}) |");
}
