//! Deploying the contracts on a fresh chain and registering nodes: what the embedded chain's
//! genesis does, and what tests and benchmarks start from.

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_sol_types::SolConstructor;
use veritas_primitives::{ClaimDomain, WorkerKey};

use crate::{
    Chain, ChainResult, Confirmations, LocalEvm,
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
    /// Takes clients' requests and settles them: payers approve it to charge their escrow.
    Gateway = 3,
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
    /// The least stake a node holds; what makes an inference node a staked worker and a gateway
    /// node a gateway. Must be at least `slash_amount` (the settlement contract refuses less).
    pub min_stake: U256,
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
    /// Development defaults: a billion tokens (18 decimals) to `admin`, short delays, a minimum
    /// stake of 1,000 tokens (ten slashes of 100).
    pub fn dev(admin: Address) -> GenesisConfig {
        let unit = U256::from(10u64).pow(U256::from(18u64));
        GenesisConfig {
            admin,
            supply: unit * U256::from(1_000_000_000u64),
            treasury: admin,
            unbonding_delay: 86_400,
            min_stake: unit * U256::from(1_000u64),
            withdrawal_delay: 3_600,
            dispute_bond: unit * U256::from(10u64),
            slash_amount: unit * U256::from(100u64),
            request_timeout: 600,
            callback_gas_limit: 200_000,
        }
    }
}

impl GenesisConfig {
    /// The settlement contract's constructor argument.
    fn settlement(&self, token: Address, registry: Address, models: Address) -> Settlement::Config {
        Settlement::Config {
            token,
            registry,
            models,
            treasury: self.treasury,
            withdrawalDelay: self.withdrawal_delay,
            disputeBond: self.dispute_bond,
            slashAmount: self.slash_amount,
            requestTimeout: self.request_timeout,
            callbackGasLimit: U256::from(self.callback_gas_limit),
        }
    }
}

/// Where the contracts are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
        &NodeRegistry::constructorCall {
            token_: token,
            unbondingDelay_: config.unbonding_delay,
            minStake_: config.min_stake,
        }
        .abi_encode(),
    )?;
    let models = deploy_artifact(evm, admin, artifacts::MODEL_REGISTRY, &[])?;
    let settlement_config = config.settlement(token, registry, models);
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
    let call = register_call(Registration { signer, role, endpoint, stake }, &digest)?;
    evm.send(operator, contracts.registry, call)?;
    Ok(())
}

/// Deploys the token, both registries and the settlement contract on any chain, from `admin`
/// (who must hold ether for gas; `config.admin` is ignored), and makes the settlement contract
/// the registry's slasher: what `veritas chain deploy` runs.
pub async fn deploy(
    chain: &impl Chain,
    admin: &WorkerKey,
    config: &GenesisConfig,
    confirmations: Confirmations,
) -> ChainResult<Contracts> {
    let holder = admin.address();
    let create = async |artifact: &str, args: Vec<u8>| -> ChainResult<Address> {
        let mut code = creation_code(artifact)?.to_vec();
        code.extend_from_slice(&args);
        let mined = chain.transact(admin, None, U256::ZERO, code.into(), confirmations).await?;
        mined.contract_address.ok_or_else(|| {
            crate::ChainError::Decode(format!("deployment of {artifact} in {} created no contract", mined.transaction))
        })
    };
    let token =
        create(artifacts::TOKEN, VeritasToken::constructorCall { holder, supply: config.supply }.abi_encode()).await?;
    let registry = create(
        artifacts::NODE_REGISTRY,
        NodeRegistry::constructorCall {
            token_: token,
            unbondingDelay_: config.unbonding_delay,
            minStake_: config.min_stake,
        }
        .abi_encode(),
    )
    .await?;
    let models = create(artifacts::MODEL_REGISTRY, Vec::new()).await?;
    let settlement_config = config.settlement(token, registry, models);
    let settlement =
        create(artifacts::SETTLEMENT, Settlement::constructorCall { config: settlement_config }.abi_encode()).await?;
    chain.send_call(admin, registry, NodeRegistry::setSlasherCall { slasher_: settlement }, confirmations).await?;
    Ok(Contracts { token, registry, models, settlement })
}

/// The registry call of `registration`, with the signer's proof over `digest` (the registry's
/// `registrationDigest` for the operator).
fn register_call(registration: Registration<'_>, digest: &B256) -> ChainResult<NodeRegistry::registerCall> {
    let Registration { signer, role, endpoint, stake } = registration;
    let proof = signer.sign_digest(digest).map_err(|err| crate::ChainError::Decode(err.to_string()))?;
    Ok(NodeRegistry::registerCall {
        signer: signer.address(),
        role: role as u8,
        endpoint: endpoint.to_owned(),
        stake,
        signerProof: Bytes::from(proof.to_vec()),
    })
}

/// A node registration: who signs, in which role, where it listens and what it stakes.
#[derive(Clone, Copy, Debug)]
pub struct Registration<'a> {
    /// The node's signing key; its address is also the operator.
    pub signer: &'a WorkerKey,
    /// Its role.
    pub role: Role,
    /// Its public endpoint (may be empty).
    pub endpoint: &'a str,
    /// The stake, in the token's smallest unit.
    pub stake: U256,
}

/// Registers a node on any chain: if `funder` is given, it first sends the signer one ether
/// (when it has less) and the stake in tokens; then the signer approves the stake and
/// registers with its proof. Registering twice is refused by the registry, with its reason.
pub async fn register(
    chain: &impl Chain,
    contracts: &Contracts,
    registration: Registration<'_>,
    funder: Option<&WorkerKey>,
    confirmations: Confirmations,
) -> ChainResult<()> {
    let Registration { signer, stake, .. } = registration;
    let operator = signer.address();
    if let Some(funder) = funder {
        let ether = U256::from(10u64).pow(U256::from(18u64));
        if chain.balance(operator).await? < ether {
            chain.transact(funder, Some(operator), ether, Bytes::new(), confirmations).await?;
        }
        chain
            .send_call(
                funder,
                contracts.token,
                VeritasToken::transferCall { to: operator, value: stake },
                confirmations,
            )
            .await?;
    }
    chain
        .send_call(
            signer,
            contracts.token,
            VeritasToken::approveCall { spender: contracts.registry, value: stake },
            confirmations,
        )
        .await?;
    let digest = chain.view(contracts.registry, NodeRegistry::registrationDigestCall { operator }).await?;
    let call = register_call(registration, &digest)?;
    chain.send_call(signer, contracts.registry, call, confirmations).await?;
    Ok(())
}
