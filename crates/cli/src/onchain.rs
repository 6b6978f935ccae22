//! Commands that send transactions: `veritas chain deploy`, `veritas node register` and
//! `veritas account …`. They reach the chain over JSON-RPC (the node's embedded chain at
//! `$VERITAS_API/rpc` unless `--rpc` names another) and sign with a key from the environment,
//! or with a development account's key on the development chain (id 31337) only.

use std::path::{Path, PathBuf};

use alloy_primitives::{Address, U256, utils::parse_units};
use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde::{Deserialize, Serialize};
use serde_json::json;
use veritas_node::{
    chain::{
        Chain, Confirmations, RpcChain,
        contracts::{Settlement, VeritasToken},
        genesis::{Contracts, GenesisConfig, Registration, Role, deploy, register},
    },
    devnet::{DEV_CHAIN_ID, dev_keys},
    wire::{AccountBalance, ApiKeyCreated, NetworkInfo},
};
use veritas_primitives::{WorkerKey, hex};

use crate::{
    client::{Client, ClientError},
    commands::Output,
    env,
};

/// Where to send transactions and who signs them.
#[derive(Args, Clone)]
pub struct ChainArgs {
    /// JSON-RPC endpoint; default: the node's embedded chain at $VERITAS_API/rpc.
    #[arg(long)]
    rpc: Option<String>,
    /// The deployment file `veritas chain deploy` wrote; default: ask the node (/v1/network).
    #[arg(long)]
    deployment: Option<PathBuf>,
    /// An environment variable holding the signing key as hex.
    #[arg(long, value_name = "VAR", default_value = "VERITAS_ACCOUNT_KEY")]
    key_env: String,
    /// Sign with development account N of the test mnemonic (development chain only).
    #[arg(long, value_name = "N")]
    dev_account: Option<u32>,
    /// Blocks a transaction must be under before the command returns.
    #[arg(long, default_value_t = 1)]
    confirmations: u64,
}

impl ChainArgs {
    pub(crate) fn confirmations(&self) -> Confirmations {
        Confirmations { depth: self.confirmations.max(1), ..Default::default() }
    }

    pub(crate) async fn connect(&self) -> anyhow::Result<RpcChain> {
        let url = self.rpc.clone().unwrap_or_else(|| format!("{}/rpc", env::api().trim_end_matches('/')));
        Ok(RpcChain::connect(&url).await?)
    }

    /// The signing key: `$key_env`, else the development account (`--dev-account`, else
    /// `default_dev`) when the chain is the development chain.
    pub(crate) fn key(&self, chain: &RpcChain, default_dev: u32) -> anyhow::Result<WorkerKey> {
        if let Some(hex) = std::env::var(&self.key_env).ok().filter(|v| !v.is_empty()) {
            if self.dev_account.is_some() {
                bail!("both ${} and --dev-account name a key; use one", self.key_env);
            }
            let bytes = hex::decode(hex.trim()).with_context(|| format!("${} is not hex", self.key_env))?;
            let secret: [u8; 32] =
                bytes.try_into().map_err(|_| anyhow::anyhow!("${} must be 32 bytes of hex", self.key_env))?;
            return Ok(WorkerKey::from_bytes(&secret.into())?);
        }
        if chain.chain_id() != DEV_CHAIN_ID {
            bail!(
                "chain {} is not the development chain: set ${} to the signing key (development accounts are public)",
                chain.chain_id(),
                self.key_env
            );
        }
        let index = self.dev_account.unwrap_or(default_dev);
        dev_keys()
            .into_iter()
            .nth(index as usize)
            .with_context(|| format!("there are {} development accounts", dev_keys().len()))
    }

    pub(crate) async fn contracts(&self, chain: &RpcChain) -> anyhow::Result<Contracts> {
        if let Some(path) = &self.deployment {
            let deployment = Deployment::read(path)?;
            if deployment.chain_id != chain.chain_id() {
                bail!(
                    "{} is a deployment on chain {}, but {} is chain {}",
                    path.display(),
                    deployment.chain_id,
                    chain.url(),
                    chain.chain_id()
                );
            }
            return Ok(deployment.contracts);
        }
        let network: NetworkInfo = Client::new(&env::api()).get("/v1/network").await?;
        let contracts = network
            .chain
            .map(|chain| chain.contracts)
            .with_context(|| format!("the node at {} runs no chain; pass --deployment FILE", env::api()))?;
        Ok(Contracts {
            token: contracts.token,
            registry: contracts.node_registry,
            models: contracts.model_registry,
            settlement: contracts.settlement,
        })
    }
}

/// What `veritas chain deploy` writes and the other commands read.
#[derive(Serialize, Deserialize)]
pub struct Deployment {
    /// The chain.
    pub chain_id: u64,
    /// Where the contracts are.
    pub contracts: Contracts,
    /// Who deployed them (holds the token supply).
    pub deployer: Address,
    /// The block of the last deployment transaction.
    pub block: u64,
}

impl Deployment {
    /// Reads a deployment file.
    pub fn read(path: &Path) -> anyhow::Result<Deployment> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a deployment file", path.display()))
    }
}

/// Options of `veritas chain deploy`.
#[derive(Args)]
pub struct DeployArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// Where to write the deployment file.
    #[arg(long, short, default_value = "deployment.json")]
    out: PathBuf,
}

/// `veritas chain deploy`: the contracts on any EVM chain, from the signing key (development
/// account 0 on the development chain).
pub async fn deploy_contracts(args: DeployArgs, out: &Output) -> anyhow::Result<u8> {
    let chain = args.chain.connect().await?;
    let key = args.chain.key(&chain, 0)?;
    if !out.json {
        eprintln!("deploying from {} to chain {} at {} …", key.address(), chain.chain_id(), chain.url());
    }
    let config = GenesisConfig::dev(key.address());
    let contracts = deploy(&chain, &key, &config, args.chain.confirmations()).await.context("deployment failed")?;
    // On a development chain the other development accounts get tokens, as on the embedded
    // chain, so that the same commands work on both.
    let dev = dev_keys();
    if chain.chain_id() == DEV_CHAIN_ID && key.address() == dev[0].address() {
        let amount = U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18u64));
        for to in dev.iter().skip(1).map(WorkerKey::address) {
            let call = VeritasToken::transferCall { to, value: amount };
            chain.send_call(&key, contracts.token, call, args.chain.confirmations()).await?;
        }
    }
    let deployment = Deployment {
        chain_id: chain.chain_id(),
        contracts,
        deployer: key.address(),
        block: chain.block_number().await?,
    };
    std::fs::write(&args.out, serde_json::to_vec_pretty(&deployment)?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    if out.json {
        out.print_json(&serde_json::to_value(&deployment)?);
    } else {
        say!("token           {}", contracts.token);
        say!("node registry   {}", contracts.registry);
        say!("model registry  {}", contracts.models);
        say!("settlement      {}", contracts.settlement);
        say!("written to {}", args.out.display());
    }
    Ok(0)
}

/// A node's role.
#[derive(Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Runs models and signs claims (the node's worker.key).
    Inference,
    /// Signs verdicts and batches (the node's validator.key).
    Validator,
    /// Takes clients' requests and calls inference nodes and validators, which answer
    /// registered gateways only (the node's worker.key, the key a gateway signs with).
    Gateway,
}

/// Options of `veritas node register`.
#[derive(Args)]
pub struct RegisterArgs {
    /// The role, which picks the node key that registers.
    #[arg(long, value_enum)]
    role: RoleArg,
    /// Stake, in tokens (e.g. 10000 or 2.5).
    #[arg(long)]
    stake: String,
    /// The node's public endpoint, recorded in the registry.
    #[arg(long, default_value = "")]
    endpoint: String,
    /// Fund the node key first (one ether for gas, the stake in tokens) from the signing key.
    #[arg(long)]
    fund: bool,
    /// With `--role validator`: the node runs `veritas node --role validator` and judges with
    /// its node key (`worker.key`), which is registered; without it, a standalone node's second
    /// key (`validator.key`) is.
    #[arg(long)]
    validator_node: bool,
    #[command(flatten)]
    chain: ChainArgs,
}

fn parse_tokens(text: &str) -> anyhow::Result<U256> {
    let amount: U256 = parse_units(text.trim(), 18)
        .with_context(|| format!("{text:?} is not an amount of tokens (use e.g. 10 or 2.5)"))?
        .into();
    if amount.is_zero() {
        bail!("the amount must be more than zero");
    }
    Ok(amount)
}

/// `veritas node register`: registers this node's worker or validator key.
pub async fn register_node(args: RegisterArgs, out: &Output) -> anyhow::Result<u8> {
    let chain = args.chain.connect().await?;
    let contracts = args.chain.contracts(&chain).await?;
    let stake = parse_tokens(&args.stake)?;
    if args.validator_node && !matches!(args.role, RoleArg::Validator) {
        bail!("--validator-node goes with --role validator");
    }
    let (file, role) = match args.role {
        RoleArg::Inference => ("worker.key", Role::Inference),
        RoleArg::Validator if args.validator_node => ("worker.key", Role::Validator),
        RoleArg::Validator => ("validator.key", Role::Validator),
        RoleArg::Gateway => ("worker.key", Role::Gateway),
    };
    let home = env::home();
    std::fs::create_dir_all(&home)?;
    let key_hex =
        (file == "worker.key").then(|| std::env::var("VERITAS_WORKER_KEY").ok().filter(|v| !v.is_empty())).flatten();
    let signer = veritas_node::load_or_create_key(&home.join(file), key_hex.as_deref())?;
    let funder = if args.fund { Some(args.chain.key(&chain, 0)?) } else { None };
    let registration = Registration { signer: &signer, role, endpoint: &args.endpoint, stake };
    register(&chain, &contracts, registration, funder.as_ref(), args.chain.confirmations())
        .await
        .with_context(|| format!("cannot register {}", signer.address()))?;
    if out.json {
        out.print_json(&json!({"signer": signer.address(), "key": file, "stake": stake.to_string()}));
    } else {
        say!("registered {} ({}) with a stake of {} tokens", signer.address(), file, args.stake);
    }
    Ok(0)
}

/// `veritas account …`.
#[derive(Subcommand)]
pub enum AccountCommand {
    /// Move tokens into the account's escrow, which pays for its requests, and allow the
    /// node's gateway to charge that much more of it.
    Deposit {
        /// Tokens (e.g. 10 or 2.5).
        amount: String,
        /// The gateway to allow; default: the node's (`GET /v1/network`).
        #[arg(long)]
        gateway: Option<Address>,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Set how much of the account's escrow a gateway may charge (a gateway charges nothing
    /// beyond it, whatever its batches say).
    Allow {
        /// Tokens; omit with --unlimited, 0 revokes.
        amount: Option<String>,
        /// No limit.
        #[arg(long)]
        unlimited: bool,
        /// The gateway; default: the node's (`GET /v1/network`).
        #[arg(long)]
        gateway: Option<Address>,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// The account's escrow, what its unsettled requests commit and what is free.
    Balance {
        /// The account; default: the signing key's.
        address: Option<Address>,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// Ask to withdraw from escrow (it leaves after the withdrawal delay), or finish a
    /// withdrawal whose delay has passed.
    Withdraw {
        /// Tokens to withdraw; omit with --finish.
        amount: Option<String>,
        /// Finish the pending withdrawal.
        #[arg(long)]
        finish: bool,
        #[command(flatten)]
        chain: ChainArgs,
    },
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

/// `veritas account key …`.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create an API key that pays from the signing key's account (shown once; the node keeps
    /// only its hash).
    Create {
        #[command(flatten)]
        chain: ChainArgs,
    },
}

/// `veritas account …`; development account 1 signs by default on the development chain.
pub async fn account(cmd: AccountCommand, out: &Output) -> anyhow::Result<u8> {
    match cmd {
        AccountCommand::Deposit { amount, gateway, chain: args } => {
            let chain = args.connect().await?;
            let contracts = args.contracts(&chain).await?;
            let key = args.key(&chain, 1)?;
            let amount = parse_tokens(&amount)?;
            let approve = VeritasToken::approveCall { spender: contracts.settlement, value: amount };
            chain.send_call(&key, contracts.token, approve, args.confirmations()).await?;
            let mined = chain
                .send_call(&key, contracts.settlement, Settlement::depositCall { amount }, args.confirmations())
                .await?;
            let escrow = chain.view(contracts.settlement, Settlement::balanceOfCall { account: key.address() }).await?;
            print_escrow(out, key.address(), escrow, Some(mined.transaction));
            let gateway = match gateway {
                Some(gateway) => Ok(Some(gateway)),
                None => node_gateway().await,
            };
            match gateway {
                Ok(Some(gateway)) => {
                    let call = Settlement::allowanceCall { payer: key.address(), gateway };
                    let allowed = chain.view(contracts.settlement, call).await?;
                    if allowed != U256::MAX {
                        let amount = allowed.saturating_add(amount);
                        let call = Settlement::approveGatewayCall { gateway, amount };
                        chain.send_call(&key, contracts.settlement, call, args.confirmations()).await?;
                        if !out.json {
                            say!("gateway {gateway} may charge {} VRT of it", crate::commands::tokens(amount));
                        }
                    }
                }
                _ => eprintln!("no gateway allowed to charge it: run `veritas account allow AMOUNT --gateway ADDRESS`"),
            }
        }
        AccountCommand::Allow { amount, unlimited, gateway, chain: args } => {
            let chain = args.connect().await?;
            let contracts = args.contracts(&chain).await?;
            let key = args.key(&chain, 1)?;
            let amount = match (amount, unlimited) {
                (None, true) => U256::MAX,
                (Some(amount), false) if amount.trim() == "0" => U256::ZERO,
                (Some(amount), false) => parse_tokens(&amount)?,
                _ => bail!("give an amount of tokens, or --unlimited"),
            };
            let gateway = match gateway {
                Some(gateway) => gateway,
                None => node_gateway().await?.context("the node is not a gateway: name one with --gateway")?,
            };
            let call = Settlement::approveGatewayCall { gateway, amount };
            let mined = chain.send_call(&key, contracts.settlement, call, args.confirmations()).await?;
            if out.json {
                out.print_json(&json!({
                    "account": key.address(),
                    "gateway": gateway,
                    "allowance": amount.to_string(),
                    "transaction": mined.transaction,
                }));
            } else if amount == U256::MAX {
                say!("gateway {gateway} may charge {} without limit", key.address());
            } else {
                say!("gateway {gateway} may charge {} up to {} VRT", key.address(), crate::commands::tokens(amount));
            }
        }
        AccountCommand::Balance { address, chain: args } => {
            let chain = args.connect().await?;
            let contracts = args.contracts(&chain).await?;
            let account = match address {
                Some(address) => address,
                None => args.key(&chain, 1)?.address(),
            };
            let escrow = chain.view(contracts.settlement, Settlement::balanceOfCall { account }).await?;
            // What the node has served but not yet settled, if the node is reachable.
            let committed =
                match Client::new(&env::api()).get::<AccountBalance>(&format!("/v1/accounts/{account}")).await {
                    Ok(balance) => U256::from_str_radix(&balance.committed, 10).with_context(|| {
                        format!("the node's committed amount {:?} is not a number", balance.committed)
                    })?,
                    Err(ClientError::Unreachable { .. }) => U256::ZERO,
                    Err(err) => return Err(err.into()),
                };
            if out.json {
                out.print_json(&json!({
                    "account": account,
                    "escrow": escrow.to_string(),
                    "committed": committed.to_string(),
                    "available": escrow.saturating_sub(committed).to_string(),
                }));
            } else {
                say!("account    {account}");
                say!("escrow     {} VRT", crate::commands::tokens(escrow));
                say!("committed  {} VRT (served, not yet settled)", crate::commands::tokens(committed));
                say!("available  {} VRT", crate::commands::tokens(escrow.saturating_sub(committed)));
            }
        }
        AccountCommand::Withdraw { amount, finish, chain: args } => {
            let chain = args.connect().await?;
            let contracts = args.contracts(&chain).await?;
            let key = args.key(&chain, 1)?;
            let mined = match (amount, finish) {
                (Some(amount), false) => {
                    let amount = parse_tokens(&amount)?;
                    let call = Settlement::requestWithdrawalCall { amount };
                    chain.send_call(&key, contracts.settlement, call, args.confirmations()).await?
                }
                (None, true) => {
                    chain
                        .send_call(&key, contracts.settlement, Settlement::withdrawCall {}, args.confirmations())
                        .await?
                }
                _ => bail!("give an amount to ask for a withdrawal, or --finish to complete one"),
            };
            let escrow = chain.view(contracts.settlement, Settlement::balanceOfCall { account: key.address() }).await?;
            print_escrow(out, key.address(), escrow, Some(mined.transaction));
        }
        AccountCommand::Key(KeyCommand::Create { chain: args }) => {
            let chain = args.connect().await?;
            let key = args.key(&chain, 1)?;
            let answer: ApiKeyCreated =
                Client::new(&env::api()).post_signed("/v1/account/keys", &json!({}), &key).await?;
            if out.json {
                out.print_json(&answer);
            } else {
                say!("API key for {} (shown once; the node keeps only its hash):", key.address());
                say!("{}", answer.api_key);
                say!("use it with: VERITAS_API_KEY=<key> veritas infer …");
            }
        }
    }
    Ok(0)
}

/// The gateway of the node at `VERITAS_API`, if it runs one; `None` if it is unreachable.
async fn node_gateway() -> anyhow::Result<Option<Address>> {
    match Client::new(&env::api()).get::<veritas_node::wire::NetworkInfo>("/v1/network").await {
        Ok(network) => Ok(network.gateway),
        Err(ClientError::Unreachable { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

fn print_escrow(out: &Output, account: Address, escrow: U256, transaction: Option<alloy_primitives::B256>) {
    if out.json {
        out.print_json(&json!({"account": account, "escrow": escrow.to_string(), "transaction": transaction}));
    } else {
        say!("escrow of {account}: {} VRT", crate::commands::tokens(escrow));
    }
}
