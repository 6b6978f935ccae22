//! The shared harness for nodes in this process (`veritas-testkit`).

pub use veritas_testkit::node::*;
