//! The explorer's data: recent claims, the network's figures and its nodes, each from the
//! node's own claim log, the registry and the chain's events.

use axum::{
    Json,
    extract::{Query, State},
};
use veritas_node::wire::{ClaimsPage, ClaimsQuery, ErrorBody, Figures, FiguresQuery, NodesPage};

use crate::{ApiError, routes::AppState};

/// The latest claims this node logged, newest first: time, latency, model, mode, worker,
/// verdicts, state, settlement transaction.
#[utoipa::path(get, path = "/v1/explorer/claims", tag = "explorer", params(ClaimsQuery), responses(
    (status = 200, description = "The claims", body = ClaimsPage),
))]
pub(crate) async fn claims(
    State(state): State<AppState>,
    Query(page): Query<ClaimsQuery>,
) -> Result<Json<ClaimsPage>, ApiError> {
    let claims = state.node.explorer().recent_claims(page.limit.unwrap_or(50), page.before).await?;
    Ok(Json(ClaimsPage { claims }))
}

/// Claims per minute (valid, invalid), share verified, median latency, disputes and slashes on
/// chain.
#[utoipa::path(get, path = "/v1/explorer/figures", tag = "explorer", params(FiguresQuery), responses(
    (status = 200, description = "The figures", body = Figures),
))]
pub(crate) async fn figures(
    State(state): State<AppState>,
    Query(window): Query<FiguresQuery>,
) -> Result<Json<Figures>, ApiError> {
    Ok(Json(state.node.explorer().figures(window.minutes.unwrap_or(60)).await?))
}

/// The registered nodes: role, stake, uptime (or why down), claims served, verdicts counted,
/// slashes.
#[utoipa::path(get, path = "/v1/explorer/nodes", tag = "explorer", responses(
    (status = 200, description = "The nodes", body = NodesPage),
    (status = 404, description = "The node runs no chain", body = ErrorBody),
))]
pub(crate) async fn nodes(State(state): State<AppState>) -> Result<Json<NodesPage>, ApiError> {
    Ok(Json(NodesPage { nodes: state.node.explorer().node_summaries().await? }))
}
