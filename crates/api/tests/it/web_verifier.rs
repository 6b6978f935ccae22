//! The browser's verifier, as built into `web/pkg`, run under Node on a real receipt: a settled
//! receipt's badge is "settled", and with one output digit changed it is "invalid"; a simulated
//! enclave's `tee` receipt is invalid unless the policy allows simulation, and then labelled
//! UNTRUSTED / SIMULATED; a `zk` receipt's proof is verified in it. (The web page calls the same
//! `describe` on every answer.)

use std::process::Command;

use serde_json::{Value, json};
use veritas_node::{Node, NodeConfig, wire::InferRequest};

#[tokio::test]
async fn the_web_verifier_decides_badges_from_the_receipt_alone() {
    let home = tempfile::tempdir().unwrap();
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH; `cargo xtask test` sets it");
    let mut config = NodeConfig::new(home.path().to_owned(), ort.into());
    config.chain = veritas_node::ChainConfig::Embedded { block_time: None };
    config.threads = Some(1);
    let node = Node::open(&config).await.unwrap();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let staged = node.core().stager().stage_file(&root.join("examples/models/iris-logreg.onnx")).await.unwrap();
    let push = veritas_node::PushRequest { name: "iris".into(), staged, format: veritas_node::ModelFormat::Onnx };
    node.core().push_model(push).await.unwrap();
    let request = InferRequest {
        model: "iris".into(),
        input: json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]}),
        mode: None,
        request_id: None,
        nonce: None,
        sealed: None,
    };
    let id = node.infer(request, None).await.unwrap().receipt.id();
    let run_with = |path: &std::path::Path, policy: Option<&std::path::Path>| -> Vec<Value> {
        let out =
            Command::new("node").arg(root.join("web/tests/badge.mjs")).arg(path).args(policy).output().expect("node");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let run = |path: &std::path::Path| run_with(path, None);
    let path = home.path().join("receipt.json");
    std::fs::write(&path, serde_json::to_vec(&node.core().receipt(&id).await.unwrap()).unwrap()).unwrap();
    let shown = run(&path);
    assert_eq!(shown[0]["badge"], "pending", "a fresh receipt: {}", shown[0]);
    node.gateway().unwrap().settle_pending().await.unwrap().expect("the receipt settles");
    std::fs::write(&path, serde_json::to_vec(&node.core().receipt(&id).await.unwrap()).unwrap()).unwrap();
    let shown = run(&path);
    assert_eq!(shown[0]["badge"], "settled", "{}", shown[0]);
    assert_eq!(shown[0]["receipt_id"], json!(id));
    assert_eq!(shown[1]["badge"], "invalid", "one output digit changed: {}", shown[1]);
    assert!(shown[1]["error"].as_str().is_some_and(|e| !e.is_empty()));

    // A tee receipt from the simulated enclave.
    let tee_home = tempfile::tempdir().unwrap();
    let mut config = NodeConfig::new(tee_home.path().to_owned(), std::env::var("ORT_DYLIB_PATH").unwrap().into());
    config.threads = Some(1);
    config.tee = Some(veritas_node::TeeBackend::Simulated);
    let tee_node = Node::open(&config).await.unwrap();
    let staged = tee_node.core().stager().stage_file(&root.join("examples/models/iris-logreg.onnx")).await.unwrap();
    let push = veritas_node::PushRequest { name: "iris".into(), staged, format: veritas_node::ModelFormat::Onnx };
    tee_node.core().push_model(push).await.unwrap();
    let request = InferRequest {
        model: "iris".into(),
        input: json!({"float_input": [[5.1, 3.5, 1.4, 0.2]]}),
        mode: Some(veritas_primitives::Mode::Tee),
        request_id: None,
        nonce: Some("0123".into()),
        sealed: None,
    };
    let receipt = tee_node.infer(request, None).await.unwrap().receipt;
    std::fs::write(&path, serde_json::to_vec(&receipt).unwrap()).unwrap();
    let refused = run(&path);
    assert_eq!(refused[0]["badge"], "invalid", "{}", refused[0]);
    assert!(refused[0]["error"].as_str().unwrap().contains("SIMULATED"), "{}", refused[0]);
    let policy = home.path().join("policy.json");
    std::fs::write(&policy, r#"{"simulated": {"allow": true}}"#).unwrap();
    let shown = run_with(&path, Some(&policy));
    assert_eq!(shown[0]["badge"], "pending", "{}", shown[0]);
    assert_eq!(shown[0]["tee"]["label"], "UNTRUSTED / SIMULATED", "{}", shown[0]);
    assert_eq!(shown[0]["tee"]["nonce"], "0123", "{}", shown[0]);
    assert_eq!(shown[1]["badge"], "invalid", "one output digit changed: {}", shown[1]);

    // A zk receipt: the browser verifies its proof.
    let onnx = std::fs::read(root.join("examples/models/mnist-mlp.onnx")).unwrap();
    let sample = vec![0.5f32; 784];
    let quantized = veritas_quantize::quantize(&onnx, std::slice::from_ref(&sample)).unwrap();
    let file = home.path().join("mlp.quant.json");
    std::fs::write(&file, serde_json::to_vec(&quantized).unwrap()).unwrap();
    let staged = node.core().stager().stage_file(&file).await.unwrap();
    let push = veritas_node::PushRequest { name: "mlp".into(), staged, format: veritas_node::ModelFormat::Quantized };
    node.core().push_model(push).await.unwrap();
    let request = InferRequest {
        model: "mlp".into(),
        input: json!({"input": [sample]}),
        mode: Some(veritas_primitives::Mode::Zk),
        request_id: None,
        nonce: None,
        sealed: None,
    };
    let receipt = node.infer(request, None).await.unwrap().receipt;
    std::fs::write(&path, serde_json::to_vec(&receipt).unwrap()).unwrap();
    let shown = run(&path);
    assert_eq!(shown[0]["badge"], "pending", "{}", shown[0]);
    assert!(shown[0]["zk"]["security_bits"].as_u64().unwrap() >= 100, "{}", shown[0]);
    // What the proof shows and what it reveals, in plain words, for the page to print.
    assert!(shown[0]["zk"]["reveals"].as_str().unwrap().starts_with("not zero-knowledge"), "{}", shown[0]);
    assert!(shown[0]["guarantee"].as_str().unwrap().contains("not zero-knowledge"), "{}", shown[0]);
    assert_eq!(shown[1]["badge"], "invalid", "one output digit changed: {}", shown[1]);
}
