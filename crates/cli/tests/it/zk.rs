//! `zk` mode end to end on `veritas up`: the example MLP and CNN and the benchmark's residual
//! CNN are quantized and pushed with `--zk-calibration`, every `zk` answer carries a proof that
//! the CLI, the gateway and the validators verify, the proof is in the hub, and a tampered proof
//! or output is rejected offline.

use std::time::Duration;

use crate::common::{Network, Start, examples};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn example(name: &str, suffix: &str) -> std::path::PathBuf {
    examples().join(format!("{name}.{suffix}.json"))
}

#[test]
fn zk_answers_carry_proofs_verified_everywhere_and_tampering_is_caught() {
    let net = Network::start(&["--workers", "1"]);
    let dir = net.home.path();
    let mut receipts = Vec::new();
    // The benchmark's residual CNN (batch normalisation folded, two skip connections), with its
    // one sample as calibration and input, shaped [1, 1, 28, 28].
    let bench = examples().join("../../bench/zk/models");
    let sample: Value = serde_json::from_slice(&std::fs::read(bench.join("resnet-small.input.json")).unwrap()).unwrap();
    let rows: Vec<Value> = sample["input_data"][0].as_array().unwrap().chunks(28).map(|r| json!(r)).collect();
    let image = json!({"input": [[rows]]});
    std::fs::write(dir.join("resnet-small.calibration.json"), json!([image]).to_string()).unwrap();
    std::fs::write(dir.join("resnet-small.input.json"), image.to_string()).unwrap();
    let models = [
        (
            "mlp-zk",
            examples().join("mnist-mlp.onnx"),
            example("mnist-mlp", "calibration"),
            example("mnist-mlp", "input"),
        ),
        (
            "cnn-zk",
            examples().join("mnist-cnn.onnx"),
            example("mnist-cnn", "calibration"),
            example("mnist-cnn", "input"),
        ),
        (
            "resnet-zk",
            bench.join("resnet-small.onnx"),
            dir.join("resnet-small.calibration.json"),
            dir.join("resnet-small.input.json"),
        ),
    ];
    for (name, onnx, calibration, input) in models {
        // The example files as they are: the calibration samples, and the ONNX model's own input
        // (the quantized network keeps its input's name).
        let args = ["model", "push", onnx.to_str().unwrap(), "--name", name, "--zk-calibration"];
        let out = net.cli(&[&args[..], &[calibration.to_str().unwrap()]].concat());
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("top-1 agrees with the float model on"), "{}", text(&out));
        let shown = net.json(&["model", "show", name]);
        let manifest = &shown["veritas"]["manifest"];
        assert_eq!(manifest["format"], "quantized", "{shown}");
        assert!(manifest["zk"]["security_bits"].as_u64().unwrap() >= 100, "{shown}");
        let out = net.cli(&["model", "show", name]);
        let commitment = manifest["zk"]["commitment"].as_str().unwrap();
        assert!(text(&out).contains(&format!("zk        model commitment {commitment}")), "{}", text(&out));

        let path = dir.join(format!("{name}.receipt.json"));
        let input = format!("@{}", input.display());
        let out = net.cli(&["infer", name, "--input", &input, "--mode", "zk", "--receipt", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("zk: proof verified here"), "{}", text(&out));
        let receipt: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(receipt["claim"]["mode"], "zk");
        assert_eq!(receipt["evidence"][0]["kind"], "zk-model", "{}", receipt["evidence"]);
        // The proof is in the hub under the digest the evidence carries.
        let digest = receipt["evidence"][0]["data"].as_str().unwrap().trim_start_matches("0x").to_owned();
        let proof = http_get_bytes(&format!("{}/v1/proofs/{digest}", net.api));
        assert_eq!(hex(&Sha256::digest(&proof)), digest);
        receipts.push((path, receipt));
    }

    // The same models in other modes: the same integer executor, without a proof.
    let input = format!("@{}", example("mnist-mlp", "input").display());
    let out = net.cli(&["infer", "mlp-zk", "--input", &input, "--mode", "reexec"]);
    assert!(out.status.success(), "{}", text(&out));

    // Validators verify every zk claim's proof; the quorum settles them.
    net.wait_idle(Duration::from_secs(120));
    for (path, receipt) in &receipts {
        let id = receipt_id(receipt);
        let settled = net.receipt(&id);
        let verdicts = settled["verdicts"].as_array().unwrap();
        assert_eq!(verdicts.len(), 3, "{settled}");
        assert!(verdicts.iter().all(|v| v["valid"] == true), "{settled}");
        assert!(!settled["settlement"].is_null(), "{settled}");
        std::fs::write(path, settled.to_string()).unwrap();
        let out = net.cli(&["verify", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("ok   zk") && text(&out).contains("the proof holds"), "{}", text(&out));
        // What was proven, and what the proof reveals, in plain words.
        assert!(text(&out).contains("zk reveals: not zero-knowledge"), "{}", text(&out));
    }

    // Offline, tampering is caught: a proof byte changed (and the evidence made to match it).
    let (path, receipt) = &receipts[0];
    let mut forged = receipt.clone();
    let proof_hex = forged["body"]["zk_proof"].as_str().unwrap().trim_start_matches("0x").to_owned();
    let mut proof = decode_hex(&proof_hex);
    let last = proof.len() - 40;
    proof[last] ^= 1;
    forged["body"]["zk_proof"] = json!(format!("0x{}", hex(&proof)));
    forged["evidence"][0]["data"] = json!(format!("0x{}", hex(&Sha256::digest(&proof))));
    std::fs::write(path, forged.to_string()).unwrap();
    let out = net.cli(&["verify", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("zk proof"), "{}", text(&out));
    // The proof left out.
    let mut bare = receipt.clone();
    bare["body"].as_object_mut().unwrap().remove("zk_proof");
    std::fs::write(path, bare.to_string()).unwrap();
    let out = net.cli(&["verify", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the proof is not in the receipt"), "{}", text(&out));

    // zk mode on a float ONNX model is refused with what to do.
    net.push_iris();
    let out = net.cli(&["infer", "iris", "--input", r#"{"float_input": [[5.1, 3.5, 1.4, 0.2]]}"#, "--mode", "zk"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("--zk-calibration"), "{}", text(&out));
}

fn receipt_id(receipt: &Value) -> String {
    let receipt: veritas_primitives::Receipt = serde_json::from_value(receipt.clone()).unwrap();
    receipt.id().to_string()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode_hex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// A GET over plain HTTP/1.1 on loopback, the body as bytes (the server sends a length).
fn http_get_bytes(url: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    response[split + 4..].to_vec()
}
