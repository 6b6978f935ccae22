//! `veritas node` and `veritas up --single`: a node's options, its configuration from them, and
//! running it until Ctrl-C or SIGTERM.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::json;
use veritas_node::{ChainConfig, Node, NodeConfig, StoreLocation};

use crate::{commands::Output, env, setup};

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
    pub(crate) store: Option<String>,
    /// Intra-op threads per model session (default: ONNX Runtime's choice).
    #[arg(long)]
    pub(crate) threads: Option<usize>,
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
    /// Settle a batch of verified receipts every this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 2.0, value_parser = parse_interval)]
    pub(crate) settle_every: f64,
    /// llama.cpp threads of each language model's decode loop (default: all cores).
    #[arg(long)]
    pub(crate) llm_threads: Option<usize>,
    /// Chats answered at once, decoding together in one batch (default 16); further requests wait.
    #[arg(long)]
    max_generations: Option<usize>,
    /// KV cache cells (prompt and answer tokens) the chats of one model share; a chat waits
    /// until its prompt and max_tokens fit.
    #[arg(long, value_name = "TOKENS", default_value_t = 16_384)]
    llm_context: usize,
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
    /// Run in an enclave and offer `tee` mode: `nitro` (inside an AWS Nitro Enclave, through its
    /// NSM device) or `simulated` (development only: UNTRUSTED, no hardware attests it).
    #[arg(long, value_parser = parse_tee)]
    pub(crate) tee: Option<veritas_node::TeeBackend>,
    /// The TEE policy (JSON: allowlisted measurements, accepted TCB statuses and platform flags,
    /// whether simulated evidence passes) that `tee` claims are checked by and that the node
    /// publishes at /v1/tee/policy. Default: none accepted; with `--tee simulated`, the
    /// simulated enclave running this very program.
    #[arg(long, value_name = "FILE")]
    pub(crate) tee_policy: Option<PathBuf>,
    /// TEST ONLY, development chain only, with --test-faults: make this node lie (wrong-output,
    /// other-model, truncate, made-up; validators: approve-all, bad-verdicts).
    #[arg(long, value_parser = parse_fault, hide = true, requires = "test_faults")]
    pub(crate) fault: Option<veritas_node::Fault>,
    /// TEST ONLY: allow --fault (on the development chain).
    #[arg(long, hide = true)]
    pub(crate) test_faults: bool,
    /// Serve the development chain (whose keys are public) on an address other machines reach:
    /// for a test network, never for value. Without it such a node listens on loopback only;
    /// with it, requests that name no payer are refused rather than paid by a development account.
    #[arg(long)]
    pub(crate) dev: bool,
    /// Requests that may wait for an inference or generation place; past it, 503 with Retry-After.
    #[arg(long, default_value_t = 256)]
    max_queue: usize,
    /// Claims awaiting verdicts past which a gateway refuses new requests (503, Retry-After).
    #[arg(long, default_value_t = 10_000)]
    max_backlog: u64,
    /// ONNX models kept loaded; the least recently used is dropped past it.
    #[arg(long, default_value_t = 32)]
    max_sessions: usize,
    /// Language models kept loaded; the least recently used is dropped past it.
    #[arg(long, default_value_t = 2)]
    max_language_models: usize,
    /// Seconds a client has to send a request's headers.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_interval)]
    header_timeout: f64,
    /// Seconds from a request's headers to its answer's (a streamed answer then streams on).
    #[arg(long, value_name = "SECONDS", default_value_t = 300.0, value_parser = parse_interval)]
    request_timeout: f64,
    /// Connections open at once; further ones are closed as they come.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Requests per second from one IP address (bursts of twice that); 0: no limit. Calls signed
    /// by a gateway are not counted.
    #[arg(long, value_name = "PER_SECOND", default_value_t = 100)]
    rate_limit_ip: u32,
    /// Requests per second of one paying account (bursts of twice that, at least 10); 0: no limit.
    #[arg(long, value_name = "PER_SECOND", default_value_t = 20)]
    rate_limit_account: u32,
    /// A publisher whose signed model pushes this node takes (repeatable). The key in the data
    /// directory's operator.key (made on first start) always is one.
    #[arg(long = "operator", value_name = "ADDRESS")]
    pub(crate) operators: Vec<veritas_primitives::Address>,
    /// Exit when the process that started this one is gone (`veritas up` passes it to its
    /// nodes, so that a gateway killed outright leaves no node behind).
    #[arg(long, hide = true)]
    pub(crate) exit_with_parent: bool,
}

fn parse_interval(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(seconds) if seconds.is_finite() && (0.1..=86_400.0).contains(&seconds) => Ok(seconds),
        _ => Err(format!("{text:?} is not a number of seconds from 0.1 to 86400")),
    }
}

fn parse_role(text: &str) -> Result<veritas_node::NodeRole, String> {
    use veritas_node::NodeRole as R;
    [R::Standalone, R::Gateway, R::Inference, R::Validator]
        .into_iter()
        .find(|role| role.name() == text)
        .ok_or_else(|| format!("unknown role {text:?}: standalone, gateway, inference or validator"))
}

fn parse_tee(text: &str) -> Result<veritas_node::TeeBackend, String> {
    use veritas_node::TeeBackend as T;
    [T::Nitro, T::Simulated]
        .into_iter()
        .find(|tee| tee.name() == text)
        .ok_or_else(|| format!("unknown enclave {text:?}: nitro or simulated"))
}

/// The TEE policy a node checks `tee` claims by: the file given, else (with `--tee simulated`)
/// the simulated enclave running this program, else none accepted.
fn tee_policy(args: &NodeArgs) -> anyhow::Result<veritas_node::TeePolicy> {
    use veritas_node::TeePolicy;
    if let Some(path) = &args.tee_policy {
        let bytes = std::fs::read(path).with_context(|| format!("cannot read the TEE policy {}", path.display()))?;
        return TeePolicy::from_json(&bytes).with_context(|| format!("the TEE policy {}", path.display()));
    }
    if args.tee != Some(veritas_node::TeeBackend::Simulated) {
        return Ok(TeePolicy::default());
    }
    let mut policy = TeePolicy::simulated_only();
    policy.simulated.measurements = vec![veritas_primitives::hex::encode(veritas_node::simulated_measurement()?)];
    Ok(policy)
}

pub(crate) fn parse_fault(text: &str) -> Result<veritas_node::Fault, String> {
    veritas_node::Fault::ALL.iter().find(|(_, name)| *name == text).map(|(fault, _)| *fault).ok_or_else(|| {
        let names: Vec<&str> = veritas_node::Fault::ALL.iter().map(|(_, n)| *n).collect();
        format!("unknown fault {text:?}: {}", names.join(", "))
    })
}

/// Refuses to serve a development chain (chain id 31337: the embedded one, or an anvil, whose
/// keys are public) beyond loopback unless `--dev` says so.
pub(crate) fn check_exposure(args: &NodeArgs, listen: SocketAddr, chain_id: Option<u64>) -> anyhow::Result<()> {
    if listen.ip().is_loopback() || args.dev || chain_id != Some(veritas_node::devnet::DEV_CHAIN_ID) {
        return Ok(());
    }
    bail!(
        "refusing to serve the development chain (chain id {}, whose keys are public) on {listen}, which other \
         machines can reach: listen on 127.0.0.1, settle on a real chain (--chain-rpc), or pass --dev for a test \
         network that holds nothing of value",
        veritas_node::devnet::DEV_CHAIN_ID
    )
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
    config.llm_context = args.llm_context.max(1);
    config.max_queue = args.max_queue;
    config.max_backlog = args.max_backlog.max(1);
    config.max_sessions = args.max_sessions.max(1);
    config.max_language_models = args.max_language_models.max(1);
    config.key_hex = std::env::var("VERITAS_WORKER_KEY").ok().filter(|v| !v.is_empty());
    config.hub.max_model_bytes = args.max_model_bytes;
    config.chain = match (&args.chain_rpc, args.no_chain) {
        (_, true) => ChainConfig::None,
        (Some(url), false) => {
            let path = args.deployment.as_deref().context("--chain-rpc needs --deployment")?;
            let deployment = crate::onchain::Deployment::read(path)?;
            ChainConfig::Rpc {
                url: url.clone(),
                contracts: deployment.contracts,
                confirmations: args.confirmations,
                from_block: deployment.block,
            }
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
    config.intervals.settle = std::time::Duration::from_secs_f64(args.settle_every);
    config.hub_url = args.hub_url.clone();
    config.reexec_sampling = args.reexec_sampling;
    config.default_mode = args.default_mode.unwrap_or(veritas_primitives::Mode::Signed);
    config.fault = args.fault;
    // Anonymous requests are paid by a development account only where nobody else can send them.
    config.dev_payer = listen_address(args).is_ok_and(|listen| listen.ip().is_loopback());
    config.tee = args.tee;
    config.tee_policy = tee_policy(args)?;
    if args.tee == Some(veritas_node::TeeBackend::Simulated) {
        eprintln!("\n{}\n", veritas_node::SIMULATED_WARNING);
    }
    Ok(config)
}

/// The file of the operator key a node takes pushes from, in its data directory.
pub(crate) const OPERATOR_KEY_FILE: &str = "operator.key";

/// The API's configuration: its operators are `--operator`'s and the data directory's
/// operator key (made if absent, readable by its owner only).
pub(crate) fn api_config(args: &NodeArgs, home: &std::path::Path) -> anyhow::Result<veritas_api::ApiConfig> {
    let path = home.join(OPERATOR_KEY_FILE);
    let key = veritas_node::load_or_create_key(&path, None)
        .with_context(|| format!("cannot read or make the operator key {}", path.display()))?;
    let mut operators = vec![key.address()];
    operators.extend(args.operators.iter().copied().filter(|address| *address != key.address()));
    let rate = |per_second: u32, least_burst: u32| {
        (per_second > 0).then(|| veritas_api::Rate { per_second, burst: per_second.saturating_mul(2).max(least_burst) })
    };
    let limits = veritas_api::Limits {
        header_timeout: std::time::Duration::from_secs_f64(args.header_timeout),
        request_timeout: std::time::Duration::from_secs_f64(args.request_timeout),
        max_connections: args.max_connections.max(1),
        per_ip: rate(args.rate_limit_ip, 1),
        per_account: rate(args.rate_limit_account, 10),
        ..Default::default()
    };
    Ok(veritas_api::ApiConfig { operators, limits, ..Default::default() })
}

/// Pushes the default language model unless the node has it.
pub(crate) async fn push_default_llm(node: &Node, home: &std::path::Path, out: &Output) -> anyhow::Result<()> {
    let core = node.core();
    if core.model(setup::DEFAULT_LLM).await.is_ok() {
        return Ok(());
    }
    let gguf = setup::ensure_default_llm(home, out.json)?;
    let staged = core.stager().stage_file(&gguf).await.map_err(veritas_node::NodeError::from)?;
    let request =
        veritas_node::PushRequest { name: setup::DEFAULT_LLM.into(), staged, format: veritas_node::ModelFormat::Gguf };
    let pushed = core.push_model(request).await.context("cannot push the default language model")?;
    if !out.json {
        say!("pushed the default language model as {} ({})", setup::DEFAULT_LLM, pushed.version.id);
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
    let api = api_config(&args, &home)?;
    if matches!(config.chain, ChainConfig::Embedded { .. }) {
        check_exposure(&args, listen, Some(veritas_node::devnet::DEV_CHAIN_ID))?;
    }
    // Verdicts are collected as claims come, and pending receipts settle every few seconds.
    let mut handle = veritas_node::launch(&config).await.context("cannot open the node")?;
    let node = handle.node().clone();
    check_exposure(&args, listen, node.core().chain().map(|_| node.core().domain().chain_id))?;
    if banner && !args.no_default_model {
        push_default_llm(&node, &home, out).await?;
    }
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let operator = api.operators[0];
    veritas_api::serve(&mut handle, listener, api);
    let core = node.core();
    let domain = core.domain();
    let rpc = core.chain().and_then(|c| c.embedded.as_ref()).map(|_| format!("{url}/rpc"));
    if out.json {
        out.print_json(
            &json!({"api": url, "worker": core.key(), "home": home, "rpc": rpc, "chain_id": domain.chain_id}),
        );
    } else if banner {
        say!("veritas is up");
        say!("  api      {url}");
        say!("  chat     {url}/");
        if let Some(rpc) = &rpc {
            say!("  chain    {rpc} (chain id {}, settlement {})", domain.chain_id, domain.verifying_contract);
        }
        say!("  worker   {}", core.key());
        say!("  operator {operator} (pushes models; key in {})", home.join(OPERATOR_KEY_FILE).display());
        say!("  data     {}", home.display());
        say!("try, in another terminal:");
        say!("  veritas model push examples/models/iris-logreg.onnx --name iris");
        say!("  veritas infer iris --input '{{\"float_input\": [[5.1, 3.5, 1.4, 0.2]]}}' --receipt r.json");
        say!("  veritas verify r.json");
        say!("  veritas chat                          # or any OpenAI client at {url}/v1");
        if rpc.is_some() {
            say!(
                "  veritas receipt show <receipt id> --wait-settled 30 -o r.json && veritas verify --rpc {url}/rpc r.json"
            );
        }
    } else {
        say!("serving on {url} as {} {}", core.role().name(), core.key());
    }
    let exit_with_parent = args.exit_with_parent;
    let stop = async move {
        tokio::select! {
            () = shutdown_signal() => {}
            () = parent_gone(), if exit_with_parent => {}
        }
    };
    handle.run_until(stop).await?;
    Ok(0)
}

/// Resolves once the process that started this one has exited (this one was re-parented).
async fn parent_gone() {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        loop {
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            if std::os::unix::process::parent_id() != parent {
                tracing::warn!(parent, "the process that started this node is gone; stopping");
                return;
            }
        }
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}

/// `veritas up --single`: everything in this one process.
pub async fn up_single(args: NodeArgs, out: &Output) -> anyhow::Result<u8> {
    run_node(args, out, true).await
}

/// `veritas node`.
pub async fn node(args: NodeArgs, out: &Output) -> anyhow::Result<u8> {
    run_node(args, out, false).await
}
