//! Third-party Ethereum clients, unmodified, against a node's embedded chain over HTTP: viem
//! (from npm, pinned in the repository's `clients/package.json`; `cargo xtask test` installs it).

use std::{path::PathBuf, process::Command};

use serde_json::Value;
use veritas_node::{Node, NodeConfig};

#[tokio::test]
async fn viem_reads_sends_and_reads_logs() {
    let clients = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients");
    assert!(
        clients.join("node_modules/viem").is_dir(),
        "viem is not installed in {}: `cargo xtask test` installs it (npm)",
        clients.display()
    );
    let home = tempfile::tempdir().unwrap();
    let ort = std::env::var("ORT_DYLIB_PATH").expect("ORT_DYLIB_PATH; `cargo xtask test` sets it");
    let mut config = NodeConfig::new(home.path().to_owned(), ort.into());
    config.chain = veritas_node::ChainConfig::Embedded { block_time: None };
    let node = Node::open(&config).await.unwrap();
    let token = node.core().embedded().unwrap().clone().contracts().token;
    let served = crate::harness::Served::start(node.clone(), Default::default()).await;
    let url = format!("{}/rpc", served.url);

    let output = tokio::task::spawn_blocking(move || {
        Command::new("node").arg(clients.join("viem.mjs")).arg(&url).arg(token.to_string()).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "viem failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["logs"], 1);
    assert_eq!(report["chainId"], 31337);
}
