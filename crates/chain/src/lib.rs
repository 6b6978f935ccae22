//! veritas chain: the settlement contracts' bindings and an EVM (revm) that executes their
//! committed bytecode.
//!
//! Architecture invariant: this is the only crate that knows the EVM. The contracts are compiled
//! once by `cargo xtask contracts` into `contracts/out/*.json`; everything here uses those
//! artifacts, so tests run exactly the bytecode that is deployed.

#[cfg(feature = "anvil")]
pub mod anvil;
mod any;
mod chain;
pub mod contracts;
pub mod embedded;
mod error;
mod evm;
pub mod genesis;
pub mod rpc_chain;

pub use any::AnyChain;
pub use chain::{Chain, ChainLog, Confirmations, Fees, Mined, Signed, sender_lock, sign_envelope};
pub use error::{ChainError, ChainResult};
pub use evm::{AccountState, Deployment, LocalEvm, Outcome};
pub use rpc_chain::RpcChain;
