//! The OpenAPI document: generated from the handlers and the `veritas-wire` types they take and
//! answer, served at `/openapi.json`, and committed as `crates/api/openapi.json` for readers and
//! client generators. A type or route changed without the committed document fails here.

use serde_json::Value;

use crate::harness::{self, Served};

/// The committed document.
fn committed() -> Value {
    let path = harness::root().join("crates/api/openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn the_served_document_is_the_one_generated_from_the_types_and_the_committed_one() {
    let home = tempfile::tempdir().unwrap();
    let served = Served::start(harness::open(&harness::config(home.path())).await, Default::default()).await;
    let document: Value = reqwest::get(format!("{}/openapi.json", served.url)).await.unwrap().json().await.unwrap();
    let generated = serde_json::to_value(veritas_api::openapi()).unwrap();
    assert_eq!(document, generated, "the served document is the generated one");
    assert!(
        document == committed(),
        "crates/api/openapi.json differs from what the types generate: run \
         `cargo test -p veritas-api --test it -- --ignored openapi::regenerate` and commit it"
    );
    // Every schema a path names is in the document.
    let text = document.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &reference[..reference.find('"').unwrap()];
        assert!(document["components"]["schemas"][name].is_object(), "{name} is referenced but not defined");
    }
}

#[test]
#[ignore = "writes crates/api/openapi.json: cargo test -p veritas-api --test it -- --ignored openapi::regenerate"]
fn regenerate() {
    let document = veritas_api::openapi().to_pretty_json().unwrap();
    std::fs::write(harness::root().join("crates/api/openapi.json"), document + "\n").unwrap();
}
