//! The integration tests of `veritas-chain`, one binary: the conformance suite of the `Chain`
//! implementations, embedded and anvil (`conformance`), and the settlement contracts executed by
//! revm from their committed bytecode (`contracts`).

mod conformance;
mod contracts;
