//! The CLI's integration tests, in one binary: the `veritas` binary against real nodes and
//! local networks of processes (`common` binds it to the shared harness, `veritas-testkit`).

mod common;

mod adversary;
mod browser;
mod cli;
mod confidential;
mod hosts;
mod network;
mod proxy;
mod sdk;
mod serving;
mod store;
mod tee;
mod zk;
