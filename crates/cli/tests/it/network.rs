//! The local network as `veritas up` starts it: a gateway, inference nodes and validators, each
//! its own OS process with its own key and stake, and the byzantine cases: lying workers and a
//! lying validator caught, disputed and slashed on chain; sampling; validators down.

use std::time::{Duration, Instant};

use crate::common::{Network, Start, examples, http_get, llm_network, signer_of};
use serde_json::Value;

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
    // The explorer lists them, newest first, verified and settled, and counts who did what.
    let recent: Value = serde_json::from_str(&http_get(&format!("{}/v1/explorer/claims", net.api))).unwrap();
    let listed: Vec<&str> = recent["claims"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(listed, ids.iter().rev().map(String::as_str).collect::<Vec<_>>(), "{recent}");
    for claim in recent["claims"].as_array().unwrap() {
        assert_eq!(
            (&claim["judged"], &claim["verdicts"]),
            (&Value::from("valid"), &serde_json::json!([3, 0])),
            "{claim}"
        );
        assert!(claim["transaction"].is_string() && claim["latency_us"].as_u64().unwrap() > 0, "{claim}");
    }
    let figures: Value = serde_json::from_str(&http_get(&format!("{}/v1/explorer/figures", net.api))).unwrap();
    assert_eq!((&figures["calls"], &figures["share_verified"]), (&Value::from(4), &Value::from(1.0)), "{figures}");
    assert!(figures["median_latency_ms"].as_f64().unwrap() > 0.0, "{figures}");
    let nodes: Value = serde_json::from_str(&http_get(&format!("{}/v1/explorer/nodes", net.api))).unwrap();
    let nodes = nodes["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 5, "{nodes:?}");
    let served: u64 = nodes.iter().map(|n| n["activity"]["claims"].as_u64().unwrap()).sum();
    assert_eq!(served, 4, "{nodes:?}");
    for node in nodes {
        assert!(node["down"].is_null() && node["uptime_s"].is_u64(), "{node}");
        if node["role"] == "validator" {
            assert_eq!(node["activity"]["verdicts_valid"], 4, "each validator's verdict counted: {node}");
        }
    }

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
    // The explorer shows the same record: the lies judged invalid, the disputes and slashes
    // read from the chain's events, and whom they hit.
    let figures: Value = serde_json::from_str(&http_get(&format!("{}/v1/explorer/figures", net.api))).unwrap();
    assert_eq!(figures["calls"], 9, "{figures}");
    assert_eq!(figures["invalid"], lies, "{figures}");
    assert_eq!(figures["disputes"], lies, "{figures}");
    assert_eq!(figures["slashes"], 2 * lies, "a worker and the validator per lie: {figures}");
    let nodes: Value = serde_json::from_str(&http_get(&format!("{}/v1/explorer/nodes", net.api))).unwrap();
    let slashes_of = |name: &str| {
        let (signer, _) = net.member(name);
        let node =
            nodes["nodes"].as_array().unwrap().iter().find(|n| n["signer"].as_str().unwrap().to_lowercase() == signer);
        node.unwrap()["slashes"][0].as_u64().unwrap()
    };
    assert_eq!(slashes_of("worker-2") + slashes_of("worker-3"), lies, "{nodes}");
    assert_eq!((slashes_of("worker-1"), slashes_of("validator-1"), slashes_of("validator-4")), (0, 0, lies), "{nodes}");
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
fn sigterm_stops_every_process_and_every_acknowledged_receipt_settles_after_a_restart() {
    // A fixed port, so that the restarted network finds its nodes where it registered them: below
    // the system's ephemeral range, so that other tests' sockets do not take its nodes' ports
    // while it restarts.
    let first = std::process::id() % 500;
    let port = (0..500u32)
        .map(|i| 20_000 + ((first + i) % 500) as u16 * 20)
        .find(|base| (0..=13).all(|offset| std::net::TcpListener::bind(("127.0.0.1", base + offset)).is_ok()))
        .expect("a free block of ports");
    let listen = format!("127.0.0.1:{port}");
    let extra = ["--no-default-model", "--workers", "1", "--validators", "1", "--settle-every", "0.2"];
    let mut net = Network::start_listening(tempfile::tempdir().unwrap(), &listen, &extra);
    net.push_iris();
    let settled_before = net.infer(5.0);
    net.wait_idle(Duration::from_secs(60));
    let pids: Vec<String> = net.nodes.iter().map(|(n, _)| net.pid_of(n).unwrap()).collect();
    // Requests in flight when the signal comes: each either gets its receipt, which must then
    // survive and settle, or is refused; none is half-done.
    let clients: Vec<_> = (0..6)
        .map(|i| {
            let (api, home) = (net.api.clone(), net.home.path().to_owned());
            std::thread::spawn(move || {
                let input = format!("{{\"float_input\": [[{}, 3.5, 1.4, 0.2]]}}", 4.0 + f64::from(i) / 10.0);
                let out = crate::common::veritas(&api, &home, &["--json", "infer", "iris", "--input", &input]);
                out.status.success().then(|| {
                    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
                    answer["receipt_id"].as_str().unwrap().to_owned()
                })
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    assert!(
        std::process::Command::new("kill").args(["-TERM", &net.child.id().to_string()]).status().unwrap().success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = net.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "veritas up did not stop within 30 s of SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "veritas up exits 0 on SIGTERM: {status}");
    assert!(pids.iter().all(|pid| !crate::common::runs(pid)), "every node stopped with the gateway");
    let acknowledged: Vec<String> = clients.into_iter().filter_map(|c| c.join().unwrap()).collect();

    // Started again in the same home: every receipt it acknowledged is there and settles once.
    let home = std::mem::replace(&mut net.home, tempfile::tempdir().unwrap());
    drop(net);
    let net = Network::start_listening(home, &listen, &extra);
    net.wait_idle(Duration::from_secs(60));
    for id in acknowledged.iter().chain([&settled_before]) {
        let receipt = net.receipt(id);
        assert!(!receipt["settlement"].is_null(), "acknowledged before the stop, settled after it: {receipt}");
    }
    let rpc = format!("{}/rpc", net.api);
    let path = net.home.path().join("r.json");
    assert!(net.cli(&["receipt", "show", &settled_before, "-o", path.to_str().unwrap()]).status.success());
    assert!(net.cli(&["verify", "--rpc", &rpc, path.to_str().unwrap()]).status.success());
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
        let sampled = veritas_node::protocol::sampled(&id.parse().unwrap(), 0.5);
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
