//! The OpenAI-compatible chat and completions endpoints on the default model (`cargo xtask test`
//! fetches it and sets `VERITAS_TEST_GGUF`): answers, streams, receipts, and bad requests.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use veritas_node::Node;
use veritas_verifier::{Expectations, verify_receipt};

use crate::harness::{self, Served};

struct Chat {
    url: String,
    http: reqwest::Client,
    node: Node,
    _served: Served,
    _home: tempfile::TempDir,
}

async fn start() -> Chat {
    let home = tempfile::tempdir().unwrap();
    let node = harness::open(&harness::config(home.path())).await;
    harness::push(&node, "smollm2", &harness::gguf(), veritas_node::ModelFormat::Gguf).await;
    harness::push_iris(&node).await;
    let served = Served::start(node.clone(), Default::default()).await;
    Chat { url: served.url.clone(), http: reqwest::Client::new(), node, _served: served, _home: home }
}

impl Chat {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.http.post(format!("{}{path}", self.url)).json(&body).send().await.unwrap()
    }
}

fn hello(extra: Value) -> Value {
    let mut body = json!({
        "model": "smollm2",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "temperature": 0, "max_tokens": 24,
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// The `data:` payloads of a server-sent event stream.
fn events(text: &str) -> Vec<String> {
    text.lines().filter_map(|line| line.strip_prefix("data: ")).map(str::to_owned).collect()
}

#[tokio::test]
async fn a_chat_answer_carries_a_receipt_that_verifies() {
    let chat = start().await;
    let response = chat.post("/v1/chat/completions", hello(json!({"seed": 3, "logprobs": true}))).await;
    assert_eq!(response.status(), StatusCode::OK);
    let header = response.headers()["x-veritas-receipt"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "smollm2");
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(!content.trim().is_empty());
    assert_eq!(body["choices"][0]["message"]["role"], "assistant");
    let usage = &body["usage"];
    assert_eq!(
        usage["total_tokens"].as_u64().unwrap(),
        usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap()
    );
    let logprobs = body["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(logprobs.len() as u64, usage["completion_tokens"].as_u64().unwrap());
    assert_eq!(body["veritas"]["receipt_id"], header);
    let receipt: veritas_primitives::Receipt = serde_json::from_value(body["veritas"]["receipt"].clone()).unwrap();
    verify_receipt(&receipt, &Expectations::default()).unwrap();
    let text = &receipt.body.output.as_ref().unwrap()["text"];
    assert_eq!(serde_json::to_value(text).unwrap()["data"][0], content);
    assert_eq!(receipt.body.params.as_ref().unwrap().0["seed"], 3);

    // The same request again gives the same answer (greedy, same threads).
    let again: Value = chat.post("/v1/chat/completions", hello(json!({"seed": 3}))).await.json().await.unwrap();
    assert_eq!(again["choices"][0]["message"]["content"], content);
    assert_ne!(again["veritas"]["receipt_id"], header, "each request gets its own receipt");

    let completion: Value = chat
        .post(
            "/v1/completions",
            json!({"model": "smollm2", "prompt": "The capital of France is", "max_tokens": 8, "temperature": 0}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(completion["object"], "text_completion");
    assert!(completion["choices"][0]["text"].as_str().is_some());
    assert!(completion["veritas"]["receipt"].is_object());
}

#[tokio::test]
async fn a_streamed_answer_ends_with_the_receipt_and_done() {
    let chat = start().await;
    let response = chat
        .post("/v1/chat/completions", hello(json!({"stream": true, "stream_options": {"include_usage": true}})))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let data = events(&response.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect::<Vec<_>>().concat();
    let last = chunks.iter().find(|c| c["veritas"].is_object()).expect("a chunk with the receipt");
    assert!(last["choices"][0]["finish_reason"].is_string());
    let receipt: veritas_primitives::Receipt = serde_json::from_value(last["veritas"]["receipt"].clone()).unwrap();
    verify_receipt(&receipt, &Expectations::default()).unwrap();
    let text = serde_json::to_value(&receipt.body.output.as_ref().unwrap()["text"]).unwrap();
    assert_eq!(text["data"][0], streamed, "the receipt covers exactly what was streamed");
    assert!(chunks.last().unwrap()["usage"]["completion_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn bad_chat_requests_get_clear_errors() {
    let chat = start().await;
    let cases = [
        (json!({"model": "nope"}), 404, "unknown_model", "nope"),
        (json!({"model": "iris"}), 400, "not_a_language_model", "not a language model"),
        (json!({"temperature": 5}), 400, "invalid_request", "temperature"),
        (json!({"top_p": 0}), 400, "invalid_request", "top_p"),
        (json!({"max_tokens": 0}), 400, "invalid_request", "max_tokens"),
        (json!({"n": 2}), 400, "invalid_request", "n = 1"),
        (json!({"frobnicate": true}), 400, "invalid_request", "frobnicate"),
        (json!({"veritas_mode": "zk"}), 400, "unsupported_mode", "zk mode proves quantized models"),
        (json!({"messages": []}), 400, "invalid_request", "at least one message"),
        (json!({"messages": [{"role": "wizard", "content": "hi"}]}), 400, "invalid_request", "wizard"),
        (json!({"messages": [{"role": "user"}]}), 400, "invalid_request", "content"),
        (json!({"messages": [{"role": "user", "content": "word ".repeat(9000)}]}), 400, "invalid_request", "8192"),
        (json!({"top_logprobs": 3}), 400, "invalid_request", "needs logprobs"),
        (json!({"logprobs": true, "top_logprobs": 21}), 400, "invalid_request", "0 to 20"),
        (json!({"tool_choice": "required"}), 400, "invalid_request", "no tools"),
        (
            json!({"tools": [{"type": "function", "function": {"name": "two words"}}]}),
            400,
            "invalid_request",
            "letters, digits",
        ),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}),
            400,
            "invalid_request",
            "not among the tools",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"$ref": "#/nowhere"}}}}),
            400,
            "invalid_request",
            "JSON Schema",
        ),
        (
            json!({"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": 3}}}),
            400,
            "invalid_request",
            "JSON Schema",
        ),
    ];
    for (extra, status, code, needle) in cases {
        for stream in [false, true] {
            let mut body = hello(extra.clone());
            body["stream"] = json!(stream);
            let response = chat.post("/v1/chat/completions", body).await;
            assert_eq!(response.status().as_u16(), status, "{extra}");
            let answer: Value = response.json().await.unwrap();
            assert_eq!(answer["error"]["code"], code, "{extra}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(needle), "{extra}: {message}");
        }
    }
    assert_eq!(chat.node.core().store().receipts().len().unwrap(), 0, "nothing refused was run or logged");
}

#[tokio::test]
async fn a_client_that_disconnects_stops_the_generation_and_the_receipt_covers_what_was_sent() {
    let chat = start().await;
    let body = hello(json!({"stream": true, "max_tokens": 400, "temperature": 1, "seed": 1,
        "messages": [{"role": "user", "content": "Write a long story about a dragon."}]}));
    let mut response = chat.post("/v1/chat/completions", body).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.chunk().await.unwrap().unwrap();
    response.chunk().await.unwrap().unwrap();
    drop(response);
    // The generation notices, stops early, and its (shorter) receipt is logged.
    let mut logged = 0;
    for _ in 0..100 {
        logged = chat.node.core().store().receipts().len().unwrap();
        if logged == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(logged, 1);
}

#[tokio::test]
async fn the_official_openai_python_client_works_unmodified() {
    let python =
        std::env::var("VERITAS_TEST_PYTHONPATH").expect("VERITAS_TEST_PYTHONPATH; `cargo xtask test` installs openai");
    let chat = start().await;
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/openai_chat.py");
    let url = chat.url.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3").arg(script).arg(url).env("PYTHONPATH", python).output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let content = report["content"].as_str().unwrap();
    assert!(!content.trim().is_empty(), "{report}");
    assert_eq!(report["streamed"], content, "streamed and whole answers agree (same seed, greedy)");
    assert!(report["receipt_id"].as_str().unwrap().starts_with("0x"), "{report}");
    assert!(report["header_receipt"].as_str().unwrap().starts_with("0x"), "{report}");
    assert!(report["stream_receipt_id"].as_str().unwrap().starts_with("0x"), "{report}");
    assert!(report["stream_finish"].is_string(), "{report}");
    assert!(report["completion"].is_string(), "{report}");
    assert!(report["usage"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn several_chats_at_once_all_answer() {
    let chat = start().await;
    let requests = (0..6u32).map(|seed| {
        let body = hello(json!({"seed": seed, "temperature": 0.8, "max_tokens": 12}));
        let (http, url) = (chat.http.clone(), chat.url.clone());
        tokio::spawn(async move {
            let response = http.post(format!("{url}/v1/chat/completions")).json(&body).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()["veritas"]["receipt_id"].as_str().unwrap().to_owned()
        })
    });
    let mut ids = Vec::new();
    for request in requests.collect::<Vec<_>>() {
        ids.push(request.await.unwrap());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 6, "six answers, six receipts");
    assert_eq!(chat.node.core().store().receipts().len().unwrap(), 6);
}

#[tokio::test]
async fn a_chat_is_charged_per_request_and_per_token_at_the_gateways_listed_price() {
    use alloy_primitives::U256;
    use veritas_node::chain::{Chain, Confirmations, contracts::ModelRegistry};
    let home = tempfile::tempdir().unwrap();
    let key = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
    let mut config = harness::config_on_chain(home.path());
    config.key_hex = Some(key.into());
    let node = Node::open(&config).await.unwrap();
    let staged = node.core().stager().stage_file(&harness::gguf()).await.unwrap();
    let push = veritas_node::PushRequest { name: "smollm2".into(), staged, format: veritas_node::ModelFormat::Gguf };
    let version = node.core().push_model(push).await.unwrap().version;
    let chain = node.core().embedded().unwrap().clone();
    let models = chain.contracts().models;
    // The worker published the model; as its owner it sets a price, which is not the gateway's.
    let owner = veritas_primitives::WorkerKey::from_bytes(&key.parse().unwrap()).unwrap();
    let call = ModelRegistry::setPricesCall {
        modelId: version.id.digest(),
        pricePerRequest: U256::from(1),
        pricePerToken: U256::ZERO,
    };
    chain.send_call(&owner, models, call, Confirmations::default()).await.unwrap();
    // The gateway (a standalone node's validator key) lists its own per-token price.
    let gateway = veritas_node::load_or_create_key(&home.path().join("validator.key"), None).unwrap();
    assert_eq!(gateway.address(), node.gateway().unwrap().address());
    let (per_request, per_token) = (U256::from(1_000_000_000_000_000u64), U256::from(10_000_000_000_000u64));
    let call = ModelRegistry::listCall { modelId: version.id.digest(), perRequest: per_request, perToken: per_token };
    chain.send_call(&gateway, models, call, Confirmations::default()).await.unwrap();

    let request = veritas_node::ChatRequest {
        model: "smollm2".into(),
        input: veritas_node::wire::ChatInput::Prompt("The sea is".into()),
        sampling: veritas_node::llm::SamplingParams { temperature: 0.0, max_tokens: 12, ..Default::default() },
        logprobs: false,
        mode: None,
        nonce: None,
        top_logprobs: 0,
        constraint: Default::default(),
    };
    let answer = node.gateway().unwrap().chat(request, None, |_| std::ops::ControlFlow::Continue(())).await.unwrap();
    let payer = veritas_node::devnet::dev_accounts()[1];
    let (_, committed) = node.gateway().unwrap().account(payer).await.unwrap();
    assert_eq!(committed, per_request + per_token * U256::from(answer.generation.tokens.len()));
}

#[tokio::test]
async fn a_long_answer_does_not_hold_up_a_short_one() {
    let chat = start().await;
    let story = hello(json!({"stream": true, "max_tokens": 300, "temperature": 1, "seed": 11,
        "messages": [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]}));
    let mut long = chat.post("/v1/chat/completions", story).await;
    assert_eq!(long.status(), StatusCode::OK);
    long.chunk().await.unwrap().unwrap();
    // While the story streams, a short question is answered: the two take turns decoding. Had
    // the short one waited for the story, the story would be over (its remaining chunks
    // buffered) by the time the short answer came.
    let short: Value = chat.post("/v1/chat/completions", hello(json!({"max_tokens": 4}))).await.json().await.unwrap();
    let answered = std::time::Instant::now();
    assert!(short["veritas"]["receipt_id"].is_string(), "{short}");
    let mut rest = String::new();
    while let Some(chunk) = long.chunk().await.unwrap() {
        rest.push_str(&String::from_utf8_lossy(&chunk));
    }
    let story_went_on = answered.elapsed();
    let pieces = events(&rest).iter().filter(|d| d.contains("\"content\":\"")).count();
    assert!(pieces > 20, "the story ended too soon to tell ({pieces} more pieces)");
    assert!(
        story_went_on > Duration::from_millis(150),
        "the story was over when the short answer came ({story_went_on:?})"
    );
}
