//! The SDKs' own test suites, run against `veritas up`: the Python SDK's pytest suite
//! (`clients/python/tests`, the package installed by `cargo xtask test` with the test clients)
//! and the TypeScript SDK's (`clients/ts/test`, node's test runner). Each suite gets the network's
//! gateway (`VERITAS_URL`, with the default chat model and `iris`), a gateway that was running
//! and was stopped (`VERITAS_STOPPED_URL`, for failover), and this `veritas` binary
//! (`VERITAS_BIN`, for `veritas proxy`). The network runs the simulated enclave, so that `tee`
//! answers and their UNTRUSTED / SIMULATED label are part of what the suites check.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Stdio},
};

use crate::common::{BIN, Network, llm_network};

/// A gateway that answered and then stopped: a standalone node, started and killed.
fn stopped_gateway() -> String {
    let home = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["node", "--threads", "1", "--listen", "127.0.0.1:0"])
        .env("VERITAS_HOME", home.path())
        .env("VERITAS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let api = line.split_whitespace().nth(2).unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned();
    assert!(crate::common::http_get(&format!("{api}/healthz")).contains("ok"), "the node answered before it stopped");
    child.kill().unwrap();
    child.wait().unwrap();
    api
}

fn network() -> (Network, String) {
    // With the simulated enclave, so that the suites see `tee` answers labelled as such.
    let net = llm_network(&["--tee", "simulated"]);
    net.push_iris();
    let stopped = stopped_gateway();
    (net, stopped)
}

fn clients() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients")
}

fn run_suite(command: &mut Command, net: &Network, stopped: &str) {
    let out = command
        .env("VERITAS_URL", &net.api)
        .env("VERITAS_STOPPED_URL", stopped)
        .env("VERITAS_BIN", BIN)
        .env("VERITAS_HOME", net.home.path())
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the suite failed:\n{stdout}\n{stderr}");
    println!("{stdout}");
}

#[test]
fn the_python_sdks_suite_passes_against_a_network() {
    let python =
        std::env::var("VERITAS_TEST_PYTHONPATH").expect("VERITAS_TEST_PYTHONPATH; `cargo xtask test` installs the SDK");
    let (net, stopped) = network();
    run_suite(
        Command::new("python3")
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
            .arg(clients().join("python/tests"))
            .env("PYTHONPATH", python),
        &net,
        &stopped,
    );
}

#[test]
fn the_typescript_sdks_suite_passes_against_a_network() {
    let sdk = clients().join("ts");
    assert!(
        sdk.join("node_modules").is_dir(),
        "clients/ts/node_modules is missing: `cargo xtask test` runs npm install"
    );
    let (net, stopped) = network();
    run_suite(Command::new("node").arg("--test").current_dir(&sdk), &net, &stopped);
}
