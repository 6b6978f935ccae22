//! `veritas up`: a whole local network on 127.0.0.1, each node its own OS process with its own
//! key and stake: this process is the gateway (the embedded chain, the hub, accounts, the API,
//! verdict collection and settlement); it registers and starts the inference nodes and the
//! validators, which reach the chain over the gateway's JSON-RPC and fetch models from its hub.
//! `veritas network status` lists the registered nodes with their health and counts.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use veritas_node::wire::{self, Counts, Health, Registry};
use veritas_node::{
    NodeRole,
    chain::{
        Chain, Confirmations,
        contracts::NodeRegistry,
        genesis::{Registration, Role, register},
    },
};
use veritas_primitives::{Address, U256};

use crate::{
    client::Client,
    commands::Output,
    env,
    node::{NodeArgs, listen_address, node_config, push_default_llm, shutdown_signal},
    setup,
};

/// Options of `veritas up`.
#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub node: NodeArgs,
    /// Validators to start, each its own process, key and stake (1 to 9).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=9))]
    pub validators: u16,
    /// Inference nodes to start, each its own process, key and stake (1 to 9).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=9))]
    pub workers: u16,
    /// Run everything in this one process instead (a node that is its own worker and validator).
    #[arg(long)]
    pub single: bool,
    /// TEST ONLY: make one node lie, as `worker-2=wrong-output` or `validator-1=approve-all`
    /// (repeatable; development chain only).
    #[arg(long = "node-fault", value_name = "NODE=FAULT", hide = true)]
    pub node_faults: Vec<String>,
}

/// `veritas network …`.
#[derive(Subcommand)]
pub enum NetworkCommand {
    /// The registered nodes: role, stake, endpoint, health and counts.
    Status,
}

/// The stake each node of the local network registers with: 10,000 tokens.
fn local_stake() -> U256 {
    U256::from(10_000u64) * U256::from(10u64).pow(U256::from(18u64))
}

/// One node of the local network.
struct Member {
    name: String,
    role: NodeRole,
    port: u16,
    home: std::path::PathBuf,
    fault: Option<veritas_node::Fault>,
}

/// `veritas up`.
pub async fn up(args: UpArgs, out: &Output) -> anyhow::Result<u8> {
    if args.single {
        return crate::node::up_single(args.node, out).await;
    }
    if args.node.chain_rpc.is_some() || args.node.no_chain {
        bail!("veritas up runs its own development chain; use `veritas node --role …` to join another chain");
    }
    let mut faults = std::collections::BTreeMap::new();
    for spec in &args.node_faults {
        let (name, fault) = spec.split_once('=').context("--node-fault takes NODE=FAULT, as worker-2=wrong-output")?;
        let fault = crate::node::parse_fault(fault).map_err(anyhow::Error::msg)?;
        faults.insert(name.to_owned(), fault);
    }
    let home = env::home();
    let onnxruntime = setup::ensure_onnxruntime(&home, out.json)?;
    let listen = listen_address(&args.node)?;
    let mut config = node_config(&args.node, &home, onnxruntime.clone())?;
    let api = crate::node::api_config(&args.node, &home)?;
    crate::node::check_exposure(&args.node, listen, Some(veritas_node::devnet::DEV_CHAIN_ID))?;
    let operator = api.operators[0];
    config.role = NodeRole::Gateway;
    config.default_mode = args.node.default_mode.unwrap_or(veritas_primitives::Mode::Reexec);
    config.intervals.verdicts = Duration::from_millis(200);
    config.intervals.requests = Duration::from_millis(500);
    let mut handle = veritas_node::launch(&config).await.context("cannot open the gateway")?;
    let node = handle.node().clone();
    if !args.node.no_default_model {
        push_default_llm(&node, &home, out).await?;
    }
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    let url = format!("http://{address}");
    veritas_api::serve(&mut handle, listener, api);

    let core = node.core();
    let chain = core.chain().and_then(|c| c.embedded.clone()).context("the gateway runs no chain")?;
    let contracts = chain.contracts();
    let network_dir = home.join("network");
    std::fs::create_dir_all(&network_dir)?;
    let deployment = network_dir.join("deployment.json");
    let record = crate::onchain::Deployment {
        chain_id: core.domain().chain_id,
        contracts,
        deployer: veritas_node::devnet::dev_accounts()[0],
        block: 0,
    };
    std::fs::write(&deployment, serde_json::to_vec_pretty(&record)?)?;

    // Nodes listen next to the gateway (workers on its port + 1…, validators on + 11…), or on
    // free ports when the gateway's was picked by the system (--listen …:0).
    let port = |offset: u16| -> anyhow::Result<u16> {
        if listen.port() != 0 {
            return address.port().checked_add(offset).context("the gateway's port is too high for its nodes");
        }
        Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
    };
    let mut members = Vec::new();
    for i in 1..=args.workers {
        members.push((format!("worker-{i}"), NodeRole::Inference, port(i)?));
    }
    for i in 1..=args.validators {
        members.push((format!("validator-{i}"), NodeRole::Validator, port(10 + i)?));
    }
    let members: Vec<Member> = members
        .into_iter()
        .map(|(name, role, port)| Member {
            home: network_dir.join(&name),
            fault: faults.remove(&name),
            name,
            role,
            port,
        })
        .collect();
    if let Some(name) = faults.keys().next() {
        bail!("--node-fault names {name}, which is not a node of this network");
    }
    let funder = &veritas_node::devnet::dev_keys()[0];
    let launcher = Launcher {
        exe: std::env::current_exe().context("cannot find the veritas binary")?,
        gateway: url.clone(),
        deployment,
        onnxruntime,
        llm_threads: args.node.llm_threads,
        // The network's processes share this machine's cores: one intra-op thread per ONNX
        // session unless --threads says otherwise (ONNX Runtime's default, a spinning thread per
        // core in every process, starves the others).
        threads: args.node.threads.unwrap_or(1),
        reexec_sampling: args.node.reexec_sampling,
        store: args.node.store.clone(),
        tee: args.node.tee,
        tee_policy: args.node.tee_policy.as_deref().map(std::path::absolute).transpose()?,
    };
    let mut children = Vec::new();
    for member in &members {
        std::fs::create_dir_all(&member.home)?;
        let key = veritas_node::load_or_create_key(&member.home.join("worker.key"), None)?;
        let endpoint = format!("http://127.0.0.1:{}", member.port);
        let registered = chain.view(contracts.registry, NodeRegistry::nodeOfCall { signer: key.address() }).await?;
        if registered.operator == Address::ZERO {
            let role = if member.role == NodeRole::Validator { Role::Validator } else { Role::Inference };
            let registration = Registration { signer: &key, role, endpoint: &endpoint, stake: local_stake() };
            register(&chain, &contracts, registration, Some(funder), Confirmations::default())
                .await
                .with_context(|| format!("cannot register {}", member.name))?;
        } else if registered.endpoint != endpoint {
            bail!(
                "{} is registered at {}, not {endpoint}: start veritas up on the port it first used, or with a fresh VERITAS_HOME",
                member.name,
                registered.endpoint
            );
        }
        children.push(launcher.spawn(member)?);
    }
    for member in &members {
        wait_healthy(member).await?;
    }
    let domain = core.domain();
    if out.json {
        out.print_json(&json!({
            "api": url,
            "chat": format!("{url}/"),
            "rpc": format!("{url}/rpc"),
            "chain_id": domain.chain_id,
            "home": home,
            "nodes": members.iter().map(|m| json!({"name": m.name, "role": m.role.name(), "endpoint": format!("http://127.0.0.1:{}", m.port)})).collect::<Vec<_>>(),
        }));
    } else {
        say!("veritas is up: a local network of {} processes", members.len() + 1);
        say!("  chat     {url}/   (the web chat: every answer verified in your browser)");
        say!("  gateway  {url} (chain {url}/rpc, chain id {})", domain.chain_id);
        for member in &members {
            let lie = member.fault.map(|f| format!("  LIES ON PURPOSE ({})", f.name())).unwrap_or_default();
            say!("  {:<11} http://127.0.0.1:{}{lie}", member.name, member.port);
        }
        say!("  operator {operator} (pushes models; key in {})", home.join(crate::node::OPERATOR_KEY_FILE).display());
        say!("  data     {}", home.display());
        say!("try, in another terminal:");
        say!("  veritas network status");
        say!("  veritas chat                          # or any OpenAI client at {url}/v1");
        say!("  veritas model push examples/models/iris-logreg.onnx --name iris");
        say!("  veritas infer iris --input '{{\"float_input\": [[5.1, 3.5, 1.4, 0.2]]}}' --receipt r.json");
        say!(
            "  veritas receipt show <receipt id> --wait-settled 30 -o r.json && veritas verify --rpc {url}/rpc r.json"
        );
    }
    let stopping = handle.stopping();
    handle.spawn("network", async move {
        supervise(launcher, members, children, stopping).await.map_err(|err| {
            veritas_node::NodeError::Io(std::io::Error::other(format!("the local network's nodes: {err:#}")))
        })
    });
    handle.run_until(shutdown_signal()).await?;
    Ok(0)
}

/// Keeps the network's nodes running until the gateway stops: a node that exits is started
/// again after a pause (its claims and verdicts wait meanwhile). On stop, every node is asked
/// to stop (SIGTERM) and waited for, so that each finishes what it is doing.
async fn supervise(
    launcher: Launcher,
    members: Vec<Member>,
    mut children: Vec<tokio::process::Child>,
    stopping: veritas_node::Stopping,
) -> anyhow::Result<()> {
    let stop = stopping.wait();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        for (member, child) in members.iter().zip(children.iter_mut()) {
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!(
                    "warning: {} exited ({status}); restarting it in 3 s (log: {})",
                    member.name,
                    member.home.join("node.log").display()
                );
                tokio::time::sleep(Duration::from_secs(3)).await;
                *child = launcher.spawn(member)?;
            }
        }
    }
    for child in &children {
        terminate(child);
    }
    for (member, child) in members.iter().zip(children.iter_mut()) {
        match tokio::time::timeout(NODE_STOP, child.wait()).await {
            Ok(status) => tracing::info!(node = member.name, status = ?status.ok(), "node stopped"),
            Err(_) => {
                eprintln!("warning: {} did not stop within {NODE_STOP:?}; killing it", member.name);
                let _ = child.kill().await;
            }
        }
    }
    Ok(())
}

/// How long a node of the local network may take to stop before it is killed.
const NODE_STOP: Duration = Duration::from_secs(20);

/// Asks a child process to stop (SIGTERM), as its operator would.
fn terminate(child: &tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child.id().and_then(|id| i32::try_from(id).ok()) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGTERM);
    }
    #[cfg(not(unix))]
    let _ = child;
}

/// How the local network's nodes are started.
struct Launcher {
    exe: std::path::PathBuf,
    gateway: String,
    deployment: std::path::PathBuf,
    onnxruntime: std::path::PathBuf,
    llm_threads: Option<usize>,
    threads: usize,
    reexec_sampling: f64,
    tee: Option<veritas_node::TeeBackend>,
    tee_policy: Option<std::path::PathBuf>,
    /// The gateway's `--store`, shared by every node: a model pushed to the gateway is read from
    /// it by the nodes that serve it.
    store: Option<String>,
}

impl Launcher {
    /// Starts one node's process, logging to its home's `node.log`.
    fn spawn(&self, member: &Member) -> anyhow::Result<tokio::process::Child> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(member.home.join("node.log"))?;
        let mut command = tokio::process::Command::new(&self.exe);
        command
            .args(["node", "--exit-with-parent", "--role", member.role.name()])
            .args(["--listen", &format!("127.0.0.1:{}", member.port)])
            .args(["--chain-rpc", &format!("{}/rpc", self.gateway), "--hub-url", &self.gateway])
            .arg("--deployment")
            .arg(&self.deployment)
            .env("VERITAS_HOME", &member.home)
            .env("ORT_DYLIB_PATH", &self.onnxruntime)
            .env_remove("VERITAS_WORKER_KEY")
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true);
        command.args(["--threads", &self.threads.to_string()]);
        if let Some(threads) = self.llm_threads {
            command.args(["--llm-threads", &threads.to_string()]);
        }
        if member.role == NodeRole::Validator {
            command.args(["--reexec-sampling", &self.reexec_sampling.to_string()]);
        }
        if let Some(fault) = member.fault {
            command.args(["--test-faults", "--fault", fault.name()]);
        }
        if let Some(tee) = self.tee {
            command.args(["--tee", tee.name()]);
        }
        if let Some(policy) = &self.tee_policy {
            command.arg("--tee-policy").arg(policy);
        }
        if let Some(store) = &self.store {
            command.args(["--store", store]);
        }
        command.spawn().with_context(|| format!("cannot start {}", member.name))
    }
}

/// Waits until a node answers `/healthz` (a minute at most).
async fn wait_healthy(member: &Member) -> anyhow::Result<()> {
    let client = Client::new(&format!("http://127.0.0.1:{}", member.port));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if client.get::<veritas_node::wire::Health>("/healthz").await.is_ok() {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            let log = std::fs::read_to_string(member.home.join("node.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(10).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            bail!("{} did not come up within a minute; the end of its log:\n{}", member.name, tail.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One row of `veritas network status`.
#[derive(serde::Serialize)]
struct StatusRow {
    role: String,
    signer: Address,
    /// Null for the gateway (it stakes nothing).
    stake: Option<U256>,
    endpoint: String,
    health: String,
    counts: Option<Counts>,
}

/// `veritas network status --json`.
#[derive(serde::Serialize)]
struct Status {
    nodes: Vec<StatusRow>,
    validator_stake: U256,
    block: u64,
}

/// `veritas network status`.
pub async fn network(cmd: NetworkCommand, out: &Output) -> anyhow::Result<u8> {
    let NetworkCommand::Status = cmd;
    let api = env::api();
    let client = Client::new(&api);
    let gateway: Health = client.get("/healthz").await?;
    let registry: Registry = client.get("/v1/network/registry").await?;
    let mut rows = vec![StatusRow {
        role: gateway.role,
        signer: gateway.key,
        stake: None,
        endpoint: api,
        health: "ok".into(),
        counts: Some(gateway.counts),
    }];
    let probes = registry.members.iter().map(|member| async move {
        let health = if member.endpoint.is_empty() {
            Err("no endpoint".to_owned())
        } else {
            let probe = Client::new(&member.endpoint);
            match tokio::time::timeout(Duration::from_secs(3), probe.get::<Health>("/healthz")).await {
                Ok(Ok(health)) => Ok(health),
                Ok(Err(err)) => Err(err.to_string()),
                Err(_) => Err("no answer in 3 s".to_owned()),
            }
        };
        (member, health)
    });
    for (member, health) in futures_util::future::join_all(probes).await {
        let (health, counts) = match health {
            Ok(health) => ("ok".to_owned(), Some(health.counts)),
            Err(err) => (format!("down: {err}"), None),
        };
        let role = match member.role {
            wire::Role::Inference => "inference",
            wire::Role::Validator => "validator",
        };
        rows.push(StatusRow {
            role: role.into(),
            signer: member.signer,
            stake: Some(member.stake),
            endpoint: member.endpoint.clone(),
            health,
            counts,
        });
    }
    if out.json {
        out.print_json(&Status { nodes: rows, validator_stake: registry.validators.total, block: registry.block });
        return Ok(0);
    }
    say!("{:<10} {:<42} {:>10} {:<24} {:<8} counts", "role", "signer", "stake", "endpoint", "health");
    for row in &rows {
        let stake = row.stake.map_or_else(|| "-".to_owned(), crate::commands::tokens);
        say!(
            "{:<10} {:<42} {:>10} {:<24} {:<8} {}",
            row.role,
            row.signer.to_string(),
            stake,
            row.endpoint,
            row.health,
            row.counts.as_ref().map(summary).unwrap_or_default(),
        );
    }
    Ok(0)
}

/// The non-zero counts, for one line.
fn summary(counts: &Counts) -> String {
    let Ok(Value::Object(counts)) = serde_json::to_value(counts) else { return String::new() };
    counts
        .iter()
        .filter(|(_, v)| v.as_u64().is_some_and(|n| n > 0))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}
