//! The chain conformance suite: the same settlement scenarios, through the [`Chain`] trait,
//! against the embedded chain and against anvil (from npm, pinned in the repository's
//! `clients/package.json`; `cargo xtask test` installs it). Both must pass.

use std::time::Duration;

use alloy_primitives::{Address, B256, Bytes, U256};
use veritas_chain::{
    Chain, ChainError, Confirmations, RpcChain,
    anvil::Anvil,
    contracts::{NodeRegistry, Settlement, VeritasToken, settle_batch_call},
    embedded::{DevGenesis, EmbeddedChain, SharedChain, sign_eip1559},
    genesis::{Contracts, GenesisConfig, Registration, Role, deploy, register},
};
use veritas_primitives::{
    MerkleTree, WorkerKey,
    batch::{Transfer, batch_digest},
    keccak256, merkle_leaf,
};

const MNEMONIC: &str = "test test test test test test test test test test test junk";

fn dev_key(index: u32) -> WorkerKey {
    WorkerKey::from_mnemonic(MNEMONIC, index).unwrap()
}

fn tokens(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

fn fast() -> Confirmations {
    Confirmations { depth: 1, poll: Duration::from_millis(20), timeout: Duration::from_secs(30) }
}

/// A chain with the contracts deployed, development accounts 1–3 holding tokens.
async fn anvil_network(anvil: &Anvil) -> (RpcChain, Contracts) {
    let chain = RpcChain::connect(&anvil.url).await.unwrap();
    let admin = dev_key(0);
    let contracts = deploy(&chain, &admin, &GenesisConfig::dev(admin.address()), fast()).await.unwrap();
    for i in 1..=3 {
        let to = dev_key(i).address();
        chain
            .send_call(&admin, contracts.token, VeritasToken::transferCall { to, value: tokens(1_000_000) }, fast())
            .await
            .unwrap();
    }
    (chain, contracts)
}

fn embedded_network(dir: &tempfile::TempDir) -> (SharedChain, Contracts) {
    let accounts: Vec<Address> = (0..4).map(|i| dev_key(i).address()).collect();
    let genesis = DevGenesis {
        chain_id: 31337,
        timestamp: 1_767_225_600,
        config: GenesisConfig::dev(accounts[0]),
        accounts,
        ether: tokens(10_000),
        tokens: tokens(1_000_000),
    };
    let chain = SharedChain::new(EmbeddedChain::open(&dir.path().join("chain.redb"), &genesis).unwrap());
    let contracts = chain.contracts();
    (chain, contracts)
}

fn reverted<T: std::fmt::Debug>(result: Result<T, ChainError>, expected: &str) {
    match result {
        Err(ChainError::Reverted { reason, .. }) => assert!(reason.contains(expected), "{reason} lacks {expected}"),
        other => panic!("expected a revert naming {expected}, got {other:?}"),
    }
}

struct Parties {
    worker: WorkerKey,
    validator: WorkerKey,
    gateway: WorkerKey,
    payer: WorkerKey,
}

/// A batch's deadline that no test reaches.
const NO_DEADLINE: u64 = u64::MAX;

/// Lets `gateway` settle without limit against `payer`'s escrow.
async fn approve_gateway(chain: &impl Chain, contracts: &Contracts, payer: &WorkerKey, gateway: Address) {
    let call = Settlement::approveGatewayCall { gateway, amount: U256::MAX };
    chain.send_call(payer, contracts.settlement, call, fast()).await.unwrap();
}

/// Registers a worker, a validator and a gateway, funds the payer's escrow and approves the
/// gateway for it.
async fn set_up(chain: &impl Chain, contracts: &Contracts) -> Parties {
    let funder = dev_key(0);
    let parties = Parties {
        worker: WorkerKey::from_bytes(&keccak256(b"conformance worker")).unwrap(),
        validator: WorkerKey::from_bytes(&keccak256(b"conformance validator")).unwrap(),
        gateway: WorkerKey::from_bytes(&keccak256(b"conformance gateway")).unwrap(),
        payer: dev_key(1),
    };
    for (key, role) in
        [(&parties.worker, Role::Inference), (&parties.validator, Role::Validator), (&parties.gateway, Role::Gateway)]
    {
        register(
            chain,
            contracts,
            Registration { signer: key, role, endpoint: "http://node", stake: tokens(10_000) },
            Some(&funder),
            fast(),
        )
        .await
        .unwrap();
    }
    // A second registration of the same signer is refused, with the registry's reason.
    let again = register(
        chain,
        contracts,
        Registration { signer: &parties.worker, role: Role::Inference, endpoint: "", stake: tokens(1) },
        Some(&funder),
        fast(),
    )
    .await;
    assert!(matches!(again, Err(ChainError::Reverted { .. })), "{again:?}");
    let is_gateway = |signer: Address| chain.view(contracts.registry, NodeRegistry::isGatewayCall { signer });
    assert!(is_gateway(parties.gateway.address()).await.unwrap());
    assert!(!is_gateway(parties.worker.address()).await.unwrap(), "a worker is no gateway");
    approve_gateway(chain, contracts, &parties.payer, parties.gateway.address()).await;
    chain
        .send_call(
            &parties.payer,
            contracts.token,
            VeritasToken::approveCall { spender: contracts.settlement, value: tokens(100) },
            fast(),
        )
        .await
        .unwrap();
    chain
        .send_call(&parties.payer, contracts.settlement, Settlement::depositCall { amount: tokens(100) }, fast())
        .await
        .unwrap();
    let escrow =
        chain.view(contracts.settlement, Settlement::balanceOfCall { account: parties.payer.address() }).await.unwrap();
    assert_eq!(escrow, tokens(100));
    parties
}

struct Batch {
    tree: MerkleTree,
    call: Settlement::settleBatchCall,
}

fn batch(chain_id: u64, contracts: &Contracts, p: &Parties, salt: u8, payer: Address, signers: &[&WorkerKey]) -> Batch {
    let ids: Vec<B256> = (0..3u8).map(|i| keccak256([salt, i])).collect();
    let tree = MerkleTree::new(ids.iter().map(merkle_leaf).collect());
    let fee = tokens(1);
    let debits = vec![Transfer { account: payer, amount: fee * U256::from(3) }];
    let credits = vec![
        Transfer { account: p.worker.address(), amount: fee * U256::from(2) },
        Transfer { account: p.validator.address(), amount: fee },
    ];
    let domain = contracts.domain(chain_id);
    let gateway = p.gateway.address();
    let digest = batch_digest(&domain, tree.root(), 3, gateway, NO_DEADLINE, &debits, &credits);
    let signatures = signers.iter().map(|key| Bytes::from(key.sign_digest(&digest).unwrap().to_vec())).collect();
    Batch { call: settle_batch_call(tree.root(), 3, gateway, NO_DEADLINE, &debits, &credits, signatures), tree }
}

/// Every scenario, in order, on one chain.
async fn conformance(chain: &impl Chain, contracts: Contracts) {
    concurrent_transactions_of_one_key_take_their_own_nonces(chain, &contracts).await;
    assert_eq!(chain.chain_id(), 31337);
    let p = set_up(chain, &contracts).await;
    let id = chain.chain_id();

    // A batch signed by the quorum settles; each receipt id is then provably in it.
    let good = batch(id, &contracts, &p, 1, p.payer.address(), &[&p.validator]);
    let mined = chain.send_call(&p.validator, contracts.settlement, good.call.clone(), fast()).await.unwrap();
    assert!(mined.status);
    let leaf = merkle_leaf(&keccak256([1u8, 1]));
    let path = good.tree.proof(1).unwrap().0;
    let settled = chain
        .view(contracts.settlement, Settlement::isSettledCall { root: good.tree.root(), leaf, path: path.clone() })
        .await
        .unwrap();
    assert!(settled);
    let made_up = chain
        .view(contracts.settlement, Settlement::isSettledCall { root: B256::repeat_byte(9), leaf, path })
        .await
        .unwrap();
    assert!(!made_up);
    // The settlement's event, found by its signature in exactly the block that mined it.
    let topic = <Settlement::BatchSettled as alloy_sol_types::SolEvent>::SIGNATURE_HASH;
    let head = chain.block_number().await.unwrap();
    let logs = chain.logs(contracts.settlement, topic, 0, head).await.unwrap();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert_eq!((logs[0].block, logs[0].transaction), (mined.block, mined.transaction));
    assert_eq!(logs[0].topics[1], good.tree.root(), "the root is the first indexed field");
    assert_eq!(logs[0].topics[2], p.gateway.address().into_word(), "the gateway the second");
    assert_eq!(chain.logs(contracts.settlement, topic, mined.block, mined.block).await.unwrap(), logs);
    assert!(chain.logs(contracts.settlement, topic, 0, mined.block - 1).await.unwrap().is_empty());
    assert!(chain.logs(contracts.registry, topic, 0, head).await.unwrap().is_empty(), "another address");
    let worker_escrow =
        chain.view(contracts.settlement, Settlement::balanceOfCall { account: p.worker.address() }).await.unwrap();
    assert_eq!(worker_escrow, tokens(2));

    // The same batch again: refused before sending, with the contract's reason.
    reverted(chain.send_call(&p.validator, contracts.settlement, good.call, fast()).await, "AlreadySettled");
    // Too few signatures, and one signature twice.
    let unsigned = batch(id, &contracts, &p, 2, p.payer.address(), &[]);
    reverted(chain.send_call(&p.validator, contracts.settlement, unsigned.call, fast()).await, "NoQuorum");
    let twice = batch(id, &contracts, &p, 3, p.payer.address(), &[&p.validator, &p.validator]);
    reverted(chain.send_call(&p.validator, contracts.settlement, twice.call, fast()).await, "SignersNotAscending");
    // A payer that never approved the gateway, and one that did but has no escrow.
    let unapproved = batch(id, &contracts, &p, 4, dev_key(2).address(), &[&p.validator]);
    reverted(
        chain.send_call(&p.validator, contracts.settlement, unapproved.call.clone(), fast()).await,
        "InsufficientAllowance",
    );
    approve_gateway(chain, &contracts, &dev_key(2), p.gateway.address()).await;
    reverted(chain.send_call(&p.validator, contracts.settlement, unapproved.call, fast()).await, "InsufficientEscrow");

    // Raw transactions the chain must refuse: garbage, another chain's, and a bad signature.
    let garbage = chain.send_raw(Bytes::from_static(&[0x02, 0xff, 0x00])).await;
    assert!(garbage.is_err(), "{garbage:?}");
    let nonce = chain.nonce(p.payer.address()).await.unwrap();
    let data = Bytes::from(alloy_sol_types::SolCall::abi_encode(&Settlement::batchCountCall {}));
    let (foreign, _) = sign_eip1559(&p.payer, 1, nonce, contracts.settlement, U256::ZERO, data.clone()).unwrap();
    let refused = chain.send_raw(foreign).await;
    assert!(refused.is_err(), "another chain's transaction was accepted: {refused:?}");
    let (mut tampered, _) =
        sign_eip1559(&p.payer, 31337, nonce, contracts.settlement, U256::ZERO, data.clone()).unwrap();
    let last = tampered.len() - 1;
    let mut bytes = tampered.to_vec();
    bytes[last] ^= 0x01;
    tampered = bytes.into();
    assert!(chain.send_raw(tampered).await.is_err(), "a transaction with a broken signature was accepted");

    // A nonce gap: refused, or held back, but never mined ahead of the missing nonce.
    let (gapped, hash) = sign_eip1559(&p.payer, 31337, nonce + 5, contracts.settlement, U256::ZERO, data).unwrap();
    let _ = chain.send_raw(gapped).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(chain.mined(hash).await.unwrap(), None);
    assert_eq!(chain.nonce(p.payer.address()).await.unwrap(), nonce, "the gap does not move the nonce");
}

/// One key's transactions sent at once (a gateway's listing, dispute and answer racing its
/// batch) each take their own nonce: all are mined, none refused for a nonce another took.
async fn concurrent_transactions_of_one_key_take_their_own_nonces(chain: &impl Chain, contracts: &Contracts) {
    let sender = dev_key(2);
    let before = chain.nonce(sender.address()).await.unwrap();
    let send = |n: u64| {
        let call = VeritasToken::transferCall { to: Address::repeat_byte(0x70 + n as u8), value: U256::from(n + 1) };
        chain.send_call(&sender, contracts.token, call, fast())
    };
    let (a, b, c, d) = tokio::join!(send(0), send(1), send(2), send(3));
    for (n, result) in [a, b, c, d].into_iter().enumerate() {
        assert!(result.as_ref().is_ok_and(|mined| mined.status), "transaction {n}: {result:?}");
    }
    assert_eq!(chain.nonce(sender.address()).await.unwrap(), before + 4);
}

#[tokio::test]
async fn the_embedded_chain_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, contracts) = embedded_network(&dir);
    conformance(&chain, contracts).await;
}

/// Serves the embedded chain's transport-free JSON-RPC over plain HTTP/1.1 (one request per
/// connection), as the node's `/rpc` does, so that alloy reaches it through a socket.
async fn serve_json_rpc(chain: SharedChain) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let chain = chain.clone();
            tokio::spawn(async move {
                let mut reader = BufReader::new(socket);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    if line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                reader.read_exact(&mut body).await.unwrap();
                let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
                let answer = chain
                    .with(move |chain| Ok(veritas_chain::embedded::rpc::handle(chain, &request, 1_767_230_000)))
                    .await
                    .unwrap();
                let answer = serde_json::to_vec(&answer).unwrap();
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    answer.len()
                );
                let mut socket = reader.into_inner();
                socket.write_all(head.as_bytes()).await.unwrap();
                socket.write_all(&answer).await.unwrap();
            });
        }
    });
    url
}

#[tokio::test]
async fn the_embedded_chain_conforms_through_alloy_over_json_rpc() {
    let dir = tempfile::tempdir().unwrap();
    let (embedded, contracts) = embedded_network(&dir);
    let url = serve_json_rpc(embedded).await;
    let chain = RpcChain::connect(&url).await.unwrap();
    conformance(&chain, contracts).await;
}

#[tokio::test]
async fn anvil_conforms() {
    let anvil = Anvil::start(0, &[]).unwrap();
    let (chain, contracts) = anvil_network(&anvil).await;
    // Genesis on the embedded chain and `deploy` on anvil give the contracts the same addresses.
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(embedded_network(&dir).1, contracts);
    conformance(&chain, contracts).await;
}

#[tokio::test]
async fn anvil_with_interval_blocks_waits_for_confirmations() {
    let anvil = Anvil::start(0, &["--block-time", "1"]).unwrap();
    let chain = RpcChain::connect(&anvil.url).await.unwrap();
    let key = dev_key(3);
    let to = dev_key(4).address();
    let deep = Confirmations { depth: 3, poll: Duration::from_millis(50), timeout: Duration::from_secs(30) };
    let mined = chain.transact(&key, Some(to), U256::from(1u64), Bytes::new(), deep).await.unwrap();
    assert!(chain.block_number().await.unwrap() >= mined.block + 2);
}

#[tokio::test]
async fn the_embedded_chain_mines_on_an_interval_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (chain, _) = embedded_network(&dir);
    chain.lock().set_automine(false);
    let key = dev_key(3);
    let first = chain.sign(&key, Some(dev_key(4).address()), U256::from(1u64), Bytes::new()).await.unwrap();
    let hash = chain.send_raw(first.raw).await.unwrap();
    // A second transaction from the same sender takes the next nonce while the first waits.
    let second = chain.sign(&key, Some(dev_key(4).address()), U256::from(2u64), Bytes::new()).await.unwrap();
    assert_eq!(second.nonce, first.nonce + 1);
    let hash2 = chain.send_raw(second.raw).await.unwrap();
    assert_eq!(chain.mined(hash).await.unwrap(), None);
    let block = chain.mine().await.unwrap();
    let (first, second) = (chain.mined(hash).await.unwrap().unwrap(), chain.mined(hash2).await.unwrap().unwrap());
    assert_eq!((first.block, second.block), (block, block), "both in one block");
    assert_eq!(chain.lock().block(block).unwrap().unwrap().transactions, vec![hash, hash2]);
}

#[tokio::test]
async fn an_unreachable_or_garbage_endpoint_is_a_clear_error() {
    // Nothing listens on this port once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = RpcChain::connect(&format!("http://127.0.0.1:{port}")).await.unwrap_err();
    assert!(matches!(err, ChainError::Rpc(_)), "{err}");
    assert!(err.to_string().contains("eth_chainId"), "{err}");

    // A server that answers HTTP with something that is not JSON-RPC.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let body = "<html>not json-rpc</html>";
            let response = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}", body.len());
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    let err = RpcChain::connect(&url).await.unwrap_err();
    assert!(err.to_string().contains("eth_chainId"), "{err}");
    let err = RpcChain::connect("ftp://example.org").await.unwrap_err();
    assert!(err.to_string().contains("http"), "{err}");
}
