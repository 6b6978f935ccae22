//! The development network's chain: genesis from the well-known test mnemonic.

use alloy_primitives::U256;
use veritas_chain::{
    Chain, ChainResult, Confirmations,
    contracts::{NodeRegistry, Settlement, VeritasToken},
    embedded::{DevGenesis, EmbeddedChain, SharedChain},
    genesis::{GenesisConfig, Registration, Role, register},
};
use veritas_primitives::{Address, WorkerKey};

/// The development mnemonic every Ethereum tool knows (Hardhat's and Anvil's): its accounts are
/// public, so they hold value only on a development chain.
pub const DEV_MNEMONIC: &str = "test test test test test test test test test test test junk";

/// The embedded chain's id (the usual development id).
pub const DEV_CHAIN_ID: u64 = 31337;

/// How many development accounts genesis funds.
pub const DEV_ACCOUNTS: u32 = 10;

/// The development accounts' keys, in derivation order.
pub fn dev_keys() -> Vec<WorkerKey> {
    // OK because the mnemonic is a valid constant.
    (0..DEV_ACCOUNTS).map(|i| WorkerKey::from_mnemonic(DEV_MNEMONIC, i).expect("the dev mnemonic is valid")).collect()
}

/// The development accounts' addresses.
pub fn dev_accounts() -> Vec<Address> {
    dev_keys().iter().map(WorkerKey::address).collect()
}

/// Opens the development chain at `path`, creating it with genesis at `now` if needed: the
/// contracts deployed by account 0, and every account funded with 10,000 ether and 1,000,000
/// tokens.
pub fn open_dev_chain(path: &std::path::Path, now: u64) -> ChainResult<EmbeddedChain> {
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let accounts = dev_accounts();
    let genesis = DevGenesis {
        chain_id: DEV_CHAIN_ID,
        timestamp: now,
        config: GenesisConfig::dev(accounts[0]),
        accounts,
        ether: unit * U256::from(10_000u64),
        tokens: unit * U256::from(1_000_000u64),
    };
    EmbeddedChain::open(path, &genesis)
}

/// Registers the node's worker (inference) and validator keys with 10,000 tokens of stake each
/// and funds development account 1's escrow with 100,000 tokens, once, all paid by development
/// account 0, which deployed the contracts.
pub async fn bootstrap(chain: &SharedChain, worker: &WorkerKey, validator: &WorkerKey) -> ChainResult<()> {
    let contracts = chain.contracts();
    let registered =
        chain.view(contracts.registry, NodeRegistry::nodeOfCall { signer: validator.address() }).await?.operator
            != Address::ZERO;
    if registered {
        return Ok(());
    }
    let keys = dev_keys();
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let now = Confirmations::default();
    for (signer, role) in [(worker, Role::Inference), (validator, Role::Validator)] {
        let registration = Registration { signer, role, endpoint: "", stake: unit * U256::from(10_000u64) };
        register(chain, &contracts, registration, Some(&keys[0]), now).await?;
    }
    // A standalone node's gateway is its validator key (see `Node::open`).
    fund_payer(chain, validator.address()).await?;
    tracing::info!(validator = %validator.address(), worker = %worker.address(), "registered on the development chain");
    Ok(())
}

/// Development account 1's escrow: 100,000 tokens, paid by itself, which it allows `gateway` to
/// charge without limit.
async fn fund_payer(chain: &SharedChain, gateway: Address) -> ChainResult<()> {
    let contracts = chain.contracts();
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let deposit = unit * U256::from(100_000u64);
    let payer = &dev_keys()[1];
    let now = Confirmations::default();
    chain
        .send_call(
            payer,
            contracts.token,
            VeritasToken::approveCall { spender: contracts.settlement, value: deposit },
            now,
        )
        .await?;
    chain.send_call(payer, contracts.settlement, Settlement::depositCall { amount: deposit }, now).await?;
    let allow = Settlement::approveGatewayCall { gateway, amount: U256::MAX };
    chain.send_call(payer, contracts.settlement, allow, now).await?;
    Ok(())
}

/// A gateway's start on the development chain, once: its key registered as a gateway with
/// 10,000 tokens of stake (inference nodes and validators take calls from registered gateways
/// only), 100,000 tokens (from account 0) that the settlement contract may take as dispute
/// bonds, and development account 1's escrow, which it allows this gateway to charge. The
/// network's nodes are registered by whoever starts them (`veritas up`).
pub async fn bootstrap_gateway(chain: &SharedChain, gateway: &WorkerKey) -> ChainResult<()> {
    let contracts = chain.contracts();
    let held = chain.view(contracts.token, VeritasToken::balanceOfCall { account: gateway.address() }).await?;
    if !held.is_zero() {
        return Ok(());
    }
    let unit = U256::from(10u64).pow(U256::from(18u64));
    let amount = unit * U256::from(100_000u64);
    let now = Confirmations::default();
    let keys = dev_keys();
    // Ether for the gas of batches and disputes, tokens for dispute bonds.
    chain.transact(&keys[0], Some(gateway.address()), unit * U256::from(1_000u64), Default::default(), now).await?;
    chain
        .send_call(&keys[0], contracts.token, VeritasToken::transferCall { to: gateway.address(), value: amount }, now)
        .await?;
    chain
        .send_call(
            gateway,
            contracts.token,
            VeritasToken::approveCall { spender: contracts.settlement, value: U256::MAX },
            now,
        )
        .await?;
    let registration =
        Registration { signer: gateway, role: Role::Gateway, endpoint: "", stake: unit * U256::from(10_000u64) };
    register(chain, &contracts, registration, Some(&keys[0]), now).await?;
    fund_payer(chain, gateway.address()).await?;
    tracing::info!(gateway = %gateway.address(), "gateway registered and funded on the development chain");
    Ok(())
}
