//! The local network as `veritas up` starts it: a gateway, inference nodes and validators, each
//! its own OS process with its own key and stake, and the byzantine cases: lying workers and a
//! lying validator caught, disputed and slashed on chain; sampling; validators down.

use std::{
    io::Read,
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_veritas");

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/models")
}

struct Network {
    child: Child,
    api: String,
    home: tempfile::TempDir,
    /// Node name → endpoint.
    nodes: Vec<(String, String)>,
}

impl Network {
    fn start(extra: &[&str]) -> Network {
        let home = tempfile::tempdir().unwrap();
        Network::start_in(home, &[&["--no-default-model"][..], extra].concat())
    }

    fn start_in(home: tempfile::TempDir, extra: &[&str]) -> Network {
        let mut child = Command::new(BIN)
            .args(["--json", "up", "--listen", "127.0.0.1:0", "--llm-threads", "1"])
            .args(extra)
            .env("VERITAS_HOME", home.path())
            .env("VERITAS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The banner is one JSON object, printed once every node answers.
        let mut stdout = child.stdout.take().unwrap();
        let mut text = String::new();
        let mut byte = [0u8; 1];
        let banner: Value = loop {
            assert_eq!(stdout.read(&mut byte).unwrap(), 1, "veritas up exited before its banner: {text}");
            text.push(byte[0] as char);
            if byte[0] == b'}'
                && let Ok(value) = serde_json::from_str(&text)
            {
                break value;
            }
        };
        let api = banner["api"].as_str().unwrap().to_owned();
        let nodes = banner["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["name"].as_str().unwrap().to_owned(), n["endpoint"].as_str().unwrap().to_owned()))
            .collect();
        Network { child, api, home, nodes }
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("VERITAS_API", &self.api)
            .env("VERITAS_HOME", self.home.path())
            .env("VERITAS_LOG", "warn")
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.cli(&[&["--json"][..], args].concat());
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{args:?}: {err}"))
    }

    fn push_iris(&self) {
        let model = examples().join("iris-logreg.onnx");
        self.json(&["model", "push", model.to_str().unwrap(), "--name", "iris"]);
    }

    /// One iris inference; its receipt id.
    fn infer(&self, x: f64) -> String {
        let input = format!("{{\"float_input\": [[{x}, 3.5, 1.4, 0.2]]}}");
        let answer = self.json(&["infer", "iris", "--input", &input]);
        answer["receipt_id"].as_str().unwrap().to_owned()
    }

    fn receipt(&self, id: &str) -> Value {
        self.json(&["receipt", "show", id])
    }

    fn status(&self) -> Value {
        self.json(&["network", "status"])
    }

    /// The gateway's counts.
    fn counts(&self) -> Value {
        self.status()["nodes"][0]["counts"].clone()
    }

    /// Waits until the gateway has judged and settled everything it logged.
    fn wait_idle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let counts = self.counts();
            if counts["awaiting_verdicts"] == 0 && counts["pending_settlement"] == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "still busy after {limit:?}: {counts}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A registered node's signer and stake, by its name's position in registration order.
    fn member(&self, name: &str) -> (String, f64) {
        let index = self.nodes.iter().position(|(n, _)| n == name).unwrap();
        // Row 0 is the gateway; the registry lists the nodes in the order `up` registered them.
        let row = &self.status()["nodes"][index + 1];
        let stake = row["stake"].as_str().unwrap();
        let stake = u128::from_str_radix(stake.trim_start_matches("0x"), 16).unwrap() as f64 / 1e18;
        (row["signer"].as_str().unwrap().to_lowercase(), stake)
    }

    /// The process id of one node (found by the port it listens on), if it runs.
    fn pid_of(&self, name: &str) -> Option<String> {
        let endpoint = &self.nodes.iter().find(|(n, _)| n == name).unwrap().1;
        let listen = endpoint.trim_start_matches("http://");
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            if args.contains(&listen.as_bytes()) && args.contains(&b"node".as_slice()) {
                return Some(entry.file_name().to_string_lossy().into_owned());
            }
        }
        None
    }

    /// Kills one node's process as a crash would.
    fn crash(&self, name: &str) {
        let pid = self.pid_of(name).unwrap_or_else(|| panic!("{name} does not run"));
        assert!(Command::new("kill").args(["-9", &pid]).status().unwrap().success());
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        // SIGTERM: `veritas up` stops its nodes before it exits.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over plain HTTP/1.1 on loopback, the body as text.
fn http_get(url: &str) -> String {
    use std::io::Write;
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or(response)
}

fn signer_of(receipt: &Value) -> String {
    receipt["claim"]["worker"].as_str().unwrap().to_lowercase()
}

#[test]
fn a_local_network_settles_inferences_that_a_quorum_of_independent_validators_checked() {
    let net = Network::start(&[]);
    let status = net.status();
    let nodes = status["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 6, "a gateway, 2 workers, 3 validators: {status}");
    assert!(nodes.iter().all(|n| n["health"] == "ok"), "{status}");
    let roles: Vec<&str> = nodes.iter().map(|n| n["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["gateway", "inference", "inference", "validator", "validator", "validator"]);

    net.push_iris();
    let ids: Vec<String> = (0..4).map(|i| net.infer(5.0 + f64::from(i) / 10.0)).collect();
    net.wait_idle(Duration::from_secs(60));
    let mut workers = std::collections::BTreeSet::new();
    for id in &ids {
        let receipt = net.receipt(id);
        workers.insert(signer_of(&receipt));
        assert_eq!(receipt["claim"]["mode"], "reexec", "veritas up re-executes by default");
        let verdicts = receipt["verdicts"].as_array().unwrap();
        let validators: std::collections::BTreeSet<&str> =
            verdicts.iter().map(|v| v["validator"].as_str().unwrap()).collect();
        assert_eq!(validators.len(), 3, "three independent verdicts: {receipt}");
        assert!(verdicts.iter().all(|v| v["valid"] == true));
        assert!(!receipt["settlement"].is_null());
    }
    assert_eq!(workers.len(), 2, "both inference nodes served");

    // Anyone checks the receipt, its quorum against the registry on chain, and its batch.
    let path = net.home.path().join("r.json");
    let out = net.cli(&["receipt", "show", &ids[0], "-o", path.to_str().unwrap()]);
    assert!(out.status.success());
    let rpc = format!("{}/rpc", net.api);
    let out = net.cli(&["verify", "--rpc", &rpc, path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("quorum") && text.contains("3 validators"), "{text}");
    assert!(text.contains("registry on chain"), "{text}");
    // Offline, against the registry snapshot the receipt carries.
    let out = net.cli(&["verify", path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 validators") && text.contains("snapshot of registry"), "{text}");

    // With one verdict removed, two of three validators are no quorum, offline and on chain.
    let mut receipt: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let verdicts = receipt["verdicts"].as_array_mut().unwrap();
    verdicts.truncate(2);
    std::fs::write(&path, receipt.to_string()).unwrap();
    for args in [vec!["verify", "--rpc", &rpc], vec!["verify"]] {
        let out = net.cli(&[args, vec![path.to_str().unwrap()]].concat());
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "two of three validators are no quorum: {text}");
        assert!(text.contains("no quorum"), "{text}");
    }

    let counts = net.counts();
    assert_eq!(counts["quorums_valid"], 4, "{counts}");
    assert_eq!(counts["disputes_opened"], 0, "{counts}");
}

#[test]
fn lying_workers_and_a_lying_validator_are_caught_disputed_and_slashed() {
    let net = Network::start(&[
        "--workers",
        "3",
        "--validators",
        "4",
        "--node-fault",
        "worker-2=wrong-output",
        "--node-fault",
        "worker-3=made-up",
        "--node-fault",
        "validator-4=approve-all",
    ]);
    let (honest, _) = net.member("worker-1");
    let (liar_a, stake_a) = net.member("worker-2");
    let (liar_b, _) = net.member("worker-3");
    let (lying_validator, validator_stake) = net.member("validator-4");
    net.push_iris();
    let ids: Vec<String> = (0..9).map(|i| net.infer(4.5 + f64::from(i) / 10.0)).collect();
    net.wait_idle(Duration::from_secs(90));
    let (mut lies, mut settled) = (0, 0);
    for id in &ids {
        let receipt = net.receipt(id);
        let worker = signer_of(&receipt);
        let verdicts = receipt["verdicts"].as_array().unwrap();
        if worker == honest {
            assert!(!receipt["settlement"].is_null(), "honest work settles: {receipt}");
            settled += 1;
        } else {
            assert!(worker == liar_a || worker == liar_b);
            lies += 1;
            assert!(receipt["settlement"].is_null(), "a lie never settles as valid: {receipt}");
            let invalid = verdicts.iter().filter(|v| v["valid"] == false).count();
            assert_eq!(invalid, 3, "the three honest validators said invalid: {receipt}");
            let approving: Vec<&str> =
                verdicts.iter().filter(|v| v["valid"] == true).map(|v| v["validator"].as_str().unwrap()).collect();
            assert_eq!(approving.len(), 1);
            assert_eq!(approving[0].to_lowercase(), lying_validator);
        }
    }
    assert_eq!((settled, lies), (3, 6), "round robin over three workers; honest nodes kept serving");
    let counts = net.counts();
    assert_eq!(counts["quorums_invalid"], lies, "{counts}");
    assert_eq!(counts["disputes_opened"], lies, "{counts}");
    assert_eq!(counts["workers_slashed"], lies, "{counts}");
    assert_eq!(counts["validators_slashed"], lies, "{counts}");
    // On chain: both lying workers and the lying validator lost stake; the honest kept theirs.
    let (_, after_a) = net.member("worker-2");
    let (_, after_b) = net.member("worker-3");
    let (_, after_honest) = net.member("worker-1");
    let (_, after_validator) = net.member("validator-4");
    let (_, honest_validator) = net.member("validator-1");
    assert!(after_a < stake_a && after_b < stake_a, "{after_a} {after_b} of {stake_a}");
    assert!(after_validator < validator_stake, "{after_validator} of {validator_stake}");
    assert_eq!((after_honest, honest_validator), (stake_a, validator_stake));
}

#[test]
fn nodes_stop_when_veritas_up_is_killed_outright() {
    let mut net = Network::start(&["--workers", "1", "--validators", "1"]);
    let names: Vec<String> = net.nodes.iter().map(|(n, _)| n.clone()).collect();
    assert!(names.iter().all(|n| net.pid_of(n).is_some()));
    net.child.kill().unwrap();
    net.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while names.iter().any(|n| net.pid_of(n).is_some()) {
        assert!(Instant::now() < deadline, "nodes outlived a SIGKILLed veritas up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn verdicts_that_do_not_hold_are_refused_and_another_models_answer_is_caught() {
    let net = Network::start(&[
        "--workers",
        "2",
        "--validators",
        "4",
        "--node-fault",
        "worker-2=other-model",
        "--node-fault",
        "validator-4=bad-verdicts",
    ]);
    let (honest, _) = net.member("worker-1");
    let (liar, stake) = net.member("worker-2");
    let (bad_validator, validator_stake) = net.member("validator-4");
    net.push_iris();
    // The lying worker answers with this model's outputs while naming iris.
    let svm = examples().join("iris-svm.onnx");
    net.json(&["model", "push", svm.to_str().unwrap(), "--name", "iris-svm"]);
    let ids: Vec<String> = (0..12).map(|i| net.infer(4.5 + f64::from(i) / 10.0)).collect();
    net.wait_idle(Duration::from_secs(90));
    let mut lies = 0;
    for id in &ids {
        let receipt = net.receipt(id);
        let verdicts = receipt["verdicts"].as_array().unwrap();
        // Replayed, forged, misnamed and garbled verdicts are all refused: only the three
        // honest validators' verdicts count, and the receipt carries nothing else.
        assert_eq!(verdicts.len(), 3, "{receipt}");
        assert!(verdicts.iter().all(|v| v["validator"].as_str().unwrap().to_lowercase() != bad_validator));
        if signer_of(&receipt) == honest {
            assert!(verdicts.iter().all(|v| v["valid"] == true), "{receipt}");
            assert!(!receipt["settlement"].is_null(), "{receipt}");
        } else {
            assert_eq!(signer_of(&receipt), liar);
            assert!(verdicts.iter().all(|v| v["valid"] == false), "another model's outputs: {receipt}");
            assert!(receipt["settlement"].is_null(), "{receipt}");
            lies += 1;
        }
    }
    assert_eq!(lies, 6, "round robin over two workers");
    let counts = net.counts();
    assert_eq!(counts["quorums_invalid"], lies, "{counts}");
    assert_eq!(counts["workers_slashed"], lies, "{counts}");
    assert_eq!(counts["validators_slashed"], 0, "a refused verdict is no evidence against anyone: {counts}");
    assert!(counts["verdicts_refused"].as_u64().unwrap() >= 12, "each claim's bad verdict: {counts}");
    let text = http_get(&format!("{}/metrics", net.api));
    for reason in ["names another validator", "signature does not hold for this claim"] {
        assert!(text.contains(&format!("reason=\"{reason}\"")), "{reason}: {text}");
    }
    let (_, after) = net.member("worker-2");
    let (_, after_validator) = net.member("validator-4");
    assert!(after < stake, "the lying worker is slashed: {after} of {stake}");
    assert_eq!(after_validator, validator_stake);
}

#[test]
fn re_execution_sampling_catches_exactly_the_sampled_lies() {
    let net = Network::start(&[
        "--workers",
        "1",
        "--validators",
        "3",
        "--reexec-sampling",
        "0.5",
        "--node-fault",
        "worker-1=wrong-output",
    ]);
    net.push_iris();
    let ids: Vec<String> = (0..40).map(|i| net.infer(4.0 + f64::from(i) / 20.0)).collect();
    net.wait_idle(Duration::from_secs(120));
    let mut caught = 0;
    for id in &ids {
        let receipt = net.receipt(id);
        let rejected = receipt["settlement"].is_null();
        let sampled = veritas_node::sampled(&id.parse().unwrap(), 0.5);
        assert_eq!(rejected, sampled, "a lie is caught exactly when its claim is sampled: {id}");
        caught += usize::from(rejected);
    }
    // Binomial(40, 0.5): mean 20, standard deviation 3.2; four of them either way.
    assert!((7..=33).contains(&caught), "{caught} of 40 caught at sampling 0.5");
}

#[test]
fn the_quorum_forms_with_one_of_four_validators_down_and_claims_wait_below_it() {
    let net = Network::start(&["--validators", "4", "--workers", "1"]);
    net.push_iris();
    net.crash("validator-4");
    let id = net.infer(5.1);
    let out = net.cli(&["receipt", "show", &id, "--wait-settled", "60"]);
    assert!(out.status.success(), "three of four validators are a quorum");
    let receipt: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(receipt["verdicts"].as_array().unwrap().len(), 3);

    // Two of four down: no quorum; the claim waits (not settled, nothing lost) until `veritas up`
    // restarts them.
    std::thread::sleep(Duration::from_secs(5));
    net.crash("validator-2");
    net.crash("validator-3");
    let waiting = net.infer(5.2);
    std::thread::sleep(Duration::from_millis(1500));
    let receipt = net.receipt(&waiting);
    assert!(receipt["settlement"].is_null(), "{receipt}");
    assert!(net.counts()["awaiting_verdicts"].as_u64().unwrap() >= 1);
    let out = net.cli(&["receipt", "show", &waiting, "--wait-settled", "90"]);
    assert!(out.status.success(), "settles once the validators are back: {}", String::from_utf8_lossy(&out.stderr));
}

fn gguf() -> String {
    std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF; `cargo xtask test` fetches the model")
}

/// A network whose gateway pushed the default language model (from the test copy, no download).
fn llm_network(extra: &[&str]) -> Network {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("models")).unwrap();
    std::fs::copy(gguf(), home.path().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    Network::start_in(home, extra)
}

#[test]
fn a_chat_answer_through_the_network_is_rescored_by_the_validators_and_settled() {
    let net = llm_network(&["--node-fault", "worker-2=truncate"]);
    let (honest, _) = net.member("worker-1");
    let mut outcomes = Vec::new();
    for i in 0..2 {
        let path = net.home.path().join(format!("chat-{i}.json"));
        let out = net.cli(&[
            "chat",
            "-m",
            "Name three colours.",
            "--temperature",
            "0",
            "--max-tokens",
            "24",
            "--receipt",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let receipt: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        outcomes.push(id_of(&receipt));
    }
    net.wait_idle(Duration::from_secs(120));
    let mut seen = 0;
    for id in &outcomes {
        let receipt = net.receipt(id);
        let verdicts = receipt["verdicts"].as_array().unwrap();
        assert_eq!(verdicts.len(), 3, "{receipt}");
        if signer_of(&receipt) == honest {
            assert!(verdicts.iter().all(|v| v["valid"] == true), "{receipt}");
            assert!(!receipt["settlement"].is_null());
        } else {
            // Cut short and claimed finished: the validators' end-of-sequence check catches it.
            assert!(verdicts.iter().all(|v| v["valid"] == false), "{receipt}");
            assert!(receipt["settlement"].is_null());
        }
        seen += 1;
    }
    assert_eq!(seen, 2);
    assert_eq!(net.counts()["quorums_invalid"], 1);
}

/// A receipt's id, recomputed by the verifier.
fn id_of(receipt: &Value) -> String {
    let receipt: veritas_primitives::Receipt = serde_json::from_value(receipt.clone()).unwrap();
    receipt.id().to_string()
}

#[test]
fn a_request_made_on_chain_is_served_judged_and_delivered_by_the_network() {
    let net = Network::start(&[]);
    net.push_iris();
    let input = r#"{"float_input": [[5.1, 3.5, 1.4, 0.2]]}"#;
    let path = net.home.path().join("request.json");
    let answer = net.json(&["request", "iris", "--input", input, "--receipt", path.to_str().unwrap()]);
    let receipt: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(answer["receipt_id"], id_of(&receipt));
    let request: u64 = answer["request"].as_str().unwrap().parse().unwrap();
    assert_eq!(receipt["claim"]["request_id"], format!("0x{request:064x}"), "the claim answers the on-chain request");
    assert_eq!(receipt["claim"]["mode"], "reexec");
    let verdicts = receipt["verdicts"].as_array().unwrap();
    assert_eq!(verdicts.len(), 3, "{receipt}");
    assert!(verdicts.iter().all(|v| v["valid"] == true));
    assert_eq!(receipt["settlement"]["merkle_path"], serde_json::json!([]), "delivered alone: {receipt}");
    // The same answer as a paid request through the API.
    let paid = net.json(&["infer", "iris", "--input", input]);
    assert_eq!(paid["output"], answer["output"]);

    // Anyone checks it: the quorum against the registry and the delivery on chain.
    let rpc = format!("{}/rpc", net.api);
    let out = net.cli(&["verify", "--rpc", &rpc, path.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 validators") && text.contains("is recorded by"), "{text}");
    let status = http_get(&format!("{}/v1/requests/{request}", net.api));
    assert!(status.contains("\"served\""), "{status}");
    let metrics = http_get(&format!("{}/metrics", net.api));
    assert!(metrics.contains(r#"veritas_contract_requests_total{event="fulfilled"} 1"#), "{metrics}");
}
