//! `veritas proxy` with the official `openai` Python package, unmodified: through the proxy in
//! front of `veritas up`, plain and streamed chat answers arrive once their receipts verify and
//! a quorum judged them (`--require quorum`), and the receipts are kept on disk; in front of an
//! upstream that changes one token of each answer, the plain answer is refused (502, naming the
//! failed check) and the streamed one ends with an error event instead of `[DONE]`.

use std::{
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Command, Stdio},
};

use serde_json::Value;

use crate::common::{BIN, llm_network};

/// A child process stopped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `veritas proxy` in front of `upstream`; its URL.
fn proxy(home: &Path, upstream: &str, extra: &[&str]) -> (Running, String) {
    let mut child = Command::new(BIN)
        .args(["--json", "proxy", "--upstream", upstream, "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("VERITAS_HOME", home)
        .env("VERITAS_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let (mut text, mut byte) = (String::new(), [0u8; 1]);
    let banner: Value = loop {
        assert_eq!(stdout.read(&mut byte).unwrap(), 1, "veritas proxy exited before its banner: {text}");
        text.push(byte[0] as char);
        if byte[0] == b'}'
            && let Ok(value) = serde_json::from_str(&text)
        {
            break value;
        }
    };
    (Running(child), banner["proxy"].as_str().unwrap().to_owned())
}

fn clients() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients")
}

/// What the openai package got through `url`: `{"plain": {...}, "stream": {...}}`.
fn openai_through(url: &str) -> Value {
    let python =
        std::env::var("VERITAS_TEST_PYTHONPATH").expect("VERITAS_TEST_PYTHONPATH; `cargo xtask test` installs openai");
    let out = Command::new("python3")
        .arg(clients().join("proxy_check.py"))
        .arg(url)
        .env("PYTHONPATH", python)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn openai_clients_get_verified_answers_through_the_proxy_and_tampered_ones_are_refused() {
    let net = llm_network(&[]);
    let receipts = net.home.path().join("kept");
    let (_honest, url) =
        proxy(net.home.path(), &net.api, &["--require", "quorum", "--receipts", receipts.to_str().unwrap()]);
    let got = openai_through(&url);
    for way in ["plain", "stream"] {
        let answer = &got[way];
        assert!(answer.get("error").is_none(), "{way}: {got}");
        assert!(!answer["content"].as_str().unwrap().is_empty(), "{way}: {got}");
        // The receipt is kept as the node sent it, with the quorum the proxy waited for.
        let id = answer["receipt_id"].as_str().unwrap();
        let kept: Value = serde_json::from_slice(&std::fs::read(receipts.join(format!("{id}.json"))).unwrap()).unwrap();
        assert_eq!(kept["verdicts"].as_array().unwrap().len(), 3, "{kept}");
    }

    // An upstream that changes one token of each answer, its receipts untouched.
    let mut tamperer = Command::new("python3")
        .arg(clients().join("tamper_upstream.py"))
        .arg(&net.api)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(tamperer.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let _tamperer = Running(tamperer);
    let (_refusing, url) = proxy(net.home.path(), line.trim(), &[]);
    let got = openai_through(&url);
    let plain = got["plain"]["error"].as_str().unwrap_or_else(|| panic!("a tampered answer passed: {got}"));
    assert!(plain.contains("502") && plain.contains("fails its output check"), "{got}");
    let stream = got["stream"]["error"].as_str().unwrap_or_else(|| panic!("a tampered stream passed: {got}"));
    assert!(stream.contains("fails its output check"), "{got}");
}
