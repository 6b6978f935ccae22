//! Contracts ask for inference on chain: the node reads the request event, serves it with the
//! request's id, has the claim judged, and delivers the verified output with `fulfill`, which
//! pays the worker, calls the contract back and settles the claim. Requests that cannot be
//! served are refused with a reason, once.

use std::time::Duration;

use alloy_sol_types::{SolCall, SolConstructor};
use veritas_node::{
    Node, NodeConfig,
    chain::{
        Chain, Confirmations,
        contracts::{
            Settlement as SettlementContract, VeritasToken, creation_code,
            test_contracts::{TEST_CONSUMER, TestConsumer},
        },
    },
    devnet::dev_keys,
    store::Served,
};
use veritas_primitives::{
    Address, B256, Mode, Receipt, Tensor, TensorData, U256, Value, Values, merkle_leaf, values::canonical_bytes,
};
use veritas_verifier::{Expectations, verify_receipt};

async fn open(home: &std::path::Path) -> Node {
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH; `cargo xtask test` sets it");
    let mut config = NodeConfig::new(home.to_owned(), ort.into());
    config.chain = veritas_node::ChainConfig::Embedded { block_time: None };
    config.threads = Some(1);
    let node = Node::open(&config).await.unwrap();
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/iris-logreg.onnx");
    let staged = node.core().stager().stage_file(&path).await.unwrap();
    let request = veritas_node::PushRequest { name: "iris".into(), staged, format: veritas_node::ModelFormat::Onnx };
    node.core().push_model(request).await.unwrap();
    node
}

/// A `TestConsumer` holding 1,000 tokens.
async fn consumer(node: &Node) -> Address {
    let chain = node.core().embedded().unwrap().clone();
    let contracts = chain.contracts();
    let admin = &dev_keys()[0];
    let mut code = creation_code(TEST_CONSUMER).unwrap().to_vec();
    code.extend(TestConsumer::constructorCall { settlement_: contracts.settlement }.abi_encode());
    let now = Confirmations::default();
    let mined = chain.transact(admin, None, U256::ZERO, code.into(), now).await.unwrap();
    let consumer = mined.contract_address.unwrap();
    let amount = U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64));
    chain
        .send_call(admin, contracts.token, VeritasToken::transferCall { to: consumer, value: amount }, now)
        .await
        .unwrap();
    consumer
}

fn iris_input(x: f32) -> Values {
    let tensor = Tensor::new("float_input", vec![1, 4], TensorData::Float32(vec![x, 3.5, 1.4, 0.2])).unwrap();
    Values::from([("float_input".to_owned(), Value::Tensor(tensor))])
}

/// Asks through the consumer; returns the request id.
async fn ask(node: &Node, consumer: Address, input: Vec<u8>, mode: Mode) -> u64 {
    let chain = node.core().embedded().unwrap().clone();
    let contracts = chain.contracts();
    let model = node.core().model("iris").await.unwrap().id;
    let fee = U256::from(10u64).pow(U256::from(18u64));
    let call = TestConsumer::askWithModeCall {
        token: contracts.token,
        modelId: model.digest(),
        input: input.into(),
        mode: mode.code(),
        maxFee: fee,
    };
    chain.send_call(&dev_keys()[3], consumer, call, Confirmations::default()).await.unwrap();
    chain.view(contracts.settlement, SettlementContract::requestCountCall {}).await.unwrap().to::<u64>()
}

async fn view<C: SolCall + Send>(node: &Node, to: Address, call: C) -> C::Return {
    node.core().embedded().unwrap().clone().view(to, call).await.unwrap()
}

#[tokio::test]
async fn a_contracts_request_is_served_verified_delivered_and_settled() {
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path()).await;
    let contracts = node.core().embedded().unwrap().clone().contracts();
    let consumer = consumer(&node).await;
    let worker_before =
        view(&node, contracts.settlement, SettlementContract::balanceOfCall { account: node.core().key() }).await;

    let input = canonical_bytes(&iris_input(5.1));
    let id = ask(&node, consumer, input.clone(), Mode::Reexec).await;
    assert_eq!(node.gateway().unwrap().serve_requests().await.unwrap(), 1);
    assert_eq!(node.gateway().unwrap().serve_requests().await.unwrap(), 0, "a request is served once");
    let Some(Served::Receipt(receipt_id)) = node.gateway().unwrap().contract_request(id).unwrap() else {
        panic!("request {id} not served")
    };

    // Verdicts, then delivery, on the settlement loop.
    for _ in 0..50 {
        node.gateway().unwrap().settle_pending().await.unwrap();
        if view(&node, consumer, TestConsumer::callsCall {}).await == U256::from(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(view(&node, consumer, TestConsumer::callsCall {}).await, U256::from(1), "the contract was called back");
    assert_eq!(view(&node, consumer, TestConsumer::lastRequestCall {}).await, U256::from(id));

    let receipt: Receipt = node.core().receipt(&receipt_id).await.unwrap();
    assert_eq!(receipt.claim.request_id, B256::from(U256::from(id)));
    assert_eq!(receipt.claim.mode, Mode::Reexec);
    assert_eq!(receipt.body.input.as_ref(), Some(&iris_input(5.1)));
    let output = view(&node, consumer, TestConsumer::lastOutputCall {}).await;
    assert_eq!(output.to_vec(), canonical_bytes(receipt.body.output.as_ref().unwrap()), "the claimed output, as bytes");
    assert!(receipt.verdicts.iter().all(|v| v.valid) && !receipt.verdicts.is_empty());
    verify_receipt(&receipt, &Expectations::default()).unwrap();

    // Settled as a batch of one, which the contract confirms; the worker is paid.
    let settlement = receipt.settlement.clone().expect("the delivery is the receipt's settlement");
    assert_eq!((settlement.batch_root, settlement.merkle_path.len()), (merkle_leaf(&receipt_id), 0));
    let call =
        SettlementContract::isSettledCall { root: settlement.batch_root, leaf: merkle_leaf(&receipt_id), path: vec![] };
    assert!(view(&node, contracts.settlement, call).await);
    let worker_after =
        view(&node, contracts.settlement, SettlementContract::balanceOfCall { account: node.core().key() }).await;
    assert!(worker_after > worker_before, "the worker was paid from the request's escrow");
    // Never batched: nothing is left to settle.
    assert_eq!(node.core().counts().unwrap().pending_settlement, 0);
    let metrics = node.core().metrics_text();
    assert!(metrics.contains(r#"veritas_contract_requests_total{event="fulfilled"} 1"#), "{metrics}");
}

#[tokio::test]
async fn requests_that_cannot_be_served_are_refused_once_with_the_reason() {
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path()).await;
    let consumer = consumer(&node).await;
    let garbage = ask(&node, consumer, b"not values".to_vec(), Mode::Reexec).await;
    let wrong_shape = {
        let tensor = Tensor::new("float_input", vec![1, 2], TensorData::Float32(vec![1.0, 2.0])).unwrap();
        let values = Values::from([("float_input".to_owned(), Value::Tensor(tensor))]);
        ask(&node, consumer, canonical_bytes(&values), Mode::Reexec).await
    };
    let zk = ask(&node, consumer, canonical_bytes(&iris_input(5.0)), Mode::Zk).await;
    let good = ask(&node, consumer, canonical_bytes(&iris_input(6.0)), Mode::Signed).await;
    assert_eq!(node.gateway().unwrap().serve_requests().await.unwrap(), 1, "only the good request is served");
    let reason = |id| match node.gateway().unwrap().contract_request(id).unwrap() {
        Some(Served::Refused(reason)) => reason,
        other => panic!("request {id}: {other:?}"),
    };
    assert!(reason(garbage).contains("input: malformed canonical values"), "{}", reason(garbage));
    assert!(reason(wrong_shape).contains("float_input"), "{}", reason(wrong_shape));
    assert!(reason(zk).contains("zk"), "{}", reason(zk));
    assert!(matches!(node.gateway().unwrap().contract_request(good).unwrap(), Some(Served::Receipt(_))));
    assert_eq!(node.gateway().unwrap().serve_requests().await.unwrap(), 0);
    let metrics = node.core().metrics_text();
    assert!(metrics.contains(r#"veritas_contract_requests_total{event="refused"} 3"#), "{metrics}");
}

#[tokio::test]
async fn a_delivery_made_before_the_node_sends_its_own_becomes_the_receipts_settlement() {
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path()).await;
    let chain = node.core().embedded().unwrap().clone();
    let contracts = chain.contracts();
    let consumer = consumer(&node).await;
    let input = canonical_bytes(&iris_input(5.4));
    let id = ask(&node, consumer, input, Mode::Reexec).await;
    assert_eq!(node.gateway().unwrap().serve_requests().await.unwrap(), 1);
    let Some(Served::Receipt(receipt_id)) = node.gateway().unwrap().contract_request(id).unwrap() else {
        panic!("not served")
    };
    for _ in 0..50 {
        node.gateway().unwrap().verify_pending().await.unwrap();
        if !node.core().receipt(&receipt_id).await.unwrap().verdicts.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Someone else delivers the verified claim first (as the node would have before a crash).
    let receipt = node.core().receipt(&receipt_id).await.unwrap();
    let mut valid: Vec<_> = receipt.verdicts.iter().filter(|v| v.valid).collect();
    valid.sort_by_key(|v| v.validator);
    let call = SettlementContract::fulfillCall {
        id: U256::from(id),
        output: canonical_bytes(receipt.body.output.as_ref().unwrap()).into(),
        claim: veritas_node::chain::contracts::claim_struct(&receipt.claim),
        workerSignature: receipt.signature.to_vec().into(),
        check: valid[0].check.code(),
        validSignatures: valid.iter().map(|v| v.signature.clone()).collect(),
    };
    let stranger = &dev_keys()[5];
    let mined = chain
        .transact_with_gas(
            stranger,
            Some(contracts.settlement),
            U256::ZERO,
            call.abi_encode().into(),
            2_000_000,
            Confirmations::default(),
        )
        .await
        .unwrap();
    node.gateway().unwrap().settle_pending().await.unwrap();
    let settled = node.core().receipt(&receipt_id).await.unwrap().settlement.expect("the earlier delivery is recorded");
    assert_eq!((settled.transaction, settled.block), (mined.transaction, mined.block));
    assert_eq!(view(&node, consumer, TestConsumer::callsCall {}).await, U256::from(1), "delivered once");
}

/// Issue 21: a request that fails for a passing reason (here, a gateway with no worker to ask)
/// is tried again for a while, then refused with the reason, and nothing waits on it after.
#[tokio::test]
async fn a_request_that_keeps_failing_is_tried_for_a_while_then_refused_with_the_reason() {
    let home = tempfile::tempdir().unwrap();
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH; `cargo xtask test` sets it");
    let mut config = NodeConfig::new(home.path().to_owned(), ort.into());
    config.chain = veritas_node::ChainConfig::Embedded { block_time: None };
    config.role = veritas_node::NodeRole::Gateway;
    config.intervals.request_retry = Duration::from_secs(1);
    let node = Node::open(&config).await.unwrap();
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/iris-logreg.onnx");
    let staged = node.core().stager().stage_file(&path).await.unwrap();
    let request = veritas_node::PushRequest { name: "iris".into(), staged, format: veritas_node::ModelFormat::Onnx };
    node.core().push_model(request).await.unwrap();
    let consumer = consumer(&node).await;
    let id = ask(&node, consumer, canonical_bytes(&iris_input(5.1)), Mode::Signed).await;
    let gateway = node.gateway().unwrap();

    let err = gateway.serve_requests().await.unwrap_err();
    assert!(err.retryable(), "{err}");
    assert_eq!(gateway.contract_request(id).unwrap(), None, "not refused yet: tried again");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(gateway.serve_requests().await.unwrap(), 0);
    match gateway.contract_request(id).unwrap() {
        Some(Served::Refused(reason)) => assert!(reason.contains("serving it failed for 1 s"), "{reason}"),
        other => panic!("request {id}: {other:?}"),
    }
    assert_eq!(gateway.serve_requests().await.unwrap(), 0, "nothing is tried again");
}
