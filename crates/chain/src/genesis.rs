//! Deploying the contracts on a fresh chain and registering nodes: what the embedded chain's
//! genesis does, and what tests and benchmarks start from.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::SolConstructor;
use veritas_primitives::{ClaimDomain, WorkerKey};

use crate::{
    ChainResult, LocalEvm,
    contracts::{NodeRegistry, Settlement, VeritasToken, artifacts, creation_code},
};

/// Roles in the node registry (a Solidity enum: a `uint8` in the ABI).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Runs models and signs claims.
    Inference = 1,
    /// Checks claims and signs verdicts.
    Validator = 2,
}

/// Parameters of a deployment.
#[derive(Clone, Debug)]
pub struct GenesisConfig {
    /// Deploys everything and holds the whole token supply.
    pub admin: Address,
    /// The token supply minted to the admin.
    pub supply: U256,
    /// Receives the treasury's share of fees and slashes.
    pub treasury: Address,
    /// Seconds before unbonded stake can leave.
    pub unbonding_delay: u64,
    /// Seconds before an escrow withdrawal can leave.
    pub withdrawal_delay: u64,
    /// The bond a challenger posts to open a dispute.
    pub dispute_bond: U256,
    /// What a lying worker loses.
    pub slash_amount: U256,
    /// Seconds a contract's request waits to be served before it can be refunded.
    pub request_timeout: u64,
    /// Gas given to a requesting contract's callback.
    pub callback_gas_limit: u64,
}

impl GenesisConfig {
    /// Development defaults: a billion tokens (18 decimals) to `admin`, short delays.
    pub fn dev(admin: Address) -> GenesisConfig {
        let unit = U256::from(10u64).pow(U256::from(18u64));
        GenesisConfig {
            admin,
            supply: unit * U256::from(1_000_000_000u64),
            treasury: admin,
            unbonding_delay: 86_400,
            withdrawal_delay: 3_600,
            dispute_bond: unit * U256::from(10u64),
            slash_amount: unit * U256::from(100u64),
            request_timeout: 600,
            callback_gas_limit: 200_000,
        }
    }
}

/// Where the contracts are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Contracts {
    /// The ERC-20.
    pub token: Address,
    /// The node registry.
    pub registry: Address,
    /// The model registry.
    pub models: Address,
    /// Escrow, settlement, disputes and requests.
    pub settlement: Address,
}

impl Contracts {
    /// The EIP-712 domain claims, batches and verdicts are signed in on this deployment.
    pub fn domain(&self, chain_id: u64) -> ClaimDomain {
        ClaimDomain { chain_id, verifying_contract: self.settlement }
    }
}

/// Deploys creation code with encoded constructor arguments.
pub fn deploy_artifact(evm: &mut LocalEvm, from: Address, artifact: &str, args: &[u8]) -> ChainResult<Address> {
    let mut code = creation_code(artifact)?.to_vec();
    code.extend_from_slice(args);
    Ok(evm.deploy(from, code.into())?.address)
}

/// Deploys the token, both registries and the settlement contract, and makes the settlement
/// contract the registry's slasher.
pub fn deploy_contracts(evm: &mut LocalEvm, config: &GenesisConfig) -> ChainResult<Contracts> {
    let admin = config.admin;
    let token = deploy_artifact(
        evm,
        admin,
        artifacts::TOKEN,
        &VeritasToken::constructorCall { holder: admin, supply: config.supply }.abi_encode(),
    )?;
    let registry = deploy_artifact(
        evm,
        admin,
        artifacts::NODE_REGISTRY,
        &NodeRegistry::constructorCall { token_: token, unbondingDelay_: config.unbonding_delay }.abi_encode(),
    )?;
    let models = deploy_artifact(evm, admin, artifacts::MODEL_REGISTRY, &[])?;
    let settlement_config = Settlement::Config {
        token,
        registry,
        models,
        treasury: config.treasury,
        withdrawalDelay: config.withdrawal_delay,
        disputeBond: config.dispute_bond,
        slashAmount: config.slash_amount,
        requestTimeout: config.request_timeout,
        callbackGasLimit: U256::from(config.callback_gas_limit),
    };
    let settlement = deploy_artifact(
        evm,
        admin,
        artifacts::SETTLEMENT,
        &Settlement::constructorCall { config: settlement_config }.abi_encode(),
    )?;
    evm.send(admin, registry, NodeRegistry::setSlasherCall { slasher_: settlement })?;
    Ok(Contracts { token, registry, models, settlement })
}

/// Registers `signer` as its own operator with `stake`, funded by `funder` (who must hold the
/// tokens): the transfer, the approval, the signer's proof and the registration.
pub fn register_node(
    evm: &mut LocalEvm,
    contracts: &Contracts,
    funder: Address,
    signer: &WorkerKey,
    role: Role,
    endpoint: &str,
    stake: U256,
) -> ChainResult<()> {
    let operator = signer.address();
    evm.send(funder, contracts.token, VeritasToken::transferCall { to: operator, value: stake })?;
    evm.send(operator, contracts.token, VeritasToken::approveCall { spender: contracts.registry, value: stake })?;
    let digest = evm.view(operator, contracts.registry, NodeRegistry::registrationDigestCall { operator })?;
    let proof = signer.sign_digest(&digest).map_err(|err| crate::ChainError::Decode(err.to_string()))?;
    let call = NodeRegistry::registerCall {
        signer: operator,
        role: role as u8,
        endpoint: endpoint.to_owned(),
        stake,
        signerProof: Bytes::from(proof.to_vec()),
    };
    evm.send(operator, contracts.registry, call)?;
    Ok(())
}
