//! The adversary suite: every attack of docs/security.md run as an outside party against
//! `veritas up`, with nothing but HTTP and the gateway's JSON-RPC, keys it makes itself and the
//! public development keys. Each attack must fail, and leave the escrow, the stakes and the
//! receipts as they were.

use std::{collections::BTreeMap, time::Duration};

use alloy_primitives::{Bytes, U256};
use serde_json::{Value, json};
use veritas_node::{
    chain::{
        Chain, ChainError, Confirmations, RpcChain,
        contracts::{ModelRegistry, NodeRegistry, Settlement, claim_struct, settle_batch_call},
        genesis::{Contracts, Registration, Role, register},
    },
    wire::{NetworkInfo, Registry},
};
use veritas_primitives::{
    Address, B256, ClaimDomain, MerkleTree, Receipt, WorkerKey,
    batch::{BatchToSign, ClaimVerdicts, Transfer},
    call::{CallEnvelope, CallTarget},
    keccak256, merkle_leaf,
};

use crate::common::{Network, Start, llm_network};

/// The development account the attacker holds (its key is public, as every development key).
const ATTACKER: usize = 8;
/// A stranger the attacker would like to pay.
const STRANGER: usize = 9;

/// What an outsider can see of the network, and its tools.
struct Outsider {
    runtime: tokio::runtime::Runtime,
    http: reqwest::Client,
    chain: RpcChain,
    contracts: Contracts,
    domain: ClaimDomain,
    registry: Registry,
}

/// What must not change.
#[derive(Debug, PartialEq, Eq)]
struct Holdings {
    escrows: BTreeMap<Address, U256>,
    stakes: BTreeMap<Address, U256>,
    batches: U256,
}

impl Outsider {
    fn new(net: &Network) -> Outsider {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let http = reqwest::Client::new();
        let info: NetworkInfo = runtime.block_on(get(&http, &format!("{}/v1/network", net.api)));
        let registry: Registry = runtime.block_on(get(&http, &format!("{}/v1/network/registry", net.api)));
        let addresses = info.chain.as_ref().unwrap().contracts.clone();
        let contracts = Contracts {
            token: addresses.token,
            registry: addresses.node_registry,
            models: addresses.model_registry,
            settlement: addresses.settlement,
        };
        let chain = runtime.block_on(RpcChain::connect(&format!("{}/rpc", net.api))).unwrap();
        Outsider { runtime, http, chain, contracts, domain: info.claim_domain, registry }
    }

    fn key(n: usize) -> WorkerKey {
        veritas_node::devnet::dev_keys().remove(n)
    }

    fn members(&self, role: veritas_node::wire::Role) -> Vec<(Address, String)> {
        self.registry.members.iter().filter(|m| m.role == role).map(|m| (m.signer, m.endpoint.clone())).collect()
    }

    /// Escrows of the payer, the attacker and the stranger; every registered stake; batches.
    fn holdings(&self) -> Holdings {
        self.runtime.block_on(async {
            let mut escrows = BTreeMap::new();
            let accounts = veritas_node::devnet::dev_accounts();
            for account in [accounts[1], accounts[ATTACKER], accounts[STRANGER]] {
                let call = Settlement::balanceOfCall { account };
                escrows.insert(account, self.chain.view(self.contracts.settlement, call).await.unwrap());
            }
            let mut stakes = BTreeMap::new();
            for member in &self.registry.members {
                let call = NodeRegistry::nodeOfCall { signer: member.signer };
                stakes.insert(member.signer, self.chain.view(self.contracts.registry, call).await.unwrap().stake);
            }
            let batches = self.chain.view(self.contracts.settlement, Settlement::batchCountCall {}).await.unwrap();
            Holdings { escrows, stakes, batches }
        })
    }

    /// POSTs `body` to `url` with `headers`: the status and the answer.
    fn post(&self, url: &str, body: &[u8], headers: &[(&'static str, String)]) -> (u16, Value) {
        self.runtime.block_on(async {
            let mut request = self.http.post(url).header("content-type", "application/json").body(body.to_vec());
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
    }

    /// The headers of a call signed by `key` as a gateway to the node `to`.
    fn call(&self, key: &WorkerKey, to: Address, path: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let nonce = keccak256([body, path.as_bytes(), &now.to_be_bytes(), key.address().as_slice()].concat());
        let nonce = keccak256([nonce.as_slice(), &rand_bytes()].concat());
        let target = CallTarget { to, method: "POST", path, body };
        CallEnvelope::sign(key, &self.domain, &target, now, nonce).unwrap().headers().to_vec()
    }

    /// Sends a transaction from `key`; the revert reason when it fails.
    fn send<C: alloy_sol_types::SolCall + Send>(&self, key: &WorkerKey, to: Address, call: C) -> Result<(), String> {
        self.runtime.block_on(async {
            match self.chain.send_call(key, to, call, Confirmations::default()).await {
                Ok(_) => Ok(()),
                Err(ChainError::Reverted { reason, .. }) => Err(reason),
                Err(other) => Err(format!("{other}")),
            }
        })
    }
}

fn rand_bytes() -> [u8; 16] {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&n.to_be_bytes());
    out[8..].copy_from_slice(&nanos.to_be_bytes());
    out
}

async fn get<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> T {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

fn receipt(net: &Network, id: &str) -> Receipt {
    serde_json::from_value(net.receipt(id)).unwrap()
}

/// A batch paying `stranger` from `payer`'s escrow with `claims` (each copy of a settled claim).
fn theft(claims: &[Receipt], payer: Address, stranger: Address, gateway: Address, amount: U256) -> BatchToSign {
    let ids: Vec<B256> = claims.iter().map(Receipt::id).collect();
    BatchToSign {
        root: MerkleTree::new(ids.iter().map(merkle_leaf).collect()).root(),
        claims: claims
            .iter()
            .map(|r| ClaimVerdicts {
                id: r.id(),
                claim: r.claim.clone(),
                verdicts: r.verdicts.clone(),
                payer,
                fee: amount / U256::from(claims.len()),
                tokens: 0,
                output: None,
                params: None,
            })
            .collect(),
        debits: vec![Transfer { account: payer, amount }],
        credits: vec![Transfer { account: stranger, amount }],
        gateway,
        deadline: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 300,
    }
}

#[test]
fn outsiders_cannot_move_escrow_get_verdicts_compute_for_free_or_replay_what_they_see() {
    let net = Network::start(&[]);
    net.push_iris();
    let ids: Vec<String> = (0..2).map(|i| net.infer(5.0 + f64::from(i) / 10.0)).collect();
    net.wait_idle(Duration::from_secs(60));
    let settled: Vec<Receipt> = ids.iter().map(|id| receipt(&net, id)).collect();
    assert!(settled.iter().all(|r| r.settlement.is_some()), "both settled");
    let out = Outsider::new(&net);
    let before = out.holdings();
    let accounts = veritas_node::devnet::dev_accounts();
    let (payer, stranger) = (accounts[1], accounts[STRANGER]);
    let attacker = Outsider::key(ATTACKER);
    let validators = out.members(veritas_node::wire::Role::Validator);
    let workers = out.members(veritas_node::wire::Role::Inference);
    let half = before.escrows[&payer] / U256::from(2);

    // 1. Escrow stolen through validators' batch signatures: a settled claim twice, half the
    // payer's escrow to a stranger. Unsigned, every validator refuses who it does not know.
    let stolen = theft(&[settled[0].clone(), settled[0].clone()], payer, stranger, attacker.address(), half);
    let body = serde_json::to_vec(&stolen).unwrap();
    for (_, endpoint) in &validators {
        let (status, answer) = out.post(&format!("{endpoint}/v1/batches/sign"), &body, &[]);
        assert_eq!(status, 401, "an outsider's batch: {answer}");
    }
    // Signed by a key that is no registered gateway: forbidden.
    let (validator, endpoint) = &validators[0];
    let headers = out.call(&attacker, *validator, "/v1/batches/sign", &body);
    let (status, answer) = out.post(&format!("{endpoint}/v1/batches/sign"), &body, &headers);
    assert_eq!(status, 403, "{answer}");
    // The attacker registers as a gateway itself (it has the tokens): now its calls are taken,
    // and each batch is refused for what it is.
    let stake = U256::from(1_000u64) * U256::from(10u64).pow(U256::from(18u64));
    out.runtime
        .block_on(register(
            &out.chain,
            &out.contracts,
            Registration { signer: &attacker, role: Role::Gateway, endpoint: "", stake },
            None,
            Confirmations::default(),
        ))
        .unwrap();
    // A node that found it unregistered a moment ago asks the chain again within a second.
    std::thread::sleep(Duration::from_millis(1100));
    let refused = |batch: &BatchToSign, why: &str| {
        let body = serde_json::to_vec(batch).unwrap();
        for (validator, endpoint) in &validators {
            let headers = out.call(&attacker, *validator, "/v1/batches/sign", &body);
            let (status, answer) = out.post(&format!("{endpoint}/v1/batches/sign"), &body, &headers);
            assert_eq!(status, 422, "{why}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap_or_default();
            assert!(message.contains(why), "{why}: {message}");
        }
    };
    // It lists its own price for the model (anyone may list their own: it binds only them).
    let free = ModelRegistry::listCall {
        modelId: settled[0].claim.model_id.digest(),
        perRequest: U256::ZERO,
        perToken: U256::ZERO,
    };
    out.send(&attacker, out.contracts.models, free).unwrap();
    refused(&stolen, "twice");
    let once = theft(&[settled[0].clone()], payer, stranger, attacker.address(), half);
    refused(&once, "where the gateway's listed price for 0 tokens is 0");
    let mut unbacked = once.clone();
    unbacked.claims[0].fee = U256::ZERO;
    refused(&unbacked, "transfers are not what its claims move");
    // Even the claim's honest charge (nothing, at this gateway's price) is refused: the
    // validators signed it into a batch that settled.
    let mut honest = unbacked.clone();
    honest.debits.clear();
    honest.credits.clear();
    refused(&honest, "is in batch");
    // A batch settled with signatures the attacker made itself.
    let forged = settle_batch_call(
        stolen.root,
        2,
        attacker.address(),
        stolen.deadline,
        &stolen.debits,
        &stolen.credits,
        vec![Bytes::from(attacker.sign_digest(&stolen.root).unwrap().to_vec())],
    );
    let reason = out.send(&attacker, out.contracts.settlement, forged).unwrap_err();
    assert!(reason.contains("NotAValidator") || reason.contains("NoQuorum"), "{reason}");

    // 2. Verdicts on demand: asked for another check, or by an outsider, nothing is signed; the
    // attacker-gateway gets the one verdict each validator gave, and it says valid.
    let claim = serde_json::to_vec(&settled[1]).unwrap();
    for (validator, endpoint) in &validators {
        let (status, _) = out.post(&format!("{endpoint}/v1/verdicts?check=tee"), &claim, &[]);
        assert_eq!(status, 401);
        let headers = out.call(&attacker, *validator, "/v1/verdicts", &claim);
        let (status, answer) = out.post(&format!("{endpoint}/v1/verdicts?check=tee"), &claim, &headers);
        assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("other_check")), "{answer}");
        let headers = out.call(&attacker, *validator, "/v1/verdicts", &claim);
        let (status, answer) = out.post(&format!("{endpoint}/v1/verdicts"), &claim, &headers);
        assert_eq!(status, 200, "{answer}");
        let given = settled[1].verdicts.iter().find(|v| v.validator == *validator).unwrap();
        assert_eq!(answer["verdict"], serde_json::to_value(given).unwrap(), "the same verdict as before");
    }
    // A dispute needs an "invalid" verdict from a staked validator: a "valid" one will not do.
    let valid = &settled[1].verdicts[0];
    let dispute = Settlement::openDisputeCall {
        claim: claim_struct(&settled[1].claim),
        workerSignature: Bytes::from(settled[1].signature.to_vec()),
        check: valid.check.code(),
        invalidVerdict: valid.signature.clone(),
    };
    let reason = out.send(&attacker, out.contracts.settlement, dispute).unwrap_err();
    assert!(reason.contains("NotAValidator"), "{reason}");

    // 3. Free compute: inference nodes and validators serve registered gateways only.
    let request =
        serde_json::to_vec(&json!({"model": "iris", "input": {"float_input": [[5.1, 3.5, 1.4, 0.2]]}})).unwrap();
    for (_, endpoint) in &workers {
        let (status, answer) = out.post(&format!("{endpoint}/v1/infer"), &request, &[]);
        assert_eq!(status, 401, "{answer}");
        let (status, _) = out.post(&format!("{endpoint}/v1/work/chat"), b"{}", &[]);
        assert_eq!(status, 401);
    }
    let mine = WorkerKey::from_bytes(&keccak256(b"an outsider's own key")).unwrap();
    let (worker, endpoint) = &workers[0];
    let (status, _) =
        out.post(&format!("{endpoint}/v1/infer"), &request, &out.call(&mine, *worker, "/v1/infer", &request));
    assert_eq!(status, 403, "signed, but by no registered gateway");

    // 4. Economics: no stake below the minimum; prices only from the gateway that charges; a
    // replayed settlement settles nothing twice.
    let tiny = Registration { signer: &mine, role: Role::Validator, endpoint: "", stake: U256::from(1) };
    let err = out
        .runtime
        .block_on(register(&out.chain, &out.contracts, tiny, Some(&Outsider::key(STRANGER)), Confirmations::default()))
        .unwrap_err();
    assert!(err.to_string().contains("StakeBelowMinimum"), "{err}");
    let model = settled[0].claim.model_id.digest();
    let reason = out
        .send(
            &attacker,
            out.contracts.models,
            ModelRegistry::setPricesCall { modelId: model, pricePerRequest: U256::MAX, pricePerToken: U256::MAX },
        )
        .unwrap_err();
    assert!(reason.contains("NotOwner"), "{reason}");
    let expensive = ModelRegistry::listCall { modelId: model, perRequest: U256::MAX, perToken: U256::MAX };
    out.send(&attacker, out.contracts.models, expensive).unwrap();
    let settlement = settled[0].settlement.as_ref().unwrap();
    let replayed: Vec<u8> = out.runtime.block_on(async {
        let tx: Value = out
            .http
            .post(format!("{}/rpc", net.api))
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionByHash", "params": [settlement.transaction]}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        alloy_primitives::hex::decode(tx["result"]["input"].as_str().unwrap()).unwrap()
    });
    let reason = out.runtime.block_on(async {
        match out
            .chain
            .transact(&attacker, Some(out.contracts.settlement), U256::ZERO, replayed.into(), Confirmations::default())
            .await
        {
            Err(ChainError::Reverted { reason, .. }) => reason,
            other => panic!("a replayed settlement must revert: {other:?}"),
        }
    });
    assert!(reason.contains("AlreadySettled"), "{reason}");

    // 5. A signed request seen once is worth nothing again, and one signed for another gateway
    // (the attacker's) is worth nothing here.
    let user = Outsider::key(3);
    let info: NetworkInfo = out.runtime.block_on(get(&out.http, &format!("{}/v1/network", net.api)));
    let signed = |gateway: Address| {
        use veritas_primitives::request::{RequestScope, SignedRequest, request_digest};
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let nonce = alloy_primitives::hex::encode(rand_bytes());
        let scope = RequestScope { chain_id: out.domain.chain_id, gateway };
        let request =
            SignedRequest { method: "POST", path: "/v1/account/keys", timestamp: now, nonce: &nonce, body: b"{}" };
        let signature = user.sign_digest(&request_digest(&scope, &request)).unwrap();
        vec![
            ("x-veritas-account", user.address().to_string()),
            ("x-veritas-timestamp", now.to_string()),
            ("x-veritas-nonce", nonce.clone()),
            ("x-veritas-signature", alloy_primitives::hex::encode(signature)),
        ]
    };
    let keys = format!("{}/v1/account/keys", net.api);
    let seen = signed(info.gateway.unwrap());
    assert_eq!(out.post(&keys, b"{}", &seen).0, 201, "the user's own request");
    let (status, answer) = out.post(&keys, b"{}", &seen);
    assert_eq!(status, 401, "replayed: {answer}");
    let (status, answer) = out.post(&keys, b"{}", &signed(attacker.address()));
    assert_eq!(status, 401, "signed for another gateway: {answer}");

    // Nothing moved, nobody was slashed, nothing settled but the honest batches.
    let after = out.holdings();
    assert_eq!(after.stakes, before.stakes);
    assert_eq!(after.escrows, before.escrows);
    assert_eq!(after.batches, before.batches);
    for (id, was) in ids.iter().zip(&settled) {
        assert_eq!(&receipt(&net, id), was, "receipt {id} unchanged");
    }
    // And the network still serves honestly, at its gateway's own price, not the attacker's.
    let next = net.infer(5.3);
    net.wait_idle(Duration::from_secs(60));
    let charged = before.escrows[&payer] - out.holdings().escrows[&payer];
    assert_eq!(charged, U256::from(10u64).pow(U256::from(15u64)), "the gateway's listed 0.001 token");
    assert!(receipt(&net, &next).settlement.is_some());
}

#[test]
fn a_worker_that_streams_one_answer_and_signs_another_is_refused_by_the_gateway() {
    let net = llm_network(&["--workers", "1", "--validators", "1", "--node-fault", "worker-1=stream-other"]);
    let logged = net.counts()["claims_logged"].as_u64().unwrap();
    let out = net.cli(&["chat", "-m", "Name three colours.", "--temperature", "0", "--max-tokens", "24"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("it streamed another text than its receipt signs"), "{stderr}");
    let counts = net.counts();
    assert_eq!(counts["claims_logged"].as_u64().unwrap(), logged, "nothing logged, nothing charged: {counts}");
    assert_eq!(counts["pending_settlement"], 0, "{counts}");
}
