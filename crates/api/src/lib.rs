//! veritas api: the node's HTTP API on axum.
//!
//! Architecture invariant: this is the only crate that knows HTTP. Errors map to statuses in one
//! place, [`error::ApiError`].

mod auth;
mod error;
mod explorer;
mod openai;
mod routes;
mod rpc;
mod web;

pub use auth::SIGNATURE_WINDOW;
pub use error::ApiError;
pub use routes::{ApiConfig, router, serve};
pub use rpc::chain_router;
