//! veritas api: the node's HTTP API on axum.
//!
//! Architecture invariant: this is the only crate that knows HTTP. Errors map to statuses in one
//! place, [`error::ApiError`].

mod error;
mod routes;

pub use error::ApiError;
pub use routes::{ApiConfig, router, serve};
