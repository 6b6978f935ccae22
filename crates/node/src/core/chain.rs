//! The node's link to its chain: the embedded development chain (opened, its keys registered
//! and funded on first start, mined on an interval when asked) or any EVM chain over JSON-RPC
//! (its contracts from the deployment, the node's keys checked against the registry), and the
//! registry as last read.

use std::time::{Duration, Instant};

use veritas_chain::{
    AnyChain, Chain, Confirmations, RpcChain, contracts::NodeRegistry, embedded::SharedChain, genesis::Contracts,
};
use veritas_primitives::{Address, WorkerKey};
use veritas_wire::{Registry, Role};

use crate::{ChainConfig, ConfigError, NodeError, NodeResult, store::Store};

/// How long the registry read is reused.
const REGISTRY_TTL: Duration = Duration::from_secs(1);
/// How long a caller found to be a registered gateway is taken as one without asking again.
const GATEWAY_TTL: Duration = Duration::from_secs(10);
/// How long a caller found not to be one is refused without asking again (a new registration is
/// seen within this).
const NOT_GATEWAY_TTL: Duration = Duration::from_secs(1);
/// The most callers whose registration is remembered (a cache, not a list: beyond it, it is
/// cleared and read again).
const GATEWAYS_KEPT: usize = 1024;
/// How often to look for a transaction's receipt.
const POLL: Duration = Duration::from_millis(100);

/// The chain a node settles on and where its contracts are.
pub struct ChainLink {
    /// The chain.
    pub chain: AnyChain,
    /// Where the contracts are.
    pub contracts: Contracts,
    /// How long to wait for a transaction.
    pub confirmations: Confirmations,
    /// The embedded chain, when the node runs it.
    pub embedded: Option<SharedChain>,
    /// Mine the embedded chain's blocks this often (none: one per transaction).
    pub block_time: Option<Duration>,
    /// Pays requests that name no account (development account 1 on the embedded chain).
    pub default_payer: Option<Address>,
    registry: tokio::sync::Mutex<Option<(Registry, Instant)>>,
    gateways: std::sync::Mutex<std::collections::HashMap<Address, (bool, Instant)>>,
    workers: std::sync::Mutex<std::collections::HashMap<Address, (bool, Instant)>>,
}

/// The registry's code of the gateway role.
const GATEWAY_ROLE: u8 = veritas_chain::genesis::Role::Gateway as u8;

/// The keys a node holds in the registry: its own (a worker's) and its validator key.
pub(crate) struct Keys<'a> {
    pub node: &'a WorkerKey,
    /// Registered as an inference node.
    pub worker: bool,
    /// The validator key, registered as a validator.
    pub validator: Option<&'a WorkerKey>,
    /// Whether the node serves clients (a gateway): only such a node runs the embedded chain.
    pub gateway: bool,
}

impl ChainLink {
    /// Connects to the configured chain; `None` without one. The embedded chain registers the
    /// node's keys (or funds the gateway) on first start; over JSON-RPC the keys must be
    /// registered already.
    pub(crate) async fn open(
        config: &ChainConfig,
        home: &std::path::Path,
        store: &Store,
        keys: Keys<'_>,
        now: u64,
    ) -> NodeResult<Option<ChainLink>> {
        match config {
            ChainConfig::None => Ok(None),
            ChainConfig::Embedded { block_time } => {
                if !keys.gateway {
                    return Err(ConfigError::JoinsAChain.into());
                }
                let path = home.join("chain.redb");
                let chain = tokio::task::spawn_blocking(move || crate::devnet::open_dev_chain(&path, now)).await??;
                let chain = SharedChain::new(chain);
                match keys.validator {
                    Some(validator) => crate::devnet::bootstrap(&chain, keys.node, validator).await?,
                    None => crate::devnet::bootstrap_gateway(&chain, keys.node).await?,
                }
                if block_time.is_some() {
                    chain.lock().set_automine(false);
                }
                let confirmations = Confirmations { poll: block_time.map_or(POLL, |t| t / 4), ..Default::default() };
                Ok(Some(ChainLink {
                    chain: AnyChain::Embedded(chain.clone()),
                    contracts: chain.contracts(),
                    confirmations,
                    embedded: Some(chain),
                    block_time: *block_time,
                    default_payer: Some(crate::devnet::dev_accounts()[1]),
                    registry: Default::default(),
                    gateways: Default::default(),
                    workers: Default::default(),
                }))
            }
            ChainConfig::Rpc { url, contracts, confirmations, from_block } => {
                let chain = RpcChain::connect(url).await?;
                if store.requests().cursor()?.is_none() {
                    store.requests().set_cursor(*from_block)?;
                }
                // Each key this node signs with must hold its role in the registry: a gateway's
                // calls are refused by the nodes it calls unless it is registered as one.
                let mut needed: Vec<(Address, u8, &'static str, &'static str)> = Vec::new();
                if keys.worker {
                    needed.push((keys.node.address(), Role::Inference.code(), "inference", "--role inference"));
                } else if keys.gateway {
                    needed.push((keys.node.address(), GATEWAY_ROLE, "gateway", "--role gateway"));
                }
                if let Some(validator) = keys.validator {
                    // A validator node judges with its node key; a standalone node with a second key.
                    let command = if validator.address() == keys.node.address() {
                        "--role validator --validator-node"
                    } else {
                        "--role validator"
                    };
                    needed.push((validator.address(), Role::Validator.code(), "validator", command));
                }
                for (signer, code, role, command) in needed {
                    let node = chain.view(contracts.registry, NodeRegistry::nodeOfCall { signer }).await?;
                    if node.operator == Address::ZERO || node.role != code {
                        return Err(NodeError::NotRegistered { signer, role, command, registry: contracts.registry });
                    }
                }
                Ok(Some(ChainLink {
                    chain: AnyChain::Rpc(chain),
                    contracts: *contracts,
                    confirmations: Confirmations { depth: (*confirmations).max(1), ..Default::default() },
                    embedded: None,
                    block_time: None,
                    default_payer: None,
                    registry: Default::default(),
                    gateways: Default::default(),
                    workers: Default::default(),
                }))
            }
        }
    }

    /// The node registry, read at most once a second. While the chain is unreachable the last
    /// registry read holds, so the gateway keeps dispatching to the nodes it knew.
    pub async fn registry(&self) -> NodeResult<Registry> {
        let mut cache = self.registry.lock().await;
        if let Some((registry, read)) = cache.as_ref()
            && read.elapsed() < REGISTRY_TTL
        {
            return Ok(registry.clone());
        }
        let registry = match crate::network::read_registry(&self.chain, self.contracts.registry).await {
            Ok(registry) => registry,
            Err(err) => match cache.as_ref() {
                Some((registry, _)) if err.is_unreachable() => {
                    tracing::warn!(%err, "chain unreachable: using the last registry read");
                    return Ok(registry.clone());
                }
                _ => return Err(err.into()),
            },
        };
        *cache = Some((registry.clone(), Instant::now()));
        Ok(registry)
    }

    /// Whether `signer` is a registered gateway with at least the minimum stake (a yes read at
    /// most every 10 s per caller, a no every second):
    /// who may ask this node for work, verdicts and batch signatures.
    pub async fn is_gateway(&self, signer: Address) -> NodeResult<bool> {
        self.member(&self.gateways, signer, NodeRegistry::isGatewayCall { signer }).await
    }

    /// Whether `signer` is a registered inference node holding at least the minimum stake (read
    /// like [`ChainLink::is_gateway`]: a validator judging many claims of one worker reads the
    /// registry once, and a worker slashed below the minimum is known within 10 s).
    pub async fn is_staked_worker(&self, signer: Address) -> NodeResult<bool> {
        self.member(&self.workers, signer, NodeRegistry::isStakedWorkerCall { signer }).await
    }

    async fn member<C: alloy_sol_types::SolCall<Return = bool> + Send>(
        &self,
        cache: &std::sync::Mutex<std::collections::HashMap<Address, (bool, Instant)>>,
        signer: Address,
        call: C,
    ) -> NodeResult<bool> {
        let now = Instant::now();
        {
            let cache = cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((is, read)) = cache.get(&signer)
                && now.duration_since(*read) < if *is { GATEWAY_TTL } else { NOT_GATEWAY_TTL }
            {
                return Ok(*is);
            }
        }
        let is = match self.chain.view(self.contracts.registry, call).await {
            Ok(is) => is,
            // While the chain is unreachable, the last answer read about this signer holds.
            Err(err) if err.is_unreachable() => {
                let known = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&signer).map(|(is, _)| *is);
                let Some(is) = known else { return Err(err.into()) };
                tracing::warn!(%err, %signer, "chain unreachable: using the last registry answer");
                return Ok(is);
            }
            Err(err) => return Err(err.into()),
        };
        let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= GATEWAYS_KEPT {
            cache.clear();
        }
        cache.insert(signer, (is, now));
        Ok(is)
    }
}
