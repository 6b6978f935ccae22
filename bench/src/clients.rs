//! `veritas-bench clients [REQUESTS]` (with `VERITAS_BIN`): what verifying every answer costs a
//! client, against the request's own latency, on `veritas up` with the default language model
//! (from `VERITAS_TEST_GGUF` when set) and iris: each request sent straight to the gateway and
//! through `veritas proxy` (which fetches the receipt and verifies it before the answer's end
//! goes out), and the verifier alone on the same receipts (what the SDKs call, in process).

use std::{
    process::{Command, Stdio},
    time::Instant,
};

use serde_json::{Value, json};
use veritas_primitives::Receipt;
use veritas_verifier::{Expectations, verify_receipt};

use crate::{
    median_p90, root, time_us,
    verification::{Network, banner},
};

#[tokio::main]
pub async fn run(mut args: impl Iterator<Item = String>) {
    let requests: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(30);
    let bin =
        std::env::var("VERITAS_BIN").expect("VERITAS_BIN: the veritas binary to start `veritas up` and the proxy");
    let home = tempfile::tempdir().unwrap();
    if let Ok(gguf) = std::env::var("VERITAS_TEST_GGUF") {
        std::fs::create_dir_all(home.path().join("models")).unwrap();
        std::fs::copy(gguf, home.path().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    }
    let mut up = Command::new(&bin)
        .args(["--json", "up", "--listen", "127.0.0.1:0", "--llm-threads", "1"])
        .env("VERITAS_HOME", home.path())
        .env("VERITAS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let api = banner(&mut up)["api"].as_str().unwrap().to_owned();
    let _network = Network { child: up };
    let model = root().join("examples/models/iris-logreg.onnx");
    let push = Command::new(&bin)
        .args(["model", "push", model.to_str().unwrap(), "--name", "iris"])
        .env("VERITAS_API", &api)
        .env("VERITAS_HOME", home.path())
        .output()
        .unwrap();
    assert!(push.status.success(), "{}", String::from_utf8_lossy(&push.stderr));
    let mut proxy = Command::new(&bin)
        .args(["--json", "proxy", "--upstream", &api, "--listen", "127.0.0.1:0"])
        .env("VERITAS_HOME", home.path())
        .env("VERITAS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let proxied = banner(&mut proxy)["proxy"].as_str().unwrap().to_owned();
    let _proxy = Network { child: proxy };

    let http = reqwest::Client::new();
    let post = |base: &str, path: &str, body: Value| {
        let call = http.post(format!("{base}{path}")).json(&body).send();
        async move {
            let response = call.await.unwrap();
            assert!(response.status().is_success(), "{}", response.text().await.unwrap_or_default());
            response.json::<Value>().await.unwrap()
        }
    };
    let infer = json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}});
    let chat = json!({"model": "smollm2", "messages": [{"role": "user", "content": "Name one colour."}],
        "max_tokens": 16, "temperature": 0, "seed": 1});
    println!("{requests} requests per figure, one at a time; ms, median (p90)\n");
    println!("| request | straight to the gateway | through `veritas proxy` (receipt fetched and verified) | added |");
    println!("|---|---|---|---|");
    let mut receipts = Vec::new();
    for (name, path, body) in [("iris (ONNX)", "/v1/infer", &infer), ("chat, 16 tokens", "/v1/chat/completions", &chat)]
    {
        let mut times = [Vec::new(), Vec::new()];
        for i in 0..requests + 2 {
            for (at, base) in [&api, &proxied].into_iter().enumerate() {
                let started = Instant::now();
                let answer = post(base, path, body.clone()).await;
                if i >= 2 {
                    times[at].push(started.elapsed().as_secs_f64() * 1e3);
                }
                if i == 0 && at == 0 {
                    let id = answer["receipt_id"].as_str().or(answer["veritas"]["receipt_id"].as_str()).unwrap();
                    let text = http.get(format!("{api}/v1/receipts/{id}")).send().await.unwrap().text().await.unwrap();
                    receipts.push((name, text));
                }
            }
        }
        let [(direct, direct_p90), (via, via_p90)] = times.map(median_p90);
        println!("| {name} | {direct:.2} ({direct_p90:.2}) | {via:.2} ({via_p90:.2}) | {:.2} |", via - direct);
    }

    println!("\nThe verifier alone, in process, on those receipts (what the SDKs call): µs, median (p90)\n");
    println!("| receipt | parse and verify |");
    println!("|---|---|");
    for (name, text) in receipts {
        let (verify, verify_p90) = time_us(1000, || {
            let receipt: Receipt = serde_json::from_str(&text).unwrap();
            verify_receipt(&receipt, &Expectations::default()).unwrap();
        });
        println!("| {name} | {verify:.0} ({verify_p90:.0}) |");
    }
}
