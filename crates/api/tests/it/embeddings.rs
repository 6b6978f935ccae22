//! `POST /v1/embeddings` on the example sentence-embedding model (all-MiniLM-L6-v2, GGUF):
//! vectors that mean something, both encodings, receipts that verify and that re-execution
//! judges within the tolerance, and clear errors.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use veritas_verifier::{Expectations, verify_receipt};

use crate::harness::{self, Served};

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

#[tokio::test]
async fn texts_are_embedded_with_a_receipt_that_re_execution_judges_valid() {
    let home = tempfile::tempdir().unwrap();
    let node = crate::verdicts::node_with(home.path(), |_| {}).await;
    harness::push(&node, "minilm", &harness::embedding_gguf(), veritas_node::ModelFormat::Gguf).await;
    harness::push(&node, "smollm2", &harness::gguf(), veritas_node::ModelFormat::Gguf).await;
    let served = Served::start(node.clone(), Default::default()).await;
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        let request = http.post(format!("{}{path}", served.url)).json(&body);
        async move {
            let response = request.send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap())
        }
    };

    let texts = ["A cat sits on the mat.", "A kitten is resting on a rug.", "Interest rates rose by a quarter point."];
    let (status, body) =
        post("/v1/embeddings", json!({"model": "minilm", "input": texts, "veritas_mode": "reexec"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["object"], "list");
    let vectors: Vec<Vec<f64>> = body["data"].as_array().unwrap().iter().map(|d| floats(&d["embedding"])).collect();
    assert_eq!(vectors.len(), 3);
    for (i, vector) in vectors.iter().enumerate() {
        assert_eq!(body["data"][i]["index"], i);
        assert_eq!(vector.len(), 384);
        assert!((cosine(vector, vector) - 1.0).abs() < 1e-4, "normalised");
    }
    // Meaning: the two sentences about a cat are closer to each other than to the third.
    let (near, far) = (cosine(&vectors[0], &vectors[1]), cosine(&vectors[0], &vectors[2]));
    assert!(near > 0.5 && far < 0.3 && near > far + 0.3, "near {near}, far {far}");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() >= 20, "{}", body["usage"]);

    // The receipt verifies and a re-executing validator finds the same vectors.
    let receipt: veritas_primitives::Receipt = serde_json::from_value(body["veritas"]["receipt"].clone()).unwrap();
    verify_receipt(&receipt, &Expectations::default()).unwrap();
    let judgement =
        node.validator().unwrap().judge(&receipt, Some(veritas_node::wire::CheckMode::Reexec)).await.unwrap();
    assert!(judgement.valid, "{}", judgement.reason);

    // One text alone (packed differently) is the same vector within the tolerance; base64 is
    // the same floats.
    let (status, alone) =
        post("/v1/embeddings", json!({"model": "minilm", "input": texts[1], "encoding_format": "base64"})).await;
    assert_eq!(status, StatusCode::OK, "{alone}");
    let bytes =
        base64::engine::general_purpose::STANDARD.decode(alone["data"][0]["embedding"].as_str().unwrap()).unwrap();
    let decoded: Vec<f64> = bytes.chunks(4).map(|b| f64::from(f32::from_le_bytes(b.try_into().unwrap()))).collect();
    let most = decoded.iter().zip(&vectors[1]).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(most < veritas_node::llm::EMBEDDING_TOLERANCE, "alone vs packed: {most}");

    // Clear errors; nothing refused is logged.
    let logged = node.core().store().receipts().len().unwrap();
    for (body, needle) in [
        (json!({"model": "minilm", "input": [[1, 2, 3]]}), "token ids"),
        (json!({"model": "minilm", "input": []}), "1 to 2048"),
        (json!({"model": "minilm", "input": ["fine", ""]}), "input 1 is empty"),
        (json!({"model": "minilm", "input": "x", "dimensions": 128}), "dimensions 128"),
        (json!({"model": "minilm", "input": "x", "encoding_format": "int8"}), "encoding_format"),
        (json!({"model": "minilm", "input": "x", "frobnicate": 1}), "frobnicate"),
        (json!({"model": "smollm2", "input": "x"}), "not a sentence-embedding model"),
    ] {
        let (status, answer) = post("/v1/embeddings", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(needle), "{body}: {answer}");
    }
    let (status, answer) =
        post("/v1/chat/completions", json!({"model": "minilm", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("/v1/embeddings"), "{answer}");
    assert_eq!(node.core().store().receipts().len().unwrap(), logged);

    // A claim whose vectors were moved past the tolerance (re-signed, hashes consistent) is
    // judged invalid by re-execution.
    let worker = veritas_primitives::WorkerKey::from_bytes(&crate::verdicts::KEY.parse().unwrap()).unwrap();
    let moved = crate::verdicts::lie(&receipt, &worker, |output| {
        if let Some(veritas_primitives::Value::Tensor(tensor)) = output.get_mut("embeddings")
            && let veritas_primitives::TensorData::Float32(values) = &mut tensor.data
        {
            values[5] += 0.01;
        }
    });
    let judgement = node.validator().unwrap().judge(&moved, Some(veritas_node::wire::CheckMode::Reexec)).await.unwrap();
    assert!(!judgement.valid, "{}", judgement.reason);
    assert!(judgement.reason.contains("re-executed"), "{}", judgement.reason);
}
