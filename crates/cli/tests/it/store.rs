//! Models in a real S3-compatible object store: s3s-fs (the `s3s` protocol crate's file-system
//! server, installed by `cargo xtask test`, path in `VERITAS_TEST_S3_SERVER`), configured from
//! the usual `AWS_*` variables. A `veritas up` network whose nodes share `--store s3://…` keeps
//! each model's bytes once in the bucket, and the nodes that serve a model read it from there
//! (digest-checked) rather than over HTTP; a store that cannot be used stops a node at its
//! start, naming why.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::common::{BIN, Veritas, examples};

const ACCESS: &str = "veritas-test";
const SECRET: &str = "veritas-test-secret";
const BUCKET: &str = "veritas";

/// A running s3s-fs on 127.0.0.1, its data under `root` (a bucket is a top-level directory).
struct S3Server {
    child: Child,
    endpoint: String,
    root: tempfile::TempDir,
}

impl S3Server {
    fn start() -> S3Server {
        let server = std::env::var("VERITAS_TEST_S3_SERVER")
            .expect("VERITAS_TEST_S3_SERVER: the s3s-fs binary (`cargo xtask test` installs it)");
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(server)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS, "--secret-key", SECRET])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        S3Server { child, endpoint: format!("http://127.0.0.1:{port}"), root }
    }

    /// The `AWS_*` environment of a client of this server, with `secret` as its secret key.
    fn env<'a>(&'a self, secret: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ALLOW_HTTP", "true"),
        ]
    }

    /// An object's bytes, straight from the server's files.
    fn object(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.path().join(BUCKET).join(key)).ok()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn models_pushed_to_the_gateway_live_in_the_bucket_and_workers_serve_them_from_it() {
    let s3 = S3Server::start();
    let home = tempfile::tempdir().unwrap();
    let net = Veritas(BIN).network_with_env(
        home,
        "127.0.0.1:0",
        "info",
        &s3.env(SECRET),
        &["--no-default-model", "--workers", "2", "--store", &format!("s3://{BUCKET}/models")],
    );
    net.push_iris();
    let shown = net.json(&["model", "show", "iris"]);
    let id = shown["veritas"]["model_id"].as_str().unwrap().to_owned();
    // The bytes are in the bucket once, under their digest, beside the manifest and the name.
    let file = std::fs::read(examples().join("iris-logreg.onnx")).unwrap();
    let digest: String = Sha256::digest(&file).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(s3.object(&format!("models/blobs/sha256/{digest}")).as_deref(), Some(&file[..]));
    assert!(s3.object(&format!("models/manifests/{id}.json")).is_some(), "the manifest is in the bucket");
    let name: serde_json::Value =
        serde_json::from_slice(&s3.object(&format!("models/names/{id}.json")).unwrap()).unwrap();
    assert_eq!((name["name"].as_str(), name["version"].as_u64()), (Some("iris"), Some(1)));

    // Requests reach both workers; each serves the model from the bucket, not over HTTP.
    let ids: Vec<String> = (0..6).map(|i| net.infer(5.0 + f64::from(i) / 10.0)).collect();
    net.wait_idle(Duration::from_secs(90));
    for id in &ids {
        let receipt = net.receipt(id);
        let verdicts = receipt["verdicts"].as_array().unwrap();
        assert!(!verdicts.is_empty() && verdicts.iter().all(|v| v["valid"] == true), "{receipt}");
    }
    let logs: Vec<String> = ["worker-1", "worker-2"]
        .iter()
        .map(|name| std::fs::read_to_string(net.home.path().join("network").join(name).join("node.log")).unwrap())
        .collect();
    let from_store = logs.iter().filter(|log| log.contains("model found in the shared store")).count();
    assert!(from_store >= 1, "a worker read the model from the bucket: {logs:?}");
    assert!(logs.iter().all(|log| !log.contains("fetching a model")), "no worker fetched it over HTTP: {logs:?}");

    // The bucket is trusted for availability only: bytes changed in it are refused as read.
    let pulled = net.home.path().join("pulled.onnx");
    let out = net.cli(&["model", "pull", "iris", "-o", pulled.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&pulled).unwrap(), file);
    let mut changed = file.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    std::fs::write(s3.root.path().join(BUCKET).join(format!("models/blobs/sha256/{digest}")), &changed).unwrap();
    let out = net.cli(&["model", "pull", "iris", "-o", pulled.to_str().unwrap()]);
    assert!(!out.status.success(), "a changed blob was served: {}", text(&out));
}

/// `veritas node` on `store` with `env`: it must exit with an error that names `expected`.
fn refused_at_start(home: &Path, store: &str, env: &[(&str, &str)], expected: &str) {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["node", "--no-chain", "--listen", "127.0.0.1:0", "--store", store])
        .env("VERITAS_HOME", home)
        .env("VERITAS_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{store}: the node started: {}", text(&out));
    assert!(text(&out).contains(expected), "{store}: {}", text(&out));
    assert!(started.elapsed() < Duration::from_secs(60), "{store}: refused only after {:?}", started.elapsed());
}

#[test]
fn a_store_that_cannot_be_used_stops_the_node_at_its_start() {
    let s3 = S3Server::start();
    let home = tempfile::tempdir().unwrap();
    refused_at_start(home.path(), "s3://absent/models", &s3.env(SECRET), "the bucket does not exist");
    refused_at_start(home.path(), "s3://veritas/models", &s3.env("a-wrong-secret"), "refused the credentials");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{closed}");
    let mut unreachable = s3.env(SECRET);
    unreachable.retain(|(key, _)| *key != "AWS_ENDPOINT_URL");
    unreachable.push(("AWS_ENDPOINT_URL", &endpoint));
    refused_at_start(home.path(), "s3://veritas/models", &unreachable, "cannot be reached");
}
