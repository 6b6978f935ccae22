//! A node settling on an external chain (anvil, over JSON-RPC): while the chain is away the node
//! keeps answering and receipts queue; when it is back they settle, once.

use alloy_primitives::U256;
use serde_json::json;
use veritas_node::{
    ChainConfig, Node, NodeConfig,
    chain::{
        Chain, Confirmations, RpcChain,
        anvil::Anvil,
        contracts::{Settlement, VeritasToken},
        genesis::{GenesisConfig, Registration, Role, deploy, register},
    },
    devnet::dev_keys,
    load_or_create_key,
    wire::InferRequest,
};
use veritas_primitives::merkle_leaf;

/// The worker key of this test, as hex.
const WORKER: &str = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

fn iris(x: f64) -> InferRequest {
    InferRequest {
        model: "iris".into(),
        input: json!({"float_input": [[x, 3.5, 1.4, 0.2]]}),
        mode: Some(veritas_primitives::Mode::Signed),
        request_id: None,
        nonce: None,
        sealed: None,
    }
}

#[tokio::test]
async fn receipts_queue_while_the_chain_is_away_and_settle_once_it_is_back() {
    let home = tempfile::tempdir().unwrap();
    let state = home.path().join("anvil-state.json");
    let anvil = Anvil::with_state(0, &state).unwrap();
    let port = anvil.port;
    let chain = RpcChain::connect(&anvil.url).await.unwrap();
    let now = Confirmations::default();
    let keys = dev_keys();
    let admin = &keys[0];
    let contracts = deploy(&chain, admin, &GenesisConfig::dev(admin.address()), now).await.unwrap();
    let unit = U256::from(10u64).pow(U256::from(18u64));

    // The node's keys, registered before it starts; development account 1 pays, from escrow.
    let worker = load_or_create_key(&home.path().join("worker.key"), Some(WORKER)).unwrap();
    let validator = load_or_create_key(&home.path().join("validator.key"), None).unwrap();
    for (signer, role) in [(&worker, Role::Inference), (&validator, Role::Validator)] {
        let registration = Registration { signer, role, endpoint: "", stake: unit * U256::from(1_000u64) };
        register(&chain, &contracts, registration, Some(admin), now).await.unwrap();
    }
    let payer = &keys[1];
    let deposit = unit * U256::from(10u64);
    chain
        .send_call(admin, contracts.token, VeritasToken::transferCall { to: payer.address(), value: deposit }, now)
        .await
        .unwrap();
    let approve = VeritasToken::approveCall { spender: contracts.settlement, value: deposit };
    chain.send_call(payer, contracts.token, approve, now).await.unwrap();
    chain.send_call(payer, contracts.settlement, Settlement::depositCall { amount: deposit }, now).await.unwrap();
    // The payer allows the node's gateway (a standalone node's validator key) to charge it.
    let allow = Settlement::approveGatewayCall { gateway: validator.address(), amount: deposit };
    chain.send_call(payer, contracts.settlement, allow, now).await.unwrap();

    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH; `cargo xtask test` sets it");
    let mut config = NodeConfig::new(home.path().to_owned(), ort.into());
    config.key_hex = Some(WORKER.into());
    config.threads = Some(1);
    config.chain = ChainConfig::Rpc { url: anvil.url.clone(), contracts, confirmations: 1, from_block: 0 };
    let node = Node::open(&config).await.unwrap();
    assert_eq!(node.core().domain(), contracts.domain(31337));
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models/iris-logreg.onnx");
    let staged = node.core().stager().stage_file(&path).await.unwrap();
    let push = veritas_node::PushRequest { name: "iris".into(), staged, format: veritas_node::ModelFormat::Onnx };
    node.core().push_model(push).await.unwrap();

    // No default payer off the development network: a request must name its account.
    let err = node.infer(iris(5.0), None).await.unwrap_err();
    assert!(matches!(err, veritas_node::NodeError::PaymentRequired), "{err}");
    let first = node.infer(iris(5.1), Some(payer.address())).await.unwrap().receipt;

    // The chain goes away: the node still answers, and the receipts wait.
    anvil.stop().unwrap();
    let second = node.infer(iris(6.2), Some(payer.address())).await.unwrap().receipt;
    let err = node.gateway().unwrap().settle_pending().await.unwrap_err();
    assert!(err.to_string().contains("JSON-RPC"), "{err}");
    assert!(node.gateway().unwrap().account(payer.address()).await.is_err(), "balances need the chain");

    // Back, with its state: both settle in one batch, once. For 3 s after a request failed to
    // reach the chain, the node's requests fail at once (`AWAY_RETRY`); its settlement round
    // retries, as this does.
    let anvil = Anvil::with_state(port, &state).unwrap();
    let mut tries = 0;
    let batch = loop {
        match node.gateway().unwrap().settle_pending().await {
            Ok(batch) => break batch.expect("two receipts were waiting"),
            Err(err) if tries < 20 => {
                tries += 1;
                assert!(err.to_string().contains("JSON-RPC"), "{err}");
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            }
            Err(err) => panic!("no settlement once the chain is back: {err}"),
        }
    };
    assert_eq!(batch.count, 2);
    assert!(node.gateway().unwrap().settle_pending().await.unwrap().is_none());
    for receipt in [first, second] {
        let receipt = node.core().receipt(&receipt.id()).await.unwrap();
        let settlement = receipt.settlement.as_ref().unwrap();
        let call = Settlement::isSettledCall {
            root: settlement.batch_root,
            leaf: merkle_leaf(&receipt.id()),
            path: settlement.merkle_path.clone(),
        };
        assert!(chain.view(contracts.settlement, call).await.unwrap());
        veritas_verifier::verify_receipt(&receipt, &veritas_verifier::Expectations::default()).unwrap();
    }
    let escrow =
        chain.view(contracts.settlement, Settlement::balanceOfCall { account: payer.address() }).await.unwrap();
    assert_eq!(escrow, deposit - U256::from(2_000_000_000_000_000u64), "two requests at the default price");
    drop(anvil);
}
