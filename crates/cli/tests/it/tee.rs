//! `tee` mode end to end on `veritas up --tee simulated`: every answer carries an attestation
//! bound to its claim and the client's nonce, validators check it, and every output labels the
//! simulated enclave UNTRUSTED / SIMULATED; a verifier whose policy does not allow simulation
//! rejects it, and so does a network whose policy does not.

use std::time::Duration;

use crate::common::{Network, Start, http_get, llm_network};
use serde_json::Value;

const IRIS: &str = r#"{"float_input": [[5.1, 3.5, 1.4, 0.2]]}"#;

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn tee_answers_are_attested_checked_by_validators_settled_and_labelled_simulated() {
    let net = llm_network(&["--tee", "simulated", "--workers", "1"]);
    net.push_iris();
    let published: Value = serde_json::from_str(&http_get(&format!("{}/v1/tee/policy", net.api))).unwrap();
    assert_eq!(published["enclave"], "simulated", "{published}");
    assert!(published["warning"].as_str().unwrap().contains("UNTRUSTED"), "{published}");
    assert_eq!(published["policy"]["simulated"]["allow"], true);

    // The CLI sends a fresh nonce and checks the attestation against the published policy.
    let path = net.home.path().join("tee.json");
    let out = net.cli(&["infer", "iris", "--input", IRIS, "--mode", "tee", "--receipt", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("UNTRUSTED / SIMULATED"), "{}", text(&out));
    let receipt: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(receipt["claim"]["mode"], "tee");
    assert_eq!(receipt["evidence"][0]["kind"], "tee-simulated", "{receipt}");

    // A chat answer in tee mode, through the OpenAI-compatible API.
    let chat_path = net.home.path().join("chat.json");
    let out = net.cli(&[
        "chat",
        "-m",
        "Say yes.",
        "--temperature",
        "0",
        "--max-tokens",
        "8",
        "--mode",
        "tee",
        "--receipt",
        chat_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("UNTRUSTED / SIMULATED"), "{}", text(&out));
    let chat: Value = serde_json::from_slice(&std::fs::read(&chat_path).unwrap()).unwrap();
    assert_eq!(chat["evidence"][0]["kind"], "tee-simulated", "{chat}");

    // Validators check the attestation of every tee claim; the quorum settles them.
    net.wait_idle(Duration::from_secs(120));
    for id in [receipt_id(&receipt), receipt_id(&chat)] {
        let settled = net.receipt(&id);
        let verdicts = settled["verdicts"].as_array().unwrap();
        assert_eq!(verdicts.len(), 3, "{settled}");
        assert!(verdicts.iter().all(|v| v["valid"] == true), "{settled}");
        assert!(!settled["settlement"].is_null(), "{settled}");
    }
    let out = net.cli(&["receipt", "show", &receipt_id(&receipt), "-o", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    // Offline: rejected unless the reader allows simulation, and then labelled.
    let out = net.cli(&["verify", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("INVALID") && text(&out).contains("SIMULATED"), "{}", text(&out));
    let out = net.cli(&["verify", "--allow-simulated", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let shown = text(&out);
    for expected in ["VALID", "UNTRUSTED / SIMULATED", "root of trust", "simulated measurement", "ok   tee"] {
        assert!(shown.contains(expected), "{expected:?} missing from {shown}");
    }

    // A malformed nonce is refused before anything runs, naming it.
    let out = net.cli(&["infer", "iris", "--input", IRIS, "--mode", "tee", "--nonce", "zz"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("nonce"), "{}", text(&out));
}

#[test]
fn a_network_whose_policy_refuses_simulation_refuses_simulated_answers() {
    let home = tempfile::tempdir().unwrap();
    let policy = home.path().join("strict.json");
    std::fs::write(&policy, r#"{"tdx": {"tcb_statuses": ["UpToDate"]}}"#).unwrap();
    let net = Network::start_in(
        home,
        &["--no-default-model", "--tee", "simulated", "--tee-policy", policy.to_str().unwrap(), "--workers", "1"],
    );
    net.push_iris();
    let out = net.cli(&["infer", "iris", "--input", IRIS, "--mode", "tee"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("SIMULATED"), "{}", text(&out));
    // Other modes are unaffected.
    let out = net.cli(&["infer", "iris", "--input", IRIS, "--mode", "signed"]);
    assert!(out.status.success(), "{}", text(&out));
}

fn receipt_id(receipt: &Value) -> String {
    let receipt: veritas_primitives::Receipt = serde_json::from_value(receipt.clone()).unwrap();
    receipt.id().to_string()
}
