//! Local networks of processes: `veritas up` started in a fresh home, driven through its CLI
//! and its HTTP API, and stopped with SIGTERM when dropped. The `veritas` binary to run is the
//! test crate's own (`env!("CARGO_BIN_EXE_veritas")`), handed in as a [`Veritas`].

use std::{
    io::Read,
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

pub use crate::{examples, gguf};

/// The `veritas` binary under test.
#[derive(Clone, Copy, Debug)]
pub struct Veritas(pub &'static str);

impl Veritas {
    /// Runs the CLI against the node at `api`, with `home` as its data directory.
    pub fn run(self, api: &str, home: &Path, args: &[&str]) -> Output {
        Command::new(self.0)
            .args(args)
            .env("VERITAS_API", api)
            .env("VERITAS_HOME", home)
            .env("VERITAS_LOG", "warn")
            .output()
            .unwrap()
    }

    /// `veritas up` in a fresh home, without the default language model.
    pub fn network(self, extra: &[&str]) -> Network {
        let home = tempfile::tempdir().unwrap();
        self.network_in(home, &[&["--no-default-model"][..], extra].concat())
    }

    /// `veritas up` in `home`.
    pub fn network_in(self, home: tempfile::TempDir, extra: &[&str]) -> Network {
        self.network_listening(home, "127.0.0.1:0", extra)
    }

    /// A network whose gateway pushed the default language model (from the test copy, no
    /// download).
    pub fn llm_network(self, extra: &[&str]) -> Network {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(home.path().join("models")).unwrap();
        std::fs::copy(gguf(), home.path().join("models/SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
        self.network_in(home, extra)
    }

    /// `veritas up` with its gateway on `listen` (its nodes on the ports after it).
    pub fn network_listening(self, home: tempfile::TempDir, listen: &str, extra: &[&str]) -> Network {
        self.network_logging(home, listen, "warn", extra)
    }

    /// `veritas up` logging at `level` (`VERITAS_LOG`): its nodes into their homes' `node.log`,
    /// the gateway into `up.log` in `home` unless the level is `warn` (then to this stderr).
    pub fn network_logging(self, home: tempfile::TempDir, listen: &str, level: &str, extra: &[&str]) -> Network {
        self.network_with_env(home, listen, level, &[], extra)
    }

    /// [`Self::network_logging`] with these environment variables set for every node (an
    /// object store's `AWS_*` configuration, say).
    pub fn network_with_env(
        self,
        home: tempfile::TempDir,
        listen: &str,
        level: &str,
        env: &[(&str, &str)],
        extra: &[&str],
    ) -> Network {
        let stderr = match level {
            "warn" => Stdio::inherit(),
            _ => Stdio::from(std::fs::File::create(home.path().join("up.log")).unwrap()),
        };
        let mut child = Command::new(self.0)
            .args(["--json", "up", "--listen", listen, "--llm-threads", "1"])
            .args(extra)
            .env("VERITAS_HOME", home.path())
            .env("VERITAS_LOG", level)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        // The banner is one JSON object, printed once every node answers.
        let mut stdout = child.stdout.take().unwrap();
        let mut text = String::new();
        let mut byte = [0u8; 1];
        let banner: Value = loop {
            assert_eq!(stdout.read(&mut byte).unwrap(), 1, "veritas up exited before its banner: {text}");
            text.push(byte[0] as char);
            if byte[0] == b'}'
                && let Ok(value) = serde_json::from_str(&text)
            {
                break value;
            }
        };
        let api = banner["api"].as_str().unwrap().to_owned();
        let nodes = banner["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["name"].as_str().unwrap().to_owned(), n["endpoint"].as_str().unwrap().to_owned()))
            .collect();
        Network { veritas: self, child, api, home, nodes }
    }
}

/// A running `veritas up`.
pub struct Network {
    veritas: Veritas,
    /// The gateway's process.
    pub child: Child,
    /// The gateway's API.
    pub api: String,
    /// The data directory.
    pub home: tempfile::TempDir,
    /// Node name → endpoint.
    pub nodes: Vec<(String, String)>,
}

impl Network {
    /// Runs the CLI against this network.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.veritas.run(&self.api, self.home.path(), args)
    }

    /// Runs the CLI with `--json`; its answer, which must be a success.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cli(&[&["--json"][..], args].concat());
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or_else(|err| panic!("{args:?}: {err}"))
    }

    /// Pushes the iris example as `iris`.
    pub fn push_iris(&self) {
        let model = examples().join("iris-logreg.onnx");
        self.json(&["model", "push", model.to_str().unwrap(), "--name", "iris"]);
    }

    /// One iris inference; its receipt id.
    pub fn infer(&self, x: f64) -> String {
        let input = format!("{{\"float_input\": [[{x}, 3.5, 1.4, 0.2]]}}");
        let answer = self.json(&["infer", "iris", "--input", &input]);
        answer["receipt_id"].as_str().unwrap().to_owned()
    }

    /// A receipt by id.
    pub fn receipt(&self, id: &str) -> Value {
        self.json(&["receipt", "show", id])
    }

    /// `veritas network status`.
    pub fn status(&self) -> Value {
        self.json(&["network", "status"])
    }

    /// The gateway's counts.
    pub fn counts(&self) -> Value {
        self.status()["nodes"][0]["counts"].clone()
    }

    /// Waits until the gateway has judged and settled everything it logged.
    pub fn wait_idle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let counts = self.counts();
            if counts["awaiting_verdicts"] == 0 && counts["pending_settlement"] == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "still busy after {limit:?}: {counts}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// A registered node's signer and stake, by its name's position in registration order.
    pub fn member(&self, name: &str) -> (String, f64) {
        let index = self.nodes.iter().position(|(n, _)| n == name).unwrap();
        // Row 0 is the gateway; the registry lists the nodes in the order `up` registered them.
        let row = &self.status()["nodes"][index + 1];
        let stake = row["stake"].as_str().unwrap();
        let stake = u128::from_str_radix(stake.trim_start_matches("0x"), 16).unwrap() as f64 / 1e18;
        (row["signer"].as_str().unwrap().to_lowercase(), stake)
    }

    /// The process id of one node (found by the port it listens on), if it runs.
    pub fn pid_of(&self, name: &str) -> Option<String> {
        let endpoint = &self.nodes.iter().find(|(n, _)| n == name).unwrap().1;
        let listen = endpoint.trim_start_matches("http://");
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            if args.contains(&listen.as_bytes()) && args.contains(&b"node".as_slice()) {
                return Some(entry.file_name().to_string_lossy().into_owned());
            }
        }
        None
    }

    /// Kills one node's process as a crash would.
    pub fn crash(&self, name: &str) {
        let pid = self.pid_of(name).unwrap_or_else(|| panic!("{name} does not run"));
        assert!(Command::new("kill").args(["-9", &pid]).status().unwrap().success());
    }
}

/// Whether process `pid` still runs (a zombie, exited but not yet reaped, does not).
pub fn runs(pid: &str) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().any(|l| l.starts_with("State:") && !l.contains("zombie"))
}

impl Drop for Network {
    fn drop(&mut self) {
        // SIGTERM: `veritas up` stops its nodes before it exits.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A GET over plain HTTP/1.1 on loopback, the body as text.
pub fn http_get(url: &str) -> String {
    use std::io::Write;
    let rest = url.trim_start_matches("http://");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or(response)
}

/// The worker that signed a receipt, lowercase.
pub fn signer_of(receipt: &Value) -> String {
    receipt["claim"]["worker"].as_str().unwrap().to_lowercase()
}
