//! This crate's `veritas` binary, bound to the shared network harness (`veritas-testkit`).

use std::{path::Path, process::Output};

pub use veritas_testkit::network::{Network, Veritas, examples, http_get, runs, signer_of};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_veritas");

/// Runs the CLI against the node at `api`, with `home` as its data directory.
pub fn veritas(api: &str, home: &Path, args: &[&str]) -> Output {
    Veritas(BIN).run(api, home, args)
}

/// A network whose gateway pushed the default language model.
pub fn llm_network(extra: &[&str]) -> Network {
    Veritas(BIN).llm_network(extra)
}

/// `veritas up` of this crate's binary.
pub trait Start {
    /// In a fresh home, without the default language model.
    fn start(extra: &[&str]) -> Network;
    /// In `home`.
    fn start_in(home: tempfile::TempDir, extra: &[&str]) -> Network;
    /// With its gateway on `listen`.
    fn start_listening(home: tempfile::TempDir, listen: &str, extra: &[&str]) -> Network;
}

impl Start for Network {
    fn start(extra: &[&str]) -> Network {
        Veritas(BIN).network(extra)
    }

    fn start_in(home: tempfile::TempDir, extra: &[&str]) -> Network {
        Veritas(BIN).network_in(home, extra)
    }

    fn start_listening(home: tempfile::TempDir, listen: &str, extra: &[&str]) -> Network {
        Veritas(BIN).network_listening(home, listen, extra)
    }
}
