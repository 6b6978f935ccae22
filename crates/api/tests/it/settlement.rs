//! Receipts settle: the batcher puts pending claims in a batch, settles it on the embedded chain
//! and writes each receipt's settlement and verdict; nothing settles twice, across restarts.

use serde_json::{Value, json};
use veritas_node::{
    Node, NodeConfig,
    chain::{Chain, contracts::Settlement as SettlementContract},
};
use veritas_primitives::{Receipt, merkle_leaf};
use veritas_verifier::{Expectations, verify_receipt};

use crate::harness::{self, push_iris};

async fn open(home: &std::path::Path) -> Node {
    harness::open(&harness::config_on_chain(home)).await
}

/// A node on the embedded chain with `change` made to its configuration, serving `iris`.
async fn open_iris_with(home: &std::path::Path, change: impl FnOnce(&mut NodeConfig)) -> Node {
    let mut config = harness::config_on_chain(home);
    change(&mut config);
    let node = harness::open(&config).await;
    push_iris(&node).await;
    node
}

async fn infer(node: &Node, x: f64) -> Receipt {
    node.infer(harness::iris(x, Some(veritas_primitives::Mode::Signed)), None).await.unwrap().receipt
}

async fn on_chain(node: &Node, receipt: &Receipt) -> bool {
    let settlement = receipt.settlement.as_ref().unwrap();
    let call = SettlementContract::isSettledCall {
        root: settlement.batch_root,
        leaf: merkle_leaf(&receipt.id()),
        path: settlement.merkle_path.clone(),
    };
    let chain = node.core().chain().unwrap().chain.clone();
    chain.view(settlement.contract, call).await.unwrap()
}

#[tokio::test]
async fn pending_receipts_settle_once_with_a_verdict_and_a_merkle_path() {
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path()).await;
    push_iris(&node).await;
    let mut ids = Vec::new();
    for x in [5.1, 6.2, 7.3] {
        ids.push(infer(&node, x).await.id());
    }
    let batch = node.gateway().unwrap().settle_pending().await.unwrap().expect("three receipts were pending");
    assert_eq!(batch.count, 3);
    assert!(node.gateway().unwrap().settle_pending().await.unwrap().is_none(), "nothing is settled twice");

    for id in &ids {
        let receipt = node.core().receipt(id).await.unwrap();
        let settlement = receipt.settlement.as_ref().expect("settled");
        assert_eq!(settlement.batch_root, batch.root);
        assert_eq!(settlement.transaction, batch.transaction);
        assert_eq!(receipt.verdicts.len(), 1, "the node's own validator vouched, and the receipt says who");
        let report = verify_receipt(&receipt, &Expectations::default()).unwrap();
        assert!(report.checks.iter().any(|c| c.name == "batch" && c.performed));
        assert!(on_chain(&node, &receipt).await, "the contract confirms the receipt is in the settled batch");
    }

    // New work after a restart settles in a new batch; the old batch stays settled.
    drop(node);
    let node = open(home.path()).await;
    assert!(node.gateway().unwrap().settle_pending().await.unwrap().is_none(), "the restart found nothing pending");
    let fourth = infer(&node, 4.9).await;
    let second = node.gateway().unwrap().settle_pending().await.unwrap().unwrap();
    assert_eq!(second.count, 1);
    assert_ne!(second.root, batch.root);
    let receipt = node.core().receipt(&fourth.id()).await.unwrap();
    assert!(on_chain(&node, &receipt).await);
    let first = node.core().receipt(&ids[0]).await.unwrap();
    assert!(on_chain(&node, &first).await);
}

#[tokio::test]
async fn the_receipt_endpoint_shows_the_settlement() {
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path()).await;
    push_iris(&node).await;
    let receipt = infer(&node, 5.0).await;
    assert!(receipt.settlement.is_none(), "an answer never waits for a block");
    node.gateway().unwrap().settle_pending().await.unwrap().unwrap();
    let served = crate::harness::Served::start(node.clone(), Default::default()).await;
    let url = served.url.clone();
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
    config.chain = veritas_node::ChainConfig::Embedded { block_time: None };
    // The development payer deposits 100,000 tokens; each request costs 60,000.
    let unit = alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18u64));
    config.fee_per_request = Some(unit * alloy_primitives::U256::from(60_000u64));
    let node = Node::open(&config).await.unwrap();
    push_iris(&node).await;
    infer(&node, 5.1).await;

    let served = crate::harness::Served::start(node.clone(), Default::default()).await;
    let url = served.url.clone();
    let body = json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}});
    let refuse = || async {
        let response = reqwest::Client::new().post(format!("{url}/v1/infer")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::PAYMENT_REQUIRED);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "insufficient_funds");
        // The figures, for a program to read, are the ones the message says.
        let funds = &answer["error"]["funds"];
        let message = answer["error"]["message"].as_str().unwrap().to_owned();
        for figure in ["balance", "committed", "price"] {
            assert!(message.contains(funds[figure].as_str().unwrap()), "{figure}: {answer}");
        }
        message
    };
    let message = refuse().await;
    assert!(message.contains("has 100000000000000000000000 in escrow"), "{message}");
    assert!(message.contains("60000000000000000000000 of it committed"), "{message}");
    assert!(message.contains("the price is 60000000000000000000000"), "{message}");

    // Once the first request is paid, 40,000 remain: still not enough.
    node.gateway().unwrap().settle_pending().await.unwrap().unwrap();
    let message = refuse().await;
    assert!(message.contains("has 40000000000000000000000 in escrow"), "{message}");
    assert!(message.contains("0 of it committed"), "{message}");
    assert_eq!(node.core().store().receipts().len().unwrap(), 1, "nothing refused was run or logged");
}

/// Signs a request as `key` for the `X-Veritas-*` headers, for `scope`, with `nonce`.
fn signed_for(
    request: reqwest::RequestBuilder,
    key: &veritas_primitives::WorkerKey,
    scope: &veritas_primitives::request::RequestScope,
    nonce: &str,
    path: &str,
    body: &[u8],
) -> reqwest::RequestBuilder {
    use veritas_primitives::request::{SignedRequest, request_digest};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let signed = SignedRequest { method: "POST", path, timestamp: now, nonce, body };
    let signature = veritas_primitives::hex::encode(key.sign_digest(&request_digest(scope, &signed)).unwrap());
    request
        .header("x-veritas-account", key.address().to_string())
        .header("x-veritas-timestamp", now.to_string())
        .header("x-veritas-nonce", nonce)
        .header("x-veritas-signature", signature)
        .body(body.to_vec())
}

/// The scope of requests signed for this node's gateway on its chain.
fn scope_of(node: &Node) -> veritas_primitives::request::RequestScope {
    veritas_primitives::request::RequestScope {
        chain_id: node.core().domain().chain_id,
        gateway: node.gateway().unwrap().address(),
    }
}

/// A fresh nonce.
fn nonce() -> String {
    veritas_primitives::hex::encode(alloy_primitives::B256::random())
}

#[tokio::test]
async fn accounts_pay_with_an_api_key_or_a_signed_request() {
    use veritas_node::chain::{Confirmations, contracts::VeritasToken};
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path()).await;
    push_iris(&node).await;
    let keys = veritas_node::devnet::dev_keys();
    let (alice, bob) = (&keys[2], &keys[3]);
    // Alice deposits 1 token into escrow; Bob deposits nothing.
    let chain = node.core().embedded().unwrap().clone();
    let contracts = chain.contracts();
    let one = alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18u64));
    let approve = VeritasToken::approveCall { spender: contracts.settlement, value: one };
    chain.send_call(alice, contracts.token, approve, Confirmations::default()).await.unwrap();
    let deposit = SettlementContract::depositCall { amount: one };
    chain.send_call(alice, contracts.settlement, deposit, Confirmations::default()).await.unwrap();
    let allow = SettlementContract::approveGatewayCall { gateway: node.gateway().unwrap().address(), amount: one };
    chain.send_call(alice, contracts.settlement, allow, Confirmations::default()).await.unwrap();

    let served = crate::harness::Served::start(node.clone(), Default::default()).await;
    let url = served.url.clone();
    let http = reqwest::Client::new();

    // An API key needs a request signed by the account; it is shown once.
    let unsigned = http.post(format!("{url}/v1/account/keys")).json(&json!({})).send().await.unwrap();
    assert_eq!(unsigned.status(), reqwest::StatusCode::UNAUTHORIZED);
    let scope = scope_of(&node);
    let signed = |request, key, path, body: &[u8]| signed_for(request, key, &scope, &nonce(), path, body);
    let created =
        signed(http.post(format!("{url}/v1/account/keys")), alice, "/v1/account/keys", b"{}").send().await.unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    let api_key = created["api_key"].as_str().unwrap().to_owned();
    assert_eq!(created["account"].as_str().unwrap().parse::<veritas_primitives::Address>().unwrap(), alice.address());
    assert!(
        !std::fs::read(home.path().join("claims.redb"))
            .unwrap()
            .windows(api_key.len())
            .any(|w| w == api_key.as_bytes()),
        "only the key's hash is stored"
    );

    // Alice's key pays from Alice's escrow.
    let body = json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}});
    let paid = http.post(format!("{url}/v1/infer")).bearer_auth(&api_key).json(&body).send().await.unwrap();
    assert_eq!(paid.status(), reqwest::StatusCode::OK);
    let account: Value =
        http.get(format!("{url}/v1/accounts/{}", alice.address())).send().await.unwrap().json().await.unwrap();
    assert_eq!(account["escrow"], one.to_string());
    assert_eq!(account["committed"], "1000000000000000", "the default price, 0.001 token, is committed");

    // An unknown key, and a signed request by an account without escrow.
    let unknown = http.post(format!("{url}/v1/infer")).bearer_auth("vk_nope").json(&body).send().await.unwrap();
    assert_eq!(unknown.status(), reqwest::StatusCode::UNAUTHORIZED);
    let bytes = serde_json::to_vec(&body).unwrap();
    let broke = signed(http.post(format!("{url}/v1/infer")), bob, "/v1/infer", &bytes)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(broke.status(), reqwest::StatusCode::PAYMENT_REQUIRED);
    let answer: Value = broke.json().await.unwrap();
    assert!(answer["error"]["message"].as_str().unwrap().contains(&bob.address().to_checksum(None)), "{answer}");

    // A signed request by Alice is served once; the same signature again is refused, and so is
    // a new signature with the same nonce.
    let once = nonce();
    let request = signed_for(http.post(format!("{url}/v1/infer")), alice, &scope, &once, "/v1/infer", &bytes)
        .header("content-type", "application/json")
        .build()
        .unwrap();
    let replay = request.try_clone().unwrap();
    assert_eq!(http.execute(request).await.unwrap().status(), reqwest::StatusCode::OK);
    let refused = http.execute(replay).await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    let message = refused.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("nonce was already used"), "{message}");
    let again = signed_for(http.post(format!("{url}/v1/infer")), alice, &scope, &once, "/v1/infer", &bytes)
        .header("content-type", "application/json");
    assert_eq!(again.send().await.unwrap().status(), reqwest::StatusCode::UNAUTHORIZED);
    // Signatures made for another gateway or another chain are worth nothing here.
    for other in [
        veritas_primitives::request::RequestScope { gateway: alice.address(), ..scope },
        veritas_primitives::request::RequestScope { chain_id: 1, ..scope },
    ] {
        let elsewhere = signed_for(http.post(format!("{url}/v1/infer")), alice, &other, &nonce(), "/v1/infer", &bytes)
            .header("content-type", "application/json");
        let refused = elsewhere.send().await.unwrap();
        assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED, "{other:?}");
        let message = refused.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_owned();
        assert!(message.contains("bad request signature"), "{message}");
    }
    // Without a nonce, the request is refused, naming the header.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let bare = http
        .post(format!("{url}/v1/infer"))
        .header("x-veritas-account", alice.address().to_string())
        .header("x-veritas-timestamp", now.to_string())
        .header("x-veritas-signature", "00".repeat(65))
        .json(&body);
    let refused = bare.send().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);
    assert!(refused.text().await.unwrap().contains("x-veritas-nonce"));

    // Settlement debits Alice for her two requests and nobody else.
    let before = node.gateway().unwrap().account(keys[1].address()).await.unwrap().0;
    node.gateway().unwrap().settle_pending().await.unwrap().unwrap();
    let (escrow, committed) = node.gateway().unwrap().account(alice.address()).await.unwrap();
    assert_eq!(escrow, one - alloy_primitives::U256::from(2_000_000_000_000_000u64));
    assert_eq!(committed, alloy_primitives::U256::ZERO);
    assert_eq!(
        node.gateway().unwrap().account(keys[1].address()).await.unwrap().0,
        before,
        "the development payer paid nothing"
    );
}

#[tokio::test]
async fn with_interval_blocks_receipts_settle_at_the_next_block() {
    let home = tempfile::tempdir().unwrap();
    let mut config = harness::config(home.path());
    config.chain = veritas_node::ChainConfig::Embedded { block_time: Some(std::time::Duration::from_millis(500)) };
    // The node's own rounds mine the blocks; this test settles by hand.
    config.intervals.settle = std::time::Duration::from_secs(3600);
    let handle = veritas_node::launch(&config).await.unwrap();
    let node = handle.node().clone();
    push_iris(&node).await;
    let receipt = infer(&node, 5.1).await;
    let chain = node.core().chain().unwrap().chain.clone();
    let head = chain.block_number().await.unwrap();
    node.gateway().unwrap().settle_pending().await.unwrap().unwrap();
    let settled = node.core().receipt(&receipt.id()).await.unwrap();
    assert!(settled.settlement.as_ref().unwrap().block > head, "mined by the interval miner");
    assert!(on_chain(&node, &settled).await);
    handle.shutdown().await.unwrap();
}

/// Issue 21: a flood gets 429s with `Retry-After`, counted per account after its signature
/// holds (so nobody can spend another's limit), while a paying account within its limit is
/// served.
#[tokio::test]
async fn a_flooding_account_gets_429s_while_a_paying_account_within_its_limit_is_served() {
    use veritas_node::chain::{Confirmations, contracts::VeritasToken};
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path()).await;
    push_iris(&node).await;
    let keys = veritas_node::devnet::dev_keys();
    let (alice, mallory) = (&keys[2], &keys[3]);
    let chain = node.core().embedded().unwrap().clone();
    let contracts = chain.contracts();
    let one = alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18u64));
    for key in [alice, mallory] {
        let approve = VeritasToken::approveCall { spender: contracts.settlement, value: one };
        chain.send_call(key, contracts.token, approve, Confirmations::default()).await.unwrap();
        let deposit = SettlementContract::depositCall { amount: one };
        chain.send_call(key, contracts.settlement, deposit, Confirmations::default()).await.unwrap();
        let allow = SettlementContract::approveGatewayCall { gateway: node.gateway().unwrap().address(), amount: one };
        chain.send_call(key, contracts.settlement, allow, Confirmations::default()).await.unwrap();
    }
    let limits =
        veritas_api::Limits { per_account: Some(veritas_api::Rate { per_second: 1, burst: 3 }), ..Default::default() };
    let served =
        crate::harness::Served::start(node.clone(), veritas_api::ApiConfig { limits, ..Default::default() }).await;
    let (url, http, scope) = (served.url.clone(), reqwest::Client::new(), scope_of(&node));
    let bytes =
        serde_json::to_vec(&json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}})).unwrap();
    let send = |key| {
        signed_for(http.post(format!("{url}/v1/infer")), key, &scope, &nonce(), "/v1/infer", &bytes)
            .header("content-type", "application/json")
            .send()
    };

    let mut statuses = Vec::new();
    for _ in 0..10 {
        let response = send(mallory).await.unwrap();
        if response.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
            let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
            assert!((1..=2).contains(&wait), "{wait}");
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"]["code"], "rate_limited", "{body}");
            statuses.push(429);
        } else {
            statuses.push(response.status().as_u16());
        }
    }
    assert_eq!(statuses[..3], [200, 200, 200], "the burst is served: {statuses:?}");
    assert!(statuses[3..].iter().filter(|s| **s == 429).count() >= 6, "the flood is refused: {statuses:?}");

    // Alice, within her limit, is served throughout; a signature in Alice's name that does not
    // hold costs her nothing.
    let mut forged = signed_for(http.post(format!("{url}/v1/infer")), mallory, &scope, &nonce(), "/v1/infer", &bytes)
        .header("content-type", "application/json")
        .build()
        .unwrap();
    forged.headers_mut().insert("x-veritas-account", alice.address().to_string().parse().unwrap());
    assert_eq!(http.execute(forged).await.unwrap().status(), reqwest::StatusCode::UNAUTHORIZED);
    for _ in 0..3 {
        assert_eq!(send(alice).await.unwrap().status(), reqwest::StatusCode::OK);
    }
    assert_eq!(node.core().store().receipts().len().unwrap(), 6, "only the served requests were run");
}

/// Issue 21: past a bound of claims awaiting verdicts, the gateway refuses new work with 503
/// and `Retry-After` instead of growing the backlog, and serves again once quorums form.
#[tokio::test]
async fn past_its_verification_backlog_the_gateway_answers_503_until_quorums_form() {
    let home = tempfile::tempdir().unwrap();
    let node = open_iris_with(home.path(), |config| config.max_backlog = 2).await;
    let served = crate::harness::Served::start(node.clone(), Default::default()).await;
    let http = reqwest::Client::new();
    let infer = || {
        http.post(format!("{}/v1/infer", served.url))
            .json(&json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}}))
            .send()
    };
    for _ in 0..2 {
        assert_eq!(infer().await.unwrap().status(), reqwest::StatusCode::OK);
    }
    let refused = infer().await.unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "overloaded", "{body}");
    assert_eq!(node.core().store().receipts().len().unwrap(), 2, "nothing refused was run");

    assert_eq!(node.gateway().unwrap().verify_pending().await.unwrap(), 2);
    assert_eq!(infer().await.unwrap().status(), reqwest::StatusCode::OK);
}

/// Issue 21: rounds of verdicts run side by side over disjoint claims: two rounds started
/// together both judge claims, and all rounds together judge every claim exactly once.
#[tokio::test]
async fn rounds_side_by_side_judge_disjoint_claims_each_once() {
    let home = tempfile::tempdir().unwrap();
    let node = open(home.path()).await;
    push_iris(&node).await;
    for i in 0..300 {
        infer(&node, 4.0 + f64::from(i) / 100.0).await;
    }
    let gateway = node.gateway().unwrap();
    let (a, b, c) = tokio::join!(gateway.verify_pending(), gateway.verify_pending(), gateway.verify_pending());
    let together = [a.unwrap(), b.unwrap(), c.unwrap()];
    assert!(together.iter().sum::<usize>() > 128, "more than one round ran at once: {together:?}");
    let mut judged: usize = together.iter().sum();
    while node.core().store().settlement().awaiting_count().unwrap() > 0 {
        judged += gateway.verify_pending().await.unwrap();
    }
    assert_eq!(judged, 300, "each claim reached its quorum once");
}

/// Issue 21: a worker's inferences take places in its inference lane (one per core) and at
/// most `max_queue` wait: past that a request is refused at once as overloaded, and nothing
/// refused is run or logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn inferences_past_the_lane_and_its_queue_are_refused_not_run() {
    let home = tempfile::tempdir().unwrap();
    let node = open_iris_with(home.path(), |config| config.max_queue = 0).await;
    infer(&node, 5.0).await;
    let outcomes = futures_util::future::join_all((0..64).map(|i| {
        let node = node.clone();
        tokio::spawn(async move {
            node.infer(harness::iris(4.0 + f64::from(i) / 100.0, Some(veritas_primitives::Mode::Signed)), None).await
        })
    }))
    .await;
    let (mut served, mut refused) = (0, 0);
    for outcome in outcomes {
        match outcome.unwrap() {
            Ok(_) => served += 1,
            Err(veritas_node::NodeError::Overloaded { what: "inference", waiting: 0 }) => refused += 1,
            Err(other) => panic!("neither served nor refused as overloaded: {other}"),
        }
    }
    assert!(refused > 0, "64 at once with no queue: some are refused ({served} served)");
    assert!(served > 0, "those with a place are served");
    assert_eq!(node.core().store().receipts().len().unwrap(), served + 1, "nothing refused was run");
}
