//! The subcommands.

use std::{net::SocketAddr, path::PathBuf, sync::Arc};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use veritas_node::{ChainConfig, Node, NodeConfig, StoreLocation};
use veritas_primitives::{ModelId, Receipt};
use veritas_verifier::{Expectations, verify_receipt};

use crate::{client::Client, env, exit, setup};

/// How output is printed.
pub struct Output {
    /// JSON for scripts instead of text for people.
    pub json: bool,
}

impl Output {
    pub(crate) fn print_json(&self, value: &Value) {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
    }
}

/// `veritas node`: start a node, or one of its subcommands.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct NodeCli {
    #[command(subcommand)]
    pub action: Option<NodeAction>,
    #[command(flatten)]
    pub args: NodeArgs,
}

/// `veritas node …`.
#[derive(Subcommand)]
pub enum NodeAction {
    /// Register this node's worker or validator key in the node registry, with a stake.
    Register(crate::onchain::RegisterArgs),
}

/// Options of `veritas up` and `veritas node`.
#[derive(Args)]
pub struct NodeArgs {
    /// Address to serve on; default: the host and port of VERITAS_API.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Where model bytes go: a directory, `memory`, or `s3://bucket/prefix`; default: the data directory.
    #[arg(long)]
    store: Option<String>,
    /// Intra-op threads per model session (default: ONNX Runtime's choice).
    #[arg(long)]
    threads: Option<usize>,
    /// The largest model accepted, in bytes.
    #[arg(long, default_value_t = 4 << 30)]
    max_model_bytes: u64,
    /// Do not settle: no embedded chain and no JSON-RPC chain.
    #[arg(long, conflicts_with = "chain_rpc")]
    pub(crate) no_chain: bool,
    /// Settle on the EVM chain at this JSON-RPC endpoint instead of the embedded one (needs
    /// --deployment and registered keys: `veritas chain deploy`, `veritas node register`).
    #[arg(long, requires = "deployment")]
    pub(crate) chain_rpc: Option<String>,
    /// The deployment file of the contracts on --chain-rpc.
    #[arg(long)]
    deployment: Option<PathBuf>,
    /// Blocks a settlement must be under before receipts record it (with --chain-rpc).
    #[arg(long, default_value_t = 1)]
    confirmations: u64,
    /// Mine the embedded chain's blocks every this many seconds instead of one per transaction.
    #[arg(long, value_name = "SECONDS")]
    block_time: Option<f64>,
    /// llama.cpp threads per generation (default: all cores).
    #[arg(long)]
    pub(crate) llm_threads: Option<usize>,
    /// Chats answered at once, taking turns a token at a time (default 4); further requests wait.
    #[arg(long)]
    max_generations: Option<usize>,
    /// `veritas up` only: do not fetch and push the default language model.
    #[arg(long)]
    pub(crate) no_default_model: bool,
    /// What this node does: standalone (everything in one process), gateway, inference or validator.
    #[arg(long, default_value = "standalone", value_parser = parse_role)]
    pub(crate) role: veritas_node::NodeRole,
    /// Fetch models this node lacks from this hub (a gateway's API URL), digest-checked.
    #[arg(long)]
    pub(crate) hub_url: Option<String>,
    /// Validators: the share of `reexec` claims re-executed (0 to 1; chosen by claim hash).
    #[arg(long, default_value_t = 1.0)]
    pub(crate) reexec_sampling: f64,
    /// The verification mode of requests that name none: signed or reexec (default: signed;
    /// `veritas up`: reexec).
    #[arg(long)]
    pub(crate) default_mode: Option<veritas_primitives::Mode>,
    /// TEST ONLY, development chain only: make this node lie (wrong-output, other-model,
    /// truncate, made-up; validators: approve-all).
    #[arg(long, value_parser = parse_fault, hide = true)]
    pub(crate) fault: Option<veritas_node::Fault>,
}

fn parse_role(text: &str) -> Result<veritas_node::NodeRole, String> {
    use veritas_node::NodeRole as R;
    [R::Standalone, R::Gateway, R::Inference, R::Validator]
        .into_iter()
        .find(|role| role.name() == text)
        .ok_or_else(|| format!("unknown role {text:?}: standalone, gateway, inference or validator"))
}

pub(crate) fn parse_fault(text: &str) -> Result<veritas_node::Fault, String> {
    veritas_node::Fault::ALL.iter().find(|(_, name)| *name == text).map(|(fault, _)| *fault).ok_or_else(|| {
        let names: Vec<&str> = veritas_node::Fault::ALL.iter().map(|(_, n)| *n).collect();
        format!("unknown fault {text:?}: {}", names.join(", "))
    })
}

pub(crate) fn listen_address(args: &NodeArgs) -> anyhow::Result<SocketAddr> {
    if let Some(listen) = args.listen {
        return Ok(listen);
    }
    let api = env::api();
    let authority = api.split("://").nth(1).unwrap_or(&api).trim_end_matches('/');
    let authority = authority.split('/').next().unwrap_or(authority);
    let authority = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:80") };
    let authority = authority.replace("localhost", "127.0.0.1");
    authority.parse().with_context(|| format!("VERITAS_API={api} does not name an address to listen on; use --listen"))
}

/// A node's configuration from its options.
pub(crate) fn node_config(args: &NodeArgs, home: &std::path::Path, onnxruntime: PathBuf) -> anyhow::Result<NodeConfig> {
    let mut config = NodeConfig::new(home.to_owned(), onnxruntime);
    config.threads = args.threads;
    config.llm_threads = args.llm_threads;
    config.max_generations = args.max_generations;
    config.key_hex = std::env::var("VERITAS_WORKER_KEY").ok().filter(|v| !v.is_empty());
    config.hub.max_model_bytes = args.max_model_bytes;
    config.chain = match (&args.chain_rpc, args.no_chain) {
        (_, true) => ChainConfig::None,
        (Some(url), false) => {
            let path = args.deployment.as_deref().context("--chain-rpc needs --deployment")?;
            let deployment = crate::onchain::Deployment::read(path)?;
            ChainConfig::Rpc { url: url.clone(), contracts: deployment.contracts, confirmations: args.confirmations }
        }
        (None, false) => {
            let block_time = match args.block_time {
                Some(seconds) if !(0.05..=3600.0).contains(&seconds) => {
                    bail!("--block-time must be between 0.05 and 3600 seconds")
                }
                Some(seconds) => Some(std::time::Duration::from_secs_f64(seconds)),
                None => None,
            };
            ChainConfig::Embedded { block_time }
        }
    };
    if let Some(store) = &args.store {
        config.hub.store = StoreLocation::parse(store);
    }
    if !(0.0..=1.0).contains(&args.reexec_sampling) {
        bail!("--reexec-sampling must be between 0 and 1");
    }
    config.role = args.role;
    config.hub_url = args.hub_url.clone();
    config.reexec_sampling = args.reexec_sampling;
    config.default_mode = args.default_mode.unwrap_or(veritas_primitives::Mode::Signed);
    config.fault = args.fault;
    Ok(config)
}

/// Pushes the default language model unless the node has it.
pub(crate) async fn push_default_llm(node: &Node, home: &std::path::Path, out: &Output) -> anyhow::Result<()> {
    if node.model(setup::DEFAULT_LLM).await.is_ok() {
        return Ok(());
    }
    let gguf = setup::ensure_default_llm(home, out.json)?;
    let staged = node.stager().stage_file(&gguf).await.map_err(veritas_node::NodeError::from)?;
    let request =
        veritas_node::PushRequest { name: setup::DEFAULT_LLM.into(), staged, format: veritas_node::ModelFormat::Gguf };
    let pushed = node.push_model(request).await.context("cannot push the default language model")?;
    if !out.json {
        println!("pushed the default language model as {} ({})", setup::DEFAULT_LLM, pushed.version.id);
    }
    Ok(())
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM).
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return,
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

async fn run_node(args: NodeArgs, out: &Output, banner: bool) -> anyhow::Result<u8> {
    let home = env::home();
    let onnxruntime = setup::ensure_onnxruntime(&home, out.json)?;
    let listen = listen_address(&args)?;
    let config = node_config(&args, &home, onnxruntime)?;
    let node = Arc::new(Node::open(&config).await.context("cannot open the node")?);
    if banner && !args.no_default_model {
        push_default_llm(&node, &home, out).await?;
    }
    // Verdicts are collected as claims come, and pending receipts settle every few seconds.
    let _verifier = node.settles().then(|| node.spawn_verifier(std::time::Duration::from_millis(500)));
    let _batcher = node.settles().then(|| node.spawn_batcher(std::time::Duration::from_secs(2)));
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let domain = node.domain();
    let rpc = node.chain().map(|_| format!("{url}/rpc"));
    if out.json {
        out.print_json(
            &json!({"api": url, "worker": node.worker(), "home": home, "rpc": rpc, "chain_id": domain.chain_id}),
        );
    } else if banner {
        println!("veritas is up");
        println!("  api      {url}");
        if let Some(rpc) = &rpc {
            println!("  chain    {rpc} (chain id {}, settlement {})", domain.chain_id, domain.verifying_contract);
        }
        println!("  worker   {}", node.worker());
        println!("  data     {}", home.display());
        println!("try, in another terminal:");
        println!("  veritas model push examples/models/iris-logreg.onnx --name iris");
        println!("  veritas infer iris --input '{{\"float_input\": [[5.1, 3.5, 1.4, 0.2]]}}' --receipt r.json");
        println!("  veritas verify r.json");
        println!("  veritas chat                          # or any OpenAI client at {url}/v1");
        if rpc.is_some() {
            println!(
                "  veritas receipt show <receipt id> --wait-settled 30 -o r.json && veritas verify --rpc {url}/rpc r.json"
            );
        }
    } else {
        println!("serving on {url} as {} {}", node.role().name(), node.worker());
    }
    veritas_api::serve(node, listener, veritas_api::ApiConfig::default(), shutdown_signal()).await?;
    Ok(0)
}

/// `veritas up --single`: everything in this one process.
pub async fn up_single(args: NodeArgs, out: &Output) -> anyhow::Result<u8> {
    run_node(args, out, true).await
}

/// `veritas node`.
pub async fn node(args: NodeArgs, out: &Output) -> anyhow::Result<u8> {
    run_node(args, out, false).await
}

/// `veritas chain …`.
#[derive(Subcommand)]
pub enum ChainCommand {
    /// The chain the node settles on: id, head block, contracts.
    Status,
    /// The development accounts with their ether and token balances.
    Accounts,
    /// Deploy the contracts on any EVM chain and write a deployment file.
    Deploy(crate::onchain::DeployArgs),
}

async fn rpc(client: &Client, method: &str, params: Value) -> anyhow::Result<Value> {
    let (answer, _) =
        client.post("/rpc", &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})).await?;
    if let Some(error) = answer.get("error") {
        bail!("{method}: {}", error["message"].as_str().unwrap_or("error"));
    }
    Ok(answer["result"].clone())
}

pub(crate) fn hex_u256(value: &Value) -> alloy_primitives::U256 {
    value.as_str().and_then(|s| s.parse().ok()).unwrap_or_default()
}

pub(crate) fn tokens(amount: alloy_primitives::U256) -> String {
    alloy_primitives::utils::format_units(amount, 18).unwrap_or_else(|_| amount.to_string())
}

/// `veritas chain …`.
pub async fn chain(cmd: ChainCommand, out: &Output) -> anyhow::Result<u8> {
    let status = match cmd {
        ChainCommand::Deploy(args) => return crate::onchain::deploy_contracts(args, out).await,
        ChainCommand::Status => true,
        ChainCommand::Accounts => false,
    };
    let client = Client::new(&env::api());
    let network = client.get("/v1/network").await?;
    let chain = &network["chain"];
    if chain.is_null() {
        bail!("this node runs no chain (it was started with --no-chain)");
    }
    if status {
        {
            let block = chain["block"].as_u64().unwrap_or_default();
            if out.json {
                out.print_json(&json!({"network": network, "block": block}));
            } else {
                println!("chain id       {} ({})", chain["chain_id"], chain["kind"].as_str().unwrap_or("?"));
                if let Some(path) = chain["rpc"].as_str() {
                    println!("rpc            {}{path}", env::api().trim_end_matches('/'));
                }
                println!("block          {block}");
                for (name, key) in [
                    ("token", "token"),
                    ("node registry", "node_registry"),
                    ("model registry", "model_registry"),
                    ("settlement", "settlement"),
                ] {
                    let address = chain["contracts"][key].as_str().unwrap_or("?");
                    let address =
                        address.parse::<alloy_primitives::Address>().map_or(address.to_owned(), |a| a.to_string());
                    println!("{name:<14} {address}");
                }
            }
        }
    } else {
        {
            if chain["rpc"].is_null() {
                bail!("this node settles on an external chain: it has no development accounts");
            }
            let token = chain["contracts"]["token"].as_str().unwrap_or_default().to_owned();
            let mut rows = Vec::new();
            for account in chain["dev_accounts"].as_array().into_iter().flatten() {
                let account = account.as_str().unwrap_or_default();
                let ether = hex_u256(&rpc(&client, "eth_getBalance", json!([account, "latest"])).await?);
                let data = format!("0x70a08231{:0>64}", account.trim_start_matches("0x"));
                let vrt = hex_u256(&rpc(&client, "eth_call", json!([{"to": token, "data": data}, "latest"])).await?);
                rows.push((account.to_owned(), ether, vrt));
            }
            if out.json {
                let list: Vec<Value> =
                    rows.iter().map(|(a, e, t)| json!({"address": a, "ether": e, "tokens": t})).collect();
                out.print_json(&json!(list));
            } else {
                println!("development accounts of the test mnemonic (their keys are public: development only)");
                for (account, ether, vrt) in rows {
                    let account = account.parse::<alloy_primitives::Address>().map_or(account, |a| a.to_string());
                    println!("{account}  {} ETH  {} VRT", tokens(ether), tokens(vrt));
                }
            }
        }
    }
    Ok(0)
}

/// `veritas setup`.
pub async fn setup(out: &Output) -> anyhow::Result<u8> {
    let path = setup::ensure_onnxruntime(&env::home(), out.json)?;
    if out.json {
        out.print_json(&json!({"onnxruntime": path}));
    } else {
        println!("ONNX Runtime {} at {}", setup::ONNXRUNTIME_VERSION, path.display());
    }
    Ok(0)
}

/// `veritas model …`.
#[derive(Subcommand)]
pub enum ModelCommand {
    /// Push a model file as the next version of NAME.
    Push {
        /// The model file.
        file: PathBuf,
        /// The repository name.
        #[arg(long)]
        name: String,
        /// The file's format; default: `gguf` for a `.gguf` file, else `onnx`.
        #[arg(long, value_parser = ["onnx", "gguf"])]
        format: Option<String>,
    },
    /// List models with their latest versions.
    Ls,
    /// Show a model version: NAME, NAME@VERSION or a model id.
    Show {
        /// The model.
        reference: String,
    },
    /// Download a model file, checked against its digest.
    Pull {
        /// The model.
        reference: String,
        /// Where to write it (default: NAME-vVERSION.onnx).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

fn version_line(model: &Value) -> String {
    let v = &model["veritas"];
    format!(
        "{:<20} {:>7} {:<6} {}",
        v["name"].as_str().unwrap_or("?"),
        v["version"].as_u64().unwrap_or(0),
        v["format"].as_str().unwrap_or("?"),
        v["model_id"].as_str().unwrap_or("?")
    )
}

/// `veritas model …`.
pub async fn model(cmd: ModelCommand, out: &Output) -> anyhow::Result<u8> {
    let client = Client::new(&env::api());
    match cmd {
        ModelCommand::Push { file, name, format } => {
            if !file.is_file() {
                bail!("no such file: {}", file.display());
            }
            let format = format.unwrap_or_else(|| {
                let gguf = file.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
                if gguf { "gguf" } else { "onnx" }.to_owned()
            });
            let path = format!("/v1/models?name={name}&format={format}");
            let answer = client.upload(&path, &file, out.json).await?;
            if out.json {
                out.print_json(&answer);
            } else {
                let verb = if answer["created"].as_bool() == Some(true) { "pushed" } else { "unchanged:" };
                println!("{verb} {} version {}", answer["name"].as_str().unwrap_or(&name), answer["version"]);
                println!("model id {}", answer["model_id"].as_str().unwrap_or("?"));
            }
        }
        ModelCommand::Ls => {
            let list = client.get("/v1/models").await?;
            if out.json {
                out.print_json(&list);
            } else {
                println!("{:<20} {:>7} {:<6} MODEL ID", "NAME", "VERSION", "FORMAT");
                for model in list["data"].as_array().into_iter().flatten() {
                    println!("{}", version_line(model));
                }
            }
        }
        ModelCommand::Show { reference } => {
            let model = client.get(&format!("/v1/models/{reference}")).await?;
            if out.json {
                out.print_json(&model);
            } else {
                print_model(&model);
            }
        }
        ModelCommand::Pull { reference, output } => {
            let model = client.get(&format!("/v1/models/{reference}")).await?;
            let v = &model["veritas"];
            let ext = if v["format"] == "gguf" { "gguf" } else { "onnx" };
            let output = output.unwrap_or_else(|| {
                PathBuf::from(format!("{}-v{}.{ext}", v["name"].as_str().unwrap_or("model"), v["version"]))
            });
            client.download(&format!("/v1/models/{reference}/content"), &output, out.json).await?;
            let expected = v["manifest"]["files"][0]["sha256"].as_str().unwrap_or_default().to_owned();
            let bytes = std::fs::read(&output)?;
            let got = veritas_primitives::hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
            if got != expected {
                std::fs::remove_file(&output)?;
                bail!("downloaded bytes hash to {got}, the manifest says {expected}; file removed");
            }
            if out.json {
                out.print_json(&json!({"file": output, "sha256": got, "model_id": v["model_id"]}));
            } else {
                println!("wrote {} ({} bytes, sha256 {got} matches the manifest)", output.display(), bytes.len());
            }
        }
    }
    Ok(0)
}

fn print_model(model: &Value) {
    let v = &model["veritas"];
    let manifest = &v["manifest"];
    println!("name      {}", v["name"].as_str().unwrap_or("?"));
    println!("version   {}", v["version"]);
    println!("model id  {}", v["model_id"].as_str().unwrap_or("?"));
    println!("format    {}", v["format"].as_str().unwrap_or("?"));
    for file in manifest["files"].as_array().into_iter().flatten() {
        println!(
            "file      {} {} bytes sha256 {}",
            file["path"].as_str().unwrap_or("?"),
            file["size"],
            file["sha256"].as_str().unwrap_or("?")
        );
    }
    for (title, key) in [("inputs", "inputs"), ("outputs", "outputs")] {
        println!("{title}:");
        for spec in manifest["schema"][key].as_array().into_iter().flatten() {
            let dims: Vec<String> = spec["shape"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| d.as_u64().map_or("?".to_owned(), |d| d.to_string()))
                .collect();
            println!(
                "  {:<24} {} [{}]",
                spec["name"].as_str().unwrap_or("?"),
                spec["dtype"].as_str().unwrap_or("?"),
                dims.join(", ")
            );
        }
    }
    if let Some(versions) = v["versions"].as_array() {
        println!("versions:");
        for version in versions {
            println!("  {:>4}  {}", version["version"], version["model_id"].as_str().unwrap_or("?"));
        }
    }
}

/// Options of `veritas infer`.
#[derive(Args)]
pub struct InferArgs {
    /// The model: NAME, NAME@VERSION or a model id.
    model: String,
    /// The inputs as JSON, `@FILE` to read a file, or `-` for standard input.
    #[arg(long)]
    input: String,
    /// The verification mode: signed or reexec (default: the node's).
    #[arg(long)]
    mode: Option<veritas_primitives::Mode>,
    /// Write the receipt to this file.
    #[arg(long)]
    receipt: Option<PathBuf>,
    /// Pay with this API key (`veritas account key create`); the development network's
    /// default payer pays when none is given.
    #[arg(long, env = "VERITAS_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

fn read_input(text: &str) -> anyhow::Result<Value> {
    let raw = if text == "-" {
        std::io::read_to_string(std::io::stdin())?
    } else if let Some(path) = text.strip_prefix('@') {
        std::fs::read_to_string(path).with_context(|| format!("cannot read the input file {path}"))?
    } else {
        text.to_owned()
    };
    serde_json::from_str(&raw).context("--input is not valid JSON")
}

/// `veritas infer`.
pub async fn infer(args: InferArgs, out: &Output) -> anyhow::Result<u8> {
    let input = read_input(&args.input)?;
    let client = Client::new(&env::api()).with_api_key(args.api_key.filter(|k| !k.is_empty()));
    let mut body = json!({"model": args.model, "input": input});
    if let Some(mode) = args.mode {
        body["mode"] = json!(mode);
    }
    let (answer, _) = client.post("/v1/infer", &body).await?;
    if let Some(path) = &args.receipt {
        let receipt = serde_json::to_string_pretty(&answer["receipt"])?;
        std::fs::write(path, receipt + "\n")
            .with_context(|| format!("cannot write the receipt to {}", path.display()))?;
    }
    if out.json {
        out.print_json(&answer);
    } else {
        out.print_json(&answer["output"]);
        let where_ = args.receipt.as_ref().map(|p| format!(" written to {}", p.display())).unwrap_or_default();
        eprintln!("receipt {}{where_}", answer["receipt_id"].as_str().unwrap_or("?"));
    }
    Ok(0)
}

/// Options of `veritas verify`.
#[derive(Args)]
pub struct VerifyArgs {
    /// The receipt file (JSON).
    file: PathBuf,
    /// Also require the receipt to be for this model id.
    #[arg(long)]
    model_id: Option<ModelId>,
    /// Also check, over this Ethereum JSON-RPC endpoint, that the receipt's batch is recorded
    /// on chain (the only check that is not offline).
    #[arg(long)]
    rpc: Option<String>,
}

/// Asks the chain whether the receipt's batch root is recorded and the receipt is in it.
/// Whether the receipt's verdicts add up to a quorum of the validator stake the registry on
/// chain records now.
async fn check_quorum(rpc_url: &str, receipt: &Receipt) -> anyhow::Result<Result<String, String>> {
    use veritas_node::chain::{AnyChain, Chain, RpcChain, contracts::Settlement};
    let chain = AnyChain::Rpc(RpcChain::connect(rpc_url).await?);
    let registry = chain.view(receipt.domain.verifying_contract, Settlement::registryCall {}).await?;
    let snapshot = veritas_node::Registry::read(&chain, registry).await?;
    Ok(match veritas_verifier::verdict_quorum(receipt, &snapshot.validators) {
        Err(err) => Err(err.to_string()),
        Ok(report) => match report.outcome {
            Some(true) => Ok(format!(
                "{} validators holding {} of {} stake said valid (registry at block {})",
                receipt.verdicts.iter().filter(|v| v.valid).count(),
                tokens(report.valid_stake),
                tokens(report.total),
                snapshot.block
            )),
            Some(false) => Err(veritas_verifier::VerifyError::JudgedInvalid {
                stake: tokens(report.invalid_stake),
                total: tokens(report.total),
            }
            .to_string()),
            None => Err(veritas_verifier::VerifyError::NoQuorum {
                valid: tokens(report.valid_stake),
                invalid: tokens(report.invalid_stake),
                total: tokens(report.total),
            }
            .to_string()),
        },
    })
}

async fn check_on_chain(rpc_url: &str, receipt: &Receipt) -> anyhow::Result<Result<String, String>> {
    use alloy_sol_types::SolCall;
    let Some(settlement) = &receipt.settlement else {
        return Ok(Err("the receipt is not settled yet, so there is nothing to find on chain".into()));
    };
    let client = Client::new(rpc_url);
    let call = |method: &str, params: Value| json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let (answer, _) = client.post("", &call("eth_chainId", json!([]))).await?;
    let chain_id = answer["result"].as_str().and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok());
    if chain_id != Some(settlement.chain_id) {
        return Ok(Err(format!(
            "{rpc_url} serves chain {chain_id:?}, the receipt settled on chain {}",
            settlement.chain_id
        )));
    }
    let data = veritas_node::chain::contracts::Settlement::isSettledCall {
        root: settlement.batch_root,
        leaf: veritas_primitives::merkle_leaf(&receipt.id()),
        path: settlement.merkle_path.clone(),
    }
    .abi_encode();
    let params =
        json!([{"to": settlement.contract, "data": format!("0x{}", veritas_primitives::hex::encode(data))}, "latest"]);
    let (answer, _) = client.post("", &call("eth_call", params)).await?;
    if let Some(error) = answer.get("error") {
        bail!("eth_call isSettled failed: {}", error["message"]);
    }
    let settled = answer["result"].as_str().is_some_and(|word| word.ends_with('1'));
    Ok(if settled {
        Ok(format!(
            "batch {} is recorded by {} on chain {}",
            settlement.batch_root, settlement.contract, settlement.chain_id
        ))
    } else {
        Err(format!(
            "batch {} is not recorded by {} on chain {}",
            settlement.batch_root, settlement.contract, settlement.chain_id
        ))
    })
}

/// `veritas verify`: offline; exit 0 valid, 1 invalid.
pub async fn verify(args: VerifyArgs, out: &Output) -> anyhow::Result<u8> {
    let bytes = std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let expect = Expectations { model_id: args.model_id };
    let receipt = serde_json::from_slice::<Receipt>(&bytes);
    let mut result = receipt
        .as_ref()
        .map_err(|err| veritas_verifier::VerifyError::Malformed(err.to_string()))
        .and_then(|receipt| verify_receipt(receipt, &expect))
        .map_err(|err| err.to_string());
    if let (Ok(report), Some(rpc_url), Ok(receipt)) = (&mut result, &args.rpc, &receipt) {
        match check_on_chain(rpc_url, receipt).await? {
            Ok(detail) => report.checks.push(veritas_verifier::Check { name: "chain", detail, performed: true }),
            Err(reason) if receipt.settlement.is_none() => {
                report.checks.push(veritas_verifier::Check { name: "chain", detail: reason, performed: false });
            }
            Err(reason) => result = Err(format!("settlement: {reason}")),
        }
    }
    if let (Ok(report), Some(rpc_url), Ok(receipt)) = (&mut result, &args.rpc, &receipt)
        && !receipt.verdicts.is_empty()
    {
        match check_quorum(rpc_url, receipt).await? {
            Ok(detail) => report.checks.push(veritas_verifier::Check { name: "quorum", detail, performed: true }),
            Err(reason) => result = Err(format!("quorum: {reason}")),
        }
    }
    match result {
        Ok(report) => {
            if out.json {
                let checks: Vec<Value> = report
                    .checks
                    .iter()
                    .map(|c| json!({"check": c.name, "performed": c.performed, "detail": c.detail}))
                    .collect();
                out.print_json(&json!({
                    "valid": true,
                    "receipt_id": report.receipt_id,
                    "worker": report.worker,
                    "model_id": report.model_id,
                    "mode": report.mode,
                    "guarantee": report.guarantee(),
                    "checks": checks,
                }));
            } else {
                println!("VALID receipt {}", report.receipt_id);
                for check in &report.checks {
                    let mark = if check.performed { "ok  " } else { "skip" };
                    println!("  {mark} {:<9} {}", check.name, check.detail);
                }
                println!("mode {}: {}", report.mode, report.guarantee());
            }
            Ok(0)
        }
        Err(err) => {
            if out.json {
                out.print_json(&json!({"valid": false, "reason": err.to_string()}));
            } else {
                println!("INVALID receipt: {err}");
            }
            Ok(exit::INVALID)
        }
    }
}

/// `veritas receipt …`.
#[derive(Subcommand)]
pub enum ReceiptCommand {
    /// Fetch a receipt from the node by id.
    Show {
        /// The receipt id (0x-prefixed hex).
        id: String,
        /// Also write it to this file.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Wait (up to this many seconds) until the receipt is settled on chain.
        #[arg(long, value_name = "SECONDS")]
        wait_settled: Option<u64>,
    },
}

/// `veritas receipt …`.
pub async fn receipt(cmd: ReceiptCommand, out: &Output) -> anyhow::Result<u8> {
    let ReceiptCommand::Show { id, output, wait_settled } = cmd;
    let client = Client::new(&env::api());
    let mut receipt = client.get(&format!("/v1/receipts/{id}")).await?;
    if let Some(seconds) = wait_settled {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        if receipt["settlement"].is_null() && !out.json {
            eprintln!("waiting for the receipt to settle …");
        }
        while receipt["settlement"].is_null() {
            if std::time::Instant::now() >= deadline {
                bail!("receipt {id} was not settled within {seconds} s; it stays queued on the node");
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            receipt = client.get(&format!("/v1/receipts/{id}")).await?;
        }
    }
    let text = serde_json::to_string_pretty(&receipt)?;
    if let Some(path) = output {
        std::fs::write(&path, format!("{text}\n"))?;
    }
    let _ = out;
    println!("{text}");
    Ok(0)
}
