//! Requests from contracts: escrowed fees, verified delivery, bounded callbacks, refunds.

use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_sol_types::SolConstructor;
use veritas_chain::contracts::{
    ModelRegistry, Settlement,
    test_contracts::{self, Reentrant, TestConsumer},
};
use veritas_primitives::{Check, Claim, Mode, ModelId, WorkerKey, keccak256, verdict::verdict_digest};

use super::{INFERENCE, Net, REQUEST_TIMEOUT, deploy_raw, key, reverted};

const PRICE: u64 = 25;
const MAX_FEE: u64 = 40;

pub(crate) struct Setup {
    pub(crate) net: Net,
    pub(crate) worker: WorkerKey,
    pub(crate) validators: Vec<WorkerKey>,
    pub(crate) model: ModelId,
}

pub(crate) fn setup() -> Setup {
    let mut net = Net::new(&[100, 100, 100]);
    let worker = key(50);
    net.register(&worker, INFERENCE, 500).unwrap();
    let validators = std::mem::take(&mut net.validators);
    let model = ModelId::of_manifest(b"iris manifest");
    let publish = ModelRegistry::publishCall {
        modelId: model.digest(),
        name: "iris".into(),
        metadataUri: String::new(),
        pricePerRequest: U256::from(PRICE),
        pricePerToken: U256::ZERO,
    };
    net.evm.send(net.admin, net.models, publish).unwrap();
    Setup { net, worker, validators, model }
}

pub(crate) fn consumer(s: &mut Setup, artifact: &str, with_settlement: bool) -> Address {
    let args = if with_settlement {
        TestConsumer::constructorCall { settlement_: s.net.settlement }.abi_encode()
    } else {
        Vec::new()
    };
    let address = deploy_raw(&mut s.net.evm, s.net.admin, artifact, &args);
    s.net.give(address, 1_000);
    address
}

/// Asks, from `consumer`, for an inference on `input` in `mode`.
pub(crate) fn ask_mode(s: &mut Setup, consumer: Address, input: &[u8], mode: Mode) -> u64 {
    let call = TestConsumer::askWithModeCall {
        token: s.net.token,
        modelId: s.model.digest(),
        input: Bytes::copy_from_slice(input),
        mode: mode.code(),
        maxFee: U256::from(MAX_FEE),
    };
    let out = s.net.evm.send(s.net.admin, consumer, call).unwrap();
    U256::from_be_slice(&out.output).to::<u64>()
}

/// Asks, from `consumer`, for a `signed` inference on `input`.
fn ask(s: &mut Setup, consumer: Address, input: &[u8]) -> u64 {
    let call = TestConsumer::askCall {
        token: s.net.token,
        modelId: s.model.digest(),
        input: Bytes::copy_from_slice(input),
        maxFee: U256::from(MAX_FEE),
    };
    let out = s.net.evm.send(s.net.admin, consumer, call).unwrap();
    U256::from_be_slice(&out.output).to::<u64>()
}

pub(crate) fn claim_for(s: &Setup, id: u64, input: &[u8], output: &[u8]) -> Claim {
    Claim {
        request_id: B256::from(U256::from(id)),
        model_id: s.model,
        input_hash: keccak256(input),
        output_hash: keccak256(output),
        params_hash: keccak256(b"{}"),
        mode: Mode::Signed,
        worker: s.worker.address(),
        timestamp: 1_767_225_600,
    }
}

fn fulfill(
    s: &mut Setup,
    id: u64,
    claim: &Claim,
    output: &[u8],
    signers: usize,
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    fulfill_with(s, id, claim, output, Check::Signed, signers)
}

/// Delivers with "valid" verdicts from `check` by the first `signers` validators.
pub(crate) fn fulfill_with(
    s: &mut Setup,
    id: u64,
    claim: &Claim,
    output: &[u8],
    check: Check,
    signers: usize,
) -> Result<veritas_chain::Outcome, veritas_chain::ChainError> {
    let domain = s.net.domain();
    let digest = claim.signing_hash(&domain);
    let worker_sig = Bytes::from(s.worker.sign_digest(&digest).unwrap().to_vec());
    let keys: Vec<&WorkerKey> = s.validators.iter().take(signers).collect();
    let valid = s.net.sign(verdict_digest(&domain, digest, true, check), &keys);
    let call = Settlement::fulfillCall {
        id: U256::from(id),
        output: Bytes::copy_from_slice(output),
        claim: veritas_chain::contracts::claim_struct(claim),
        workerSignature: worker_sig,
        check: check.code(),
        validSignatures: valid,
    };
    // Anyone may deliver; here a stranger does.
    s.net.evm.send(key(90).address(), s.net.settlement, call)
}

#[test]
fn a_contract_gets_its_verified_answer_and_the_worker_is_paid() {
    let mut s = setup();
    let consumer = consumer(&mut s, test_contracts::TEST_CONSUMER, true);
    let id = ask(&mut s, consumer, b"input bytes");
    let claim = claim_for(&s, id, b"input bytes", b"output bytes");
    reverted(fulfill(&mut s, id, &claim, b"output bytes", 2), "NoQuorum");
    let leaf = veritas_primitives::merkle_leaf(&claim.signing_hash(&s.net.domain()));
    let settled = |s: &mut Setup| {
        let call = Settlement::isSettledCall { root: leaf, leaf, path: Vec::new() };
        s.net.evm.view(s.net.admin, s.net.settlement, call).unwrap()
    };
    assert!(!settled(&mut s));
    fulfill(&mut s, id, &claim, b"output bytes", 3).unwrap();
    assert!(settled(&mut s), "a delivered claim is settled as a batch of one");
    let output = s.net.evm.view(s.net.admin, consumer, TestConsumer::lastOutputCall {}).unwrap();
    assert_eq!(output.as_ref(), b"output bytes");
    assert_eq!(s.net.escrow(s.worker.address()), U256::from(PRICE - PRICE / 10));
    let token_balance = s
        .net
        .evm
        .view(s.net.admin, s.net.token, veritas_chain::contracts::VeritasToken::balanceOfCall { account: consumer })
        .unwrap();
    assert_eq!(token_balance, U256::from(1_000 - PRICE), "the unused part of maxFee came back");
    reverted(fulfill(&mut s, id, &claim, b"output bytes", 3), "RequestClosed");
}

#[test]
fn deliveries_that_do_not_answer_the_request_are_refused() {
    let mut s = setup();
    let consumer = consumer(&mut s, test_contracts::TEST_CONSUMER, true);
    let id = ask(&mut s, consumer, b"in");
    let good = claim_for(&s, id, b"in", b"out");
    reverted(fulfill(&mut s, id, &good, b"other out", 3), "outputHash");
    let wrong_input = claim_for(&s, id, b"other in", b"out");
    reverted(fulfill(&mut s, id, &wrong_input, b"out", 3), "inputHash");
    let wrong_id = claim_for(&s, id + 1, b"in", b"out");
    reverted(fulfill(&mut s, id, &wrong_id, b"out", 3), "requestId");
    let mut other_model = good.clone();
    other_model.model_id = ModelId::of_manifest(b"another model");
    reverted(fulfill(&mut s, id, &other_model, b"out", 3), "modelId");
    // A worker that is not registered cannot be paid.
    let stranger = key(91);
    let mut unstaked = good.clone();
    unstaked.worker = stranger.address();
    let saved = std::mem::replace(&mut s.worker, stranger);
    reverted(fulfill(&mut s, id, &unstaked, b"out", 3), "NotAStakedWorker");
    s.worker = saved;
    reverted(fulfill(&mut s, 999, &good, b"out", 3), "NoSuchRequest");
    // A fee below the model's price is refused up front.
    let low = TestConsumer::askCall {
        token: s.net.token,
        modelId: s.model.digest(),
        input: Bytes::new(),
        maxFee: U256::from(PRICE - 1),
    };
    reverted(s.net.evm.send(s.net.admin, consumer, low), "FeeTooLow");
}

#[test]
fn unserved_requests_are_refunded_after_the_timeout_and_only_then() {
    let mut s = setup();
    let consumer = consumer(&mut s, test_contracts::TEST_CONSUMER, true);
    let id = ask(&mut s, consumer, b"in");
    let refund = Settlement::refundCall { id: U256::from(id) };
    reverted(s.net.evm.send(s.net.admin, s.net.settlement, refund.clone()), "NotExpired");
    s.net.evm.advance_time(REQUEST_TIMEOUT + 1);
    let claim = claim_for(&s, id, b"in", b"out");
    reverted(fulfill(&mut s, id, &claim, b"out", 3), "RequestExpired");
    s.net.evm.send(s.net.admin, s.net.settlement, refund.clone()).unwrap();
    let balance = s
        .net
        .evm
        .view(s.net.admin, s.net.token, veritas_chain::contracts::VeritasToken::balanceOfCall { account: consumer })
        .unwrap();
    assert_eq!(balance, U256::from(1_000));
    reverted(s.net.evm.send(s.net.admin, s.net.settlement, refund), "RequestClosed");
}

#[test]
fn a_callback_that_burns_gas_cannot_block_delivery() {
    let mut s = setup();
    let burner = deploy_raw(&mut s.net.evm, s.net.admin, test_contracts::GAS_BURNER, &[]);
    // An account asks with the burner as the callback.
    let requester = s.net.admin;
    s.net.approve(requester, s.net.settlement, MAX_FEE);
    let call = Settlement::requestInferenceCall {
        modelId: s.model.digest(),
        input: Bytes::from_static(b"in"),
        mode: 0,
        maxFee: U256::from(MAX_FEE),
        callback: burner,
    };
    let out = s.net.evm.send(requester, s.net.settlement, call).unwrap();
    let id = U256::from_be_slice(&out.output).to::<u64>();
    let claim = claim_for(&s, id, b"in", b"out");
    let outcome = fulfill(&mut s, id, &claim, b"out", 3).unwrap();
    assert!(outcome.gas_used < 600_000, "the callback's gas is bounded: {}", outcome.gas_used);
    assert_eq!(s.net.escrow(s.worker.address()), U256::from(PRICE - PRICE / 10), "the worker is paid anyway");
}

#[test]
fn a_callback_cannot_reenter_to_be_refunded_too() {
    let mut s = setup();
    let attacker = consumer(&mut s, test_contracts::REENTRANT, true);
    let call = Reentrant::askCall {
        token: s.net.token,
        modelId: s.model.digest(),
        input: Bytes::from_static(b"in"),
        maxFee: U256::from(MAX_FEE),
    };
    let out = s.net.evm.send(s.net.admin, attacker, call).unwrap();
    let id = U256::from_be_slice(&out.output).to::<u64>();
    let claim = claim_for(&s, id, b"in", b"out");
    fulfill(&mut s, id, &claim, b"out", 3).unwrap();
    assert!(
        !s.net.evm.view(s.net.admin, attacker, Reentrant::reenteredCall {}).unwrap(),
        "the refund inside the callback failed"
    );
    let balance = s
        .net
        .evm
        .view(s.net.admin, s.net.token, veritas_chain::contracts::VeritasToken::balanceOfCall { account: attacker })
        .unwrap();
    assert_eq!(balance, U256::from(1_000 - PRICE), "paid once, refunded nothing beyond the change");
}

#[test]
fn a_deliverer_cannot_starve_the_callback_of_gas() {
    let mut s = setup();
    let consumer = consumer(&mut s, test_contracts::TEST_CONSUMER, true);
    let id = ask(&mut s, consumer, b"in");
    let claim = claim_for(&s, id, b"in", b"out");
    let domain = s.net.domain();
    let digest = claim.signing_hash(&domain);
    let keys: Vec<&WorkerKey> = s.validators.iter().collect();
    let call = Settlement::fulfillCall {
        id: U256::from(id),
        output: Bytes::from_static(b"out"),
        claim: veritas_chain::contracts::claim_struct(&claim),
        workerSignature: Bytes::from(s.worker.sign_digest(&digest).unwrap().to_vec()),
        check: Check::Signed.code(),
        validSignatures: s.net.sign(verdict_digest(&domain, digest, true, Check::Signed), &keys),
    };
    let data: Bytes = alloy_sol_types::SolCall::abi_encode(&call).into();
    let starved = s.net.evm.transact_with_gas(key(90).address(), TxKind::Call(s.net.settlement), data.clone(), 250_000);
    reverted(starved, "InsufficientGasForCallback");
    // With enough gas the same delivery goes through and the consumer hears of it.
    s.net.evm.transact_with_gas(key(90).address(), TxKind::Call(s.net.settlement), data, 1_000_000).unwrap();
    let calls = s.net.evm.view(s.net.admin, consumer, TestConsumer::callsCall {}).unwrap();
    assert_eq!(calls, U256::from(1));
}
