//! The HTTP API on a real server on 127.0.0.1, with a real node and real models.

use std::path::PathBuf;

use reqwest::StatusCode;
use serde_json::{Value, json};
use veritas_node::{Node, NodeConfig};
use veritas_primitives::Receipt;
use veritas_verifier::{Expectations, verify_receipt};

use crate::harness::{self, Served, examples};

struct Server {
    url: String,
    http: reqwest::Client,
    _home: tempfile::TempDir,
    home_path: PathBuf,
    served: Option<Served>,
}

fn config(home: &std::path::Path) -> NodeConfig {
    let mut config = harness::config(home);
    config.hub.max_model_bytes = 1 << 20;
    config
}

impl Server {
    async fn start() -> Server {
        let home = tempfile::tempdir().unwrap();
        Server::start_in(home).await
    }

    async fn start_in(home: tempfile::TempDir) -> Server {
        Server::start_with(home, false).await
    }

    async fn start_with(home: tempfile::TempDir, embedded_chain: bool) -> Server {
        let mut config = config(home.path());
        if embedded_chain {
            config.chain = veritas_node::ChainConfig::Embedded { block_time: None };
        }
        let node = Node::open(&config).await.unwrap();
        let config = veritas_api::ApiConfig { max_json_bytes: 64 << 10, ..crate::harness::operator_config() };
        let served = Served::start(node, config).await;
        let home_path = home.path().to_owned();
        Server { url: served.url.clone(), http: reqwest::Client::new(), _home: home, home_path, served: Some(served) }
    }

    async fn stop(mut self) -> tempfile::TempDir {
        self.served.take().unwrap().stop().await;
        let Server { _home, .. } = self;
        _home
    }

    async fn push(&self, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
        self.push_as(&crate::harness::operator(), &format!("/v1/models?name={name}"), bytes, &[]).await
    }

    /// A push to `target` (path and query) signed by `publisher`, with `extra` headers after the
    /// signed ones (a later one of the same name replaces it).
    async fn push_as(
        &self,
        publisher: &veritas_primitives::WorkerKey,
        target: &str,
        bytes: Vec<u8>,
        extra: &[(&'static str, &str)],
    ) -> (StatusCode, Value) {
        let node = &self.served.as_ref().unwrap().node;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in crate::harness::push_headers(publisher, node, target, &bytes) {
            headers.insert(name, value.parse().unwrap());
        }
        for (name, value) in extra {
            headers.insert(*name, value.parse().unwrap());
        }
        let response =
            self.http.post(format!("{}{target}", self.url)).headers(headers).body(bytes).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn push_example(&self, name: &str, file: &str) -> Value {
        let (status, body) = self.push(name, std::fs::read(examples().join(file)).unwrap()).await;
        assert!(status.is_success(), "{body}");
        body
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let response = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        (response.status(), response.json().await.unwrap_or(Value::Null))
    }

    async fn post_raw(&self, path: &str, body: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let headers = response.headers().clone();
        (response.status(), headers, response.json().await.unwrap())
    }

    async fn infer(&self, body: Value) -> (StatusCode, Value) {
        let (status, _, body) = self.post_raw("/v1/infer", &body.to_string()).await;
        (status, body)
    }
}

fn assert_error(status: StatusCode, body: &Value, expected_status: u16, code: &str, message: &str) {
    assert_eq!(status.as_u16(), expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let got = body["error"]["message"].as_str().unwrap();
    assert!(got.contains(message), "{got:?} does not contain {message:?}");
}

#[tokio::test]
async fn push_list_show_pull() {
    let server = Server::start().await;
    let bytes = std::fs::read(examples().join("iris-logreg.onnx")).unwrap();
    let (status, first) = server.push("iris", bytes.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(first["version"], 1);
    let (status, again) = server.push("iris", bytes.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["created"], false);
    assert_eq!(again["model_id"], first["model_id"]);
    let second = server.push_example("iris", "iris-svm.onnx").await;
    assert_eq!(second["version"], 2);

    let (_, list) = server.get("/v1/models").await;
    assert_eq!(list["object"], "list");
    assert_eq!(list["data"][0]["id"], "iris");
    assert_eq!(list["data"][0]["veritas"]["version"], 2);

    let (_, shown) = server.get("/v1/models/iris@1").await;
    assert_eq!(shown["veritas"]["model_id"], first["model_id"]);
    assert_eq!(shown["veritas"]["versions"].as_array().unwrap().len(), 2);
    let id = first["model_id"].as_str().unwrap();
    let (_, by_id) = server.get(&format!("/v1/models/{id}")).await;
    assert_eq!(by_id["veritas"]["version"], 1);

    let pulled = server.http.get(format!("{}/v1/models/iris@1/content", server.url)).send().await.unwrap();
    assert_eq!(pulled.headers()["x-veritas-model-id"], id);
    assert_eq!(pulled.bytes().await.unwrap().to_vec(), bytes);
}

#[tokio::test]
async fn every_example_answers_with_a_receipt_that_verifies() {
    let server = Server::start().await;
    for name in ["iris-logreg", "iris-svm", "diabetes-gbr", "mnist-mlp", "mnist-cnn"] {
        let pushed = server.push_example(name, &format!("{name}.onnx")).await;
        let input: Value =
            serde_json::from_str(&std::fs::read_to_string(examples().join(format!("{name}.input.json"))).unwrap())
                .unwrap();
        let (status, headers, answer) =
            server.post_raw("/v1/infer", &json!({"model": name, "input": input}).to_string()).await;
        assert_eq!(status, StatusCode::OK, "{name}: {answer}");
        assert_eq!(headers["x-veritas-receipt"].to_str().unwrap(), answer["receipt_id"].as_str().unwrap());
        let receipt: Receipt = serde_json::from_value(answer["receipt"].clone()).unwrap();
        let expect = Expectations {
            model_id: Some(pushed["model_id"].as_str().unwrap().parse().unwrap()),
            ..Default::default()
        };
        let report = verify_receipt(&receipt, &expect).unwrap_or_else(|err| panic!("{name}: {err}"));
        let unchecked: Vec<_> = report.checks.iter().filter(|c| !c.performed).map(|c| c.name).collect();
        assert_eq!(unchecked, ["batch"], "{name}: every hash is checkable; only settlement is still to come");
        assert_eq!(answer["output"], serde_json::to_value(receipt.body.output.as_ref().unwrap()).unwrap());

        let (status, fetched) = server.get(&format!("/v1/receipts/{}", answer["receipt_id"].as_str().unwrap())).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(fetched, answer["receipt"]);
    }
    let (_, health) = server.get("/healthz").await;
    assert_eq!(health["claims_logged"], 5);
}

#[tokio::test]
async fn receipts_are_on_disk_before_the_answer_and_survive_a_restart() {
    let server = Server::start().await;
    server.push_example("iris", "iris-logreg.onnx").await;
    let (_, answer) = server.infer(json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}})).await;
    let id = answer["receipt_id"].as_str().unwrap().to_owned();
    let home = server.stop().await;
    let restarted = Server::start_in(home).await;
    let (status, fetched) = restarted.get(&format!("/v1/receipts/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched, answer["receipt"]);
}

#[tokio::test]
async fn bad_inference_requests_get_clear_errors() {
    let server = Server::start().await;
    server.push_example("iris", "iris-logreg.onnx").await;
    let check = |input: Value| json!({"model": "iris", "input": input});
    let cases = [
        (json!({"model": "nope", "input": {}}), 404, "unknown_model", "unknown model \"nope\""),
        (
            check(json!({"x": [[1, 2, 3, 4]]})),
            400,
            "invalid_input",
            "unknown input tensor \"x\"; the model takes [\"float_input\"]",
        ),
        (
            check(json!({"float_input": [[1, 2, 3]]})),
            400,
            "invalid_input",
            "tensor \"float_input\": expected shape [?, 4], got [1, 3]",
        ),
        (
            check(json!({"float_input": [["a", 2, 3, 4]]})),
            400,
            "invalid_input",
            "element 0: expected a number, got the string \"a\"",
        ),
        (
            check(json!({"float_input": {"dtype": "int64", "shape": [1, 4], "data": [1, 2, 3, 4]}})),
            400,
            "invalid_input",
            "expected dtype float32, got int64",
        ),
        (check(json!({"float_input": [["NaN", 2, 3, 4]]})), 400, "invalid_input", "element 0 is NaN or infinite"),
        (check(json!({"float_input": [["Infinity", 2, 3, 4]]})), 400, "invalid_input", "NaN or infinite"),
        (check(json!({"float_input": [[1e39, 2, 3, 4]]})), 400, "invalid_input", "out of range for float32"),
        (
            json!({"model": "iris", "input": {"float_input": [[1, 2, 3, 4]]}, "mode": "zk"}),
            400,
            "unsupported_mode",
            "zk mode proves quantized models",
        ),
        (
            json!({"model": "iris", "input": {"float_input": [[1, 2, 3, 4]]}, "mode": "tee"}),
            400,
            "unsupported_mode",
            "start with --tee for tee",
        ),
        (json!({"model": "iris", "input": {}, "extra": 1}), 400, "invalid_request", "unknown field `extra`"),
    ];
    for (body, status, code, message) in cases {
        let (got_status, got) = server.infer(body.clone()).await;
        assert_error(got_status, &got, status, code, message);
    }
    for (raw, message) in [
        (r#"{"model": "iris", "inp"#, "malformed JSON body: EOF while parsing"),
        ("not json", "malformed JSON body: expected ident"),
        ("", "malformed JSON body: EOF"),
    ] {
        let (status, _, body) = server.post_raw("/v1/infer", raw).await;
        assert_error(status, &body, 400, "invalid_request", message);
    }
    let huge = format!("{{\"model\": \"iris\", \"input\": {{\"float_input\": [{}]}}}}", "[1,2,3,4],".repeat(20_000));
    let (status, _, body) = server.post_raw("/v1/infer", &huge).await;
    assert_error(status, &body, 413, "too_large", "");
    // Nothing failed is logged as a claim.
    let (_, health) = server.get("/healthz").await;
    assert_eq!(health["claims_logged"], 0);
}

#[tokio::test]
async fn bad_uploads_are_refused_at_push() {
    let server = Server::start().await;
    let (status, body) = server.push("junk", b"this is not an onnx model".to_vec()).await;
    assert_error(status, &body, 422, "invalid_model", "not a loadable ONNX model");
    let good = std::fs::read(examples().join("iris-logreg.onnx")).unwrap();
    let (status, body) = server.push("half", good[..good.len() / 2].to_vec()).await;
    assert_error(status, &body, 422, "invalid_model", "not a loadable ONNX model");
    let (status, body) = server.push("big", vec![0u8; (1 << 20) + 1]).await;
    assert_error(status, &body, 413, "too_large", "the limit is 1048576 bytes");
    let (status, body) = server.push("Bad/Name", good.clone()).await;
    assert_error(status, &body, 400, "invalid_name", "invalid model name");
    let (status, body) = server.push("empty", vec![]).await;
    assert_error(status, &body, 400, "invalid_request", "empty upload");
    let (status, body) = server.push_as(&crate::harness::operator(), "/v1/models", good, &[]).await;
    assert_error(status, &body, 400, "invalid_request", "expected ?name=NAME");
    let (_, list) = server.get("/v1/models").await;
    assert_eq!(list["data"], json!([]), "nothing refused is listed");
    let staged = std::fs::read_dir(server.home_path.join("hub/staging")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(staged, 0, "refused uploads leave no staged files");
}

#[tokio::test]
async fn a_model_changed_on_disk_is_refused_at_load() {
    let server = Server::start().await;
    let pushed = server.push_example("iris", "iris-logreg.onnx").await;
    let sha = pushed["manifest"]["files"][0]["sha256"].as_str().unwrap();
    let blob = server.home_path.join("hub/objects/blobs/sha256").join(sha);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&blob, bytes).unwrap();
    let (status, body) = server.infer(json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}})).await;
    assert_error(status, &body, 500, "integrity_failure", "integrity check failed");
}

#[tokio::test]
async fn receipts_lookup_errors() {
    let server = Server::start().await;
    let (status, body) = server.get("/v1/receipts/xyz").await;
    assert_error(status, &body, 400, "invalid_request", "not 32 bytes of hex");
    let (status, body) = server.get(&format!("/v1/receipts/0x{}", "00".repeat(32))).await;
    assert_error(status, &body, 404, "unknown_receipt", "unknown receipt");
    let (status, body) = server.get("/v1/nothing").await;
    assert_error(status, &body, 404, "not_found", "no such route");
}

#[tokio::test]
async fn health_metrics_and_openapi() {
    let server = Server::start().await;
    let (status, health) = server.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["status"], "ok");
    assert!(health["worker"].as_str().unwrap().starts_with("0x"));

    server.push_example("iris", "iris-logreg.onnx").await;
    server.infer(json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}})).await;
    let metrics = server.http.get(format!("{}/metrics", server.url)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(r#"veritas_inferences_total{model="iris",outcome="ok"} 1"#), "{metrics}");
    assert!(metrics.contains("veritas_claims_logged_total 1"), "{metrics}");
    assert!(metrics.contains("veritas_models_pushed_total 1"), "{metrics}");

    let (_, openapi) = server.get("/openapi.json").await;
    assert_eq!(openapi["openapi"], "3.1.0");
    let routes = [
        "/v1/network",
        "/v1/tee/policy",
        "/v1/proofs/{sha256}",
        "/rpc",
        "/v1/models",
        "/v1/models/{reference}",
        "/v1/models/{reference}/content",
        "/v1/infer",
        "/v1/receipts/{id}",
        "/v1/requests/{id}",
        "/v1/account/keys",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/verdicts",
        "/v1/verdicts/batch",
        "/v1/batches/sign",
        "/v1/work/chat",
        "/v1/work/key",
        "/v1/confidential/key",
        "/v1/network/registry",
        "/v1/accounts/{address}",
        "/v1/explorer/claims",
        "/v1/explorer/figures",
        "/v1/explorer/nodes",
        "/healthz",
        "/metrics",
        "/openapi.json",
    ];
    let documented: Vec<&str> = openapi["paths"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(documented.len(), routes.len());
    for route in routes {
        assert!(documented.contains(&route), "{route} is not in openapi.json");
    }
}

#[tokio::test]
async fn a_node_with_the_embedded_chain_serves_json_rpc_and_signs_in_its_domain() {
    let server = Server::start_with(tempfile::tempdir().unwrap(), true).await;
    let (_, network) = server.get("/v1/network").await;
    let chain = &network["chain"];
    assert_eq!(chain["chain_id"], 31337);
    assert_eq!(chain["dev_accounts"][0], "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266");
    let settlement = chain["contracts"]["settlement"].clone();
    let answer = server
        .http
        .post(format!("{}/rpc", server.url))
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getCode", "params": [settlement, "latest"]}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(answer["result"].as_str().unwrap().len() > 1000, "the settlement contract is deployed: {answer}");

    server.push_example("iris", "iris-logreg.onnx").await;
    let (_, answer) = server.infer(json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}})).await;
    assert_eq!(answer["receipt"]["domain"]["verifying_contract"], settlement, "claims are bound to this deployment");
    let receipt: Receipt = serde_json::from_value(answer["receipt"].clone()).unwrap();
    verify_receipt(&receipt, &Expectations::default()).unwrap();
}

#[tokio::test]
async fn a_node_without_a_chain_says_so() {
    let server = Server::start().await;
    let (_, network) = server.get("/v1/network").await;
    assert_eq!(network["chain"], Value::Null);
    let response = server.http.post(format!("{}/rpc", server.url)).body("{}").send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_gguf_language_model_is_inspected_at_push() {
    let gguf = std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF; `cargo xtask test` fetches the model");
    let home = tempfile::tempdir().unwrap();
    let mut config = config(home.path());
    config.hub.max_model_bytes = 1 << 30;
    let node = Node::open(&config).await.unwrap();
    let served = crate::harness::Served::start(node.clone(), crate::harness::operator_config()).await;
    let url = served.url.clone();
    let http = reqwest::Client::new();
    let push = |name: &'static str, bytes: Vec<u8>| {
        let target = format!("/v1/models?name={name}&format=gguf");
        let mut request = http.post(format!("{url}{target}"));
        for (header, value) in crate::harness::push_headers(&crate::harness::operator(), &node, &target, &bytes) {
            request = request.header(header, value);
        }
        let request = request.body(bytes);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = push("smollm2", std::fs::read(&gguf).unwrap()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["manifest"]["format"], "gguf");
    assert_eq!(body["manifest"]["metadata"]["architecture"], "llama");
    assert_eq!(body["manifest"]["metadata"]["context_length"], "8192");
    assert_eq!(body["manifest"]["metadata"]["chat_template"], "gguf");

    let onnx = std::fs::read(examples().join("iris-logreg.onnx")).unwrap();
    let (status, body) = push("fake", onnx).await;
    assert_error(status, &body, 422, "invalid_model", "not a GGUF file");
    let mut truncated = std::fs::read(&gguf).unwrap();
    truncated.truncate(64);
    let (status, body) = push("cut", truncated).await;
    assert_error(status, &body, 422, "invalid_model", "GGUF");
}

#[tokio::test]
async fn the_web_chat_is_served_from_the_binary_with_its_verifier() {
    let server = Server::start().await;
    let get = |path: &str| {
        let request = server.http.get(format!("{}{path}", server.url));
        async move {
            let response = request.send().await.unwrap();
            let status = response.status();
            let headers = response.headers().clone();
            (status, headers, response.bytes().await.unwrap())
        }
    };
    let (status, headers, page) = get("/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("connect-src 'self'"));
    let page = String::from_utf8(page.to_vec()).unwrap();
    assert!(page.contains(r#"src="/assets/app.js""#) && page.contains("/assets/style.css"), "{page}");
    let (status, headers, app) = get("/assets/app.js").await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (StatusCode::OK, "text/javascript; charset=utf-8"));
    assert!(String::from_utf8_lossy(&app).contains("/assets/receipt.js"));
    let (status, _, shared) = get("/assets/receipt.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&shared).contains("/assets/pkg/veritas_verifier_wasm.js"));
    let (status, headers, explorer) = get("/explorer").await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (StatusCode::OK, "text/html; charset=utf-8"));
    assert!(String::from_utf8_lossy(&explorer).contains(r#"src="/assets/explorer.js""#));
    let (status, _, _) = get("/assets/explorer.js").await;
    assert_eq!(status, StatusCode::OK);
    let (status, headers, wasm) = get("/assets/pkg/veritas_verifier_wasm_bg.wasm").await;
    assert_eq!((status, headers["content-type"].to_str().unwrap()), (StatusCode::OK, "application/wasm"));
    assert!(wasm.starts_with(b"\0asm"), "a WebAssembly module");
    let (status, _, _) = get("/assets/pkg/veritas_verifier_wasm.js").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get("/assets/../Cargo.toml").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = get("/assets/nothing.js").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(&body[..], b"no such file: /assets/nothing.js");
}

/// Issue 21's first abuse: anyone pushing a model under any name. Every way an outsider could
/// push is refused, and `iris` stays the operator's.
#[tokio::test]
async fn pushes_are_taken_from_the_nodes_operators_only_and_names_from_their_owners() {
    let server = Server::start().await;
    let operator = harness::operator();
    let iris = server.push_example("iris", "iris-logreg.onnx").await;
    let other = std::fs::read(examples().join("iris-svm.onnx")).unwrap();
    let url = format!("{}/v1/models?name=iris", server.url);
    let latest = || async { server.get("/v1/models/iris").await.1["veritas"]["model_id"].clone() };

    // Anonymous, as the issue found it: a raw body, no signature.
    let response = server.http.post(&url).body(other.clone()).send().await.unwrap();
    let status = response.status();
    assert_error(status, &response.json().await.unwrap(), 415, "unsupported_media_type", "application/octet-stream");
    let response = server
        .http
        .post(&url)
        .header("content-type", "application/octet-stream")
        .body(other.clone())
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_error(status, &response.json().await.unwrap(), 401, "unauthorized", "operator's signature");

    // A web page the operator visits, even with a signature it somehow holds.
    let (status, body) =
        server.push_as(&operator, "/v1/models?name=iris", other.clone(), &[("origin", "https://evil.example")]).await;
    assert_error(status, &body, 403, "browser_refused", "web pages");
    // A form post (text/plain, the content type a page may send without asking).
    let (status, body) =
        server.push_as(&operator, "/v1/models?name=iris", other.clone(), &[("content-type", "text/plain")]).await;
    assert_error(status, &body, 415, "unsupported_media_type", "text/plain");

    // A key of its own: signed, but not an operator of this node.
    let stranger = veritas_primitives::WorkerKey::random();
    let (status, body) = server.push_as(&stranger, "/v1/models?name=iris", other.clone(), &[]).await;
    assert_error(status, &body, 403, "not_operator", "is not an operator of this node");

    // The operator's signature for another name, or another file, or used twice.
    let node = &server.served.as_ref().unwrap().node;
    let signed = harness::push_headers(&operator, node, "/v1/models?name=iris-copy", &other);
    let mut request = server.http.post(&url).body(other.clone());
    for (name, value) in &signed {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    assert_error(status, &response.json().await.unwrap(), 401, "unauthorized", "bad push signature");
    let signed = harness::push_headers(&operator, node, "/v1/models?name=iris", &other);
    let mut tampered = other.clone();
    tampered[100] ^= 1;
    let send = |body: Vec<u8>| {
        let mut request = server.http.post(&url).body(body);
        for (name, value) in &signed {
            request = request.header(*name, value);
        }
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, body) = send(tampered).await;
    assert_error(status, &body, 400, "content_mismatch", "not the");
    let (status, body) = send(other.clone()).await;
    assert_error(status, &body, 401, "unauthorized", "already made");
    assert_eq!(latest().await, iris["model_id"], "iris is unchanged");

    // A second operator of the same node owns the names it pushes first, and no others.
    let home = server.stop().await;
    let second = veritas_primitives::WorkerKey::random();
    let node = Node::open(&config(home.path())).await.unwrap();
    let config = veritas_api::ApiConfig {
        operators: vec![operator.address(), second.address()],
        ..crate::harness::operator_config()
    };
    let served = Served::start(node, config).await;
    let server = Server {
        url: served.url.clone(),
        http: reqwest::Client::new(),
        home_path: home.path().to_owned(),
        _home: home,
        served: Some(served),
    };
    let (status, body) = server.push_as(&second, "/v1/models?name=iris", other.clone(), &[]).await;
    assert_error(status, &body, 403, "not_owner", &format!("belongs to {}", operator.address()));
    assert_eq!(server.get("/v1/models/iris").await.1["veritas"]["model_id"], iris["model_id"], "iris is unchanged");
    let (status, body) = server.push_as(&second, "/v1/models?name=svm", other.clone(), &[]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = server.push_as(&operator, "/v1/models?name=svm", other, &[]).await;
    assert_error(status, &body, 403, "not_owner", &format!("belongs to {}", second.address()));
    let (status, body) = server
        .push_as(&operator, "/v1/models?name=iris", std::fs::read(examples().join("iris-svm.onnx")).unwrap(), &[])
        .await;
    assert_eq!(status, StatusCode::CREATED, "the owner adds versions: {body}");
}

/// A page whose name an attacker rebinds to 127.0.0.1 sends its own Host: a loopback node
/// answers it 403, and answers the same request for localhost.
#[tokio::test]
async fn a_loopback_node_answers_only_loopback_hosts() {
    let server = Server::start().await;
    for (host, expected) in [
        ("evil.example", 403),
        ("evil.example:80", 403),
        ("localhost.evil.example", 403),
        ("localhost", 200),
        ("127.0.0.1:1234", 200),
        ("[::1]:1", 200),
    ] {
        let response = server.http.get(format!("{}/v1/models", server.url)).header("host", host).send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{host}");
        if expected == 403 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "forbidden_host", "{body}");
        }
    }
}

/// Issue 21: a client that sends its headers, or its body, too slowly is cut off; one IP's
/// flood gets 429 with `Retry-After`.
#[tokio::test]
async fn slow_clients_are_timed_out_and_one_address_flood_is_limited() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let home = tempfile::tempdir().unwrap();
    let node = Node::open(&config(home.path())).await.unwrap();
    let limits = veritas_api::Limits {
        header_timeout: Duration::from_millis(500),
        body_idle_timeout: Duration::from_millis(500),
        per_ip: Some(veritas_api::Rate { per_second: 1, burst: 5 }),
        ..Default::default()
    };
    let served = Served::start(node, veritas_api::ApiConfig { limits, ..harness::operator_config() }).await;
    let address = served.url.trim_start_matches("http://").to_owned();

    // Headers that never end: the connection is closed.
    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n").await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the node still holds a connection whose headers stalled");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    // A body that stalls: answered with an error, not waited for.
    let started = Instant::now();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        b"POST /v1/infer HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\"",
    )
    .await
    .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), slow.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    // One address's flood: its burst is served, the rest is told when to come back.
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = http.get(format!("{}/v1/models", served.url)).send().await.unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status().as_u16());
    }
    // The slow connections above took a place in the limiter too.
    assert!(statuses.iter().filter(|s| **s == 429).count() >= 6, "{statuses:?}");
    assert!(statuses.iter().take(3).all(|s| *s == 200), "{statuses:?}");
}
