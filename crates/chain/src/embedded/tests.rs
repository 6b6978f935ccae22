//! Tests of the embedded chain: genesis, signed transactions, restarts, refusals.

use alloy_primitives::U256;
use alloy_sol_types::SolCall;
use veritas_primitives::{WorkerKey, keccak256};

use super::*;

const CHAIN_ID: u64 = 31337;
const T0: u64 = 1_767_225_600;

fn key(n: u8) -> WorkerKey {
    WorkerKey::from_bytes(&keccak256([b'k', n])).unwrap()
}

fn genesis() -> DevGenesis {
    let unit = U256::from(10u64).pow(U256::from(18u64));
    DevGenesis {
        chain_id: CHAIN_ID,
        timestamp: T0,
        config: GenesisConfig::dev(key(0).address()),
        accounts: vec![key(1).address(), key(2).address()],
        ether: unit * U256::from(100u64),
        tokens: unit * U256::from(1_000u64),
    }
}

fn signed(key: &WorkerKey, chain_id: u64, nonce: u64, to: Address, data: Vec<u8>) -> Vec<u8> {
    sign_eip1559(key, chain_id, nonce, to, U256::ZERO, data.into()).unwrap().0.to_vec()
}

fn transfer(to: Address, amount: U256) -> Vec<u8> {
    VeritasToken::transferCall { to, value: amount }.abi_encode()
}

fn token_balance(chain: &mut EmbeddedChain, account: Address) -> U256 {
    let token = chain.contracts().token;
    chain.view(token, VeritasToken::balanceOfCall { account }).unwrap()
}

#[test]
fn genesis_deploys_the_contracts_and_funds_the_accounts() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = EmbeddedChain::open(&dir.path().join("chain.redb"), &genesis()).unwrap();
    assert_eq!(chain.head().number, 0);
    let contracts = chain.contracts();
    for address in [contracts.token, contracts.registry, contracts.models, contracts.settlement] {
        assert!(!chain.code(address).is_empty(), "{address} has code");
    }
    assert_eq!(chain.balance(key(1).address()), genesis().ether);
    assert_eq!(token_balance(&mut chain, key(2).address()), genesis().tokens);
}

#[test]
fn signed_transactions_are_mined_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chain.redb");
    let (alice, bob) = (key(1), key(2).address());
    let (hash, head) = {
        let mut chain = EmbeddedChain::open(&path, &genesis()).unwrap();
        let token = chain.contracts().token;
        let hash = chain
            .send_raw_transaction(&signed(&alice, CHAIN_ID, 0, token, transfer(bob, U256::from(5))), T0 + 10)
            .unwrap();
        let receipt = chain.receipt(&hash).unwrap().unwrap();
        assert!(receipt.status);
        assert_eq!(receipt.logs.len(), 1, "one Transfer event");
        assert_eq!(receipt.from, alice.address());
        assert_eq!(chain.head().number, 1);
        assert_eq!(chain.head().timestamp, T0 + 10);
        // A reverting transaction is mined with a failed receipt and still uses the nonce.
        let too_much = transfer(bob, genesis().tokens * U256::from(2));
        let failed = chain.send_raw_transaction(&signed(&alice, CHAIN_ID, 1, token, too_much), T0).unwrap();
        assert!(!chain.receipt(&failed).unwrap().unwrap().status);
        assert_eq!(chain.head().timestamp, T0 + 11, "block times never go backwards");
        assert_eq!(chain.nonce(alice.address()), 2);
        (hash, chain.head().clone())
        // Dropped here without any shutdown step: only what each block wrote remains.
    };
    let mut chain = EmbeddedChain::open(&path, &genesis()).unwrap();
    assert_eq!(chain.head(), &head);
    assert_eq!(chain.nonce(alice.address()), 2);
    assert_eq!(token_balance(&mut chain, bob), genesis().tokens + U256::from(5));
    assert_eq!(chain.transaction(&hash).unwrap().unwrap().block_number, 1);
    assert_eq!(chain.block(1).unwrap().unwrap().transactions, vec![hash]);
    // And it goes on from there.
    let token = chain.contracts().token;
    chain.send_raw_transaction(&signed(&alice, CHAIN_ID, 2, token, transfer(bob, U256::from(1))), T0 + 20).unwrap();
    assert_eq!(token_balance(&mut chain, bob), genesis().tokens + U256::from(6));
}

#[test]
fn bad_transactions_are_refused_with_the_reason_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = EmbeddedChain::open(&dir.path().join("chain.redb"), &genesis()).unwrap();
    let token = chain.contracts().token;
    let alice = key(1);
    let bob = key(2).address();
    let check = |chain: &mut EmbeddedChain, raw: &[u8], expected: &str| {
        let err = chain.send_raw_transaction(raw, T0 + 5).unwrap_err().to_string();
        assert!(err.contains(expected), "{err} does not contain {expected:?}");
    };
    check(
        &mut chain,
        &signed(&alice, 1, 0, token, transfer(bob, U256::from(1))),
        "wrong chain id: expected 31337, got 1",
    );
    check(&mut chain, &signed(&alice, CHAIN_ID, 3, token, transfer(bob, U256::from(1))), "wrong nonce");
    check(&mut chain, &signed(&alice, CHAIN_ID, 3, token, transfer(bob, U256::from(1))), "expected 0, got 3");
    check(&mut chain, b"\x02garbage", "malformed transaction");
    check(&mut chain, &[], "malformed transaction");
    let poor = key(9);
    check(&mut chain, &signed(&poor, CHAIN_ID, 0, token, transfer(bob, U256::from(1))), "insufficient funds");
    // A changed byte in the signature makes another sender (or none): refused, not mined.
    let mut raw = signed(&alice, CHAIN_ID, 0, token, transfer(bob, U256::from(1)));
    let last = raw.len() - 2;
    raw[last] ^= 1;
    assert!(chain.send_raw_transaction(&raw, T0 + 5).is_err());
    assert_eq!(chain.head().number, 0, "nothing was mined");
    assert_eq!(chain.nonce(alice.address()), 0);
}

#[test]
fn a_json_rpc_batch_and_a_transactions_gas_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut chain = EmbeddedChain::open(&dir.path().join("chain.redb"), &genesis()).unwrap();
    let one = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []});
    let answer = rpc::handle(&mut chain, &serde_json::Value::Array(vec![one.clone(); rpc::MAX_BATCH]), T0);
    assert_eq!(answer.as_array().map(Vec::len), Some(rpc::MAX_BATCH));
    let answer = rpc::handle(&mut chain, &serde_json::Value::Array(vec![one; rpc::MAX_BATCH + 1]), T0);
    assert_eq!(answer["error"]["code"], -32600, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("over the 100"), "{answer}");

    // A transaction that asks for more gas than one may use is refused before it runs.
    let token = chain.contracts().token;
    let tx = alloy_consensus::TxEip1559 {
        chain_id: CHAIN_ID,
        nonce: 0,
        gas_limit: MAX_TRANSACTION_GAS + 1,
        max_fee_per_gas: 1_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        to: alloy_primitives::TxKind::Call(token),
        value: U256::ZERO,
        access_list: Default::default(),
        input: transfer(key(2).address(), U256::from(1)).into(),
    };
    let (raw, _) = crate::sign_envelope(&key(1), tx).unwrap();
    let err = chain.send_raw_transaction(&raw, T0 + 1).unwrap_err().to_string();
    assert!(err.contains("exceeds the most one transaction may use"), "{err}");
    assert_eq!(chain.head().number, 0);
}
