//! The explorer's data: recent claims, the network's figures and its nodes, each from the
//! node's own claim log, the registry and the chain's events.

use crate::{ApiError, routes::AppState};
use axum::{
    Json, Router,
    extract::{Query, State},
    routing::get,
};
use serde::Deserialize;
use serde_json::{Value, json};

#[derive(Deserialize)]
struct Page {
    /// How many claims, newest first (at most 500).
    limit: Option<usize>,
    /// Only claims before this timeline position.
    before: Option<u64>,
}

#[derive(Deserialize)]
struct Window {
    /// The window, in minutes (at most a day).
    minutes: Option<u64>,
}

/// `GET /v1/explorer/claims`: the latest claims this node logged, newest first.
async fn claims(State(state): State<AppState>, Query(page): Query<Page>) -> Result<Json<Value>, ApiError> {
    let claims = state.node.explorer().recent_claims(page.limit.unwrap_or(50), page.before).await?;
    Ok(Json(json!({ "claims": claims })))
}

/// `GET /v1/explorer/figures`: calls per minute, share verified, disputes, median latency.
async fn figures(State(state): State<AppState>, Query(window): Query<Window>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        serde_json::to_value(state.node.explorer().figures(window.minutes.unwrap_or(60)).await?).unwrap_or_default(),
    ))
}

/// `GET /v1/explorer/nodes`: the registered nodes with stake, role, uptime, work and slashes.
async fn nodes(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "nodes": state.node.explorer().node_summaries().await? })))
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/explorer/claims", get(claims))
        .route("/v1/explorer/figures", get(figures))
        .route("/v1/explorer/nodes", get(nodes))
}
