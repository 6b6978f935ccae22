//! veritas api: the node's HTTP API on axum, its bodies the `veritas-wire` types, its OpenAPI
//! document generated from them ([`openapi`]).
//!
//! Architecture invariant: this is the only crate that knows HTTP. Errors map to statuses in one
//! place, [`error::ApiError`].

mod auth;
mod embeddings;
mod error;
mod explorer;
mod guard;
mod inference;
mod limits;
mod models;
mod openai;
mod proxy;
mod routes;
mod rpc;
mod web;
mod work;

pub use auth::SIGNATURE_WINDOW;
pub use error::ApiError;
pub use limits::{Limits, Rate};
pub use proxy::{ProxyConfig, Require, proxy_router, serve_proxy};
pub use routes::{ApiConfig, openapi, router, serve};
pub use rpc::chain_router;
