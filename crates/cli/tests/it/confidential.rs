//! Confidential requests end to end on `veritas up --tee simulated`: a chat and an ONNX
//! inference sealed to the enclave's attested key; afterwards nothing outside the enclave holds
//! the prompt, the inputs or the answers (every file of every node's data directory, every log
//! at debug level, the API's answers); the receipts are judged by the attestation, settled,
//! verified offline, and say that they are confidential. The client refuses, before sending
//! anything, an enclave outside its policy and a key the evidence does not bind.

use std::{path::Path, time::Duration};

use serde_json::Value;

use crate::common::{BIN, Network, Start, Veritas, http_get};

/// Inputs no file of the network holds by chance: their text and their f32 bytes are searched.
const IRIS: [f32; 4] = [6.173_829, 2.941_357, 1.586_273, 0.431_962];
/// A word no file holds by chance, in the prompt, which the model is asked to repeat.
const MARKER: &str = "zebra-quartz-7139";

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every file under `dir`, with its path.
fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.push((path.display().to_string(), bytes));
        }
    }
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn receipt_id(receipt: &Value) -> String {
    let receipt: veritas_primitives::Receipt = serde_json::from_value(receipt.clone()).unwrap();
    receipt.id().to_string()
}

#[test]
fn confidential_chat_and_inference_leave_no_plaintext_outside_the_enclave() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("models")).unwrap();
    std::fs::copy(veritas_testkit::gguf(), home.path().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let net = Veritas(BIN).network_logging(home, "127.0.0.1:0", "debug", &["--tee", "simulated", "--workers", "1"]);
    net.push_iris();

    // An ONNX inference: the inputs sealed, the outputs opened here and checked.
    let iris_path = net.home.path().join("iris-receipt.json");
    let input = serde_json::json!({ "float_input": [IRIS] }).to_string();
    let out = net.cli(&[
        "--json",
        "infer",
        "iris",
        "--input",
        &input,
        "--confidential",
        "--receipt",
        iris_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("UNTRUSTED / SIMULATED"), "{}", text(&out));
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    let probabilities: Vec<f32> = answer["output"]["output_probability"]["data"][0]
        .as_object()
        .unwrap_or_else(|| panic!("no probabilities in {answer}"))
        .values()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(probabilities.len(), 3, "{answer}");

    // A chat: the conversation sealed, the answer streamed sealed and opened here.
    let chat_path = net.home.path().join("chat-receipt.json");
    let prompt = format!("Repeat this word exactly: {MARKER}");
    let out = net.cli(&[
        "chat",
        "-m",
        &prompt,
        "--temperature",
        "0",
        "--max-tokens",
        "24",
        "--confidential",
        "--receipt",
        chat_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("UNTRUSTED / SIMULATED"), "{}", text(&out));
    // What the client opened and showed.
    let said = String::from_utf8(out.stdout.clone()).unwrap().trim().to_owned();
    assert!(!said.is_empty(), "{}", text(&out));

    // Judged by the attestation (nobody can re-execute what nobody sees), and settled.
    net.wait_idle(Duration::from_secs(120));
    let mut ids = Vec::new();
    for path in [&iris_path, &chat_path] {
        let receipt: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(receipt["claim"]["mode"], "tee", "{receipt}");
        assert!(receipt["body"].get("input").is_none() && receipt["body"].get("output").is_none(), "{receipt}");
        let id = receipt_id(&receipt);
        let settled = net.receipt(&id);
        let verdicts = settled["verdicts"].as_array().unwrap();
        assert_eq!(verdicts.len(), 3, "{settled}");
        assert!(verdicts.iter().all(|v| v["valid"] == true && v["check"] == "tee"), "{settled}");
        assert!(!settled["settlement"].is_null(), "{settled}");
        std::fs::write(path, serde_json::to_vec_pretty(&settled).unwrap()).unwrap();
        let out = net.cli(&["verify", "--allow-simulated", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        for expected in ["VALID", "UNTRUSTED / SIMULATED", "confidential"] {
            assert!(text(&out).contains(expected), "{expected:?} missing from {}", text(&out));
        }
        ids.push(id);
    }
    // The chat was charged for the tokens the enclave attests.
    let chat_receipt: Value = serde_json::from_slice(&std::fs::read(&chat_path).unwrap()).unwrap();
    assert!(chat_receipt["body"]["params"]["completion_tokens"].as_u64().unwrap() > 0, "{chat_receipt}");

    // The control: the same kind of requests, not confidential, are found where the search looks.
    const PLAIN: [f32; 4] = [7.251_938, 1.836_471, 2.467_193, 0.719_354];
    let plain_input = serde_json::json!({ "float_input": [PLAIN] }).to_string();
    assert!(net.cli(&["infer", "iris", "--input", &plain_input, "--mode", "tee"]).status.success());
    let plain_marker = "walrus-cobalt-2288";
    let plain_prompt = format!("Repeat this word exactly: {plain_marker}");
    let out = net.cli(&["chat", "-m", &plain_prompt, "--temperature", "0", "--max-tokens", "4", "--mode", "tee"]);
    assert!(out.status.success(), "{}", text(&out));
    net.wait_idle(Duration::from_secs(120));

    // What must be nowhere outside the enclave and this client's screen.
    let mut needles: Vec<(String, Vec<u8>)> = vec![(MARKER.into(), MARKER.as_bytes().to_vec())];
    let floats = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
    needles.push(("the inputs' f32 bytes".into(), floats(&IRIS)));
    needles.push(("the outputs' f32 bytes".into(), floats(&probabilities)));
    for value in IRIS.iter().chain(&probabilities) {
        let shown = value.to_string();
        if shown.len() >= 8 {
            needles.push((shown.clone(), shown.into_bytes()));
        }
    }
    if said.trim().len() >= 12 {
        needles.push(("the chat's answer".into(), said.trim().as_bytes().to_vec()));
    }

    let mut haystacks = Vec::new();
    files(net.home.path(), &mut haystacks);
    haystacks.retain(|(path, _)| !path.ends_with(".gguf"));
    for id in &ids {
        haystacks
            .push((format!("GET /v1/receipts/{id}"), http_get(&format!("{}/v1/receipts/{id}", net.api)).into_bytes()));
    }
    for path in ["/v1/explorer/claims", "/v1/explorer/nodes", "/v1/explorer/figures", "/metrics"] {
        haystacks.push((format!("GET {path}"), http_get(&format!("{}{path}", net.api)).into_bytes()));
    }
    for (_, endpoint) in &net.nodes {
        haystacks.push((format!("GET {endpoint}/metrics"), http_get(&format!("{endpoint}/metrics")).into_bytes()));
    }
    let logs = haystacks.iter().filter(|(path, _)| path.ends_with(".log")).count();
    assert_eq!(logs, 5, "the logs of the gateway, the worker and the three validators are searched");
    let plain_float = PLAIN[0].to_string();
    for (name, control) in [("the plain marker", plain_marker.as_bytes()), ("the plain input", plain_float.as_bytes())]
    {
        assert!(haystacks.iter().any(|(_, haystack)| holds(haystack, control)), "the search does not find {name}");
    }
    for (name, needle) in &needles {
        for (place, haystack) in &haystacks {
            assert!(!holds(haystack, needle), "{name} found in {place}");
        }
    }
}

#[test]
fn a_client_refuses_an_enclave_outside_its_policy_and_a_key_the_evidence_does_not_bind() {
    let net = Network::start(&["--tee", "simulated", "--workers", "1", "--node-fault", "worker-1=other-key"]);
    net.push_iris();
    let input = serde_json::json!({ "float_input": [IRIS] }).to_string();
    let logged = net.counts()["claims_logged"].as_u64().unwrap();

    // A policy that holds another measurement: refused before anything is sealed or sent.
    let policy = net.home.path().join("policy.json");
    std::fs::write(&policy, format!(r#"{{"simulated": {{"allow": true, "measurements": ["{}"]}}}}"#, "ab".repeat(48)))
        .unwrap();
    let out =
        net.cli(&["infer", "iris", "--input", &input, "--confidential", "--tee-policy", policy.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("simulated measurement"), "{}", text(&out));

    // The network's own policy holds the measurement, but the worker offers a key its evidence
    // does not bind.
    let out = net.cli(&["infer", "iris", "--input", &input, "--confidential"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("the attested key is not the key offered"), "{}", text(&out));
    assert_eq!(net.counts()["claims_logged"].as_u64().unwrap(), logged, "nothing ran");
}
