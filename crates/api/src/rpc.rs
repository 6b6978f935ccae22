//! The embedded chain's Ethereum JSON-RPC endpoint over HTTP: `POST /` with a JSON-RPC request
//! or batch, as wallets and client libraries expect.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{Json, Router, body::Bytes, extract::DefaultBodyLimit, extract::State, routing::post};
use serde_json::Value;
use veritas_node::chain::embedded::{SharedChain as Chain, rpc};

/// The largest JSON-RPC request accepted, in bytes.
const MAX_RPC_BYTES: usize = 8 << 20;

/// A router serving JSON-RPC for `chain` at `/`.
pub fn chain_router(chain: Chain) -> Router {
    Router::new().route("/", post(handle)).layer(DefaultBodyLimit::max(MAX_RPC_BYTES)).with_state(chain)
}

async fn handle(State(chain): State<Chain>, body: Bytes) -> Json<Value> {
    let request: Value = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(err) => return Json(rpc::parse_error(err)),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Mining writes to disk: off the async threads.
    let answer = tokio::task::spawn_blocking(move || {
        let mut chain = chain.lock();
        rpc::handle(&mut chain, &request, now)
    })
    .await
    .unwrap_or_else(rpc::internal_error);
    Json(answer)
}
