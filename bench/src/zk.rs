//! `zk`: veritas' prover and verifier on the models EZKL is measured on (bench/zk/ezkl_peer.py).
//!
//! Each model runs in its own child process (`zk-one`) so that its peak memory (VmHWM) is its
//! own. Per model: quantize (calibrated on its sample input), commit to the parameters once
//! (the model commitment, EZKL's setup counterpart), then prove and verify the sample input.

use std::{path::Path, process::Command, time::Instant};

use serde_json::{Value, json};
use veritas_zk::model::{ModelProof, ProvingKey, VerifyingKey, prove, verify};
use veritas_zk::pcs::PcsParams;

use crate::{median_p90, root};

/// The models: name, ONNX file and sample input, relative to the repository root.
const MODELS: [(&str, &str, &str); 5] = [
    ("mnist-mlp", "examples/models/mnist-mlp.onnx", "examples/models/mnist-mlp.input.json"),
    ("mnist-cnn", "examples/models/mnist-cnn.onnx", "examples/models/mnist-cnn.input.json"),
    ("lenet5", "bench/zk/models/lenet5.onnx", "bench/zk/models/lenet5.input.json"),
    ("cnn-large", "bench/zk/models/cnn-large.onnx", "bench/zk/models/cnn-large.input.json"),
    ("resnet-small", "bench/zk/models/resnet-small.onnx", "bench/zk/models/resnet-small.input.json"),
];

fn flatten(value: &Value, out: &mut Vec<f32>) {
    match value {
        Value::Array(items) => items.iter().for_each(|v| flatten(v, out)),
        Value::Number(n) => out.push(n.as_f64().unwrap_or(0.0) as f32),
        Value::Object(map) => map.values().take(1).for_each(|v| flatten(v, out)),
        _ => {}
    }
}

/// Peak resident memory of this process, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// Runs every model in a child process and prints a Markdown table; with `out`, also writes the
/// rows as one JSON array there (what bench/zk/compare.py reads).
pub fn run(iterations: usize, out: Option<&str>) {
    let exe = std::env::current_exe().expect("the bench's own path");
    let mut rows = Vec::new();
    for (name, model, input) in MODELS {
        let output = Command::new(&exe)
            .args(["zk-one", name, model, input, &iterations.to_string()])
            .output()
            .expect("the bench runs itself");
        if !output.status.success() {
            println!("{name}: failed: {}", String::from_utf8_lossy(&output.stderr));
            continue;
        }
        let row: Value = serde_json::from_slice(&output.stdout).expect("zk-one prints JSON");
        println!("{row}");
        rows.push(row);
    }
    if let Some(out) = out {
        std::fs::write(out, serde_json::to_string_pretty(&rows).expect("JSON") + "\n").expect("the results file");
    }
    println!();
    println!("| model | params (2^n) | commit (setup) s | prove s | verify ms | proof KB | peak MiB | security bits |");
    println!("|---|---|---|---|---|---|---|---|");
    for row in &rows {
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.2} | {:.1} | {:.0} | {:.0} |",
            row["model"].as_str().unwrap_or("?"),
            row["log_params"],
            row["commit_s"].as_f64().unwrap_or(f64::NAN),
            row["prove_s"].as_f64().unwrap_or(f64::NAN),
            row["verify_ms"].as_f64().unwrap_or(f64::NAN),
            row["proof_bytes"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            row["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
            row["security_bits"].as_f64().unwrap_or(f64::NAN),
        );
    }
}

/// One model: prints one JSON object.
pub fn one(name: &str, model: &str, input: &str, iterations: usize) {
    let bytes = std::fs::read(root().join(model)).expect("the model file");
    let text = std::fs::read_to_string(root().join(Path::new(input))).expect("the input file");
    let mut sample = Vec::new();
    flatten(&serde_json::from_str(&text).expect("input JSON"), &mut sample);
    let quantized = veritas_quantize::quantize(&bytes, std::slice::from_ref(&sample)).expect("quantizes");
    let input = quantized.quantize_input(&sample);

    let start = Instant::now();
    let key = ProvingKey::new(&quantized, PcsParams::DEFAULT).expect("commits");
    let commit_s = start.elapsed().as_secs_f64();
    let vk: &VerifyingKey = key.verifying_key();

    let mut prove_times = Vec::new();
    let mut last: Option<(Vec<i8>, ModelProof)> = None;
    for _ in 0..iterations.max(1) {
        let start = Instant::now();
        last = Some(prove(&key, &input).expect("proves"));
        prove_times.push(start.elapsed().as_secs_f64());
    }
    let (output, proof) = last.expect("at least one proof");
    let bytes = proof.to_bytes();
    let decoded = ModelProof::from_bytes(&bytes, vk).expect("decodes");
    let mut verify_times = Vec::new();
    for _ in 0..(iterations.max(1) * 4) {
        let start = Instant::now();
        verify(vk, &input, &output, &decoded).expect("verifies");
        verify_times.push(start.elapsed().as_secs_f64() * 1e3);
    }
    let row = json!({
        "model": name,
        "log_params": vk.commitment.log_len,
        "commit_s": commit_s,
        "prove_s": median_p90(prove_times).0,
        "verify_ms": median_p90(verify_times).0,
        "proof_bytes": bytes.len(),
        "peak_rss_mib": peak_rss_mib(),
        "security_bits": vk.security_bits(),
        "threads": std::thread::available_parallelism().map_or(1, usize::from),
    });
    println!("{row}");
}
