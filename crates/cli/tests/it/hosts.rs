//! The roles on separate hosts: a gateway, two inference nodes and three validators, each in its
//! own network namespace with its own address on a bridge the test creates (and removes), the
//! S3 server (s3s-fs) and an anvil chain on hosts of their own. The nodes settle on anvil over
//! JSON-RPC and keep models in the bucket. Deploy, register, push, infer, chat, settle and
//! verify with `--rpc`; then stop a worker (requests move to the other), stop a validator (the
//! remaining stake still forms a quorum), restart both (they serve and judge again), and cut
//! the chain off for a while (answers go on, receipts queue and settle once it is back). No
//! receipt is lost and none settles twice.
//!
//! Network namespaces need root (CAP_NET_ADMIN) and iproute2's `ip`, which CI's machine has.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{BIN, examples};

const ACCESS: &str = "veritas-hosts";
const SECRET: &str = "veritas-hosts-secret";
const PORT: u16 = 8000;

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("iproute2's `ip` (the test needs root)");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A bridge with one namespace per host, each with an address on it; removed when dropped.
struct Hosts {
    bridge: String,
    /// host name → (namespace, address).
    hosts: BTreeMap<String, (String, String)>,
    /// host name → its running process.
    processes: BTreeMap<String, Child>,
}

impl Hosts {
    fn new(names: &[&str]) -> Hosts {
        let tag = std::process::id() % 100_000;
        // 10.X.Y.0/24, from this process's id, so that concurrent runs do not collide.
        let subnet = format!("10.{}.{}", 100 + tag % 100, (tag / 100) % 250);
        let bridge = format!("vb{tag}");
        let mut hosts = Hosts { bridge: bridge.clone(), hosts: BTreeMap::new(), processes: BTreeMap::new() };
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["addr", "add", &format!("{subnet}.1/24"), "dev", &bridge]);
        ip(&["link", "set", &bridge, "up"]);
        for (i, name) in names.iter().enumerate() {
            let ns = format!("vn{tag}h{i}");
            let (outside, inside) = (format!("vo{tag}h{i}"), format!("vi{tag}h{i}"));
            let address = format!("{subnet}.{}", 10 + i);
            hosts.hosts.insert((*name).to_owned(), (ns.clone(), address.clone()));
            ip(&["netns", "add", &ns]);
            ip(&["link", "add", &outside, "type", "veth", "peer", "name", &inside]);
            ip(&["link", "set", &inside, "netns", &ns]);
            ip(&["link", "set", &outside, "master", &bridge]);
            ip(&["link", "set", &outside, "up"]);
            ip(&["-n", &ns, "addr", "add", &format!("{address}/24"), "dev", &inside]);
            ip(&["-n", &ns, "link", "set", &inside, "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn address(&self, host: &str) -> &str {
        &self.hosts[host].1
    }

    fn url(&self, host: &str) -> String {
        format!("http://{}:{PORT}", self.address(host))
    }

    /// `program` on `host`, its output appended to `log`.
    fn spawn(&mut self, host: &str, program: &Path, args: &[&str], env: &[(&str, &str)], log: &Path) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.hosts[host].0])
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("VERITAS_WORKER_KEY")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.processes.insert(host.to_owned(), child);
    }

    /// Stops `host`'s process (SIGKILL: a machine that goes away).
    fn stop(&mut self, host: &str) {
        if let Some(mut child) = self.processes.remove(host) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Takes `host` off the network (its link to the bridge down) or puts it back.
    fn link(&self, host: &str, up: bool) {
        // The namespace `vn{tag}h{i}` hangs off the bridge by `vo{tag}h{i}`.
        let outside = self.hosts[host].0.replacen("vn", "vo", 1);
        ip(&["link", "set", &outside, if up { "up" } else { "down" }]);
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.processes) {
            let _ = child.kill();
            let _ = child.wait();
        }
        for (ns, _) in self.hosts.values() {
            let _ = Command::new("ip").args(["netns", "delete", ns]).output();
        }
        let _ = Command::new("ip").args(["link", "delete", &self.bridge]).output();
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Polls `url` from this machine until it answers 200; false if it does not within `limit`.
fn wait_http(url: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let rest = url.trim_start_matches("http://");
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let answered = std::net::TcpStream::connect(host).ok().and_then(|mut stream| {
            use std::io::{Read, Write};
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
            let path = if path.is_empty() { "/" } else { path };
            write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").ok()?;
            let mut head = [0u8; 12];
            stream.read_exact(&mut head).ok()?;
            Some(head.starts_with(b"HTTP/1.1 200"))
        });
        if answered == Some(true) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The CLI on this machine, with `home` as its data directory and `api` as its node.
fn cli(home: &Path, api: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("VERITAS_HOME", home)
        .env("VERITAS_API", api)
        .env("VERITAS_LOG", "warn")
        .env_remove("VERITAS_WORKER_KEY")
        .output()
        .unwrap()
}

fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Network {
    hosts: Hosts,
    dir: tempfile::TempDir,
    rpc: String,
    deployment: PathBuf,
    s3: String,
}

impl Network {
    fn home(&self, host: &str) -> PathBuf {
        self.dir.path().join(host)
    }

    /// Starts (or restarts) the node on `host` with `role`.
    fn start_node(&mut self, host: &str, role: &str) {
        let home = self.home(host);
        let listen = format!("{}:{PORT}", self.hosts.address(host));
        let gateway = self.hosts.url("gateway");
        let mut args = vec![
            "node",
            "--dev",
            "--role",
            role,
            "--listen",
            &listen,
            "--chain-rpc",
            &self.rpc,
            "--confirmations",
            "1",
            "--store",
            "s3://veritas/models",
            "--threads",
            "1",
            "--llm-threads",
            "1",
        ];
        let deployment = self.deployment.to_str().unwrap().to_owned();
        args.extend(["--deployment", &deployment]);
        if role != "gateway" {
            args.extend(["--hub-url", &gateway]);
        }
        let home_text = home.to_str().unwrap().to_owned();
        let env = [
            ("VERITAS_HOME", home_text.as_str()),
            ("VERITAS_LOG", "info"),
            ("AWS_ACCESS_KEY_ID", ACCESS),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_ENDPOINT_URL", self.s3.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ];
        let log = home.join("node.log");
        self.hosts.spawn(host, Path::new(BIN), &args, &env, &log);
        if !wait_http(&format!("{}/healthz", self.hosts.url(host)), Duration::from_secs(60)) {
            let log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!("{host} did not answer within 60 s; its log:\n{log}");
        }
    }

    fn gateway(&self, args: &[&str]) -> Output {
        cli(&self.home("gateway"), &self.hosts.url("gateway"), args)
    }

    /// One paid iris inference in `reexec` mode; its receipt id and the worker that signed it.
    fn infer(&self, api_key: &str, x: f64) -> (String, String) {
        let input = format!("{{\"float_input\": [[{x}, 3.5, 1.4, 0.2]]}}");
        let answer = ok(
            self.gateway(&["--json", "infer", "iris", "--input", &input, "--mode", "reexec", "--api-key", api_key]),
            "infer",
        );
        let answer: Value = serde_json::from_str(&answer).unwrap();
        let id = answer["receipt_id"].as_str().unwrap().to_owned();
        let receipt: Value =
            serde_json::from_str(&ok(self.gateway(&["--json", "receipt", "show", &id]), "receipt")).unwrap();
        (id, receipt["claim"]["worker"].as_str().unwrap().to_lowercase())
    }

    /// Waits until receipt `id` settles, writes it to a file and verifies it with `--rpc`.
    fn settled_and_verified(&self, id: &str, limit: u64) -> Value {
        let path = self.dir.path().join(format!("{id}.json"));
        let path_text = path.to_str().unwrap();
        let limit = limit.to_string();
        ok(self.gateway(&["receipt", "show", id, "--wait-settled", &limit, "-o", path_text]), "settled");
        let verified = ok(self.gateway(&["verify", "--rpc", &self.rpc, path_text]), "verify --rpc");
        assert!(verified.contains("ok   chain     batch 0x"), "{verified}");
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
    }
}

fn address_of(home: &Path, key: &str) -> String {
    let key = veritas_node::load_or_create_key(&home.join(key), None).unwrap();
    format!("{:?}", key.address()).to_lowercase()
}

#[test]
fn gateway_workers_and_validators_on_separate_hosts_survive_faults() {
    let names = ["chain", "s3", "gateway", "worker-1", "worker-2", "validator-1", "validator-2", "validator-3"];
    let hosts = Hosts::new(&names);
    let dir = tempfile::tempdir().unwrap();
    let rpc = format!("http://{}:8545", hosts.address("chain"));
    let s3 = format!("http://{}:9000", hosts.address("s3"));
    let mut net = Network { hosts, deployment: dir.path().join("deployment.json"), dir, rpc, s3 };

    // The chain and the object store, each on its own host.
    let anvil = veritas_chain::anvil::anvil_binary();
    let chain_address = net.hosts.address("chain").to_owned();
    let anvil_args = ["--host", &chain_address, "--port", "8545", "--chain-id", "31337", "--mnemonic"];
    let mnemonic = "test test test test test test test test test test test junk";
    let log = net.dir.path().join("anvil.log");
    net.hosts.spawn("chain", &anvil, &[&anvil_args[..], &[mnemonic]].concat(), &[], &log);
    let s3_root = net.dir.path().join("s3");
    std::fs::create_dir_all(s3_root.join("veritas")).unwrap();
    let server = PathBuf::from(std::env::var("VERITAS_TEST_S3_SERVER").expect("VERITAS_TEST_S3_SERVER"));
    let s3_address = net.hosts.address("s3").to_owned();
    let s3_args = ["--host", &s3_address, "--port", "9000", "--access-key", ACCESS, "--secret-key", SECRET];
    let log = net.dir.path().join("s3.log");
    net.hosts.spawn("s3", &server, &[&s3_args[..], &[s3_root.to_str().unwrap()]].concat(), &[], &log);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect((chain_address.as_str(), 8545)).is_err()
        || std::net::TcpStream::connect((s3_address.as_str(), 9000)).is_err()
    {
        assert!(Instant::now() < deadline, "anvil or s3s-fs did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Deploy, then register every node's key with its host's endpoint. Validator 3 stakes half
    // as much as the others: without it, the rest hold 4/5 of the stake, more than 2/3.
    let deployment = net.deployment.to_str().unwrap().to_owned();
    ok(cli(net.dir.path(), &net.rpc, &["chain", "deploy", "--rpc", &net.rpc, "--out", &deployment]), "deploy");
    let roles = [
        ("gateway", "gateway", "1000"),
        ("worker-1", "inference", "1000"),
        ("worker-2", "inference", "1000"),
        ("validator-1", "validator", "2000"),
        ("validator-2", "validator", "2000"),
        ("validator-3", "validator", "1000"),
    ];
    for (host, role, stake) in roles {
        let home = net.home(host);
        std::fs::create_dir_all(&home).unwrap();
        let endpoint = net.hosts.url(host);
        let mut args = vec!["node", "register", "--role", role, "--stake", stake, "--fund", "--endpoint", &endpoint];
        args.extend(["--rpc", &net.rpc, "--deployment", &deployment]);
        if role == "validator" {
            // A validator node judges with its node key.
            args.push("--validator-node");
        }
        ok(cli(&home, &net.rpc, &args), "register");
    }
    for (host, role, _) in roles {
        net.start_node(host, role);
    }
    let workers: BTreeMap<String, &str> =
        ["worker-1", "worker-2"].into_iter().map(|host| (address_of(&net.home(host), "worker.key"), host)).collect();

    // A payer's escrow and API key; a model pushed to the gateway lands in the bucket.
    let on_chain = ["--rpc", net.rpc.as_str(), "--deployment", deployment.as_str()];
    ok(net.gateway(&[&["account", "deposit", "5", "--dev-account", "2"][..], &on_chain].concat()), "deposit");
    let key = ok(net.gateway(&[&["account", "key", "create", "--dev-account", "2"][..], &on_chain].concat()), "key");
    let api_key = key.lines().find(|l| l.trim().starts_with("vk_")).unwrap().trim().to_owned();
    let iris = examples().join("iris-logreg.onnx");
    ok(net.gateway(&["model", "push", iris.to_str().unwrap(), "--name", "iris"]), "push");
    let gguf = std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF");
    ok(net.gateway(&["model", "push", &gguf, "--name", "smollm2"]), "push the language model");

    // Infer and chat; each settles on anvil and verifies there.
    let mut receipts = Vec::new();
    let mut served_by = BTreeMap::<&str, usize>::new();
    for i in 0..4 {
        let (id, worker) = net.infer(&api_key, 5.0 + f64::from(i) / 10.0);
        *served_by.entry(workers[&worker]).or_default() += 1;
        receipts.push(id);
    }
    let chat_receipt = net.dir.path().join("chat.json");
    let chat = net.gateway(&[
        "chat",
        "-m",
        "Say hello.",
        "--model",
        "smollm2",
        "--max-tokens",
        "8",
        "--temperature",
        "0",
        "--api-key",
        &api_key,
        "--receipt",
        chat_receipt.to_str().unwrap(),
        "--mode",
        "signed",
    ]);
    assert!(chat.status.success(), "chat: {}", text(&chat));
    let verified = ok(net.gateway(&["--json", "verify", chat_receipt.to_str().unwrap()]), "verify the chat");
    let verified: Value = serde_json::from_str(&verified).unwrap();
    receipts.push(verified["receipt_id"].as_str().unwrap().to_owned());
    for id in &receipts {
        net.settled_and_verified(id, 120);
    }
    // The workers read the models from the bucket, not from the gateway over HTTP.
    for host in ["worker-1", "worker-2"] {
        let log = std::fs::read_to_string(net.home(host).join("node.log")).unwrap();
        assert!(!log.contains("fetching a model"), "{host} fetched over HTTP: {log}");
    }

    // A worker goes away: requests move to the other.
    net.hosts.stop("worker-1");
    for i in 0..3 {
        let (id, worker) = net.infer(&api_key, 6.0 + f64::from(i) / 10.0);
        assert_eq!(workers[&worker], "worker-2");
        receipts.push(id);
    }
    // A validator goes away: the others hold 4/5 of the stake, and their quorum settles.
    net.hosts.stop("validator-3");
    let (id, _) = net.infer(&api_key, 6.5);
    let settled = net.settled_and_verified(&id, 120);
    assert_eq!(settled["verdicts"].as_array().unwrap().len(), 2, "{settled}");
    receipts.push(id);
    // Both come back: the worker serves again, the validator judges again.
    net.start_node("worker-1", "inference");
    net.start_node("validator-3", "validator");
    let validator_3 = address_of(&net.home("validator-3"), "worker.key");
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut worker_back, mut validator_back) = (false, false);
    let mut x = 7.0;
    while !(worker_back && validator_back) {
        assert!(Instant::now() < deadline, "worker-1 served: {worker_back}, validator-3 judged: {validator_back}");
        let (id, worker) = net.infer(&api_key, x);
        x += 0.01;
        worker_back |= workers[&worker] == "worker-1";
        let settled = net.settled_and_verified(&id, 120);
        validator_back |= settled["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["validator"].as_str().is_some_and(|a| a.to_lowercase() == validator_3));
        receipts.push(id);
    }

    // The chain is cut off: answers go on and their receipts queue; once it is back they settle.
    net.hosts.link("chain", false);
    let mut queued = Vec::new();
    for i in 0..3 {
        let (id, _) = net.infer(&api_key, 8.0 + f64::from(i) / 10.0);
        queued.push(id);
    }
    std::thread::sleep(Duration::from_secs(10));
    for id in &queued {
        let receipt: Value =
            serde_json::from_str(&ok(net.gateway(&["--json", "receipt", "show", id]), "receipt")).unwrap();
        assert!(receipt["settlement"].is_null(), "settled while the chain was away: {receipt}");
    }
    net.hosts.link("chain", true);
    receipts.extend(queued);

    // Nothing lost, nothing twice: every receipt settles, its batch recorded on chain (a claim
    // in a second batch would be refused by the contract, and its receipt would name that one).
    for id in &receipts {
        net.settled_and_verified(id, 180);
    }
    let status: Value = serde_json::from_str(&ok(net.gateway(&["--json", "network", "status"]), "status")).unwrap();
    let counts = &status["nodes"][0]["counts"];
    assert_eq!(counts["pending_settlement"], 0, "{counts}");
    assert!(served_by.contains_key("worker-1") || served_by.contains_key("worker-2"), "{served_by:?}");
}
