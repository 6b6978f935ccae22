//! Receipts settle: the batcher puts pending claims in a batch, settles it on the embedded chain
//! and writes each receipt's settlement and verdict; nothing settles twice, across restarts.

use std::sync::Arc;

use serde_json::{Value, json};
use veritas_node::{InferRequest, Node, NodeConfig, chain::contracts::Settlement as SettlementContract};
use veritas_primitives::{Receipt, merkle_leaf};
use veritas_verifier::{Expectations, verify_receipt};

fn open(home: &std::path::Path) -> Arc<Node> {
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH; `cargo xtask test` sets it");
    let mut config = NodeConfig::new(home.to_owned(), ort.into());
    config.embedded_chain = true;
    config.threads = Some(1);
    Arc::new(Node::open(&config).unwrap())
}

async fn push_iris(node: &Node) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/iris-logreg.onnx");
    let staged = node.stager().stage_file(&path).await.unwrap();
    let request = veritas_node::PushRequest { name: "iris".into(), staged, format: veritas_node::ModelFormat::Onnx };
    node.push_model(request).await.unwrap();
}

async fn infer(node: &Node, x: f64) -> Receipt {
    let request = InferRequest {
        model: "iris".into(),
        input: json!({"float_input": [[x, 3.5, 1.4, 0.2]]}),
        mode: veritas_primitives::Mode::Signed,
    };
    node.infer(request).await.unwrap().receipt
}

fn on_chain(node: &Node, receipt: &Receipt) -> bool {
    let settlement = receipt.settlement.as_ref().unwrap();
    let call = SettlementContract::isSettledCall {
        root: settlement.batch_root,
        leaf: merkle_leaf(&receipt.id()),
        path: settlement.merkle_path.clone(),
    };
    let chain = node.chain().unwrap();
    let mut chain = chain.lock().unwrap();
    chain.view(settlement.contract, call).unwrap()
}

#[tokio::test]
async fn pending_receipts_settle_once_with_a_verdict_and_a_merkle_path() {
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path());
    push_iris(&node).await;
    let mut ids = Vec::new();
    for x in [5.1, 6.2, 7.3] {
        ids.push(infer(&node, x).await.id());
    }
    let batch = node.settle_pending().await.unwrap().expect("three receipts were pending");
    assert_eq!(batch.count, 3);
    assert!(node.settle_pending().await.unwrap().is_none(), "nothing is settled twice");

    for id in &ids {
        let receipt = node.receipt(id).await.unwrap();
        let settlement = receipt.settlement.as_ref().expect("settled");
        assert_eq!(settlement.batch_root, batch.root);
        assert_eq!(settlement.transaction, batch.transaction);
        assert_eq!(receipt.verdicts.len(), 1, "the node's own validator vouched, and the receipt says who");
        let report = verify_receipt(&receipt, &Expectations::default()).unwrap();
        assert!(report.checks.iter().any(|c| c.name == "batch" && c.performed));
        assert!(on_chain(&node, &receipt), "the contract confirms the receipt is in the settled batch");
    }

    // New work after a restart settles in a new batch; the old batch stays settled.
    drop(node);
    let node = open(home.path());
    assert!(node.settle_pending().await.unwrap().is_none(), "the restart found nothing pending");
    let fourth = infer(&node, 4.9).await;
    let second = node.settle_pending().await.unwrap().unwrap();
    assert_eq!(second.count, 1);
    assert_ne!(second.root, batch.root);
    let receipt = node.receipt(&fourth.id()).await.unwrap();
    assert!(on_chain(&node, &receipt));
    let first = node.receipt(&ids[0]).await.unwrap();
    assert!(on_chain(&node, &first));
}

#[tokio::test]
async fn the_receipt_endpoint_shows_the_settlement() {
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path());
    push_iris(&node).await;
    let receipt = infer(&node, 5.0).await;
    assert!(receipt.settlement.is_none(), "an answer never waits for a block");
    node.settle_pending().await.unwrap().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(veritas_api::serve(node.clone(), listener, Default::default(), std::future::pending()));
    let fetched: Value =
        reqwest::get(format!("{url}/v1/receipts/{}", receipt.id())).await.unwrap().json().await.unwrap();
    assert_eq!(fetched["settlement"]["chain_id"], 31337);
    assert!(fetched["settlement"]["merkle_path"].is_array());
}

#[tokio::test]
async fn a_request_the_payer_cannot_cover_is_refused_with_402_before_it_runs() {
    let home = tempfile::tempdir().unwrap();
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH; `cargo xtask test` sets it");
    let mut config = NodeConfig::new(home.path().to_owned(), ort.into());
    config.embedded_chain = true;
    // The development payer deposits 100,000 tokens; each request costs 60,000.
    let unit = alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18u64));
    config.fee_per_request = Some(unit * alloy_primitives::U256::from(60_000u64));
    let node = Arc::new(Node::open(&config).unwrap());
    push_iris(&node).await;
    infer(&node, 5.1).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(veritas_api::serve(node.clone(), listener, Default::default(), std::future::pending()));
    let body = json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}});
    let refuse = || async {
        let response = reqwest::Client::new().post(format!("{url}/v1/infer")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::PAYMENT_REQUIRED);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "insufficient_funds");
        answer["error"]["message"].as_str().unwrap().to_owned()
    };
    let message = refuse().await;
    assert!(message.contains("has 100000000000000000000000 in escrow"), "{message}");
    assert!(message.contains("60000000000000000000000 of it committed"), "{message}");
    assert!(message.contains("the price is 60000000000000000000000"), "{message}");

    // Once the first request is paid, 40,000 remain: still not enough.
    node.settle_pending().await.unwrap().unwrap();
    let message = refuse().await;
    assert!(message.contains("has 40000000000000000000000 in escrow, 0 of it committed"), "{message}");
    assert_eq!(node.claims_logged().unwrap(), 1, "nothing refused was run or logged");
}
