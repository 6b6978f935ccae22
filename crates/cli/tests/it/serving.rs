//! LLM serving on `veritas up` with the official `openai` Python package, unmodified: a
//! tool-calling loop (plain and streamed), a `json_schema` answer, schema conformance over the
//! schemas of clients/schemas.json, embeddings and sixteen chats at once (decoding together in
//! one batch), each answer with a receipt that verifies and that the validators re-executed and
//! judged valid.

use std::{process::Command, time::Duration};

use serde_json::Value;

use crate::common::llm_network;

#[test]
fn the_openai_client_calls_tools_gets_schema_json_and_embeddings_and_sixteen_chats_all_verify() {
    let net = llm_network(&["--reexec-sampling", "1"]);
    let embedding = veritas_testkit::embedding_gguf();
    let out = net.cli(&["model", "push", embedding.to_str().unwrap(), "--name", "minilm"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let python =
        std::env::var("VERITAS_TEST_PYTHONPATH").expect("VERITAS_TEST_PYTHONPATH; `cargo xtask test` installs openai");
    let script = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/openai_features.py");
    let out = Command::new("python3").arg(script).arg(&net.api).env("PYTHONPATH", python).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();

    // Tools: the call names the function with arguments that fit its schema; the tool's answer
    // goes back as a `tool` message, and the model answers in text.
    let tools = &summary["tools"];
    assert_eq!(tools["finish_reason"], "tool_calls", "{summary}");
    assert_eq!(tools["name"], "get_weather");
    assert!(tools["arguments"]["city"].is_string(), "{tools}");
    assert!(["celsius", "fahrenheit"].contains(&tools["arguments"]["unit"].as_str().unwrap()), "{tools}");
    assert!(tools["call_id"].as_str().unwrap().starts_with("call_"), "{tools}");
    assert!(!tools["final"].as_str().unwrap().trim().is_empty(), "{tools}");
    let streamed = &summary["tools_stream"];
    assert_eq!(streamed["finish_reason"], "tool_calls", "{streamed}");
    assert_eq!(streamed["calls"][0]["name"], "get_weather", "{streamed}");
    assert!(streamed["calls"][0]["arguments"]["city"].is_string(), "{streamed}");

    // Structured output parses and matches the schema.
    let person = &summary["json_schema"]["content"];
    assert!(person["name"].is_string() && person["age"].is_u64() && person["hobbies"].is_array(), "{person}");
    assert!(person["age"].as_u64().unwrap() <= 150 && person["hobbies"].as_array().unwrap().len() <= 3, "{person}");
    assert_eq!(person.as_object().unwrap().len(), 3, "{person}");

    // Schema conformance: every answer that finished parses and matches its schema (checked by
    // the `jsonschema` package), over at least 20 schemas.
    let schemas = summary["schemas"].as_array().unwrap();
    let finished: Vec<&Value> = schemas.iter().filter(|case| case["finish_reason"] == "stop").collect();
    // A 135M model may run a free-text field on until max_tokens (batch composition decides
    // which): those answers are cut (`length`), as OpenAI's are; every finished one conforms.
    assert!(
        finished.len() * 2 >= schemas.len(),
        "{} of {} answered in full: {schemas:?}",
        finished.len(),
        schemas.len()
    );
    for case in &finished {
        assert_eq!(case["valid"], true, "{case}");
    }
    eprintln!(
        "schema conformance: {} of {} answered in full, all valid; {} cut at max_tokens",
        finished.len(),
        schemas.len(),
        schemas.len() - finished.len()
    );

    // Embeddings: two normalised 384-dimensional vectors.
    let embeddings = &summary["embeddings"];
    assert_eq!((embeddings["count"].as_u64(), embeddings["dimensions"].as_u64()), (Some(2), Some(384)), "{embeddings}");
    assert!((embeddings["norm"].as_f64().unwrap() - 1.0).abs() < 1e-3, "{embeddings}");

    // Sixteen chats at once all finished.
    let concurrent = summary["concurrent"].as_array().unwrap();
    assert_eq!(concurrent.len(), 16);
    assert!(concurrent.iter().all(|chat| !chat["content"].as_str().unwrap().is_empty()), "{summary}");

    // Every answer's receipt: re-executed by the three validators and judged valid, settled,
    // and `veritas verify` holds it.
    let mut ids: Vec<String> = vec![
        tools["receipts"][0].clone(),
        tools["receipts"][1].clone(),
        streamed["receipt"].clone(),
        summary["json_schema"]["receipt"].clone(),
        embeddings["receipt"].clone(),
    ]
    .into_iter()
    .chain(concurrent.iter().map(|chat| chat["receipt"].clone()))
    .map(|id| id.as_str().unwrap_or_else(|| panic!("an answer without a receipt: {summary}")).to_owned())
    .collect();
    ids.extend(schemas.iter().map(|case| case["receipt"].as_str().unwrap().to_owned()));
    ids.dedup();
    assert_eq!(ids.len(), 21 + schemas.len());
    net.wait_idle(Duration::from_secs(600));
    for id in &ids {
        let receipt = net.receipt(id);
        let verdicts = receipt["verdicts"].as_array().unwrap();
        assert_eq!(verdicts.len(), 3, "{id}: {receipt}");
        for verdict in verdicts {
            assert_eq!(verdict["valid"], true, "{id}: {verdict}");
            assert_eq!(verdict["check"], "reexec", "{id}: {verdict}");
        }
        assert!(receipt["settlement"].is_object(), "{id} settled: {receipt}");
    }
    for id in [&ids[0], &ids[3], &ids[4]] {
        let path = net.home.path().join(format!("{id}.json"));
        std::fs::write(&path, serde_json::to_vec(&net.receipt(id)).unwrap()).unwrap();
        let out = net.cli(&["verify", path.to_str().unwrap()]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("VALID"), "{text}{}", String::from_utf8_lossy(&out.stderr));
    }
}
