//! Load: requests/s and latency at 1, 16 and 64 closed-loop clients against a standalone node
//! and against `veritas up` (its own processes, over HTTP), with the in-process `Node::infer`
//! throughput of the same machine as the ceiling; the claims awaiting verdicts and the quorums
//! formed, second by second, under the heaviest load and after it; optionally a soak with the
//! network's memory sampled.
//!
//! The clients are this program's (a bounded set of tasks, each sending its next request when
//! the last one answered), so every figure counts answered requests, and errors and 503s are
//! counted apart.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use veritas_node::{ChainConfig, Node, NodeConfig, PushRequest, wire::InferRequest};

use crate::root;

/// What one load run measured.
struct Outcome {
    answered: u64,
    refused: u64,
    errors: u64,
    seconds: f64,
    latencies_ms: Vec<f64>,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.answered as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies_ms.clone();
        sorted.sort_by(f64::total_cmp);
        sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
    }
}

fn body(i: u64) -> Value {
    json!({"model": "iris", "input": {"float_input": [[4.0 + (i % 300) as f64 / 100.0, 3.5, 1.4, 0.2]]}})
}

/// `clients` closed loops posting `/v1/infer` to `api` for `seconds`.
async fn load(api: &str, clients: usize, seconds: f64) -> Outcome {
    let http = reqwest::Client::builder().pool_max_idle_per_host(clients).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (http, stop, counter, url) = (http.clone(), stop.clone(), counter.clone(), format!("{api}/v1/infer"));
        tasks.spawn(async move {
            let (mut answered, mut refused, mut errors, mut latencies) = (0u64, 0u64, 0u64, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                match http.post(&url).json(&body(i)).send().await {
                    Ok(response) if response.status().is_success() => {
                        let _ = response.bytes().await;
                        answered += 1;
                        latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                    }
                    Ok(response) if response.status().as_u16() == 503 || response.status().as_u16() == 429 => {
                        let _ = response.bytes().await;
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    _ => errors += 1,
                }
            }
            (answered, refused, errors, latencies)
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcome = Outcome { answered: 0, refused: 0, errors: 0, seconds: 0.0, latencies_ms: Vec::new() };
    for (answered, refused, errors, latencies) in tasks.join_all().await {
        outcome.answered += answered;
        outcome.refused += refused;
        outcome.errors += errors;
        outcome.latencies_ms.extend(latencies);
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome
}

/// The in-process ceiling: `Node::infer` (run, sign, durable log) from 64 tasks at once on a
/// standalone node with the embedded chain, as fast as it goes.
async fn ceiling(seconds: f64) -> f64 {
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH: run `cargo xtask setup` to get one");
    let home = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(home.path().to_owned(), ort.into());
    config.threads = Some(1);
    config.chain = ChainConfig::Embedded { block_time: None };
    // Nothing judges here (no rounds run): the ceiling is the worker's own path, unbounded.
    config.max_backlog = u64::MAX;
    let node = Node::open(&config).await.unwrap();
    let staged = node.core().stager().stage_file(&root().join("examples/models/iris-logreg.onnx")).await.unwrap();
    let push = PushRequest { name: "iris".into(), staged, format: veritas_node::ModelFormat::Onnx };
    node.core().push_model(push).await.unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..64u64 {
        let (node, stop) = (node.clone(), stop.clone());
        tasks.spawn(async move {
            let mut done = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let request: InferRequest = serde_json::from_value(body(task * 1_000 + done)).unwrap();
                node.infer(request, None).await.unwrap();
                done += 1;
            }
            done
        });
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let done: u64 = tasks.join_all().await.into_iter().sum();
    done as f64 / started.elapsed().as_secs_f64()
}

/// A process of ours, stopped (SIGTERM) when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        let _ = self.0.wait();
    }
}

/// Starts `veritas ARGS` in `home`; returns it and its API's URL, from its first JSON line.
fn start(bin: &str, home: &std::path::Path, args: &[&str]) -> (Process, String) {
    let mut child = Command::new(bin)
        .arg("--json")
        .args(args)
        .args(["--listen", "127.0.0.1:0", "--rate-limit-ip", "0", "--rate-limit-account", "0"])
        .env("VERITAS_HOME", home)
        .env("VERITAS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    let banner: Value = loop {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "veritas {args:?} exited before its banner: {text}");
        text.push_str(&line);
        if let Ok(value) = serde_json::from_str(&text) {
            break value;
        }
    };
    let api = banner["api"].as_str().unwrap().to_owned();
    let push = Command::new(bin)
        .args(["model", "push", root().join("examples/models/iris-logreg.onnx").to_str().unwrap(), "--name", "iris"])
        .env("VERITAS_API", &api)
        .env("VERITAS_HOME", home)
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", String::from_utf8_lossy(&push.stderr));
    (Process(child), api)
}

/// The gateway's claims awaiting verdicts and quorums formed so far.
async fn counts(http: &reqwest::Client, api: &str) -> (u64, u64) {
    let health: Value = http.get(format!("{api}/healthz")).send().await.unwrap().json().await.unwrap();
    let counts = &health["counts"];
    (
        counts["awaiting_verdicts"].as_u64().unwrap_or(0),
        counts["quorums_valid"].as_u64().unwrap_or(0) + counts["quorums_invalid"].as_u64().unwrap_or(0),
    )
}

/// Resident memory of `pid` and of each of its children, in MiB, with each
/// process's arguments (Linux `/proc`).
fn memory_mib(pid: u32) -> Vec<(String, f64)> {
    let mut processes = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return processes };
    for entry in entries.flatten() {
        let Ok(other) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let stat = std::fs::read_to_string(format!("/proc/{other}/stat")).unwrap_or_default();
        let parent =
            stat.rsplit(')').next().and_then(|rest| rest.split_whitespace().nth(1)).and_then(|p| p.parse().ok());
        if other != pid && parent != Some(pid) {
            continue;
        }
        let status = std::fs::read_to_string(format!("/proc/{other}/status")).unwrap_or_default();
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        let args = std::fs::read(format!("/proc/{other}/cmdline")).unwrap_or_default();
        let args: Vec<String> =
            args.split(|b| *b == 0).skip(1).take(6).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        processes.push((args.join(" "), kib as f64 / 1024.0));
    }
    processes
}

fn row(target: &str, clients: usize, outcome: &Outcome, ceiling: f64) {
    println!(
        "| {target} | {clients} | {:.0} | {:.1} | {:.1} | {:.0}% | {} | {} |",
        outcome.rate(),
        outcome.percentile(0.5),
        outcome.percentile(0.99),
        100.0 * outcome.rate() / ceiling,
        outcome.errors,
        outcome.refused,
    );
}

/// `veritas-bench load [SECONDS] [SOAK_SECONDS]`.
#[tokio::main]
pub async fn run(mut args: impl Iterator<Item = String>) {
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10.0);
    let soak: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0.0);
    let bin = std::env::var("VERITAS_BIN").expect("VERITAS_BIN: the release `veritas` binary");
    let http = reqwest::Client::new();

    let ceiling = ceiling(seconds).await;
    println!("iris-logreg, {seconds} s per row, closed-loop clients of this program, same machine\n");
    println!("in-process `Node::infer` (64 tasks, standalone node, embedded chain): {ceiling:.0} requests/s\n");
    println!("| target | clients | requests/s | p50 ms | p99 ms | of the ceiling | errors | 503/429 |");
    println!("|---|---|---|---|---|---|---|---|");

    let home = tempfile::tempdir().unwrap();
    let (node, api) = start(&bin, home.path(), &["node", "--threads", "1"]);
    for clients in [1, 16, 64] {
        row("standalone node", clients, &load(&api, clients, seconds).await, ceiling);
    }
    drop(node);

    let home = tempfile::tempdir().unwrap();
    let (up, api) = start(&bin, home.path(), &["up", "--no-default-model"]);
    for clients in [1, 16] {
        row("`veritas up`", clients, &load(&api, clients, seconds).await, ceiling);
    }
    // The heaviest load with the backlog sampled every second, then until it drains.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (http, api, sampling) = (http.clone(), api.clone(), sampling.clone());
        tokio::spawn(async move {
            let started = Instant::now();
            let mut samples = Vec::new();
            let mut last = counts(&http, &api).await.1;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let (awaiting, quorums) = counts(&http, &api).await;
                samples.push((started.elapsed().as_secs_f64(), awaiting, quorums - last));
                last = quorums;
                if !sampling.load(Ordering::Relaxed) && awaiting == 0 {
                    return samples;
                }
            }
        })
    };
    let heaviest = load(&api, 64, seconds).await;
    row("`veritas up`", 64, &heaviest, ceiling);
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    println!(
        "\n`veritas up` at 64 clients for {seconds} s, then idle: claims awaiting verdicts and quorums formed per second\n"
    );
    println!("| s | awaiting | quorums/s |\n|---|---|---|");
    for (at, awaiting, quorums) in &samples {
        println!("| {at:.0} | {awaiting} | {quorums} |");
    }

    if soak > 0.0 {
        println!("\nsoak: `veritas up` at 64 clients for {soak} s; resident memory of all its processes\n");
        println!("| s | MiB | MiB per process (up, then its nodes) | quorums so far | awaiting |");
        println!("|---|---|---|---|---|");
        let soaking = {
            let api = api.clone();
            tokio::spawn(async move { load(&api, 64, soak).await })
        };
        let started = Instant::now();
        while started.elapsed().as_secs_f64() < soak {
            let (awaiting, quorums) = counts(&http, &api).await;
            let processes = memory_mib(up.0.id());
            let total: f64 = processes.iter().map(|(_, mib)| mib).sum();
            let each: Vec<String> = processes.iter().map(|(_, mib)| format!("{mib:.0}")).collect();
            println!(
                "| {:.0} | {total:.0} | {} | {quorums} | {awaiting} |",
                started.elapsed().as_secs_f64(),
                each.join(" / ")
            );
            tokio::time::sleep(Duration::from_secs_f64((soak / 20.0).max(1.0))).await;
        }
        let outcome = soaking.await.unwrap();
        println!(
            "\nsoak: {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms, {} errors, {} refused",
            outcome.rate(),
            outcome.percentile(0.5),
            outcome.percentile(0.99),
            outcome.errors,
            outcome.refused
        );
        println!("\nresident memory at the end, per process\n\n| process | MiB |\n|---|---|");
        for (args, mib) in memory_mib(up.0.id()) {
            println!("| `{args}` | {mib:.0} |");
        }
    }
    drop(up);
}
