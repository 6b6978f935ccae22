//! The `veritas` binary as a user runs it: a node in its own process, the commands of the quick
//! start against it, and their exit codes.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
};

use crate::common::{BIN, examples};

/// A key fixed for the test, so the worker address is known.
const KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";
const WORKER: &str = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23";

struct NodeProcess {
    child: Child,
    api: String,
    home: tempfile::TempDir,
}

impl NodeProcess {
    fn start() -> NodeProcess {
        NodeProcess::start_in(tempfile::tempdir().unwrap())
    }

    fn start_in(home: tempfile::TempDir) -> NodeProcess {
        NodeProcess::start_with(home, &[])
    }

    fn start_with(home: tempfile::TempDir, extra: &[&str]) -> NodeProcess {
        let listen: &[&str] = if extra.contains(&"--listen") { &[] } else { &["--listen", "127.0.0.1:0"] };
        let mut child = Command::new(BIN)
            .args(["node", "--threads", "1"])
            .args(listen)
            .args(extra)
            .env("VERITAS_HOME", home.path())
            .env("VERITAS_WORKER_KEY", KEY)
            .env("VERITAS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        // The node prints its address once it is listening.
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let api = line.split_whitespace().nth(2).unwrap_or_else(|| panic!("unexpected first line {line:?}")).to_owned();
        assert!(line.contains(WORKER), "{line}");
        NodeProcess { child, api, home }
    }

    fn run(&self, args: &[&str]) -> Output {
        crate::common::veritas(&self.api, self.home.path(), args)
    }
}

impl NodeProcess {
    /// Kills the node with SIGKILL and hands back its data directory.
    fn kill(mut self) -> tempfile::TempDir {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        std::mem::replace(&mut self.home, tempfile::tempdir().unwrap())
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn the_quick_start_works_end_to_end() {
    let node = NodeProcess::start();
    let model = examples().join("iris-logreg.onnx");

    let push = node.run(&["model", "push", path_str(&model), "--name", "iris"]);
    assert_eq!(code(&push), 0, "{}", stderr(&push));
    let text = stdout(&push);
    assert!(text.starts_with("pushed iris version 1\nmodel id bagaaiera"), "{text}");

    let again = node.run(&["model", "push", path_str(&model), "--name", "iris"]);
    assert!(stdout(&again).starts_with("unchanged: iris version 1"), "{}", stdout(&again));

    let ls = node.run(&["model", "ls"]);
    assert!(
        stdout(&ls).lines().nth(1).unwrap().starts_with("iris                       1 onnx   bagaaiera"),
        "{}",
        stdout(&ls)
    );

    let show = node.run(&["model", "show", "iris"]);
    assert!(stdout(&show).contains("  float_input              float32 [?, 4]"), "{}", stdout(&show));

    let receipt = node.home.path().join("r.json");
    let infer = node.run(&[
        "infer",
        "iris",
        "--input",
        r#"{"float_input": [[5.1, 3.5, 1.4, 0.2]]}"#,
        "--receipt",
        path_str(&receipt),
    ]);
    assert_eq!(code(&infer), 0, "{}", stderr(&infer));
    let output: serde_json::Value = serde_json::from_str(&stdout(&infer)).unwrap();
    assert_eq!(output["output_label"]["data"][0], 0, "setosa");
    assert!(stderr(&infer).contains("written to"), "{}", stderr(&infer));

    let verify = node.run(&["verify", path_str(&receipt)]);
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
    let text = stdout(&verify);
    assert!(text.starts_with("VALID receipt 0x"), "{text}");
    assert!(text.contains(&format!("signed by worker {WORKER}")), "{text}");

    // One changed output value: the receipt no longer holds (exit 1), and says why.
    let original = std::fs::read_to_string(&receipt).unwrap();
    let outputs_at = original.find("\"output\": {").unwrap();
    let label_at = outputs_at + original[outputs_at..].find("\"output_label\"").unwrap();
    let mut tampered = original.clone();
    let zero_at = label_at + original[label_at..].find("\"data\": [\n").unwrap() + "\"data\": [\n".len();
    let digit_at = zero_at + original[zero_at..].find('0').unwrap();
    tampered.replace_range(digit_at..digit_at + 1, "2");
    std::fs::write(&receipt, tampered).unwrap();
    let verify = node.run(&["verify", path_str(&receipt)]);
    assert_eq!(code(&verify), 1, "{}", stdout(&verify));
    assert!(stdout(&verify).starts_with("INVALID receipt: output hash mismatch"), "{}", stdout(&verify));

    let json = node.run(&["--json", "verify", path_str(&receipt)]);
    let report: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap();
    assert_eq!(report["valid"], false);

    let pulled = node.home.path().join("pulled.onnx");
    let pull = node.run(&["model", "pull", "iris", "-o", path_str(&pulled)]);
    assert_eq!(code(&pull), 0, "{}", stderr(&pull));
    assert_eq!(std::fs::read(&pulled).unwrap(), std::fs::read(&model).unwrap());
}

#[test]
fn input_from_a_file_and_receipt_show() {
    let node = NodeProcess::start();
    let model = examples().join("mnist-cnn.onnx");
    assert_eq!(code(&node.run(&["model", "push", path_str(&model), "--name", "cnn"])), 0);
    let input = format!("@{}", path_str(&examples().join("mnist-cnn.input.json")));
    let infer = node.run(&["--json", "infer", "cnn", "--input", &input]);
    assert_eq!(code(&infer), 0, "{}", stderr(&infer));
    let answer: serde_json::Value = serde_json::from_str(&stdout(&infer)).unwrap();
    let id = answer["receipt_id"].as_str().unwrap();
    let show = node.run(&["receipt", "show", id]);
    let mut shown: serde_json::Value = serde_json::from_str(&stdout(&show)).unwrap();
    let mut answered = answer["receipt"].clone();
    // Verdicts, the registry they were counted against and the settlement may have been added
    // since the answer; the signed receipt is the same.
    for receipt in [&mut shown, &mut answered] {
        let fields = receipt.as_object_mut().unwrap();
        fields.remove("verdicts");
        fields.remove("settlement");
        fields["body"].as_object_mut().unwrap().remove("registry");
    }
    assert_eq!(shown, answered);
}

#[test]
fn failures_have_documented_exit_codes_and_clear_messages() {
    let node = NodeProcess::start();
    let unknown = node.run(&["infer", "nope", "--input", "{}"]);
    assert_eq!(code(&unknown), 3);
    expect_test::expect![[r#"
        error: the node refused (404 unknown_model): unknown model "nope"
    "#]]
    .assert_eq(&stderr(&unknown));

    let bad_json = node.run(&["infer", "nope", "--input", "{"]);
    assert_eq!(code(&bad_json), 5);
    assert!(stderr(&bad_json).contains("--input is not valid JSON"), "{}", stderr(&bad_json));

    let missing = node.run(&["model", "push", "no-such-file.onnx", "--name", "x"]);
    assert_eq!(code(&missing), 5);
    assert!(stderr(&missing).contains("no such file: no-such-file.onnx"));

    let junk = node.home.path().join("junk.onnx");
    std::fs::write(&junk, b"junk").unwrap();
    let refused = node.run(&["model", "push", path_str(&junk), "--name", "junk"]);
    assert_eq!(code(&refused), 3);
    assert!(stderr(&refused).contains("422 invalid_model"), "{}", stderr(&refused));

    let unreachable =
        Command::new(BIN).args(["model", "ls"]).env("VERITAS_API", "http://127.0.0.1:9").output().unwrap();
    assert_eq!(code(&unreachable), 4);
    assert!(stderr(&unreachable).contains("cannot reach the node at http://127.0.0.1:9"));

    let garbage = node.home.path().join("garbage.json");
    std::fs::write(&garbage, b"{\"version\": 1}").unwrap();
    let verify = node.run(&["verify", path_str(&garbage)]);
    assert_eq!(code(&verify), 1);
    assert!(stdout(&verify).starts_with("INVALID receipt: malformed receipt"), "{}", stdout(&verify));

    let usage = node.run(&["infer"]);
    assert_eq!(code(&usage), 2);

    // A reader that stops early (`veritas … | head`): the command ends quietly, not in a panic.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let closed = Command::new(BIN)
        .args(["model", "ls"])
        .env("VERITAS_API", &node.api)
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(code(&closed), 0, "{}", stderr(&closed));
    assert!(stderr(&closed).is_empty(), "{}", stderr(&closed));
}

#[test]
fn an_account_deposits_makes_an_api_key_and_pays_on_the_embedded_chain() {
    let node = NodeProcess::start();
    let model = examples().join("iris-logreg.onnx");
    assert_eq!(code(&node.run(&["model", "push", path_str(&model), "--name", "iris"])), 0);
    let deposit = node.run(&["account", "deposit", "3", "--dev-account", "2"]);
    assert_eq!(code(&deposit), 0, "{}", stderr(&deposit));
    assert!(
        stdout(&deposit).contains("escrow of 0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC: 3.0"),
        "{}",
        stdout(&deposit)
    );
    let key = node.run(&["--json", "account", "key", "create", "--dev-account", "2"]);
    assert_eq!(code(&key), 0, "{}", stderr(&key));
    let key: serde_json::Value = serde_json::from_str(&stdout(&key)).unwrap();
    let api_key = key["api_key"].as_str().unwrap();
    let input = r#"{"float_input": [[5.1, 3.5, 1.4, 0.2]]}"#;
    let infer = node.run(&["infer", "iris", "--input", input, "--api-key", api_key]);
    assert_eq!(code(&infer), 0, "{}", stderr(&infer));
    let balance = node.run(&["--json", "account", "balance", "--dev-account", "2"]);
    let balance: serde_json::Value = serde_json::from_str(&stdout(&balance)).unwrap();
    // One request at the registry price: still committed, or already settled from the escrow
    // (the node's batcher may have run in between); charged once either way.
    let amount = |field: &str| balance[field].as_str().unwrap().parse::<u128>().unwrap();
    assert!(
        [(3_000_000_000_000_000_000, 1_000_000_000_000_000), (2_999_000_000_000_000_000, 0)]
            .contains(&(amount("escrow"), amount("committed"))),
        "{balance}"
    );
    // Bad amounts and keys are refused with what was wrong.
    let bad = node.run(&["account", "deposit", "lots", "--dev-account", "2"]);
    assert_eq!(code(&bad), 5, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("not an amount"), "{}", stderr(&bad));
    let wrong_key = node.run(&["infer", "iris", "--input", input, "--api-key", "vk_0000"]);
    assert_eq!(code(&wrong_key), 3, "{}", stderr(&wrong_key));
    assert!(stderr(&wrong_key).contains("unknown API key"), "{}", stderr(&wrong_key));
    let withdraw = node.run(&["account", "withdraw", "1", "--dev-account", "2"]);
    assert_eq!(code(&withdraw), 0, "{}", stderr(&withdraw));
    let early = node.run(&["account", "withdraw", "--finish", "--dev-account", "2"]);
    assert_ne!(code(&early), 0, "the withdrawal delay has not passed");
    assert!(stderr(&early).contains("WithdrawalNotReady"), "{}", stderr(&early));
}

#[test]
fn chain_status_and_accounts_read_the_embedded_chain() {
    let node = NodeProcess::start();
    let status = node.run(&["chain", "status"]);
    assert_eq!(code(&status), 0, "{}", stderr(&status));
    let text = stdout(&status);
    assert!(text.starts_with("chain id       31337 (embedded)\n"), "{text}");
    assert!(text.contains("settlement     0x"), "{text}");
    let accounts = node.run(&["chain", "accounts"]);
    assert_eq!(code(&accounts), 0, "{}", stderr(&accounts));
    let text = stdout(&accounts);
    assert!(
        text.contains(
            "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC  10000.000000000000000000 ETH  1000000.000000000000000000 VRT"
        ),
        "{text}"
    );
    assert!(text.contains("VRT"), "{text}");
}

/// A raw EIP-1559 transaction from development account 2 (which the node's own bootstrap does
/// not use) sending `amount` tokens to `to`.
fn signed_transfer(token: &str, to: &str, amount: u64) -> String {
    use alloy_primitives::U256;
    let key =
        veritas_primitives::WorkerKey::from_mnemonic("test test test test test test test test test test test junk", 2)
            .unwrap();
    let mut data = vec![0xa9, 0x05, 0x9c, 0xbb]; // transfer(address,uint256)
    data.extend_from_slice(&[0u8; 12]);
    data.extend_from_slice(to.parse::<alloy_primitives::Address>().unwrap().as_slice());
    data.extend_from_slice(&U256::from(amount).to_be_bytes::<32>());
    let (raw, _) =
        veritas_node::chain::embedded::sign_eip1559(&key, 31337, 0, token.parse().unwrap(), U256::ZERO, data.into())
            .unwrap();
    format!("0x{}", alloy_primitives::hex::encode(raw))
}

fn rpc(api: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        reqwest::Client::new().post(format!("{api}/rpc")).json(&body).send().await.unwrap().json().await.unwrap()
    })
}

#[test]
fn a_node_killed_with_sigkill_restarts_with_every_acknowledged_transaction() {
    let node = NodeProcess::start();
    let network = node.run(&["--json", "chain", "status"]);
    let status: serde_json::Value = serde_json::from_str(&stdout(&network)).unwrap();
    let token = status["network"]["chain"]["contracts"]["token"].as_str().unwrap().to_owned();
    let dead = "0x000000000000000000000000000000000000dEaD";
    let answer = rpc(&node.api, "eth_sendRawTransaction", serde_json::json!([signed_transfer(&token, dead, 777)]));
    let hash = answer["result"].as_str().unwrap_or_else(|| panic!("{answer}")).to_owned();
    let head = rpc(&node.api, "eth_blockNumber", serde_json::json!([]))["result"].clone();

    // SIGKILL: no shutdown of any kind. The transaction was acknowledged, so it must survive.
    let home = node.kill();
    let node = NodeProcess::start_in(home);
    let receipt = rpc(&node.api, "eth_getTransactionReceipt", serde_json::json!([hash]));
    assert_eq!(receipt["result"]["status"], "0x1", "{receipt}");
    let data = format!("0x70a08231{:0>64}", dead.trim_start_matches("0x").to_lowercase());
    let balance = rpc(&node.api, "eth_call", serde_json::json!([{"to": token, "data": data}, "latest"]));
    let balance = u64::from_str_radix(balance["result"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(balance, 777);
    assert_eq!(rpc(&node.api, "eth_blockNumber", serde_json::json!([]))["result"], head);
}

#[test]
fn a_receipt_settles_and_verify_rpc_confirms_it_on_chain() {
    let node = NodeProcess::start();
    let model = examples().join("iris-logreg.onnx");
    assert_eq!(code(&node.run(&["model", "push", path_str(&model), "--name", "iris"])), 0);
    let fresh = node.home.path().join("fresh.json");
    let infer = node.run(&[
        "infer",
        "iris",
        "--input",
        r#"{"float_input": [[5.1, 3.5, 1.4, 0.2]]}"#,
        "--receipt",
        path_str(&fresh),
    ]);
    assert_eq!(code(&infer), 0, "{}", stderr(&infer));
    let id = stderr(&infer).split_whitespace().nth(1).unwrap().to_owned();
    let rpc_url = format!("{}/rpc", node.api);

    // Straight from inference: valid, not settled yet, and --rpc says there is nothing to find.
    let verify = node.run(&["verify", "--rpc", &rpc_url, path_str(&fresh)]);
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
    assert!(stdout(&verify).contains("skip chain"), "{}", stdout(&verify));

    // The node's batcher settles it within seconds.
    let settled = node.home.path().join("settled.json");
    let show = node.run(&["receipt", "show", &id, "--wait-settled", "60", "-o", path_str(&settled)]);
    assert_eq!(code(&show), 0, "{}", stderr(&show));
    let verify = node.run(&["verify", "--rpc", &rpc_url, path_str(&settled)]);
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
    let text = stdout(&verify);
    assert!(text.contains("ok   batch"), "{text}");
    assert!(text.contains("ok   verdict"), "{text}");
    assert!(text.contains("ok   chain     batch 0x"), "{text}");

    // A receipt claiming a batch made up around it (a consistent root and path) passes the
    // offline checks, and the chain says no.
    let mut forged: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&settled).unwrap()).unwrap();
    let leaf = veritas_primitives::merkle_leaf(&id.parse().unwrap());
    let made_up = veritas_primitives::MerkleTree::new(vec![leaf, veritas_primitives::keccak256(b"someone else")]);
    forged["settlement"]["batch_root"] = serde_json::json!(made_up.root());
    forged["settlement"]["merkle_path"] = serde_json::json!(made_up.proof(0).unwrap().0);
    std::fs::write(&settled, serde_json::to_string(&forged).unwrap()).unwrap();
    let offline = node.run(&["verify", path_str(&settled)]);
    assert_eq!(code(&offline), 0, "{}", stdout(&offline));
    let verify = node.run(&["verify", "--rpc", &rpc_url, path_str(&settled)]);
    assert_eq!(code(&verify), 1, "{}", stdout(&verify));
    assert!(stdout(&verify).contains("INVALID receipt: settlement: batch 0x"), "{}", stdout(&verify));
    assert!(stdout(&verify).contains("is not recorded"), "{}", stdout(&verify));
}

#[test]
fn on_anvil_deploy_register_pay_settle_and_verify() {
    let anvil = veritas_chain::anvil::Anvil::start(0, &[]).unwrap();
    let home = tempfile::tempdir().unwrap();
    let deployment = home.path().join("deployment.json");
    let cli = |args: &[&str], api: Option<&str>| {
        let mut command = Command::new(BIN);
        command.args(args).env("VERITAS_HOME", home.path()).env("VERITAS_LOG", "warn").env("VERITAS_WORKER_KEY", KEY);
        if let Some(api) = api {
            command.env("VERITAS_API", api);
        }
        command.output().unwrap()
    };
    let deploy = cli(&["chain", "deploy", "--rpc", &anvil.url, "--out", path_str(&deployment)], None);
    assert_eq!(code(&deploy), 0, "{}", stderr(&deploy));
    assert!(stdout(&deploy).contains("settlement"), "{}", stdout(&deploy));
    let on_anvil = ["--rpc", anvil.url.as_str(), "--deployment", path_str(&deployment)];

    // A node whose keys are not registered refuses to start, saying what to do.
    let refused = Command::new(BIN)
        .args(["node", "--listen", "127.0.0.1:0", "--chain-rpc", &anvil.url, "--deployment", path_str(&deployment)])
        .env("VERITAS_HOME", home.path())
        .env("VERITAS_WORKER_KEY", KEY)
        .env("VERITAS_LOG", "warn")
        .output()
        .unwrap();
    assert_ne!(code(&refused), 0);
    assert!(stderr(&refused).contains("veritas node register --role inference"), "{}", stderr(&refused));

    for role in ["inference", "validator"] {
        let register =
            cli(&[&["node", "register", "--role", role, "--stake", "1000", "--fund"][..], &on_anvil].concat(), None);
        assert_eq!(code(&register), 0, "{}", stderr(&register));
    }
    let node = NodeProcess::start_with(
        home,
        &["--chain-rpc", &anvil.url, "--deployment", path_str(&deployment), "--confirmations", "1"],
    );
    // Account 1 deposits into escrow and makes an API key; without one nobody pays.
    let deposit = node.run(&[&["account", "deposit", "5"][..], &on_anvil].concat());
    assert_eq!(code(&deposit), 0, "{}", stderr(&deposit));
    let key = node.run(&[&["account", "key", "create"][..], &on_anvil].concat());
    assert_eq!(code(&key), 0, "{}", stderr(&key));
    let api_key = stdout(&key).lines().nth(1).unwrap().trim().to_owned();
    assert!(api_key.starts_with("vk_"), "{}", stdout(&key));

    let model = examples().join("iris-logreg.onnx");
    assert_eq!(code(&node.run(&["model", "push", path_str(&model), "--name", "iris"])), 0);
    let input = r#"{"float_input": [[5.1, 3.5, 1.4, 0.2]]}"#;
    let unpaid = node.run(&["infer", "iris", "--input", input]);
    assert_eq!(code(&unpaid), 3, "{}", stderr(&unpaid));
    assert!(stderr(&unpaid).contains("API key"), "{}", stderr(&unpaid));
    let receipt = node.home.path().join("r.json");
    let infer = node.run(&["infer", "iris", "--input", input, "--api-key", &api_key, "--receipt", path_str(&receipt)]);
    assert_eq!(code(&infer), 0, "{}", stderr(&infer));
    let id = stderr(&infer).split_whitespace().nth(1).unwrap().to_owned();

    let balance = node.run(&[&["--json", "account", "balance"][..], &on_anvil].concat());
    let balance: serde_json::Value = serde_json::from_str(&stdout(&balance)).unwrap();
    assert_eq!(balance["escrow"], "5000000000000000000");

    // The batcher settles on anvil; `verify --rpc` confirms the batch there.
    let show = node.run(&["receipt", "show", &id, "--wait-settled", "60", "-o", path_str(&receipt)]);
    assert_eq!(code(&show), 0, "{}", stderr(&show));
    let verify = node.run(&["verify", "--rpc", &anvil.url, path_str(&receipt)]);
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));
    assert!(stdout(&verify).contains("ok   chain     batch 0x"), "{}", stdout(&verify));
    let balance = node.run(&[&["--json", "account", "balance"][..], &on_anvil].concat());
    let balance: serde_json::Value = serde_json::from_str(&stdout(&balance)).unwrap();
    assert_eq!(balance["escrow"], "4999000000000000000", "one request at the model's registry price, 0.001");
}

fn gguf() -> PathBuf {
    PathBuf::from(std::env::var("VERITAS_TEST_GGUF").expect("VERITAS_TEST_GGUF; `cargo xtask test` fetches the model"))
}

#[test]
fn veritas_chat_answers_with_a_receipt_that_verifies() {
    let node = NodeProcess::start();
    let push = node.run(&["model", "push", path_str(&gguf()), "--name", "smollm2"]);
    assert_eq!(code(&push), 0, "{}", stderr(&push));
    let receipt = node.home.path().join("chat.json");
    let one = node.run(&[
        "chat",
        "-m",
        "What is the capital of France?",
        "--temperature",
        "0",
        "--max-tokens",
        "16",
        "--receipt",
        path_str(&receipt),
    ]);
    assert_eq!(code(&one), 0, "{}", stderr(&one));
    assert!(!stdout(&one).trim().is_empty());
    assert!(stderr(&one).contains("receipt 0x"), "{}", stderr(&one));
    let verify = node.run(&["verify", path_str(&receipt)]);
    assert_eq!(code(&verify), 0, "{}", stdout(&verify));

    // Interactive: commands, a two-line message, the last receipt.
    let mut child = Command::new(BIN)
        .args(["chat", "--temperature", "0", "--max-tokens", "8"])
        .env("VERITAS_API", &node.api)
        .env("VERITAS_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"/model\nHello \\\nthere\n/receipt\n/bogus\n/exit\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(stderr(&output).contains("model: smollm2"), "{}", stderr(&output));
    assert!(stderr(&output).contains("unknown command /bogus"), "{}", stderr(&output));
    assert!(stdout(&output).contains("\"signature\""), "the receipt is shown: {}", stdout(&output));

    let unknown = node.run(&["chat", "-m", "hi", "--model", "nope"]);
    assert_eq!(code(&unknown), 3, "{}", stderr(&unknown));
}

#[test]
fn a_chat_answer_that_streams_other_text_than_its_receipt_signs_is_invalid_at_the_client() {
    // A standalone node whose worker streams the honest answer and signs another (a test fault):
    // the node trusts its own worker, so the client's own check is what catches it.
    let node = NodeProcess::start_with(tempfile::tempdir().unwrap(), &["--test-faults", "--fault", "stream-other"]);
    let push = node.run(&["model", "push", path_str(&gguf()), "--name", "smollm2"]);
    assert_eq!(code(&push), 0, "{}", stderr(&push));
    let lie = node.run(&["chat", "-m", "Name three colours.", "--temperature", "0", "--max-tokens", "24"]);
    assert_eq!(code(&lie), 1, "{}", stderr(&lie));
    assert!(
        stderr(&lie).contains("INVALID answer: the text shown is not the text the receipt signs"),
        "{}",
        stderr(&lie)
    );
}

#[test]
fn veritas_up_pushes_the_default_language_model_once() {
    let home = tempfile::tempdir().unwrap();
    // The model as `veritas up` would have fetched it (no download in tests).
    std::fs::create_dir_all(home.path().join("models")).unwrap();
    std::fs::copy(gguf(), home.path().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    for expect_push in [true, false] {
        let mut child = Command::new(BIN)
            .args(["up", "--single", "--listen", "127.0.0.1:0", "--no-chain"])
            .env("VERITAS_HOME", home.path())
            .env("VERITAS_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().unwrap().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(first.starts_with("pushed the default language model as smollm2"), expect_push, "{first}");
    }
}

/// Issue 21's development defaults: the development chain's keys are public, so a node serving
/// it stays on loopback unless told `--dev`, and then pays for no anonymous request; test
/// faults need their own flag.
#[test]
fn a_development_node_stays_on_loopback_unless_told_and_then_pays_for_nobody() {
    let home = tempfile::tempdir().unwrap();
    let node = |args: &[&str]| {
        Command::new(BIN)
            .args(["node"])
            .args(args)
            .env("VERITAS_HOME", home.path())
            .env("VERITAS_WORKER_KEY", KEY)
            .env("VERITAS_LOG", "warn")
            .output()
            .unwrap()
    };
    let public = node(&["--listen", "0.0.0.0:0"]);
    assert_eq!(code(&public), 5, "{}", stderr(&public));
    assert!(stderr(&public).contains("refusing to serve the development chain"), "{}", stderr(&public));
    let faulty = node(&["--listen", "127.0.0.1:0", "--fault", "wrong-output"]);
    assert_eq!(code(&faulty), 2, "{}", stderr(&faulty));
    assert!(stderr(&faulty).contains("--test-faults"), "{}", stderr(&faulty));

    let node = NodeProcess::start_with(tempfile::tempdir().unwrap(), &["--listen", "0.0.0.0:0", "--dev"]);
    assert_eq!(
        code(&node.run(&["model", "push", path_str(&examples().join("iris-logreg.onnx")), "--name", "iris"])),
        0
    );
    let anonymous = node.run(&["infer", "iris", "--input", r#"{"float_input": [[5.1, 3.5, 1.4, 0.2]]}"#]);
    assert_eq!(code(&anonymous), 3, "{}", stderr(&anonymous));
    assert!(stderr(&anonymous).contains("401 unauthorized): payment required"), "{}", stderr(&anonymous));
}

/// Issue 21: a node killed with SIGKILL in the middle of a load, then started again, serves
/// every receipt it answered, and settles every claim in its log exactly once: its payer is
/// charged the fee once per claim, however the batches were cut by the crash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_serves_every_answered_receipt_and_settles_each_once() {
    use std::sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    };
    let node =
        NodeProcess::start_with(tempfile::tempdir().unwrap(), &["--settle-every", "0.3", "--rate-limit-ip", "0"]);
    let model = examples().join("iris-logreg.onnx");
    assert_eq!(code(&node.run(&["model", "push", path_str(&model), "--name", "iris"])), 0);
    let http = reqwest::Client::new();
    let get = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let network = get(format!("{}/v1/network", node.api)).await;
    let payer = network["chain"]["default_payer"].as_str().unwrap().to_owned();
    let escrow = |api: String| {
        let payer = payer.clone();
        let get = get.clone();
        async move {
            let account = get(format!("{api}/v1/accounts/{payer}")).await;
            account["escrow"].as_str().unwrap().parse::<u128>().unwrap()
        }
    };
    let before = escrow(node.api.clone()).await;

    let (stop, answered) = (Arc::new(AtomicBool::new(false)), Arc::new(Mutex::new(Vec::<String>::new())));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..6 {
        let (http, stop, answered, url) =
            (http.clone(), stop.clone(), answered.clone(), format!("{}/v1/infer", node.api));
        clients.spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let x = 4.0 + f64::from(client * 1000 + i) / 1e4;
                let body = serde_json::json!({"model": "iris", "input": {"float_input": [[x, 3.5, 1.4, 0.2]]}});
                let Ok(response) = http.post(&url).json(&body).send().await else { continue };
                if response.status().is_success()
                    && let Ok(answer) = response.json::<serde_json::Value>().await
                {
                    answered.lock().unwrap().push(answer["receipt_id"].as_str().unwrap().to_owned());
                }
            }
        });
    }
    // Load long enough for batches to settle and others to be in flight, then no shutdown at all.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let home = node.kill();
    stop.store(true, Ordering::Relaxed);
    clients.join_all().await;
    let answered = answered.lock().unwrap().clone();
    assert!(answered.len() > 20, "only {} answered before the kill", answered.len());

    let node = NodeProcess::start_with(home, &["--settle-every", "0.3", "--rate-limit-ip", "0"]);
    for id in &answered {
        let receipt = get(format!("{}/v1/receipts/{id}", node.api)).await;
        assert!(receipt["claim"]["request_id"].is_string(), "{id}: {receipt}");
    }
    // Everything in the log settles once; the payer pays once per claim.
    let mut health = serde_json::Value::Null;
    for _ in 0..300 {
        health = get(format!("{}/healthz", node.api)).await;
        if health["counts"]["awaiting_verdicts"] == 0 && health["counts"]["pending_settlement"] == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(health["counts"]["pending_settlement"], 0, "{health}");
    let logged = u128::from(health["counts"]["claims_logged"].as_u64().unwrap());
    assert!(logged >= answered.len() as u128, "{logged} logged, {} answered", answered.len());
    for id in &answered {
        let receipt = get(format!("{}/v1/receipts/{id}", node.api)).await;
        assert!(receipt["settlement"].is_object(), "{id} never settled: {receipt}");
    }
    let fee = 1_000_000_000_000_000u128;
    assert_eq!(before - escrow(node.api.clone()).await, fee * logged, "charged once per claim in the log");
}
