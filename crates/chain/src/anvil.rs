//! anvil (Foundry's development node, from npm: the repository's `clients/`) as a child process,
//! for tests that need a third-party EVM node. Behind the `anvil` feature.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
};

/// A running anvil, stopped when dropped.
pub struct Anvil {
    child: Child,
    /// Its JSON-RPC URL.
    pub url: String,
    /// Its port.
    pub port: u16,
}

/// Where `cargo xtask test` installs anvil: the platform package's binary
/// (`@foundry-rs/anvil-<platform>/bin/anvil`), else the npm launcher. The launcher is a Node
/// script that runs the binary as its child, so killing it would leave anvil running.
pub fn anvil_binary() -> PathBuf {
    let modules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../clients/node_modules");
    let platform = std::fs::read_dir(modules.join("@foundry-rs")).ok().and_then(|entries| {
        entries
            .flatten()
            .filter(|entry| entry.file_name().to_string_lossy().starts_with("anvil-"))
            .map(|entry| entry.path().join("bin/anvil"))
            .find(|binary| binary.is_file())
    });
    platform.unwrap_or_else(|| modules.join(".bin/anvil"))
}

impl Anvil {
    /// Starts anvil on 127.0.0.1 at `port` (0: a free one) with the development mnemonic and
    /// chain id 31337, plus `extra` arguments; returns once it listens.
    pub fn start(port: u16, extra: &[&str]) -> std::io::Result<Anvil> {
        let bin = anvil_binary();
        if !bin.exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!(
                    "anvil is not installed at {}: `cargo xtask test` installs it (npm, in clients/)",
                    bin.display()
                ),
            ));
        }
        let mut child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--chain-id", "31337"])
            .args(["--mnemonic", "test test test test test test test test test test test junk"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("anvil's stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let address = loop {
            match lines.next() {
                Some(line) => {
                    if let Some(address) = line?.strip_prefix("Listening on ") {
                        break address.trim().to_owned();
                    }
                }
                None => return Err(std::io::Error::other("anvil exited before listening")),
            }
        };
        // Keep draining its output so that it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        let port = address.rsplit(':').next().and_then(|p| p.parse().ok()).unwrap_or(port);
        Ok(Anvil { child, url: format!("http://{address}"), port })
    }

    /// Starts anvil keeping its state in `state` (loaded if it exists, written when it stops).
    pub fn with_state(port: u16, state: &Path) -> std::io::Result<Anvil> {
        let state = state.to_str().ok_or_else(|| std::io::Error::other("state path is not UTF-8"))?;
        Anvil::start(port, &["--state", state])
    }

    /// Stops anvil with SIGTERM, so that it writes its state, and waits for it.
    pub fn stop(mut self) -> std::io::Result<()> {
        Command::new("kill").arg(self.child.id().to_string()).status()?;
        self.child.wait()?;
        Ok(())
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
