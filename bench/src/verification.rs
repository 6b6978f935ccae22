//! `veritas-bench verification [ITERATIONS] [REQUESTS]`: what checking a claim costs a validator
//! next to what computing it cost the worker, per mode (ONNX models and the default language
//! model), how many claims one validator checks per second; then, when `VERITAS_BIN` names a
//! `veritas` binary, the latency from a client's request to a quorum of verdicts and to
//! settlement on the local network `veritas up` starts (a gateway, 2 inference nodes and 3
//! validators, each its own process).

use std::{
    io::Read,
    ops::ControlFlow,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use veritas_node::{
    ChainConfig, ChatRequest, Node, NodeConfig, PushRequest,
    wire::{ChatInput, InferRequest},
};
use veritas_primitives::Mode;

use crate::{MODELS, median_p90, root, time_us_async};

#[tokio::main]
pub async fn run(mut args: impl Iterator<Item = String>) {
    let iterations: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(40);
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH: run `cargo xtask setup` to get one");
    let home = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(home.path().to_owned(), ort.into());
    config.threads = Some(1);
    config.llm_threads = Some(2);
    config.chain = ChainConfig::Embedded { block_time: None };
    let node = Node::open(&config).await.unwrap();
    onnx(&node, iterations).await;
    llm(&node).await;
    match std::env::var("VERITAS_BIN") {
        Ok(bin) => network(&bin, requests).await,
        Err(_) => println!("\n(VERITAS_BIN not set: the local-network latency is skipped)"),
    }
}

/// Per ONNX model: the worker's `Node::infer` (run, hash, sign, durable log) against a
/// validator's `judge` of the receipt, `signed` and re-executed.
async fn onnx(node: &Node, iterations: usize) {
    println!("{iterations} iterations per figure, batch 1, 1 intra-op thread; µs, median (p90)\n");
    println!(
        "| model | worker: Node::infer | validator: signed check | ratio | validator: re-execution | ratio | re-executions/s, one validator |"
    );
    println!("|---|---|---|---|---|---|---|");
    let examples = root().join("examples/models");
    for name in MODELS {
        let staged = node.core().stager().stage_file(&examples.join(format!("{name}.onnx"))).await.unwrap();
        node.core()
            .push_model(PushRequest { name: name.into(), staged, format: veritas_node::ModelFormat::Onnx })
            .await
            .unwrap();
        let input: Value =
            serde_json::from_str(&std::fs::read_to_string(examples.join(format!("{name}.input.json"))).unwrap())
                .unwrap();
        let request = InferRequest {
            model: name.into(),
            input,
            mode: Some(Mode::Reexec),
            request_id: None,
            nonce: None,
            sealed: None,
        };
        let (infer, infer_p90) = time_us_async(iterations, || {
            let (node, request) = (node.clone(), request.clone());
            async move {
                node.infer(request, None).await.unwrap();
            }
        })
        .await;
        // A validator signs one verdict per claim and keeps it, so every timed check is of a
        // fresh claim (its durable verdict write included), in the mode that asks for that check.
        let judge = |mode: Mode| {
            let node = node.clone();
            let mut request = request.clone();
            request.mode = Some(mode);
            async move {
                let mut receipts = Vec::with_capacity(iterations + iterations.div_ceil(10));
                for _ in 0..receipts.capacity() {
                    receipts.push(node.infer(request.clone(), None).await.unwrap().receipt);
                }
                let receipts = std::sync::Mutex::new(receipts);
                time_us_async(iterations, || {
                    let receipt = receipts.lock().unwrap().pop().expect("one receipt per check");
                    let node = node.clone();
                    async move {
                        let judgement = node.validator().unwrap().judge(&receipt, None).await.unwrap();
                        assert!(judgement.valid, "{}", judgement.reason);
                    }
                })
                .await
            }
        };
        let (signed, signed_p90) = judge(Mode::Signed).await;
        let (reexec, reexec_p90) = judge(Mode::Reexec).await;
        println!(
            "| {name} | {infer:.1} ({infer_p90:.1}) | {signed:.1} ({signed_p90:.1}) | {:.2}× | {reexec:.1} ({reexec_p90:.1}) | {:.2}× | {:.0} |",
            signed / infer,
            reexec / infer,
            1e6 / reexec,
        );
    }
}

/// The default language model: a chat's generation against a validator's teacher-forced check.
async fn llm(node: &Node) {
    let Ok(gguf) = std::env::var("VERITAS_TEST_GGUF") else {
        println!("\n(VERITAS_TEST_GGUF not set: the language-model check is skipped)");
        return;
    };
    let staged = node.core().stager().stage_file(gguf.as_ref()).await.unwrap();
    node.core()
        .push_model(PushRequest { name: "smollm2".into(), staged, format: veritas_node::ModelFormat::Gguf })
        .await
        .unwrap();
    let prompts = [
        "Write one sentence about the sea.",
        "Explain what a hash function is, briefly.",
        "Tell a very short story about a cat.",
        "Why is the sky blue?",
        "Describe a good breakfast.",
        "How do plants make food?",
    ];
    let (mut generate_s, mut check_s, mut tokens) = (0.0, 0.0, 0);
    for (i, prompt) in prompts.iter().enumerate() {
        let request = ChatRequest {
            model: "smollm2".into(),
            input: ChatInput::Messages(vec![veritas_node::llm::ChatMessage::new("user", prompt)]),
            sampling: veritas_node::llm::SamplingParams {
                temperature: 0.7,
                seed: i as u32,
                max_tokens: 128,
                ..Default::default()
            },
            logprobs: false,
            mode: Some(Mode::Reexec),
            nonce: None,
            top_logprobs: 0,
            constraint: Default::default(),
        };
        let started = Instant::now();
        let answer = node.gateway().unwrap().chat(request, None, |_| ControlFlow::Continue(())).await.unwrap();
        generate_s += started.elapsed().as_secs_f64();
        tokens += answer.generation.tokens.len();
        let started = Instant::now();
        let judgement = node
            .validator()
            .unwrap()
            .judge(&answer.receipt, Some(veritas_node::wire::CheckMode::Reexec))
            .await
            .unwrap();
        check_s += started.elapsed().as_secs_f64();
        assert!(judgement.valid, "{}", judgement.reason);
    }
    println!("\n| language model (SmolLM2-135M Q4_1, 2 threads) | seconds | per completion |\n|---|---|---|");
    let n = prompts.len() as f64;
    println!(
        "| worker: {} chats, {tokens} tokens generated | {generate_s:.2} | {:.0} ms |",
        prompts.len(),
        generate_s / n * 1e3
    );
    println!("| validator: teacher-forced re-execution of each | {check_s:.2} | {:.0} ms |", check_s / n * 1e3);
    println!("| ratio (target ≤ 15%) | {:.0}% | |", check_s / generate_s * 100.0);
}

/// `veritas up` as a user starts it; the time from a request to its quorum and its settlement.
async fn network(bin: &str, requests: usize) {
    let home = tempfile::tempdir().unwrap();
    let mut up = Command::new(bin)
        .args(["--json", "up", "--listen", "127.0.0.1:0", "--no-default-model"])
        .env("VERITAS_HOME", home.path())
        .env("VERITAS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let up_started = Instant::now();
    let banner = banner(&mut up);
    let up_s = up_started.elapsed().as_secs_f64();
    let api = banner["api"].as_str().unwrap().to_owned();
    let network = Network { child: up };
    let model = root().join("examples/models/iris-logreg.onnx");
    let push = Command::new(bin)
        .args(["model", "push", model.to_str().unwrap(), "--name", "iris"])
        .env("VERITAS_API", &api)
        .env("VERITAS_HOME", home.path())
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", String::from_utf8_lossy(&push.stderr));
    let http = reqwest::Client::new();
    let infer = |i: usize| {
        let body = json!({"model": "iris", "input": {"float_input": [[4.0 + i as f64 / 100.0, 3.5, 1.4, 0.2]]}});
        let call = http.post(format!("{api}/v1/infer")).json(&body).send();
        async move {
            let answer: Value = call.await.unwrap().json().await.unwrap();
            answer["receipt_id"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned()
        }
    };
    let receipt = |id: String| {
        let call = http.get(format!("{api}/v1/receipts/{id}")).send();
        async move { call.await.unwrap().json::<Value>().await.unwrap() }
    };

    // One request at a time: its answer, its quorum, its settlement.
    let (mut answered, mut quorum, mut settled) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..requests {
        let started = Instant::now();
        let id = infer(i).await;
        answered.push(started.elapsed().as_secs_f64() * 1e3);
        let mut have_quorum = false;
        loop {
            let r = receipt(id.clone()).await;
            if !have_quorum && !r["verdicts"].as_array().is_none_or(Vec::is_empty) {
                quorum.push(started.elapsed().as_secs_f64() * 1e3);
                have_quorum = true;
            }
            if !r["settlement"].is_null() {
                settled.push(started.elapsed().as_secs_f64() * 1e3);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Many at once: how fast the network takes them to settlement.
    let burst = requests * 5;
    let started = Instant::now();
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..burst {
        calls.spawn(infer(1000 + i));
    }
    let ids = calls.join_all().await;
    let answered_all = started.elapsed().as_secs_f64();
    for id in ids {
        while receipt(id.clone()).await["settlement"].is_null() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let settled_all = started.elapsed().as_secs_f64();
    drop(network);

    let (a, a90) = median_p90(answered);
    let (q, q90) = median_p90(quorum);
    let (s, s90) = median_p90(settled);
    println!("\n`veritas up` (gateway + 2 inference nodes + 3 validators, re-execution at sampling 1), iris-logreg:\n");
    println!("| local network | median (p90) |\n|---|---|");
    println!("| `veritas up` until every node answers | {up_s:.1} s |");
    println!("| request → answer with receipt ({requests} sequential) | {a:.1} ms ({a90:.1}) |");
    println!("| request → quorum of 3 verdicts | {q:.1} ms ({q90:.1}) |");
    println!("| request → settled on chain (batches every 2 s) | {s:.0} ms ({s90:.0}) |");
    println!(
        "| {burst} concurrent requests: all answered / all settled | {answered_all:.2} s / {settled_all:.2} s ({:.0} settled/s) |",
        burst as f64 / settled_all
    );
}

pub(crate) struct Network {
    pub(crate) child: Child,
}

impl Drop for Network {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// The banner `veritas --json up` prints once every node answers.
pub(crate) fn banner(child: &mut Child) -> Value {
    let mut stdout = child.stdout.take().unwrap();
    let mut text = String::new();
    let mut byte = [0u8; 1];
    loop {
        assert_eq!(stdout.read(&mut byte).unwrap(), 1, "veritas up exited before its banner: {text}");
        text.push(byte[0] as char);
        if byte[0] == b'}'
            && let Ok(value) = serde_json::from_str(&text)
        {
            return value;
        }
    }
}
