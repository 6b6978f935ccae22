//! The router, the OpenAPI document it is built with, and what a node says about itself:
//! health, metrics, its chain, the registry, its TEE policy.
//!
//! Every route but the web pages and the chain's JSON-RPC is registered through
//! `utoipa_axum`'s router from its handler's `#[utoipa::path]`, so the document served at
//! `/openapi.json` lists exactly the routes served, with the `veritas-wire` types they take and
//! answer. `crates/api/openapi.json` is that document, committed for readers and client
//! generators; a test fails when it and the code disagree.

use std::sync::{Arc, OnceLock};

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, State},
    http::{StatusCode, header},
    response::IntoResponse,
};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};
use veritas_node::{
    Node, NodeHandle, TeeBackend,
    chain::Chain,
    wire::{
        ChainInfo, ContractAddresses, ErrorBody, Health, NetworkInfo, Registry, TeePolicyInfo,
        openai::{ChatChunk, TextChunk},
    },
};
use veritas_primitives::Address;

use crate::{
    ApiError, explorer, inference,
    limits::{Limiters, Limits},
    models, openai, work,
};

/// Limits of the API, and whom it takes pushes from.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The largest JSON request body, in bytes.
    pub max_json_bytes: usize,
    /// The operators: publishers whose signed pushes (`POST /v1/models`) the node takes. Empty:
    /// the node takes no pushes over HTTP.
    pub operators: Vec<Address>,
    /// Time, connection and rate limits.
    pub limits: Limits,
}

impl Default for ApiConfig {
    fn default() -> ApiConfig {
        ApiConfig { max_json_bytes: 16 << 20, operators: Vec::new(), limits: Limits::default() }
    }
}

/// What every route sees: the node, its operators, the per-account rate limit.
#[derive(Clone)]
pub(crate) struct AppState {
    pub node: Node,
    pub operators: Arc<[Address]>,
    pub limiters: Arc<Limiters>,
}

/// The document's frame: what the API is, and how it fails.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "veritas",
        description = "Verifiable AI inference: every answer carries a receipt anyone can verify offline \
                       (docs/receipt.md). Errors are `{\"error\": {\"code\", \"message\"}}` with a 4xx or 5xx status."
    ),
    paths(rpc),
    components(schemas(ErrorBody, ChatChunk, TextChunk))
)]
struct Frame;

/// The embedded chain's Ethereum JSON-RPC (viem, alloy and wallets work against it): a request
/// or a batch. Only on a node that runs the embedded chain.
#[utoipa::path(post, path = "/rpc", tag = "chain",
    request_body(content = Object, description = "A JSON-RPC 2.0 request or batch"),
    responses((status = 200, description = "The JSON-RPC answer (errors included, as JSON-RPC errors)", body = Object)))]
#[allow(dead_code, reason = "documents the JSON-RPC route, which `chain_router` serves")]
fn rpc() {}

/// The routes the document describes, with their state.
fn documented() -> OpenApiRouter<AppState> {
    // An upload is streamed to disk under the hub's own size limit, not the JSON body limit.
    let (schemas, paths, uploads) = routes!(models::list_models, models::push_model);
    OpenApiRouter::with_openapi(Frame::openapi())
        .routes((schemas, paths, uploads.layer(DefaultBodyLimit::disable())))
        .routes(routes!(models::show_model))
        .routes(routes!(models::pull_model))
        .routes(routes!(models::proof))
        .routes(routes!(inference::infer))
        .routes(routes!(inference::confidential_key))
        .routes(routes!(inference::receipt))
        .routes(routes!(inference::contract_request))
        .routes(routes!(inference::create_key))
        .routes(routes!(inference::account))
        .routes(routes!(openai::chat))
        .routes(routes!(openai::completion))
        .routes(routes!(crate::embeddings::embeddings))
        .routes(routes!(work::verdict))
        .routes(routes!(work::verdicts))
        .routes(routes!(work::sign_batch))
        .routes(routes!(work::work_chat))
        .routes(routes!(work::work_key))
        .routes(routes!(network))
        .routes(routes!(registry))
        .routes(routes!(tee_policy))
        .routes(routes!(health))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
        .routes(routes!(explorer::claims))
        .routes(routes!(explorer::figures))
        .routes(routes!(explorer::nodes))
}

/// The OpenAPI 3.1 document of the routes every node serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented().into_openapi()
}

/// The document as served, rendered once.
fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| openapi().to_pretty_json().unwrap_or_default())
}

/// The router over a node.
pub fn router(node: &Node, config: &ApiConfig) -> Router {
    router_with(node, config, Limiters::new(&config.limits))
}

fn router_with(node: &Node, config: &ApiConfig, limiters: Arc<Limiters>) -> Router {
    let rpc = node.core().embedded().cloned().map(crate::chain_router);
    let state = AppState { node: node.clone(), operators: config.operators.clone().into(), limiters: limiters.clone() };
    let limits = &config.limits;
    let router = Router::from(documented())
        .merge(crate::web::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .layer(DefaultBodyLimit::max(config.max_json_bytes))
        .with_state(state);
    let router = match rpc {
        Some(rpc) => router.nest("/rpc", rpc),
        None => router,
    };
    router
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_idle_timeout))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(axum::middleware::from_fn_with_state(limiters, crate::limits::per_ip))
}

/// Serves the API on a bound listener as one of the node's tasks: when the node is told to
/// stop, it stops accepting connections and answers the requests it has, then ends.
///
/// Each connection has [`Limits::header_timeout`] to send a request's headers and holds one of
/// [`Limits::max_connections`] places; further connections are closed as they come.
///
/// On a loopback address, only requests naming a loopback host (`localhost`, `127.0.0.1`,
/// `[::1]`) are answered: a web page whose name an attacker rebinds to 127.0.0.1 gets 403, not
/// the node's receipts and prompts.
pub fn serve(handle: &mut NodeHandle, listener: tokio::net::TcpListener, config: ApiConfig) {
    let limiters = Limiters::new(&config.limits);
    let mut router = router_with(handle.node(), &config, limiters.clone());
    if listener.local_addr().is_ok_and(|address| address.ip().is_loopback()) {
        router = router.layer(axum::middleware::from_fn(crate::guard::loopback_host));
    }
    let stopping = handle.stopping();
    handle.spawn("api", async move {
        crate::limits::accept(listener, router, config.limits, limiters, stopping).await;
        Ok(())
    });
}

/// The chain this node settles on, its contracts and, for the embedded chain, the JSON-RPC
/// path and the development accounts; the claims' EIP-712 domain.
#[utoipa::path(get, path = "/v1/network", tag = "node", responses(
    (status = 200, description = "The chain, or null without one", body = NetworkInfo),
    (status = "5XX", description = "The chain is unreachable", body = ErrorBody),
))]
async fn network(State(state): State<AppState>) -> Result<Json<NetworkInfo>, ApiError> {
    let core = state.node.core();
    let claim_domain = core.domain();
    let gateway = state.node.gateway().ok().map(|gateway| gateway.address());
    let Some(link) = core.chain() else { return Ok(Json(NetworkInfo { chain: None, claim_domain, gateway })) };
    let contracts = link.contracts;
    let block = link.chain.block_number().await.map_err(veritas_node::NodeError::from)?;
    let embedded = link.embedded.is_some();
    let chain = ChainInfo {
        kind: if embedded { "embedded" } else { "rpc" }.into(),
        chain_id: claim_domain.chain_id,
        rpc: embedded.then(|| "/rpc".into()),
        block,
        contracts: ContractAddresses {
            token: contracts.token,
            node_registry: contracts.registry,
            model_registry: contracts.models,
            settlement: contracts.settlement,
        },
        dev_accounts: if embedded { veritas_node::devnet::dev_accounts() } else { Vec::new() },
        default_payer: core.default_payer(),
    };
    Ok(Json(NetworkInfo { chain: Some(chain), claim_domain, gateway }))
}

/// Every registered node with its role, endpoint and stake, and the validators' total stake, as
/// the chain records them now.
#[utoipa::path(get, path = "/v1/network/registry", tag = "node", responses(
    (status = 200, description = "The registry", body = Registry),
    (status = 404, description = "The node runs no chain", body = ErrorBody),
))]
async fn registry(State(state): State<AppState>) -> Result<Json<Registry>, ApiError> {
    Ok(Json(state.node.core().registry().await?))
}

/// The enclave this network's `tee` claims come from and the policy its gateway and validators
/// check them by. A reader chooses whether to trust it.
#[utoipa::path(get, path = "/v1/tee/policy", tag = "node", responses(
    (status = 200, description = "The enclave and the policy", body = TeePolicyInfo),
))]
async fn tee_policy(State(state): State<AppState>) -> Json<TeePolicyInfo> {
    let core = state.node.core();
    let backend = core.offer().tee;
    let simulated = backend == Some(TeeBackend::Simulated);
    Json(TeePolicyInfo {
        enclave: backend.map(|b| b.name().to_owned()),
        simulated,
        warning: simulated.then(|| veritas_node::SIMULATED_WARNING.to_owned()),
        policy: core.tee_policy().clone(),
    })
}

/// The node's health, with what it has done.
#[utoipa::path(get, path = "/healthz", tag = "node", responses(
    (status = 200, description = "Up", body = Health),
))]
async fn health(State(state): State<AppState>) -> Result<Json<Health>, ApiError> {
    let core = state.node.core();
    let counts = core.counts()?;
    Ok(Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        role: core.role().name().into(),
        key: core.key(),
        worker: core.key(),
        chain_id: core.domain().chain_id,
        claims_logged: counts.claims_logged,
        counts,
        uptime_s: core.uptime().as_secs(),
    }))
}

/// Prometheus metrics (text exposition format).
#[utoipa::path(get, path = "/metrics", tag = "node", responses(
    (status = 200, description = "The metrics", content_type = "text/plain", body = String),
))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.node.core().metrics_text())
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "node", responses(
    (status = 200, description = "The OpenAPI 3.1 document", body = Object),
))]
async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}
