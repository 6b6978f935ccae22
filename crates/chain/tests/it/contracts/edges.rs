//! Arithmetic edge cases and the remaining revert paths.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolConstructor;
use veritas_chain::{
    ChainError,
    contracts::{ModelRegistry, NodeRegistry, Settlement, VeritasToken},
};

use super::{INFERENCE, MIN_STAKE, Net, deploy_raw, key, reverted};

#[test]
fn deposits_that_would_overflow_revert_with_a_panic() {
    let mut net = Net::new(&[]);
    let rich = key(60).address();
    net.deposit(rich, 10);
    // A second deposit that would take the balance past 2^256 - 1 cannot even be paid for: the
    // token's own checked arithmetic refuses the transfer first, and settlement's is checked too.
    net.evm.send(rich, net.token, VeritasToken::approveCall { spender: net.settlement, value: U256::MAX }).unwrap();
    let result = net.evm.send(rich, net.settlement, Settlement::depositCall { amount: U256::MAX });
    assert!(matches!(result, Err(ChainError::Reverted { .. })), "{result:?}");
    assert_eq!(net.escrow(rich), U256::from(10), "nothing was credited");
}

#[test]
fn slashing_more_than_the_stake_takes_the_stake_and_the_unbonding_and_no_more() {
    let mut net = Net::new(&[]);
    // A registry of its own whose slasher is an account, so the slash can be called directly.
    let slasher = key(66).address();
    let args =
        NodeRegistry::constructorCall { token_: net.token, unbondingDelay_: 100, minStake_: U256::from(MIN_STAKE) }
            .abi_encode();
    net.registry = deploy_raw(&mut net.evm, net.admin, veritas_chain::contracts::artifacts::NODE_REGISTRY, &args);
    net.evm.send(net.admin, net.registry, NodeRegistry::setSlasherCall { slasher_: slasher }).unwrap();
    let worker = key(61);
    net.register(&worker, INFERENCE, 130).unwrap();
    let w = worker.address();
    net.evm.send(w, net.registry, NodeRegistry::startUnbondingCall { signer: w, amount: U256::from(30) }).unwrap();
    let (beneficiary, treasury) = (key(62).address(), key(63).address());
    let call = NodeRegistry::slashCall { signer: w, amount: U256::MAX, beneficiary, reward: U256::MAX, treasury };
    let out = net.evm.send(slasher, net.registry, call).unwrap();
    assert_eq!(U256::from_be_slice(&out.output), U256::from(130), "all of it, and no more");
    let node = net.evm.view(w, net.registry, NodeRegistry::nodeOfCall { signer: w }).unwrap();
    assert_eq!((node.stake, node.unbonding), (U256::ZERO, U256::ZERO));
    let balance =
        |net: &mut Net, account| net.evm.view(net.admin, net.token, VeritasToken::balanceOfCall { account }).unwrap();
    assert_eq!(balance(&mut net, beneficiary), U256::from(130), "the reward is capped at what was taken");
    assert_eq!(balance(&mut net, treasury), U256::ZERO);
    net.evm.advance_time(100);
    reverted(net.evm.send(w, net.registry, NodeRegistry::withdrawCall { signer: w }), "ZeroAmount");
}

#[test]
fn the_remaining_revert_paths() {
    let mut net = Net::new(&[]);
    let operator = key(64);
    let op = operator.address();
    // Registry: zero signer, zero stake, zero top-up, withdrawing nothing.
    let call = NodeRegistry::registerCall {
        signer: Address::ZERO,
        role: INFERENCE,
        endpoint: String::new(),
        stake: U256::from(1),
        signerProof: Bytes::new(),
    };
    reverted(net.evm.send(op, net.registry, call), "InvalidSigner");
    let call = NodeRegistry::registerCall {
        signer: op,
        role: INFERENCE,
        endpoint: String::new(),
        stake: U256::ZERO,
        signerProof: Bytes::new(),
    };
    reverted(net.evm.send(op, net.registry, call), "ZeroAmount");
    net.register(&operator, INFERENCE, MIN_STAKE).unwrap();
    reverted(
        net.evm.send(op, net.registry, NodeRegistry::addStakeCall { signer: op, amount: U256::ZERO }),
        "ZeroAmount",
    );
    reverted(net.evm.send(op, net.registry, NodeRegistry::withdrawCall { signer: op }), "ZeroAmount");
    reverted(
        net.evm.send(op, net.registry, NodeRegistry::addStakeCall { signer: key(65).address(), amount: U256::from(1) }),
        "NotRegistered",
    );
    // Model registry: empty names.
    let call = ModelRegistry::publishCall {
        modelId: [1u8; 32].into(),
        name: String::new(),
        metadataUri: String::new(),
        pricePerRequest: U256::ZERO,
        pricePerToken: U256::ZERO,
    };
    reverted(net.evm.send(op, net.models, call), "EmptyName");
    // Escrow: zero withdrawals.
    reverted(net.evm.send(op, net.settlement, Settlement::requestWithdrawalCall { amount: U256::ZERO }), "ZeroAmount");
}
