//! The embedded chain's JSON-RPC endpoint on a real HTTP server on 127.0.0.1: reads, a signed
//! transaction, its receipt and logs, and the errors a client gets.

use alloy_primitives::{Address, U256};
use alloy_sol_types::{SolCall, SolEvent};
use serde_json::{Value, json};
use veritas_node::chain::{
    contracts::VeritasToken,
    embedded::{DevGenesis, EmbeddedChain, sign_eip1559},
    genesis::GenesisConfig,
};
use veritas_primitives::{WorkerKey, keccak256};

const CHAIN_ID: u64 = 31337;

fn key(n: u8) -> WorkerKey {
    WorkerKey::from_bytes(&keccak256([b'r', n])).unwrap()
}

struct Rpc {
    url: String,
    http: reqwest::Client,
    token: Address,
    _dir: tempfile::TempDir,
}

impl Rpc {
    async fn start() -> Rpc {
        let dir = tempfile::tempdir().unwrap();
        let unit = U256::from(10u64).pow(U256::from(18u64));
        let genesis = DevGenesis {
            chain_id: CHAIN_ID,
            timestamp: 1_767_225_600,
            config: GenesisConfig::dev(key(0).address()),
            accounts: vec![key(1).address()],
            ether: unit * U256::from(10u64),
            tokens: unit * U256::from(100u64),
        };
        let chain = EmbeddedChain::open(&dir.path().join("chain.redb"), &genesis).unwrap();
        let token = chain.contracts().token;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let router = veritas_api::chain_router(veritas_node::chain::embedded::SharedChain::new(chain));
        tokio::spawn(async move { axum_serve(listener, router).await });
        Rpc { url, http: reqwest::Client::new(), token, _dir: dir }
    }

    async fn raw(&self, body: String) -> Value {
        let response =
            self.http.post(&self.url).header("content-type", "application/json").body(body).send().await.unwrap();
        assert!(response.status().is_success());
        response.json().await.unwrap()
    }

    async fn call(&self, method: &str, params: Value) -> Value {
        let answer = self.raw(json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params}).to_string()).await;
        assert_eq!(answer["id"], 7);
        answer
    }

    async fn result(&self, method: &str, params: Value) -> Value {
        let answer = self.call(method, params).await;
        assert!(answer.get("error").is_none(), "{method}: {answer}");
        answer["result"].clone()
    }
}

async fn axum_serve(listener: tokio::net::TcpListener, router: axum::Router) {
    axum::serve(listener, router).await.unwrap();
}

fn transfer_tx(from: &WorkerKey, chain_id: u64, nonce: u64, token: Address, to: Address, amount: u64) -> String {
    let data = VeritasToken::transferCall { to, value: U256::from(amount) }.abi_encode();
    let (raw, _) = sign_eip1559(from, chain_id, nonce, token, U256::ZERO, data.into()).unwrap();
    format!("0x{}", alloy_primitives::hex::encode(raw))
}

#[tokio::test]
async fn a_client_reads_sends_and_finds_its_logs() {
    let rpc = Rpc::start().await;
    let alice = key(1);
    let bob = key(2).address();
    assert_eq!(rpc.result("eth_chainId", json!([])).await, "0x7a69");
    assert_eq!(rpc.result("net_version", json!([])).await, "31337");
    assert_eq!(rpc.result("eth_blockNumber", json!([])).await, "0x0");
    let balance = rpc.result("eth_getBalance", json!([alice.address(), "latest"])).await;
    assert_eq!(balance, json!(U256::from(10u64) * U256::from(10u64).pow(U256::from(18u64))));
    assert_eq!(rpc.result("eth_getTransactionCount", json!([alice.address(), "pending"])).await, "0x0");
    let code = rpc.result("eth_getCode", json!([rpc.token, "latest"])).await;
    assert!(code.as_str().unwrap().len() > 100);

    let balance_of = |account: Address| json!([{"to": rpc.token, "data": format!("0x{}", alloy_primitives::hex::encode(VeritasToken::balanceOfCall { account }.abi_encode()))}, "latest"]);
    let estimate = rpc.result("eth_estimateGas", json!([{"from": alice.address(), "to": rpc.token, "data": format!("0x{}", alloy_primitives::hex::encode(VeritasToken::transferCall { to: bob, value: U256::from(3) }.abi_encode()))}])).await;
    assert!(u64::from_str_radix(&estimate.as_str().unwrap()[2..], 16).unwrap() > 21_000);

    let hash = rpc.result("eth_sendRawTransaction", json!([transfer_tx(&alice, CHAIN_ID, 0, rpc.token, bob, 3)])).await;
    let receipt = rpc.result("eth_getTransactionReceipt", json!([hash])).await;
    assert_eq!(receipt["status"], "0x1");
    assert_eq!(receipt["blockNumber"], "0x1");
    assert_eq!(receipt["from"], json!(alice.address()));
    let tx = rpc.result("eth_getTransactionByHash", json!([hash])).await;
    assert_eq!(tx["nonce"], "0x0");
    let block = rpc.result("eth_getBlockByNumber", json!(["latest", false])).await;
    assert_eq!(block["transactions"], json!([hash]));
    let by_hash = rpc.result("eth_getBlockByHash", json!([block["hash"], true])).await;
    assert_eq!(by_hash["transactions"][0]["hash"], hash);

    let bob_balance = rpc.result("eth_call", balance_of(bob)).await;
    assert_eq!(U256::from_str_radix(&bob_balance.as_str().unwrap()[2..], 16).unwrap(), U256::from(3));

    let transfer_topic = VeritasToken::Transfer::SIGNATURE_HASH;
    let logs = rpc
        .result(
            "eth_getLogs",
            json!([{"fromBlock": "0x0", "toBlock": "latest", "address": rpc.token, "topics": [transfer_topic]}]),
        )
        .await;
    assert_eq!(logs.as_array().unwrap().len(), 1, "{logs}");
    assert_eq!(logs[0]["transactionHash"], hash);
    let none = rpc
        .result("eth_getLogs", json!([{"fromBlock": "0x0", "toBlock": "latest", "topics": [keccak256(b"nothing")]}]))
        .await;
    assert_eq!(none, json!([]));

    // A batch answers each request.
    let batch = rpc
        .raw(
            json!([
                {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []},
                {"jsonrpc": "2.0", "id": 2, "method": "eth_chainId", "params": []},
            ])
            .to_string(),
        )
        .await;
    assert_eq!(batch[0]["result"], "0x1");
    assert_eq!(batch[1]["result"], "0x7a69");
}

#[tokio::test]
async fn clients_get_json_rpc_errors_that_say_what_is_wrong() {
    let rpc = Rpc::start().await;
    let alice = key(1);
    let bob = key(2).address();
    let error = |answer: Value| {
        (answer["error"]["code"].as_i64().unwrap(), answer["error"]["message"].as_str().unwrap().to_owned())
    };

    let (code, message) =
        error(rpc.call("eth_sendRawTransaction", json!([transfer_tx(&alice, 1, 0, rpc.token, bob, 1)])).await);
    assert_eq!(code, -32000);
    assert!(message.contains("wrong chain id: expected 31337, got 1"), "{message}");
    let (_, message) =
        error(rpc.call("eth_sendRawTransaction", json!([transfer_tx(&alice, CHAIN_ID, 5, rpc.token, bob, 1)])).await);
    assert!(message.contains("expected 0, got 5"), "{message}");
    let (_, message) = error(rpc.call("eth_sendRawTransaction", json!(["0x02deadbeef"])).await);
    assert!(message.contains("malformed transaction"), "{message}");
    let (code, message) = error(rpc.call("eth_frobnicate", json!([])).await);
    assert_eq!((code, message.as_str()), (-32601, "method eth_frobnicate is not supported"));
    let (code, _) = error(rpc.call("eth_getBalance", json!(["not an address"])).await);
    assert_eq!(code, -32602);
    let (_, message) = error(rpc.call("eth_getBalance", json!([bob, "0x5"])).await);
    assert!(message.contains("state at block 5 is not kept"), "{message}");
    let transfer = VeritasToken::transferCall { to: bob, value: U256::MAX }.abi_encode();
    let reverted = rpc.call("eth_call", json!([{"from": alice.address(), "to": rpc.token, "data": format!("0x{}", alloy_primitives::hex::encode(transfer))}])).await;
    assert_eq!(reverted["error"]["code"], 3);
    assert!(reverted["error"]["message"].as_str().unwrap().starts_with("execution reverted"));
    let garbage = rpc.raw("{not json".into()).await;
    assert_eq!(garbage["error"]["code"], -32700);
    let empty = rpc.raw("[]".into()).await;
    assert_eq!(empty["error"]["code"], -32600);
    assert_eq!(rpc.result("eth_blockNumber", json!([])).await, "0x0", "nothing was mined");
}
